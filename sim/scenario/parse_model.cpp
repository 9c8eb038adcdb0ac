// `model:` — the model's shapes, as in its checkpoint's config.json.
#include "scenario/sections.hpp"

namespace fleetsim::scenario {
namespace {

AttentionSpec parse_attention(const Value& value) {
  const Map m = value.map({"kind", "heads", "kv_heads", "head_dim", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim",
                           "qk_rope_head_dim", "v_head_dim"});
  AttentionSpec attention;
  // mha (GPT-3, OPT, BLOOM) is GQA with one KV head per query head.
  const bool mha = m.get("kind").one_of({"mla", "gqa", "mha"}) == "mha";
  attention.kind =
      mha ? AttentionKind::gqa
          : m.get("kind").choice<AttentionKind>({{"mla", AttentionKind::mla}, {"gqa", AttentionKind::gqa}});
  attention.heads = m.get("heads", read::positive_int);
  if (mha) {
    for (std::string_view key : {"q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"})
      m.reject(key, "to multi-head attention (it is an MLA dimension; use head_dim)");
    attention.kv_heads = m.get_or("kv_heads", attention.heads, read::positive_int);
    if (attention.kv_heads != attention.heads)
      m.fail("kv_heads", "must equal heads (" + std::to_string(attention.heads) +
                             ") for multi-head attention; fewer KV heads is kind: gqa");
    attention.head_dim = m.get("head_dim", read::positive_int);
  } else if (attention.kind == AttentionKind::gqa) {
    for (std::string_view key : {"q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"})
      m.reject(key, "to GQA attention (it is an MLA dimension; use kv_heads and head_dim)");
    attention.kv_heads = m.get("kv_heads", read::positive_int);
    attention.head_dim = m.get("head_dim", read::positive_int);
    if (attention.heads % attention.kv_heads != 0)
      m.fail("kv_heads", "must divide heads (" + std::to_string(attention.heads) +
                             "): query heads share KV heads in "
                             "equal groups; got " +
                             std::to_string(attention.kv_heads));
  } else {
    for (std::string_view key : {"kv_heads", "head_dim"})
      m.reject(key,
               "to MLA attention (its KV cache is the kv_lora_rank latent; use qk_nope_head_dim, "
               "qk_rope_head_dim and v_head_dim)");
    attention.q_lora_rank = m.get_or("q_lora_rank", 0, read::non_negative_int);  // 0: no query compression
    attention.kv_lora_rank = m.get("kv_lora_rank", read::positive_int);
    attention.qk_nope_head_dim = m.get("qk_nope_head_dim", read::positive_int);
    attention.qk_rope_head_dim = m.get("qk_rope_head_dim", read::positive_int);
    attention.v_head_dim = m.get("v_head_dim", read::positive_int);
  }
  return attention;
}

// `activation:` of a dense FFN or of the experts; SwiGLU when absent (Llama, DeepSeek, Mixtral, Qwen).
FfnActivation parse_activation(const Map& m) {
  if (!m.has("activation")) return FfnActivation::swiglu;
  return m.get("activation")
      .choice<FfnActivation>({{"swiglu", FfnActivation::swiglu},
                              {"geglu", FfnActivation::geglu},
                              {"gelu", FfnActivation::gelu},
                              {"relu", FfnActivation::relu},
                              {"squared_relu", FfnActivation::squared_relu}});
}

DenseFfnSpec parse_ffn(const Value& value) {
  const Map m = value.map({"intermediate", "activation"});
  DenseFfnSpec ffn;
  ffn.intermediate = m.get("intermediate", read::positive_int);
  ffn.activation = parse_activation(m);
  return ffn;
}

MoeSpec parse_moe(const Value& value, std::int64_t layers) {
  const Map m = value.map({"dense_layers", "routed_experts", "shared_experts", "top_k", "expert_intermediate", "groups",
                           "groups_per_token", "route_scale", "activation"});
  MoeSpec moe;
  moe.dense_layers = m.get_or("dense_layers", 0, read::non_negative_int);
  if (moe.dense_layers >= layers)
    m.fail("dense_layers", "must be less than layers (" + std::to_string(layers) + ") so that some layers are MoE");
  moe.routed_experts = m.get("routed_experts", read::positive_int);
  moe.shared_experts = m.get_or("shared_experts", 0, read::non_negative_int);
  moe.top_k = m.get("top_k", read::positive_int);
  moe.expert_intermediate = m.get("expert_intermediate", read::positive_int);
  moe.groups = m.get_or("groups", 1, read::positive_int);
  if (moe.routed_experts % moe.groups != 0)
    m.fail("groups", "must divide routed_experts (" + std::to_string(moe.routed_experts) + ")");
  moe.groups_per_token = m.get_or("groups_per_token", moe.groups, read::positive_int);  // default: no group limit
  if (moe.groups_per_token > moe.groups)
    m.fail("groups_per_token", "must not exceed groups (" + std::to_string(moe.groups) + ")");
  const std::int64_t reachable = moe.groups_per_token * (moe.routed_experts / moe.groups);
  if (moe.top_k > reachable)
    m.fail("top_k", "must not exceed the experts a token can reach: groups_per_token x routed_experts / groups = " +
                        std::to_string(reachable));
  moe.route_scale = m.get_or("route_scale", 1.0, read::positive(Dimension::count));
  moe.activation = parse_activation(m);
  return moe;
}

}  // namespace

ModelSpec parse_model(const Value& value, const LoadContext& context) {
  if (value.is_map()) return parse_model_mapping(value, "");
  if (!value.is_scalar())
    value.fail("expected a bundled model name (such as deepseek-v3) or a mapping of the model's shape, got " +
               value.describe());
  return parse_model_mapping(open_bundle(BundleKind::model, value, value.path(), context), value.text());
}

ModelSpec parse_model_mapping(const Value& value, const std::string& bundle_name) {
  const Map m = value.map(
      {"name", "kind", "layers", "hidden", "vocab", "attention", "ffn", "moe", "mtp_depth", "tied_embeddings"});
  ModelSpec model;
  model.name = mapping_name(m, bundle_name);
  model.kind = m.get("kind").choice<ModelKind>({{"moe", ModelKind::moe}, {"dense", ModelKind::dense}});
  // The op graph holds every layer: 10,000 is about eighty times the deepest bundled model (Llama 3 405B: 126).
  model.layers = m.get("layers", read::positive_int_at_most(10'000, "the op graph holds every layer"));
  model.hidden = m.get("hidden", read::positive_int);
  model.vocab = m.get("vocab", read::positive_int);
  model.attention = parse_attention(m.get("attention"));
  if (model.kind == ModelKind::moe) {
    if (!m.has("moe")) m.missing("moe", "the model's kind is moe");
    model.moe = parse_moe(m.get("moe"), model.layers);
    // The dense FFN is only needed by the first dense_layers layers.
    if (model.moe.dense_layers > 0 && !m.has("ffn"))
      m.missing("ffn", "moe.dense_layers is " + std::to_string(model.moe.dense_layers) + ", and those layers use it");
    if (m.has("ffn")) model.ffn = parse_ffn(m.get("ffn"));
  } else {
    m.reject("moe", "to a dense model (kind: dense)");
    model.ffn = parse_ffn(m.get("ffn"));
  }
  model.mtp_depth = m.get_or("mtp_depth", 0, read::non_negative_int);
  // Each MTP module is one more transformer layer (V3 §2.2); DeepSeek-V3 has one.
  if (model.mtp_depth > model.layers)
    m.fail("mtp_depth", "must be at most the model's layers (" + std::to_string(model.layers) +
                            "): each multi-token-prediction module is one more layer; got " +
                            std::to_string(model.mtp_depth));
  model.tied_embeddings = m.get_or("tied_embeddings", false, read::boolean);
  return model;
}

}  // namespace fleetsim::scenario
