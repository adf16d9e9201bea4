#include "cardbureau/printers/hotfolder_printer.h"

#include <nlohmann/json.hpp>
#include <thread>

#include "cardbureau/printers/file_util.h"

namespace cardbureau::printers {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
// Hand-off files for the spooler (mode 0640: the spooler may run as another
// user of the group). Not worth a folder sync: a request lost in a power cut
// times out and the card is retried (core/file.h's durability list).
constexpr AtomicWriteOptions kSpoolerFile{
    .mode = 0640, .create_parents = true, .sync_directory = false};
}  // namespace

Status ParseSpoolerAnswer(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("status") || !j["status"].is_string()) {
    return Status(Code::kInvalidJson, "spooler answer is not {\"status\": ...}");
  }
  std::string status = j["status"].get<std::string>();
  std::string message = j.value("message", std::string());
  if (status == "ok") return Status::Ok();
  if (status == "jam")
    return Status(Code::kPrinterJam, message.empty() ? "spooler reports a jam" : message);
  if (status == "out_of_ribbon")
    return Status(Code::kPrinterOutOfRibbon, message.empty() ? "ribbon exhausted" : message);
  return Status(Code::kPrinterError, "spooler: " + (message.empty() ? status : message));
}

HotfolderPrinter::HotfolderPrinter(HotfolderConfig config) : config_(std::move(config)) {}

Status HotfolderPrinter::Request(const std::string& action, const std::string& body) {
  const fs::path req = config_.dir / (card_id_ + "." + action + ".json");
  const fs::path ans = config_.dir / (card_id_ + "." + action + ".result.json");
  std::error_code ec;
  fs::remove(ans, ec);  // a stale answer from an earlier run must not count
  CB_RETURN_IF_ERROR(WriteFileAtomic(req, AsBytes(body), kSpoolerFile));
  const auto deadline = std::chrono::steady_clock::now() + config_.timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(ans)) {
      auto data = ReadFileLimited(ans, 64 * 1024);
      if (!data.ok()) return data.status();
      fs::remove(req, ec);
      fs::remove(ans, ec);
      std::string text(data->begin(), data->end());
      Status s = ParseSpoolerAnswer(text);
      if (s.code() == Code::kInvalidJson) return Status(Code::kPrinterError, s.message());
      return s;
    }
    std::this_thread::sleep_for(config_.poll);
  }
  return Status(Code::kPrinterError, "spooler did not answer " + action + " within " +
                                         std::to_string(config_.timeout.count()) + " ms");
}

Status HotfolderPrinter::Feed(const std::string& card_id, CardType type) {
  card_id_ = card_id;
  json body = {{"v", 1},
               {"action", "feed"},
               {"card_id", card_id},
               {"card_type", std::string(ToString(type))}};
  Status s = Request("feed", body.dump());
  if (s.ok()) ++counters_.fed;
  if (s.code() == Code::kPrinterJam) ++counters_.jams;
  return s;
}

Status HotfolderPrinter::Print(const PrintData& data) {
  job_id_ = data.job_id;
  card_id_ = data.card_id;
  json body = {{"v", 1}, {"action", "print"}, {"job_id", data.job_id}, {"card_id", data.card_id}};
  auto put = [&](const char* key, const Bytes& png) -> Status {
    if (png.empty()) return Status::Ok();
    std::string file = data.card_id + "." + key + ".png";
    body[key] = file;
    return WriteFileAtomic(config_.dir / file, png, kSpoolerFile);
  };
  CB_RETURN_IF_ERROR(put("front", data.front_png));
  CB_RETURN_IF_ERROR(put("back", data.back_png));
  CB_RETURN_IF_ERROR(put("front_k", data.front_k_png));
  CB_RETURN_IF_ERROR(put("back_k", data.back_k_png));
  Status s = Request("print", body.dump());
  if (s.ok()) ++counters_.printed;
  if (s.code() == Code::kPrinterJam) ++counters_.jams;
  return s;
}

Status HotfolderPrinter::Eject(Hopper hopper) {
  if (card_id_.empty()) return Status::Ok();
  json body = {{"v", 1},
               {"action", "eject"},
               {"card_id", card_id_},
               {"hopper", std::string(HopperName(hopper))}};
  Status s = Request("eject", body.dump());
  if (s.ok()) {
    (hopper == Hopper::kOutput ? counters_.ejected_output : counters_.ejected_reject)++;
    std::error_code ec;
    for (const char* key : {"front", "back", "front_k", "back_k"}) {
      fs::remove(config_.dir / (card_id_ + "." + key + ".png"), ec);
    }
    card_id_.clear();
  }
  return s;
}

Status HotfolderPrinter::Purge(const std::string& job_id) {
  return RemoveCardEntries(config_.dir, job_id);
}

}  // namespace cardbureau::printers
