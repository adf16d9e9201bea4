// HttpServer: Boost.Beast HTTP/1.1 server in front of an Api.
//
// Lifetimes follow the Asio HTTP server example: each connection is a
// Session owned by shared_ptrs held in its pending handlers
// (shared_from_this); the server keeps weak references only so Stop() can
// close them. Stop() closes the acceptor and every connection (including
// open event streams) and joins the I/O threads; operation_aborted is a
// clean stop, not an error.
//
// Limits: see HttpServerOptions for the connection caps (503 / 429 with
// Retry-After). Request headers over `header_limit` get 431, bodies over
// `body_limit` 413, malformed requests 400 (all with a JSON error body),
// then the connection is closed; the server carries on. Idle connections
// are closed after `idle_timeout`; event streams send a comment line every
// `sse_keepalive` so dead clients are noticed.
//
// Thread-safety: Start/Stop from one controlling thread. The Api and the
// backend must outlive the server.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cardbureau/core/status.h"
#include "cardbureau/http/api.h"

namespace cardbureau::http {

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // localhost by default
  uint16_t port = 8080;               // 0 = any free port (see port())
  size_t header_limit = 8 * 1024;
  size_t body_limit = 64 * 1024;
  // Connection caps. Past the global cap a new connection is answered
  // `503` with `Retry-After` (SERVER_BUSY) and closed; past the cap for one
  // client address, `429` with `Retry-After`. So one misbehaving client
  // (a tab opening connections in a loop, idle sockets) cannot take the
  // dashboard away from the other operators. At most `max_rejecting`
  // answers are in flight at once; beyond that a connection is closed.
  size_t max_connections = 256;
  size_t max_connections_per_client = 32;
  size_t max_rejecting = 64;
  int retry_after_s = 5;
  int threads = 2;
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds sse_keepalive{15000};
};

// "HOST:PORT" -> address/port (IPv4 or [IPv6]). INVALID_CONFIG otherwise.
Status ParseListenAddress(std::string_view text, HttpServerOptions* options);

class HttpServer {
 public:
  HttpServer(Api& api, HttpServerOptions options);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the I/O threads. IO_ERROR when the address
  // cannot be bound; FAILED_PRECONDITION when already started.
  Status Start();
  // Idempotent; safe to call without Start().
  void Stop();

  // The bound port (useful with port 0); 0 before Start().
  uint16_t port() const { return bound_port_.load(); }
  // Connections currently open and served (not counting those being
  // answered 503/429 and closed).
  size_t connection_count() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  std::atomic<uint16_t> bound_port_{0};
  std::vector<std::thread> threads_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace cardbureau::http
