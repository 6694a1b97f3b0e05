#pragma once
// Readiness notifications for a socket that someone else reads and writes
// (libldap owns its socket; we only learn when it is readable or writable).
// Level-triggered, like uv_poll. The owner closes the descriptor itself, but
// only after close() (or destruction) of the watcher.
#include <system_error>

namespace calgate::net {

class fd_watcher {
 public:
  // status < 0 is a libuv error for the descriptor.
  using callback = void (*)(void* ctx, int status, bool readable, bool writable);

  fd_watcher(int fd, callback cb, void* ctx);
  ~fd_watcher();
  fd_watcher(const fd_watcher&) = delete;
  fd_watcher& operator=(const fd_watcher&) = delete;

  std::error_code watch(bool readable, bool writable);
  void stop() noexcept;
  // Stops and releases the poll handle; the descriptor may be closed right after.
  void close() noexcept;
  bool ok() const noexcept { return init_error_ == 0; }
  std::error_code init_error() const;

  struct block;

 private:
  block* b_ = nullptr;
  int init_error_ = 0;
};

}  // namespace calgate::net
