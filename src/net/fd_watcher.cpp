#include "net/fd_watcher.hpp"

#include <uv.h>

#include "rt/error.hpp"
#include "rt/loop.hpp"

namespace calgate::net {

struct fd_watcher::block {
  uv_poll_t poll{};
  fd_watcher::callback cb = nullptr;
  void* ctx = nullptr;
};

fd_watcher::fd_watcher(int fd, callback cb, void* ctx) : b_(new block) {
  b_->cb = cb;
  b_->ctx = ctx;
  b_->poll.data = b_;
  init_error_ = uv_poll_init_socket(rt::loop::current().raw(), &b_->poll, fd);
  if (init_error_ != 0) {
    delete b_;
    b_ = nullptr;
  }
}

fd_watcher::~fd_watcher() { close(); }

std::error_code fd_watcher::init_error() const { return init_error_ ? rt::uv_error(init_error_) : std::error_code{}; }

std::error_code fd_watcher::watch(bool readable, bool writable) {
  if (!b_) return make_error_code(rt::errc::closed);
  int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  if (events == 0) {
    uv_poll_stop(&b_->poll);
    return {};
  }
  int rc = uv_poll_start(&b_->poll, events, [](uv_poll_t* p, int status, int ev) {
    auto* bl = static_cast<block*>(p->data);
    if (bl->cb) bl->cb(bl->ctx, status, (ev & UV_READABLE) != 0, (ev & UV_WRITABLE) != 0);
  });
  return rc ? rt::uv_error(rc) : std::error_code{};
}

void fd_watcher::stop() noexcept {
  if (b_) uv_poll_stop(&b_->poll);
}

void fd_watcher::close() noexcept {
  if (!b_) return;
  b_->cb = nullptr;
  uv_poll_stop(&b_->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&b_->poll), [](uv_handle_t* h) { delete static_cast<block*>(h->data); });
  b_ = nullptr;
}

}  // namespace calgate::net
