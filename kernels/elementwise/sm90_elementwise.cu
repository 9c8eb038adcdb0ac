// Memory-bound layer ops on sm_90 (see sm90_elementwise.hpp).
#include <cuda_bf16.h>

#include <cfloat>
#include <cmath>

#include "common/cuda_util.hpp"
#include "elementwise/sm90_elementwise.hpp"

namespace fleetsim::kernels {
namespace {

__device__ __forceinline__ void unpack8(const uint4& raw, float* f) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 v = __bfloat1622float2(h[j]);
    f[2 * j] = v.x;
    f[2 * j + 1] = v.y;
  }
}
__device__ __forceinline__ uint4 pack8(const float* f) {
  uint4 raw;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
  for (int j = 0; j < 4; ++j) h[j] = __floats2bfloat162_rn(f[2 * j], f[2 * j + 1]);
  return raw;
}

// RMSNorm: `kRowThreads` threads per row (a warp for rows up to 2,048 columns, 128 or 256 threads for wider ones),
// 256 / kRowThreads rows per block, the row held in registers (up to kMaxVec 16-byte vectors per thread) so that x is
// read once. One block per row with 256 threads (the first version) left most threads idle on 512- and 1,536-column
// rows and measured 15-61% of the H200's copy bandwidth (profiles/h200-measured, first run).
constexpr int kNormBlock = 256;
template <int kRowThreads, int kMaxVec>
__global__ void __launch_bounds__(kNormBlock)
    rmsnorm_kernel(const uint4* __restrict__ x, const uint4* __restrict__ w, uint4* __restrict__ y, int rows,
                   int vectors, float inv_cols, float eps) {
  static_assert(kRowThreads % 32 == 0 && kNormBlock % kRowThreads == 0, "whole warps per row");
  constexpr int kRowsPerBlock = kNormBlock / kRowThreads;
  const int t = static_cast<int>(threadIdx.x) % kRowThreads, slot = static_cast<int>(threadIdx.x) / kRowThreads;
  const long long row = static_cast<long long>(blockIdx.x) * kRowsPerBlock + slot;
  const bool active = row < rows;
  uint4 buf[kMaxVec];
  float sum_sq = 0.0f;
#pragma unroll
  for (int i = 0; i < kMaxVec; ++i) {  // all loads issued before the first use
    const int v = i * kRowThreads + t;
    if (active && v < vectors) buf[i] = __ldg(x + row * vectors + v);
  }
#pragma unroll
  for (int i = 0; i < kMaxVec; ++i) {
    const int v = i * kRowThreads + t;
    if (active && v < vectors) {
      float f[8];
      unpack8(buf[i], f);
#pragma unroll
      for (int j = 0; j < 8; ++j) sum_sq += f[j] * f[j];
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o /= 2) sum_sq += __shfl_xor_sync(0xFFFFFFFFu, sum_sq, o);
  if constexpr (kRowThreads > 32) {  // the row's warps meet in shared memory
    __shared__ float partial[kNormBlock / 32];
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum_sq;
    __syncthreads();
    sum_sq = 0.0f;
#pragma unroll
    for (int i = 0; i < kRowThreads / 32; ++i) sum_sq += partial[slot * (kRowThreads / 32) + i];
  }
  const float inv = rsqrtf(sum_sq * inv_cols + eps);
#pragma unroll
  for (int i = 0; i < kMaxVec; ++i) {
    const int v = i * kRowThreads + t;
    if (active && v < vectors) {
      float f[8], g[8];
      unpack8(buf[i], f);
      unpack8(__ldg(w + v), g);
#pragma unroll
      for (int j = 0; j < 8; ++j) f[j] = f[j] * inv * g[j];
      y[row * vectors + v] = pack8(f);
    }
  }
}

template <int kRowThreads, int kMaxVec>
void launch_rmsnorm(const uint4* x, const uint4* w, uint4* y, int rows, int vectors, float eps, cudaStream_t stream) {
  constexpr int kRowsPerBlock = kNormBlock / kRowThreads;
  const int blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  rmsnorm_kernel<kRowThreads, kMaxVec>
      <<<blocks, kNormBlock, 0, stream>>>(x, w, y, rows, vectors, 1.0f / (vectors * 8.0f), eps);
}

__global__ void swiglu_kernel(const uint4* __restrict__ in, uint4* __restrict__ y, long long total_vectors, int vectors) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total_vectors;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long row = i / vectors, v = i % vectors;
    float g[8], u[8], o[8];
    unpack8(__ldg(in + row * 2 * vectors + v), g);
    unpack8(__ldg(in + row * 2 * vectors + vectors + v), u);
#pragma unroll
    for (int j = 0; j < 8; ++j) o[j] = g[j] / (1.0f + __expf(-g[j])) * u[j];
    y[i] = pack8(o);
  }
}

