// Device body of the wgmma FP8 GEMM with 1x128 activation and 128x128 weight scales (sm_90a).
//
// A persistent grid (at most one CTA per SM) walks the BLOCK_M x 128 tiles of D, tile = blockIdx.x + i * gridDim.x:
// the producer runs on into the next tile's loads while the consumers write the last tile's epilogue, and the
// stage ring's phases carry over from tile to tile (one K-block counter for the CTA's whole life). The first
// version launched one CTA per tile, paying the pipeline fill and the epilogue on every tile: 526-859 TFLOPS at
// M = 4096 on the H200 (profiles/h200-measured, 2026-11-28). Warpgroups 0..kMathWG-1 are consumers
// (wgmma, 64 rows each); the last warpgroup is the producer, one thread of which issues the TMA loads of A and B
// into a kStages-deep ring of shared-memory stages guarded by "full" and "empty" mbarriers. A's scales come one of
// two ways (kSfaTma): with TMA into the same stages when every tile starts at a row that is a multiple of 4 (dense,
// contiguous, masked with m % 4 == 0), else read by the consumers themselves (two floats per thread per K block,
// issued before the stage's wait, 0 past the tile's valid rows): a TMA box of scales starting at a row that is not
// a multiple of 4 (masked, 1..3 rows per group) hung the kernel on an H200, and the consumer loads cost the dense
// shapes 10-25% (profiles/h200-measured, calibration runs of 2026-11-28).
// Per 128-K block, a consumer runs four m64n128k32 wgmmas into a scratch accumulator, waits for them, then
// promotes: final += scratch * sfa[row] * sfb (FP32), as DeepGEMM does. The epilogue stages the BF16 tile in
// padded shared memory and writes 16-byte vectors to global memory, guarded by the valid rows and columns.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>

#include <cstdint>

#include "common/sm90_ptx.cuh"
#include "gemm/sm90_fp8_gemm_config.cuh"

