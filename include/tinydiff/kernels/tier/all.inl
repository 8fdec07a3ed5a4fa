// One tier's kernels, in the order they build on each other (kernels/tiers.hpp includes this once
// per tier, inside the tier's namespace; no include guard, and no includes of its own).
#include "tinydiff/kernels/tier/gemm.inl"
#include "tinydiff/kernels/tier/patches.inl"
#include "tinydiff/kernels/tier/implicit.inl"
#include "tinydiff/kernels/tier/weight_grad.inl"
#include "tinydiff/kernels/tier/winograd.inl"
#include "tinydiff/kernels/tier/winograd4.inl"
#include "tinydiff/kernels/tier/elementwise.inl"
#include "tinydiff/kernels/tier/table.inl"
