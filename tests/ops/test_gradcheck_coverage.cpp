// Every differentiable op has a gradcheck (docs/autograd.md): the public ops read from
// include/tinydiff/ops/*.hpp must each be registered by a gradcheck test (GRADCHECKED_OPS,
// ops/gradchecked.hpp) or be listed below as not differentiable. A new op added without a
// gradcheck fails here, naming the op.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>

#include "ops/gradchecked.hpp"
#include "ops/public_ops.hpp"

namespace {

// Ops with no gradient to check, and why.
const std::map<std::string, std::string> kNotDifferentiable = {
    {"eq", "a comparison: a 0/1 mask, piecewise constant, recorded without a gradient"},
    {"ne", "a comparison"},
    {"lt", "a comparison"},
    {"le", "a comparison"},
    {"gt", "a comparison"},
    {"ge", "a comparison"},
    {"argmax", "returns indices (an IndexTensor)"},
    {"argmin", "returns indices (an IndexTensor)"},
    {"additive_mask", "turns a boolean mask into a constant 0/-inf one; its input is not differentiated"},
};

// Spellings that are the same op as one registered: the operators call add, sub, mul, div, neg.
const std::map<std::string, std::string> kAliases = {
    {"operator+", "add"}, {"operator*", "mul"}, {"operator/", "div"},
    {"operator-", "sub"},  // binary minus; unary minus is neg, gradchecked as -x with neg
};

}  // namespace

TEST_CASE("every differentiable op in include/tinydiff/ops has a gradcheck") {
  const std::set<std::string> ops = test_helpers::public_ops(TINYDIFF_SOURCE_DIR "/include/tinydiff/ops");
  const std::set<std::string>& checked = test_helpers::gradchecked_ops();
  CHECK(ops.size() >= 90);  // the scan found the headers (98 names when written)
  for (const std::string& op : ops) {
    INFO("op: ", op);
    const auto alias = kAliases.find(op);
    const std::string name = alias == kAliases.end() ? op : alias->second;
    const bool gradchecked = checked.count(name) == 1;
    const bool exempt = kNotDifferentiable.count(op) == 1;
    INFO("an op in include/tinydiff/ops needs a gradcheck test that registers it with GRADCHECKED_OPS "
         "(tests/ops/gradchecked.hpp), or a row in kNotDifferentiable saying why it has no gradient");
    CHECK(gradchecked != exempt);  // one or the other, never both
  }
  // A registration must name a real op (a typo would leave the op it meant uncovered).
  for (const std::string& name : checked) {
    INFO("GRADCHECKED_OPS names '", name, "', which is no public op in include/tinydiff/ops");
    CHECK(ops.count(name) == 1);
  }
}
