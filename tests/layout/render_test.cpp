// Integration: job + photo -> card faces, QR decoded with zbar and verified.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <thread>

#include "layout_fixtures.h"

namespace cardbureau::layout {
namespace {

using namespace cardbureau::layout::testing;

class RenderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { renderer_ = MakeRenderer().release(); }
  static void TearDownTestSuite() {
    delete renderer_;
    renderer_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(renderer_, nullptr); }

  Result<RenderedCard> Render(const Job& job, const std::string& photo = "astronaut.png",
                              const std::string& uid = "04A1B2C3", int seq = 1) {
    CB_ASSIGN_OR_RETURN(PreparedCard prepared, renderer_->Prepare(job, ReadPhoto(photo)));
    return renderer_->ComposeQr(std::move(prepared), uid, seq, signer_);
  }
  cv::Rect Box(const char* id) {
    for (const auto& e : renderer_->tmpl().front.elements) {
      if (e.id == id) return renderer_->ToPx(e.rect);
    }
    ADD_FAILURE() << "no element " << id;
    return {};
  }

  static CardRenderer* renderer_;
  QrSigner signer_ = TestSigner();
  QrVerifier verifier_ = TestVerifier();
};
CardRenderer* RenderTest::renderer_ = nullptr;

TEST_F(RenderTest, FacesAtProfileSizeWithVerifiableQr) {
  auto job = LoadJob("valid-primary-new.json", renderer_);
  ASSERT_TRUE(job.ok()) << job.status();
  auto card = Render(*job, "astronaut.png", "04a1b2c3d4e5f6", 2);
  ASSERT_TRUE(card.ok()) << card.status();
  for (const cv::Mat* m : {&card->images.front, &card->images.back}) {
    EXPECT_EQ(m->cols, 1016);
    EXPECT_EQ(m->rows, 648);
    EXPECT_EQ(m->type(), CV_8UC3);
  }
  EXPECT_EQ(card->images.front_k.type(), CV_8UC1);
  auto decoded = DecodeQrFromImage(card->images.front);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, card->qr_payload);
  auto claims = verifier_.Verify(*decoded);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->eid, job->student.education_id);
  EXPECT_EQ(claims->cno, job->card.card_no);
  EXPECT_EQ(claims->sch, job->school.code);
  EXPECT_EQ(claims->exp, job->ValidUntil().ToCompact());
  EXPECT_EQ(claims->uid, "04A1B2C3D4E5F6");  // normalised to upper case
  EXPECT_EQ(claims->seq, 2);
  EXPECT_EQ(card->qr_ec_level, 'M');  // 25 mm box at 300 dpi: Q would need 3 px modules
  // The module size printed is >= 0.33 mm.
  auto sym = EncodeQr(card->qr_payload, Box("qr").width, 300);
  ASSERT_TRUE(sym.ok());
  EXPECT_GE(QrModulePx(*sym, Box("qr").width) * 25.4 / 300, 0.33);
}

TEST_F(RenderTest, QrIsComposedLast) {
  auto job = LoadJob("valid-primary-new.json", renderer_);
  ASSERT_TRUE(job.ok()) << job.status();
  auto prepared = renderer_->Prepare(*job, ReadPhoto("astronaut.png"));
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_EQ(DecodeQrFromImage(prepared->images.front).status().code(), Code::kQrUnreadable);
  EXPECT_EQ(cv::countNonZero(prepared->images.front_k(prepared->qr_box)), 0);
  // Two UIDs from the same prepared card: different, both verifiable.
  auto a = renderer_->ComposeQr(*prepared, "04A1B2C3", 1, signer_);
  auto b = renderer_->ComposeQr(*prepared, "04A1B2C4", 1, signer_);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->qr_payload, b->qr_payload);
  EXPECT_EQ(verifier_.Verify(*DecodeQrFromImage(b->images.front))->uid, "04A1B2C4");
  EXPECT_GT(cv::countNonZero(a->images.front_k(prepared->qr_box)), 1000);
  EXPECT_EQ(renderer_->ComposeQr(*prepared, "04A1B2", 1, signer_).status().field(), "uid");
  EXPECT_EQ(renderer_->ComposeQr(*prepared, "zz", 1, signer_).status().code(), Code::kInvalidField);
  EXPECT_EQ(renderer_->ComposeQr(*prepared, "04A1B2C3", 0, signer_).status().field(), "qr.seq");
}

