// calgate: calendar interoperability gateway. Command-line entry point.
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "app/app.hpp"
#include "calgate_build.hpp"
#include "config/config.hpp"

namespace {

constexpr const char* usage =
    "usage:\n"
    "  calgate serve --config FILE [--listen HOST:PORT]   run the gateway until SIGTERM/SIGINT\n"
    "  calgate check-config FILE [--print]                 validate a configuration file\n"
    "  calgate version                                     print the version\n"
    "  calgate --help                                      show this help\n"
    "\n"
    "serve: --listen overrides server.listen from the file (e.g. 127.0.0.1:8080, [::1]:8443).\n"
    "check-config: exit status 0 when the file is valid; --print shows the effective\n"
    "configuration with every default filled in and secrets masked.\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "calgate: %s\n\n%s", msg.c_str(), usage);
  return 2;
}

void print_errors(const std::vector<std::string>& errors) {
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
}

int cmd_serve(const std::vector<std::string_view>& args) {
  std::string file;
  calgate::app::serve_options opts;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if ((a == "--config" || a == "-c") && i + 1 < args.size()) {
      file = std::string(args[++i]);
    } else if (a == "--listen" && i + 1 < args.size()) {
      auto ep = calgate::config::parse_endpoint(args[++i]);
      if (!ep) return usage_error("--listen: " + std::string(ep.error));
      opts.listen_override = ep.value;
    } else {
      return usage_error("serve: unexpected argument '" + std::string(a) + "'");
    }
  }
  if (file.empty()) return usage_error("serve needs --config FILE");
  auto loaded = calgate::config::load_file(file);
  if (!loaded) {
    print_errors(loaded.errors);
    return 1;
  }
  return calgate::app::serve(*loaded.config, opts);
}

int cmd_check(const std::vector<std::string_view>& args) {
  std::string file;
  bool print = false;
  for (std::string_view a : args) {
    if (a == "--print") print = true;
    else if (file.empty() && !a.starts_with("-")) file = std::string(a);
    else return usage_error("check-config: unexpected argument '" + std::string(a) + "'");
  }
  if (file.empty()) return usage_error("check-config needs a FILE");
  auto loaded = calgate::config::load_file(file);
  if (!loaded) {
    print_errors(loaded.errors);
    return 1;
  }
  auto problems = calgate::app::check_runtime(*loaded.config);
  if (!problems.empty()) {
    print_errors(problems);
    return 1;
  }
  if (print) std::fputs(calgate::config::render(*loaded.config).c_str(), stdout);
  std::fprintf(stderr, "%s: configuration OK\n", file.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("missing command");
  std::string_view cmd = args.front();
  std::vector<std::string_view> rest(args.begin() + 1, args.end());
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(usage, stdout);
    return 0;
  }
  if (cmd == "version" || cmd == "--version") {
    std::printf("calgate %s\n", CALGATE_VERSION);
    return 0;
  }
  if (cmd == "serve") return cmd_serve(rest);
  if (cmd == "check-config") return cmd_check(rest);
  return usage_error("unknown command '" + std::string(cmd) + "'");
}
