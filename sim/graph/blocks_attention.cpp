// Attention blocks: DeepSeek's Multi-head Latent Attention (MLA) and Llama's grouped-query attention (GQA).
//
// Both start with the input RMSNorm and end with the output projection and the residual add. Tensor parallelism
// (with sequence parallelism, Korthikanti et al. 2022) gives each GPU heads/tp query heads over all tokens of the
// micro-batch; the norm, the residual add and MLA's down projections (replicated across tp, not sharded) run on
// the GPU's 1/tp shard of the tokens. The all-gather and reduce-scatter around the sharded region are not ops of
// this graph.
#include <stdexcept>

#include "graph/blocks.hpp"
#include "graph/ops.hpp"

namespace fleetsim::graph_detail {
namespace {

// RoPE per output element: x * cos + rotate(x) * sin, two multiplies and an add.
constexpr double kRopeFlopsPerElement = 3;
// FlashAttention's backward executes 2.5x the forward FLOPs: five matmuls against the forward's two, one of
// them recomputing the scores QK^T (FlashAttention-2 paper, Dao 2023, §3.2 and its benchmark convention).
// The model's own backward is 2x the forward; the extra 0.5x is recomputation (model_flops = false).
constexpr double kAttentionBackwardModelFactor = 2.0;
constexpr double kAttentionBackwardRecomputeFactor = 0.5;

std::int64_t local_heads(std::int64_t heads, std::int64_t tp, const char* what) {
  if (heads <= 0 || heads % tp != 0)
    throw std::invalid_argument(std::string("op graph: ") + what + " (" + std::to_string(heads) +
                                ") must be a positive multiple of tp (" + std::to_string(tp) + ")");
  return heads / tp;
}

// Forward FLOPs of causal attention per token at context `seq_len`: QK^T and PV over half the score matrix
// (seq_len^2 / 2 scores per sequence, i.e. seq_len / 2 keys per query on average), 2 FLOPs per multiply-add.
double causal_core_flops_per_token(std::int64_t heads, std::int64_t qk_dim, std::int64_t v_dim,
                                   std::int64_t seq_len) {
  return 2.0 * static_cast<double>(heads) * static_cast<double>(qk_dim + v_dim) * static_cast<double>(seq_len) /
         2.0;
}

// The attention core over the micro-batch: causal self-attention of `heads` query heads against `kv_heads` key
// and value heads on this GPU. Inputs are the queries and keys after RoPE and the values.
Value add_attention_core(GraphBuilder& builder, const Site& site, std::int64_t heads, std::int64_t kv_heads,
                         std::int64_t qk_dim, std::int64_t v_dim, const std::vector<Value>& inputs) {
  const auto& work = builder.work();
  const double tokens = builder.tokens();
  const double h = static_cast<double>(heads), kvh = static_cast<double>(kv_heads);
  const double qk = static_cast<double>(qk_dim), v = static_cast<double>(v_dim);

  // Context parallelism (cp > 1). Each GPU holds seq_len/cp queries of every sequence (two chunks of 2cp, paired so
  // that the causal work is even) and sees every key: 1/cp of the causal FLOPs. It receives the other cp - 1 ranks'
  // K and V in the forward; the backward receives them again and returns their gradients (twice that). Ring
  // attention (Megatron-LM, cp_comm_type p2p) passes the blocks round the ring beside the blocks' attention (the
  // cost model takes the slower of the two); the all-gather form (Llama 3) gathers them first and reduce-scatters
  // the gradients after, exposed (the cost model adds them).
  const std::int64_t cp = work.parallelism.cp;
  Op forward;
  forward.name = "core";
  forward.kind = OpKind::attention;
  forward.dtype = DataType::bf16;  // FlashAttention runs in BF16; DeepSeek-V3 keeps attention out of FP8 (V3 §3.3)
  forward.attention =
      AttentionShape{work.sequences, heads, work.seq_len / cp, work.seq_len, qk_dim, v_dim, true, kv_heads};
  forward.flops = causal_core_flops_per_token(heads, qk_dim, v_dim, work.seq_len) * tokens;
  const double q_bytes = tokens * h * qk * kBf16Bytes;
  const double kv_bytes = tokens * kvh * (qk + v) * kBf16Bytes;
  const double o_bytes = tokens * h * v * kBf16Bytes;
  const double lse_bytes = tokens * h * kFp32Bytes;  // the softmax log-sum-exp kept for the backward
  forward.bytes_read = q_bytes + kv_bytes;
  forward.bytes_written = o_bytes + lse_bytes;
  forward.comm_bytes = static_cast<double>(cp - 1) * kv_bytes;
  forward.overlapped = !work.cp_all_gather;

  Backward backward;
  Op dx = forward;
  dx.flops = kAttentionBackwardModelFactor * forward.flops;
  dx.bytes_read = q_bytes + kv_bytes + 2 * o_bytes + lse_bytes;  // Q, K, V, O, dO, LSE
  dx.bytes_written = q_bytes + kv_bytes;                         // dQ, dK, dV
  dx.comm_bytes = 2.0 * forward.comm_bytes;                      // K, V and their gradients round the ring
  backward.dx = dx;
  Op scores = forward;
  scores.flops = kAttentionBackwardRecomputeFactor * forward.flops;
  scores.bytes_read = 0;  // the same kernel as `dx`, whose bytes are counted there
  scores.bytes_written = 0;
  scores.comm_bytes = 0;
  backward.dx_recompute = scores;
  return builder.add(site, std::move(forward), std::move(backward), inputs);
}

// ---- MLA (DeepSeek-V2/V3) ----
// Queries: q_down (hidden -> q_lora_rank), RMSNorm, q_up (-> heads x (nope + rope)). Keys and values: kv_down
// (hidden -> kv_lora_rank + rope, the rope part being one key shared by all heads), RMSNorm of the latent,
// kv_up (kv_lora_rank -> heads x (nope + v)). [CFG, V3 §2.1.1]

bool is_mla(const ModelSpec& model, std::int64_t) { return model.attention.kind == AttentionKind::mla; }

Value build_mla(GraphBuilder& builder, const Site& site, Value input) {
  const auto& model = builder.model();
  const auto& a = model.attention;
  const std::int64_t heads = local_heads(a.heads, builder.tp(), "attention heads");
  const std::int64_t qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
  const double tokens = builder.tokens(), shard = builder.shard_tokens();
  const DataType dtype = builder.linear_dtype();

  // The down projections are replicated over tp and run on the GPU's sequence shard; with tp > 1 the latents are
  // all-gathered for the head-sharded up projections, and o_proj's output is reduce-scattered back to the shard.
  Value x = add_norm(builder, site, "norm", shard, model.hidden, input);
  Value q;
  if (a.q_lora_rank > 0) {
    q = add_linear(builder, site, "q_down", shard, model.hidden, a.q_lora_rank, dtype, x);
    q = add_norm(builder, site, "q_norm", shard, a.q_lora_rank, q);
    q = add_tensor_parallel_all_gather(builder, site, "q_gather", tokens, a.q_lora_rank, q);
    q = add_linear(builder, site, "q_up", tokens, a.q_lora_rank, heads * qk, dtype, q);
  } else {
    Value gathered = add_tensor_parallel_all_gather(builder, site, "x_gather", tokens, model.hidden, x);
    q = add_linear(builder, site, "q_proj", tokens, model.hidden, heads * qk, dtype, gathered);
  }
  // kv_down reads the same normalised x as q_down, whose cast it shares.
  Value latent = add_linear(builder, site, "kv_down", shard, model.hidden, a.kv_lora_rank + a.qk_rope_head_dim,
                            dtype, x, a.q_lora_rank > 0 ? InputCast::already_fp8 : InputCast::separate);
  Value kv = add_norm(builder, site, "kv_norm", shard, a.kv_lora_rank, latent);
  kv = add_tensor_parallel_all_gather(builder, site, "kv_gather", tokens, a.kv_lora_rank, kv);
  kv = add_linear(builder, site, "kv_up", tokens, a.kv_lora_rank, heads * (a.qk_nope_head_dim + a.v_head_dim),
                  dtype, kv);
  Value rope_key = add_tensor_parallel_all_gather(builder, site, "k_rope_gather", tokens, a.qk_rope_head_dim, latent);
  // RoPE on every head's rope slice of the query and on the shared rope key.
  const double rope_elements = tokens * static_cast<double>((heads + 1) * a.qk_rope_head_dim);
  Value roped =
      add_elementwise(builder, site, "rope", rope_elements, rope_elements, kRopeFlopsPerElement, {q, rope_key});
  Value core = add_attention_core(builder, site, heads, heads, qk, a.v_head_dim, {roped, kv});
  Value out = add_linear(builder, site, "o_proj", tokens, heads * a.v_head_dim, model.hidden, dtype, core);
  out = add_tensor_parallel_reduce_scatter(builder, site, "o_scatter", tokens, model.hidden, out);
  return add_residual(builder, site, shard, model.hidden, {input, out});
}

double mla_parameters(const ModelSpec& model, bool) {
  const auto& a = model.attention;
  const double hidden = static_cast<double>(model.hidden), heads = static_cast<double>(a.heads);
  const double qk = static_cast<double>(a.qk_nope_head_dim + a.qk_rope_head_dim);
  const double q_lora = static_cast<double>(a.q_lora_rank), kv_lora = static_cast<double>(a.kv_lora_rank);
  double params = hidden;  // input RMSNorm
  if (a.q_lora_rank > 0)
    params += hidden * q_lora + q_lora + q_lora * heads * qk;  // q_down, q_norm, q_up
  else
    params += hidden * heads * qk;
  params += hidden * (kv_lora + static_cast<double>(a.qk_rope_head_dim)) + kv_lora;  // kv_down, kv_norm
  params += kv_lora * heads * static_cast<double>(a.qk_nope_head_dim + a.v_head_dim);  // kv_up
  params += heads * static_cast<double>(a.v_head_dim) * hidden;                         // o_proj
  return params;
}

double mla_core_flops(const ModelSpec& model, std::int64_t seq_len) {
  const auto& a = model.attention;
  return causal_core_flops_per_token(a.heads, a.qk_nope_head_dim + a.qk_rope_head_dim, a.v_head_dim, seq_len);
}

// ---- GQA (Llama) ----
// A fused q/k/v projection (hidden -> (heads + 2 kv_heads) x head_dim), RoPE on queries and keys, the core.

bool is_gqa(const ModelSpec& model, std::int64_t) { return model.attention.kind == AttentionKind::gqa; }

// Key/value heads per GPU: sharded like the query heads, or replicated when there are fewer of them than tp.
std::int64_t local_kv_heads(std::int64_t kv_heads, std::int64_t tp) {
  if (kv_heads > 0 && kv_heads < tp && tp % kv_heads == 0) return 1;
  return local_heads(kv_heads, tp, "key/value heads");
}

Value build_gqa(GraphBuilder& builder, const Site& site, Value input) {
  const auto& model = builder.model();
  const auto& a = model.attention;
  const std::int64_t heads = local_heads(a.heads, builder.tp(), "attention heads");
  const std::int64_t kv_heads = local_kv_heads(a.kv_heads, builder.tp());
  const double tokens = builder.tokens(), shard = builder.shard_tokens();
  const DataType dtype = builder.linear_dtype();

  Value x = add_norm(builder, site, "norm", shard, model.hidden, input);
  x = add_tensor_parallel_all_gather(builder, site, "x_gather", tokens, model.hidden, x);
  Value qkv = add_linear(builder, site, "qkv", tokens, model.hidden, (heads + 2 * kv_heads) * a.head_dim, dtype, x);
  const double rope_elements = tokens * static_cast<double>((heads + kv_heads) * a.head_dim);
  Value roped = add_elementwise(builder, site, "rope", rope_elements, rope_elements, kRopeFlopsPerElement, {qkv});
  Value core = add_attention_core(builder, site, heads, kv_heads, a.head_dim, a.head_dim, {roped, qkv});
  Value out = add_linear(builder, site, "o_proj", tokens, heads * a.head_dim, model.hidden, dtype, core);
  out = add_tensor_parallel_reduce_scatter(builder, site, "o_scatter", tokens, model.hidden, out);
  return add_residual(builder, site, shard, model.hidden, {input, out});
}

double gqa_parameters(const ModelSpec& model, bool) {
  const auto& a = model.attention;
  const double hidden = static_cast<double>(model.hidden), head_dim = static_cast<double>(a.head_dim);
  return hidden                                                                         // input RMSNorm
         + hidden * static_cast<double>(a.heads + 2 * a.kv_heads) * head_dim          // q, k, v
         + static_cast<double>(a.heads) * head_dim * hidden;                           // o_proj
}

double gqa_core_flops(const ModelSpec& model, std::int64_t seq_len) {
  const auto& a = model.attention;
  return causal_core_flops_per_token(a.heads, a.head_dim, a.head_dim, seq_len);
}

}  // namespace

LayerBlock mla_block() {
  return {"mla", LayerSlot::attention, is_mla, build_mla, mla_parameters, mla_core_flops};
}

LayerBlock gqa_block() {
  return {"gqa", LayerSlot::attention, is_gqa, build_gqa, gqa_parameters, gqa_core_flops};
}

}  // namespace fleetsim::graph_detail
