// An undefined tensor (a default-constructed `Tensor t;` never assigned) given to a public call is
// reported under that call's name and the argument's, as PyTorch does:
//   "conv2d: 'weight' is an undefined tensor (a default-constructed Tensor; did you forget to assign it?)"
// One table row per op and tensor position. A second test reads include/tinydiff/ops/*.hpp and
// fails when a public function there has no row, so a new op cannot be left out silently.
#include <doctest/doctest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include <tinydiff/io/png.hpp>
#include <tinydiff/tinydiff.hpp>

#include "ops/public_ops.hpp"
#include "test_helpers.hpp"

using namespace tinydiff;
using test_helpers::error_message;

namespace {

struct Case {
  std::string op;   // the name the message must start with
  std::string arg;  // the argument it must name
  std::function<void()> call;
  std::string fn = "";  // the C++ function called, when it differs from op (operators, modules)
};

// Every row: one undefined tensor `u`; the other tensors are defined (their shapes do not matter:
// the check comes before any other).
std::vector<Case> cases() {
  static const Tensor u;
  static const Tensor x = ones({2, 3});
  static const IndexTensor index = IndexTensor::of({0, 1});
  const float s = 2.0f;
  return {
      // unary and activations
      {"exp", "input", [] { exp(u); }},
      {"log", "input", [] { log(u); }},
      {"sqrt", "input", [] { sqrt(u); }},
      {"pow", "input", [] { pow(u, 2.0f); }},
      {"sin", "input", [] { sin(u); }},
      {"cos", "input", [] { cos(u); }},
      {"abs", "input", [] { abs(u); }},
      {"clamp", "input", [] { clamp(u, 0.0f, 1.0f); }},
      {"tanh", "input", [] { tanh(u); }},
      {"sigmoid", "input", [] { sigmoid(u); }},
      {"relu", "input", [] { relu(u); }},
      {"silu", "input", [] { silu(u); }},
      {"erf", "input", [] { erf(u); }},
      {"log1p", "input", [] { log1p(u); }},
      {"gelu", "input", [] { gelu(u); }},
      {"leaky_relu", "input", [] { leaky_relu(u); }},
      {"elu", "input", [] { elu(u); }},
      {"softplus", "input", [] { softplus(u); }},
      {"softmax", "input", [] { softmax(u, 0); }},
      {"log_softmax", "input", [] { log_softmax(u, 0); }},
      {"dropout", "input", [] { dropout(u, 0.5); }},
      {"neg", "input", [] { neg(u); }},
      // binary, broadcasting
      {"add", "input", [] { add(u, x); }},
      {"add", "other", [] { add(x, u); }},
      {"add", "input", [s] { add(u, s); }},
      {"sub", "input", [] { sub(u, x); }},
      {"sub", "other", [] { sub(x, u); }},
      {"sub", "input", [s] { sub(u, s); }},
      {"mul", "input", [] { mul(u, x); }},
      {"mul", "other", [] { mul(x, u); }},
      {"mul", "input", [s] { mul(u, s); }},
      {"div", "input", [] { div(u, x); }},
      {"div", "other", [] { div(x, u); }},
      {"div", "input", [s] { div(u, s); }},
      {"rsub", "input", [s] { rsub(u, s); }},
      {"rdiv", "input", [s] { rdiv(u, s); }},
      {"maximum", "input", [] { maximum(u, x); }},
      {"maximum", "other", [] { maximum(x, u); }},
      {"minimum", "input", [] { minimum(u, x); }},
      {"minimum", "other", [] { minimum(x, u); }},
      {"broadcast_to", "input", [] { broadcast_to(u, {2, 3}); }},
      {"sum_to", "input", [] { sum_to(u, {3}); }},
      // operators name the op they call
      {"add", "input", [] { (void)(u + x); }, "operator+"},
      {"add", "other", [] { (void)(x + u); }, "operator+"},
      {"add", "input", [s] { (void)(u + s); }, "operator+"},
      {"add", "input", [s] { (void)(s + u); }, "operator+"},
      {"sub", "other", [] { (void)(x - u); }, "operator-"},
      {"sub", "input", [s] { (void)(u - s); }, "operator-"},
      {"rsub", "input", [s] { (void)(s - u); }, "operator-"},
      {"neg", "input", [] { (void)(-u); }, "operator-"},
      {"mul", "other", [] { (void)(x * u); }, "operator*"},
      {"mul", "input", [s] { (void)(u * s); }, "operator*"},
      {"mul", "input", [s] { (void)(s * u); }, "operator*"},
      {"div", "other", [] { (void)(x / u); }, "operator/"},
      {"div", "input", [s] { (void)(u / s); }, "operator/"},
      {"rdiv", "input", [s] { (void)(s / u); }, "operator/"},
      // comparisons
      {"eq", "input", [] { eq(u, x); }},
      {"eq", "other", [] { eq(x, u); }},
      {"eq", "input", [s] { eq(u, s); }},
      {"ne", "other", [] { ne(x, u); }},
      {"ne", "input", [s] { ne(u, s); }},
      {"lt", "other", [] { lt(x, u); }},
      {"lt", "input", [s] { lt(u, s); }},
      {"le", "other", [] { le(x, u); }},
      {"le", "input", [s] { le(u, s); }},
      {"gt", "other", [] { gt(x, u); }},
      {"gt", "input", [s] { gt(u, s); }},
      {"ge", "other", [] { ge(x, u); }},
      {"ge", "input", [s] { ge(u, s); }},
      // selection
      {"where", "condition", [] { where(u, x, x); }},
      {"where", "input", [] { where(x, u, x); }},
      {"where", "other", [] { where(x, x, u); }},
      {"masked_fill", "input", [] { masked_fill(u, x, 0.0f); }},
      {"masked_fill", "mask", [] { masked_fill(x, u, 0.0f); }},
      // matmul, also as a method
      {"matmul", "input", [] { matmul(u, x); }},
      {"matmul", "other", [] { matmul(x, u); }},
      {"matmul", "other", [] { x.matmul(u); }},
      // reductions
      {"sum", "input", [] { sum(u); }},
      {"sum", "input", [] { sum(u, {0}); }},
      {"sum", "input", [] { u.sum(); }},
      {"mean", "input", [] { mean(u); }},
      {"mean", "input", [] { mean(u, {0}); }},
      {"var", "input", [] { var(u); }},
      {"std", "input", [] { tinydiff::std(u); }},
      {"logsumexp", "input", [] { logsumexp(u); }},
      {"norm", "input", [] { norm(u); }},
      {"cumsum", "input", [] { cumsum(u, 0); }},
      {"max", "input", [] { max(u); }},
      {"max", "input", [] { max(u, 0); }},
      {"min", "input", [] { min(u); }},
      {"min", "input", [] { min(u, 0); }},
      {"argmax", "input", [] { argmax(u); }},
      {"argmax", "input", [] { argmax(u, 0); }},
      {"argmin", "input", [] { argmin(u); }},
      {"argmin", "input", [] { argmin(u, 0); }},
      // shape and index ops
      {"reshape", "input", [] { reshape(u, {6}); }},
      {"reshape", "input", [] { u.reshape({6}); }},
      {"clone", "input", [] { clone(u); }},
      {"permute", "input", [] { permute(u, {1, 0}); }},
      {"transpose", "input", [] { transpose(u, 0, 1); }},
      {"narrow", "input", [] { narrow(u, 0, 0, 1); }},
      {"slice", "input", [] { slice(u, 0, 0, 1); }},
      {"select", "input", [] { select(u, 0, 0); }},
      {"concat", "tensors[1]", [] { concat({x, u}, 0); }},
      {"cat", "tensors[0]", [] { cat({u, x}, 0); }},
      {"stack", "tensors[1]", [] { stack({x, u}, 0); }},
      {"index_select", "input", [] { index_select(u, 0, std::vector<int64_t>{0}); }},
      {"index_select", "input", [] { index_select(u, 0, index); }},
      {"index_select", "input", [] { index_select(u, 0, {0}); }},
      {"gather", "input", [] { gather(u, 0, index); }},
      {"repeat", "input", [] { repeat(u, {1, 1}); }},
      {"unsqueeze", "input", [] { unsqueeze(u, 0); }},
      {"squeeze", "input", [] { squeeze(u); }},
      {"squeeze", "input", [] { squeeze(u, 0); }},
      {"split", "input", [] { split(u, 1); }},
      {"split", "input", [] { split(u, std::vector<int64_t>{1, 1}); }},
      {"chunk", "input", [] { chunk(u, 2); }},
      {"pad", "input", [] { pad(u, {1, 1}); }},
      // layers' functional forms (bias, norm weights and running statistics may be undefined)
      {"conv2d", "input", [] { conv2d(u, x); }},
      {"conv2d", "weight", [] { conv2d(x, u); }},
      {"conv_transpose2d", "input", [] { conv_transpose2d(u, x); }},
      {"conv_transpose2d", "weight", [] { conv_transpose2d(x, u); }},
      {"conv1d", "input", [] { conv1d(u, x); }},
      {"conv1d", "weight", [] { conv1d(x, u); }},
      {"linear", "input", [] { linear(u, x); }},
      {"linear", "weight", [] { linear(x, u); }},
      {"embedding", "weight", [] { embedding(std::vector<int64_t>{0}, u); }},
      {"embedding", "weight", [] { embedding(index, u); }},
      {"embedding", "weight", [] { embedding({0}, u); }},
      {"batch_norm", "input", [] { batch_norm(u, Tensor(), Tensor(), Tensor(), Tensor(), true); }},
      {"instance_norm", "input", [] { instance_norm(u); }},
      {"group_norm", "input", [] { group_norm(u, 1); }},
      {"layer_norm", "input", [] { layer_norm(u, {3}); }},
      {"rms_norm", "input", [] { rms_norm(u, {3}); }},
      {"avg_pool2d", "input", [] { avg_pool2d(u, 2); }},
      {"max_pool2d", "input", [] { max_pool2d(u, 2); }},
      {"upsample_nearest2d", "input", [] { upsample_nearest2d(u, 2); }},
      {"scaled_dot_product_attention", "query", [] { scaled_dot_product_attention(u, x, x); }},
      {"scaled_dot_product_attention", "key", [] { scaled_dot_product_attention(x, u, x); }},
      {"scaled_dot_product_attention", "value", [] { scaled_dot_product_attention(x, x, u); }},
      {"additive_mask", "allowed", [] { additive_mask(u); }},
      // losses (class and element weights may be undefined)
      {"mse_loss", "input", [] { mse_loss(u, x); }},
      {"mse_loss", "target", [] { mse_loss(x, u); }},
      {"l1_loss", "input", [] { l1_loss(u, x); }},
      {"l1_loss", "target", [] { l1_loss(x, u); }},
      {"smooth_l1_loss", "input", [] { smooth_l1_loss(u, x); }},
      {"smooth_l1_loss", "target", [] { smooth_l1_loss(x, u); }},
      {"huber_loss", "input", [] { huber_loss(u, x); }},
      {"huber_loss", "target", [] { huber_loss(x, u); }},
      {"binary_cross_entropy", "input", [] { binary_cross_entropy(u, x); }},
      {"binary_cross_entropy", "target", [] { binary_cross_entropy(x, u); }},
      {"binary_cross_entropy_with_logits", "input", [] { binary_cross_entropy_with_logits(u, x); }},
      {"binary_cross_entropy_with_logits", "target", [] { binary_cross_entropy_with_logits(x, u); }},
      {"kl_div", "input", [] { kl_div(u, x); }},
      {"kl_div", "target", [] { kl_div(x, u); }},
      {"kl_div", "target", [] { kl_div(x, u, Reduction::Sum); }},
      {"nll_loss", "input", [] { nll_loss(u, index); }},
      {"cross_entropy", "input", [] { cross_entropy(u, index); }},
      {"cross_entropy", "input", [] { cross_entropy(u, x); }},
      {"cross_entropy", "target", [] { cross_entropy(x, u); }},
      {"cross_entropy", "input", [] { cross_entropy(u, std::vector<int64_t>{0}); }},
      // factories, autograd, optimisers, initialisers, io
      {"zeros_like", "input", [] { zeros_like(u); }},
      {"ones_like", "input", [] { ones_like(u); }},
      {"full_like", "input", [] { full_like(u, 1.0f); }},
      {"backward", "self", [] { u.backward(); }},
      {"SGD", "params[1]", [] { optim::SGD({x.detach().requires_grad_(), u}, optim::SGDOptions(0.1)); }},
      {"AdamW", "params[0]", [] { optim::AdamW({u}, optim::AdamWOptions(0.1)); }},
      {"clip_grad_norm_", "parameters[1]", [] { optim::clip_grad_norm_({x, u}, 1.0); }},
      {"clip_grad_value_", "parameters[0]", [] { optim::clip_grad_value_({u}, 1.0); }},
      {"constant_", "tensor", [] { nn::init::constant_(u, 1.0); }},
      {"constant_", "tensor", [] { nn::init::zeros_(u); }},
      {"uniform_", "tensor", [] { nn::init::uniform_(u); }},
      {"normal_", "tensor", [] { nn::init::normal_(u); }},
      {"kaiming_uniform_", "tensor", [] { nn::init::kaiming_uniform_(u); }},
      {"kaiming_normal_", "tensor", [] { nn::init::kaiming_normal_(u); }},
      {"xavier_uniform_", "tensor", [] { nn::init::xavier_uniform_(u); }},
      {"xavier_normal_", "tensor", [] { nn::init::xavier_normal_(u); }},
      {"calculate_fan_in_and_fan_out", "tensor", [] { nn::init::calculate_fan_in_and_fan_out(u); }},
      {"make_grid", "images", [] { io::make_grid(u); }},
      {"save_image_grid", "images", [] { io::save_image_grid("/nonexistent/undefined.png", u); }},
      // modules whose forward looks at the input before calling an op name themselves
      {"Linear", "input", [] { nn::Linear(3, 2).forward(u); }},
      {"GroupNorm", "input", [] { nn::GroupNorm(1, 2).forward(u); }},
      {"BatchNorm2d", "input", [] { nn::BatchNorm2d(2).forward(u); }},
      {"InstanceNorm2d", "input", [] { nn::InstanceNorm2d(2).forward(u); }},
      {"Embedding", "input", [] { nn::Embedding(nn::EmbeddingOptions(4, 2)).forward(u); }},
      {"Flatten", "input", [] { nn::Flatten().forward(u); }},
      {"MultiheadAttention", "key", [] { nn::MultiheadAttention(4, 2).forward(x, u, x); }},
      {"conv2d", "input", [] { nn::Conv2d(nn::Conv2dOptions(1, 1, 3)).forward(u); }},
      {"relu", "input", [] { nn::Sequential({std::make_shared<nn::ReLU>()}).forward(u); }},
  };
}

}  // namespace

