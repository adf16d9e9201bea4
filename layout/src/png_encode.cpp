// A small PNG writer for card faces. Card faces are mostly flat colour:
// with the Sub row filter a flat run of any colour becomes a run of zero
// bytes, and a run-length-only DEFLATE encoder with the fixed Huffman code
// (RFC 1951 3.2.6: a literal, then matches at distance 1) compresses those
// runs to almost nothing at ~1 ns a byte, where zlib or libdeflate at
// level 1 spend ~4 ns a byte searching for matches a face does not have
// (photo pixels stay literals either way). The price is a larger file than
// a searching compressor makes (about 1.5x here). Masks are 1-bit grey
// (filter None). libdeflate computes the Adler-32 and CRC-32 checksums
// (SIMD; zlib's Adler-32 was a sixth of the encoding time).
#include <libdeflate.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <utility>

#include "cardbureau/layout/card_renderer.h"

namespace cardbureau::layout {
namespace {

constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

void PutBe32(Bytes& out, uint32_t v) {
  const uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                        static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  out.insert(out.end(), b, b + 4);
}

// Appends a whole chunk: length, type, data, CRC over type and data.
void PutChunk(Bytes& out, const char type[4], const uint8_t* data, size_t n) {
  PutBe32(out, static_cast<uint32_t>(n));
  const size_t type_at = out.size();
  out.insert(out.end(), type, type + 4);
  if (n) out.insert(out.end(), data, data + n);
  PutBe32(out, libdeflate_crc32(0, out.data() + type_at, 4 + n));
}

// Bit codes of the fixed-Huffman DEFLATE alphabet, bit-reversed for the
// LSB-first bit stream: each literal, and each match length 3..258 with its
// extra bits and the 5-bit distance code 0 (distance 1) appended.
struct FixedCodes {
  std::array<uint32_t, 256> lit_bits{};
  std::array<uint8_t, 256> lit_len{};
  std::array<uint32_t, 259> match_bits{};
  std::array<uint8_t, 259> match_len{};
  uint32_t end_bits = 0;
  uint8_t end_len = 7;

  static uint32_t Reverse(uint32_t code, int len) {
    uint32_t r = 0;
    for (int i = 0; i < len; ++i) r |= ((code >> i) & 1u) << (len - 1 - i);
    return r;
  }
  // Code and length of symbol 0..287 in the fixed literal/length code.
  static std::pair<uint32_t, int> Symbol(int sym) {
    if (sym < 144) return {0x30u + static_cast<uint32_t>(sym), 8};
    if (sym < 256) return {0x190u + static_cast<uint32_t>(sym - 144), 9};
    if (sym < 280) return {static_cast<uint32_t>(sym - 256), 7};
    return {0xC0u + static_cast<uint32_t>(sym - 280), 8};
  }
  FixedCodes() {
    for (int v = 0; v < 256; ++v) {
      auto [code, len] = Symbol(v);
      lit_bits[static_cast<size_t>(v)] = Reverse(code, len);
      lit_len[static_cast<size_t>(v)] = static_cast<uint8_t>(len);
    }
    static constexpr uint16_t kBase[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                           15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                           67, 83, 99, 115, 131, 163, 195, 227, 258};
    static constexpr uint8_t kExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                           2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    for (int l = 3; l <= 258; ++l) {
      int k = 28;
      while (kBase[k] > l) --k;
      auto [code, len] = Symbol(257 + k);
      const uint32_t extra = static_cast<uint32_t>(l - kBase[k]);
      // length code, its extra bits (LSB first, not reversed), distance code 0 (5 zero bits)
      match_bits[static_cast<size_t>(l)] = Reverse(code, len) | (extra << len);
      match_len[static_cast<size_t>(l)] = static_cast<uint8_t>(len + kExtra[k] + 5);
    }
    auto [code, len] = Symbol(256);
    end_bits = Reverse(code, len);
    end_len = static_cast<uint8_t>(len);
  }
};

// LSB-first bit writer into a buffer sized for the worst case by the caller.
class BitWriter {
 public:
  explicit BitWriter(uint8_t* out) : out_(out) {}
  void Put(uint32_t bits, int n) {  // n <= 32
    acc_ |= static_cast<uint64_t>(bits) << nbits_;
    nbits_ += n;
    if (nbits_ >= 32) {
      const uint32_t word = static_cast<uint32_t>(acc_);
      const uint8_t le[4] = {static_cast<uint8_t>(word), static_cast<uint8_t>(word >> 8),
                             static_cast<uint8_t>(word >> 16), static_cast<uint8_t>(word >> 24)};
      std::memcpy(out_, le, 4);  // one store
      out_ += 4;
      acc_ >>= 32;
      nbits_ -= 32;
    }
  }
  // Pads to a byte boundary; returns the end of the written bytes.
  uint8_t* Finish() {
    while (nbits_ > 0) {
      *out_++ = static_cast<uint8_t>(acc_);
      acc_ >>= 8;
      nbits_ -= 8;
    }
    return out_;
  }

