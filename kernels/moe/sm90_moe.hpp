// MoE kernels on one GPU: the router (DeepSeek-V3 Gate) and token permute / unpermute (the on-GPU halves of
// dispatch and combine). Functions enqueue on `stream` and throw CudaError on a launch failure.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace fleetsim::kernels {

// Fixed to DeepSeek-V3's routing: 256 experts in 8 groups of 32, 4 groups per token, top-8, route scale 2.5.
// logits: tokens x 256 FP32 (the gate GEMM's output), bias: 256 FP32 (e_score_correction_bias).
// Outputs: topk_idx tokens x 8 (int32, in descending order of biased score), topk_weight tokens x 8 (FP32).
// One warp per token; each lane holds one expert of every group (lane + 32 * group).
void sm90_router(const float* logits, const float* bias, int tokens, float route_scale, int* topk_idx,
                 float* topk_weight, cudaStream_t stream);

// Permute: copies x (tokens x hidden BF16) into per-expert contiguous rows, each expert's segment padded to a
// multiple of `align` rows. Three launches: count copies per expert, scan the counts (one block) into
// expert_begin (experts + 1 ints), then scatter (slots inside a segment are taken with atomics, so their order
// varies; ref::validate_layout checks such a layout). Writes dest_row (tokens x topk) and m_indices (rows: expert
// or -1; its length is the scan's total, at most tokens*topk + experts*(align-1)). `workspace` holds
// 2 * experts ints. hidden must be a multiple of 8.
struct PermuteBuffers {
  int* expert_begin;  // experts + 1
  int* dest_row;      // tokens * topk
  int* m_indices;     // capacity rows
  int* workspace;     // 2 * experts
  std::uint16_t* out; // capacity rows x hidden
  int capacity;       // rows allocated for out / m_indices
};
void sm90_permute(const std::uint16_t* x, const int* topk_idx, int tokens, int hidden, int topk, int experts, int align,
                  const PermuteBuffers& buffers, cudaStream_t stream);
// The scatter alone, given a layout (dest_row) already computed: what a pipeline re-runs per layer. Timed as
// "permute" in the benchmarks (the counting and scan are a few microseconds on top).
void sm90_permute_scatter(const std::uint16_t* x, const int* dest_row, int tokens, int hidden, int topk,
                          std::uint16_t* out, cudaStream_t stream);

// Unpermute (combine): out[t] = sum_k weight[t][k] * y[dest_row[t][k]] in FP32, stored as BF16.
void sm90_unpermute(const std::uint16_t* y, const int* dest_row, const float* weight, int tokens, int hidden, int topk,
                    std::uint16_t* out, cudaStream_t stream);

}  // namespace fleetsim::kernels
