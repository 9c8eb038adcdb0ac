// Closed-form model facts: parameters, training FLOPs per token, KV-cache bytes per token. They sum the same
// per-block formulas the stage split uses; the op graph computes the same quantities from op shapes, and the tests
// check that the two agree.
//
// DeepSeek-V3 (config_671B.json) comes out at 671.03B total, 37.55B activated (embedding and head included),
// MTP module 11.61B (its own layer, projection and norms), 250.46 GFLOP per token at 4K context (ISCA Table 2:
// 250), 70,272 KV bytes per token in BF16 (ISCA Table 1).
#include <stdexcept>

#include "graph/blocks.hpp"

namespace fleetsim {

using namespace graph_detail;

ParameterCounts count_parameters(const ModelSpec& model) {
  ParameterCounts counts;
  for (std::int64_t layer = 0; layer < model.layers; ++layer) {
    counts.total += layer_parameters(model, layer, false);
    counts.activated += layer_parameters(model, layer, true);
  }
  counts.embedding = embedding_parameters(model);
  counts.head = head_parameters(model);
  counts.total += counts.embedding + counts.head;
  counts.activated += counts.embedding + counts.head;
  counts.mtp = mtp_parameters(model, false);
  counts.mtp_activated = mtp_parameters(model, true);
  return counts;
}

// 6 FLOPs per activated non-embedding parameter (2 forward, 4 backward; Kaplan et al. 2020), with the head GEMM
// counted even when tied to the embedding (the matmul runs either way), plus 3 x the causal attention core's
// forward FLOPs (ISCA Table 2's convention).
double training_flops_per_token(const ModelSpec& model, std::int64_t seq_len) {
  if (seq_len <= 0) throw std::invalid_argument("training_flops_per_token: seq_len must be positive");
  double parameters = static_cast<double>(model.hidden) + head_matmul_parameters(model);  // final norm, head
  double attention = 0;
  for (std::int64_t layer = 0; layer < model.layers; ++layer) {
    parameters += layer_parameters(model, layer, true);
    attention += layer_core_flops_per_token(model, layer, seq_len);
  }
  return 6.0 * parameters + 3.0 * attention;
}

double mtp_training_flops_per_token(const ModelSpec& model, std::int64_t seq_len) {
  if (seq_len <= 0) throw std::invalid_argument("mtp_training_flops_per_token: seq_len must be positive");
  return 3.0 * mtp_forward_flops_per_token(model, seq_len);
}

double kv_cache_bytes_per_token(const ModelSpec& model, double bytes_per_element) {
  const auto& a = model.attention;
  double per_layer = 0;
  switch (a.kind) {
    case AttentionKind::mla:  // the compressed latent and the shared RoPE key (V3 §2.1.1; ISCA Table 1)
      per_layer = static_cast<double>(a.kv_lora_rank + a.qk_rope_head_dim);
      break;
    case AttentionKind::gqa:  // keys and values of every KV head
      per_layer = 2.0 * static_cast<double>(a.kv_heads * a.head_dim);
      break;
  }
  return per_layer * bytes_per_element * static_cast<double>(model.layers);
}

}  // namespace fleetsim
