// CPU references for MLA attention (plain C++17, no CUDA). BF16 inputs as raw bits, float outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fleetsim::kernels::ref {

// softmax(scale * q . k_j) weighted sum of v_j over n_keys keys, in double. Keys and values are rows with the
// given strides (in elements); out has dv elements.
void attention_row(const std::uint16_t* q, int dqk, const std::uint16_t* keys, std::size_t key_stride,
                   const std::uint16_t* values, std::size_t value_stride, int dv, int n_keys, float scale, float* out);

// MLA prefill (one attention per head, no absorption): q, k are B x S x H x Dqk, v is B x S x H x Dv, out
// B x S x H x Dv. causal: query s sees keys 0..s. `query_rows` (optional) lists flattened (b*S + s)*H + h query
// rows to compute; out then holds only those rows, in that order.
std::vector<float> mla_prefill(const std::vector<std::uint16_t>& q, const std::vector<std::uint16_t>& k,
                               const std::vector<std::uint16_t>& v, int batch, int seq, int heads, int dqk, int dv,
                               float scale, bool causal, const std::vector<int>& query_rows = {});

// MLA decode with absorbed projections (DeepSeek-V3 inference, attn_impl "absorb"): each query head's vector
// has 576 = kv_lora_rank 512 + rope 64 elements; the cache holds one 576-element latent row per token, shared by
// all heads; the first 512 elements of a cache row are also the value. q: B x H x 576, out: B x H x 512.
inline constexpr int kMlaLatent = 512, kMlaRope = 64, kMlaQkDim = 576, kMlaBlockSize = 64;

// Paged cache: cache is num_blocks x 64 x 576; block_table is B x max_blocks (block ids); seqlens[b] tokens.
std::vector<float> mla_decode_paged(const std::vector<std::uint16_t>& q, const std::vector<std::uint16_t>& cache,
                                    const std::vector<int>& block_table, int max_blocks, const std::vector<int>& seqlens,
                                    int batch, int heads, float scale);

// Unpaged cache: kv is B x max_len x 576 (contiguous per sequence); seqlens[b] tokens of row b are valid.
std::vector<float> mla_decode_unpaged(const std::vector<std::uint16_t>& q, const std::vector<std::uint16_t>& kv,
                                      int max_len, const std::vector<int>& seqlens, int batch, int heads, float scale);

}  // namespace fleetsim::kernels::ref