TEST_F(RenderTest, PhotoAndTextLandInTheirBoxes) {
  auto job = LoadJob("valid-primary-new.json", renderer_);
  ASSERT_TRUE(job.ok()) << job.status();
  auto card = Render(*job);
  ASSERT_TRUE(card.ok()) << card.status();
  // Photo: a real picture (varied pixels), not the plain background.
  cv::Scalar mean, sd;
  cv::meanStdDev(card->images.front(Box("photo")), mean, sd);
  EXPECT_GT(sd[0] + sd[1] + sd[2], 60);
  // Face placed per the crop rule: a face is found in the crop, centred.
  auto face = renderer_->photos().CheckImage(card->images.front(Box("photo")).clone());
  ASSERT_TRUE(face.ok()) << face.status();
  const cv::Rect pb = Box("photo");
  const cv::Rect f = face->metrics.face;
  EXPECT_NEAR(f.x + f.width / 2.0, pb.width / 2.0, pb.width * 0.08);
  EXPECT_NEAR(f.y + f.height / 2.0, pb.height * 0.42, pb.height * 0.08);
  // K mask (black text + QR) only inside k_panel text boxes and the QR box.
  cv::Mat allowed = cv::Mat::zeros(card->images.front_k.size(), CV_8UC1);
  for (const auto& e : renderer_->tmpl().front.elements) {
    if ((e.type == ElementType::kText && e.k_panel) || e.type == ElementType::kQr) {
      allowed(renderer_->ToPx(e.rect)).setTo(255);
    }
  }
  cv::Mat outside = card->images.front_k & ~allowed;
  EXPECT_EQ(cv::countNonZero(outside), 0);
  for (const char* id : {"name", "school", "eid", "card_no", "valid_until", "gender"}) {
    EXPECT_GT(cv::countNonZero(card->images.front_k(Box(id))), 20) << id;
  }
  // The K text pixels are black in the colour raster too.
  cv::Mat gray;
  cv::cvtColor(card->images.front, gray, cv::COLOR_BGR2GRAY);
  cv::Mat k_dark = (gray < 100) & card->images.front_k;
  EXPECT_GT(cv::countNonZero(k_dark), cv::countNonZero(card->images.front_k) * 9 / 10);
  // Back: notes text present.
  EXPECT_GT(cv::countNonZero(card->images.back_k), 2000);
  // The selectable-text list carries the student name and the card number.
  bool name = false, cno = false;
  for (const auto& t : card->texts) {
    name |= t.text == job->student.name;
    cno |= t.text == job->card.card_no;
  }
  EXPECT_TRUE(name && cno);
}

TEST_F(RenderTest, LevelColours) {
  const std::map<std::string, cv::Vec3b> expected = {
      {"valid-primary-new.json", {0x00, 0xC4, 0xF5}},     // BGR of #F5C400 yellow
      {"valid-junior-reissue.json", {0xF0, 0xCF, 0x8E}},  // #8ECFF0 light blue
      {"valid-senior-4k.json", {0x4F, 0x9E, 0x2E}}};      // #2E9E4F green
  for (const auto& [file, bgr] : expected) {
    auto job = LoadJob(file, renderer_);
    ASSERT_TRUE(job.ok()) << file << job.status();
    auto card = Render(*job);
    ASSERT_TRUE(card.ok()) << file << card.status();
    // Title band corner (bleeds to the raster edge) and the back's top band.
    EXPECT_EQ(card->images.front.at<cv::Vec3b>(3, 3), bgr) << file;
    EXPECT_EQ(card->images.front.at<cv::Vec3b>(0, 1015), bgr) << file;
    EXPECT_EQ(card->images.back.at<cv::Vec3b>(10, 500), bgr) << file;
  }
}

Job NamedJob(const std::string& name) {
  auto job = LoadJob("valid-primary-new.json");
  EXPECT_TRUE(job.ok()) << job.status();
  job->student.name = name;
  return *job;
}

