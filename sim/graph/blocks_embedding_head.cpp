// The parts outside the transformer layers: the input embedding (first stage), the LM head with its cross-entropy
// (last stage), and DeepSeek-V3's multi-token-prediction modules (last stage, V3 §2.2).
//
// DeepSeek-V3 keeps the embedding, the output head, the gating, the norms and attention in BF16/FP32 (V3 §3.3.1),
// so the head GEMM is BF16 whatever the training precision. With tensor parallelism the embedding and the head are
// vocab-parallel (Megatron-LM): each GPU holds vocab/tp rows (rounded up, as Megatron pads the vocabulary).
#include <string>

#include "graph/blocks.hpp"
#include "graph/ops.hpp"

namespace fleetsim::graph_detail {
namespace {

// Cross-entropy per logit, forward: max, subtract, exp, accumulate (4 FLOPs); backward: exp(x - lse), subtract
// the one-hot, scale by the loss weight (3 FLOPs). Memory-bound; feeds only the roofline fallback.
constexpr double kLossFlopsPerLogit = 4;
constexpr double kLossBackwardFlopsPerLogit = 3;
constexpr double kTokenIdBytes = 4;  // int32 token ids

std::int64_t local_vocab(const ModelSpec& model, std::int64_t tp) { return (model.vocab + tp - 1) / tp; }

// Embedding lookup of every token of the micro-batch: forward gathers table rows; the backward adds the output
// gradient's rows into the FP32 gradient of the table, which the batch accumulates in (a weight gradient: token
// ids carry none). How it gets there is TrainingJob::embedding_gradient's: PyTorch's dense embedding backward
// zero-fills a BF16 gradient of the GPU's whole vocabulary shard, adds the rows into it, and the framework then adds
// that table into the FP32 gradient (aten embedding_dense_backward_cuda: at::zeros({num_weights, dim}); Megatron-Core
// DDP: main_grad.add_(grad)); a rows kernel adds the rows into the FP32 gradient directly.
Value add_lookup(GraphBuilder& builder, const Site& site) {
  const auto& model = builder.model();
  const double rows = builder.tokens();
  const double elements = rows * static_cast<double>(model.hidden);
  Op forward;
  forward.name = "embed";
  forward.kind = OpKind::embedding;
  forward.bytes_read = elements * kBf16Bytes + rows * kTokenIdBytes;
  forward.bytes_written = elements * kBf16Bytes;
  Backward backward;
  Op dw = forward;
  dw.flops = elements;  // one add per element
  if (builder.work().embedding_gradient == EmbeddingGradient::dense) {
    const double table = static_cast<double>(local_vocab(model, builder.tp())) * static_cast<double>(model.hidden);
    // Zero-fill the BF16 table, add the rows into it (read the output gradient and the ids, write the rows), then
    // one pass over the table into the FP32 gradient (read both, write the FP32 one).
    dw.flops += table;  // the table-sized add
    dw.bytes_read = elements * kBf16Bytes + rows * kTokenIdBytes + table * (kBf16Bytes + kFp32Bytes);
    dw.bytes_written = table * kBf16Bytes + elements * kBf16Bytes + table * kFp32Bytes;
  } else {
    dw.bytes_read = elements * kBf16Bytes + rows * kTokenIdBytes + elements * kFp32Bytes;
    dw.bytes_written = elements * kFp32Bytes;
  }
  backward.dw = dw;
  backward.high_precision_module = true;  // V3 §3.3: the embedding stays out of FP8
  return builder.add(site, std::move(forward), std::move(backward), {});
}

// Final RMSNorm, head GEMM (hidden -> vocab/tp, BF16) and softmax cross-entropy over the GPU's vocabulary shard.
void add_head_and_loss(GraphBuilder& builder, const Site& site, const char* norm_name, const char* gemm_name,
                       Value hidden_states) {
  const auto& model = builder.model();
  const std::int64_t vocab = local_vocab(model, builder.tp());
  const double tokens = builder.tokens();
  const double logits = tokens * static_cast<double>(vocab);

  Value x = add_norm(builder, site, norm_name, builder.shard_tokens(), model.hidden, hidden_states);
  x = add_tensor_parallel_all_gather(builder, site, (std::string(gemm_name) + "_gather").c_str(), tokens,
                                     model.hidden, x);
  Value y = add_linear(builder, site, gemm_name, tokens, model.hidden, vocab, DataType::bf16, x);
  builder.mark_high_precision_module(y);

  Op loss;
  loss.name = "loss";
  loss.kind = OpKind::loss;
  loss.flops = kLossFlopsPerLogit * logits;
  loss.bytes_read = logits * kBf16Bytes + tokens * kTokenIdBytes;
  loss.bytes_written = 2 * tokens * kFp32Bytes;  // per-token loss and log-sum-exp
  Backward backward;
  Op dx = loss;
  dx.flops = kLossBackwardFlopsPerLogit * logits;
  dx.bytes_read = logits * kBf16Bytes + tokens * (kTokenIdBytes + kFp32Bytes);
  dx.bytes_written = logits * kBf16Bytes;
  backward.dx = dx;
  builder.add(site, std::move(loss), std::move(backward), {y});
}

// With tp > 1 the vocabulary-parallel lookup's partial rows are reduce-scattered to the GPU's sequence shard.
Value add_sharded_lookup(GraphBuilder& builder, const Site& site) {
  return add_tensor_parallel_reduce_scatter(builder, site, "embed_scatter", builder.tokens(), builder.model().hidden,
                                            add_lookup(builder, site));
}

}  // namespace

Value add_embedding(GraphBuilder& builder) {
  return add_sharded_lookup(builder, Site{"embed", "embedding", -1, false});
}

void add_lm_head(GraphBuilder& builder, Value hidden_states) {
  add_head_and_loss(builder, Site{"head", "head", -1, false}, "norm", "gemm", hidden_states);
}

// MTP module k (V3 §2.2, Figure 3): h' = M [RMSNorm(h); RMSNorm(Emb(t_{i+k+1}))], one transformer layer, then the
// shared output head and its own cross-entropy. The embedding and head weights are the main model's; on a pipeline
// the lookup runs here on the last stage (DualPipe places the first and last stages on one rank, V3 §3.2.1).
Value add_mtp_module(GraphBuilder& builder, int depth, Value previous) {
  const auto& model = builder.model();
  const int layer = static_cast<int>(model.layers) + depth;
  const Site site{"MTP" + std::to_string(depth), "mtp", layer, false};
  const double tokens = builder.shard_tokens();

  Value embedded = add_sharded_lookup(builder, site);
  Value h = add_norm(builder, site, "hnorm", tokens, model.hidden, previous);
  Value e = add_norm(builder, site, "enorm", tokens, model.hidden, embedded);
  // Replicated across tp like MLA's down projections, on the GPU's sequence shard.
  Value projected = add_linear(builder, site, "eh_proj", tokens, 2 * model.hidden, model.hidden,
                               builder.linear_dtype(), std::vector<Value>{h, e});
  Value out = add_transformer_layer(builder, layer, projected);
  add_head_and_loss(builder, site, "head_norm", "head", out);
  return out;
}

double embedding_parameters(const ModelSpec& model) {
  return static_cast<double>(model.vocab) * static_cast<double>(model.hidden);
}

double head_matmul_parameters(const ModelSpec& model) {
  return static_cast<double>(model.vocab) * static_cast<double>(model.hidden);
}

double head_parameters(const ModelSpec& model) {
  const double final_norm = static_cast<double>(model.hidden);
  return final_norm + (model.tied_embeddings ? 0.0 : head_matmul_parameters(model));
}

double mtp_parameters(const ModelSpec& model, bool activated_only) {
  const double hidden = static_cast<double>(model.hidden);
  // eh_proj (2 hidden -> hidden) and three RMSNorms: hnorm, enorm and the shared head's own norm
  // [CFG checkpoint: eh_proj, hnorm, enorm, shared_head.norm].
  const double own = 2.0 * hidden * hidden + 3.0 * hidden;
  double params = 0;
  for (std::int64_t depth = 0; depth < model.mtp_depth; ++depth)
    params += layer_parameters(model, model.layers + depth, activated_only) + own;
  return params;
}

double mtp_forward_flops_per_token(const ModelSpec& model, std::int64_t seq_len) {
  double flops = 2.0 * mtp_parameters(model, true);
  for (std::int64_t depth = 0; depth < model.mtp_depth; ++depth)
    flops += 2.0 * head_matmul_parameters(model) + layer_core_flops_per_token(model, model.layers + depth, seq_len);
  return flops;
}

}  // namespace fleetsim::graph_detail