// RoPE, dim 64: one thread per 8 elements (4 pairs); frequencies from a 32-entry table.
__constant__ float c_inv_freq[32];
__global__ void rope_kernel(const uint4* __restrict__ x, const int* __restrict__ positions, uint4* __restrict__ y,
                            long long total_vectors, int heads) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total_vectors;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int token = static_cast<int>(i / (heads * 8));
    const int part = static_cast<int>(i % 8);  // which 8 of the 64 elements
    const float pos = static_cast<float>(__ldg(positions + token));
    float f[8], o[8];
    unpack8(__ldg(x + i), f);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float s, c;
      sincosf(pos * c_inv_freq[part * 4 + j], &s, &c);
      o[2 * j] = f[2 * j] * c - f[2 * j + 1] * s;
      o[2 * j + 1] = f[2 * j] * s + f[2 * j + 1] * c;
    }
    y[i] = pack8(o);
  }
}

__global__ void embedding_kernel(const int* __restrict__ ids, const uint4* __restrict__ table, uint4* __restrict__ out,
                                 int vectors) {
  const long long t = blockIdx.x;
  const long long src = static_cast<long long>(__ldg(ids + t)) * vectors;
  for (int v = threadIdx.x; v < vectors; v += blockDim.x) out[t * vectors + v] = __ldg(table + src + v);
}

// Embedding gradient, PyTorch's dense way: each token's row added into the zero-filled BF16 table (BF16x2 atomics:
// tokens that share an id meet in the same row), then the whole table added into the FP32 gradient, 8 entries a
// thread per step (one 16-byte BF16 load, two 16-byte FP32 loads and stores).
__global__ void embedding_scatter_kernel(const int* __restrict__ ids, const __nv_bfloat162* __restrict__ grad_out,
                                         __nv_bfloat162* __restrict__ table, int pairs) {
  const long long t = blockIdx.x;
  const long long dst = static_cast<long long>(__ldg(ids + t)) * pairs;
  for (int p = threadIdx.x; p < pairs; p += blockDim.x) atomicAdd(table + dst + p, grad_out[t * pairs + p]);
}
__global__ void table_accumulate_kernel(const uint4* __restrict__ table, float4* __restrict__ main_grad,
                                        long long vectors) {
  for (long long v = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; v < vectors;
       v += static_cast<long long>(gridDim.x) * blockDim.x) {
    float f[8];
    unpack8(__ldg(table + v), f);
    float4 a = main_grad[2 * v], b = main_grad[2 * v + 1];
    a.x += f[0], a.y += f[1], a.z += f[2], a.w += f[3];
    b.x += f[4], b.y += f[5], b.z += f[6], b.w += f[7];
    main_grad[2 * v] = a;
    main_grad[2 * v + 1] = b;
  }
}

