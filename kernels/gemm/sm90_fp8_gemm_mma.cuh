// Device body of the mma.sync FP8 GEMM (the fallback and cross-check of the wgmma kernel; same function).
//
// One CTA (8 warps, 2 x 4) computes a 128 x 128 tile of D. A and B tiles of 128 x 128 bytes are double-buffered
// in shared memory with cp.async (rows padded to 144 bytes: conflict-free 32-bit fragment loads); each warp owns
// 64 x 32 of the tile as 4 x 4 mma.sync.m16n8k32 tiles. Per 128-K block the FP32 partial sums are promoted with
// sfa[row] * sfb like the wgmma kernel.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "common/sm90_ptx.cuh"
#include "gemm/sm90_fp8_gemm_config.cuh"

namespace fleetsim::kernels::gemm {

struct MmaConfig {
  static constexpr int kBlockM = 128;
  static constexpr int kThreads = 256;
  static constexpr int kRowBytes = kBlockK + 16;  // 144: fragment loads of a warp hit 32 distinct banks
  static constexpr int kTileBytes = 128 * kRowBytes;
  static constexpr int kSmemBytes = 2 * 2 * kTileBytes + 2 * kBlockM * 4;  // A, B double-buffered + sfa x 2
};

__global__ void __launch_bounds__(MmaConfig::kThreads)
    sm90_fp8_gemm_mma_kernel(const GemmParams p) {
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 890)
  constexpr int kBM = MmaConfig::kBlockM;
  const Tile tile = tile_of<kBM>(p, static_cast<int>(blockIdx.x));
  if (tile.skip) return;
  extern __shared__ __align__(16) std::uint8_t smem[];
  std::uint8_t* sa_tiles = smem;                                   // [2][128][144]
  std::uint8_t* sb_tiles = smem + 2 * MmaConfig::kTileBytes;       // [2][128][144]
  float* s_sfa = reinterpret_cast<float*>(smem + 4 * MmaConfig::kTileBytes);  // [2][128]

  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid / 32, lane = tid % 32;
  const int warp_m = warp / 4, warp_n = warp % 4;  // 2 x 4 warps: 64 rows x 32 columns each
  const int g = lane / 4, t = lane % 4;
  const int n_valid = p.n - tile.n0;  // columns of this tile inside the group's N

  auto load_stage = [&](int kb, int buf) {
    // 128 rows x 8 chunks of 16 bytes for A and B: 1024 chunks each over 256 threads.
#pragma unroll
    for (int it = 0; it < 4; ++it) {
      const int chunk = it * 256 + tid;
      const int row = chunk / 8, col = (chunk % 8) * 16;
      const int arow = tile.a_row0 + row;
      const bool a_ok = arow < tile.row_limit;
      const std::uint8_t* asrc = p.a + (a_ok ? static_cast<long long>(arow) * p.k + kb * kBlockK + col : 0);
      ptx::cp_async_16(sa_tiles + buf * MmaConfig::kTileBytes + row * MmaConfig::kRowBytes + col, asrc, a_ok ? 16 : 0);
      const bool b_ok = row < n_valid;
      const std::uint8_t* bsrc = p.b + (b_ok ? static_cast<long long>(tile.b_row0 + row) * p.k + kb * kBlockK + col : 0);
      ptx::cp_async_16(sb_tiles + buf * MmaConfig::kTileBytes + row * MmaConfig::kRowBytes + col, bsrc, b_ok ? 16 : 0);
    }
    if (tid < kBM) {  // 128 scales of A, one float each: a group's first row need not be a multiple of 4 (masked
                      // layout, 1..3 rows per group), so 16-byte copies would be misaligned; 0 past the valid rows
      const bool ok = tile.a_row0 + tid < tile.row_limit;
      const float* src = p.sfa + (ok ? static_cast<long long>(kb) * p.sfa_ld + tile.a_row0 + tid : 0);
      ptx::cp_async_4(s_sfa + buf * kBM + tid, src, ok ? 4 : 0);
    }
    ptx::cp_async_commit();
  };

  float final_accum[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) final_accum[i][j][e] = 0.0f;

  load_stage(0, 0);
  for (int kb = 0; kb < p.k_blocks; ++kb) {
    const int buf = kb & 1;
    if (kb + 1 < p.k_blocks) {
      load_stage(kb + 1, buf ^ 1);
      ptx::cp_async_wait<1>();
    } else {
      ptx::cp_async_wait<0>();
    }
    __syncthreads();
    const std::uint8_t* at = sa_tiles + buf * MmaConfig::kTileBytes;
    const std::uint8_t* bt = sb_tiles + buf * MmaConfig::kTileBytes;
    float accum[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) accum[i][j][e] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < kBlockK / 32; ++ks) {
      std::uint32_t bf[4][2];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const std::uint8_t* brow = bt + (warp_n * 32 + j * 8 + g) * MmaConfig::kRowBytes + ks * 32 + t * 4;
        bf[j][0] = *reinterpret_cast<const std::uint32_t*>(brow);
        bf[j][1] = *reinterpret_cast<const std::uint32_t*>(brow + 16);
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const std::uint8_t* arow = at + (warp_m * 64 + i * 16 + g) * MmaConfig::kRowBytes + ks * 32 + t * 4;
        std::uint32_t af[4];
        af[0] = *reinterpret_cast<const std::uint32_t*>(arow);
        af[1] = *reinterpret_cast<const std::uint32_t*>(arow + 8 * MmaConfig::kRowBytes);
        af[2] = *reinterpret_cast<const std::uint32_t*>(arow + 16);
        af[3] = *reinterpret_cast<const std::uint32_t*>(arow + 8 * MmaConfig::kRowBytes + 16);
#pragma unroll
        for (int j = 0; j < 4; ++j) ptx::mma_e4m3_16832(accum[i][j], af, bf[j]);
      }
    }
    const float sb = __ldg(tile.sfb + kb);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float s0 = s_sfa[buf * kBM + warp_m * 64 + i * 16 + g] * sb;
      const float s1 = s_sfa[buf * kBM + warp_m * 64 + i * 16 + g + 8] * sb;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        final_accum[i][j][0] += s0 * accum[i][j][0];
        final_accum[i][j][1] += s0 * accum[i][j][1];
        final_accum[i][j][2] += s1 * accum[i][j][2];
        final_accum[i][j][3] += s1 * accum[i][j][3];
      }
    }
    __syncthreads();  // everyone is done with `buf` before the next iteration's load overwrites it
  }

#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int col = warp_n * 32 + j * 8 + 2 * t;
      if (col >= n_valid) continue;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int grow = tile.a_row0 + warp_m * 64 + i * 16 + g + 8 * h;
        if (grow < tile.row_limit)
          *reinterpret_cast<__nv_bfloat162*>(p.d + static_cast<long long>(grow) * p.n + tile.n0 + col) =
              __floats2bfloat162_rn(final_accum[i][j][2 * h], final_accum[i][j][2 * h + 1]);
      }
    }
#else
  if (blockIdx.x == 0 && threadIdx.x == 0) __trap();
#endif
}

}  // namespace fleetsim::kernels::gemm
