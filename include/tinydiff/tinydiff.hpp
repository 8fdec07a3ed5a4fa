#pragma once
// tinydiff: a header-only tensor and reverse-mode autograd library.
// Include this one header; everything lives in namespace tinydiff.
#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/error.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/core/generator.hpp"
#include "tinydiff/core/parallel.hpp"
#include "tinydiff/core/shape.hpp"
#include "tinydiff/core/tensor.hpp"
#include "tinydiff/io/checkpoint.hpp"
#include "tinydiff/io/safetensors.hpp"
#include "tinydiff/nn/nn.hpp"
#include "tinydiff/ops/activation.hpp"
#include "tinydiff/ops/binary.hpp"
#include "tinydiff/ops/conv.hpp"
#include "tinydiff/ops/dropout.hpp"
#include "tinydiff/ops/embedding.hpp"
#include "tinydiff/ops/linear.hpp"
#include "tinydiff/ops/loss.hpp"
#include "tinydiff/ops/loss_nn.hpp"
#include "tinydiff/ops/matmul.hpp"
#include "tinydiff/ops/methods.hpp"
#include "tinydiff/ops/norm.hpp"
#include "tinydiff/ops/pool.hpp"
#include "tinydiff/ops/reduce.hpp"
#include "tinydiff/ops/shape_ops.hpp"
#include "tinydiff/ops/unary.hpp"
#include "tinydiff/optim/adam.hpp"
#include "tinydiff/optim/clip_grad.hpp"
#include "tinydiff/optim/ema.hpp"
#include "tinydiff/optim/lr_scheduler.hpp"
#include "tinydiff/optim/optimizer.hpp"
#include "tinydiff/optim/sgd.hpp"
#include "tinydiff/simd/cpu_info.hpp"

#define TINYDIFF_VERSION_MAJOR 0
#define TINYDIFF_VERSION_MINOR 1
#define TINYDIFF_VERSION_PATCH 0
