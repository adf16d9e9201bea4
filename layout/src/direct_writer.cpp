#include "direct_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace cardbureau::layout::output {
namespace {

Status IoError(const std::string& what, const std::string& path, int err) {
  return Status(Code::kIoError, "cannot " + what + " " + path + ": " + std::strerror(err));
}

}  // namespace

Status WriteBytes(const std::string& path, const uint8_t* data, size_t n) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.handle() < 0) return IoError("open", path, errno);
  while (n > 0) {
    const ssize_t w = ::write(fd.handle(), data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return IoError("write", path, errno);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  if (int err = fd.Close()) return IoError("close", path, err);
  return Status::Ok();
}

uint8_t* AlignedBuffer::Reserve(size_t n) {
  if (n > cap_) {
    const size_t cap = (n + kDirectIoAlign - 1) & ~(kDirectIoAlign - 1);
    void* p = std::aligned_alloc(kDirectIoAlign, cap);
    if (!p) throw std::bad_alloc();
    buf_.reset(static_cast<uint8_t*>(p));
    cap_ = cap;
  }
  return buf_.get();
}

void AlignedBuffer::Free::operator()(uint8_t* p) const { std::free(p); }

DirectWriter::DirectWriter(Mode mode) {
  // libaio returns -errno (EAGAIN when aio-max-nr is reached): then every
  // direct write is synchronous.
  if (mode == Mode::kAio && ::io_setup(static_cast<int>(kSlots), &ctx_) != 0) ctx_ = nullptr;
}

DirectWriter::~DirectWriter() {
  Drain();
  if (ctx_) (void)::io_destroy(ctx_);
}

Status DirectWriter::Submit(size_t slot, const std::string& path, size_t n, bool async) {
  Slot& sl = slots_[slot];
  sl.path = path;
  sl.n = n;
  sl.head = n & ~(kDirectIoAlign - 1);
  if (sl.head == 0) return WriteBytes(path, sl.buf.Get(), n);  // under one block
  sl.fd = UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644));
  if (sl.fd.handle() < 0) {
    if (errno != EINVAL) return IoError("open", path, errno);
    return WriteBytes(path, sl.buf.Get(), n);  // no O_DIRECT on this filesystem
  }
  // Sized first: ext4 waits inside io_submit for a direct write that
  // extends the file (IOMAP_DIO_FORCE_WAIT), not for one within i_size.
  // fallocate reserves the blocks too (unwritten extents, converted when
  // the write completes); where it is unsupported, ftruncate does the
  // sizing alone.
  if (::fallocate(sl.fd.handle(), 0, 0, static_cast<off_t>(n)) != 0 &&
      ::ftruncate(sl.fd.handle(), static_cast<off_t>(n)) != 0) {
    const int err = errno;
    sl.fd = UniqueFd(-1);
    ::unlink(path.c_str());
    return IoError("size", path, err);
  }
  if (ctx_ != nullptr && async) {
    sl.cb = {};
    ::io_prep_pwrite(&sl.cb, sl.fd.handle(), sl.buf.Get(), sl.head, 0);
    sl.cb.data = &sl;
    struct iocb* list[1] = {&sl.cb};
    if (::io_submit(ctx_, 1, list) == 1) {
      sl.in_flight = true;
      ++in_flight_;
      return Status::Ok();
    }
    // Refused (EAGAIN when the queue is full, ...): written synchronously.
  }
  ssize_t w;
  do {
    w = ::pwrite(sl.fd.handle(), sl.buf.Get(), sl.head, 0);
  } while (w < 0 && errno == EINTR);
  return Complete(sl, w < 0 ? -errno : w);
}

Status DirectWriter::Finish() {
  Status first = Status::Ok();
  while (in_flight_ > 0) {
    struct io_event ev[kSlots];
    const int got = ::io_getevents(ctx_, 1, static_cast<long>(kSlots), ev, nullptr);
    if (got == -EINTR) continue;
    if (got < 0) {
      Drain();  // cannot happen with a valid context; nothing left in flight after
      return IoError("wait for", "card outputs", -got);
    }
    for (int i = 0; i < got; ++i) {
      Slot& sl = *static_cast<Slot*>(ev[i].data);
      sl.in_flight = false;
      --in_flight_;
      // res is the byte count or -errno in an unsigned long.
      Status s = Complete(sl, static_cast<int64_t>(static_cast<long>(ev[i].res)));
      if (first.ok() && !s.ok()) first = std::move(s);
    }
  }
  return first;
}

void DirectWriter::Drain() {
  while (in_flight_ > 0) {
    struct io_event ev[kSlots];
    const int got = ::io_getevents(ctx_, 1, static_cast<long>(kSlots), ev, nullptr);
    if (got == -EINTR) continue;
    if (got <= 0) break;  // invalid context: nothing can be in flight
    for (int i = 0; i < got; ++i) {
      Slot& sl = *static_cast<Slot*>(ev[i].data);
      sl.in_flight = false;
      sl.fd = UniqueFd(-1);
      ::unlink(sl.path.c_str());  // sized already: not to be taken for a whole file
      --in_flight_;
    }
  }
}

Status DirectWriter::Complete(Slot& sl, int64_t res) {
  Status s = CompleteOrError(sl, res);
  if (!s.ok()) ::unlink(sl.path.c_str());
  return s;
}

// The rest of a file whose direct write ended with `res` (bytes or -errno).
Status DirectWriter::CompleteOrError(Slot& sl, int64_t res) {
  UniqueFd fd = std::move(sl.fd);
  if (res == -EINVAL) {  // an alignment the device refuses: all of it buffered
    fd = UniqueFd(-1);
    return WriteBytes(sl.path, sl.buf.Get(), sl.n);
  }
  if (res < 0) return IoError("write", sl.path, static_cast<int>(-res));
  // The tail (and the rest of a short write), buffered.
  const int fl = ::fcntl(fd.handle(), F_GETFL);
  if (fl < 0 || ::fcntl(fd.handle(), F_SETFL, fl & ~O_DIRECT) < 0)
    return IoError("write", sl.path, errno);
  size_t done = static_cast<size_t>(res);
  while (done < sl.n) {
    const ssize_t w =
        ::pwrite(fd.handle(), sl.buf.Get() + done, sl.n - done, static_cast<off_t>(done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return IoError("write", sl.path, errno);
    }
    done += static_cast<size_t>(w);
  }
  if (int err = fd.Close()) return IoError("close", sl.path, err);
  return Status::Ok();
}

}  // namespace cardbureau::layout::output
