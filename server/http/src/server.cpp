#include "cardbureau/http/server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

namespace cardbureau::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr size_t kMaxQueuedEvents = 1000;
constexpr size_t kDrainLimit = 1 << 20;

class Session;

// Connection accounting shared by the acceptor and the sessions; a Slot
// gives its place back when its session is destroyed.
struct ConnectionSlots {
  std::mutex mu;
  size_t total = 0;
  size_t rejecting = 0;
  std::map<std::string, size_t> per_client;
};

class Slot {
 public:
  Slot(std::shared_ptr<ConnectionSlots> slots, std::string client, bool rejecting)
      : slots_(std::move(slots)), client_(std::move(client)), rejecting_(rejecting) {}
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() {
    std::lock_guard lock(slots_->mu);
    if (rejecting_) {
      --slots_->rejecting;
      return;
    }
    --slots_->total;
    auto it = slots_->per_client.find(client_);
    if (it != slots_->per_client.end() && --it->second == 0) slots_->per_client.erase(it);
  }

 private:
  std::shared_ptr<ConnectionSlots> slots_;
  std::string client_;
  bool rejecting_;
};

}  // namespace

struct HttpServer::Impl {
  Impl(Api& a, HttpServerOptions o) : api(a), opt(std::move(o)), acceptor(net::make_strand(ioc)) {}

  void DoAccept();
  void Register(const std::shared_ptr<Session>& s);
  void CloseAll();
  size_t LiveCount();

  Api& api;
  HttpServerOptions opt;
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::vector<std::weak_ptr<Session>> sessions;
  std::shared_ptr<ConnectionSlots> slots = std::make_shared<ConnectionSlots>();
};