TEST_F(RenderTest, EveryNameInNamesMd) {
  const std::vector<std::string> valid = {
      "张三", "欧阳娜娜", "李䶮", "王𠀁", "阿卜杜热合曼·买买提依明", "张", "Anna Müller"};
  const ManualClock clock = ManualClock::AtBeijingDate(kToday);
  ValidationOptions vo;
  vo.clock = &clock;
  vo.glyph_check = renderer_->glyph_check();
  const cv::Rect name_box = Box("name");
  for (const auto& name : valid) {
    Job job = NamedJob(name);
    ASSERT_TRUE(ValidateJob(job, vo).ok()) << name;
    auto card = Render(job);
    ASSERT_TRUE(card.ok()) << name << ": " << card.status();
    EXPECT_GT(cv::countNonZero(card->images.front_k(name_box)), 30) << name;
    const PlacedText* placed = nullptr;
    for (const auto& t : card->texts) {
      if (t.text == name) placed = &t;
    }
    ASSERT_NE(placed, nullptr) << name;
    EXPECT_GE(placed->size_pt, 4.5 - 0.01) << name;
    EXPECT_LE(placed->size_pt, 12.0 + 0.01) << name;
    if (name == "阿卜杜热合曼·买买提依明") {
      EXPECT_LT(placed->size_pt, 11.0) << "long name must be shrunk";
    }
    if (name == "张三") {
      EXPECT_GT(placed->size_pt, 11.0) << "short name at full size";
    }
  }
  // 赵𪛗: refused by validation (glyph check) and by the renderer itself.
  Job bad = NamedJob("赵𪛗");
  Status s = ValidateJob(bad, vo);
  EXPECT_EQ(s.code(), Code::kUnrenderableGlyph) << s;
  EXPECT_EQ(s.field(), "student.name");
  EXPECT_NE(s.message().find("U+2A6D7"), std::string::npos) << s;
  auto r = renderer_->Prepare(bad, ReadPhoto("astronaut.png"));
  EXPECT_EQ(r.status().code(), Code::kUnrenderableGlyph);
  EXPECT_EQ(r.status().field(), "student.name");
}

TEST_F(RenderTest, TextThatCannotShrinkEnoughIsInvalidField) {
  auto t = LoadTemplate("bjt-student");
  ASSERT_TRUE(t.ok());
  for (auto& e : t->front.elements) {
    if (e.id == "name") e.size_min_pt = 10;  // no room to shrink
  }
  auto r = CardRenderer::Create(*t, *FindProfile("evolis-300"));
  ASSERT_TRUE(r.ok()) << r.status();
  Job job = NamedJob("阿卜杜热合曼·买买提依明");
  auto card = (*r)->Prepare(job, ReadPhoto("astronaut.png"));
  EXPECT_EQ(card.status().code(), Code::kInvalidField);
  EXPECT_EQ(card.status().field(), "student.name");
}

TEST_F(RenderTest, StaticTextThatDoesNotFitIsInvalidTemplate) {
  auto t = LoadTemplate("bjt-student");
  ASSERT_TRUE(t.ok());
  for (auto& e : t->back.elements) {
    if (e.id == "usage_1") e.rect.w = 20;
  }
  auto r = CardRenderer::Create(*t, *FindProfile("evolis-300"));
  EXPECT_EQ(r.status().code(), Code::kInvalidTemplate);
  EXPECT_EQ(r.status().field(), "back.usage_1");
}

TEST_F(RenderTest, PhotoErrorsPassThrough) {
  auto job = LoadJob("valid-primary-new.json", renderer_);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(renderer_->Prepare(*job, ReadPhoto("astronaut-two.png")).status().code(),
            Code::kPhotoMultipleFaces);
  EXPECT_EQ(renderer_->Prepare(*job, ReadPhoto("chelsea.png")).status().code(), Code::kPhotoNoFace);
  EXPECT_EQ(renderer_->Prepare(*job, ToBytes("not a photo")).status().code(),
            Code::kPhotoUnreadable);
}

