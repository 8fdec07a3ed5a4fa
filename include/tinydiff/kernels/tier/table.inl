// The tier's table of kernels (kernels/tier_api.hpp), the last part of a tier
// (included by kernels/tiers.hpp inside the tier's namespace).

inline const TierKernels& table() {
  static const TierKernels kernels{kIsa,
                                   kLanes,
                                   kRows,
                                   static_cast<int>(kPanelColumns),
                                   &gemm_prepare,
                                   &gemm_panel_count,
                                   &gemm_panels,
                                   &pack_weight_blocks,
                                   &im2col,
                                   &col2im,
                                   &transpose,
                                   &implicit_conv_tiles,
                                   &phases_implicit_tiles,
                                   &store_strided,
                                   &interleave_rows,
                                   &weight_grad_direct,
                                   &winograd_input,
                                   &winograd_output,
                                   &winograd_output_grad,
                                   &winograd4_input,
                                   &winograd4_output,
                                   &winograd4_output_grad,
                                   &silu_forward,
                                   &silu_backward,
                                   &group_norm_forward_block,
                                   &group_norm_backward_block,
                                   &adam_update};
  return kernels;
}
