#pragma once
// tinydiff::Error: the one exception type the library throws.
//
// Every message starts with the op (or file) that failed and names the shapes
// or values involved, e.g. "add: cannot broadcast shapes [2, 3] and [4]".
#include <sstream>
#include <stdexcept>
#include <string>

namespace tinydiff {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
// Streams any number of values into one string: concat("x=", 3, " y=", 4).
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

}  // namespace tinydiff

// TD_CHECK(cond, op, parts...): throw tinydiff::Error("op: parts...") unless cond holds.
#define TD_CHECK(cond, op, ...)                                                    \
  do {                                                                             \
    if (!(cond)) throw ::tinydiff::Error(::tinydiff::detail::concat(op, ": ", __VA_ARGS__)); \
  } while (0)
