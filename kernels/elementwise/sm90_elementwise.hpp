// Memory-bound layer ops (sm_90): RMSNorm, SwiGLU, RoPE, embedding lookup and its gradient, cross-entropy. BF16 tensors
// as raw bits; 16-byte vector accesses. Each function enqueues on `stream` and throws CudaError on a launch failure.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fleetsim::kernels {

// y = x * rsqrt(mean(x^2) + eps) * w per row; x, y: rows x cols, w: cols; cols % 8 == 0, cols <= 16384.
void sm90_rmsnorm(const std::uint16_t* x, const std::uint16_t* w, std::uint16_t* y, int rows, int cols, float eps,
                  cudaStream_t stream);
// y = silu(gate) * up with in = [gate | up] (rows x 2*cols), y rows x cols; cols % 8 == 0.
void sm90_swiglu(const std::uint16_t* in, std::uint16_t* y, int rows, int cols, cudaStream_t stream);
// Rotary embedding on interleaved pairs, dim 64: x, y tokens x heads x 64; angle = pos * theta^(-2i/64).
void sm90_rope(const std::uint16_t* x, const int* positions, std::uint16_t* y, int tokens, int heads, float theta,
               cudaStream_t stream);
// out[t] = table[ids[t]]: rows of `hidden` BF16; hidden % 8 == 0.
void sm90_embedding(const int* ids, const std::uint16_t* table, std::uint16_t* out, int tokens, int hidden,
                    cudaStream_t stream);
// The embedding's weight gradient as PyTorch computes it (embedding_dense_backward): `grad_table` (vocab x hidden
// BF16, scratch) is zero-filled, each token's output-gradient row is added into its id's row (BF16 atomics), and
// the table is added into the FP32 gradient `main_grad` (vocab x hidden), as a framework accumulating the batch in
// FP32 does (Megatron-Core: main_grad.add_). hidden % 8 == 0.
void sm90_embedding_backward_dense(const int* ids, const std::uint16_t* grad_out, std::uint16_t* grad_table,
                                   float* main_grad, int tokens, int vocab, int hidden, cudaStream_t stream);
// loss[r] = logsumexp(logits[r]) - logits[r][labels[r]] (FP32 out), and the log-sum-exp itself into `lse` unless it
// is null (the backward's input); vocab % 8 == 0. One block per row.
void sm90_cross_entropy(const std::uint16_t* logits, const int* labels, float* loss, float* lse, int rows, int vocab,
                        cudaStream_t stream);
// grad[r][v] = (exp(logits[r][v] - lse[r]) - [v == labels[r]]) * grad_loss[r], BF16 out; vocab % 8 == 0.
void sm90_cross_entropy_backward(const std::uint16_t* logits, const int* labels, const float* lse,
                                 const float* grad_loss, std::uint16_t* grad, int rows, int vocab, cudaStream_t stream);

}  // namespace fleetsim::kernels
