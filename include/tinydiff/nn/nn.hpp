#pragma once
// tinydiff::nn: modules and layers (torch.nn's names, options and defaults).
#include "tinydiff/nn/activation.hpp"
#include "tinydiff/nn/attention.hpp"
#include "tinydiff/nn/conv.hpp"
#include "tinydiff/nn/dropout.hpp"
#include "tinydiff/nn/embedding.hpp"
#include "tinydiff/nn/init.hpp"
#include "tinydiff/nn/linear.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/nn/norm.hpp"
#include "tinydiff/nn/sequential.hpp"