// Cross-entropy: one block per row, one pass with an online log-sum-exp per thread, then a block merge.
constexpr int kCeThreads = 512;
__global__ void __launch_bounds__(kCeThreads) cross_entropy_kernel(const uint4* __restrict__ logits,
                                                                   const int* __restrict__ labels, float* __restrict__ loss,
                                                                   float* __restrict__ lse, int vectors) {
  const long long row = blockIdx.x;
  float m = -FLT_MAX, s = 0.0f;
  for (int v = threadIdx.x; v < vectors; v += kCeThreads) {
    float f[8];
    unpack8(__ldg(logits + row * vectors + v), f);
    float local_max = f[0];
#pragma unroll
    for (int j = 1; j < 8; ++j) local_max = fmaxf(local_max, f[j]);
    const float m_new = fmaxf(m, local_max);
    s *= __expf(m - m_new);
#pragma unroll
    for (int j = 0; j < 8; ++j) s += __expf(f[j] - m_new);
    m = m_new;
  }
  // Merge (m, s) across the warp, then across warps.
#pragma unroll
  for (int o = 16; o > 0; o /= 2) {
    const float m2 = __shfl_xor_sync(0xFFFFFFFFu, m, o), s2 = __shfl_xor_sync(0xFFFFFFFFu, s, o);
    const float m_new = fmaxf(m, m2);
    s = s * __expf(m - m_new) + s2 * __expf(m2 - m_new);
    m = m_new;
  }
  __shared__ float wm[kCeThreads / 32], ws[kCeThreads / 32];
  if (threadIdx.x % 32 == 0) { wm[threadIdx.x / 32] = m; ws[threadIdx.x / 32] = s; }
  __syncthreads();
  if (threadIdx.x == 0) {
    float mm = wm[0], sum = ws[0];
    for (int i = 1; i < kCeThreads / 32; ++i) {
      const float m_new = fmaxf(mm, wm[i]);
      sum = sum * __expf(mm - m_new) + ws[i] * __expf(wm[i] - m_new);
      mm = m_new;
    }
    const int label = labels[row];
    const unsigned short raw = reinterpret_cast<const unsigned short*>(logits)[row * vectors * 8 + label];
    const float log_sum_exp = mm + logf(sum);
    loss[row] = log_sum_exp - __bfloat162float(__ushort_as_bfloat16(raw));
    if (lse != nullptr) lse[row] = log_sum_exp;
  }
}

// Its backward: one block per row streams the logits once more, grad = (exp(x - lse) - one_hot) * grad_loss, BF16
// out. The forward's log-sum-exp saves the second reduction; the whole row is one read and one write.
__global__ void __launch_bounds__(kCeThreads)
    cross_entropy_backward_kernel(const uint4* __restrict__ logits, const int* __restrict__ labels,
                                  const float* __restrict__ lse, const float* __restrict__ grad_loss,
                                  uint4* __restrict__ grad, int vectors) {
  const long long row = blockIdx.x;
  const float row_lse = lse[row], g = grad_loss[row];
  const int label = labels[row];
  for (int v = threadIdx.x; v < vectors; v += kCeThreads) {
    float f[8];
    unpack8(__ldg(logits + row * vectors + v), f);
#pragma unroll
    for (int j = 0; j < 8; ++j) f[j] = (__expf(f[j] - row_lse) - (v * 8 + j == label ? 1.0f : 0.0f)) * g;
    grad[row * vectors + v] = pack8(f);
  }
}

unsigned grid_stride_blocks(long long work, int threads) {
  const long long blocks = (work + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 132 * 32 ? (blocks > 0 ? blocks : 1) : 132 * 32);
}

}  // namespace

void sm90_rmsnorm(const std::uint16_t* x, const std::uint16_t* w, std::uint16_t* y, int rows, int cols, float eps,
                  cudaStream_t stream) {
  if (cols % 8 != 0 || cols > 16384) throw CudaError("sm90_rmsnorm: cols % 8 == 0, cols <= 16384");
  if (rows == 0) return;
  const auto* xv = reinterpret_cast<const uint4*>(x);
  const auto* wv = reinterpret_cast<const uint4*>(w);
  auto* yv = reinterpret_cast<uint4*>(y);
  const int vectors = cols / 8;  // 16-byte vectors per row
  if (vectors <= 32 * 4)
    launch_rmsnorm<32, 4>(xv, wv, yv, rows, vectors, eps, stream);  // cols <= 1,024
  else if (vectors <= 32 * 8)
    launch_rmsnorm<32, 8>(xv, wv, yv, rows, vectors, eps, stream);  // cols <= 2,048
  else if (vectors <= 128 * 8)
    launch_rmsnorm<128, 8>(xv, wv, yv, rows, vectors, eps, stream);  // cols <= 8,192
  else
    launch_rmsnorm<256, 8>(xv, wv, yv, rows, vectors, eps, stream);  // cols <= 16,384
  CUDA_CHECK_LAUNCH();
}

