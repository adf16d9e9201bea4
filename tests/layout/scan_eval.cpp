// The scan QA evaluation (docs/qa.md): N genuine and N tampered simulated
// captures (tampers cycle through the eight kinds), each compared with its
// expected face. Prints the confusion table (tamper kind x failing fields),
// the genuine failure rate and, per field, the highest genuine score and the
// lowest score of the captures tampered in that field (how the thresholds in
// scan_thresholds.h were chosen).
//   scan_eval [GENUINE [TAMPERED [FIRST_SEED [MAX_WIDTH]]]]   (defaults 200 200 1000 2400)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <opencv2/imgcodecs.hpp>

#include "scan_fixtures.h"

using namespace cardbureau;
using namespace cardbureau::layout;
using namespace cardbureau::layout::testing;

int main(int argc, char** argv) {
  const int genuine = argc > 1 ? std::atoi(argv[1]) : 200;
  const int tampered = argc > 2 ? std::atoi(argv[2]) : 200;
  const uint64_t first = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1000;
  const int max_width = argc > 4 ? std::atoi(argv[4]) : 2400;
  auto renderer = MakeRenderer();
  if (!renderer) return 3;
  QrSigner signer = TestSigner();
  const cv::Rect2d card = MakeScanTarget(*renderer, cv::Mat()).card;

  std::map<std::string, double> genuine_max;  // field -> highest score/threshold
  std::map<std::string, double> tamper_min;   // field -> lowest score/threshold when tampered
  std::map<std::string, std::map<std::string, int>> confusion;  // kind -> failed set -> n
  std::map<std::string, int> kind_total, kind_named, kind_passed;
  int genuine_fail = 0, unusable = 0;
  double total_ms = 0;
  const int n = genuine + tampered;
  for (int i = 0; i < n; ++i) {
    const bool is_genuine = i < genuine;
    const uint64_t seed = first + static_cast<uint64_t>(i);
    const std::string kind =
        is_genuine ? "" : TamperKinds()[static_cast<size_t>(i - genuine) % TamperKinds().size()];
    auto c = MakeScanCase(*renderer, signer, seed, kind);
    if (!c.ok()) {
      std::cerr << "case " << seed << ": " << c.status() << "\n";
      return 3;
    }
    const CaptureParams p = RandomCapture(seed, seed % 5 == 0, max_width);
    const std::vector<uchar> bytes = SimulateCapture(c->printed, card, p);
    auto img = DecodeImageBytes(ByteView(bytes.data(), bytes.size()), "capture", "scan");
    if (!img.ok()) {
      std::cerr << "decode " << seed << ": " << img.status() << "\n";
      return 3;
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto cmp = CompareScan(*img, *renderer, c->expected);
    total_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const std::string label = is_genuine ? "genuine" : kind;
    if (const char* dump = std::getenv("CB_SCAN_DUMP"); dump && cmp.ok()) {
      // Debugging aid: the rectified card and the expected face.
      cv::imwrite(std::string(dump) + "/rect-" + std::to_string(seed) + ".png", cmp->scan.card);
      cv::imwrite(std::string(dump) + "/want-" + std::to_string(seed) + ".png",
                  c->expected.images.front);
    }
    ++kind_total[label];
    std::string failed;
    if (!cmp.ok()) {
      ++unusable;
      failed = std::string(cmp.status().code_name());
      std::cout << "case " << seed << " " << label << ": " << cmp.status() << " | " << p.Describe()
                << "\n";
    } else {
      failed = FailedFields(*cmp, c->payload);
      for (const auto& f : cmp->fields) {
        const double rel = f.score / f.threshold;
        if (is_genuine) {
          genuine_max[f.field] = std::max(genuine_max[f.field], rel);
        } else if (f.field == kind) {
          auto it = tamper_min.find(f.field);
          tamper_min[f.field] = it == tamper_min.end() ? rel : std::min(it->second, rel);
        }
      }
      if (failed != (is_genuine ? "" : kind)) {
        std::cout << "case " << seed << " " << label << ": failed [" << failed << "] |";
        for (const auto& f : cmp->fields) {
          std::printf(" %s=%.3f", f.field.c_str(), f.score);
        }
        std::cout << " | " << p.Describe() << "\n";
      }
    }
    if (failed.empty()) failed = "(pass)";
    ++confusion[label][failed];
    if (is_genuine && failed != "(pass)") ++genuine_fail;
    if (!is_genuine && failed == "(pass)") ++kind_passed[kind];
    if (!is_genuine && ("," + failed + ",").find("," + kind + ",") != std::string::npos) {
      ++kind_named[kind];
    }
  }
  std::printf("\n%d genuine, %d tampered; unusable %d; mean compare %.1f ms\n", genuine, tampered,
              unusable, total_ms / std::max(1, n));
  std::printf("genuine failing: %d (%.2f %%)\n", genuine_fail,
              100.0 * genuine_fail / std::max(1, genuine));
  std::printf("\n| capture | n | passed | named by its field | failing fields (count) |\n");
  std::printf("|---|---|---|---|---|\n");
  for (const auto& [label, sets] : confusion) {
    std::string cells;
    for (const auto& [set, count] : sets) {
      cells += (cells.empty() ? "" : ", ") + set + " " + std::to_string(count);
    }
    const bool g = label == "genuine";
    std::printf("| %s | %d | %d | %s | %s |\n", label.c_str(), kind_total[label],
                g ? confusion[label]["(pass)"] : kind_passed[label],
                g ? "-" : std::to_string(kind_named[label]).c_str(), cells.c_str());
  }
  std::printf(
      "\n| field | highest genuine score / threshold | lowest tampered score / threshold |\n");
  std::printf("|---|---|---|\n");
  for (const auto& [field, g] : genuine_max) {
    auto it = tamper_min.find(field);
    std::printf("| %s | %.3f | %s |\n", field.c_str(), g,
                it == tamper_min.end() ? "-" : std::to_string(it->second).substr(0, 5).c_str());
  }
  return 0;
}
