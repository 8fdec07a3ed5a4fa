// A user's program: fit y = sin(3x) on [-1, 1] with a 2-layer MLP, backward and a
// hand-written SGD step. Exits 0 only if the loss fell at least tenfold.
#include <cmath>
#include <cstdio>
#include <tinydiff/tinydiff.hpp>

using namespace tinydiff;

int main() {
  manual_seed(0);
  const int64_t n = 128, hidden = 32;
  Tensor x = arange(0, n).reshape({n, 1}) * (2.0f / (n - 1)) - 1.0f;
  Tensor y = sin(x * 3.0f);

  Tensor w1 = (randn({1, hidden}) * 1.0f).requires_grad_();
  Tensor b1 = zeros({hidden}).requires_grad_();
  Tensor w2 = (randn({hidden, 1}) * (1.0f / std::sqrt(float(hidden)))).requires_grad_();
  Tensor b2 = zeros({1}).requires_grad_();

  float first = 0, last = 0;
  for (int step = 0; step < 2000; ++step) {
    Tensor pred = matmul(tanh(matmul(x, w1) + b1), w2) + b2;
    Tensor loss = mse_loss(pred, y);
    loss.backward();
    {
      NoGradGuard no_grad;
      for (Tensor* p : {&w1, &b1, &w2, &b2}) {
        float* d = p->data();
        const float* g = p->grad().data();
        for (int64_t i = 0; i < p->numel(); ++i) d[i] -= 0.1f * g[i];
        p->zero_grad();
      }
    }
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  std::printf("loss: %.5f -> %.5f\n", first, last);
  return last < first / 10 ? 0 : 1;
}
