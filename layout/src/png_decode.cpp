#include "png_decode.h"

#include <libdeflate.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace cardbureau::layout {
namespace {

constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

struct DecompressorDeleter {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

libdeflate_decompressor* Decompressor() {
  thread_local std::unique_ptr<libdeflate_decompressor, DecompressorDeleter> d(
      libdeflate_alloc_decompressor());
  return d.get();
}

// The Paeth predictor (ties: a, then b), without branches.
inline uint8_t Paeth(int a, int b, int c) {
  const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
  const int bc = pb <= pc ? b : c;
  return static_cast<uint8_t>(pa <= pb && pa <= pc ? a : bc);
}

#ifdef __SSE2__
// Paeth for 3- and 4-byte pixels, a pixel per step in 16-bit lanes (the
// per-pixel dependency makes wider steps useless).
template <int kBpp>
void PaethPixels(uint8_t* cur, const uint8_t* prev, size_t n) {
  const __m128i zero = _mm_setzero_si128();
  __m128i a = zero, c = zero;
  size_t x = 0;
  // Whole 4-byte loads (a 3-byte pixel reads the next pixel's first byte,
  // unused) except for the row's last pixel: a partial copy into a stack
  // word would stall on store forwarding at every pixel.
  auto load = [n](const uint8_t* row, size_t at) {
    int32_t v = 0;
    if (at + 4 <= n) {
      std::memcpy(&v, row + at, 4);
    } else {
      std::memcpy(&v, row + at, kBpp);
    }
    return _mm_cvtsi32_si128(v);
  };
  for (; x + kBpp <= n; x += kBpp) {
    const __m128i b = _mm_unpacklo_epi8(load(prev, x), zero);
    const __m128i raw = _mm_unpacklo_epi8(load(cur, x), zero);
    __m128i pa = _mm_sub_epi16(b, c);    // p - a
    __m128i pb = _mm_sub_epi16(a, c);    // p - b
    __m128i pc = _mm_add_epi16(pa, pb);  // p - c
    pa = _mm_max_epi16(pa, _mm_sub_epi16(zero, pa));
    pb = _mm_max_epi16(pb, _mm_sub_epi16(zero, pb));
    pc = _mm_max_epi16(pc, _mm_sub_epi16(zero, pc));
    const __m128i smallest = _mm_min_epi16(pc, _mm_min_epi16(pa, pb));
    const __m128i is_a = _mm_cmpeq_epi16(smallest, pa);
    const __m128i is_b = _mm_cmpeq_epi16(smallest, pb);
    const __m128i bc = _mm_or_si128(_mm_and_si128(is_b, b), _mm_andnot_si128(is_b, c));
    const __m128i nearest = _mm_or_si128(_mm_and_si128(is_a, a), _mm_andnot_si128(is_a, bc));
    const __m128i d = _mm_and_si128(_mm_add_epi16(raw, nearest), _mm_set1_epi16(0xFF));
    const int32_t out = _mm_cvtsi128_si32(_mm_packus_epi16(d, d));
    std::memcpy(cur + x, &out, kBpp);
    a = d;
    c = b;
  }
}
#endif

// Reverses the PNG filter of one row in place (RFC 2083 6); `prev` is the
// previous row already unfiltered (zeros for the first). False for a filter
// type other than 0..4 (libpng refuses those too).
template <int kBpp>
bool Unfilter(uint8_t filter, uint8_t* cur, const uint8_t* prev, size_t n) {
  switch (filter) {
    case 0:
      return true;
    case 1:
      for (size_t x = kBpp; x < n; ++x) cur[x] = static_cast<uint8_t>(cur[x] + cur[x - kBpp]);
      return true;
    case 2:
      for (size_t x = 0; x < n; ++x) cur[x] = static_cast<uint8_t>(cur[x] + prev[x]);
      return true;
    case 3:
      for (size_t x = 0; x < kBpp && x < n; ++x)
        cur[x] = static_cast<uint8_t>(cur[x] + (prev[x] >> 1));
      for (size_t x = kBpp; x < n; ++x) {
        cur[x] = static_cast<uint8_t>(cur[x] + ((cur[x - kBpp] + prev[x]) >> 1));
      }
      return true;
    case 4:
#ifdef __SSE2__
      if constexpr (kBpp >= 3) {
        PaethPixels<kBpp>(cur, prev, n);
        return true;
      }
#endif
      for (size_t x = 0; x < kBpp && x < n; ++x) cur[x] = static_cast<uint8_t>(cur[x] + prev[x]);
      for (size_t x = kBpp; x < n; ++x) {
        cur[x] = static_cast<uint8_t>(cur[x] + Paeth(cur[x - kBpp], prev[x], prev[x - kBpp]));
      }
      return true;
    default:
      return false;
  }
}

template <int kBpp>
bool UnfilterAll(uint8_t* raw, size_t rows, size_t row_bytes, cv::Mat& img) {
  const std::vector<uint8_t> zeros(row_bytes, 0);
  const uint8_t* prev = zeros.data();
  for (size_t y = 0; y < rows; ++y) {
    uint8_t* line = raw + y * (row_bytes + 1);
    uint8_t* cur = line + 1;
    if (!Unfilter<kBpp>(line[0], cur, prev, row_bytes)) return false;
    uint8_t* out = img.ptr<uint8_t>(static_cast<int>(y));
    const size_t w = row_bytes / kBpp;
    for (size_t x = 0; x < w; ++x, out += 3) {
      const uint8_t* px = cur + x * kBpp;
      if constexpr (kBpp <= 2) {  // grey (+ alpha, dropped)
        out[0] = out[1] = out[2] = px[0];
      } else {  // RGB (+ alpha, dropped) to BGR
        out[0] = px[2];
        out[1] = px[1];
        out[2] = px[0];
      }
    }
    prev = cur;
  }
  return true;
}

}  // namespace

PngDecodeResult DecodePngBgr(ByteView bytes) {
  PngDecodeResult none;
  const uint8_t* b = bytes.data();
  const size_t size = bytes.size();
  if (size < 8 || std::memcmp(b, kSignature, 8) != 0) return none;
  uint32_t width = 0, height = 0;
  int bpp = 0;
  std::vector<std::pair<const uint8_t*, size_t>> idat;
  bool ihdr = false, idat_ended = false, iend = false;
  for (size_t i = 8; i + 12 <= size;) {
    const uint32_t len = Be32(b + i);
    if (len > 0x7FFFFFFFu || size - i - 12 < len) return none;
    const uint8_t* type = b + i + 4;
    const uint8_t* data = type + 4;
    const bool critical = (type[0] & 0x20) == 0;
    auto is = [&](const char* t) { return std::memcmp(type, t, 4) == 0; };
    // libpng checks the CRC of every chunk it uses; a bad one in a critical
    // chunk is an error (left to OpenCV to report), in an ancillary one the
    // chunk is dropped (we use none).
    if (critical && libdeflate_crc32(0, type, len + 4) != Be32(data + len)) return none;
    if (!ihdr) {
      if (!is("IHDR") || len != 13) return none;
      width = Be32(data);
      height = Be32(data + 4);
      const uint8_t depth = data[8], colour = data[9];
      if (depth != 8 || data[10] != 0 || data[11] != 0 || data[12] != 0) return none;
      bpp = colour == 0 ? 1 : colour == 4 ? 2 : colour == 2 ? 3 : colour == 6 ? 4 : 0;
      if (bpp == 0 || width == 0 || height == 0 || width > 1u << 16 || height > 1u << 16)
        return none;
      ihdr = true;
    } else if (is("IDAT")) {
      if (idat_ended) return none;
      idat.emplace_back(data, len);
    } else {
      if (!idat.empty()) idat_ended = true;
      if (is("IEND")) {
        iend = true;
        break;
      }
      // PLTE, unknown critical chunks, transparency, EXIF orientation:
      // OpenCV's business.
      if (critical || is("tRNS") || is("eXIf")) return none;
    }
    i += 12 + static_cast<size_t>(len);
  }
  if (!iend || idat.empty()) return none;

  const size_t row_bytes = size_t{width} * static_cast<size_t>(bpp);
  const size_t raw_size = (row_bytes + 1) * height;
  std::vector<uint8_t> joined;
  const uint8_t* z = idat[0].first;
  size_t zn = idat[0].second;
  if (idat.size() > 1) {
    for (const auto& [p, n] : idat) joined.insert(joined.end(), p, p + n);
    z = joined.data();
    zn = joined.size();
  }
  // A photo-sized buffer is kept per thread (no page faults per photo);
  // a rare huge one is not.
  thread_local std::vector<uint8_t> kept;
  std::vector<uint8_t> once;
  std::vector<uint8_t>& raw = raw_size <= (size_t{4} << 20) ? kept : once;
  raw.resize(raw_size);
  size_t got = 0;
  if (libdeflate_zlib_decompress(Decompressor(), z, zn, raw.data(), raw_size, &got) !=
          LIBDEFLATE_SUCCESS ||
      got != raw_size) {
    return none;
  }
  cv::Mat img(static_cast<int>(height), static_cast<int>(width), CV_8UC3);
  bool ok = false;
  switch (bpp) {
    case 1:
      ok = UnfilterAll<1>(raw.data(), height, row_bytes, img);
      break;
    case 2:
      ok = UnfilterAll<2>(raw.data(), height, row_bytes, img);
      break;
    case 3:
      ok = UnfilterAll<3>(raw.data(), height, row_bytes, img);
      break;
    default:
      ok = UnfilterAll<4>(raw.data(), height, row_bytes, img);
      break;
  }
  if (!ok) return none;
  PngDecodeResult out;
  out.ok = true;
  out.image = std::move(img);
  return out;
}

}  // namespace cardbureau::layout
