#pragma once
// The public functions of include/tinydiff/ops/*.hpp, read from the headers themselves: lines
// "inline <type> name(" outside `namespace detail` blocks, and not Tensor's methods (they call
// these functions). The tests that must cover every op (an undefined-tensor row, a gradcheck)
// check their lists against this one, so a new op cannot be left out silently.
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>

namespace test_helpers {

inline std::set<std::string> public_ops(const std::string& ops_dir) {
  const std::regex function(R"(^inline [\w:<>, ]+?\b(operator\S+?|\w+)\()");
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(ops_dir)) {
    std::ifstream in(entry.path());
    bool in_detail = false;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("namespace detail {", 0) == 0 || line.rfind("namespace tinydiff::detail {", 0) == 0)
        in_detail = true;
      if (line.rfind("}  // namespace detail", 0) == 0) in_detail = false;
      std::smatch m;
      if (!in_detail && line.find("Tensor::") == std::string::npos && std::regex_search(line, m, function))
        names.insert(m[1]);
    }
  }
  return names;
}

}  // namespace test_helpers
