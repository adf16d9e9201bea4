// A small PNG writer for card faces, on zlib directly: one fixed row filter
// (Sub for colour, None for masks), zlib level 1 with the run-length
// strategy (card faces are mostly flat colour, so runs are what compresses;
// the adaptive per-row filter search libpng does by default costs more than
// the compression it buys), 1-bit grey for masks. No libpng,
// so no setjmp/longjmp error paths: zlib reports errors by return code.
#include <zlib.h>

#include <array>
#include <cstring>
#include <limits>

#include "cardbureau/layout/card_renderer.h"

namespace cardbureau::layout {
namespace {

constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

void PutBe32(Bytes& out, uint32_t v) {
  const uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                        static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  out.insert(out.end(), b, b + 4);
}

// Appends a whole chunk (length, type, data, CRC over type and data).
void PutChunk(Bytes& out, const char type[4], const uint8_t* data, size_t n) {
  PutBe32(out, static_cast<uint32_t>(n));
  const size_t type_at = out.size();
  out.insert(out.end(), type, type + 4);
  if (n) out.insert(out.end(), data, data + n);
  const uLong crc = crc32(0L, out.data() + type_at, static_cast<uInt>(4 + n));
  PutBe32(out, static_cast<uint32_t>(crc));
}

// Owns a deflate stream; deflateEnd in the destructor whatever happened.
class Deflater {
 public:
  Deflater() = default;
  ~Deflater() {
    if (open_) deflateEnd(&z_);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  bool Init() {
    std::memset(&z_, 0, sizeof(z_));
    open_ = deflateInit2(&z_, 1, Z_DEFLATED, 15, 9, Z_RLE) == Z_OK;
    return open_;
  }
  // Compresses `n` bytes, appending output to `out`; `finish` ends the stream.
  bool Feed(const uint8_t* data, size_t n, bool finish, Bytes& out) {
    z_.next_in = const_cast<Bytef*>(data);  // zlib does not write through next_in
    z_.avail_in = static_cast<uInt>(n);
    std::array<uint8_t, 64 * 1024> buf;
    for (;;) {
      z_.next_out = buf.data();
      z_.avail_out = static_cast<uInt>(buf.size());
      const int rc = deflate(&z_, finish ? Z_FINISH : Z_NO_FLUSH);
      if (rc == Z_STREAM_ERROR) return false;
      out.insert(out.end(), buf.data(), buf.data() + (buf.size() - z_.avail_out));
      if (finish ? rc == Z_STREAM_END : (z_.avail_in == 0 && z_.avail_out != 0)) return true;
      if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
    }
  }

 private:
  z_stream z_{};
  bool open_ = false;
};

}  // namespace

Status EncodePngTo(const cv::Mat& image, Bytes& out) {
  const bool mask = image.type() == CV_8UC1;
  if ((!mask && image.type() != CV_8UC3) || image.empty() || image.dims != 2) {
    return Status(Code::kInternal, "EncodePng needs a non-empty CV_8UC3 or CV_8UC1 image");
  }
  const size_t w = static_cast<size_t>(image.cols);
  const size_t row_bytes = mask ? (w + 7) / 8 : w * 3;
  if (row_bytes + 1 > std::numeric_limits<uInt>::max() / 2) {
    return Status(Code::kInternal, "image too wide for PNG encoding");
  }
  out.assign(kSignature, kSignature + 8);
  uint8_t ihdr[13];
  const uint32_t width = static_cast<uint32_t>(image.cols), height = static_cast<uint32_t>(image.rows);
  for (int i = 0; i < 4; ++i) {
    ihdr[i] = static_cast<uint8_t>(width >> (24 - 8 * i));
    ihdr[4 + i] = static_cast<uint8_t>(height >> (24 - 8 * i));
  }
  ihdr[8] = mask ? 1 : 8;   // bit depth
  ihdr[9] = mask ? 0 : 2;   // grey / truecolour
  ihdr[10] = ihdr[11] = ihdr[12] = 0;  // deflate, adaptive filtering method, no interlace
  PutChunk(out, "IHDR", ihdr, sizeof(ihdr));

  // IDAT: placeholder length and type, the zlib stream, then the CRC.
  const size_t idat_at = out.size();
  PutBe32(out, 0);
  out.insert(out.end(), {'I', 'D', 'A', 'T'});
  Deflater z;
  if (!z.Init()) return Status(Code::kInternal, "deflateInit2 failed");
  std::vector<uint8_t> row(row_bytes + 1);
  // Masks: filter None (runs of 0x00/0xFF bytes already). Colour: filter Sub
  // (each byte minus the same channel of the pixel to its left), which turns
  // a flat run of any colour into zeros that the run-length strategy codes
  // cheaply; unfiltered RGB only repeats at distance 3.
  row[0] = mask ? 0 : 1;
  for (int y = 0; y < image.rows; ++y) {
    const uint8_t* src = image.ptr<uint8_t>(y);
    uint8_t* dst = row.data() + 1;
    if (mask) {
      std::memset(dst, 0, row_bytes);
      for (size_t x = 0; x < w; ++x) {
        if (src[x]) dst[x >> 3] = static_cast<uint8_t>(dst[x >> 3] | (0x80u >> (x & 7)));
      }
    } else {
      uint8_t pr = 0, pg = 0, pb = 0;  // BGR in, RGB out, Sub-filtered
      for (size_t x = 0; x < w; ++x, src += 3, dst += 3) {
        const uint8_t b = src[0], g = src[1], r = src[2];
        dst[0] = static_cast<uint8_t>(r - pr);
        dst[1] = static_cast<uint8_t>(g - pg);
        dst[2] = static_cast<uint8_t>(b - pb);
        pr = r;
        pg = g;
        pb = b;
      }
    }
    if (!z.Feed(row.data(), row.size(), y + 1 == image.rows, out)) {
      return Status(Code::kInternal, "deflate failed");
    }
  }
  const size_t idat_len = out.size() - idat_at - 8;
  if (idat_len > 0x7FFFFFFFu) return Status(Code::kInternal, "PNG data over 2 GiB");
  for (int i = 0; i < 4; ++i) out[idat_at + static_cast<size_t>(i)] = static_cast<uint8_t>(idat_len >> (24 - 8 * i));
  // CRC over type and data, in pieces that fit zlib's uInt.
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t at = idat_at + 4, end = out.size(); at < end;) {
    const size_t n = std::min<size_t>(end - at, 1u << 30);
    crc = crc32(crc, out.data() + at, static_cast<uInt>(n));
    at += n;
  }
  PutBe32(out, static_cast<uint32_t>(crc));
  PutChunk(out, "IEND", nullptr, 0);
  return Status::Ok();
}

Result<Bytes> EncodePng(const cv::Mat& image) {
  Bytes out;
  CB_RETURN_IF_ERROR(EncodePngTo(image, out));
  return out;
}

}  // namespace cardbureau::layout
