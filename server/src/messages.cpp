#include "cardbureau/server/messages.h"

#include <type_traits>

#include "cardbureau/core/validation.h"

namespace cardbureau::server {
namespace {

using json = nlohmann::json;

template <typename T>
[[maybe_unused]] inline constexpr bool kAlways = false;  // used only in a discarded branch

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Field readers: a missing or mistyped field is INVALID_JSON naming it.
Result<std::string> Str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return Status(Code::kInvalidJson, "missing field", key);
  if (!it->is_string()) return Status(Code::kInvalidJson, "must be a string", key);
  return it->get<std::string>();
}
std::string OptStr(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
Result<int64_t> Int(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return Status(Code::kInvalidJson, "missing field", key);
  if (!it->is_number_integer()) return Status(Code::kInvalidJson, "must be an integer", key);
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return Status(Code::kInvalidField, "out of range", key);
  }
  return it->get<int64_t>();
}
Result<bool> Bool(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return Status(Code::kInvalidJson, "missing field", key);
  if (!it->is_boolean()) return Status(Code::kInvalidJson, "must be a boolean", key);
  return it->get<bool>();
}
Result<json> Obj(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return Status(Code::kInvalidJson, "missing field", key);
  if (!it->is_object()) return Status(Code::kInvalidJson, "must be an object", key);
  return *it;
}

// Prefixes the field path of a nested field's error ("uid" -> "card.uid").
Result<std::string> In(std::string_view parent, Result<std::string> r) {
  if (r.ok()) return r;
  return r.status().WithFieldPrefix(parent);
}

json ToJson(const Message& m) {
  json j = json::object();
  j["type"] = std::string(TypeName(m));
  j["v"] = kProtocolVersion;
  std::visit(
      [&j](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Hello>) {
          j["bureau"] = x.bureau;
          j["software"] = x.software;
          j["stations"] = x.stations;
        } else if constexpr (std::is_same_v<T, Pull>) {
          j["credit"] = x.credit;
        } else if constexpr (std::is_same_v<T, Accepted>) {
          j["job_id"] = x.job_id;
        } else if constexpr (std::is_same_v<T, Rejected>) {
          j["report_id"] = x.report_id;
          j["job_id"] = x.job_id;
          j["code"] = x.code;
          j["field"] = x.field;
          j["message"] = x.message;
        } else if constexpr (std::is_same_v<T, Progress>) {
          j["job_id"] = x.job_id;
          j["state"] = x.state;
          j["at"] = x.at;
        } else if constexpr (std::is_same_v<T, Completed>) {
          j["report_id"] = x.report_id;
          j["job_id"] = x.job_id;
          j["card"] = {
              {"uid", x.card.uid}, {"card_no", x.card.card_no}, {"card_type", x.card.card_type}};
          j["qa"] = {{"chip", x.qa.chip}, {"face", x.qa.face}};
          j["station"] = x.station;
          j["produced_at"] = x.produced_at;
        } else if constexpr (std::is_same_v<T, Failed>) {
          j["report_id"] = x.report_id;
          j["job_id"] = x.job_id;
          j["code"] = x.code;
          j["message"] = x.message;
          j["retryable"] = x.retryable;
        } else if constexpr (std::is_same_v<T, Cancelled>) {
          j["report_id"] = x.report_id;
          j["job_id"] = x.job_id;
        } else if constexpr (std::is_same_v<T, Heartbeat>) {
        } else if constexpr (std::is_same_v<T, Error>) {
          j["code"] = x.code;
          j["message"] = x.message;
          j["in_reply_to"] = x.in_reply_to;
        } else if constexpr (std::is_same_v<T, JobMessage>) {
          if (x.body.is_object()) {
            for (const auto& [k, v] : x.body.items()) j[k] = v;
          }
          j["type"] = "job";
          j["v"] = kProtocolVersion;
          j["job_id"] = x.job_id;
        } else if constexpr (std::is_same_v<T, Ack>) {
          j["report_id"] = x.report_id;
        } else if constexpr (std::is_same_v<T, Cancel>) {
          j["job_id"] = x.job_id;
          j["reason"] = x.reason;
        } else if constexpr (std::is_same_v<T, CardReplaced>) {
          j["report_id"] = x.report_id;
          j["job_id"] = x.job_id;
          j["card"] = {
              {"uid", x.card.uid}, {"card_no", x.card.card_no}, {"card_type", x.card.card_type}};
          j["replaces"] = {{"uid", x.replaces_uid}};
          j["reason"] = x.reason;
          j["qa"] = {{"chip", x.qa.chip}, {"face", x.qa.face}};
          j["station"] = x.station;
          j["produced_at"] = x.produced_at;
        } else {
          static_assert(kAlways<T>, "unhandled message type");
        }
      },
      m);
  return j;
}

