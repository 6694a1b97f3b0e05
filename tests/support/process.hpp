#pragma once
// Child processes for tests: calgate itself, slapd, openssl s_server, ...
// Output goes to files so a test can read it after (or while) the child runs.
#include <chrono>
#include <functional>
#include <string_view>
#include <string>
#include <vector>

#include <sys/types.h>

namespace calgate::test {

struct spawn_options {
  // The child gets SIGKILL when the thread that started it exits (normally: the
  // test process dies, even by abort or SIGKILL), via prctl(PR_SET_PDEATHSIG).
  // Start such children from a thread that lives as long as they should
  // (the test's main thread). No inherited fd above 2 survives into the child
  // (best effort: close_range(CLOSE_RANGE_CLOEXEC), Linux 5.11+).
  bool die_with_parent = false;
  // Where stdout and stderr go (created or truncated); empty: a temporary file.
  // Either way the file is removed with the process object.
  std::string output_path;
};

class process {
 public:
  // Starts argv[0] (searched in PATH) with its output captured. Throws on failure.
  explicit process(std::vector<std::string> argv, std::vector<std::string> extra_env = {},
                   spawn_options opts = {});
  ~process();  // SIGKILL and reap if still running
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  void signal(int signum) const;
  // Waits for exit; returns the exit status (128+signal if killed) or -1 on timeout.
  int wait(std::chrono::milliseconds limit);
  bool running();
  std::string output() const;  // stdout and stderr so far

 private:
  void fork_exec(std::vector<char*>& args, std::vector<char*>& envp, int out_fd);

  pid_t pid_ = -1;
  int status_ = -1;
  std::string out_path_;
};

// Runs to completion (with a limit) and returns {exit status, output}.
std::pair<int, std::string> run_command(std::vector<std::string> argv, std::chrono::milliseconds limit);

// A fresh directory under /tmp, removed (recursively) by the destructor.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const noexcept { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  void write(std::string_view name, std::string_view content) const;

 private:
  std::string path_;
};

// Polls fn every few milliseconds until it returns true or the limit passes.
bool eventually(const std::function<bool()>& fn, std::chrono::milliseconds limit);

}  // namespace calgate::test
