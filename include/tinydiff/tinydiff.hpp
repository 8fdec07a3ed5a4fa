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
#include "tinydiff/ops/binary.hpp"
#include "tinydiff/ops/loss.hpp"
#include "tinydiff/ops/matmul.hpp"
#include "tinydiff/ops/methods.hpp"
#include "tinydiff/ops/reduce.hpp"
#include "tinydiff/ops/shape_ops.hpp"
#include "tinydiff/ops/unary.hpp"

#define TINYDIFF_VERSION_MAJOR 0
#define TINYDIFF_VERSION_MINOR 1
#define TINYDIFF_VERSION_PATCH 0
