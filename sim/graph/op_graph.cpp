// Sums over an op graph and names of its enums.
#include "graph/op_graph.hpp"

#include <optional>

namespace fleetsim {
namespace {

OpTotals sum_filtered(const OpGraph& graph, std::optional<Phase> phase) {
  OpTotals totals;
  for (auto vertex : boost::make_iterator_range(boost::vertices(graph))) {
    const Op& op = graph[vertex];
    if (phase && op.phase != *phase) continue;
    totals.flops += op.flops;
    if (op.model_flops) totals.model_flops += op.flops;
    totals.bytes += op.bytes_read + op.bytes_written;
    totals.comm_bytes += op.comm_bytes;
    ++totals.ops;
  }
  return totals;
}

}  // namespace

OpTotals sum_ops(const OpGraph& graph) { return sum_filtered(graph, std::nullopt); }
OpTotals sum_ops(const OpGraph& graph, Phase phase) { return sum_filtered(graph, phase); }

bool recomputed_in_selective_mode(const Op& forward_op, const SelectiveRecompute& modules) {
  if (forward_op.kind == OpKind::norm) return modules.layernorm;
  if (forward_op.kind == OpKind::attention) return modules.core_attn;
  if (forward_op.block == "mla" &&
      (forward_op.name.find(".q_up") != std::string::npos || forward_op.name.find(".kv_up") != std::string::npos))
    return modules.mla_up_proj;
  return modules.moe_act && ffn_activation_of(forward_op) && forward_op.name.find(".experts_") != std::string::npos;
}

std::optional<FfnActivation> ffn_activation_of(const Op& op) {
  if (op.kind != OpKind::elementwise) return std::nullopt;
  for (FfnActivation activation : {FfnActivation::swiglu, FfnActivation::geglu, FfnActivation::gelu,
                                   FfnActivation::relu, FfnActivation::squared_relu}) {
    const std::string name = to_string(activation);
    for (const char* prefix : {".", ".experts_", ".shared_"})
      if (op.name.find(prefix + name + ".") != std::string::npos) return activation;
  }
  return std::nullopt;
}

bool works_on_routed_copies(const Op& op) {
  return op.kind == OpKind::grouped_gemm ||
         (ffn_activation_of(op).has_value() && op.name.find(".experts_") != std::string::npos);
}

const char* to_string(OpKind kind) {
  switch (kind) {
    case OpKind::gemm: return "gemm";
    case OpKind::grouped_gemm: return "grouped_gemm";
    case OpKind::attention: return "attention";
    case OpKind::elementwise: return "elementwise";
    case OpKind::norm: return "norm";
    case OpKind::embedding: return "embedding";
    case OpKind::loss: return "loss";
    case OpKind::router: return "router";
    case OpKind::permute: return "permute";
    case OpKind::all_to_all: return "all_to_all";
    case OpKind::tensor_parallel: return "tensor_parallel";
  }
  return "unknown";
}

const char* to_string(DataType dtype) {
  switch (dtype) {
    case DataType::fp8: return "fp8";
    case DataType::bf16: return "bf16";
    case DataType::fp32: return "fp32";
  }
  return "unknown";
}

const char* to_string(Phase phase) {
  switch (phase) {
    case Phase::forward: return "forward";
    case Phase::backward_input: return "backward_input";
    case Phase::backward_weight: return "backward_weight";
  }
  return "unknown";
}

}  // namespace fleetsim