namespace {

bool IsParseError(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  // reject_status 0: a normal connection; 503 or 429: answered with that
  // status and Retry-After at once, then closed.
  Session(tcp::socket socket, Api& api, const HttpServerOptions& opt, std::unique_ptr<Slot> slot,
          int reject_status = 0)
      : stream_(std::move(socket)),
        api_(api),
        opt_(opt),
        keepalive_(stream_.get_executor()),
        slot_(std::move(slot)),
        reject_status_(reject_status) {}

  void Start() {
    if (reject_status_ != 0) {
      net::dispatch(stream_.get_executor(),
                    beast::bind_front_handler(&Session::Reject, shared_from_this()));
      return;
    }
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::DoRead, shared_from_this()));
  }

  // Closes the connection from any thread.
  void CloseAsync() {
    net::post(stream_.get_executor(),
              beast::bind_front_handler(&Session::DoClose, shared_from_this()));
  }

 private:
  void DoRead() {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opt_.header_limit));
    parser_->body_limit(opt_.body_limit);
    stream_.expires_after(opt_.idle_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (closed_) return;
    if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout) {
      return DoClose();
    }
    if (ec == bhttp::error::header_limit) {
      return SendError(431, Status(Code::kInputTooLarge, "request headers too large"));
    }
    if (ec == bhttp::error::body_limit) {
      return SendError(413, Status(Code::kInputTooLarge, "request body too large"));
    }
    if (ec && IsParseError(ec)) {
      return SendError(400, Status(Code::kBadRequest, "malformed HTTP request"));
    }
    if (ec) return DoClose();  // reset by peer and the like
    HandleRequest(parser_->release());
  }

  void HandleRequest(bhttp::request<bhttp::string_body> req) {
    HttpRequest in;
    in.method = std::string(req.method_string());
    in.target = std::string(req.target());
    in.authorization = std::string(req[bhttp::field::authorization]);
    in.body = std::move(req.body());
    HttpResponse out = api_.Handle(in);

    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(out.status), req.version());
    res->set(bhttp::field::server, "cardbureau");
    res->set(bhttp::field::content_type, out.content_type);
    res->set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : out.headers) res->set(k, v);
    res->body() = std::move(out.body);
    if (out.stream_events && out.status == 200) {
      // Body delimited by connection close; no Content-Length.
      res->keep_alive(false);
      return StartEventStream(std::move(res));
    }
    res->keep_alive(req.keep_alive());
    res->prepare_payload();
    if (req.method() == bhttp::verb::head) res->body().clear();
    const bool close = !req.keep_alive();
    stream_.expires_after(opt_.idle_timeout);
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res, close](beast::error_code ec, std::size_t) {
                         if (ec || close) return self->DoClose();
                         self->DoRead();
                       });
  }

  void Reject() {
    const bool overall = reject_status_ == 503;
    SendError(reject_status_,
              Status(Code::kServerBusy,
                     overall ? "the dashboard has its maximum of connections; retry shortly"
                             : "too many connections from this address; close some and retry"),
              opt_.retry_after_s);
  }

  // Answers a request we could not read (or a connection we cannot serve)
  // and closes, draining what the client still sends so the response is
  // not lost to a TCP reset.
  void SendError(int status, const Status& why, int retry_after_s = 0) {
    HttpResponse body = ErrorResponse(why);
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(status), 11);
    res->set(bhttp::field::server, "cardbureau");
    res->set(bhttp::field::content_type, "application/json");
    if (retry_after_s > 0) res->set(bhttp::field::retry_after, std::to_string(retry_after_s));
    res->keep_alive(false);
    res->body() = std::move(body.body);
    res->prepare_payload();
    stream_.expires_after(opt_.idle_timeout);
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                         if (ec) return self->DoClose();
                         beast::error_code ignored;
                         self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                         self->Drain();
                       });
  }

  void Drain() {
    if (closed_ || drained_ > kDrainLimit) return DoClose();
    stream_.expires_after(std::chrono::seconds(2));
    stream_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) return self->DoClose();
                              self->drained_ += n;
                              self->Drain();
                            });
  }

  void StartEventStream(std::shared_ptr<bhttp::response<bhttp::string_body>> res) {
    sse_ = true;
    writing_ = true;  // events queue up until the header is out
    auto weak = weak_from_this();
    auto ex = stream_.get_executor();
    // The callback runs on a backend thread under the hub's lock: it only
    // posts to this connection's strand and never touches the session.
    sub_ = api_.backend().Subscribe([weak, ex](const DashboardEvent& e) {
      net::post(ex, [weak, msg = EventToSse(e)]() mutable {
        if (auto self = weak.lock()) self->QueueSse(std::move(msg));
      });
    });
    stream_.expires_after(opt_.idle_timeout);
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                         self->writing_ = false;
                         if (ec) return self->DoClose();
                         self->ArmKeepalive();
                         self->WriteNext();
                       });
  }

  void ArmKeepalive() {
    keepalive_.expires_after(opt_.sse_keepalive);
    keepalive_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      self->QueueSse(": keepalive\n\n");
      self->ArmKeepalive();
    });
  }

  void QueueSse(std::string msg) {
    if (closed_) return;
    if (outq_.size() >= kMaxQueuedEvents) return DoClose();  // client too slow
    outq_.push_back(std::move(msg));
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    if (closed_ || writing_ || outq_.empty()) return;
    writing_ = true;
    stream_.expires_after(opt_.idle_timeout);
    net::async_write(stream_, net::buffer(outq_.front()),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->writing_ = false;
                       if (ec) return self->DoClose();
                       self->outq_.pop_front();
                       self->WriteNext();
                     });
  }

  void DoClose() {
    if (closed_) return;
    closed_ = true;
    sub_.reset();
    keepalive_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  Api& api_;
  const HttpServerOptions& opt_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  net::steady_timer keepalive_;
  std::unique_ptr<Subscription> sub_;
  std::deque<std::string> outq_;
  std::array<char, 4096> scratch_{};
  size_t drained_ = 0;
  std::unique_ptr<Slot> slot_;
  int reject_status_ = 0;
  bool writing_ = false;
  bool sse_ = false;
  bool closed_ = false;
};

}  // namespace

