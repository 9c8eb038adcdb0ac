// The MoE feed-forward block (DeepSeek-V3: layers 3..60, 256 routed experts + 1 shared, top-8, expert
// intermediate 2,048, sigmoid scores, 8 groups of which 4 per token [CFG, V3 §2.1.2]).
//
// Forward: RMSNorm; router gate GEMM (hidden -> routed_experts, BF16); router (sigmoid, group-limited top-k);
// permute (token copies ordered by destination, quantized to FP8 on the way when training in FP8); dispatch
// all-to-all; the GPU's routed_experts/ep experts as grouped GEMMs (gate+up, SwiGLU, down); combine all-to-all;
// unpermute and routing-weighted sum; the shared expert(s) as ordinary GEMMs beside the routed path; residual add.
//
// Load is the router's expectation under balance (DeepSeek-V3's auxiliary-loss-free balancing, V3 §2.1.2): each
// GPU sends out tokens x top_k token copies and receives as many, spread evenly over its local experts. With
// tensor parallelism the routed path runs on the GPU's 1/tp sequence shard of the tokens (experts are not
// sharded by tp, they use EP); the shared experts are sharded like a dense FFN.
#include <stdexcept>

#include "graph/blocks.hpp"
#include "graph/ops.hpp"

namespace fleetsim::graph_detail {
namespace {

// Router work per expert score: sigmoid (exp, add, divide), the selection bias add, and the group score and top-k
// comparisons of group-limited routing (V3 §2.1.2), about 6 FLOPs. Memory-bound; feeds only the roofline fallback.
constexpr double kRouterFlopsPerScore = 6;
// Routing indices and weights per token copy: an int32 expert index and an FP32 weight.
constexpr double kRouteEntryBytes = 4 + 4;

bool uses_moe(const ModelSpec& model, std::int64_t layer) {
  return model.kind == ModelKind::moe && layer >= model.moe.dense_layers;
}

void check_moe(const ModelSpec& model, std::int64_t tp, std::int64_t ep) {
  const auto& m = model.moe;
  auto fail = [](const std::string& what) { throw std::invalid_argument("op graph: MoE " + what); };
  if (m.routed_experts <= 0 || m.top_k <= 0 || m.top_k > m.routed_experts || m.expert_intermediate <= 0)
    fail("needs routed_experts >= top_k > 0 and expert_intermediate > 0");
  if (m.routed_experts % ep != 0)
    fail("routed_experts (" + std::to_string(m.routed_experts) + ") must be a multiple of ep (" +
         std::to_string(ep) + ")");
  if (m.shared_experts < 0 || (m.shared_experts * m.expert_intermediate) % tp != 0)
    fail("shared expert intermediate must be a multiple of tp (" + std::to_string(tp) + ")");
}

// One MoE all-to-all of `copies` token copies of `hidden` values in `dtype` (scales included for FP8). Under a
// balanced router a copy stays on this GPU with probability 1/ep, so (ep-1)/ep of the bytes leave it.
Op all_to_all_op(const char* name, double copies, std::int64_t hidden, DataType dtype, std::int64_t ep) {
  const double bytes = copies * static_cast<double>(hidden) * wire_bytes(dtype);
  Op op;
  op.name = name;
  op.kind = OpKind::all_to_all;
  op.dtype = dtype;
  op.comm_bytes = bytes * static_cast<double>(ep - 1) / static_cast<double>(ep);
  op.bytes_read = bytes;     // the send buffer
  op.bytes_written = bytes;  // the receive buffer
  return op;
}

Value build_moe(GraphBuilder& builder, const Site& site, Value input) {
  const auto& model = builder.model();
  const auto& m = model.moe;
  const std::int64_t tp = builder.tp(), ep = builder.ep(), hidden = model.hidden;
  check_moe(model, tp, ep);
  const double tokens = builder.shard_tokens();  // tokens this GPU routes
  const double copies = tokens * static_cast<double>(m.top_k);
  const double h = static_cast<double>(hidden);
  const double experts = static_cast<double>(m.routed_experts);
  const double k = static_cast<double>(m.top_k);
  // V3 §3.3.3: dispatch (and the activation gradient sent before the down projection's backward) in FP8;
  // combine (and the gradient sent back in the dispatch's backward) in BF16. A plain all-to-all dispatcher moves
  // BF16 both ways (MoeDispatcher in sim/spec/jobs.hpp).
  const DataType dispatch_dtype =
      builder.work().moe_dispatcher == MoeDispatcher::deepep ? builder.linear_dtype() : DataType::bf16;
  const DataType combine_dtype = DataType::bf16;

  Value x = add_norm(builder, site, "norm", tokens, hidden, input);
  // The gate stays in BF16 with the other routing math (V3 §3.3: gating modules kept in higher precision).
  Value logits = add_linear(builder, site, "gate", tokens, hidden, m.routed_experts, DataType::bf16, x);
  builder.mark_high_precision_module(logits);

  Op router;
  router.name = "router";
  router.kind = OpKind::router;
  router.flops = kRouterFlopsPerScore * tokens * experts;
  router.bytes_read = tokens * experts * kBf16Bytes;
  router.bytes_written = tokens * k * kRouteEntryBytes;
  Backward router_backward;
  {
    Op dx = router;  // gradient of the selected weights back to the sigmoid scores and the logits
    dx.flops = 2 * kRouterFlopsPerScore * tokens * experts;
    dx.bytes_read = tokens * experts * kBf16Bytes + tokens * k * kRouteEntryBytes;
    dx.bytes_written = tokens * experts * kBf16Bytes;
    router_backward.dx = dx;
  }
  Value routes = builder.add(site, std::move(router), std::move(router_backward), {logits});

  Op permute;
  permute.name = "permute";
  permute.kind = OpKind::permute;
  permute.dtype = dispatch_dtype;
  permute.bytes_read = tokens * h * kBf16Bytes + tokens * k * kRouteEntryBytes;
  permute.bytes_written = copies * h * wire_bytes(dispatch_dtype);
  Backward permute_backward;
  {
    Op dx = permute;  // sums the gradients of a token's copies
    dx.dtype = combine_dtype;
    dx.flops = copies * h;
    dx.bytes_read = copies * h * kBf16Bytes;
    dx.bytes_written = tokens * h * kBf16Bytes;
    permute_backward.dx = dx;
  }
  // The routing indices only order the copies: no gradient flows to the router through the permute.
  Value routed = builder.add(site, std::move(permute), std::move(permute_backward), {x}, {routes});

  if (ep > 1) {
    Backward backward;
    backward.dx = all_to_all_op("dispatch", copies, hidden, combine_dtype, ep);
    routed = builder.add(site, all_to_all_op("dispatch", copies, hidden, dispatch_dtype, ep), std::move(backward),
                         {routed});
  }

  // The experts on this GPU receive, under balance, as many copies as it sent.
  const std::int64_t local_experts = m.routed_experts / ep;
  const DataType dtype = builder.linear_dtype();
  // The permute wrote the copies in the dispatch precision (FP8 under FP8 training): no cast of their own.
  const bool gated = is_gated(m.activation);
  Value y = add_grouped_linear(builder, site, gated ? "experts_gate_up" : "experts_up", copies, local_experts, hidden,
                               (gated ? 2 : 1) * m.expert_intermediate, dtype, routed,
                               dispatch_dtype == DataType::fp8 ? InputCast::already_fp8 : InputCast::separate);
  const double activated = copies * static_cast<double>(m.expert_intermediate);
  y = add_elementwise(builder, site, (std::string("experts_") + to_string(m.activation)).c_str(),
                      (gated ? 2 : 1) * activated, activated, activation_flops_per_element(m.activation), {y});
  y = add_grouped_linear(builder, site, "experts_down", copies, local_experts, m.expert_intermediate, hidden, dtype,
                         y);

  if (ep > 1) {
    Backward backward;
    backward.dx = all_to_all_op("combine", copies, hidden, dispatch_dtype, ep);
    y = builder.add(site, all_to_all_op("combine", copies, hidden, combine_dtype, ep), std::move(backward), {y});
  }

  Op unpermute;
  unpermute.name = "unpermute";
  unpermute.kind = OpKind::permute;
  unpermute.flops = 2 * copies * h;  // weight each copy, add it to its token
  unpermute.bytes_read = copies * h * kBf16Bytes + tokens * k * kRouteEntryBytes;
  unpermute.bytes_written = tokens * h * kBf16Bytes;
  Backward unpermute_backward;
  {
    // Scatters the weighted output gradient to the copies (quantized for the FP8 combine backward) and forms the
    // routing weights' gradient from the copies' outputs.
    Op dx = unpermute;
    dx.dtype = dispatch_dtype;
    dx.flops = 4 * copies * h;
    dx.bytes_read = tokens * h * kBf16Bytes + copies * h * kBf16Bytes + tokens * k * kRouteEntryBytes;
    dx.bytes_written = copies * h * wire_bytes(dispatch_dtype) + tokens * k * kFp32Bytes;
    unpermute_backward.dx = dx;
  }
  Value combined = builder.add(site, std::move(unpermute), std::move(unpermute_backward), {y, routes});

  std::vector<Value> terms{input, combined};
  if (m.shared_experts > 0)
    terms.push_back(add_mlp(builder, site, "shared_", builder.tokens(), m.shared_experts * m.expert_intermediate / tp,
                            m.activation, x));
  return add_residual(builder, site, tokens, hidden, terms);
}

double moe_parameters(const ModelSpec& model, bool activated_only) {
  const auto& m = model.moe;
  const double hidden = static_cast<double>(model.hidden);
  const double expert = mlp_parameters(model.hidden, m.expert_intermediate, m.activation);
  const double experts_used = static_cast<double>((activated_only ? m.top_k : m.routed_experts) + m.shared_experts);
  const double gate = static_cast<double>(m.routed_experts) * hidden;
  // The router's selection bias, one per expert [CFG topk_method "noaux_tc": e_score_correction_bias].
  const double bias = static_cast<double>(m.routed_experts);
  return hidden + gate + bias + experts_used * expert;
}

double no_core_flops(const ModelSpec&, std::int64_t) { return 0; }

}  // namespace

LayerBlock moe_block() {
  return {"moe", LayerSlot::feed_forward, uses_moe, build_moe, moe_parameters, no_core_flops};
}

}  // namespace fleetsim::graph_detail
