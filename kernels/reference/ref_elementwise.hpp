// CPU references for the memory-bound layer ops (plain C++17, no CUDA). BF16 as raw bits, float outputs.
#pragma once

#include <cstdint>
#include <vector>

namespace fleetsim::kernels::ref {

// y = x / sqrt(mean(x^2) + eps) * w, per row (DeepSeek-V3 RMSNorm, eps 1e-6). x: rows x cols, w: cols.
void rmsnorm(const std::uint16_t* x, const std::uint16_t* w, int rows, int cols, float eps, float* y);

// y = silu(gate) * up with in = [gate | up] per row (rows x 2*cols), y rows x cols (DeepSeek's w2(silu(w1 x) * w3 x)).
void swiglu(const std::uint16_t* in, int rows, int cols, float* y);

// Rotary embedding on interleaved pairs (x[2i], x[2i+1]) as DeepSeek-V3's apply_rotary_emb (view_as_complex):
// angle = pos * theta^(-2i/dim). x: tokens x heads x dim, positions: tokens. (YaRN's frequency correction is a
// change of the frequency table only, so it does not change the kernel's cost and is left out.)
void rope(const std::uint16_t* x, const int* positions, int tokens, int heads, int dim, float theta, float* y);

// out[t] = table[ids[t]] (rows of `hidden` elements).
void embedding(const int* ids, const std::uint16_t* table, int tokens, int hidden, float* out);

// The embedding's weight gradient as PyTorch's dense backward gives it, added into an FP32 gradient: each row of the
// table gets the sum of its tokens' output-gradient rows (double), rounded to BF16 (the dense gradient's dtype),
// and main_grad (vocab x hidden) += that table.
void embedding_backward_dense(const int* ids, const std::uint16_t* grad_out, int tokens, int vocab, int hidden,
                              float* main_grad);

// Per-row cross-entropy: logsumexp(logits) - logits[label] (double internally). logits: rows x vocab. When `lse` is
// not null it receives each row's log-sum-exp, which the backward reuses instead of a second pass for it.
void cross_entropy(const std::uint16_t* logits, const int* labels, int rows, int vocab, float* loss,
                   float* lse = nullptr);

// Its gradient with respect to the logits: grad[r][v] = (exp(logits[r][v] - lse[r]) - [v == label]) * grad_loss[r]
// (softmax minus the one-hot, scaled by the gradient of the row's loss). grad: rows x vocab.
void cross_entropy_backward(const std::uint16_t* logits, const int* labels, const float* lse, const float* grad_loss,
                            int rows, int vocab, float* grad);

}  // namespace fleetsim::kernels::ref
