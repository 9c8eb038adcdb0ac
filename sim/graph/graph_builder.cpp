#include "graph/graph_builder.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace fleetsim::graph_detail {
namespace {

const char* suffix_of(Phase phase) {
  switch (phase) {
    case Phase::forward: return ".fwd";
    case Phase::backward_input: return ".dx";
    case Phase::backward_weight: return ".dw";
  }
  return "";
}

}  // namespace

GraphBuilder::GraphBuilder(const ModelSpec& model, const MicroBatchWork& work) : model_(model), work_(work) {
  if (work.sequences <= 0 || work.seq_len <= 0)
    throw std::invalid_argument("op graph: a micro-batch needs at least one sequence of at least one token");
  const auto& plan = work.parallelism;
  if (plan.tp <= 0 || plan.ep <= 0 || plan.pp <= 0 || plan.cp <= 0)
    throw std::invalid_argument("op graph: parallel degrees must be positive");
  if (work.seq_len % plan.cp != 0)
    throw std::invalid_argument("op graph: context parallelism needs seq_len to be a multiple of cp");
  // Context parallelism gives each GPU seq_len / cp tokens of every sequence (the attention core's ring exchange
  // is in add_attention_core).
  tokens_ = static_cast<double>(work.sequences) * static_cast<double>(work.seq_len / plan.cp);
}

OpVertex GraphBuilder::add_vertex(Op op, const std::vector<OpVertex>& predecessors) {
  const OpVertex vertex = boost::add_vertex(std::move(op), graph_);
  for (OpVertex from : predecessors) add_edge_once(from, vertex);
  return vertex;
}

void GraphBuilder::add_edge_once(OpVertex from, OpVertex to) {
  if (from == to) throw std::logic_error("op graph: self dependency on " + graph_[to].name);
  if (!boost::edge(from, to, graph_).second) boost::add_edge(from, to, graph_);
}

Value GraphBuilder::add(const Site& site, Op op, Backward backward, const std::vector<Value>& inputs,
                        const std::vector<Value>& non_differentiable) {
  if (!dx_.empty()) throw std::logic_error("op graph: forward op added after finish()");
  std::string base = site.prefix + "." + op.name;
  op.name = base + suffix_of(Phase::forward);
  op.block = site.block;
  op.layer = site.layer;
  op.phase = Phase::forward;

  ForwardInfo info;
  info.backward = std::move(backward);
  info.recompute_group = recompute_group_of(site, op, info.backward);
  if (site.transformer_layer && std::find(layer_order_.begin(), layer_order_.end(), site.layer) == layer_order_.end())
    layer_order_.push_back(site.layer);
  for (const auto* list : {&inputs, &non_differentiable})
    for (const Value& input : *list) {
      if (!input) continue;
      if (*input >= forward_.size()) throw std::logic_error("op graph: input of " + base + " is not a forward op");
      info.inputs.push_back(*input);
    }
  const OpVertex vertex = add_vertex(std::move(op), info.inputs);
  for (const Value& input : inputs)
    if (input) forward_[*input].gradient_consumers.push_back(vertex);
  forward_.push_back(std::move(info));
  base_names_.push_back(std::move(base));
  return vertex;
}

void GraphBuilder::mark_high_precision_module(Value forward) {
  if (!forward || *forward >= forward_.size())
    throw std::logic_error("op graph: only a forward op can be marked as a high-precision module");
  forward_[*forward].backward.high_precision_module = true;
}

// Whether `to` depends on `from`. Every edge goes from an older vertex to a newer one (vertices are created in
// topological order), so the backward search from `to` never needs to look at vertices older than `from`.
bool GraphBuilder::reaches(OpVertex from, OpVertex to) const {
  if (from >= to) return false;
  std::vector<OpVertex> stack{to};
  std::vector<bool> seen(boost::num_vertices(graph_), false);
  while (!stack.empty()) {
    OpVertex v = stack.back();
    stack.pop_back();
    for (auto edge : boost::make_iterator_range(boost::in_edges(v, graph_))) {
      OpVertex u = boost::source(edge, graph_);
      if (u == from) return true;
      if (u > from && !seen[u]) {
        seen[u] = true;
        stack.push_back(u);
      }
    }
  }
  return false;
}

