// The dense feed-forward block: every layer of a dense model, the first moe.dense_layers layers of a MoE
// model (DeepSeek-V3: 3 layers of SwiGLU, intermediate 18,432 [CFG first_k_dense_replace, intermediate_size]).
//
// Post-attention RMSNorm on the GPU's sequence-parallel shard of the tokens, then the MLP over all tokens with
// intermediate/tp columns per GPU (Megatron-LM tensor parallelism), then the residual add.
#include <stdexcept>

#include "graph/blocks.hpp"
#include "graph/ops.hpp"

namespace fleetsim::graph_detail {

Value add_mlp(GraphBuilder& builder, const Site& site, const std::string& name_prefix, double rows,
              std::int64_t intermediate, FfnActivation activation, Value x) {
  const std::int64_t hidden = builder.model().hidden;
  const DataType dtype = builder.linear_dtype();
  const bool gated = is_gated(activation);
  // Tensor parallel: the sequence-sharded input is gathered for gate/up (column-parallel), the down projection's
  // partial sums are reduce-scattered back to the shard (row-parallel).
  x = add_tensor_parallel_all_gather(builder, site, (name_prefix + "gather").c_str(), rows, hidden, x);
  const std::int64_t up_width = gated ? 2 * intermediate : intermediate;
  Value up = add_linear(builder, site, (name_prefix + (gated ? "gate_up" : "up")).c_str(), rows, hidden, up_width,
                        dtype, x);
  const double activated = rows * static_cast<double>(intermediate);
  Value act = add_elementwise(builder, site, (name_prefix + to_string(activation)).c_str(),
                              (gated ? 2 : 1) * activated, activated, activation_flops_per_element(activation), {up});
  Value out = add_linear(builder, site, (name_prefix + "down").c_str(), rows, intermediate, hidden, dtype, act);
  return add_tensor_parallel_reduce_scatter(builder, site, (name_prefix + "scatter").c_str(), rows, hidden, out);
}

double mlp_parameters(std::int64_t hidden, std::int64_t intermediate, FfnActivation activation) {
  return (is_gated(activation) ? 3.0 : 2.0) * static_cast<double>(hidden) * static_cast<double>(intermediate);
}

namespace {

bool uses_dense_ffn(const ModelSpec& model, std::int64_t layer) {
  return model.kind == ModelKind::dense || layer < model.moe.dense_layers;
}

Value build_dense_ffn(GraphBuilder& builder, const Site& site, Value input) {
  const auto& model = builder.model();
  const std::int64_t tp = builder.tp();
  if (model.ffn.intermediate <= 0 || model.ffn.intermediate % tp != 0)
    throw std::invalid_argument("op graph: FFN intermediate size (" + std::to_string(model.ffn.intermediate) +
                                ") must be a positive multiple of tp (" + std::to_string(tp) + ")");
  Value x = add_norm(builder, site, "norm", builder.shard_tokens(), model.hidden, input);
  Value out = add_mlp(builder, site, "", builder.tokens(), model.ffn.intermediate / tp, model.ffn.activation, x);
  return add_residual(builder, site, builder.shard_tokens(), model.hidden, {input, out});
}

double dense_ffn_parameters(const ModelSpec& model, bool) {
  return static_cast<double>(model.hidden) +  // norm
         mlp_parameters(model.hidden, model.ffn.intermediate, model.ffn.activation);
}

double no_core_flops(const ModelSpec&, std::int64_t) { return 0; }

}  // namespace

LayerBlock dense_ffn_block() {
  return {"ffn", LayerSlot::feed_forward, uses_dense_ffn, build_dense_ffn, dense_ffn_parameters, no_core_flops};
}

}  // namespace fleetsim::graph_detail