TEST_F(RenderTest, SixHundredDpiWithoutReLayout) {
  auto hi = MakeRenderer("evolis-600");
  ASSERT_NE(hi, nullptr);
  auto job = LoadJob("valid-primary-new.json", renderer_);
  ASSERT_TRUE(job.ok());
  auto lo_card = Render(*job);
  auto prepared = hi->Prepare(*job, ReadPhoto("astronaut.png"));
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  auto hi_card = hi->ComposeQr(std::move(prepared).value(), "04A1B2C3", 1, signer_);
  ASSERT_TRUE(hi_card.ok()) << hi_card.status();
  EXPECT_EQ(hi_card->images.front.cols, 2032);
  EXPECT_EQ(hi_card->images.front.rows, 1296);
  auto decoded = DecodeQrFromImage(hi_card->images.front);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(verifier_.Verify(*decoded).ok());
  // Same layout, twice the pixels: the name's ink box scales by ~2.
  const cv::Rect lo = cv::boundingRect(lo_card->images.front_k(Box("name")));
  const cv::Rect hi_box = hi->ToPx(renderer_->tmpl().front.elements[7].rect);
  ASSERT_EQ(renderer_->tmpl().front.elements[7].id, "name");
  const cv::Rect h = cv::boundingRect(hi_card->images.front_k(hi_box));
  EXPECT_NEAR(h.width, 2 * lo.width, 6);
  EXPECT_NEAR(h.height, 2 * lo.height, 6);
  // Downscaled 600 dpi face looks like the 300 dpi face.
  cv::Mat down;
  cv::resize(hi_card->images.back, down, lo_card->images.back.size(), 0, 0, cv::INTER_AREA);
  // (Blurred, as glyph hinting differs per pixel size.)
  cv::Mat a, b, diff;
  cv::GaussianBlur(down, a, cv::Size(0, 0), 2.0);
  cv::GaussianBlur(lo_card->images.back, b, cv::Size(0, 0), 2.0);
  cv::absdiff(a, b, diff);
  EXPECT_LT(cv::mean(diff)[0], 5.0);
}

TEST_F(RenderTest, GoldenFrontAndBack) {
  auto job = LoadJob("valid-junior-reissue.json", renderer_);
  ASSERT_TRUE(job.ok());
  // With a transit number from a stock lot (issue 21), as the line prints it.
  auto prepared = renderer_->Prepare(*job, ReadPhoto("astronaut.png"));
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  auto card =
      renderer_->ComposeQr(std::move(prepared).value(), "04A1B2C3", 1, signer_, "1000751012345678");
  ASSERT_TRUE(card.ok()) << card.status();
  const std::string dir = kSource + "/tests/layout/golden/";
  for (bool front : {true, false}) {
    const cv::Mat& img = front ? card->images.front : card->images.back;
    const std::string path = dir + (front ? "junior-front.png" : "junior-back.png");
    if (std::getenv("CARDBUREAU_UPDATE_GOLDEN")) {
      std::filesystem::create_directories(dir);
      ASSERT_TRUE(cv::imwrite(path, img));
      continue;
    }
    cv::Mat golden = cv::imread(path, cv::IMREAD_COLOR);
    ASSERT_FALSE(golden.empty()) << "missing " << path
                                 << " (regenerate with CARDBUREAU_UPDATE_GOLDEN=1)";
    ASSERT_EQ(golden.size(), img.size());
    cv::Mat diff, gray;
    cv::absdiff(golden, img, diff);
    cv::cvtColor(diff, gray, cv::COLOR_BGR2GRAY);
    // Tolerance: small antialiasing/rounding differences, no moved elements.
    EXPECT_LT(cv::mean(gray)[0], 2.0) << path;
    EXPECT_LT(cv::countNonZero(gray > 64), static_cast<int>(gray.total() / 200)) << path;
  }
}