namespace fleetsim::kernels::gemm {

#include "gemm/sm90_wgmma_m64n128k32.inc"

template <int kBlockM, int kStages>
struct WgmmaConfig {
  static constexpr int kSfaBytes = kBlockM * 4;
  static constexpr int kMathWG = kBlockM / 64;
  static constexpr int kThreads = (kMathWG + 1) * 128;
  static constexpr int kMathThreads = kMathWG * 128;
  static constexpr int kABytes = kBlockM * kBlockK;       // fp8: one byte per element
  static constexpr int kBBytes = kBlockN * kBlockK;
  static constexpr int kDStride = kBlockN + 8;            // bf16 elements per staged row (272 bytes: no conflicts)
  static constexpr int kDBytes = kBlockM * kDStride * 2;
  static constexpr int kAOff = 0;
  static constexpr int kBOff = kAOff + kStages * kABytes;
  static constexpr int kSfaOff = kBOff + kStages * kBBytes;
  static constexpr int kDOff = kSfaOff + kStages * kSfaBytes;
  static constexpr int kBarOff = (kDOff + kDBytes + 7) / 8 * 8;
  static constexpr int kSmemBytes = kBarOff + 2 * kStages * 8 + 1024;  // + slack to align the base to 1024
  static_assert(kABytes % 1024 == 0 && kBBytes % 1024 == 0, "swizzle-128B tiles need 1024-byte alignment");
};

template <int kBlockM, int kStages, bool kSfaTma>
__global__ void __launch_bounds__(WgmmaConfig<kBlockM, kStages>::kThreads, 1)
    sm90_fp8_gemm_1d2d_kernel(const __grid_constant__ CUtensorMap tmap_a, const __grid_constant__ CUtensorMap tmap_b,
                              const __grid_constant__ CUtensorMap tmap_sfa, const GemmParams p) {
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Cfg = WgmmaConfig<kBlockM, kStages>;
  const int num_tiles = tile_count(p);

  extern __shared__ std::uint8_t smem_raw[];
  std::uint8_t* smem = reinterpret_cast<std::uint8_t*>((reinterpret_cast<std::uintptr_t>(smem_raw) + 1023) & ~std::uintptr_t(1023));
  std::uint8_t* smem_a = smem + Cfg::kAOff;
  std::uint8_t* smem_b = smem + Cfg::kBOff;
  float* smem_sfa = reinterpret_cast<float*>(smem + Cfg::kSfaOff);
  __nv_bfloat16* smem_d = reinterpret_cast<__nv_bfloat16*>(smem + Cfg::kDOff);
  std::uint64_t* full = reinterpret_cast<std::uint64_t*>(smem + Cfg::kBarOff);
  std::uint64_t* empty = full + kStages;

  const int tid = static_cast<int>(threadIdx.x);
  if (tid == Cfg::kMathThreads) {
    ptx::prefetch_tensor_map(&tmap_a);
    ptx::prefetch_tensor_map(&tmap_b);
    if constexpr (kSfaTma) ptx::prefetch_tensor_map(&tmap_sfa);
    for (int s = 0; s < kStages; ++s) {
      ptx::mbar_init(&full[s], 1);                      // the producer's arrive_expect_tx
      ptx::mbar_init(&empty[s], Cfg::kMathThreads / 32);  // one arrival per consumer warp
    }
    ptx::fence_barrier_init();
    ptx::fence_proxy_async_shared();
  }
  __syncthreads();

  if (tid >= Cfg::kMathThreads) {
    // Producer warpgroup: give registers away; one thread issues every load.
    ptx::setmaxnreg_dec<40>();
    if (tid == Cfg::kMathThreads) {
      unsigned iter = 0;  // K blocks loaded over all of this CTA's tiles: stage = iter % kStages
      for (int tile_idx = static_cast<int>(blockIdx.x); tile_idx < num_tiles; tile_idx += static_cast<int>(gridDim.x)) {
        const Tile tile = tile_of<kBlockM>(p, tile_idx);
        if (tile.skip) continue;  // the consumers skip the same tiles
        for (int kb = 0; kb < p.k_blocks; ++kb, ++iter) {
          const unsigned s = iter % kStages;
          ptx::mbar_wait(&empty[s], ((iter / kStages) + 1) & 1);
          ptx::mbar_arrive_expect_tx(&full[s], Cfg::kABytes + Cfg::kBBytes + (kSfaTma ? Cfg::kSfaBytes : 0));
          ptx::tma_load_2d(smem_a + s * Cfg::kABytes, &tmap_a, &full[s], kb * kBlockK, tile.a_row0);
          ptx::tma_load_2d(smem_b + s * Cfg::kBBytes, &tmap_b, &full[s], kb * kBlockK, tile.b_row0);
          if constexpr (kSfaTma) ptx::tma_load_2d(smem_sfa + s * kBlockM, &tmap_sfa, &full[s], tile.a_row0, kb);
        }
      }
    }
  } else {
    ptx::setmaxnreg_inc<232>();
    const int wg = tid / 128;             // consumer warpgroup: rows wg*64 .. wg*64+63 of the tile
    const int warp = (tid % 128) / 32;    // warp in the warpgroup: rows warp*16 .. +15 of those
    const int lane = tid % 32;
    const int r0 = wg * 64 + warp * 16 + lane / 4;  // tile rows of this thread's accumulators: r0 and r0 + 8
    unsigned iter = 0;  // K blocks consumed over all of this CTA's tiles, in step with the producer's count
    for (int tile_idx = static_cast<int>(blockIdx.x); tile_idx < num_tiles; tile_idx += static_cast<int>(gridDim.x)) {
      const Tile tile = tile_of<kBlockM>(p, tile_idx);
      if (tile.skip) continue;
      // A's scales of those rows (sfa is K-block-major: sfa[kb * sfa_ld + row]); 0 past the tile's valid rows.
      const bool valid0 = tile.a_row0 + r0 < tile.row_limit, valid1 = tile.a_row0 + r0 + 8 < tile.row_limit;
      const float* sfa0 = p.sfa + tile.a_row0 + r0;
      float accum[64];
      float final_accum[64];
#pragma unroll
      for (int i = 0; i < 64; ++i) final_accum[i] = 0.0f;

      for (int kb = 0; kb < p.k_blocks; ++kb, ++iter) {
        const unsigned s = iter % kStages;
        const float sb = __ldg(tile.sfb + kb);
        float a0 = 0.0f, a1 = 0.0f;
        if constexpr (!kSfaTma) {
          a0 = valid0 ? __ldg(sfa0 + static_cast<long long>(kb) * p.sfa_ld) : 0.0f;
          a1 = valid1 ? __ldg(sfa0 + static_cast<long long>(kb) * p.sfa_ld + 8) : 0.0f;
        }
        ptx::mbar_wait(&full[s], (iter / kStages) & 1);
        if constexpr (kSfaTma) {
          a0 = smem_sfa[s * kBlockM + r0];
          a1 = smem_sfa[s * kBlockM + r0 + 8];
        }
        const float sa0 = a0 * sb;
        const float sa1 = a1 * sb;
        const std::uint8_t* a_tile = smem_a + s * Cfg::kABytes + wg * 64 * kBlockK;
        const std::uint8_t* b_tile = smem_b + s * Cfg::kBBytes;
#pragma unroll
        for (int i = 0; i < 64; ++i) ptx::fence_operand(accum[i]);
        ptx::wgmma_fence();
#pragma unroll
        for (int ks = 0; ks < kBlockK / 32; ++ks)
          wgmma_m64n128k32_e4m3(accum, ptx::smem_desc_sw128(a_tile + ks * 32), ptx::smem_desc_sw128(b_tile + ks * 32),
                                ks);
        ptx::wgmma_commit();
#pragma unroll
        for (int i = 0; i < 64; ++i) ptx::fence_operand(accum[i]);
        ptx::wgmma_wait<0>();
        if (lane == 0) ptx::mbar_arrive(&empty[s]);  // this warp is done reading stage s
#pragma unroll
        for (int i = 0; i < 16; ++i) {
          final_accum[i * 4 + 0] += sa0 * accum[i * 4 + 0];
          final_accum[i * 4 + 1] += sa0 * accum[i * 4 + 1];
          final_accum[i * 4 + 2] += sa1 * accum[i * 4 + 2];
          final_accum[i * 4 + 3] += sa1 * accum[i * 4 + 3];
        }
      }

      // Epilogue. Accumulator i*4+{0,1}: row r0, columns i*8 + 2*(lane%4) + {0,1}; i*4+{2,3}: row r0 + 8.
      const int c = 2 * (lane % 4);
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        *reinterpret_cast<__nv_bfloat162*>(&smem_d[r0 * Cfg::kDStride + i * 8 + c]) =
            __floats2bfloat162_rn(final_accum[i * 4 + 0], final_accum[i * 4 + 1]);
        *reinterpret_cast<__nv_bfloat162*>(&smem_d[(r0 + 8) * Cfg::kDStride + i * 8 + c]) =
            __floats2bfloat162_rn(final_accum[i * 4 + 2], final_accum[i * 4 + 3]);
      }
      ptx::named_barrier_sync(1 + wg, 128);  // this warpgroup's 64 staged rows are complete
      const int t = tid % 128;
#pragma unroll
      for (int it = 0; it < 8; ++it) {  // 64 rows x 16 chunks of 8 bf16 = 1024 chunks over 128 threads
        const int chunk = it * 128 + t;
        const int row = wg * 64 + chunk / 16;
        const int col = (chunk % 16) * 8;
        const int grow = tile.a_row0 + row;
        if (grow < tile.row_limit && tile.n0 + col < p.n) {
          const uint4 v = *reinterpret_cast<const uint4*>(&smem_d[row * Cfg::kDStride + col]);
          *reinterpret_cast<uint4*>(p.d + static_cast<long long>(grow) * p.n + tile.n0 + col) = v;
        }
      }
      ptx::named_barrier_sync(1 + wg, 128);  // the staged rows are read out before the next tile overwrites them
    }                                        // tiles
  }
#else
  if (blockIdx.x == 0 && threadIdx.x == 0) __trap();  // built without sm_90a: refuse to produce garbage
#endif
}

}  // namespace fleetsim::kernels::gemm
