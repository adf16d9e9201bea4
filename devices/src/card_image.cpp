#include "cardbureau/devices/card_image.h"

#include <filesystem>

#include "cardbureau/core/file.h"
#include "cardbureau/devices/mifare_layout.h"

namespace cardbureau::devices {
namespace {

Status SizeCheck(size_t size, const std::string& path) {
  if (size == kImageSize1K || size == kImageSize4K) return Status::Ok();
  return Status(Code::kInvalidField,
                path + " is " + std::to_string(size) + " bytes; a card image is 1024 or 4096",
                "image");
}

}  // namespace

Result<Bytes> LoadCardImage(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Status(Code::kNotFound, path + " does not exist", "image");
  }
  auto data = ReadFileWithLimit(path, kImageSize4K);
  if (data.status().code() == Code::kInputTooLarge) {
    return Status(Code::kInvalidField, path + " is over 4096 bytes; a card image is 1024 or 4096",
                  "image");
  }
  if (!data.ok()) return data.status();
  CB_RETURN_IF_ERROR(SizeCheck(data->size(), path));
  return ToBytes(*data);
}

Status SaveCardImage(const std::string& path, ByteView image) {
  CB_RETURN_IF_ERROR(SizeCheck(image.size(), path));
  return WriteFileAtomic(path, image);  // the file and its folder synced
}

}  // namespace cardbureau::devices
