#include "cardbureau/printers/hotfolder_printer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cardbureau/printers/file_util.h"

namespace cardbureau::printers {
namespace {

namespace fs = std::filesystem;

TEST(SpoolerAnswerTest, Mapping) {
  EXPECT_TRUE(ParseSpoolerAnswer(R"({"status":"ok"})").ok());
  EXPECT_EQ(ParseSpoolerAnswer(R"({"status":"jam"})").code(), Code::kPrinterJam);
  EXPECT_EQ(ParseSpoolerAnswer(R"({"status":"out_of_ribbon"})").code(), Code::kPrinterOutOfRibbon);
  EXPECT_EQ(ParseSpoolerAnswer(R"({"status":"door open"})").code(), Code::kPrinterError);
  EXPECT_EQ(ParseSpoolerAnswer("{").code(), Code::kInvalidJson);
  EXPECT_EQ(ParseSpoolerAnswer(R"({"status":1})").code(), Code::kInvalidJson);
}

// A fake vendor spooler: answers every request file, jams on the 2nd print.
class FakeSpooler {
 public:
  explicit FakeSpooler(fs::path dir) : dir_(std::move(dir)), thread_([this] { Run(); }) {}
  ~FakeSpooler() {
    stop_ = true;
    thread_.join();
  }
  std::vector<nlohmann::json> requests;

 private:
  void Run() {
    int prints = 0;
    while (!stop_) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(dir_, ec)) {
        std::string name = e.path().filename().string();
        if (name.size() < 5 || name.substr(name.size() - 5) != ".json" ||
            name.find(".result.") != std::string::npos || name.find(".tmp") != std::string::npos) {
          continue;
        }
        auto data = ReadFileLimited(e.path(), 65536);
        if (!data.ok()) continue;
        auto j = nlohmann::json::parse(std::string(data->begin(), data->end()));
        fs::path ans = e.path();
        ans.replace_extension(".result.json");
        if (!handled_.insert(name).second) continue;
        std::string status = "ok";
        if (j["action"] == "print") {
          if (!fs::exists(dir_ / j["front"].get<std::string>())) status = "error";
          if (++prints == 2) status = "jam";
        }
        requests.push_back(j);
        (void)WriteFileAtomic(ans, AsBytes(nlohmann::json{{"status", status}}.dump()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  fs::path dir_;
  std::set<std::string> handled_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(HotfolderPrinterTest, FeedPrintEjectThroughTheSpooler) {
  fs::path dir = fs::temp_directory_path() / ("hotfolder-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    FakeSpooler spooler(dir);
    HotfolderConfig cfg;
    cfg.dir = dir;
    cfg.timeout = std::chrono::milliseconds(5000);
    HotfolderPrinter printer(cfg);
    PrintData data{"J1", "J1.1", {1}, {2}, {}, {}};
    ASSERT_TRUE(printer.Feed("J1.1", CardType::kMifareClassic1K).ok());
    ASSERT_TRUE(printer.Print(data).ok());
    ASSERT_TRUE(printer.Eject(Hopper::kOutput).ok());
    data.card_id = "J1.2";
    ASSERT_TRUE(printer.Feed("J1.2", CardType::kMifareClassic1K).ok());
    EXPECT_EQ(printer.Print(data).code(), Code::kPrinterJam);
    ASSERT_TRUE(printer.Eject(Hopper::kReject).ok());
    EXPECT_EQ(printer.counters().printed, 1);
    EXPECT_EQ(printer.counters().ejected_reject, 1);
  }
  fs::remove_all(dir);
}

TEST(HotfolderPrinterTest, PurgeRemovesTheJobsSpoolFilesOnly) {
  fs::path dir = fs::temp_directory_path() / ("hotfolder-purge-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::vector<std::string> mine = {"J1.1.print.json", "J1.1.front.png",
                                         "J1.2.eject.result.json"};
  const std::vector<std::string> others = {"J1.1.1.print.json", "J10.1.front.png",
                                           "J1x.1.feed.json"};
  for (const auto& f : mine) std::ofstream(dir / f) << "x";
  for (const auto& f : others) std::ofstream(dir / f) << "x";
  HotfolderConfig cfg;
  cfg.dir = dir;
  HotfolderPrinter printer(cfg);
  ASSERT_TRUE(printer.Purge("J1").ok());
  for (const auto& f : mine) EXPECT_FALSE(fs::exists(dir / f)) << f;
  for (const auto& f : others) EXPECT_TRUE(fs::exists(dir / f)) << f;
  fs::remove_all(dir);
}

TEST(HotfolderPrinterTest, NoSpoolerTimesOut) {
  fs::path dir = fs::temp_directory_path() / ("hotfolder-none-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  HotfolderConfig cfg;
  cfg.dir = dir;
  cfg.timeout = std::chrono::milliseconds(100);
  HotfolderPrinter printer(cfg);
  EXPECT_EQ(printer.Feed("x", CardType::kMifareClassic1K).code(), Code::kPrinterError);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cardbureau::printers
