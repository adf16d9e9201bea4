// Shared helpers for the layout integration tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "cardbureau/core/job.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/layout/card_renderer.h"

namespace cardbureau::layout::testing {

inline const std::string kSource = CARDBUREAU_SOURCE_DIR;
// The date fixtures/jobs/expected.tsv was computed for.
inline const CivilDate kToday{2026, 11, 25};

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  return std::string(std::istreambuf_iterator<char>(in), {});
}
inline Bytes ReadPhoto(const std::string& name) {
  return ToBytes(ReadText(kSource + "/fixtures/photos/" + name));
}

// A fixture job, parsed; validated with the renderer's glyph check when
// `renderer` is given.
inline Result<Job> LoadJob(const std::string& name, CardRenderer* renderer = nullptr) {
  CB_ASSIGN_OR_RETURN(Job job, ParseJob(ReadText(kSource + "/fixtures/jobs/" + name)));
  static const ManualClock clock = ManualClock::AtBeijingDate(kToday);
  ValidationOptions vo;
  vo.clock = &clock;
  if (renderer) vo.glyph_check = renderer->glyph_check();
  CB_RETURN_IF_ERROR(ValidateJob(job, vo));
  return job;
}

inline std::unique_ptr<CardRenderer> MakeRenderer(const std::string& profile = "evolis-300") {
  auto t = LoadTemplate("bjt-student");
  EXPECT_TRUE(t.ok()) << t.status();
  auto p = FindProfile(profile);
  EXPECT_TRUE(p.ok()) << p.status();
  auto r = CardRenderer::Create(*t, *p);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(r).value() : nullptr;
}

// The TEST-ONLY signing key copied to a mode-0600 file of this process (git
// checks fixtures out 0644, and a signing key is held to the secrets rule).
inline std::string TestSignKeyPath() {
  static const std::string path = [] {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("cb-test-keys-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path p = dir / "qr-test-ed25519.pem";
    fs::copy_file(kSource + "/fixtures/keys/qr-test-ed25519.pem", p,
                  fs::copy_options::overwrite_existing);
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
    return p.string();
  }();
  return path;
}

inline QrSigner TestSigner() {
  auto s = QrSigner::FromPemFile(TestSignKeyPath());
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(s).value();
}
inline QrVerifier TestVerifier() {
  auto v = QrVerifier::FromPemFile(kSource + "/fixtures/keys/qr-test-ed25519.pub.pem");
  EXPECT_TRUE(v.ok()) << v.status();
  return std::move(v).value();
}

}  // namespace cardbureau::layout::testing