TEST_F(RenderTest, WritesRastersMasksAndPanelBuffers) {
  auto job = LoadJob("valid-primary-new.json", renderer_);
  ASSERT_TRUE(job.ok());
  auto card = Render(*job);
  ASSERT_TRUE(card.ok());
  const std::string dir = std::string(CARDBUREAU_BINARY_DIR) + "/layout-test-out/write";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(WriteCardOutputs(*card, dir).ok());
  namespace fs = std::filesystem;
  EXPECT_EQ(fs::file_size(dir + "/front.rgb"), 1016u * 648u * 3u);
  EXPECT_EQ(fs::file_size(dir + "/back-k.bin"), 127u * 648u);
  cv::Mat png = cv::imread(dir + "/front.png", cv::IMREAD_COLOR);
  ASSERT_FALSE(png.empty());
  EXPECT_EQ(cv::norm(png, card->images.front, cv::NORM_INF), 0);
  cv::Mat k = cv::imread(dir + "/front-k.png", cv::IMREAD_GRAYSCALE);
  ASSERT_FALSE(k.empty());
  EXPECT_EQ(cv::countNonZero(k != card->images.front_k), 0);
  // Raw RGB is RGB order (the PNG/Mat is BGR).
  std::string raw = ReadText(dir + "/front.rgb");
  const cv::Vec3b px = card->images.front.at<cv::Vec3b>(0, 0);
  EXPECT_EQ(static_cast<uint8_t>(raw[0]), px[2]);
  EXPECT_EQ(static_cast<uint8_t>(raw[2]), px[0]);
  // Packed mask: bit (x, y) set iff mask pixel set.
  Bytes packed = PackMask(card->images.front_k);
  int mismatches = 0;
  for (int y = 0; y < 648; y += 7) {
    for (int x = 0; x < 1016; x += 3) {
      bool bit =
          packed[static_cast<size_t>(y) * 127 + static_cast<size_t>(x / 8)] & (0x80 >> (x % 8));
      mismatches += bit != (card->images.front_k.at<uint8_t>(y, x) != 0);
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(WriteCardOutputs(*card, "/proc/no-such-dir").code(), Code::kIoError);
  // The default writes its large files with O_DIRECT; buffered writes give
  // the same bytes in every file.
  const std::string buffered = dir + "-buffered";
  std::filesystem::remove_all(buffered);
  ASSERT_TRUE(WriteCardOutputs(*card, buffered, {.direct_io = false}).ok());
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    EXPECT_EQ(ReadText(entry.path().string()), ReadText(buffered + "/" + name)) << name;
    ++files;
  }
  EXPECT_EQ(files, 8u);
}

TEST_F(RenderTest, RenderersOnWorkerThreads) {
  auto job = LoadJob("valid-primary-new.json", renderer_);
  ASSERT_TRUE(job.ok());
  const Bytes photo = ReadPhoto("astronaut.png");
  std::vector<std::string> payloads(4);
  std::vector<Status> errors(4);
  auto worker = [&](int id) {
    auto r = MakeRenderer();  // one renderer per thread
    for (int i = 0; i < 2; ++i) {
      const int slot = id * 2 + i;
      auto p = r->Prepare(*job, photo);
      if (!p.ok()) {
        errors[static_cast<size_t>(slot)] = p.status();
        continue;
      }
      char uid[16];
      std::snprintf(uid, sizeof uid, "04A1B2%02d", slot);
      auto c = r->ComposeQr(std::move(p).value(), uid, 1, signer_);  // signer shared
      if (!c.ok()) {
        errors[static_cast<size_t>(slot)] = c.status();
        continue;
      }
      auto d = DecodeQrFromImage(c->images.front);
      if (!d.ok()) {
        errors[static_cast<size_t>(slot)] = d.status();
        continue;
      }
      payloads[static_cast<size_t>(slot)] = *d;
    }
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(errors[i].ok()) << errors[i];
    auto claims = verifier_.Verify(payloads[i]);
    ASSERT_TRUE(claims.ok()) << claims.status();
    char uid[16];
    std::snprintf(uid, sizeof uid, "04A1B2%02zu", i);
    EXPECT_EQ(claims->uid, uid);
  }
}

// Face buffers are reused across cards, but never while a card (or a copy
// of it, as the production line keeps) still holds them.
TEST_F(RenderTest, FaceBuffersAreReusedOnlyAfterRelease) {
  auto r = MakeRenderer();  // a fresh pool
  ASSERT_NE(r, nullptr);
  auto job_a = LoadJob("valid-primary-new.json", r.get());
  auto job_b = LoadJob("valid-junior-reissue.json", r.get());
  ASSERT_TRUE(job_a.ok() && job_b.ok());
  const Bytes photo = ReadPhoto("astronaut.png");
  auto a = r->Prepare(*job_a, photo);
  ASSERT_TRUE(a.ok()) << a.status();
  const cv::Mat a_front = a->images.front.clone(), a_k = a->images.front_k.clone();
  const uchar* a_addr = a->images.front.data;
  PreparedCard held = *a;  // shares pixels, as the line's retry copy does
  a = Status(Code::kInternal, "released");
  auto rendered = r->ComposeQr(held, "04A1B2C3", 1, signer_);  // draws into the shared buffer
  ASSERT_TRUE(rendered.ok());
  auto b = r->Prepare(*job_b, photo);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(b->images.front.data, a_addr);
  // The held card's pixels outside the QR box are untouched by card b.
  cv::Mat outside = cv::Mat::ones(a_front.size(), CV_8UC1);
  outside(held.qr_box).setTo(0);
  cv::Mat diff;
  cv::absdiff(held.images.front, a_front, diff);
  cv::cvtColor(diff, diff, cv::COLOR_BGR2GRAY);
  EXPECT_EQ(cv::countNonZero(diff & outside), 0);
  cv::absdiff(held.images.front_k, a_k, diff);
  EXPECT_EQ(cv::countNonZero(diff & outside), 0);
  // Released everywhere: the next card reuses the buffer and is drawn
  // exactly as the first time (nothing left over from the QR).
  held = PreparedCard{};
  rendered = Status(Code::kInternal, "released");
  auto again = r->Prepare(*job_a, photo);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->images.front.data, a_addr);
  EXPECT_EQ(cv::norm(again->images.front, a_front, cv::NORM_INF), 0);
  EXPECT_EQ(cv::norm(again->images.front_k, a_k, cv::NORM_INF), 0);
}

