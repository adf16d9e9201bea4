// Internal to layout (card_renderer.cpp's WriteCardOutputs and
// WriteOutputFile): how a card's large output files reach the disk.
//
// DURABILITY RULE (the one place it is stated; docs/config.md `direct_io`
// and layout/README.md point here)
//
//   fsync'ed before the card is reported:
//     <cards_dir>/production.json, the card's production record (UID, card
//     id, station, time). The line writes it with core's WriteFileAtomic
//     (temp file, fsync, rename, fsync of the folder: core/file.h lists
//     every durable write) after the printer took the card and
//     before the job advances to `encoded`, so before any state change or
//     report about the card can leave the process. Job states themselves
//     live in SQLite (WAL, synchronous=FULL); reports to the centre are
//     fsync'ed before they are acked (server/).
//
//   NOT fsync'ed (written after the card is verified, never waited on):
//     the card outputs of WriteCardOutputs: front/back.png, front/back.rgb,
//     front/back-k.png, front/back-k.bin. The printer took the faces from
//     memory; these files are a copy for reprints and QA queries and can be
//     rendered again from the stored job and production.json. With
//     `direct_io` the large ones go to the device with O_DIRECT (no dirty
//     page cache), but neither their data on a volatile device cache nor
//     their size and directory entry are flushed: after a power loss a card
//     folder may lack outputs or hold a removed/short one; never a wrong
//     production record. Nothing here calls fsync, and nothing may start
//     relying on these files surviving a crash without changing this rule.
//
// The writer: DirectWriter writes whole files from aligned memory with
// O_DIRECT, submitted through Linux native AIO (libaio: io_setup /
// io_submit / io_getevents), so the caller encodes the next output while
// the device writes. Measured against synchronous O_DIRECT and buffered
// writes in docs/benchmarks.md ("Card outputs: AIO, O_DIRECT, buffered").
#pragma once

#include <libaio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "cardbureau/core/status.h"
#include "cardbureau/core/unique_fd.h"

namespace cardbureau::layout::output {

// O_DIRECT wants buffer, offset and length aligned to the logical block
// size (512 B on most disks); 4 kB covers 4Kn disks too.
inline constexpr size_t kDirectIoAlign = 4096;
// Smaller files are written buffered: a synchronous device write per file
// would cost more than the page-cache copy saves.
inline constexpr size_t kDirectIoMin = 128 * 1024;

// `path` created or truncated and the n bytes written buffered (one
// write(2), continued only after a short write). Not fsync'ed. IO_ERROR.
Status WriteBytes(const std::string& path, const uint8_t* data, size_t n);

// A growable buffer aligned for O_DIRECT (contents not kept on growth).
class AlignedBuffer {
 public:
  uint8_t* Reserve(size_t n);
  uint8_t* Get() const { return buf_.get(); }

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> buf_;
  size_t cap_ = 0;
};

// Writes whole files with O_DIRECT: Submit() sizes the file (fallocate:
// ext4 makes a direct write that extends a file wait inside io_submit),
// hands its whole 4 kB blocks to the device by AIO and returns at once;
// Finish() waits for them all, writes each file's partial last block
// buffered, and closes. Without an AIO context (Mode::kSync, or io_setup
// refused) or when a submit is refused, the direct write is done
// synchronously inside Submit(); a filesystem or device that refuses
// O_DIRECT (EINVAL) gets the whole file buffered. A file whose write failed
// is removed (it was sized first: zeros must not pass for a panel buffer).
// The same bytes in every case. Not thread-safe: one per thread, its slots'
// aligned buffers reused card after card.
class DirectWriter {
 public:
  static constexpr size_t kSlots = 4;
  enum class Mode { kAio, kSync };

  explicit DirectWriter(Mode mode = Mode::kAio);
  ~DirectWriter();
  DirectWriter(const DirectWriter&) = delete;
  DirectWriter& operator=(const DirectWriter&) = delete;

  // Whether submits go by AIO (false: Mode::kSync or no AIO context).
  bool async() const { return ctx_ != nullptr; }

  // Aligned memory of `slot` (< kSlots) for at least n bytes; the caller
  // fills it, then Submit()s it. Not to be touched again before Finish().
  uint8_t* Buffer(size_t slot, size_t n) { return slots_[slot].buf.Reserve(n); }

  // Starts writing Buffer(slot)[0, n) to `path` (created or truncated);
  // with `async` false (or no AIO context) the direct write is done before
  // Submit returns. IO_ERROR (the file is then absent or removed).
  Status Submit(size_t slot, const std::string& path, size_t n, bool async = true);

  // Waits for every submitted file and completes it. The first error is
  // returned; every file is waited for regardless.
  Status Finish();

  // Waits for anything still in flight (an error path left early), closes
  // and removes those files, so that the buffers can be reused.
  void Drain();

 private:
  struct Slot {
    AlignedBuffer buf;
    std::string path;
    UniqueFd fd{-1};
    size_t n = 0, head = 0;
    bool in_flight = false;
    struct iocb cb {};
  };
  Status Complete(Slot& sl, int64_t res);
  Status CompleteOrError(Slot& sl, int64_t res);

  io_context_t ctx_ = nullptr;
  std::array<Slot, kSlots> slots_;
  size_t in_flight_ = 0;
};

}  // namespace cardbureau::layout::output
