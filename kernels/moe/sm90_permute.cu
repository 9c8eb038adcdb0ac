// Token permute / unpermute on sm_90 (see sm90_moe.hpp). Memory-bound: 16-byte vector copies.
#include <cuda_bf16.h>

#include "common/cuda_util.hpp"
#include "moe/sm90_moe.hpp"

namespace fleetsim::kernels {
namespace {

__global__ void count_kernel(const int* __restrict__ topk_idx, int copies, int* __restrict__ counts) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < copies; i += gridDim.x * blockDim.x)
    atomicAdd(&counts[topk_idx[i]], 1);
}

// One block: exclusive scan of padded counts -> expert_begin; resets the slot cursors; writes m_indices.
__global__ void scan_kernel(const int* __restrict__ counts, int experts, int align, int capacity,
                            int* __restrict__ expert_begin, int* __restrict__ cursor, int* __restrict__ m_indices) {
  __shared__ int begin[1025];
  if (threadIdx.x == 0) {
    int total = 0;
    for (int e = 0; e < experts; ++e) {
      begin[e] = total;
      total += (counts[e] + align - 1) / align * align;
    }
    begin[experts] = total;
  }
  __syncthreads();
  for (int e = threadIdx.x; e <= experts; e += blockDim.x) expert_begin[e] = begin[e];
  for (int e = threadIdx.x; e < experts; e += blockDim.x) cursor[e] = 0;
  const int total = begin[experts] < capacity ? begin[experts] : capacity;
  // m_indices: expert of each row, -1 on padding rows. Binary search of the row in begin[].
  for (int row = threadIdx.x; row < total; row += blockDim.x) {
    int lo = 0, hi = experts - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (begin[mid] <= row) lo = mid; else hi = mid - 1;
    }
    m_indices[row] = row < begin[lo] + counts[lo] ? lo : -1;
  }
}

__global__ void slot_kernel(const int* __restrict__ topk_idx, int copies, const int* __restrict__ expert_begin,
                            int* __restrict__ cursor, int* __restrict__ dest_row) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < copies; i += gridDim.x * blockDim.x) {
    const int e = topk_idx[i];
    dest_row[i] = expert_begin[e] + atomicAdd(&cursor[e], 1);
  }
}

// One block per (token, k) copy; hidden/8 uint4 vectors per row.
__global__ void scatter_kernel(const uint4* __restrict__ x, const int* __restrict__ dest_row, int topk, int vectors,
                               uint4* __restrict__ out) {
  const int copy = blockIdx.x;
  const int token = copy / topk;
  const long long dst = static_cast<long long>(dest_row[copy]) * vectors;
  const long long src = static_cast<long long>(token) * vectors;
  for (int v = threadIdx.x; v < vectors; v += blockDim.x) out[dst + v] = __ldg(x + src + v);
}

// One block per token: gathers its topk rows and sums them with the weights in FP32.
__global__ void unpermute_kernel(const uint4* __restrict__ y, const int* __restrict__ dest_row,
                                 const float* __restrict__ weight, int topk, int vectors, uint4* __restrict__ out) {
  const int token = blockIdx.x;
  __shared__ int rows[16];
  __shared__ float w[16];
  if (threadIdx.x < topk) {
    rows[threadIdx.x] = dest_row[token * topk + threadIdx.x];
    w[threadIdx.x] = weight[token * topk + threadIdx.x];
  }
  __syncthreads();
  for (int v = threadIdx.x; v < vectors; v += blockDim.x) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int k = 0; k < topk; ++k) {
      const uint4 raw = __ldg(y + static_cast<long long>(rows[k]) * vectors + v);
      const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 f = __bfloat1622float2(h[j]);
        acc[2 * j] += w[k] * f.x;
        acc[2 * j + 1] += w[k] * f.y;
      }
    }
    uint4 packed;
    __nv_bfloat162* o = reinterpret_cast<__nv_bfloat162*>(&packed);
#pragma unroll
    for (int j = 0; j < 4; ++j) o[j] = __floats2bfloat162_rn(acc[2 * j], acc[2 * j + 1]);
    out[static_cast<long long>(token) * vectors + v] = packed;
  }
}

int threads_for(int vectors) { return vectors >= 512 ? 512 : (vectors >= 256 ? 256 : 128); }

}  // namespace

void sm90_permute_scatter(const std::uint16_t* x, const int* dest_row, int tokens, int hidden, int topk,
                          std::uint16_t* out, cudaStream_t stream) {
  if (hidden % 8 != 0) throw CudaError("sm90_permute: hidden must be a multiple of 8");
  const int vectors = hidden / 8;
  if (tokens * topk == 0) return;
  scatter_kernel<<<tokens * topk, threads_for(vectors), 0, stream>>>(reinterpret_cast<const uint4*>(x), dest_row, topk,
                                                                     vectors, reinterpret_cast<uint4*>(out));
  CUDA_CHECK_LAUNCH();
}

void sm90_permute(const std::uint16_t* x, const int* topk_idx, int tokens, int hidden, int topk, int experts, int align,
                  const PermuteBuffers& buf, cudaStream_t stream) {
  if (experts > 1024 || topk > 16) throw CudaError("sm90_permute: at most 1024 experts and top-16");
  const int copies = tokens * topk;
  int* counts = buf.workspace;
  int* cursor = buf.workspace + experts;
  CUDA_CHECK(cudaMemsetAsync(counts, 0, sizeof(int) * static_cast<std::size_t>(experts), stream));
  const int blocks = copies > 0 ? (copies + 255) / 256 : 1;
  count_kernel<<<blocks, 256, 0, stream>>>(topk_idx, copies, counts);
  CUDA_CHECK_LAUNCH();
  scan_kernel<<<1, 1024, 0, stream>>>(counts, experts, align, buf.capacity, buf.expert_begin, cursor, buf.m_indices);
  CUDA_CHECK_LAUNCH();
  slot_kernel<<<blocks, 256, 0, stream>>>(topk_idx, copies, buf.expert_begin, cursor, buf.dest_row);
  CUDA_CHECK_LAUNCH();
  sm90_permute_scatter(x, buf.dest_row, tokens, hidden, topk, buf.out, stream);
}

void sm90_unpermute(const std::uint16_t* y, const int* dest_row, const float* weight, int tokens, int hidden, int topk,
                    std::uint16_t* out, cudaStream_t stream) {
  if (hidden % 8 != 0 || topk > 16) throw CudaError("sm90_unpermute: hidden % 8 == 0 and topk <= 16 required");
  if (tokens == 0) return;
  const int vectors = hidden / 8;
  unpermute_kernel<<<tokens, threads_for(vectors), 0, stream>>>(reinterpret_cast<const uint4*>(y), dest_row, weight,
                                                                topk, vectors, reinterpret_cast<uint4*>(out));
  CUDA_CHECK_LAUNCH();
}

}  // namespace fleetsim::kernels
