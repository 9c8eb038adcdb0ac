// MLA decode over a paged latent cache on sm_90 (see sm90_mla.hpp).
//
// CTA: 4 warps, 16 query heads of one sequence, a range of 64-token cache blocks (split-KV). Each cache block
// (64 x 576 BF16, 72 KiB) is loaded once with cp.async (double-buffered) and serves all 16 heads:
//   S (16 x 64) = Q K^T: warp w computes keys 16w..16w+15 over the 576 dims (mma.sync m16n8k16), S goes to
//   shared memory; every warp then reads all of S, runs the same online softmax, and computes its own quarter
//   (128 of 512 dims) of O += P V, V being the first 512 columns of the same cache rows.
// A combine kernel merges the splits' partial outputs by log-sum-exp.
#include <cuda_bf16.h>

#include <algorithm>
#include <cfloat>

#include "attention/online_softmax.cuh"
#include "attention/sm90_mla.hpp"
#include "common/cuda_util.hpp"
#include "common/sm90_ptx.cuh"

namespace fleetsim::kernels {
namespace {

constexpr int kD = 576, kDv = 512, kBlock = 64, kHeads = 16, kThreads = 128, kMaxSplits = 64;
constexpr int kStride = kD + 8;  // 1168 bytes per smem row: conflict-free fragment loads and ldmatrix
constexpr int kSStride = kBlock + 4;
constexpr int kQBytes = kHeads * kStride * 2;
constexpr int kKvBytes = kBlock * kStride * 2;
constexpr int kSBytes = kHeads * kSStride * 4;
constexpr int kSmemBytes = kQBytes + 2 * kKvBytes + kSBytes;

__device__ __forceinline__ std::uint32_t ld32(const __nv_bfloat16* p) { return *reinterpret_cast<const std::uint32_t*>(p); }

__device__ __forceinline__ void load_rows(__nv_bfloat16* smem, const __nv_bfloat16* gmem, int rows, int valid_rows) {
  const int chunks = rows * (kD / 8);
  for (int c = threadIdx.x; c < chunks; c += kThreads) {
    const int row = c / (kD / 8), col = (c % (kD / 8)) * 8;
    const bool ok = row < valid_rows;
    ptx::cp_async_16(smem + row * kStride + col, ok ? gmem + static_cast<long long>(row) * kD + col : gmem, ok ? 16 : 0);
  }
}

__global__ void __launch_bounds__(kThreads, 1)
    mla_decode_kernel(const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ cache,
                      const int* __restrict__ block_table, const int* __restrict__ seqlens, int heads, int max_blocks,
                      int blocks_per_split, int splits, float scale_log2, float* __restrict__ o_part,
                      float* __restrict__ lse_part) {
  extern __shared__ __align__(16) std::uint8_t smem[];
  __nv_bfloat16* sq = reinterpret_cast<__nv_bfloat16*>(smem);
  auto skv = [&](int i) { return reinterpret_cast<__nv_bfloat16*>(smem + kQBytes + i * kKvBytes); };
  float* ss = reinterpret_cast<float*>(smem + kQBytes + 2 * kKvBytes);

  const int hg = blockIdx.x, split = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int h0 = hg * kHeads;
  const int len = seqlens[b];
  const int nblocks = (len + kBlock - 1) / kBlock;
  const int begin = split * blocks_per_split;
  const int end = min(begin + blocks_per_split, nblocks);
  const long long part_row = (static_cast<long long>(b) * splits + split) * heads;  // first (b, split, head 0) row

  if (begin >= end) {  // nothing for this split: mark it empty for the combine
    if (threadIdx.x < kHeads && h0 + threadIdx.x < heads) lse_part[part_row + h0 + threadIdx.x] = -INFINITY;
    return;
  }
  const int* table = block_table + static_cast<long long>(b) * max_blocks;
  load_rows(sq, q + (static_cast<long long>(b) * heads + h0) * kD, kHeads, heads - h0);
  load_rows(skv(0), cache + static_cast<long long>(table[begin]) * kBlock * kD, kBlock, len - begin * kBlock);
  ptx::cp_async_commit();

  float o[16][4];  // 16 rows x this warp's 128 dims
#pragma unroll
  for (int i = 0; i < 16; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m_run[2] = {-FLT_MAX, -FLT_MAX}, l_run[2] = {0.0f, 0.0f};

  for (int blk = begin; blk < end; ++blk) {
    const int buf = (blk - begin) & 1;
    if (blk + 1 < end) {
      load_rows(skv(buf ^ 1), cache + static_cast<long long>(table[blk + 1]) * kBlock * kD, kBlock, len - (blk + 1) * kBlock);
      ptx::cp_async_commit();
      ptx::cp_async_wait<1>();
    } else {
      ptx::cp_async_wait<0>();
    }
    __syncthreads();
    const __nv_bfloat16* kv = skv(buf);
    // S for keys 16*warp .. +15.
    float s[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
#pragma unroll 4
    for (int ks = 0; ks < kD / 16; ++ks) {
      const __nv_bfloat16* qa = sq + g * kStride + ks * 16 + 2 * t;
      const std::uint32_t af[4] = {ld32(qa), ld32(qa + 8 * kStride), ld32(qa + 8), ld32(qa + 8 * kStride + 8)};
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        const __nv_bfloat16* kb = kv + (warp * 16 + n * 8 + g) * kStride + ks * 16 + 2 * t;
        const std::uint32_t bf[2] = {ld32(kb), ld32(kb + 8)};
        ptx::mma_bf16_16816(s[n], af, bf);
      }
    }
    const int key0 = blk * kBlock;
#pragma unroll
    for (int n = 0; n < 2; ++n)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int col = warp * 16 + n * 8 + 2 * t;
        float2 val;
        val.x = key0 + col < len ? s[n][2 * r] * scale_log2 : -FLT_MAX;
        val.y = key0 + col + 1 < len ? s[n][2 * r + 1] * scale_log2 : -FLT_MAX;
        *reinterpret_cast<float2*>(&ss[(g + 8 * r) * kSStride + col]) = val;
      }
    __syncthreads();
    // Online softmax over the 64 keys (identical in every warp), P as BF16 A fragments.
    float p[4][2][4];  // [k-step][row half][element]
    float tile_max[2] = {-FLT_MAX, -FLT_MAX};
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const float2 lo = *reinterpret_cast<const float2*>(&ss[(g + 8 * r) * kSStride + kk * 16 + 2 * t]);
        const float2 hi = *reinterpret_cast<const float2*>(&ss[(g + 8 * r) * kSStride + kk * 16 + 8 + 2 * t]);
        p[kk][r][0] = lo.x; p[kk][r][1] = lo.y; p[kk][r][2] = hi.x; p[kk][r][3] = hi.y;
        tile_max[r] = fmaxf(tile_max[r], fmaxf(fmaxf(lo.x, lo.y), fmaxf(hi.x, hi.y)));
      }
    float corr[2], row_sum[2] = {0.0f, 0.0f};
    attention_detail::update_running_max(tile_max, m_run, corr);
    std::uint32_t pf[4][4];
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
      for (int r = 0; r < 2; ++r)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float x = p[kk][r][e];
          p[kk][r][e] = x == -FLT_MAX ? 0.0f : exp2f(x - m_run[r]);
          row_sum[r] += p[kk][r][e];
        }
      // A fragment of k-step kk: a0 row g keys 2t,2t+1; a1 row g+8; a2 row g keys 8+2t; a3 row g+8 keys 8+2t.
      pf[kk][0] = ptx::pack_bf16x2(p[kk][0][0], p[kk][0][1]);
      pf[kk][1] = ptx::pack_bf16x2(p[kk][1][0], p[kk][1][1]);
      pf[kk][2] = ptx::pack_bf16x2(p[kk][0][2], p[kk][0][3]);
      pf[kk][3] = ptx::pack_bf16x2(p[kk][1][2], p[kk][1][3]);
    }
    attention_detail::rescale_running_sums(row_sum, corr, l_run, o);
    // O[:, 128*warp .. +127] += P V.
    const int mat = lane / 8;
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
#pragma unroll
      for (int d = 0; d < 8; ++d) {
        const __nv_bfloat16* vp = kv + (kk * 16 + (mat % 2) * 8 + lane % 8) * kStride + warp * 128 + d * 16 + (mat / 2) * 8;
        std::uint32_t vf[4];
        ptx::ldmatrix_x4_trans(vf, vp);
        ptx::mma_bf16_16816(o[2 * d], pf[kk], vf);
        ptx::mma_bf16_16816(o[2 * d + 1], pf[kk], vf + 2);
      }
    __syncthreads();
  }
  // Partial output (normalised by this split's sum) and its log-sum-exp in the log2 domain.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int h = h0 + g + 8 * r;
    if (h >= heads) continue;
    const float inv = 1.0f / l_run[r];
    float* dst = o_part + (part_row + h) * kDv + warp * 128;
