// The online-softmax bookkeeping both MLA kernels share (FlashAttention's running max and sum, log2 domain), for
// a warp holding two rows of scores per thread as an m16n8 MMA C fragment: rows g and g + 8, each spread over the
// four threads of a quad.
#pragma once

#include <cuda_runtime.h>

namespace fleetsim::kernels::attention_detail {

// Folds this tile's row maxima into the running maxima; corr[r] is the factor that rescales what was accumulated
// under the old maximum.
__device__ __forceinline__ void update_running_max(float tile_max[2], float m_run[2], float corr[2]) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xFFFFFFFFu, tile_max[r], 1));
    tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xFFFFFFFFu, tile_max[r], 2));
    const float m_new = fmaxf(m_run[r], tile_max[r]);
    corr[r] = exp2f(m_run[r] - m_new);
    m_run[r] = m_new;
  }
}

// Adds this tile's row sums (summed over the quad) to the running sums and rescales the output accumulator's
// kTiles C fragments by corr.
template <int kTiles>
__device__ __forceinline__ void rescale_running_sums(float row_sum[2], const float corr[2], float l_run[2],
                                                     float (&o)[kTiles][4]) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    row_sum[r] += __shfl_xor_sync(0xFFFFFFFFu, row_sum[r], 1);
    row_sum[r] += __shfl_xor_sync(0xFFFFFFFFu, row_sum[r], 2);
    l_run[r] = l_run[r] * corr[r] + row_sum[r];
  }
#pragma unroll
  for (int i = 0; i < kTiles; ++i) {
    o[i][0] *= corr[0];
    o[i][1] *= corr[0];
    o[i][2] *= corr[1];
    o[i][3] *= corr[1];
  }
}

}  // namespace fleetsim::kernels::attention_detail
