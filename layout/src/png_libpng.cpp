// DecodePngWithLibpng (png_decode.h): libpng, silently.
//
// libpng reports errors through png_error -> our handler, which records the
// message and longjmps back to the one setjmp below. The frames between are
// libpng's (C) and Transform's, which owns nothing: every object with a
// destructor is created before setjmp and reached through pointers.
#include <png.h>

#include <cstring>
#include <vector>

#include "png_decode.h"

namespace cardbureau::layout {
namespace {

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

void ReadFn(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<Reader*>(png_get_io_ptr(png));
  if (n > r->size - r->pos) png_error(png, "truncated PNG data");
  std::memcpy(out, r->data + r->pos, n);
  r->pos += n;
}

[[noreturn]] void ErrorFn(png_structp png, png_const_charp msg) {
  auto* message = static_cast<std::string*>(png_get_error_ptr(png));
  message->assign(msg ? msg : "libpng error");
  png_longjmp(png, 1);
}

void WarningFn(png_structp, png_const_charp) {
}  // benign (iCCP, pHYs, ...): not the user's business

bool HasChunk(ByteView b, const char* type) {
  size_t i = 8;
  while (i + 8 <= b.size()) {
    const uint32_t len =
        (uint32_t{b[i]} << 24) | (uint32_t{b[i + 1]} << 16) | (uint32_t{b[i + 2]} << 8) | b[i + 3];
    if (std::memcmp(b.data() + i + 4, type, 4) == 0) return true;
    if (len > b.size() - i - 8) return false;
    i += 12 + static_cast<size_t>(len);
  }
  return false;
}

// OpenCV 4.6 PngDecoder::readData's transforms for IMREAD_COLOR.
void Transform(png_structp png, png_infop info, png_infop end, cv::Mat* img,
               std::vector<png_bytep>* rows) {
  png_read_info(png, info);
  png_uint_32 w = 0, h = 0;
  int depth = 0, color = 0;
  png_get_IHDR(png, info, &w, &h, &depth, &color, nullptr, nullptr, nullptr);
  if (depth == 16) png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if ((color & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (color & PNG_COLOR_MASK_COLOR) {
    png_set_bgr(png);
  } else {
    png_set_gray_to_rgb(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != static_cast<size_t>(w) * 3)
    png_error(png, "unexpected row size");
  img->create(static_cast<int>(h), static_cast<int>(w), CV_8UC3);
  rows->resize(h);
  for (png_uint_32 y = 0; y < h; ++y) (*rows)[y] = img->ptr<uint8_t>(static_cast<int>(y));
  png_read_image(png, rows->data());
  png_read_end(png, end);
}

// The one setjmp: true when the image was read, false after png_error.
// Nothing local is changed after setjmp (all state is behind pointers).
bool ReadGuarded(png_structp png, png_infop info, png_infop end, Reader* reader, cv::Mat* img,
                 std::vector<png_bytep>* rows) {
  if (setjmp(png_jmpbuf(png)) != 0) return false;
  png_set_read_fn(png, reader, &ReadFn);
  // Pixel limits were checked on the header before (ReadImageInfo).
  png_set_user_limits(png, 1u << 16, 1u << 16);
  Transform(png, info, end, img, rows);
  return true;
}

}  // namespace

PngLibpngResult DecodePngWithLibpng(ByteView bytes) {
  PngLibpngResult out;
  if (bytes.size() < 8 || HasChunk(bytes, "eXIf")) return out;
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &out.message, &ErrorFn, &WarningFn);
  if (!png) return out;
  png_infop info = png_create_info_struct(png);
  png_infop end = png_create_info_struct(png);
  Reader reader{bytes.data(), bytes.size(), 0};
  std::vector<png_bytep> rows;
  cv::Mat img;
  const bool ok = info && end && ReadGuarded(png, info, end, &reader, &img, &rows);
  png_destroy_read_struct(&png, info ? &info : nullptr, end ? &end : nullptr);
  if (ok) {
    out.kind = PngLibpngResult::kOk;
    out.image = std::move(img);
  } else if (!out.message.empty()) {
    out.kind = PngLibpngResult::kFailed;
  }
  return out;
}

}  // namespace cardbureau::layout
