#include "rt/loop.hpp"

#include <uv.h>

#include <csignal>
#include <cstdio>
#include <stdexcept>

#include "rt/error.hpp"

namespace calgate::rt {
namespace {
thread_local loop* tl_current = nullptr;
}

struct loop::internals {
  uv_idle_t ready_idle{};
  uv_async_t post_async{};
  bool idle_active = false;
};

void loop::uv_loop_deleter::operator()(uv_loop_t* l) const noexcept { delete l; }

loop::loop() : raw_(new uv_loop_t), in_(std::make_unique<internals>()) {
  if (tl_current) throw std::logic_error("a calgate loop already exists on this thread");
  // A peer that closes while we write must give EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  if (int rc = uv_loop_init(raw_.get()); rc != 0) throw error(uv_error(rc), "uv_loop_init");
  raw_->data = this;
  uv_idle_init(raw_.get(), &in_->ready_idle);
  in_->ready_idle.data = this;
  uv_async_init(raw_.get(), &in_->post_async, [](uv_async_t* a) {
    static_cast<loop*>(a->data)->drain_posted();
  });
  in_->post_async.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&in_->post_async));
  timers_ = std::make_unique<timer_queue>(*this);
  tl_current = this;
}

loop::~loop() {
  if (!closed_) close();
  if (tl_current == this) tl_current = nullptr;
}

loop& loop::current() noexcept { return *tl_current; }
loop* loop::current_or_null() noexcept { return tl_current; }

void loop::run() { uv_run(raw(), UV_RUN_DEFAULT); }
bool loop::run_nowait() { return uv_run(raw(), UV_RUN_NOWAIT) != 0; }
void loop::stop() noexcept { uv_stop(raw()); }
std::uint64_t loop::now_ms() const noexcept { return uv_now(raw_.get()); }
void loop::update_time() noexcept { uv_update_time(raw()); }

void loop::schedule(std::coroutine_handle<> h) {
  ready_.push_back(h);
  if (!in_->idle_active) {
    uv_idle_start(&in_->ready_idle, [](uv_idle_t* i) { static_cast<loop*>(i->data)->drain_ready(); });
    in_->idle_active = true;
  }
}

void loop::defer(std::function<void()> fn) {
  deferred_.push_back(std::move(fn));
  if (!in_->idle_active) {
    uv_idle_start(&in_->ready_idle, [](uv_idle_t* i) { static_cast<loop*>(i->data)->drain_ready(); });
    in_->idle_active = true;
  }
}

void loop::drain_ready() {
  // Only what was queued before this round runs now; anything queued while
  // draining (a yield inside a long loop) waits for the next iteration, so
  // I/O gets polled in between.
  std::vector<std::coroutine_handle<>> batch;
  batch.swap(ready_);
  std::vector<std::function<void()>> fns;
  fns.swap(deferred_);
  for (auto h : batch) h.resume();
  for (auto& f : fns) f();
  if (ready_.empty() && deferred_.empty() && in_->idle_active) {
    uv_idle_stop(&in_->ready_idle);
    in_->idle_active = false;
  }
  // Reuse the larger buffer next time.
  if (ready_.empty() && batch.capacity() > ready_.capacity()) {
    batch.clear();
    ready_.swap(batch);
  }
}

void loop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(post_mu_);
    posted_.push_back(std::move(fn));
  }
  uv_async_send(&in_->post_async);
}

void loop::drain_posted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(post_mu_);
    batch.swap(posted_);
  }
  for (auto& f : batch) f();
}

int loop::close() {
  if (closed_) return 0;
  closed_ = true;
  // Give callbacks already queued a chance to finish their work.
  drain_posted();
  std::vector<std::function<void()>> fns;
  fns.swap(deferred_);
  for (auto& f : fns) f();
  timers_->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&in_->ready_idle), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&in_->post_async), nullptr);
  // Anything still open now was leaked by its owner: close it so this call
  // cannot hang, and report it.
  uv_walk(
      raw(),
      [](uv_handle_t* h, void* arg) {
        if (uv_is_closing(h)) return;
        ++*static_cast<int*>(arg);
        std::fprintf(stderr, "calgate: handle still open at loop close: %s\n",
                     uv_handle_type_name(uv_handle_get_type(h)));
        uv_close(h, nullptr);
      },
      &leaked_);
  // uv_run returns at once if uv_stop() was called before; repeat until the
  // close callbacks (and any in-flight requests) have run.
  while (uv_run(raw(), UV_RUN_DEFAULT) != 0) {
  }
  int rc = uv_loop_close(raw());
  if (tl_current == this) tl_current = nullptr;
  return leaked_ != 0 && rc == 0 ? UV_EBUSY : rc;
}

}  // namespace calgate::rt
