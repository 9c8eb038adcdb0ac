// DeepSeek-V3 router on sm_90: one warp per token (see sm90_moe.hpp).
#include <cfloat>

#include "common/cuda_util.hpp"
#include "moe/sm90_moe.hpp"

namespace fleetsim::kernels {
namespace {

constexpr int kExperts = 256, kGroups = 8, kTopkGroups = 4, kTopk = 8, kWarpsPerBlock = 8;

// Warp-wide argmax of (value, index): larger value wins, ties to the lower index.
__device__ __forceinline__ void warp_argmax(float& value, int& index) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    const float v = __shfl_xor_sync(0xFFFFFFFFu, value, offset);
    const int i = __shfl_xor_sync(0xFFFFFFFFu, index, offset);
    if (v > value || (v == value && i < index)) { value = v; index = i; }
  }
}

__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    router_kernel(const float* __restrict__ logits, const float* __restrict__ bias, int tokens, float route_scale,
                  int* __restrict__ topk_idx, float* __restrict__ topk_weight) {
  const int token = blockIdx.x * kWarpsPerBlock + static_cast<int>(threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  if (token >= tokens) return;
  const float* row = logits + static_cast<long long>(token) * kExperts;
  float s[kGroups], b[kGroups];  // this lane's expert in each group: lane + 32 * g
#pragma unroll
  for (int g = 0; g < kGroups; ++g) {
    const float x = __ldg(row + lane + 32 * g);
    s[g] = 1.0f / (1.0f + expf(-x));  // expf, not __expf: near-ties must order as on the CPU
    b[g] = s[g] + __ldg(bias + lane + 32 * g);
  }
  // Group score: sum of the two largest biased scores of the group's 32 experts (one per lane).
  float group_score[kGroups];
#pragma unroll
  for (int g = 0; g < kGroups; ++g) {
    float v1 = b[g];
    int i1 = lane;
    warp_argmax(v1, i1);
    float v2 = lane == i1 ? -FLT_MAX : b[g];
    int i2 = lane;
    warp_argmax(v2, i2);
    group_score[g] = v1 + v2;
  }
  // Keep the best kTopkGroups groups (same computation in every lane: no communication needed).
  unsigned kept = 0;
#pragma unroll
  for (int round = 0; round < kTopkGroups; ++round) {
    int best = -1;
#pragma unroll
    for (int g = 0; g < kGroups; ++g)
      if (!(kept & (1u << g)) && (best < 0 || group_score[g] > group_score[best])) best = g;
    kept |= 1u << best;
  }
  // Top-8 over the kept groups' experts: 8 rounds of warp argmax.
  float masked[kGroups];
#pragma unroll
  for (int g = 0; g < kGroups; ++g) masked[g] = (kept & (1u << g)) ? b[g] : -FLT_MAX;
  int picked_expert = -1;
  float picked_score = 0.0f, sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kTopk; ++k) {
    float best_v = -FLT_MAX;
    int best_e = 0x7FFFFFFF;
#pragma unroll
    for (int g = 0; g < kGroups; ++g) {
      const int e = lane + 32 * g;
      if (masked[g] > best_v || (masked[g] == best_v && e < best_e)) { best_v = masked[g]; best_e = e; }
    }
    warp_argmax(best_v, best_e);
    // The owner lane removes the winner and broadcasts its unbiased score.
    float winner_s = 0.0f;
#pragma unroll
    for (int g = 0; g < kGroups; ++g)
      if (lane + 32 * g == best_e) { masked[g] = -FLT_MAX; winner_s = s[g]; }
    winner_s = __shfl_sync(0xFFFFFFFFu, winner_s, best_e % 32);
    sum += winner_s;
    if (lane == k) { picked_expert = best_e; picked_score = winner_s; }
  }
  if (lane < kTopk) {
    topk_idx[static_cast<long long>(token) * kTopk + lane] = picked_expert;
    topk_weight[static_cast<long long>(token) * kTopk + lane] = picked_score / sum * route_scale;
  }
}

}  // namespace

void sm90_router(const float* logits, const float* bias, int tokens, float route_scale, int* topk_idx,
                 float* topk_weight, cudaStream_t stream) {
  if (tokens <= 0) return;
  const int blocks = (tokens + kWarpsPerBlock - 1) / kWarpsPerBlock;
  router_kernel<<<blocks, kWarpsPerBlock * 32, 0, stream>>>(logits, bias, tokens, route_scale, topk_idx, topk_weight);
  CUDA_CHECK_LAUNCH();
}

}  // namespace fleetsim::kernels