// The photo check cache changes nothing in the faces.
TEST_F(RenderTest, CachedPhotoGivesIdenticalFaces) {
  auto tmpl = LoadTemplate("bjt-student");
  ASSERT_TRUE(tmpl.ok());
  PhotoConfig uncached;
  uncached.cache = nullptr;
  PhotoConfig cached;
  cached.cache = std::make_shared<PhotoCheckCache>();
  auto plain = CardRenderer::Create(*tmpl, renderer_->profile(), uncached);
  auto with_cache = CardRenderer::Create(*tmpl, renderer_->profile(), cached);
  ASSERT_TRUE(plain.ok() && with_cache.ok());
  auto job = LoadJob("valid-primary-new.json", renderer_);
  ASSERT_TRUE(job.ok());
  for (const char* file : {"astronaut.png", "astronaut.jpg"}) {
    const Bytes photo = ReadPhoto(file);
    auto want = (*plain)->Prepare(*job, photo);
    ASSERT_TRUE(want.ok()) << want.status();
    for (int i = 0; i < 2; ++i) {  // a miss, then a hit
      auto got = (*with_cache)->Prepare(*job, photo);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(cv::norm(got->images.front, want->images.front, cv::NORM_INF), 0) << file << i;
    }
  }
  EXPECT_EQ(cached.cache->stats().entries, 2u);
  EXPECT_GE(cached.cache->stats().hits, 2u);
  // A refused photo stays refused from the cache, with the same code.
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ((*with_cache)->Prepare(*job, ReadPhoto("astronaut-two.png")).status().code(),
              Code::kPhotoMultipleFaces);
  }
}

