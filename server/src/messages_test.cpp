#include "cardbureau/server/messages.h"

#include <gtest/gtest.h>

#include "job_fixtures.h"

namespace cardbureau::server {
namespace {

Message RoundTrip(const Message& m, Sender from) {
  auto frames = Encode(m);
  auto back = Decode(frames, from);
  EXPECT_TRUE(back.ok()) << back.status() << " for " << frames[0];
  return back.ok() ? *back : Message(Heartbeat{});
}

Status DecodeStatus(const std::string& frame0, Sender from = Sender::kCentre) {
  return Decode(Frames{frame0}, from).status();
}

TEST(Messages, EveryBureauMessageRoundTrips) {
  auto hello = std::get<Hello>(RoundTrip(Hello{"bj-bureau-01", "cb/1", 3}, Sender::kBureau));
  EXPECT_EQ(hello.bureau, "bj-bureau-01");
  EXPECT_EQ(hello.stations, 3);
  EXPECT_EQ(std::get<Pull>(RoundTrip(Pull{7}, Sender::kBureau)).credit, 7);
  EXPECT_EQ(std::get<Accepted>(RoundTrip(Accepted{"J1"}, Sender::kBureau)).job_id, "J1");
  auto rej = std::get<Rejected>(
      RoundTrip(Rejected{"r1", "J1", "INVALID_FIELD", "student.name", "bad"}, Sender::kBureau));
  EXPECT_EQ(rej.field, "student.name");
  EXPECT_EQ(rej.report_id, "r1");
  auto prog = std::get<Progress>(
      RoundTrip(Progress{"J1", "encoded", "2026-11-20T10:00:00+08:00"}, Sender::kBureau));
  EXPECT_EQ(prog.state, "encoded");
  Completed c{"r2",         "J2",        {"04A1B2C3", "1000751234567890", "mifare-classic-1k"},
              {"ok", "ok"}, "station-1", "2026-11-20T10:00:00+08:00"};
  auto c2 = std::get<Completed>(RoundTrip(c, Sender::kBureau));
  EXPECT_EQ(c2.card.uid, "04A1B2C3");
  EXPECT_EQ(c2.qa.face, "ok");
  EXPECT_EQ(c2.station, "station-1");
  auto f = std::get<Failed>(RoundTrip(Failed{"r3", "J3", "TOO_LATE", "m", true}, Sender::kBureau));
  EXPECT_TRUE(f.retryable);
  EXPECT_EQ(f.code, "TOO_LATE");
  EXPECT_EQ(std::get<Cancelled>(RoundTrip(Cancelled{"r4", "J4"}, Sender::kBureau)).report_id, "r4");
  EXPECT_TRUE(std::holds_alternative<Heartbeat>(RoundTrip(Heartbeat{}, Sender::kBureau)));
  auto e = std::get<Error>(RoundTrip(Error{"INVALID_JSON", "m", "job"}, Sender::kBureau));
  EXPECT_EQ(e.in_reply_to, "job");
  CardReplaced cr{"r5",
                  "J5",
                  {"04FFEE01", "1000751234567890", "mifare-classic-1k"},
                  "04A1B2C3",
                  "damaged",
                  {"ok", "ok"},
                  "station-1",
                  "2026-11-25T10:00:00+08:00"};
  auto back = std::get<CardReplaced>(RoundTrip(cr, Sender::kBureau));
  EXPECT_EQ(back.replaces_uid, "04A1B2C3");
  EXPECT_EQ(back.card.uid, "04FFEE01");
  EXPECT_EQ(back.reason, "damaged");
  EXPECT_TRUE(IsTerminalReport(back));
  EXPECT_EQ(ReportIdOf(back), "r5");
  EXPECT_EQ(TypeName(back), "card_replaced");
  // Only a bureau sends it.
  EXPECT_EQ(Decode(Encode(cr), Sender::kCentre).status().code(), Code::kUnknownType);
}

TEST(Messages, EveryCentreMessageRoundTrips) {
  auto photo = cbtest::FakeJpeg(1000, 1);
  auto job =
      std::get<JobMessage>(RoundTrip(cbtest::MakeJobMessage("RJ-1", photo), Sender::kCentre));
  EXPECT_EQ(job.job_id, "RJ-1");
  ASSERT_TRUE(job.photo.has_value());
  EXPECT_EQ(*job.photo, photo);
  EXPECT_EQ(job.body["student"]["education_id"], "12345678");
  EXPECT_EQ(std::get<Ack>(RoundTrip(Ack{"r1"}, Sender::kCentre)).report_id, "r1");
  auto cancel = std::get<Cancel>(RoundTrip(Cancel{"J1", "found"}, Sender::kCentre));
  EXPECT_EQ(cancel.reason, "found");
  EXPECT_TRUE(std::holds_alternative<Heartbeat>(RoundTrip(Heartbeat{}, Sender::kCentre)));
}

TEST(Messages, Frame0CarriesTypeAndVersion) {
  auto frames = Encode(Pull{3});
  ASSERT_EQ(frames.size(), 1u);
  auto j = nlohmann::json::parse(frames[0]);
  EXPECT_EQ(j["type"], "pull");
  EXPECT_EQ(j["v"], 1);
  EXPECT_EQ(j["credit"], 3);
}

TEST(Messages, JobWithoutPhotoFrameDecodesWithoutPhoto) {
  auto body = cbtest::ValidJobJson("J1", cbtest::FakeJpeg(10, 1)).dump();
  auto m = Decode(Frames{body}, Sender::kCentre);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(std::get<JobMessage>(*m).photo.has_value());
}

TEST(Messages, UnknownFieldsAreIgnored) {
  auto m = Decode(Frames{R"({"type":"ack","v":1,"report_id":"r","extra":{"x":[1,2]}})"},
                  Sender::kCentre);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<Ack>(*m).report_id, "r");
}

TEST(Messages, DecodeErrorsCarryCatalogueCodes) {
  EXPECT_EQ(Decode(Frames{}, Sender::kCentre).status().code(), Code::kProtocolError);
  EXPECT_EQ(DecodeStatus("{not json").code(), Code::kInvalidJson);
  EXPECT_EQ(DecodeStatus("[1,2]").code(), Code::kInvalidJson);
  EXPECT_EQ(DecodeStatus("").code(), Code::kInvalidJson);
  EXPECT_EQ(DecodeStatus(R"({"type":"ack","v":2,"report_id":"r"})").code(),
            Code::kUnsupportedVersion);
  EXPECT_EQ(DecodeStatus(R"({"type":"ack","report_id":"r"})").code(), Code::kUnsupportedVersion);
  EXPECT_EQ(DecodeStatus(R"({"type":"ack","v":"1","report_id":"r"})").code(),
            Code::kUnsupportedVersion);
  EXPECT_EQ(DecodeStatus(R"({"type":"teleport","v":1})").code(), Code::kUnknownType);
  EXPECT_EQ(DecodeStatus(R"({"v":1})").code(), Code::kUnknownType);
  // Direction matters: a bureau never receives `pull`, a centre never `job`.
  EXPECT_EQ(DecodeStatus(R"({"type":"pull","v":1,"credit":1})").code(), Code::kUnknownType);
  EXPECT_EQ(DecodeStatus(R"({"type":"job","v":1,"job_id":"J"})", Sender::kBureau).code(),
            Code::kUnknownType);
  auto s = DecodeStatus(R"({"type":"pull","v":1,"credit":0})", Sender::kBureau);
  EXPECT_EQ(s.code(), Code::kInvalidField);
  EXPECT_EQ(s.field(), "credit");
  s = DecodeStatus(R"({"type":"pull","v":1,"credit":"5"})", Sender::kBureau);
  EXPECT_EQ(s.code(), Code::kInvalidJson);
  s = DecodeStatus(R"({"type":"accepted","v":1})", Sender::kBureau);
  EXPECT_EQ(s.code(), Code::kInvalidJson);
  EXPECT_EQ(s.field(), "job_id");
  s = DecodeStatus(
      R"({"type":"completed","v":1,"report_id":"r","job_id":"J","card":{"card_no":"1","card_type":"x"},"qa":{}})",
      Sender::kBureau);
  EXPECT_EQ(s.code(), Code::kInvalidJson);
  EXPECT_EQ(s.field(), "card.uid");
  s = DecodeStatus(R"({"type":"job","v":1,"job_id":"bad id!"})");
  EXPECT_EQ(s.code(), Code::kInvalidField);
  EXPECT_EQ(s.field(), "job_id");
}

TEST(Messages, FrameCountIsChecked) {
  EXPECT_EQ(Decode(Frames{R"({"type":"ack","v":1,"report_id":"r"})", "x"}, Sender::kCentre)
                .status()
                .code(),
            Code::kProtocolError);
  auto body = cbtest::ValidJobJson("J1", cbtest::FakeJpeg(10, 1)).dump();
  EXPECT_EQ(Decode(Frames{body, "a", "b"}, Sender::kCentre).status().code(), Code::kProtocolError);
  EXPECT_EQ(Decode(Frames{R"({"type":"heartbeat","v":1})", "x"}, Sender::kBureau).status().code(),
            Code::kProtocolError);
}

TEST(Messages, OversizedFrame0IsRefused) {
  std::string big =
      R"({"type":"ack","v":1,"report_id":")" + std::string(kMaxFrame0Bytes, 'x') + "\"}";
  EXPECT_EQ(DecodeStatus(big).code(), Code::kInputTooLarge);
}