Result<Message> FromBureau(const std::string& type, const json& j, size_t nframes) {
  if (nframes != 1) return Status(Code::kProtocolError, type + " has exactly one frame");
  if (type == "hello") {
    Hello h;
    CB_ASSIGN_OR_RETURN(h.bureau, Str(j, "bureau"));
    CB_ASSIGN_OR_RETURN(h.software, Str(j, "software"));
    CB_ASSIGN_OR_RETURN(h.stations, Int(j, "stations"));
    return Message(h);
  }
  if (type == "pull") {
    Pull p;
    CB_ASSIGN_OR_RETURN(p.credit, Int(j, "credit"));
    if (p.credit < 1) return Status(Code::kInvalidField, "credit must be >= 1", "credit");
    return Message(p);
  }
  if (type == "accepted") {
    Accepted a;
    CB_ASSIGN_OR_RETURN(a.job_id, Str(j, "job_id"));
    return Message(a);
  }
  if (type == "rejected") {
    Rejected r;
    CB_ASSIGN_OR_RETURN(r.report_id, Str(j, "report_id"));
    CB_ASSIGN_OR_RETURN(r.job_id, Str(j, "job_id"));
    CB_ASSIGN_OR_RETURN(r.code, Str(j, "code"));
    r.field = OptStr(j, "field");
    r.message = OptStr(j, "message");
    return Message(r);
  }
  if (type == "progress") {
    Progress p;
    CB_ASSIGN_OR_RETURN(p.job_id, Str(j, "job_id"));
    CB_ASSIGN_OR_RETURN(p.state, Str(j, "state"));
    p.at = OptStr(j, "at");
    return Message(p);
  }
  if (type == "completed") {
    Completed c;
    CB_ASSIGN_OR_RETURN(c.report_id, Str(j, "report_id"));
    CB_ASSIGN_OR_RETURN(c.job_id, Str(j, "job_id"));
    CB_ASSIGN_OR_RETURN(json card, Obj(j, "card"));
    CB_ASSIGN_OR_RETURN(c.card.uid, In("card", Str(card, "uid")));
    CB_ASSIGN_OR_RETURN(c.card.card_no, In("card", Str(card, "card_no")));
    CB_ASSIGN_OR_RETURN(c.card.card_type, In("card", Str(card, "card_type")));
    CB_ASSIGN_OR_RETURN(json qa, Obj(j, "qa"));
    c.qa.chip = OptStr(qa, "chip");
    c.qa.face = OptStr(qa, "face");
    c.station = OptStr(j, "station");
    c.produced_at = OptStr(j, "produced_at");
    return Message(c);
  }
  if (type == "failed") {
    Failed f;
    CB_ASSIGN_OR_RETURN(f.report_id, Str(j, "report_id"));
    CB_ASSIGN_OR_RETURN(f.job_id, Str(j, "job_id"));
    CB_ASSIGN_OR_RETURN(f.code, Str(j, "code"));
    f.message = OptStr(j, "message");
    CB_ASSIGN_OR_RETURN(f.retryable, Bool(j, "retryable"));
    return Message(f);
  }
  if (type == "cancelled") {
    Cancelled c;
    CB_ASSIGN_OR_RETURN(c.report_id, Str(j, "report_id"));
    CB_ASSIGN_OR_RETURN(c.job_id, Str(j, "job_id"));
    return Message(c);
  }
  if (type == "card_replaced") {
    CardReplaced c;
    CB_ASSIGN_OR_RETURN(c.report_id, Str(j, "report_id"));
    CB_ASSIGN_OR_RETURN(c.job_id, Str(j, "job_id"));
    CB_ASSIGN_OR_RETURN(json card, Obj(j, "card"));
    CB_ASSIGN_OR_RETURN(c.card.uid, In("card", Str(card, "uid")));
    CB_ASSIGN_OR_RETURN(c.card.card_no, In("card", Str(card, "card_no")));
    CB_ASSIGN_OR_RETURN(c.card.card_type, In("card", Str(card, "card_type")));
    CB_ASSIGN_OR_RETURN(json replaces, Obj(j, "replaces"));
    CB_ASSIGN_OR_RETURN(c.replaces_uid, In("replaces", Str(replaces, "uid")));
    c.reason = OptStr(j, "reason");
    if (auto qa = j.find("qa"); qa != j.end() && qa->is_object()) {
      c.qa.chip = OptStr(*qa, "chip");
      c.qa.face = OptStr(*qa, "face");
    }
    c.station = OptStr(j, "station");
    c.produced_at = OptStr(j, "produced_at");
    return Message(c);
  }
  if (type == "heartbeat") return Message(Heartbeat{});
  if (type == "error") {
    Error e;
    e.code = OptStr(j, "code");
    e.message = OptStr(j, "message");
    e.in_reply_to = OptStr(j, "in_reply_to");
    return Message(e);
  }
  return Status(Code::kUnknownType, "unknown message type from a bureau", "type");
}

