// gradcheck on the index, pad and repeat ops of issue #17 (gather, index_select and embedding
// with an IndexTensor, pad in every mode, repeat, select; see tests/test_ops_index.cpp for their
// values), each with a random upstream gradient.
//
// Tolerance: the gradcheck defaults, step h = 1e-3, |analytic - numeric| <= 1e-3 + 1e-2 |numeric|.
// These ops copy values, so they are linear in x and the central difference is exact up to
// float rounding. Repeated indices, overlapping reflected borders and repeated tiles check
// that the backward adds, not overwrites.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;
using Fn = testing::GradcheckFunction;

namespace {

}  // namespace

TEST_CASE("gradcheck: gather along each dim, with repeated and out-of-order indices") {
  Generator gen(81);
  Tensor x = normal({3, 4, 2}, gen);
  struct Case {
    int64_t dim;
    IndexTensor index;
  };
  const std::vector<Case> cases = {
      {0, IndexTensor({2, 4, 2}, {2, 2, 0, 1, 1, 1, 0, 2, 2, 0, 0, 0, 1, 2, 1, 1})},
      {1, IndexTensor({3, 5, 1}, {3, 3, 0, 1, 3, 2, 2, 2, 0, 1, 0, 1, 2, 3, 0})},
      {-1, IndexTensor({2, 3, 3}, {1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1})},
  };
  for (const Case& c : cases)
    expect_gradcheck([c](const std::vector<Tensor>& v) { return gather(v[0], c.dim, c.index); }, {x},
                     "gather dim " + std::to_string(c.dim) + " index " + shape_str(c.index.shape));
}

TEST_CASE("gradcheck: index_select and embedding with an IndexTensor") {
  Generator gen(82);
  Tensor x = normal({3, 4}, gen);
  const IndexTensor picks = IndexTensor::of({3, 0, 3, 1});
  expect_gradcheck([picks](const std::vector<Tensor>& v) { return index_select(v[0], 1, picks); }, {x},
                   "index_select dim 1");
  expect_gradcheck([](const std::vector<Tensor>& v) { return index_select(v[0], 0, IndexTensor::of({2, 2})); }, {x},
                   "index_select dim 0, one row twice");
  Tensor w = normal({5, 3}, gen);
  const IndexTensor tokens({2, 3}, {4, 0, 4, 1, 1, 2});
  expect_gradcheck([tokens](const std::vector<Tensor>& v) { return embedding(tokens, v[0]); }, {w},
                   "embedding [2, 3] indices");
}

TEST_CASE("gradcheck: pad in every mode, positive and negative pads") {
  Generator gen(83);
  Tensor x = normal({2, 2, 5}, gen);
  Tensor img = normal({1, 2, 3, 4}, gen);
  struct Case {
    std::string mode;
    std::vector<int64_t> pads;
    bool image;
  };
  const std::vector<Case> cases = {
      {"constant", {1, 2}, false},         {"constant", {-1, 2, 0, 1, 1, 0}, false},
      {"constant", {2, -3, 1, 1}, true},   {"reflect", {3, 4}, false},
      {"reflect", {-1, 2}, false},         {"reflect", {1, 2, 2, 1}, true},
      {"replicate", {4, 6}, false},        {"replicate", {-2, 3, 2, 0}, true},
      {"circular", {2, 5}, false},         {"circular", {3, -1}, false},
      {"circular", {1, 2, 3, 1}, true},
  };
  for (const Case& c : cases) {
    std::string what = "pad " + c.mode;
    for (int64_t p : c.pads) what += " " + std::to_string(p);
    expect_gradcheck([c](const std::vector<Tensor>& v) { return pad(v[0], c.pads, c.mode, c.mode == "constant" ? 0.5f : 0.0f); },
                     {c.image ? img : x}, what);
  }
}

TEST_CASE("gradcheck: repeat and select") {
  Generator gen(84);
  Tensor x = normal({2, 3}, gen);
  for (const std::vector<int64_t>& sizes : {std::vector<int64_t>{2, 1}, {1, 3}, {2, 2, 2}, {3, 1, 1}})
    expect_gradcheck([sizes](const std::vector<Tensor>& v) { return repeat(v[0], sizes); }, {x},
                     "repeat " + shape_str(sizes));
  for (int64_t dim : {0, 1, -1})
    for (int64_t index : {0, -1})
      expect_gradcheck([dim, index](const std::vector<Tensor>& v) { return select(v[0], dim, index); }, {x},
                       "select dim " + std::to_string(dim) + " index " + std::to_string(index));
}
