// Internal to sim/graph: the builder that block files add forward ops to, and that derives the backward ops.
//
// Blocks describe only the forward pass: each forward op is added with the inputs it reads and a recipe for its
// backward (a backward-input op, a backward-weight op, both, or a pass-through). finish() then walks the forward
// ops in reverse creation order, which is a reverse topological order, and adds the backward vertices with edges
// derived from the forward data flow, reverse-mode automatic differentiation applied to the op graph:
//   - the gradient of an op's output is ready when the backward-input ops of all its consumers are done;
//   - an op's backward-input (dX) and backward-weight (dW) vertices both wait for that gradient, and nothing else
//     (dW never waits for dX, which is what lets zero-bubble schedules and DualPipe move dW around);
//   - recomputation (selective or full) adds forward work at backward time, marked model_flops = false.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "graph/op_graph.hpp"

namespace fleetsim::graph_detail {

// An activation flowing between ops: the vertex that produced it, or nothing for the stage's input (it comes from
// the previous pipeline stage, which is not in this graph).
using Value = std::optional<OpVertex>;

// Where an op sits: the prefix of its name, its block and layer, and whether full recomputation redoes it.
struct Site {
  std::string prefix;         // "L12.mla", "L3.moe", "embed", "head", "MTP0"
  std::string block;          // Op::block
  int layer = -1;             // Op::layer
  bool transformer_layer = false;  // part of a transformer layer: full recomputation redoes it
};

// How the reverse pass differentiates one forward op.
struct Backward {
  std::optional<Op> dx;        // backward-input work; none when no input carries a gradient (token ids)
  std::optional<Op> dw;        // backward-weight work; none for ops without weights
  bool pass_through = false;   // the gradient reaches every input unchanged (residual add): no vertex at all
  // Extra backward-input work that is forward work done again (FlashAttention's backward recomputes the scores),
  // executed just before `dx`, model_flops = false.
  std::optional<Op> dx_recompute;
  // A module DeepSeek-V3 keeps in higher precision whatever the training precision (V3 §3.3: the embedding, the
  // output head, the MoE gate): with DeferredWeightGradients::except_high_precision its `dw` is backward-input work.
  bool high_precision_module = false;
};

class GraphBuilder {
 public:
  GraphBuilder(const ModelSpec& model, const MicroBatchWork& work);

  const ModelSpec& model() const { return model_; }
  const MicroBatchWork& work() const { return work_; }
  // Tokens of the micro-batch on this GPU (sequences x seq_len / cp), seen by the tensor-parallel regions.
  double tokens() const { return tokens_; }
  // Tokens of one sequence-parallel shard (tokens / tp): what norms, residuals and the MoE routing path see.
  double shard_tokens() const { return tokens_ / static_cast<double>(tp()); }
  std::int64_t tp() const { return work_.parallelism.tp; }
  std::int64_t ep() const { return work_.parallelism.ep; }
  // The math precision of the linear layers of attention, FFN, experts and the MTP projection: FP8 when training
  // in FP8, since DeepSeek-V3 runs all three GEMMs of a linear layer in FP8 (V3 §3.3.1).
  DataType linear_dtype() const { return work_.precision == Precision::fp8 ? DataType::fp8 : DataType::bf16; }

  // Adds a forward op. `op.name` holds the short op name ("q_up"); the builder prefixes the site and appends the
  // phase ("L12.mla.q_up.fwd"). The backward recipe's ops likewise carry only their kind, shape and costs.
  // `inputs` carry a gradient back; `non_differentiable` inputs are data dependencies only (routing indices).
  Value add(const Site& site, Op op, Backward backward, const std::vector<Value>& inputs,
            const std::vector<Value>& non_differentiable = {});
  // Marks the forward op `forward` (a linear layer added by add_linear) as a module kept in higher precision
  // (Backward::high_precision_module).
  void mark_high_precision_module(Value forward);

  // Adds the backward vertices and returns the graph; the builder is spent afterwards.
  OpGraph finish();

 private:
  struct ForwardInfo {
    Backward backward;
    std::vector<OpVertex> inputs;              // every producer this op reads from
    std::vector<OpVertex> gradient_consumers;  // consumers that send a gradient back to this op
    int recompute_group = -1;                  // recompute_group_of: the layer of the group recomputed with it, or -1
  };

  OpVertex add_vertex(Op op, const std::vector<OpVertex>& predecessors);
  void add_edge_once(OpVertex from, OpVertex to);
  bool reaches(OpVertex from, OpVertex to) const;
  std::vector<OpVertex> prune_redundant(std::vector<OpVertex> sources) const;
  std::vector<OpVertex> gradient_sources(OpVertex forward) const;
  int recompute_group_of(const Site& site, const Op& op, const Backward& backward) const;
  void recompute_layer(int group);

  const ModelSpec& model_;
  MicroBatchWork work_;
  double tokens_ = 0;
  OpGraph graph_;
  std::vector<ForwardInfo> forward_;    // indexed by forward vertex
  std::vector<std::string> base_names_; // "L12.mla.q_up" of each forward vertex, for the names of derived ops
  // Reverse-pass state, indexed by forward vertex.
  std::vector<std::optional<OpVertex>> dx_;
  std::vector<std::vector<OpVertex>> grad_ready_;  // vertices after which the op's output gradient is complete
  std::vector<std::optional<OpVertex>> recomputed_;
  std::vector<bool> group_recomputed_;
  // Transformer layers in the order they were added: the first work_.recompute_layers of them (all when 0) are
  // the ones full recomputation redoes (Megatron-LM's block method counts a model chunk's layers from its first).
  std::vector<int> layer_order_;
};

}  // namespace fleetsim::graph_detail