// The back (no job data) is written from encodings made once per renderer,
// but only while the card still shows the layer's own pixels.
TEST_F(RenderTest, StaticBackOutputsOnlyForUnchangedPixels) {
  auto job = LoadJob("valid-senior-4k.json", renderer_);
  ASSERT_TRUE(job.ok()) << job.status();
  auto card = Render(*job);
  ASSERT_TRUE(card.ok()) << card.status();
  ASSERT_NE(card->images.back_static, nullptr);
  EXPECT_EQ(card->images.front_static, nullptr);  // the front shows job data
  const std::string base = std::string(CARDBUREAU_BINARY_DIR) + "/layout-test-out/static";
  std::filesystem::remove_all(base);
  for (int i = 0; i < 2; ++i) {  // first use encodes, second reuses
    ASSERT_TRUE(WriteCardOutputs(*card, base + "/same").ok());
    cv::Mat png = cv::imread(base + "/same/back.png", cv::IMREAD_COLOR);
    ASSERT_FALSE(png.empty());
    EXPECT_EQ(cv::norm(png, card->images.back, cv::NORM_INF), 0);
    cv::Mat k = cv::imread(base + "/same/back-k.png", cv::IMREAD_GRAYSCALE);
    EXPECT_EQ(cv::countNonZero(k != card->images.back_k), 0);
    EXPECT_EQ(ToBytes(ReadText(base + "/same/back-k.bin")), PackMask(card->images.back_k));
  }
  // Drawn on (after a clone, as the contract asks): encoded afresh.
  RenderedCard changed = *card;
  changed.images.back = card->images.back.clone();
  changed.images.back_k = card->images.back_k.clone();
  cv::rectangle(changed.images.back, cv::Rect(100, 100, 200, 50), cv::Scalar(0, 0, 255),
                cv::FILLED);
  cv::rectangle(changed.images.back_k, cv::Rect(100, 100, 200, 50), cv::Scalar(255), cv::FILLED);
  ASSERT_TRUE(WriteCardOutputs(changed, base + "/changed").ok());
  cv::Mat png = cv::imread(base + "/changed/back.png", cv::IMREAD_COLOR);
  EXPECT_EQ(cv::norm(png, changed.images.back, cv::NORM_INF), 0);
  cv::Mat k = cv::imread(base + "/changed/back-k.png", cv::IMREAD_GRAYSCALE);
  EXPECT_EQ(cv::countNonZero(k != changed.images.back_k), 0);
  EXPECT_EQ(ToBytes(ReadText(base + "/changed/back-k.bin")), PackMask(changed.images.back_k));
}

// Every fixture job through the full pipeline (core validation with the
// font chain's glyph check, photo bytes, then layout's photo gates and
// rendering) against the "full" column of fixtures/jobs/expected.tsv.
TEST_F(RenderTest, FixtureJobsFullPipeline) {
  std::istringstream tsv(ReadText(kSource + "/fixtures/jobs/expected.tsv"));
  std::string line;
  int checked = 0, rendered = 0;
  while (std::getline(tsv, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream cols(line);
    std::string file, core, full;
    std::getline(cols, file, '\t');
    std::getline(cols, core, '\t');
    std::getline(cols, full, '\t');
    if (full == "same") full = core;
    std::string outcome = "OK";
    const std::string text = ReadText(kSource + "/fixtures/jobs/" + file);
    auto job = ParseJob(text);
    Status s = job.status();
    if (s.ok()) {
      const ManualClock clock = ManualClock::AtBeijingDate(kToday);
      ValidationOptions vo;
      vo.clock = &clock;
      vo.glyph_check = renderer_->glyph_check();
      s = ValidateJob(*job, vo);
      std::string photo_file = "astronaut.png";
      auto j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_object() && j.contains("photo_file")) photo_file = j["photo_file"];
      const Bytes photo = ReadPhoto(photo_file);
      if (s.ok()) s = ValidatePhotoBytes(*job, photo);
      if (s.ok()) {
        auto card = renderer_->Prepare(*job, photo);
        s = card.status();
        if (s.ok()) {
          auto done = renderer_->ComposeQr(std::move(card).value(), "04A1B2C3", 1, signer_);
          s = done.status();
          rendered += s.ok();
        }
      }
    }
    if (!s.ok()) {
      outcome = std::string(s.code_name());
      if (!s.field().empty()) outcome += " " + s.field();
    }
    EXPECT_EQ(outcome, full) << file << ": " << s;
    ++checked;
  }
  EXPECT_GT(checked, 40);
  EXPECT_GT(rendered, 10);
}

