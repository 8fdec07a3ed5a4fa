// Parity with PyTorch for the index, pad, repeat and factory ops of issue #17 (fixtures:
// tests/parity/families_ops.py; harness and tolerance: parity/parity_harness.hpp). Index
// tensors come from the fixture as I64 and are read exactly, with get_indices.
#include "parity/parity_harness.hpp"

using namespace tinydiff;
using namespace parity;

namespace {
// The case's I64 tensor `key` as an IndexTensor (exact), marked as used.
IndexTensor index_of(Family& family, Case& c, const std::string& key) {
  const Tensor as_float = c.get(key);  // marks it used; small indices are exact as floats too
  const IndexTensor index = family.file.get_indices(c.name() + "." + key);
  REQUIRE(index.shape == as_float.shape());
  return index;
}
}  // namespace

TEST_CASE("parity: gather, index_select, embedding (int64 indices), pad, repeat, select, eye, linspace") {
  Family family("ops", 30);
  std::set<std::string> seen;
  for_each_case(family, [&](Case& c) {
    const std::string op = c.param("op");
    seen.insert(op);
    if (op == "eye" || op == "linspace") {  // factories: values only
      c.expect("out", op == "eye" ? eye(c.integer("n"), c.integer("m"))
                                  : linspace(c.real("start"), c.real("end"), c.integer("steps")));
      return;
    }
    if (op == "big_int64") {  // beyond 2^24: exact through get_indices, refused as float
      const Shape expected = c.shape("values");
      CHECK(family.file.get_indices(c.name() + ".big").data == std::vector<int64_t>(expected.begin(), expected.end()));
      CHECK_THROWS_AS(family.file.get(c.name() + ".big"), Error);
      return;
    }
    Tensor y;
    std::vector<std::pair<std::string, Tensor>> leaves;
    if (op == "embedding") {
      Tensor w = c.input("w");
      y = embedding(index_of(family, c, "index"), w);
      leaves = {{"w", w}};
    } else {
      Tensor x = c.input("x");
      leaves = {{"x", x}};
      if (op == "gather") {
        y = gather(x, c.integer("dim"), index_of(family, c, "index"));
      } else if (op == "index_select") {
        y = index_select(x, c.integer("dim"), index_of(family, c, "index"));
      } else if (op == "pad") {
        y = pad(x, c.shape("pads"), c.param("mode"), static_cast<float>(c.real("value")));
      } else if (op == "repeat") {
        y = repeat(x, c.shape("sizes"));
      } else if (op == "select") {
        y = select(x, c.integer("dim"), c.integer("index"));
      } else {
        FAIL("unknown op '", op, "'");
      }
    }
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads(leaves);
  });
  CHECK(seen == std::set<std::string>{"gather", "index_select", "embedding", "pad", "repeat", "select", "eye",
                                      "linspace", "big_int64"});
}