void sm90_swiglu(const std::uint16_t* in, std::uint16_t* y, int rows, int cols, cudaStream_t stream) {
  if (cols % 8 != 0) throw CudaError("sm90_swiglu: cols % 8 == 0");
  const long long total = static_cast<long long>(rows) * (cols / 8);
  swiglu_kernel<<<grid_stride_blocks(total, 256), 256, 0, stream>>>(reinterpret_cast<const uint4*>(in),
                                                                    reinterpret_cast<uint4*>(y), total, cols / 8);
  CUDA_CHECK_LAUNCH();
}

void sm90_rope(const std::uint16_t* x, const int* positions, std::uint16_t* y, int tokens, int heads, float theta,
               cudaStream_t stream) {
  static float last_theta = 0.0f;
  if (theta != last_theta) {  // the table is a function of theta only
    float table[32];
    for (int i = 0; i < 32; ++i) table[i] = static_cast<float>(std::pow(static_cast<double>(theta), -2.0 * i / 64.0));
    CUDA_CHECK(cudaMemcpyToSymbol(c_inv_freq, table, sizeof table));
    last_theta = theta;
  }
  const long long total = static_cast<long long>(tokens) * heads * 8;
  rope_kernel<<<grid_stride_blocks(total, 256), 256, 0, stream>>>(reinterpret_cast<const uint4*>(x), positions,
                                                                  reinterpret_cast<uint4*>(y), total, heads);
  CUDA_CHECK_LAUNCH();
}

void sm90_embedding(const int* ids, const std::uint16_t* table, std::uint16_t* out, int tokens, int hidden,
                    cudaStream_t stream) {
  if (hidden % 8 != 0) throw CudaError("sm90_embedding: hidden % 8 == 0");
  if (tokens == 0) return;
  embedding_kernel<<<tokens, 256, 0, stream>>>(ids, reinterpret_cast<const uint4*>(table), reinterpret_cast<uint4*>(out),
                                               hidden / 8);
  CUDA_CHECK_LAUNCH();
}

void sm90_embedding_backward_dense(const int* ids, const std::uint16_t* grad_out, std::uint16_t* grad_table,
                                   float* main_grad, int tokens, int vocab, int hidden, cudaStream_t stream) {
  if (hidden % 8 != 0) throw CudaError("sm90_embedding_backward_dense: hidden % 8 == 0");
  const long long entries = static_cast<long long>(vocab) * hidden;
  CUDA_CHECK(cudaMemsetAsync(grad_table, 0, static_cast<std::size_t>(entries) * 2, stream));
  if (tokens > 0) {
    embedding_scatter_kernel<<<tokens, 256, 0, stream>>>(ids, reinterpret_cast<const __nv_bfloat162*>(grad_out),
                                                         reinterpret_cast<__nv_bfloat162*>(grad_table), hidden / 2);
    CUDA_CHECK_LAUNCH();
  }
  table_accumulate_kernel<<<grid_stride_blocks(entries / 8, 256), 256, 0, stream>>>(
      reinterpret_cast<const uint4*>(grad_table), reinterpret_cast<float4*>(main_grad), entries / 8);
  CUDA_CHECK_LAUNCH();
}

void sm90_cross_entropy(const std::uint16_t* logits, const int* labels, float* loss, float* lse, int rows, int vocab,
                        cudaStream_t stream) {
  if (vocab % 8 != 0) throw CudaError("sm90_cross_entropy: vocab % 8 == 0");
  if (rows == 0) return;
  cross_entropy_kernel<<<rows, kCeThreads, 0, stream>>>(reinterpret_cast<const uint4*>(logits), labels, loss, lse,
                                                        vocab / 8);
  CUDA_CHECK_LAUNCH();
}

void sm90_cross_entropy_backward(const std::uint16_t* logits, const int* labels, const float* lse,
                                 const float* grad_loss, std::uint16_t* grad, int rows, int vocab, cudaStream_t stream) {
  if (vocab % 8 != 0) throw CudaError("sm90_cross_entropy_backward: vocab % 8 == 0");
  if (rows == 0) return;
  cross_entropy_backward_kernel<<<rows, kCeThreads, 0, stream>>>(reinterpret_cast<const uint4*>(logits), labels, lse,
                                                                 grad_loss, reinterpret_cast<uint4*>(grad), vocab / 8);
  CUDA_CHECK_LAUNCH();
}

}  // namespace fleetsim::kernels
