// Rebuilds the photo-pipeline fixtures from fixtures/photos/astronaut.png:
//   astronaut-small.png   scaled to 40% (face ~38 px: PHOTO_TOO_SMALL)
//   astronaut-dark.png    brightness x0.18 (PHOTO_TOO_DARK)
//   astronaut-blurred.png Gaussian blur sigma 6 (PHOTO_BLURRED)
//   astronaut-two.png     two copies side by side (PHOTO_MULTIPLE_FACES)
//   astronaut.jpg         JPEG q90 of the original (valid JPEG input)
//   fuzz-seeds/           small PNG and JPEG seeds for the decode fuzzer
// Usage: make_photo_variants [fixtures/photos]
#include <cstdio>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "fixtures/photos";
  cv::Mat src = cv::imread(dir + "/astronaut.png", cv::IMREAD_COLOR);
  if (src.empty()) {
    std::fprintf(stderr, "cannot read %s/astronaut.png\n", dir.c_str());
    return 1;
  }
  bool ok = true;
  cv::Mat small;
  cv::resize(src, small, cv::Size(), 0.4, 0.4, cv::INTER_AREA);
  ok &= cv::imwrite(dir + "/astronaut-small.png", small);
  cv::Mat dark;
  src.convertTo(dark, -1, 0.18, 0);
  ok &= cv::imwrite(dir + "/astronaut-dark.png", dark);
  cv::Mat blurred;
  cv::GaussianBlur(src, blurred, cv::Size(0, 0), 6.0);
  ok &= cv::imwrite(dir + "/astronaut-blurred.png", blurred);
  cv::Mat two;
  cv::hconcat(src, src, two);
  ok &= cv::imwrite(dir + "/astronaut-two.png", two);
  ok &= cv::imwrite(dir + "/astronaut.jpg", src, {cv::IMWRITE_JPEG_QUALITY, 90});
  std::filesystem::create_directories(dir + "/fuzz-seeds");
  cv::Mat tiny;
  cv::resize(src, tiny, cv::Size(64, 64), 0, 0, cv::INTER_AREA);
  ok &= cv::imwrite(dir + "/fuzz-seeds/tiny.png", tiny);
  ok &= cv::imwrite(dir + "/fuzz-seeds/tiny.jpg", tiny, {cv::IMWRITE_JPEG_QUALITY, 70});
  if (!ok) {
    std::fprintf(stderr, "writing variants failed\n");
    return 1;
  }
  std::printf("variants written to %s\n", dir.c_str());
  return 0;
}
