// The CUPS printer against a real cupsd: the test starts a private cupsd
// (own config, state and spool folders, loopback port) with a file-backed
// queue (a tiny backend that writes each job into a folder), prints a card
// through CupsPrinter and checks the 2-page PDF that reached the "device".
#include "cardbureau/printers/cups_printer.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <sstream>
#include <thread>

namespace cardbureau::printers {
namespace {

namespace fs = std::filesystem;

int FreePort() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(s);
  return port;
}

void WriteText(const fs::path& p, const std::string& text, fs::perms perms) {
  std::ofstream(p) << text;
  fs::permissions(p, perms);
}

Bytes Png(int w, int h, uint8_t v) {
  cv::Mat m(h, w, CV_8UC3, cv::Scalar(v, v, v));
  std::vector<uchar> buf;
  cv::imencode(".png", m, buf);
  return Bytes(buf.begin(), buf.end());
}

class CupsdFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a private cupsd";
    if (!fs::exists("/usr/sbin/cupsd")) GTEST_SKIP() << "cupsd not installed (package cups)";
    dir_ = fs::temp_directory_path() / ("cb-cupsd-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    for (const char* d : {"cache", "state", "spool", "tmp", "out", "log", "ppd", "bin/backend"}) {
      fs::create_directories(dir_ / d);
    }
    fs::permissions(dir_ / "out", fs::perms::all);
    for (const auto& e : fs::directory_iterator("/usr/lib/cups")) {
      if (e.path().filename() != "backend")
        fs::create_symlink(e.path(), dir_ / "bin" / e.path().filename());
    }
    WriteText(dir_ / "bin/backend/cardfile",
              "#!/bin/sh\n"
              "if [ $# -eq 0 ]; then echo 'direct cardfile \"Unknown\" \"Card file\"'; exit 0; fi\n"
              "dir=${DEVICE_URI#cardfile:}\n"
              "if [ $# -ge 6 ]; then cat \"$6\" > \"$dir/job-$1.prn\"; else cat > "
              "\"$dir/job-$1.prn\"; fi\n",
              fs::perms::owner_all);
    port_ = FreePort();
    const std::string d = dir_.string();
    WriteText(dir_ / "cupsd.conf",
              "Listen 127.0.0.1:" + std::to_string(port_) +
                  "\nLogLevel info\nWebInterface No\nBrowsing No\nDefaultAuthType None\n"
                  "<Location />\n Order allow,deny\n Allow all\n</Location>\n"
                  "<Policy default>\n <Limit All>\n  Order allow,deny\n  Allow all\n "
                  "</Limit>\n</Policy>\n",
              fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                  fs::perms::others_read);
    WriteText(dir_ / "cups-files.conf",
              "ServerRoot " + d + "\nCacheDir " + d + "/cache\nStateDir " + d +
                  "/state\nRequestRoot " + d + "/spool\nTempDir " + d + "/tmp\nErrorLog " + d +
                  "/log/error_log\nAccessLog " + d + "/log/access_log\nPageLog " + d +
                  "/log/page_log\nDataDir /usr/share/cups\nServerBin " + d + "/bin\n",
              fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                  fs::perms::others_read);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/usr/sbin/cupsd", "cupsd", "-f", "-c", (dir_ / "cupsd.conf").c_str(), "-s",
              (dir_ / "cups-files.conf").c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ASSERT_GT(pid_, 0);
    // Wait for the port, then add the queue with lpadmin (cups-client).
    bool up = false;
    for (int i = 0; i < 100 && !up; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      int s = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(port_));
      up = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(s);
    }
    ASSERT_TRUE(up) << "cupsd did not start";
    std::string cmd = "lpadmin -h 127.0.0.1:" + std::to_string(port_) +
                      " -p cardq -E -v cardfile:" + (dir_ / "out").string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  void TearDown() override {
    if (HasFailure() && !dir_.empty()) {
      std::ifstream log(dir_ / "log" / "error_log");
      std::stringstream ss;
      ss << log.rdbuf();
      std::cerr << "--- cupsd error_log ---\n" << ss.str() << "\n";
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST(CardPrintPdfTest, TwoPagesAtCardSize) {
  auto pdf = MakeCardPrintPdf(Png(1016, 648, 200), Png(1016, 648, 50));
  ASSERT_TRUE(pdf.ok()) << pdf.status();
  std::string text(pdf->begin(), pdf->end());
  EXPECT_EQ(text.substr(0, 5), "%PDF-");
  EXPECT_NE(text.find("/Count 2"), std::string::npos);
  EXPECT_FALSE(MakeCardPrintPdf(Bytes{1, 2, 3}, Png(10, 10, 0)).ok());
}

TEST_F(CupsdFixture, PrintsACardThroughARealCupsQueue) {
  CupsConfig cfg;
  cfg.queue = "cardq";
  cfg.server = "127.0.0.1";
  cfg.port = port_;
  cfg.timeout = std::chrono::seconds(20);
  CupsPrinter printer(cfg);
  ASSERT_TRUE(printer.Feed("JOB-1.1", CardType::kMifareClassic1K).ok());
  PrintData data{"JOB-1", "JOB-1.1", Png(1016, 648, 230), Png(1016, 648, 20), {}, {}};
  Status s = printer.Print(data);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(printer.Eject(Hopper::kOutput).ok());
  EXPECT_EQ(printer.counters().printed, 1);
  fs::path out = dir_ / "out" / ("job-" + std::to_string(printer.last_job_id()) + ".prn");
  ASSERT_TRUE(fs::exists(out));
  std::ifstream in(out, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str().substr(0, 5), "%PDF-");
  EXPECT_NE(ss.str().find("/Count 2"), std::string::npos);
}

TEST_F(CupsdFixture, UnknownQueueIsAPrinterError) {
  CupsConfig cfg;
  cfg.queue = "no-such-queue";
  cfg.server = "127.0.0.1";
  cfg.port = port_;
  cfg.timeout = std::chrono::seconds(5);
  CupsPrinter printer(cfg);
  PrintData data{"J", "J.1", Png(10, 10, 1), Png(10, 10, 2), {}, {}};
  EXPECT_EQ(printer.Print(data).code(), Code::kPrinterError);
}

}  // namespace
}  // namespace cardbureau::printers
