#include "rt/signal.hpp"

#include <uv.h>

#include "rt/error.hpp"
#include "rt/loop.hpp"

namespace calgate::rt {

struct signal_watcher::handle {
  uv_signal_t sig{};
  signal_watcher* owner = nullptr;
};

signal_watcher::signal_watcher(std::initializer_list<int> signums, std::function<void(int)> on_signal)
    : cb_(std::move(on_signal)) {
  for (int s : signums) {
    auto* h = new handle;
    h->owner = this;
    uv_signal_init(loop::current().raw(), &h->sig);
    h->sig.data = h;
    int rc = uv_signal_start(
        &h->sig,
        [](uv_signal_t* sg, int signum) {
          auto* hh = static_cast<handle*>(sg->data);
          if (hh->owner && hh->owner->cb_) hh->owner->cb_(signum);
        },
        s);
    // The watcher must not keep the loop alive on its own.
    uv_unref(reinterpret_cast<uv_handle_t*>(&h->sig));
    handles_.push_back(h);
    if (rc != 0) throw error(uv_error(rc), "uv_signal_start");
  }
}

signal_watcher::~signal_watcher() {
  for (handle* h : handles_) {
    h->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&h->sig), [](uv_handle_t* hh) { delete static_cast<handle*>(hh->data); });
  }
}

}  // namespace calgate::rt
