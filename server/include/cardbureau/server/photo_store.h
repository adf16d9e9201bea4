// Content-addressed, durable photo files: DATA/photos/<sha256>.
//
// Write() puts the bytes in a temp file, fsyncs it and renames it into place;
// SyncDirectory() then fsyncs the directory so the rename survives a power
// cut. A job may be `accepted` only after both (intake batches many writes
// behind one SyncDirectory). Thread-safe (no shared mutable state).
// Errors: IO_ERROR naming the operation (never the photo bytes).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/file.h"
#include "cardbureau/core/status.h"

namespace cardbureau::server {

class PhotoStore {
 public:
  // Creates `dir` if needed. IO_ERROR when that fails.
  static Result<PhotoStore> Open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  // `sha256_hex` must be 64 lower-case hex chars (checked: INVALID_FIELD).
  std::filesystem::path PathFor(const std::string& sha256_hex) const;
  // Durably stores `bytes` under their hash (the caller has verified it).
  // A file already present is kept (same content by construction).
  Status Write(const std::string& sha256_hex, ByteView bytes) const;
  Status SyncDirectory() const { return FsyncDirectory(dir_); }
  // Durably stores many photos with two syncs in total: every temp file is
  // written, then one syncfs() flushes them all, then each is renamed into
  // place (files already present are kept), then the directory is fsynced.
  // Each pair is (sha256_hex, bytes) and must already be verified.
  Status WriteBatch(const std::vector<std::pair<std::string, ByteView>>& photos) const;
  Result<Bytes> Read(const std::string& sha256_hex) const;
  // Removes the file if present (missing is OK).
  Status Remove(const std::string& sha256_hex) const;

 private:
  explicit PhotoStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
};

}  // namespace cardbureau::server
