// Whole-file reads with a size limit, secret-file reads and atomic durable
// writes: the one implementation of each for the whole tree (with
// core/unique_fd.h, the one descriptor owner).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"

namespace cardbureau {

// The file's bytes, at most `limit` of them. Reads until end of file, so a
// FIFO or a file that grows while read is still bounded; a regular file
// over the limit is refused before it is read.
// Errors: IO_ERROR when it cannot be opened or read (missing, a directory,
// permissions: the message names the path and the reason); INPUT_TOO_LARGE
// as soon as more than `limit` bytes are there.
Result<std::string> ReadFileWithLimit(const std::filesystem::path& path, size_t limit);

// Reads a secret file (a key, a keystore, a token table, a PIN): a regular
// file, not a symbolic link, of at most `limit` bytes, that neither group
// nor others can read, write or execute. `what` names it in messages
// ("keystore", "QR signing key", "CURVE secret key", "token file", "PIN
// file"). The one rule for every secret the bureau loads.
// Errors: KEY_FILE_INSECURE (mode allows group/others, naming the chmod),
// IO_ERROR (missing, not a regular file, unreadable), INPUT_TOO_LARGE.
// The caller wipes the returned bytes with SecureZero when done with them;
// on every error path the partial bytes are wiped here.
Result<std::string> ReadSecretFile(const std::string& path, size_t limit, std::string_view what);

// fsync(2) of a directory, so the renames and unlinks in it survive a power
// cut. IO_ERROR naming the directory.
Status FsyncDirectory(const std::filesystem::path& dir);

struct AtomicWriteOptions {
  unsigned mode = 0600;         // of the new file (before the umask)
  bool create_parents = false;  // create the missing parent folders first
  // fsync the parent directory after the rename. Only a caller that syncs
  // the directory itself (once for a batch) or whose file may be lost in a
  // power cut turns it off; see WriteFileAtomic.
  bool sync_directory = true;
};

// Replaces `path` atomically and durably: writes `data` to a temporary file
// beside it (unique per process and call, so concurrent writers never share
// one), fsyncs the file, renames it over `path`, then fsyncs the directory
// so the rename itself survives a power cut. Readers see the old file or
// the new one, never a torn one; on any error the temporary file is removed
// and `path` is untouched. IO_ERROR naming the step and the path.
//
// Durability (who needs what; the rule for a card's files, including the
// render outputs that are never fsync'ed, is in layout/src/direct_writer.h):
// - must survive a power cut before a report leaves, file AND directory
//   synced (the default): the card's production record
//   (cards/<job>/production.json, written by the line before the job is
//   reported), the batch reconciliation record, the audit trail's head
//   file, saved card images (card_image.h).
// - file synced, directory synced once per batch by the caller
//   (sync_directory=false): PhotoStore::Write/WriteBatch, whose intake
//   calls PhotoStore::SyncDirectory before a job is accepted.
// - nothing rides on them (sync_directory=false): the simulated printer's
//   outputs and the hot-folder spooler's request files (a lost request
//   times out and the card is retried).
Status WriteFileAtomic(const std::filesystem::path& path, ByteView data,
                       const AtomicWriteOptions& options = {});

}  // namespace cardbureau