Result<Message> FromCentre(const std::string& type, const json& j, const Frames& frames) {
  if (type == "job") {
    if (frames.size() > 2) return Status(Code::kProtocolError, "job has at most two frames");
    JobMessage m;
    CB_ASSIGN_OR_RETURN(m.job_id, Str(j, "job_id"));
    if (!IsValidJobId(m.job_id)) {
      return Status(Code::kInvalidField, "job_id must be 1-64 chars of [A-Za-z0-9._-]", "job_id");
    }
    m.body = j;
    if (frames.size() == 2) m.photo = ToBytes(frames[1]);
    return Message(std::move(m));
  }
  if (frames.size() != 1) return Status(Code::kProtocolError, type + " has exactly one frame");
  if (type == "ack") {
    Ack a;
    CB_ASSIGN_OR_RETURN(a.report_id, Str(j, "report_id"));
    return Message(a);
  }
  if (type == "cancel") {
    Cancel c;
    CB_ASSIGN_OR_RETURN(c.job_id, Str(j, "job_id"));
    // Also keeps the centre away from the bureau's own reprint attempts ("~").
    if (!IsValidJobId(c.job_id)) {
      return Status(Code::kInvalidField, "job_id must be 1-64 chars of [A-Za-z0-9._-]", "job_id");
    }
    c.reason = OptStr(j, "reason");
    return Message(c);
  }
  if (type == "heartbeat") return Message(Heartbeat{});
  if (type == "error") {
    Error e;
    e.code = OptStr(j, "code");
    e.message = OptStr(j, "message");
    e.in_reply_to = OptStr(j, "in_reply_to");
    return Message(e);
  }
  return Status(Code::kUnknownType, "unknown message type from a centre", "type");
}

}  // namespace

std::string_view TypeName(const Message& m) {
  static constexpr std::string_view kNames[] = {
      "hello",     "pull",      "accepted", "rejected", "progress", "completed", "failed",
      "cancelled", "heartbeat", "error",    "job",      "ack",      "cancel",    "card_replaced"};
  static_assert(std::size(kNames) == std::variant_size_v<Message>);
  return kNames[m.index()];
}

bool IsTerminalReport(const Message& m) {
  return std::holds_alternative<Completed>(m) || std::holds_alternative<Failed>(m) ||
         std::holds_alternative<Cancelled>(m) || std::holds_alternative<Rejected>(m) ||
         std::holds_alternative<CardReplaced>(m);
}

std::string ReportIdOf(const Message& m) {
  if (auto* c = std::get_if<Completed>(&m)) return c->report_id;
  if (auto* f = std::get_if<Failed>(&m)) return f->report_id;
  if (auto* c = std::get_if<Cancelled>(&m)) return c->report_id;
  if (auto* r = std::get_if<Rejected>(&m)) return r->report_id;
  if (auto* c = std::get_if<CardReplaced>(&m)) return c->report_id;
  return {};
}

std::string JobIdOf(const Message& m) {
  return std::visit(
      [](const auto& x) -> std::string {
        if constexpr (requires { x.job_id; }) {
          return x.job_id;
        } else {
          return {};
        }
      },
      m);
}

std::string EncodeFrame0(const Message& m) { return Dump(ToJson(m)); }

Frames Encode(const Message& m) {
  Frames f;
  f.push_back(EncodeFrame0(m));
  if (auto* job = std::get_if<JobMessage>(&m); job && job->photo) {
    f.emplace_back(job->photo->begin(), job->photo->end());
  }
  return f;
}

Result<Message> Decode(const Frames& frames, Sender from) {
  if (frames.empty()) return Status(Code::kProtocolError, "empty message");
  const std::string& f0 = frames[0];
  if (f0.size() > kMaxFrame0Bytes) {
    return Status(Code::kInputTooLarge,
                  "frame 0 is over " + std::to_string(kMaxFrame0Bytes) + " bytes");
  }
  json j = json::parse(f0.begin(), f0.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status(Code::kInvalidJson, "frame 0 is not well-formed JSON");
  if (!j.is_object()) return Status(Code::kInvalidJson, "frame 0 must be a JSON object");
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer() || v->get<int64_t>() != kProtocolVersion) {
    return Status(Code::kUnsupportedVersion, "only protocol version 1 is supported", "v");
  }
  auto t = j.find("type");
  if (t == j.end() || !t->is_string()) {
    return Status(Code::kUnknownType, "missing message type", "type");
  }
  const std::string type = t->get<std::string>();
  return from == Sender::kBureau ? FromBureau(type, j, frames.size()) : FromCentre(type, j, frames);
}

std::string PeekType(const Frames& frames) {
  if (frames.empty() || frames[0].size() > kMaxFrame0Bytes) return {};
  json j = json::parse(frames[0].begin(), frames[0].end(), nullptr, false);
  if (!j.is_object()) return {};
  auto t = j.find("type");
  return t != j.end() && t->is_string() ? t->get<std::string>() : std::string();
}

Error MakeError(const Status& why, const Frames& offending) {
  Error e;
  e.code = std::string(why.code_name());
  e.message = why.field().empty() ? why.message() : why.field() + ": " + why.message();
  e.in_reply_to = PeekType(offending);
  return e;
}

}  // namespace cardbureau::server