// Stock lots (issue 21): the card's transit number is drawn into its field
// when the UID is known (ComposeQr), and nowhere else; composing the same
// prepared card again for another card leaves no trace of the first number.
TEST_F(RenderTest, TransitNumberAppearsInItsFieldOnly) {
  auto job = LoadJob("valid-junior-reissue.json", renderer_);
  ASSERT_TRUE(job.ok()) << job.status();
  auto prepared = renderer_->Prepare(*job, ReadPhoto("astronaut.png"));
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  // ComposeQr copies the prepared card's face buffers shallowly (as the
  // line does, one card after another): take each result before the next.
  cv::Mat a, b;
  auto without = renderer_->ComposeQr(*prepared, "04A1B2C3", 1, signer_);
  ASSERT_TRUE(without.ok()) << without.status();
  cv::cvtColor(without->images.front, a, cv::COLOR_BGR2GRAY);
  auto with = renderer_->ComposeQr(*prepared, "04A1B2C3", 1, signer_, "1000751012345678");
  ASSERT_TRUE(with.ok()) << with.status();
  cv::cvtColor(with->images.front, b, cv::COLOR_BGR2GRAY);
  const cv::Rect field = Box("transit_no");
  ASSERT_FALSE(field.empty());
  EXPECT_EQ(cv::countNonZero(a(field) < 128), 0) << "no transit number: the field is empty";
  EXPECT_GT(cv::countNonZero(b(field) < 128), 100) << "the transit number is in its field";
  // Outside the field the faces are the same.
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  diff(field).setTo(0);
  EXPECT_EQ(cv::countNonZero(diff), 0);
  // The text placed is the label and the number.
  bool placed = false;
  for (const auto& t : with->texts)
    placed = placed || t.text.find("1000751012345678") != t.text.npos;
  EXPECT_TRUE(placed);
  // The same prepared card again, for another card with another number:
  // only the new number is in the field (the shared face buffer is reused).
  auto other = renderer_->ComposeQr(*prepared, "04A1B2C3", 1, signer_, "2000000000000009");
  auto fresh_prepared = renderer_->Prepare(*job, ReadPhoto("astronaut.png"));
  ASSERT_TRUE(fresh_prepared.ok());
  auto fresh = renderer_->ComposeQr(std::move(fresh_prepared).value(), "04A1B2C3", 1, signer_,
                                    "2000000000000009");
  ASSERT_TRUE(other.ok() && fresh.ok());
  cv::Mat o, f;
  cv::cvtColor(other->images.front, o, cv::COLOR_BGR2GRAY);
  cv::cvtColor(fresh->images.front, f, cv::COLOR_BGR2GRAY);
  cv::absdiff(o(field), f(field), diff);
  EXPECT_EQ(cv::countNonZero(diff), 0);
  // The back carries the card's title and our mark; the hotline is printed.
  bool hotline = false;
  for (const auto& t : with->texts) hotline = hotline || t.text.find("服务热线") != t.text.npos;
  EXPECT_TRUE(hotline);
}

TEST(TemplateStockFields, TransitNumberAndHotlineRules) {
  const std::string head = R"({"template": "t", "version": 1,
    "fonts": {"sans": [{"file": "x.ttc"}]},
    "palettes": {"primary": {}, "junior": {}, "senior": {}},)";
  auto text = [](const std::string& t) {
    return R"({"type": "text", "id": "a", "rect": [1, 1, 40, 5], "text": ")" + t +
           R"(", "font": "sans", "size_pt": [6, 8], "color": "#000000"})";
  };
  auto tmpl = [&](const std::string& extra, const std::string& front, const std::string& back) {
    return head + extra + R"("front": {"background": "#FFFFFF", "elements": [)" + front +
           R"(]}, "back": {"background": "#FFFFFF", "elements": [)" + back + "]}}";
  };
  auto ok = ParseTemplate(
      tmpl(R"("hotline": "010-1234",)", text("号 {card.transit_no}"), text("热线 {hotline}")));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(IsLateText(ok->front.elements[0]));
  EXPECT_EQ(ok->back.elements[0].text, "热线 010-1234");
  EXPECT_EQ(ExpandLateText(ok->front.elements[0].text, "123"), "号 123");
  // {hotline} without "hotline"; the transit number on the back or with
  // another placeholder.
  EXPECT_EQ(ParseTemplate(tmpl("", text("x"), text("{hotline}"))).status().code(),
            Code::kInvalidTemplate);
  EXPECT_EQ(ParseTemplate(tmpl("", text("x"), text("{card.transit_no}"))).status().code(),
            Code::kInvalidTemplate);
  EXPECT_EQ(
      ParseTemplate(tmpl("", text("{card.transit_no} {student.name}"), text("x"))).status().code(),
      Code::kInvalidTemplate);
}

}  // namespace
}  // namespace cardbureau::layout
