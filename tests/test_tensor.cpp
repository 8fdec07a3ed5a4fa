#include <doctest/doctest.h>

#include <tinydiff/tinydiff.hpp>
#include <tinydiff/testing/gradcheck.hpp>
#include <iostream>

using namespace tinydiff;

TEST_CASE("smoke") {
  Tensor a = randn({3, 4}).requires_grad_();
  Tensor b = randn({4}).requires_grad_();
  Tensor y = (silu(a * b + 1.0f).matmul(randn({4, 2}))).sum();
  y.backward();
  std::cout << a.grad() << "\n" << y << "\n";
  auto r = testing::gradcheck([](const std::vector<Tensor>& x) { return silu(x[0] * x[1] + 1.0f); }, {a, b});
  MESSAGE(r.message);
  CHECK(r.passed);
}
