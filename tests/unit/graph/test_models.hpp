// Model shapes for the graph tests, written out here so that the tests do not depend on YAML loading.
#pragma once

#include "spec/model.hpp"

namespace fleetsim::test {

// DeepSeek-V3 [config_671B.json; V3 §2.1, §2.2, §4.2].
inline ModelSpec deepseek_v3() {
  ModelSpec m;
  m.name = "deepseek-v3";
  m.kind = ModelKind::moe;
  m.layers = 61;
  m.hidden = 7168;
  m.vocab = 129280;
  m.attention.kind = AttentionKind::mla;
  m.attention.heads = 128;
  m.attention.q_lora_rank = 1536;
  m.attention.kv_lora_rank = 512;
  m.attention.qk_nope_head_dim = 128;
  m.attention.qk_rope_head_dim = 64;
  m.attention.v_head_dim = 128;
  m.ffn.intermediate = 18432;
  m.moe.dense_layers = 3;
  m.moe.routed_experts = 256;
  m.moe.shared_experts = 1;
  m.moe.top_k = 8;
  m.moe.expert_intermediate = 2048;
  m.moe.groups = 8;
  m.moe.groups_per_token = 4;
  m.moe.route_scale = 2.5;
  m.mtp_depth = 1;
  return m;
}

// Llama 3.1 405B [Meta's config.json: 126 layers, hidden 16384, 128 heads / 8 KV heads of 128, FFN 53248,
// vocabulary 128256, untied embeddings].
inline ModelSpec llama3_405b() {
  ModelSpec m;
  m.name = "llama-3.1-405b";
  m.kind = ModelKind::dense;
  m.layers = 126;
  m.hidden = 16384;
  m.vocab = 128256;
  m.attention.kind = AttentionKind::gqa;
  m.attention.heads = 128;
  m.attention.kv_heads = 8;
  m.attention.head_dim = 128;
  m.ffn.intermediate = 53248;
  return m;
}

// GPT-3 175B [Brown et al. 2020, "Language Models are Few-Shot Learners", Table 2.1: 96 layers, d_model 12,288,
// 96 heads of 128, feed-forward 4 x d_model; GPT-2's byte-level BPE of 50,257 tokens; dense attention (the paper's
// alternating locally banded layers are left out here)]. Multi-head attention is GQA with kv_heads = heads; the
// feed-forward is a plain GeLU MLP with tied input and output embeddings.
inline ModelSpec gpt3_175b() {
  ModelSpec m;
  m.name = "gpt-3-175b";
  m.kind = ModelKind::dense;
  m.layers = 96;
  m.hidden = 12288;
  m.vocab = 50257;
  m.attention.kind = AttentionKind::gqa;
  m.attention.heads = 96;
  m.attention.kv_heads = 96;
  m.attention.head_dim = 128;
  m.ffn.intermediate = 4 * 12288;
  m.ffn.activation = FfnActivation::gelu;
  m.tied_embeddings = true;
  return m;
}

}  // namespace fleetsim::test