void HttpServer::Impl::DoAccept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || stopping.load() || !acceptor.is_open()) return;
    if (!ec) {
      beast::error_code addr_ec;
      const auto remote = socket.remote_endpoint(addr_ec);
      const std::string client = addr_ec ? std::string() : remote.address().to_string();
      int reject = 0;
      std::unique_ptr<Slot> slot;
      {
        std::lock_guard lock(slots->mu);
        if (slots->total >= opt.max_connections) {
          reject = 503;
        } else if (slots->per_client[client] >= opt.max_connections_per_client) {
          reject = 429;
        }
        if (slots->per_client[client] == 0) slots->per_client.erase(client);
        if (reject == 0) {
          ++slots->total;
          ++slots->per_client[client];
          slot = std::make_unique<Slot>(slots, client, false);
        } else if (slots->rejecting < opt.max_rejecting) {
          ++slots->rejecting;
          slot = std::make_unique<Slot>(slots, client, true);
        }
      }
      if (!slot) {
        beast::error_code ignored;
        socket.close(ignored);  // even the busy answers are at their cap
      } else {
        auto s = std::make_shared<Session>(std::move(socket), api, opt, std::move(slot), reject);
        Register(s);
        s->Start();
      }
    }
    DoAccept();
  });
}

void HttpServer::Impl::Register(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(mu);
  std::erase_if(sessions, [](const std::weak_ptr<Session>& w) { return w.expired(); });
  sessions.push_back(s);
}

void HttpServer::Impl::CloseAll() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu);
    for (auto& w : sessions) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->CloseAsync();
}

size_t HttpServer::Impl::LiveCount() {
  std::lock_guard lock(mu);
  return static_cast<size_t>(
      std::count_if(sessions.begin(), sessions.end(), [](const auto& w) { return !w.expired(); }));
}

Status ParseListenAddress(std::string_view text, HttpServerOptions* options) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= text.size()) {
    return Status(Code::kInvalidConfig, "listen address must be HOST:PORT", "http");
  }
  std::string host(text.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9' || port > 65535) {
      return Status(Code::kInvalidConfig, "bad port in listen address", "http");
    }
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535) return Status(Code::kInvalidConfig, "port out of range", "http");
  beast::error_code ec;
  net::ip::make_address(host, ec);
  if (ec) return Status(Code::kInvalidConfig, "listen host must be an IP address", "http");
  options->address = host;
  options->port = static_cast<uint16_t>(port);
  return Status::Ok();
}

HttpServer::HttpServer(Api& api, HttpServerOptions options)
    : impl_(std::make_shared<Impl>(api, std::move(options))) {}

HttpServer::~HttpServer() {
  Stop();
  impl_.reset();  // destroys sessions still owned by unrun handlers
}

Status HttpServer::Start() {
  if (started_) return Status(Code::kFailedPrecondition, "server already started");
  beast::error_code ec;
  const auto address = net::ip::make_address(impl_->opt.address, ec);
  if (ec) return Status(Code::kInvalidConfig, "bad listen address " + impl_->opt.address);
  const tcp::endpoint endpoint(address, impl_->opt.port);
  auto& acc = impl_->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acc.close(ignored);
    return Status(Code::kIoError, "cannot listen on " + impl_->opt.address + ":" +
                                      std::to_string(impl_->opt.port) + ": " + ec.message());
  }
  bound_port_ = acc.local_endpoint().port();
  started_ = true;
  impl_->DoAccept();
  const int n = std::max(1, impl_->opt.threads);
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([impl = impl_.get()] { impl->ioc.run(); });
  }
  return Status::Ok();
}

void HttpServer::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  impl_->stopping = true;
  net::post(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
  impl_->CloseAll();
  // Closed sockets complete their operations with operation_aborted and the
  // threads run out of work; a connection that does not let go within the
  // grace period is cut by stopping the io_context.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (impl_->LiveCount() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (impl_->LiveCount() > 0) impl_->ioc.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

size_t HttpServer::connection_count() const {
  std::lock_guard lock(impl_->slots->mu);
  return impl_->slots->total;
}

}  // namespace cardbureau::http
