// A tour of reverse-mode autograd in tinydiff: build a small expression, call
// backward(), and check every gradient against the chain rule worked by hand.
//
//   z = sum_i w_i x_i + b        (a neuron's pre-activation)
//   y = sigmoid(z)               (its activation)
//   L = (y - 1)^2                (a squared error against the target 1)
#include <cstdio>
#include <string>

#include <tinydiff/tinydiff.hpp>

using namespace tinydiff;

// Prints the recorded graph below `t`, one op per line, indented by depth.
static void print_graph(const Tensor& t, int depth = 0) {
  const std::string pad(2 * static_cast<size_t>(depth), ' ');
  if (t.is_leaf()) {
    std::printf("%s(leaf %s)\n", pad.c_str(), shape_str(t.shape()).c_str());
    return;
  }
  std::printf("%s%s\n", pad.c_str(), t.grad_fn_name().c_str());
  for (const Tensor& input : t.grad_fn()->inputs)
    if (input.requires_grad()) print_graph(input, depth + 1);
}

int main() {
  // Leaves: the variables we want gradients for.
  Tensor x = tensor({1.0f, 2.0f, 3.0f}).requires_grad_();
  Tensor w = tensor({0.5f, -1.0f, 0.25f}).requires_grad_();
  Tensor b = scalar_tensor(0.1f).requires_grad_();

  // Forward pass: each op records a node (its inputs and a backward function).
  Tensor z = (w * x).sum() + b;
  Tensor y = sigmoid(z);
  Tensor loss = (y - 1.0f).pow(2.0f);
  std::printf("z = %.6f, y = %.6f, L = %.6f\n\nthe recorded graph, from the loss down:\n", z.item(), y.item(),
              loss.item());
  print_graph(loss);

  // Backward pass: nodes run in reverse topological order, each multiplying the
  // gradient arriving from above by its local derivative (the chain rule).
  loss.backward();

  // The same chain rule by hand:
  const float yv = y.item();
  const float dL_dy = 2.0f * (yv - 1.0f);  // L = (y-1)^2      -> dL/dy = 2(y-1)
  const float dy_dz = yv * (1.0f - yv);    // y = sigmoid(z)   -> dy/dz = y(1-y)
  const float dL_dz = dL_dy * dy_dz;       // chain rule: dL/dz = dL/dy * dy/dz
  std::printf("\ndL/dy = %.6f, dy/dz = %.6f, so dL/dz = %.6f\n", dL_dy, dy_dz, dL_dz);
  // z = sum_i w_i x_i + b -> dz/dw_i = x_i, dz/dx_i = w_i, dz/db = 1
  std::printf("\n%-8s %-12s %-12s\n", "grad", "autograd", "by hand");
  for (int i = 0; i < 3; ++i) {
    std::printf("dL/dw[%d] %-12.6f %-12.6f  (= dL/dz * x[%d])\n", i, w.grad().at({i}), dL_dz * x.at({i}), i);
    std::printf("dL/dx[%d] %-12.6f %-12.6f  (= dL/dz * w[%d])\n", i, x.grad().at({i}), dL_dz * w.at({i}), i);
  }
  std::printf("dL/db    %-12.6f %-12.6f  (= dL/dz * 1)\n", b.grad().item(), dL_dz);

  // Gradients accumulate: a second forward + backward adds to .grad(), which is
  // why training loops call zero_grad() before each step.
  Tensor again = (sigmoid((w * x).sum() + b) - 1.0f).pow(2.0f);
  again.backward();
  std::printf("\nafter a second backward, dL/db = %.6f (twice the first); zero_grad() resets it\n",
              b.grad().item());
  return 0;
}