TEST_CASE("an undefined tensor argument is reported under the op's name and the argument's name") {
  std::set<std::string> ops;
  for (const Case& c : cases()) {
    INFO(c.op, ", argument '", c.arg, "'");
    const std::string message = error_message(c.call);
    INFO("message: ", message);
    const std::string expected = c.op + ": '" + c.arg + "' is an undefined tensor (a default-constructed Tensor";
    CHECK(message.rfind(expected, 0) == 0);
    ops.insert(c.op);
  }
  MESSAGE(ops.size(), " calls checked for undefined tensor arguments");
}

TEST_CASE("every public function in include/tinydiff/ops has a row in the undefined-tensor table") {
  std::set<std::string> covered;
  for (const Case& c : cases()) covered.insert(c.fn.empty() ? c.op : c.fn);
  const std::set<std::string> names = test_helpers::public_ops(TINYDIFF_SOURCE_DIR "/include/tinydiff/ops");
  CHECK(names.size() >= 90);  // the scan found the headers (98 names when written)
  for (const std::string& name : names) {
    INFO("ops/ function without a row in tests/ops/test_undefined.cpp: ", name);
    CHECK(covered.count(name) == 1);
  }
}

TEST_CASE("saving an undefined tensor names its key") {
  const std::string message =
      error_message([] { io::save_safetensors("/nonexistent/undefined.safetensors", {{"w", Tensor()}}); });
  INFO("message: ", message);
  CHECK(message.find("'w' is an undefined tensor (a default-constructed Tensor") != std::string::npos);
}