#pragma unroll
    for (int i = 0; i < 16; ++i)
      *reinterpret_cast<float2*>(dst + i * 8 + 2 * t) = make_float2(o[i][2 * r] * inv, o[i][2 * r + 1] * inv);
    if (warp == 0 && t == 0) lse_part[part_row + h] = m_run[r] + log2f(l_run[r]);
  }
}

// One block per (head, sequence): out = sum_s 2^(lse_s - max) o_s / sum_s 2^(lse_s - max), empty splits skipped.
__global__ void mla_combine_kernel(const float* __restrict__ o_part, const float* __restrict__ lse_part, int heads,
                                   int splits, __nv_bfloat16* __restrict__ out) {
  const int h = blockIdx.x, b = blockIdx.y;
  __shared__ float weight[kMaxSplits];
  __shared__ float total;
  if (threadIdx.x == 0) {
    float m = -INFINITY;
    for (int s = 0; s < splits; ++s) m = fmaxf(m, lse_part[(static_cast<long long>(b) * splits + s) * heads + h]);
    float sum = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float l = lse_part[(static_cast<long long>(b) * splits + s) * heads + h];
      weight[s] = l == -INFINITY ? 0.0f : exp2f(l - m);
      sum += weight[s];
    }
    total = sum;
  }
  __syncthreads();
  for (int d = threadIdx.x * 4; d < kDv; d += blockDim.x * 4) {
    float4 acc = make_float4(0, 0, 0, 0);
    for (int s = 0; s < splits; ++s) {
      if (weight[s] == 0.0f) continue;
      const float4 v = *reinterpret_cast<const float4*>(o_part + ((static_cast<long long>(b) * splits + s) * heads + h) * kDv + d);
      acc.x += weight[s] * v.x; acc.y += weight[s] * v.y; acc.z += weight[s] * v.z; acc.w += weight[s] * v.w;
    }
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    __nv_bfloat16* dst = out + (static_cast<long long>(b) * heads + h) * kDv + d;
    *reinterpret_cast<__nv_bfloat162*>(dst) = __floats2bfloat162_rn(acc.x * inv, acc.y * inv);
    *reinterpret_cast<__nv_bfloat162*>(dst + 2) = __floats2bfloat162_rn(acc.z * inv, acc.w * inv);
  }
}

