// Protocol v1 messages (shared/design/protocol.md) and their wire codec.
//
// Encode/Decode are pure functions (frames in, value or Status out; no I/O),
// thread-safe, and fuzzed (server/src/messages_fuzz.cpp). The routing-id
// frame a ROUTER sees is NOT part of `Frames`: the caller strips/adds it.
//
// Decode errors (the caller answers them with an `error` message and goes on):
//   PROTOCOL_ERROR      no frame, or more frames than the type allows
//   INPUT_TOO_LARGE     frame 0 over kMaxFrame0Bytes
//   INVALID_JSON        frame 0 is not a JSON object / a field has the wrong type
//                       or is missing (Status::field() names it)
//   UNSUPPORTED_VERSION "v" missing or not the integer 1
//   UNKNOWN_TYPE        "type" missing, unknown, or not sent in this direction
//   INVALID_FIELD       a field with a value outside its range (pull credit < 1,
//                       job_id not [A-Za-z0-9._-]{1,64})
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"

namespace cardbureau::server {

inline constexpr int kProtocolVersion = 1;
// Frame 0 is a small JSON object; a job's JSON is bounded by core's limit.
inline constexpr size_t kMaxFrame0Bytes = 64 * 1024;
// Largest whole message a socket accepts (photo limit 2 MiB + slack); larger
// messages are dropped by ZeroMQ (ZMQ_MAXMSGSIZE) before they reach Decode.
inline constexpr int64_t kMaxMessageBytes = 4 * 1024 * 1024;

// ---- bureau -> centre ----
struct Hello {
  std::string bureau;
  std::string software;
  int64_t stations = 0;
};
struct Pull {
  int64_t credit = 1;  // >= 1
};
struct Accepted {
  std::string job_id;
};
struct Rejected {
  std::string report_id;
  std::string job_id;
  std::string code;  // catalogue name, e.g. "INVALID_FIELD"
  std::string field;
  std::string message;
};
struct Progress {
  std::string job_id;
  std::string state;
  std::string at;
};
struct CardInfo {
  std::string uid;
  std::string card_no;
  std::string card_type;
};
struct QaInfo {
  std::string chip;
  std::string face;
};
struct Completed {
  std::string report_id;
  std::string job_id;
  CardInfo card;
  QaInfo qa;
  std::string station;
  std::string produced_at;
};
struct Failed {
  std::string report_id;
  std::string job_id;
  std::string code;
  std::string message;
  bool retryable = false;
};
struct Cancelled {
  std::string report_id;
  std::string job_id;
};
// After `completed`: the card reported for `job_id` was voided and this one
// issued instead (a reprint); the centre blocks `replaces_uid` and records
// the new card. Retried until acked, like the terminal reports; exactly one
// per replacement.
struct CardReplaced {
  std::string report_id;
  std::string job_id;
  CardInfo card;
  std::string replaces_uid;  // wire: "replaces": {"uid": ...}
  std::string reason;
  QaInfo qa;
  std::string station;
  std::string produced_at;
};
// ---- both directions ----
struct Heartbeat {};
struct Error {
  std::string code;
  std::string message;
  std::string in_reply_to;  // "type" of the offending message when readable
};
// ---- centre -> bureau ----
struct JobMessage {
  std::string job_id;          // already checked by IsValidJobId
  nlohmann::json body;         // frame 0 as parsed; core's ParseJobJson reads it
  std::optional<Bytes> photo;  // frame 1; nullopt when the frame is missing
};
struct Ack {
  std::string report_id;
};
struct Cancel {
  std::string job_id;
  std::string reason;
};

using Message = std::variant<Hello, Pull, Accepted, Rejected, Progress, Completed, Failed,
                             Cancelled, Heartbeat, Error, JobMessage, Ack, Cancel, CardReplaced>;

// Who sent the frames. A type is only valid in its protocol direction; a
// `job` arriving at the centre is UNKNOWN_TYPE.
enum class Sender { kBureau, kCentre };

using Frames = std::vector<std::string>;

// The wire "type" of a message ("hello", "job", ...).
std::string_view TypeName(const Message& m);

// True for completed / failed / cancelled / rejected, and card_replaced: the
// reports kept in the outbox and retried until acked.
bool IsTerminalReport(const Message& m);
// report_id and job_id of a terminal report; empty for other messages.
std::string ReportIdOf(const Message& m);
std::string JobIdOf(const Message& m);

// Frames of one message: frame 0 JSON ("type", "v": 1, fields), plus the photo
// frame for a job that has one. Never fails; strings that are not valid UTF-8
// are written with U+FFFD replacements.
Frames Encode(const Message& m);

// Parses one message sent by `from`. See the error list above.
Result<Message> Decode(const Frames& frames, Sender from);

// Best-effort "type" of frame 0 for Error::in_reply_to ("" when unreadable).
std::string PeekType(const Frames& frames);

// Builds the `error` reply for a failed Decode.
Error MakeError(const Status& why, const Frames& offending);

// Encodes a terminal report as stored JSON text (frame 0) and back.
std::string EncodeFrame0(const Message& m);

}  // namespace cardbureau::server