TEST(Messages, ErrorReplyNamesTheOffendingType) {
  Frames bad{R"({"type":"teleport","v":1})"};
  auto e = MakeError(Decode(bad, Sender::kCentre).status(), bad);
  EXPECT_EQ(e.code, "UNKNOWN_TYPE");
  EXPECT_EQ(e.in_reply_to, "teleport");
  Frames garbage{"\x01\x02"};
  e = MakeError(Decode(garbage, Sender::kCentre).status(), garbage);
  EXPECT_EQ(e.code, "INVALID_JSON");
  EXPECT_EQ(e.in_reply_to, "");
}

TEST(Messages, ReportHelpers) {
  Message c = Completed{"r1", "J1", {}, {}, "", ""};
  EXPECT_TRUE(IsTerminalReport(c));
  EXPECT_EQ(ReportIdOf(c), "r1");
  EXPECT_EQ(JobIdOf(c), "J1");
  EXPECT_FALSE(IsTerminalReport(Message(Accepted{"J1"})));
  EXPECT_EQ(ReportIdOf(Message(Accepted{"J1"})), "");
  EXPECT_EQ(JobIdOf(Message(Accepted{"J1"})), "J1");
  EXPECT_TRUE(IsTerminalReport(Message(Rejected{"r", "J", "C", "", ""})));
  EXPECT_EQ(TypeName(Message(Cancel{})), "cancel");
}

TEST(Messages, InvalidUtf8IsReplacedNotThrown) {
  Error e{"X", std::string("bad \xff\xfe utf8"), ""};
  auto frames = Encode(e);
  auto back = Decode(frames, Sender::kCentre);
  ASSERT_TRUE(back.ok()) << back.status();
}

}  // namespace
}  // namespace cardbureau::server
