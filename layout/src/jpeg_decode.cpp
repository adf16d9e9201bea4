#include "jpeg_decode.h"

#include <jpeglib.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <opencv2/core.hpp>

namespace cardbureau::layout {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

extern "C" void OnJpegError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}
extern "C" void OnJpegMessage(j_common_ptr, int) {}  // warnings: not printed

uint16_t Get16(const uint8_t* p, bool le) {
  return le ? static_cast<uint16_t>(p[0] | (p[1] << 8)) : static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t Get32(const uint8_t* p, bool le) {
  return le ? (uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) |
               (uint32_t{p[3]} << 24))
            : ((uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]);
}

// State that must survive a longjmp: it lives on the heap, reached only
// through a pointer made before setjmp.
struct Decoder {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  bool created = false;
  cv::Mat img;
  ~Decoder() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

}  // namespace

int ExifOrientation(const uint8_t* app1, size_t size) {
  // As OpenCV: skip the 6 bytes of "Exif\0\0", then a TIFF header.
  if (size <= 6) return 1;
  const uint8_t* t = app1 + 6;
  const size_t n = size - 6;
  if (n < 8) return 1;
  bool le;
  if (t[0] == 'I' && t[1] == 'I') {
    le = true;
  } else if (t[0] == 'M' && t[1] == 'M') {
    le = false;
  } else {
    return 1;
  }
  if (Get16(t + 2, le) != 0x002A) return 1;
  const uint32_t ifd = Get32(t + 4, le);
  if (ifd > n || n - ifd < 2) return 1;
  const uint16_t entries = Get16(t + ifd, le);
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t e = ifd + 2 + size_t{i} * 12;
    if (e + 12 > n) return 1;
    if (Get16(t + e, le) == 0x0112) {  // Orientation, SHORT, in the value field
      const uint16_t v = Get16(t + e + 8, le);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

void ApplyOrientation(int orientation, cv::Mat& img) {
  // OpenCV's ExifTransform (imgcodecs/src/loadsave.cpp).
  switch (orientation) {
    case 2:
      cv::flip(img, img, 1);
      break;
    case 3:
      cv::flip(img, img, -1);
      break;
    case 4:
      cv::flip(img, img, 0);
      break;
    case 5:
      cv::transpose(img, img);
      break;
    case 6:
      cv::transpose(img, img);
      cv::flip(img, img, 1);
      break;
    case 7:
      cv::transpose(img, img);
      cv::flip(img, img, -1);
      break;
    case 8:
      cv::transpose(img, img);
      cv::flip(img, img, 0);
      break;
    default:
      break;
  }
}

JpegDecodeResult DecodeJpegBgr(ByteView bytes, int reduction) {
  JpegDecodeResult out;
  auto d = std::make_unique<Decoder>();
  Decoder* dp = d.get();
  dp->cinfo.err = jpeg_std_error(&dp->err.pub);
  dp->err.pub.error_exit = OnJpegError;
  dp->err.pub.emit_message = OnJpegMessage;
  dp->err.message[0] = '\0';
  if (setjmp(dp->err.jump)) {
    out.status = JpegDecodeResult::kFailed;
    out.message = dp->err.message;
    return out;  // ~Decoder destroys the decompressor
  }
  jpeg_create_decompress(&dp->cinfo);
  dp->created = true;
  jpeg_mem_src(&dp->cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_save_markers(&dp->cinfo, JPEG_APP0 + 1, 0xffff);
  if (jpeg_read_header(&dp->cinfo, TRUE) != JPEG_HEADER_OK) {
    out.status = JpegDecodeResult::kFailed;
    out.message = "no JPEG image";
    return out;
  }
  if (dp->cinfo.num_components == 4) {
    out.status = JpegDecodeResult::kNotHandled;  // CMYK/YCCK: left to OpenCV
    return out;
  }
  // OpenCV's settings (grfmt_jpeg.cpp): defaults, scale 1/reduction; RGB
  // out there, swapped per row to BGR; libjpeg-turbo writes BGR directly.
  dp->cinfo.scale_num = 1;
  dp->cinfo.scale_denom = static_cast<unsigned>(reduction);
  dp->cinfo.out_color_space = JCS_EXT_BGR;
  dp->cinfo.out_color_components = 3;
  // The first APP1 marker, as OpenCV.
  int orientation = 1;
  for (jpeg_saved_marker_ptr m = dp->cinfo.marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 1) {
      orientation = ExifOrientation(m->data, m->data_length);
      break;
    }
  }
  jpeg_start_decompress(&dp->cinfo);
  dp->img.create(static_cast<int>(dp->cinfo.output_height),
                 static_cast<int>(dp->cinfo.output_width), CV_8UC3);
  while (dp->cinfo.output_scanline < dp->cinfo.output_height) {
    JSAMPROW row = dp->img.ptr<uint8_t>(static_cast<int>(dp->cinfo.output_scanline));
    jpeg_read_scanlines(&dp->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&dp->cinfo);
  ApplyOrientation(orientation, dp->img);
  out.status = JpegDecodeResult::kOk;
  out.image = std::move(dp->img);
  return out;
}

}  // namespace cardbureau::layout