// Drops sources that another source already waits for, so that a gradient passed through a chain of residual
// adds does not accumulate one edge per layer.
std::vector<OpVertex> GraphBuilder::prune_redundant(std::vector<OpVertex> sources) const {
  std::sort(sources.begin(), sources.end());
  sources.erase(std::unique(sources.begin(), sources.end()), sources.end());
  if (sources.size() < 2) return sources;
  std::vector<OpVertex> kept;
  for (OpVertex s : sources) {
    bool implied = std::any_of(sources.begin(), sources.end(), [&](OpVertex t) { return t != s && reaches(s, t); });
    if (!implied) kept.push_back(s);
  }
  return kept;
}

// The vertices after which the gradient of `forward`'s output is complete: the backward-input ops of all its
// consumers (through pass-through ops). An output nobody in this stage consumes is the stage's output: its
// gradient comes from the next stage, and the schedule adds that wait; here it depends on the forward op itself.
std::vector<OpVertex> GraphBuilder::gradient_sources(OpVertex forward) const {
  std::vector<OpVertex> sources;
  for (OpVertex consumer : forward_[forward].gradient_consumers) {
    if (dx_[consumer]) {
      sources.push_back(*dx_[consumer]);
    } else {
      const auto& ready = grad_ready_[consumer];
      sources.insert(sources.end(), ready.begin(), ready.end());
    }
  }
  if (sources.empty()) sources.push_back(forward);
  return prune_redundant(std::move(sources));
}

// Which recompute group an op belongs to, -1 for none. Full recomputation: its transformer layer. Selective: the
// layer of the dense MLP, MoE block or shared expert it is part of, when training.recompute_modules names that block
// (a layer has at most one such group: the shared expert sits inside the MoE block); norms and residual adds stay out.
int GraphBuilder::recompute_group_of(const Site& site, const Op& op, const Backward& backward) const {
  if (!site.transformer_layer || work_.recompute == Recompute::none) return -1;
  if (work_.recompute == Recompute::full) return site.layer;
  if (op.kind == OpKind::norm || backward.pass_through) return -1;
  const SelectiveRecompute& modules = work_.selective_recompute;
  const bool shared_expert = op.name.rfind(site.prefix + ".shared_", 0) == 0;  // op.name is the full name here
  const bool named = (site.block == "ffn" && modules.mlp) ||
                     (site.block == "moe" && (modules.moe || (modules.shared_experts && shared_expert)));
  return named ? site.layer : -1;
}

// Recomputation of one group (Megatron-LM's "full" activation recomputation of a transformer layer, Korthikanti et
// al. 2022, or of one block under selective recomputation): only the group's input is kept, and its whole forward
// runs again when the group's output gradient arrives, before any of its backward ops.
void GraphBuilder::recompute_layer(int group) {
  std::vector<OpVertex> members;
  for (OpVertex v = 0; v < forward_.size(); ++v)
    if (forward_[v].recompute_group == group) members.push_back(v);
  if (members.back() - members.front() + 1 != members.size())
    throw std::logic_error("op graph: the ops of layer " + std::to_string(group) + " are not contiguous");

  std::vector<OpVertex> gradient_in;
  for (OpVertex v : members) {
    if (forward_[v].gradient_consumers.empty()) gradient_in.push_back(v);
    for (OpVertex consumer : forward_[v].gradient_consumers) {
      if (forward_[consumer].recompute_group == group) continue;
      if (dx_[consumer]) {
        gradient_in.push_back(*dx_[consumer]);
      } else {
        const auto& ready = grad_ready_[consumer];
        gradient_in.insert(gradient_in.end(), ready.begin(), ready.end());
      }
    }
  }
  gradient_in = prune_redundant(std::move(gradient_in));

  for (OpVertex v : members) {
    std::vector<OpVertex> predecessors;
    for (OpVertex input : forward_[v].inputs)
      if (forward_[input].recompute_group == group) predecessors.push_back(*recomputed_[input]);
    if (predecessors.empty()) predecessors = gradient_in;
    graph_[v].recomputed_in_full = true;
    Op op = graph_[v];
    op.name = base_names_[v] + ".recompute";
    op.phase = Phase::backward_input;  // it runs in the backward pass
    op.model_flops = false;
    op.recomputed_in_full = false;
    recomputed_[v] = add_vertex(std::move(op), predecessors);
  }
  group_recomputed_[static_cast<std::size_t>(group)] = true;
}

