#pragma once
// Delivers POSIX signals (SIGTERM, SIGINT, ...) as callbacks on the loop thread.
#include <functional>
#include <initializer_list>
#include <vector>

namespace calgate::rt {

class signal_watcher {
 public:
  signal_watcher(std::initializer_list<int> signums, std::function<void(int)> on_signal);
  ~signal_watcher();
  signal_watcher(const signal_watcher&) = delete;
  signal_watcher& operator=(const signal_watcher&) = delete;

  struct handle;

 private:
  std::function<void(int)> cb_;
  std::vector<handle*> handles_;
};

}  // namespace calgate::rt
