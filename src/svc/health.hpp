#pragma once
// Readiness checks that components register and /readyz reports.
#include <functional>
#include <string>
#include <vector>

namespace calgate::svc {

struct check_result {
  bool ok = false;
  std::string detail;  // short, operator-facing; never a secret
};

class readiness {
 public:
  // `check` runs on every /readyz request; keep it cheap (report cached state).
  void add(std::string name, std::function<check_result()> check);
  struct report {
    bool ready = true;
    std::vector<std::pair<std::string, check_result>> checks;
  };
  report evaluate() const;
  // {"status":"ready"|"not ready","checks":{"name":{"ok":true,"detail":"..."}}}
  static std::string to_json(const report& r);

 private:
  std::vector<std::pair<std::string, std::function<check_result()>>> checks_;
};

}  // namespace calgate::svc