OpGraph GraphBuilder::finish() {
  const std::size_t forward_count = forward_.size();
  dx_.assign(forward_count, std::nullopt);
  grad_ready_.assign(forward_count, {});
  recomputed_.assign(forward_count, std::nullopt);
  int max_group = -1;
  for (const auto& info : forward_) max_group = std::max(max_group, info.recompute_group);
  group_recomputed_.assign(static_cast<std::size_t>(max_group + 1), false);
  // Layers left out of full recomputation count as done: they keep their activations.
  if (work_.recompute == Recompute::full && work_.recompute_layers > 0)
    for (std::size_t position = static_cast<std::size_t>(work_.recompute_layers); position < layer_order_.size();
         ++position)
      group_recomputed_[static_cast<std::size_t>(layer_order_[position])] = true;

  for (std::size_t index = forward_count; index-- > 0;) {
    const OpVertex v = index;
    const ForwardInfo& info = forward_[v];
    const int group = info.recompute_group;
    if (group >= 0 && !group_recomputed_[static_cast<std::size_t>(group)]) recompute_layer(group);

    grad_ready_[v] = gradient_sources(v);
    if (info.backward.pass_through) continue;

    // Selective recomputation as DeepSeek-V3 does it (V3 §3.2.3): RMSNorms and MLA up-projections run again in
    // the backward pass instead of keeping their outputs.
    if (work_.recompute == Recompute::selective && !graph_[v].recomputed_in_full &&
        recomputed_in_selective_mode(graph_[v], work_.selective_recompute)) {
      Op op = graph_[v];
      op.name = base_names_[v] + ".recompute";
      op.phase = Phase::backward_input;
      op.model_flops = false;
      recomputed_[v] = add_vertex(std::move(op), grad_ready_[v]);
    }

    std::vector<OpVertex> waits = grad_ready_[v];
    if (recomputed_[v]) waits.push_back(*recomputed_[v]);
    waits = prune_redundant(std::move(waits));

    auto derived = [&](Op op, Phase phase, const char* suffix) {
      op.name = base_names_[v] + suffix;
      op.block = graph_[v].block;
      op.layer = graph_[v].layer;
      op.phase = phase;
      return op;
    };
    if (info.backward.dx) {
      std::vector<OpVertex> dx_waits = waits;
      if (info.backward.dx_recompute) {
        Op extra = derived(*info.backward.dx_recompute, Phase::backward_input, ".dx_recompute");
        extra.model_flops = false;
        dx_waits = {add_vertex(std::move(extra), waits)};
      }
      dx_[v] = add_vertex(derived(*info.backward.dx, Phase::backward_input, ".dx"), dx_waits);
    }
    if (info.backward.dw) {
      // A module kept in higher precision computes its weight gradient with its input gradient where the scenario
      // says so (DeferredWeightGradients in sim/spec/jobs.hpp); every other weight gradient is W work.
      const bool with_input_gradient =
          info.backward.high_precision_module &&
          work_.deferred_weight_gradients == DeferredWeightGradients::except_high_precision;
      Op dw = derived(*info.backward.dw, with_input_gradient ? Phase::backward_input : Phase::backward_weight, ".dw");
      dw.weight_gradient = true;
      add_vertex(std::move(dw), waits);
    }
  }
  return std::move(graph_);
}

}  // namespace fleetsim::graph_detail
