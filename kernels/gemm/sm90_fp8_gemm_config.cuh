// Configuration and tile scheduling shared by both FP8 GEMM implementations (device + host).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "gemm/sm90_fp8_gemm.hpp"

namespace fleetsim::kernels::gemm {

constexpr int kBlockN = 128;  // one 128-wide weight-scale block per tile: a single B scale per K block
constexpr int kBlockK = 128;  // one activation/weight scale per K block

// Kernel parameters (plain data, passed by value).
struct GemmParams {
  int layout;        // GemmLayout as int
  int m, n, k, groups;
  int m_blocks;      // per group (masked) or in total (normal, contiguous)
  int n_blocks;      // ceil(n / kBlockN)
  int k_blocks;      // k / kBlockK
  int sfa_ld;
  const std::uint8_t* a;
  const float* sfa;
  const std::uint8_t* b;
  const float* sfb;
  __nv_bfloat16* d;
  const int* m_indices;
  const int* masked_m;
};

struct Tile {
  bool skip;        // nothing to compute (a padding block or a block past masked_m)
  int a_row0;       // first row of A (and of D) of the tile, in the flattened rows of A
  int row_limit;    // rows of A/D at or past this are not valid for the tile
  int n0;           // first column of D (within the group)
  int b_row0;       // first row of B (flattened over groups)
  const float* sfb; // the k_blocks B scales of this tile's 128 columns
};

// Tiles of D: m_blocks x n_blocks, once per group in the masked layout (the others flatten the groups into M).
// The launchers size the grid with it; the persistent wgmma kernel walks it.
__host__ __device__ inline int tile_count(const GemmParams& p) {
  return static_cast<int>(static_cast<long long>(p.m_blocks) * p.n_blocks *
                          (p.layout == static_cast<int>(GemmLayout::kGroupedMasked) ? p.groups : 1));
}

template <int kBlockM>
__device__ __forceinline__ Tile tile_of(const GemmParams& p, int tile) {
  Tile t{};
  int group = 0, m_block, n_block;
  if (p.layout == static_cast<int>(GemmLayout::kGroupedMasked)) {
    const int per_group = p.m_blocks * p.n_blocks;
    group = tile / per_group;
    const int rem = tile - group * per_group;
    m_block = rem % p.m_blocks;
    n_block = rem / p.m_blocks;
    const int valid = __ldg(p.masked_m + group);
    t.skip = m_block * kBlockM >= valid;
    t.a_row0 = group * p.m + m_block * kBlockM;
    t.row_limit = group * p.m + valid;
  } else {
    m_block = tile % p.m_blocks;
    n_block = tile / p.m_blocks;
    t.a_row0 = m_block * kBlockM;
    t.row_limit = p.m;
    t.skip = false;
    if (p.layout == static_cast<int>(GemmLayout::kGroupedContiguous)) {
      group = __ldg(p.m_indices + t.a_row0);
      t.skip = group < 0;
      if (group < 0) group = 0;
    }
  }
  t.n0 = n_block * kBlockN;
  t.b_row0 = group * p.n + t.n0;
  t.sfb = p.sfb + (static_cast<long long>(group) * p.n_blocks + n_block) * p.k_blocks;
  return t;
}

}  // namespace fleetsim::kernels::gemm