struct Split {
  int head_groups, splits, blocks_per_split;
};
Split plan(const MlaDecodeArgs& a, int sms) {
  Split s{};
  s.head_groups = (a.heads + kHeads - 1) / kHeads;
  const int blocks = std::max(1, (a.max_seqlen + kBlock - 1) / kBlock);
  const int base = a.batch * s.head_groups;
  const int want = std::max(1, (sms + base - 1) / base);  // about one wave of CTAs (one CTA per SM fits)
  s.splits = std::min({want, blocks, kMaxSplits});
  s.blocks_per_split = (blocks + s.splits - 1) / s.splits;
  s.splits = (blocks + s.blocks_per_split - 1) / s.blocks_per_split;
  return s;
}

}  // namespace

std::size_t sm90_mla_decode_workspace(const MlaDecodeArgs& args, int sms) {
  const Split s = plan(args, sms);
  const std::size_t rows = static_cast<std::size_t>(args.batch) * s.splits * args.heads;
  return rows * kDv * sizeof(float) + rows * sizeof(float);
}

void sm90_mla_decode(const MlaDecodeArgs& args, void* workspace, int sms, cudaStream_t stream) {
  const Split s = plan(args, sms);
  const std::size_t rows = static_cast<std::size_t>(args.batch) * s.splits * args.heads;
  float* o_part = static_cast<float*>(workspace);
  float* lse_part = o_part + rows * kDv;
  static bool configured = false;  // once, outside any graph capture (the first call is a warm-up)
  if (!configured) {
    CUDA_CHECK(cudaFuncSetAttribute(mla_decode_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
    configured = true;
  }
  const dim3 grid(static_cast<unsigned>(s.head_groups), static_cast<unsigned>(s.splits), static_cast<unsigned>(args.batch));
  mla_decode_kernel<<<grid, kThreads, kSmemBytes, stream>>>(
      reinterpret_cast<const __nv_bfloat16*>(args.q), reinterpret_cast<const __nv_bfloat16*>(args.cache),
      args.block_table, args.seqlens, args.heads, args.max_blocks, s.blocks_per_split, s.splits,
      args.scale * 1.4426950408889634f, o_part, lse_part);
  CUDA_CHECK_LAUNCH();
  mla_combine_kernel<<<dim3(static_cast<unsigned>(args.heads), static_cast<unsigned>(args.batch)), 128, 0, stream>>>(
      o_part, lse_part, args.heads, s.splits, reinterpret_cast<__nv_bfloat16*>(args.out));
  CUDA_CHECK_LAUNCH();
}

}  // namespace fleetsim::kernels
