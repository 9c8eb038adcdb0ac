// The model being trained or served: shapes only, as in the checkpoint's config.json. Plain data, no behaviour.
#pragma once

#include <cstdint>
#include <string>

namespace fleetsim {

enum class ModelKind { moe, dense };
enum class AttentionKind { mla, gqa };

// The feed-forward activation. Gated ones (SwiGLU, GeGLU: Shazeer 2020, "GLU Variants Improve Transformer") have
// three matrices, gate and up (fused) and down; the others (GeLU: GPT-2/3, OPT, BLOOM; ReLU; squared ReLU: So et
// al. 2021 "Primer", Nemotron-4) two, up and down.
enum class FfnActivation { swiglu, geglu, gelu, relu, squared_relu };
inline bool is_gated(FfnActivation activation) {
  return activation == FfnActivation::swiglu || activation == FfnActivation::geglu;
}
// The scenario key's spelling, also the name of the activation op in --ops and --trace ("L0.ffn.gelu.fwd").
inline const char* to_string(FfnActivation activation) {
  switch (activation) {
    case FfnActivation::swiglu: return "swiglu";
    case FfnActivation::geglu: return "geglu";
    case FfnActivation::gelu: return "gelu";
    case FfnActivation::relu: return "relu";
    case FfnActivation::squared_relu: return "squared_relu";
  }
  return "swiglu";
}

struct AttentionSpec {
  AttentionKind kind = AttentionKind::gqa;
  std::int64_t heads = 0;
  // GQA (Llama-style): kv_heads groups of head_dim each.
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  // MLA (DeepSeek-V2/V3): low-rank query and joint KV compression with a decoupled RoPE key.
  std::int64_t q_lora_rank = 0;  // 0 means no query compression (a plain q projection)
  std::int64_t kv_lora_rank = 0;
  std::int64_t qk_nope_head_dim = 0;
  std::int64_t qk_rope_head_dim = 0;
  std::int64_t v_head_dim = 0;
};

struct DenseFfnSpec {
  // Gated (SwiGLU): gate and up are hidden x intermediate, down is intermediate x hidden; otherwise no gate.
  std::int64_t intermediate = 0;
  FfnActivation activation = FfnActivation::swiglu;
};

struct MoeSpec {
  std::int64_t dense_layers = 0;  // the first `dense_layers` layers use the dense FFN
  std::int64_t routed_experts = 0;
  std::int64_t shared_experts = 0;
  std::int64_t top_k = 0;
  std::int64_t expert_intermediate = 0;
  std::int64_t groups = 1;            // expert groups for group-limited routing (DeepSeek-V3: 8)
  std::int64_t groups_per_token = 1;  // groups a token may use (DeepSeek-V3: 4, hence at most 4 nodes)
  double route_scale = 1.0;           // DeepSeek-V3: 2.5 [CFG routed_scaling_factor]
  FfnActivation activation = FfnActivation::swiglu;  // of every expert, routed and shared
};

struct ModelSpec {
  std::string name;
  ModelKind kind = ModelKind::dense;
  std::int64_t layers = 0;
  std::int64_t hidden = 0;
  std::int64_t vocab = 0;
  AttentionSpec attention;
  DenseFfnSpec ffn;
  MoeSpec moe;                  // only meaningful when kind == moe
  std::int64_t mtp_depth = 0;   // multi-token-prediction modules (DeepSeek-V3: 1)
  bool tied_embeddings = false; // LM head shares the embedding matrix
};

}  // namespace fleetsim