 private:
  uint8_t* out_;
  uint64_t acc_ = 0;
  int nbits_ = 0;
};

// A zlib stream of `in` (one fixed-Huffman block of literals and
// distance-1 matches) into `out`, which is resized to fit.
void RunLengthZlib(const Bytes& in, Bytes& out) {
  static const FixedCodes codes;
  // Worst case: every byte a 9-bit literal, plus header, block end, Adler-32.
  out.resize(2 + in.size() * 9 / 8 + 16);
  out[0] = 0x78;  // deflate, 32 kB window
  out[1] = 0x01;  // fastest; (0x78 * 256 + 0x01) % 31 == 0
  BitWriter bits(out.data() + 2);
  bits.Put(1, 1);  // BFINAL
  bits.Put(1, 2);  // BTYPE 01: fixed Huffman
  const uint8_t* p = in.data();
  const uint8_t* const end = p + in.size();
  while (p < end) {
    const uint8_t b = *p++;
    bits.Put(codes.lit_bits[b], codes.lit_len[b]);
    // The run of b after it, 8 bytes at a time (the first differing byte is
    // the lowest one on a little-endian machine).
    static_assert(std::endian::native == std::endian::little);
    const uint8_t* q = p;
    const uint64_t pattern = 0x0101010101010101ull * b;
    while (end - q >= 8) {
      uint64_t word;
      std::memcpy(&word, q, 8);
      const uint64_t diff = word ^ pattern;
      if (diff) {
        q += std::countr_zero(diff) / 8;  // little-endian: the first differing byte
        goto found;
      }
      q += 8;
    }
    while (q < end && *q == b) ++q;
  found:
    size_t run = static_cast<size_t>(q - p);
    while (run >= 3) {
      const size_t len = run < 258 ? run : 258;
      bits.Put(codes.match_bits[len], codes.match_len[len]);
      run -= len;
    }
    for (; run > 0; --run) bits.Put(codes.lit_bits[b], codes.lit_len[b]);
    p = q;
  }
  bits.Put(codes.end_bits, codes.end_len);
  uint8_t* tail = bits.Finish();
  const uint32_t adler = libdeflate_adler32(1, in.data(), in.size());
  for (int i = 0; i < 4; ++i) *tail++ = static_cast<uint8_t>(adler >> (24 - 8 * i));
  out.resize(static_cast<size_t>(tail - out.data()));
}

// Per-thread buffers reused across images (a face each), so that encoding
// a card does not pay fresh page faults.
struct Scratch {
  Bytes filtered;
  Bytes compressed;
};

}  // namespace

Status EncodePngTo(const cv::Mat& image, Bytes& out) {
  const bool mask = image.type() == CV_8UC1;
  if ((!mask && image.type() != CV_8UC3) || image.empty() || image.dims != 2) {
    return Status(Code::kInternal, "EncodePng needs a non-empty CV_8UC3 or CV_8UC1 image");
  }
  const size_t w = static_cast<size_t>(image.cols), h = static_cast<size_t>(image.rows);
  const size_t row_bytes = mask ? (w + 7) / 8 : w * 3;
  if ((row_bytes + 1) * h > 0x40000000u)
    return Status(Code::kInternal, "image too large for EncodePng");

  thread_local Scratch scratch;
  // Filtered scanlines: a filter-type byte, then the row. Masks: filter
  // None (runs of 0x00/0xFF bytes already). Colour: filter Sub (each byte
  // minus the same channel of the pixel to its left), which turns a flat
  // run of any colour into zeros; unfiltered RGB only repeats at distance 3.
  Bytes& raw = scratch.filtered;
  raw.resize((row_bytes + 1) * h);
  for (size_t y = 0; y < h; ++y) {
    const uint8_t* src = image.ptr<uint8_t>(static_cast<int>(y));
    uint8_t* dst = raw.data() + y * (row_bytes + 1);
    *dst++ = mask ? 0 : 1;
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
  }
  Bytes& z = scratch.compressed;
  RunLengthZlib(raw, z);
  const size_t zn = z.size();

  uint8_t ihdr[13];
  const uint32_t width = static_cast<uint32_t>(w), height = static_cast<uint32_t>(h);
  for (int i = 0; i < 4; ++i) {
    ihdr[i] = static_cast<uint8_t>(width >> (24 - 8 * i));
    ihdr[4 + i] = static_cast<uint8_t>(height >> (24 - 8 * i));
  }
  ihdr[8] = mask ? 1 : 8;              // bit depth
  ihdr[9] = mask ? 0 : 2;              // grey / truecolour
  ihdr[10] = ihdr[11] = ihdr[12] = 0;  // deflate, standard filter set, no interlace
  out.assign(kSignature, kSignature + 8);
  out.reserve(8 + 25 + 12 + zn + 12);
  PutChunk(out, "IHDR", ihdr, sizeof(ihdr));
  PutChunk(out, "IDAT", z.data(), zn);
  PutChunk(out, "IEND", nullptr, 0);
  return Status::Ok();
}

Result<Bytes> EncodePng(const cv::Mat& image) {
  Bytes out;
  CB_RETURN_IF_ERROR(EncodePngTo(image, out));
  return out;
}

}  // namespace cardbureau::layout
