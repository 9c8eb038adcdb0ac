// The op graph of one micro-batch on one stage: per-op FLOPs and shapes, edges, phase sums, agreement with the
// closed forms, the stage split and recomputation.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/graph/topological_sort.hpp>
#include <cmath>
#include <iterator>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "graph/op_graph.hpp"
#include "test_models.hpp"

namespace fleetsim {
namespace {

constexpr double kTokens = 4096;  // one sequence of 4,096 tokens (V3 §4.2)

MicroBatchWork work(std::int64_t ep = 1, Precision precision = Precision::fp8, Recompute recompute = Recompute::none,
                    std::int64_t tp = 1) {
  MicroBatchWork w;
  w.sequences = 1;
  w.seq_len = 4096;
  w.precision = precision;
  w.parallelism.ep = ep;
  w.parallelism.tp = tp;
  w.recompute = recompute;
  return w;
}

StageSlice layers(int first, int last) {
  StageSlice slice;
  slice.first_layer = first;
  slice.last_layer = last;
  return slice;
}

// Op names to vertices; fails the test on a duplicate name.
std::map<std::string, OpVertex> by_name(const OpGraph& graph) {
  std::map<std::string, OpVertex> names;
  for (auto v : boost::make_iterator_range(boost::vertices(graph))) {
    bool inserted = names.emplace(graph[v].name, v).second;
    EXPECT_TRUE(inserted) << "duplicate op name " << graph[v].name;
  }
  return names;
}

const Op& find(const OpGraph& graph, const std::string& name) {
  for (auto v : boost::make_iterator_range(boost::vertices(graph)))
    if (graph[v].name == name) return graph[v];
  throw std::runtime_error("no op named " + name);
}

bool has(const OpGraph& graph, const std::string& name) {
  for (auto v : boost::make_iterator_range(boost::vertices(graph)))
    if (graph[v].name == name) return true;
  return false;
}

bool reaches(const OpGraph& graph, OpVertex from, OpVertex to) {
  std::vector<OpVertex> stack{from};
  std::set<OpVertex> seen{from};
  while (!stack.empty()) {
    OpVertex v = stack.back();
    stack.pop_back();
    if (v == to) return true;
    for (auto e : boost::make_iterator_range(boost::out_edges(v, graph))) {
      OpVertex w = boost::target(e, graph);
      if (seen.insert(w).second) stack.push_back(w);
    }
  }
  return false;
}

std::set<std::string> predecessors(const OpGraph& graph, const std::string& name) {
  auto names = by_name(graph);
  std::set<std::string> result;
  for (auto e : boost::make_iterator_range(boost::in_edges(names.at(name), graph)))
    result.insert(graph[boost::source(e, graph)].name);
  return result;
}

void expect_dag(const OpGraph& graph) {
  std::vector<OpVertex> order;
  EXPECT_NO_THROW(boost::topological_sort(graph, std::back_inserter(order)));
  EXPECT_EQ(order.size(), boost::num_vertices(graph));
}

void expect_shape(const GemmShape& shape, std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t groups = 1) {
  EXPECT_EQ(shape.m, m);
  EXPECT_EQ(shape.n, n);
  EXPECT_EQ(shape.k, k);
  EXPECT_EQ(shape.groups, groups);
}

TEST(OpGraph, QUpFollowsTheGemmConvention) {
  const OpGraph graph = build_training_graph(test::deepseek_v3(), layers(3, 4), work());
  const Op& fwd = find(graph, "L3.mla.q_up.fwd");
  const Op& dx = find(graph, "L3.mla.q_up.dx");
  const Op& dw = find(graph, "L3.mla.q_up.dw");
  const double flops = 2.0 * 4096 * 1536 * 24576;  // q_lora_rank 1536 -> 128 heads x 192
  EXPECT_DOUBLE_EQ(fwd.flops, flops);
  EXPECT_DOUBLE_EQ(dx.flops, flops);
  EXPECT_DOUBLE_EQ(dw.flops, flops);
  expect_shape(fwd.gemm, 4096, 24576, 1536);  // Y = X W
  expect_shape(dx.gemm, 4096, 1536, 24576);   // dX = dY W^T
  expect_shape(dw.gemm, 1536, 24576, 4096);   // dW = X^T dY
  EXPECT_EQ(fwd.kind, OpKind::gemm);
  EXPECT_EQ(fwd.phase, Phase::forward);
  EXPECT_EQ(dx.phase, Phase::backward_input);
  EXPECT_EQ(dw.phase, Phase::backward_weight);
  EXPECT_EQ(fwd.dtype, DataType::fp8);  // all three GEMMs of a linear layer in FP8 (V3 §3.3)
  EXPECT_EQ(dw.dtype, DataType::fp8);
  EXPECT_EQ(fwd.block, "mla");
  EXPECT_EQ(fwd.layer, 3);
  // FP8 input and weights, BF16 output; the weight gradient in FP32.
  EXPECT_DOUBLE_EQ(fwd.bytes_read, 4096.0 * 1536 + 1536.0 * 24576);
  EXPECT_DOUBLE_EQ(fwd.bytes_written, 4096.0 * 24576 * 2);
  EXPECT_DOUBLE_EQ(dw.bytes_read, 4096.0 * 1536 + 4096.0 * 24576);
  EXPECT_DOUBLE_EQ(dw.bytes_written, 1536.0 * 24576 * 4);

  const OpGraph bf16 = build_training_graph(test::deepseek_v3(), layers(3, 4), work(1, Precision::bf16));
  EXPECT_EQ(find(bf16, "L3.mla.q_up.fwd").dtype, DataType::bf16);
  EXPECT_DOUBLE_EQ(find(bf16, "L3.mla.q_up.fwd").bytes_read, 2 * (4096.0 * 1536 + 1536.0 * 24576));
}

TEST(OpGraph, Fp8GemmsPayForTheirCastKernels) {
  // V3 §3.5.2: X [4096 x 1536] to 1x128 FP8 tiles before q_up (read 2 B, write 1 B + 4/128 B of scale);
  // dY [4096 x 24576] likewise before dX; before dW, dY's 128x1 copy (written by that pass) and X read and
  // re-quantised into 128x1 tiles.
  const OpGraph graph = build_training_graph(test::deepseek_v3(), layers(3, 4), work());
  const double tile = 1.0 + 4.0 / 128;
  const double x = 4096.0 * 1536, dy = 4096.0 * 24576;
  EXPECT_DOUBLE_EQ(find(graph, "L3.mla.q_up.fwd").cast_bytes, x * (2 + tile));
  EXPECT_DOUBLE_EQ(find(graph, "L3.mla.q_up.dx").cast_bytes, dy * (2 + tile));
  EXPECT_DOUBLE_EQ(find(graph, "L3.mla.q_up.dw").cast_bytes, dy * tile + x * 2 * tile);
  // kv_down shares q_down's cast of the normalised input; the routed experts read the FP8 tokens the permute
  // wrote for the dispatch.
  EXPECT_GT(find(graph, "L3.mla.q_down.fwd").cast_bytes, 0.0);
  EXPECT_DOUBLE_EQ(find(graph, "L3.mla.kv_down.fwd").cast_bytes, 0.0);
  EXPECT_DOUBLE_EQ(find(graph, "L3.moe.experts_gate_up.fwd").cast_bytes, 0.0);
  EXPECT_GT(find(graph, "L3.moe.experts_down.fwd").cast_bytes, 0.0);
  // BF16 training casts nothing, nor does the BF16 head.
  const OpGraph bf16 = build_training_graph(test::deepseek_v3(), layers(3, 4), work(1, Precision::bf16));
  EXPECT_DOUBLE_EQ(find(bf16, "L3.mla.q_up.fwd").cast_bytes, 0.0);
  EXPECT_DOUBLE_EQ(find(bf16, "L3.mla.q_up.dw").cast_bytes, 0.0);
}

TEST(OpGraph, MlaShapes) {
  const OpGraph graph = build_training_graph(test::deepseek_v3(), layers(0, 1), work());
  expect_shape(find(graph, "L0.mla.q_down.fwd").gemm, 4096, 1536, 7168);
  expect_shape(find(graph, "L0.mla.kv_down.fwd").gemm, 4096, 576, 7168);  // latent 512 + shared rope key 64
  expect_shape(find(graph, "L0.mla.kv_up.fwd").gemm, 4096, 128 * 256, 512);  // 128 heads x (nope 128 + v 128)
  expect_shape(find(graph, "L0.mla.o_proj.fwd").gemm, 4096, 7168, 128 * 128);
  expect_shape(find(graph, "L0.ffn.gate_up.fwd").gemm, 4096, 2 * 18432, 7168);
  expect_shape(find(graph, "L0.ffn.down.fwd").gemm, 4096, 7168, 18432);
  EXPECT_EQ(find(graph, "L0.mla.norm.fwd").kind, OpKind::norm);
  EXPECT_EQ(find(graph, "L0.mla.rope.fwd").kind, OpKind::elementwise);
  EXPECT_EQ(find(graph, "L0.ffn.swiglu.fwd").kind, OpKind::elementwise);
}

TEST(OpGraph, AttentionCoreCountsCausalOnceAndSplitsFlashAttentionsBackward) {
  const OpGraph graph = build_training_graph(test::deepseek_v3(), layers(3, 4), work());
  const Op& fwd = find(graph, "L3.mla.core.fwd");
  // 2 x heads x (qk 192 + v 128) x seq_len^2 / 2 for one sequence.
  const double forward = 2.0 * 128 * (192 + 128) * 4096.0 * 4096.0 / 2;
  EXPECT_EQ(fwd.kind, OpKind::attention);
  EXPECT_EQ(fwd.dtype, DataType::bf16);
  EXPECT_DOUBLE_EQ(fwd.flops, forward);
  EXPECT_EQ(fwd.attention.heads, 128);
  EXPECT_EQ(fwd.attention.qk_head_dim, 192);
  EXPECT_EQ(fwd.attention.v_head_dim, 128);
  EXPECT_EQ(fwd.attention.q_len, 4096);
  EXPECT_TRUE(fwd.attention.causal);
  // Backward: 2x model FLOPs plus 0.5x recomputed scores (FlashAttention's 2.5x), the latter not model FLOPs.
  const Op& dx = find(graph, "L3.mla.core.dx");
  const Op& scores = find(graph, "L3.mla.core.dx_recompute");
  EXPECT_DOUBLE_EQ(dx.flops, 2 * forward);
  EXPECT_TRUE(dx.model_flops);
  EXPECT_DOUBLE_EQ(scores.flops, 0.5 * forward);
  EXPECT_FALSE(scores.model_flops);
  EXPECT_EQ(scores.phase, Phase::backward_input);
  EXPECT_TRUE(predecessors(graph, "L3.mla.core.dx").count("L3.mla.core.dx_recompute"));
}

TEST(OpGraph, GroupedExpertGemmsAtEp64) {
  const OpGraph graph = build_training_graph(test::deepseek_v3(), layers(3, 4), work(64));
  // 256 / 64 = 4 experts per GPU; the GPU receives 4096 x top-8 copies, m = 4096 x 8 / 4 = 8192 per expert.
  const Op& gate_up = find(graph, "L3.moe.experts_gate_up.fwd");
  EXPECT_EQ(gate_up.kind, OpKind::grouped_gemm);
  expect_shape(gate_up.gemm, 8192, 4096, 7168, 4);
  EXPECT_DOUBLE_EQ(gate_up.flops, 2.0 * 8192 * 4096 * 7168 * 4);
  expect_shape(find(graph, "L3.moe.experts_gate_up.dx").gemm, 8192, 7168, 4096, 4);
  expect_shape(find(graph, "L3.moe.experts_gate_up.dw").gemm, 7168, 4096, 8192, 4);
  expect_shape(find(graph, "L3.moe.experts_down.fwd").gemm, 8192, 7168, 2048, 4);
  EXPECT_EQ(gate_up.dtype, DataType::fp8);
  // Shared expert over the 4,096 local tokens; router gate in BF16.
  expect_shape(find(graph, "L3.moe.shared_gate_up.fwd").gemm, 4096, 4096, 7168);
  const Op& gate = find(graph, "L3.moe.gate.fwd");
  expect_shape(gate.gemm, 4096, 256, 7168);
  EXPECT_EQ(gate.dtype, DataType::bf16);
  EXPECT_EQ(find(graph, "L3.moe.router.fwd").kind, OpKind::router);

  // At ep = 1 every expert is local: 256 groups of 4096 x 8 / 256 = 128 rows; no all-to-all.
  const OpGraph local = build_training_graph(test::deepseek_v3(), layers(3, 4), work(1));
  expect_shape(find(local, "L3.moe.experts_gate_up.fwd").gemm, 128, 4096, 7168, 256);
  EXPECT_FALSE(has(local, "L3.moe.dispatch.fwd"));
  EXPECT_DOUBLE_EQ(sum_ops(local).comm_bytes, 0.0);
}

TEST(OpGraph, DispatchAndCombineBytes) {
  const OpGraph graph = build_training_graph(test::deepseek_v3(), layers(3, 4), work(64));
  const double copies = 4096.0 * 8 * 7168;
  const double leaving = 63.0 / 64;
  const double fp8 = 1 + 4.0 / 128;  // E4M3 plus one FP32 scale per 128 elements (V3 §3.3.2)
  const Op& dispatch = find(graph, "L3.moe.dispatch.fwd");
  EXPECT_EQ(dispatch.kind, OpKind::all_to_all);
  EXPECT_EQ(dispatch.dtype, DataType::fp8);
  EXPECT_DOUBLE_EQ(dispatch.comm_bytes, copies * fp8 * leaving);
  const Op& combine = find(graph, "L3.moe.combine.fwd");
  EXPECT_EQ(combine.dtype, DataType::bf16);  // combine stays BF16 (V3 §3.3.3)
  EXPECT_DOUBLE_EQ(combine.comm_bytes, copies * 2 * leaving);
  // Backward: the combine's gradient travels dispatch-wise in FP8, the dispatch's gradient combine-wise in BF16.
  EXPECT_DOUBLE_EQ(find(graph, "L3.moe.combine.dx").comm_bytes, copies * fp8 * leaving);
  EXPECT_EQ(find(graph, "L3.moe.combine.dx").dtype, DataType::fp8);
  EXPECT_DOUBLE_EQ(find(graph, "L3.moe.dispatch.dx").comm_bytes, copies * 2 * leaving);
  EXPECT_EQ(find(graph, "L3.moe.dispatch.dx").dtype, DataType::bf16);
  EXPECT_DOUBLE_EQ(sum_ops(graph, Phase::forward).comm_bytes, copies * (fp8 + 2) * leaving);
  EXPECT_DOUBLE_EQ(sum_ops(graph, Phase::backward_input).comm_bytes, copies * (fp8 + 2) * leaving);
  EXPECT_DOUBLE_EQ(sum_ops(graph, Phase::backward_weight).comm_bytes, 0.0);

  const OpGraph bf16 = build_training_graph(test::deepseek_v3(), layers(3, 4), work(64, Precision::bf16));
  EXPECT_DOUBLE_EQ(find(bf16, "L3.moe.dispatch.fwd").comm_bytes, copies * 2 * leaving);

  // A plain all-to-all dispatcher (Megatron-Core's AlltoAll) moves BF16 both ways under FP8 training, so the
  // routed experts cast their input themselves: the same FP8 tile cast as any FP8 GEMM's input.
  MicroBatchWork plain = work(64);
  plain.moe_dispatcher = MoeDispatcher::all_to_all;
  const OpGraph megatron = build_training_graph(test::deepseek_v3(), layers(3, 4), plain);
  for (const char* name : {"L3.moe.dispatch.fwd", "L3.moe.combine.fwd", "L3.moe.dispatch.dx", "L3.moe.combine.dx"}) {
    EXPECT_EQ(find(megatron, name).dtype, DataType::bf16) << name;
    EXPECT_DOUBLE_EQ(find(megatron, name).comm_bytes, copies * 2 * leaving) << name;
  }
  EXPECT_DOUBLE_EQ(find(graph, "L3.moe.experts_gate_up.fwd").cast_bytes, 0.0);
  EXPECT_DOUBLE_EQ(find(megatron, "L3.moe.experts_gate_up.fwd").cast_bytes, 4096.0 * 8 * 7168 * (2 + fp8));
  EXPECT_DOUBLE_EQ(find(megatron, "L3.moe.experts_gate_up.fwd").flops, find(graph, "L3.moe.experts_gate_up.fwd").flops);
}

TEST(OpGraph, EdgesFollowTheDataFlow) {
  const OpGraph graph = build_training_graph(test::deepseek_v3(), layers(3, 5), work(64));
  auto names = by_name(graph);
  expect_dag(graph);
  // Forward chain.
  EXPECT_TRUE(reaches(graph, names.at("L3.mla.q_up.fwd"), names.at("L4.moe.experts_down.fwd")));
  EXPECT_FALSE(reaches(graph, names.at("L4.mla.q_up.fwd"), names.at("L3.mla.q_up.fwd")));
  // Backward-input chain in reverse: layer 4's gradients come before layer 3's.
  EXPECT_TRUE(reaches(graph, names.at("L4.mla.norm.dx"), names.at("L3.moe.experts_down.dx")));
  EXPECT_TRUE(reaches(graph, names.at("L4.mla.q_up.fwd"), names.at("L3.mla.q_up.dx")));
  EXPECT_FALSE(reaches(graph, names.at("L3.mla.q_up.dx"), names.at("L4.mla.q_up.dx")));
  // dW waits for the upstream gradient (the consumer's dX), never for its own dX.
  EXPECT_EQ(predecessors(graph, "L3.mla.q_up.dw"), (std::set<std::string>{"L3.mla.rope.dx"}));
  EXPECT_EQ(predecessors(graph, "L3.mla.q_up.dx"), (std::set<std::string>{"L3.mla.rope.dx"}));
  EXPECT_EQ(predecessors(graph, "L3.mla.o_proj.dw"), predecessors(graph, "L3.mla.o_proj.dx"));
  for (auto v : boost::make_iterator_range(boost::vertices(graph))) {
    const Op& op = graph[v];
    if (op.phase != Phase::backward_weight) continue;
    std::string dx = op.name.substr(0, op.name.size() - 3) + ".dx";
    if (names.count(dx)) {
      EXPECT_FALSE(reaches(graph, names.at(dx), v)) << op.name;
    }
  }
  // MoE: the router's gradient waits only for the unpermute's (routing weights), not for the all-to-alls.
  EXPECT_EQ(predecessors(graph, "L3.moe.router.dx"), (std::set<std::string>{"L3.moe.unpermute.dx"}));
  EXPECT_TRUE(predecessors(graph, "L3.moe.permute.fwd").count("L3.moe.router.fwd"));
  // The stage's output gradient arrives from the next stage (the schedule adds that wait): the backward starts
  // from the last forward op.
  EXPECT_EQ(predecessors(graph, "L4.moe.shared_down.dx"), (std::set<std::string>{"L4.moe.residual.fwd"}));
  EXPECT_EQ(predecessors(graph, "L4.moe.unpermute.dx"), (std::set<std::string>{"L4.moe.residual.fwd"}));
}

TEST(OpGraph, EveryStageIsADagWithUniqueNames) {
  const ModelSpec model = test::deepseek_v3();
  for (Recompute recompute : {Recompute::none, Recompute::selective, Recompute::full}) {
    for (const StageSlice& slice : split_into_stages(model, 16)) {
      const OpGraph graph = build_training_graph(model, slice, work(64, Precision::fp8, recompute));
      expect_dag(graph);
      by_name(graph);
      for (auto v : boost::make_iterator_range(boost::vertices(graph))) {
        const Op& op = graph[v];
        EXPECT_GE(op.flops, 0) << op.name;
        EXPECT_GE(op.bytes_read, 0) << op.name;
        EXPECT_GE(op.bytes_written, 0) << op.name;
        EXPECT_TRUE(std::isfinite(op.flops)) << op.name;
      }
    }
  }
}

TEST(OpGraph, GemmPhasesCarryEqualFlops) {
  const OpGraph graph = build_training_graph(test::deepseek_v3(), layers(2, 4), work(64));
  double sums[3] = {0, 0, 0};
  for (auto v : boost::make_iterator_range(boost::vertices(graph))) {
    const Op& op = graph[v];
    if (op.kind == OpKind::gemm || op.kind == OpKind::grouped_gemm) sums[static_cast<int>(op.phase)] += op.flops;
  }
  EXPECT_GT(sums[0], 0);
  EXPECT_DOUBLE_EQ(sums[1], sums[0]);  // dX
  EXPECT_DOUBLE_EQ(sums[2], sums[0]);  // dW
}

// The embedding's weight gradient, by hand. DeepSeek-V3: vocabulary 129,280, hidden 7,168, 4,096 tokens.
// dense (PyTorch's embedding backward, the default): zero-fill a BF16 table (2 B per entry written), add the rows
// into it (the output gradient and the ids read, the rows written), then add the table into the FP32 gradient
// (2 + 4 B read, 4 B written per entry); rows: the rows straight into the FP32 gradient.
TEST(OpGraph, EmbeddingGradientIsATablePassUnlessTheFrameworkAddsRows) {
  const ModelSpec model = test::deepseek_v3();
  StageSlice first = layers(0, 1);
  first.has_embedding = true;
  const double table = 129280.0 * 7168, elements = kTokens * 7168, ids = kTokens * 4;
  const Op dense = find(build_training_graph(model, first, work()), "embed.embed.dw");
  EXPECT_DOUBLE_EQ(dense.bytes_read, elements * 2 + ids + table * 6);
  EXPECT_DOUBLE_EQ(dense.bytes_written, table * 2 + elements * 2 + table * 4);
  EXPECT_NEAR(dense.bytes_read + dense.bytes_written, 11.24e9, 0.01e9);  // 12 B per table entry: 3.7 ms at 3 TB/s
  MicroBatchWork rows_work = work();
  rows_work.embedding_gradient = EmbeddingGradient::rows;
  const Op rows = find(build_training_graph(model, first, rows_work), "embed.embed.dw");
  EXPECT_DOUBLE_EQ(rows.bytes_read, elements * 2 + ids + elements * 4);
  EXPECT_DOUBLE_EQ(rows.bytes_written, elements * 4);
  // Vocabulary-parallel at tp 8: each GPU's table is 129,280 / 8 = 16,160 rows, and the micro-batch's tokens too.
  MicroBatchWork tp8 = work(1, Precision::fp8, Recompute::none, 8);
  const Op sharded = find(build_training_graph(model, first, tp8), "embed.embed.dw");
  EXPECT_DOUBLE_EQ(sharded.bytes_written, 16160.0 * 7168 * 6 + elements * 2);
}

TEST(OpGraph, EmbeddingHeadAndMtp) {
  const ModelSpec model = test::deepseek_v3();
  StageSlice first = layers(0, 1);
  first.has_embedding = true;
  const OpGraph head_graph = build_training_graph(model, first, work());
  EXPECT_EQ(find(head_graph, "embed.embed.fwd").kind, OpKind::embedding);
  EXPECT_FALSE(has(head_graph, "embed.embed.dx"));  // token ids carry no gradient
  EXPECT_EQ(find(head_graph, "embed.embed.dw").phase, Phase::backward_weight);
  EXPECT_EQ(find(head_graph, "embed.embed.dw").kind, OpKind::embedding);

  StageSlice last = layers(60, 61);
  last.has_head = true;
  last.has_mtp = true;
  const OpGraph graph = build_training_graph(model, last, work(64));
  expect_dag(graph);
  const Op& head = find(graph, "head.gemm.fwd");
  EXPECT_EQ(head.dtype, DataType::bf16);  // the head stays BF16 (V3 §3.3.1)
  expect_shape(head.gemm, 4096, 129280, 7168);
  EXPECT_EQ(head.layer, -1);
  EXPECT_EQ(find(graph, "head.loss.fwd").kind, OpKind::loss);
  EXPECT_EQ(find(graph, "head.loss.dx").phase, Phase::backward_input);
  // MTP module 0: layer 61 = model.layers + 0, an MoE layer, projection of [h; emb], shared head and loss.
  const Op& proj = find(graph, "MTP0.eh_proj.fwd");
  expect_shape(proj.gemm, 4096, 7168, 2 * 7168);
  EXPECT_EQ(proj.dtype, DataType::fp8);
  EXPECT_EQ(proj.layer, 61);
  EXPECT_EQ(proj.block, "mtp");
  EXPECT_EQ(find(graph, "L61.mla.q_up.fwd").layer, 61);
  EXPECT_EQ(find(graph, "L61.moe.experts_gate_up.fwd").layer, 61);
  EXPECT_EQ(find(graph, "MTP0.head.fwd").dtype, DataType::bf16);
  EXPECT_EQ(find(graph, "MTP0.loss.fwd").kind, OpKind::loss);
  EXPECT_TRUE(predecessors(graph, "MTP0.hnorm.fwd").count("L60.moe.residual.fwd"));
  std::set<std::string> eh_inputs{"MTP0.hnorm.fwd", "MTP0.enorm.fwd"};
  EXPECT_EQ(predecessors(graph, "MTP0.eh_proj.fwd"), eh_inputs);
}

// DeferredWeightGradients::except_high_precision: the BF16 modules' weight gradients (the embedding's scatter-add,
// the output head's and the MoE gate's GEMMs) move into the backward-input phase, FLOP for FLOP; the FP8 linears'
// stay W work. The total work of the stage does not change.
TEST(OpGraph, HighPrecisionModulesKeepTheirWeightGradientWithTheInputGradient) {
  const ModelSpec model = test::deepseek_v3();
  StageSlice last = layers(60, 61);
  last.has_head = true;
  last.has_mtp = true;
  MicroBatchWork deferred = work(64);
  MicroBatchWork kept = deferred;
  kept.deferred_weight_gradients = DeferredWeightGradients::except_high_precision;
  const OpGraph all = build_training_graph(model, last, deferred);
  const OpGraph split = build_training_graph(model, last, kept);
  expect_dag(split);
  for (const char* name : {"head.gemm.dw", "MTP0.head.dw", "L60.moe.gate.dw", "L61.moe.gate.dw", "MTP0.embed.dw"}) {
    EXPECT_EQ(find(all, name).phase, Phase::backward_weight) << name;
    EXPECT_EQ(find(split, name).phase, Phase::backward_input) << name;
    EXPECT_TRUE(find(split, name).weight_gradient) << name;  // still a parameter's gradient (DP reduces it)
  }
  EXPECT_FALSE(find(split, "head.gemm.dx").weight_gradient);
  for (const char* name : {"MTP0.eh_proj.dw", "L60.mla.q_up.dw", "L61.moe.experts_down.dw", "L60.moe.shared_down.dw"})
    EXPECT_EQ(find(split, name).phase, Phase::backward_weight) << name;
  // Head GEMM: 2 x 4,096 x 7,168 x 129,280 FLOPs, twice (the model's and the MTP module's); gate: 2 x 4,096 x
  // 7,168 x 256 per MoE layer (60 and 61); the MTP module's embedding gradient: one add per element of the
  // micro-batch's rows, and one per table entry into the FP32 gradient (the default dense embedding gradient).
  const double head = 2.0 * 4096 * 7168 * 129280, gate = 2.0 * 4096 * 7168 * 256;
  const double embedding = 4096.0 * 7168 + 129280.0 * 7168;
  const double moved = 2 * head + 2 * gate + embedding;
  EXPECT_NEAR(sum_ops(split, Phase::backward_input).flops - sum_ops(all, Phase::backward_input).flops, moved,
              1e-9 * moved);
  EXPECT_NEAR(sum_ops(all, Phase::backward_weight).flops - sum_ops(split, Phase::backward_weight).flops, moved,
              1e-9 * moved);
  EXPECT_DOUBLE_EQ(sum_ops(split).flops, sum_ops(all).flops);

  StageSlice first = layers(0, 1);
  first.has_embedding = true;
  EXPECT_EQ(find(build_training_graph(model, first, kept), "embed.embed.dw").phase, Phase::backward_input);
}

// Sums model FLOPs over the graphs of every stage and compares them, per token, with the closed forms.
double graph_flops_per_token(const ModelSpec& model, std::int64_t pp, const MicroBatchWork& w, bool with_mtp) {
  double flops = 0;
  for (StageSlice slice : split_into_stages(model, pp)) {
    if (!with_mtp) slice.has_mtp = false;
    flops += sum_ops(build_training_graph(model, slice, w)).model_flops;
  }
  return flops * static_cast<double>(w.parallelism.tp) / static_cast<double>(w.sequences * w.seq_len);
}

TEST(OpGraph, StageSumsAgreeWithTheClosedForms) {
  const ModelSpec model = test::deepseek_v3();
  const double closed = training_flops_per_token(model, 4096);
  const double mtp = mtp_training_flops_per_token(model, 4096);
  for (std::int64_t pp : {1, 16}) {
    for (std::int64_t ep : {1, 64}) {
      const double with = graph_flops_per_token(model, pp, work(ep), true);
      const double without = graph_flops_per_token(model, pp, work(ep), false);
      EXPECT_NEAR(without, closed, 0.01 * closed) << "pp " << pp << " ep " << ep;
      EXPECT_NEAR(with - without, mtp, 0.01 * mtp) << "pp " << pp << " ep " << ep;
      EXPECT_NEAR(with, closed + mtp, 0.001 * (closed + mtp)) << "pp " << pp << " ep " << ep;
    }
  }
}

TEST(OpGraph, ForwardIsAThirdOfTheModelFlops) {
  const ModelSpec model = test::deepseek_v3();
  for (const StageSlice& slice : split_into_stages(model, 16)) {
    const OpGraph graph = build_training_graph(model, slice, work(64));
    const double all = sum_ops(graph).model_flops;
    EXPECT_NEAR(sum_ops(graph, Phase::forward).model_flops, all / 3, 0.001 * all);
  }
}

TEST(StageSplit, DeepSeekV3Over16Stages) {
  const auto slices = split_into_stages(test::deepseek_v3(), 16);
  ASSERT_EQ(slices.size(), 16u);
  int next = 0;
  for (std::size_t s = 0; s < slices.size(); ++s) {
    EXPECT_EQ(slices[s].first_layer, next);  // contiguous: every layer exactly once
    EXPECT_GT(slices[s].last_layer, slices[s].first_layer);
    next = slices[s].last_layer;
    EXPECT_EQ(slices[s].has_embedding, s == 0);
    EXPECT_EQ(slices[s].has_head, s == 15);
    EXPECT_EQ(slices[s].has_mtp, s == 15);
  }
  EXPECT_EQ(next, 61);
  // The head (1.4 layers of work) and the MTP module (2.5) push the last stage down to one layer.
  for (std::size_t s = 0; s < 15; ++s) EXPECT_EQ(slices[s].last_layer - slices[s].first_layer, 4);
  EXPECT_EQ(slices[15].last_layer - slices[15].first_layer, 1);
}

// Layer counts of a split, stage by stage.
std::vector<int> layer_counts(const std::vector<StageSlice>& slices) {
  std::vector<int> counts;
  for (const StageSlice& slice : slices) counts.push_back(slice.last_layer - slice.first_layer);
  return counts;
}

TEST(StageSplit, BalancesDevicesThatHoldSeveralStages) {
  const ModelSpec model = test::deepseek_v3();
  // DualPipeV at pp 16: device d runs stages d and 31 - d. Two layers on every stage but the ends, the head and MTP
  // module (3.9 layer-equivalents) alone on stage 31, so device 0's other stage takes the embedding and one layer:
  // device 0 at 4.9, the others at 4 (per-stage balance put two layers on stage 0: device 0 at 5.9).
  std::vector<std::vector<std::int64_t>> v_shape(16);
  for (std::int64_t d = 0; d < 16; ++d) v_shape[static_cast<std::size_t>(d)] = {d, 31 - d};
  std::vector<int> expected(32, 2);
  expected.front() = 1;
  expected.back() = 0;
  EXPECT_EQ(layer_counts(split_into_stages(model, 32, 4096, v_shape)), expected);
  // Interleaved 1F1B at pp 8 with 4 virtual stages: device 7 runs stages 7, 15, 23 and 31, the last holding only the
  // head and MTP module; one of its other stages gives up a layer (device 7 at 8.9, the others at 8).
  std::vector<std::vector<std::int64_t>> round_robin(8);
  for (std::int64_t d = 0; d < 8; ++d)
    for (std::int64_t v = 0; v < 4; ++v) round_robin[static_cast<std::size_t>(d)].push_back(d + 8 * v);
  const std::vector<int> interleaved = layer_counts(split_into_stages(model, 32, 4096, round_robin));
  EXPECT_EQ(interleaved.back(), 0);
  EXPECT_EQ(interleaved[7] + interleaved[15] + interleaved[23], 5);
  for (int d = 0; d < 7; ++d)
    EXPECT_EQ(interleaved[d] + interleaved[d + 8] + interleaved[d + 16] + interleaved[d + 24], 8);
  // DualPipe at pp 16 (device d runs stages d and 15 - d) keeps the per-stage split: 4 x 15 + 1, device 0 at 8.9.
  std::vector<std::vector<std::int64_t>> mirrored(16);
  for (std::int64_t d = 0; d < 16; ++d) mirrored[static_cast<std::size_t>(d)] = {d, 15 - d};
  EXPECT_EQ(layer_counts(split_into_stages(model, 16, 4096, mirrored)), layer_counts(split_into_stages(model, 16)));
  EXPECT_THROW(split_into_stages(model, 16, 4096, {{0, 16}}), std::invalid_argument);  // no stage 16
}

TEST(StageSplit, AGivenSplitIsTakenAsItIs) {
  // DeepSeek-V3 as Megatron-Bridge lays it out at PP 16 ("E + 4 decoder", 14 x 4, "1 decoder + MTP + loss") is what
  // the balancing finds; a given split makes exactly its stages, embedding first, head and MTP last.
  const ModelSpec model = test::deepseek_v3();
  std::vector<std::int64_t> megatron(16, 4);
  megatron.back() = 1;
  const auto given = stages_of_split(model, megatron), balanced = split_into_stages(model, 16);
  ASSERT_EQ(given.size(), balanced.size());
  for (std::size_t s = 0; s < given.size(); ++s) {
    EXPECT_EQ(given[s].first_layer, balanced[s].first_layer);
    EXPECT_EQ(given[s].last_layer, balanced[s].last_layer);
    EXPECT_EQ(given[s].has_embedding, balanced[s].has_embedding);
    EXPECT_EQ(given[s].has_head, balanced[s].has_head);
    EXPECT_EQ(given[s].has_mtp, balanced[s].has_mtp);
  }
  // Three dense layers alone on the first stage, two layers beside the head and MTP module on the last.
  std::vector<std::int64_t> other(16, 4);
  other.front() = 3;
  other.back() = 2;
  const auto moved = stages_of_split(model, other);
  EXPECT_EQ(moved[0].last_layer, 3);
  EXPECT_EQ(moved[15].first_layer, 59);
  EXPECT_EQ(moved[15].last_layer, 61);
  // An empty first stage holds only the embedding, an empty last one only the head.
  std::vector<std::int64_t> ends{0, 30, 31, 0};
  const auto edge = stages_of_split(model, ends);
  EXPECT_EQ(edge[0].last_layer, 0);
  EXPECT_TRUE(edge[0].has_embedding);
  EXPECT_EQ(edge[3].first_layer, 61);
  EXPECT_TRUE(edge[3].has_head);
  EXPECT_THROW(stages_of_split(model, {30, 0, 31}), std::invalid_argument);  // an empty middle stage
  EXPECT_THROW(stages_of_split(model, {30, 30}), std::invalid_argument);     // 60 of 61 layers
  EXPECT_THROW(stages_of_split(model, {}), std::invalid_argument);
}

TEST(StageSplit, EdgeCases) {
  const ModelSpec model = test::deepseek_v3();
  EXPECT_THROW(split_into_stages(model, 64), std::invalid_argument);  // more than layers + 2
  EXPECT_THROW(split_into_stages(model, 0), std::invalid_argument);
  const auto one = split_into_stages(model, 1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].first_layer, 0);
  EXPECT_EQ(one[0].last_layer, 61);
  EXPECT_TRUE(one[0].has_embedding && one[0].has_head && one[0].has_mtp);
  // 61 stages: one layer each would put layer 60 beside the head and MTP (4.9 layer-equivalents); the head and
  // MTP alone (3.9) are lighter, so the first stage takes two layers and the last none.
  const auto all = split_into_stages(model, 61);
  EXPECT_EQ(all.front().last_layer - all.front().first_layer, 2);
  for (std::size_t s = 1; s + 1 < all.size(); ++s) EXPECT_EQ(all[s].last_layer - all[s].first_layer, 1);
  EXPECT_EQ(all.back().last_layer - all.back().first_layer, 0);
  // A dense model without MTP: the light head takes a little off the last stage.
  const auto llama = split_into_stages(test::llama3_405b(), 8);
  EXPECT_EQ(llama.back().last_layer, 126);
  EXPECT_EQ(llama.back().last_layer - llama.back().first_layer, 15);
  EXPECT_FALSE(llama.back().has_mtp);
}

TEST(StageSplit, EmbeddingOnlyAndHeadOnlyEndStages) {
  // Llama 3's own split (L3 §3.3.2): PP 16 with 8 virtual stages is 128 stages for 126 layers; the first holds only
  // the embedding, the last only the output projection and loss, every other one layer.
  const auto llama = split_into_stages(test::llama3_405b(), 128);
  ASSERT_EQ(llama.size(), 128u);
  EXPECT_TRUE(llama.front().has_embedding);
  EXPECT_EQ(llama.front().last_layer - llama.front().first_layer, 0);
  EXPECT_TRUE(llama.back().has_head);
  EXPECT_EQ(llama.back().first_layer, 126);
  EXPECT_EQ(llama.back().last_layer, 126);
  for (std::size_t s = 1; s + 1 < llama.size(); ++s) {
    EXPECT_EQ(llama[s].first_layer, static_cast<int>(s) - 1);
    EXPECT_EQ(llama[s].last_layer - llama[s].first_layer, 1);
  }
  // One stage more than layers: the head (0.65 of a layer of Llama 3 405B) goes alone, the embedding stays with
  // layer 0.
  const auto plus_one = split_into_stages(test::llama3_405b(), 127);
  EXPECT_EQ(plus_one.front().last_layer - plus_one.front().first_layer, 1);
  EXPECT_EQ(plus_one.back().last_layer - plus_one.back().first_layer, 0);
  // DeepSeek-V3 at 63 stages: layers 0..60 one each on stages 1..61, head and MTP alone on the last.
  const auto deepseek = split_into_stages(test::deepseek_v3(), 63);
  EXPECT_EQ(deepseek.front().last_layer - deepseek.front().first_layer, 0);
  EXPECT_EQ(deepseek.back().last_layer - deepseek.back().first_layer, 0);
  EXPECT_TRUE(deepseek.back().has_mtp);
  // Where every stage can hold a layer, a lighter split never empties one: pp = 16 keeps its 4-layer stages.
  const auto sixteen = split_into_stages(test::deepseek_v3(), 16);
  EXPECT_EQ(sixteen.front().last_layer - sixteen.front().first_layer, 4);
}

TEST(OpGraph, Llama405BWithTensorParallelism) {
  const ModelSpec model = test::llama3_405b();
  const MicroBatchWork w = work(1, Precision::bf16, Recompute::none, 8);
  StageSlice slice = layers(0, 2);
  slice.has_embedding = true;
  const OpGraph graph = build_training_graph(model, slice, w);
  expect_dag(graph);
  // 128/8 = 16 query heads and 8/8 = 1 KV head per GPU, head_dim 128.
  expect_shape(find(graph, "L0.gqa.qkv.fwd").gemm, 4096, (16 + 2) * 128, 16384);
  expect_shape(find(graph, "L0.gqa.o_proj.fwd").gemm, 4096, 16384, 16 * 128);
  expect_shape(find(graph, "L0.ffn.gate_up.fwd").gemm, 4096, 2 * 53248 / 8, 16384);
  const Op& core = find(graph, "L0.gqa.core.fwd");
  EXPECT_EQ(core.attention.heads, 16);
  EXPECT_EQ(core.attention.kv_heads, 1);
  EXPECT_DOUBLE_EQ(core.flops, 2.0 * 16 * 256 * 4096.0 * 4096.0 / 2);
  EXPECT_EQ(find(graph, "L0.gqa.qkv.fwd").dtype, DataType::bf16);
  // Over all stages, the GPUs of one tensor-parallel group together do the closed form's work.
  const double closed = training_flops_per_token(model, 4096);
  EXPECT_NEAR(graph_flops_per_token(model, 8, w, true), closed, 0.01 * closed);
}

TEST(OpGraph, PlainAndGatedActivations) {
  // GPT-3 175B at TP 8, one 2,048-token sequence: up (12,288 -> 49,152 / 8), GeLU over 2,048 x 6,144 BF16 values
  // in and out, down; no gate.
  const ModelSpec model = test::gpt3_175b();
  MicroBatchWork w = work(1, Precision::bf16, Recompute::none, 8);
  w.seq_len = 2048;
  const OpGraph graph = build_training_graph(model, layers(0, 1), w);
  expect_dag(graph);
  EXPECT_FALSE(has(graph, "L0.ffn.gate_up.fwd"));
  EXPECT_FALSE(has(graph, "L0.ffn.swiglu.fwd"));
  expect_shape(find(graph, "L0.ffn.up.fwd").gemm, 2048, 49152 / 8, 12288);
  expect_shape(find(graph, "L0.ffn.down.fwd").gemm, 2048, 12288, 49152 / 8);
  const Op& gelu = find(graph, "L0.ffn.gelu.fwd");
  EXPECT_EQ(gelu.kind, OpKind::elementwise);
  EXPECT_DOUBLE_EQ(gelu.bytes_read, 2048.0 * 6144 * 2);
  EXPECT_DOUBLE_EQ(gelu.bytes_written, 2048.0 * 6144 * 2);
  EXPECT_DOUBLE_EQ(gelu.flops, 9 * 2048.0 * 6144);
  EXPECT_EQ(ffn_activation_of(gelu), FfnActivation::gelu);
  EXPECT_EQ(ffn_activation_of(find(graph, "L0.ffn.gelu.dx")), FfnActivation::gelu);
  EXPECT_EQ(ffn_activation_of(find(graph, "L0.ffn.up.fwd")), std::nullopt);
  EXPECT_EQ(ffn_activation_of(find(graph, "L0.gqa.qkv.fwd")), std::nullopt);
  // Over all stages the tensor-parallel group does the closed form's work.
  const double closed = training_flops_per_token(model, 2048);
  EXPECT_NEAR(graph_flops_per_token(model, 8, w, true), closed, 0.01 * closed);

  // Experts and shared experts follow moe.activation: squared ReLU reads and writes one value per element.
  ModelSpec moe = test::deepseek_v3();
  moe.moe.activation = FfnActivation::squared_relu;
  const OpGraph experts = build_training_graph(moe, layers(3, 4), work(64));
  expect_dag(experts);
  EXPECT_FALSE(has(experts, "L3.moe.experts_gate_up.fwd"));
  const Op& up = find(experts, "L3.moe.experts_up.fwd");
  EXPECT_EQ(up.gemm.n, 2048);
  EXPECT_EQ(up.gemm.k, 7168);
  const Op& act = find(experts, "L3.moe.experts_squared_relu.fwd");
  EXPECT_DOUBLE_EQ(act.bytes_read, act.bytes_written);
  EXPECT_EQ(ffn_activation_of(act), FfnActivation::squared_relu);
  expect_shape(find(experts, "L3.moe.shared_up.fwd").gemm, 4096, 2048, 7168);
  EXPECT_EQ(ffn_activation_of(find(experts, "L3.moe.shared_squared_relu.fwd")), FfnActivation::squared_relu);
  // The default SwiGLU reads the gate and up halves: twice what it writes.
  const OpGraph swiglu = build_training_graph(test::deepseek_v3(), layers(3, 4), work(64));
  const Op& glu = find(swiglu, "L3.moe.experts_swiglu.fwd");
  EXPECT_DOUBLE_EQ(glu.bytes_read, 2 * glu.bytes_written);
  EXPECT_EQ(find(swiglu, "L3.moe.experts_gate_up.fwd").gemm.n, 2 * 2048);
  EXPECT_EQ(ffn_activation_of(glu), FfnActivation::swiglu);
}

TEST(OpGraph, TensorParallelCollectivesOfSequenceParallelism) {
  // Llama 405B at TP 8: each attention and FFN region all-gathers its 4,096 x 16,384 BF16 input and
  // reduce-scatters its output (4,096 x 16,384 x 2 B = 134 MB each); in the backward only the reduce-scatter's
  // all-gather is exposed (the column-parallel side overlaps its GEMMs); the embedding reduce-scatters its rows.
  const ModelSpec model = test::llama3_405b();
  StageSlice slice = layers(0, 1);
  slice.has_embedding = true;
  const OpGraph graph = build_training_graph(model, slice, work(1, Precision::bf16, Recompute::none, 8));
  const double buffer = 4096.0 * 16384 * 2;
  for (const char* name : {"L0.gqa.x_gather.fwd", "L0.gqa.o_scatter.fwd", "L0.gqa.o_scatter.dx", "L0.ffn.gather.fwd",
                           "L0.ffn.scatter.fwd", "L0.ffn.scatter.dx", "embed.embed_scatter.fwd"}) {
    const Op& op = find(graph, name);
    EXPECT_EQ(op.kind, OpKind::tensor_parallel) << name;
    EXPECT_DOUBLE_EQ(op.comm_bytes, buffer) << name;
    EXPECT_DOUBLE_EQ(op.flops, 0.0) << name;
  }
  std::size_t collectives = 0;
  for (auto v : boost::make_iterator_range(boost::vertices(graph)))
    if (graph[v].kind == OpKind::tensor_parallel) ++collectives;
  EXPECT_EQ(collectives, 4u + 2u + 2u);  // forward 4 + embedding's 2, backward 2
  // MLA gathers its latents (1,536 and 512 wide) and the shared rope key (64) instead of the hidden state.
  const OpGraph mla = build_training_graph(test::deepseek_v3(), layers(3, 4), work(8, Precision::fp8, Recompute::none, 8));
  EXPECT_DOUBLE_EQ(find(mla, "L3.mla.q_gather.fwd").comm_bytes, 4096.0 * 1536 * 2);
  EXPECT_DOUBLE_EQ(find(mla, "L3.mla.kv_gather.fwd").comm_bytes, 4096.0 * 512 * 2);
  EXPECT_DOUBLE_EQ(find(mla, "L3.mla.k_rope_gather.fwd").comm_bytes, 4096.0 * 64 * 2);
  // With Megatron's --tp-comm-overlap the same collectives are there, marked as running beside the GEMMs.
  MicroBatchWork overlapped = work(1, Precision::bf16, Recompute::none, 8);
  overlapped.tp_comm_overlap = true;
  const OpGraph hidden = build_training_graph(model, slice, overlapped);
  EXPECT_TRUE(find(hidden, "L0.gqa.x_gather.fwd").overlapped);
  EXPECT_FALSE(find(graph, "L0.gqa.x_gather.fwd").overlapped);
  // No tensor parallelism, no collectives.
  const OpGraph single = build_training_graph(model, slice, work(1, Precision::bf16, Recompute::none, 1));
  for (auto v : boost::make_iterator_range(boost::vertices(single))) EXPECT_NE(single[v].kind, OpKind::tensor_parallel);
}

TEST(OpGraph, ContextParallelismSplitsTheSequenceAndRingsKeysAndValues) {
  // Llama 405B, TP 8, CP 2, one 4,096-token sequence: each GPU holds 2,048 tokens, its queries see all 4,096 keys
  // with half of the causal work, and passes its K and V block (2,048 x 1 KV head x (128 + 128) x 2 B) once round
  // the ring in the forward, twice (with their gradients) in the backward.
  const ModelSpec model = test::llama3_405b();
  MicroBatchWork w = work(1, Precision::bf16, Recompute::none, 8);
  const OpGraph whole = build_training_graph(model, layers(0, 1), w);
  w.parallelism.cp = 2;
  const OpGraph split = build_training_graph(model, layers(0, 1), w);
  expect_shape(find(split, "L0.gqa.qkv.fwd").gemm, 2048, (16 + 2) * 128, 16384);
  const Op& core = find(split, "L0.gqa.core.fwd");
  EXPECT_EQ(core.attention.q_len, 2048);
  EXPECT_EQ(core.attention.kv_len, 4096);
  EXPECT_DOUBLE_EQ(core.flops, find(whole, "L0.gqa.core.fwd").flops / 2);
  const double block = 2048.0 * 1 * (128 + 128) * 2;
  EXPECT_DOUBLE_EQ(core.comm_bytes, block);
  EXPECT_DOUBLE_EQ(find(split, "L0.gqa.core.dx").comm_bytes, 2 * block);
  EXPECT_DOUBLE_EQ(find(whole, "L0.gqa.core.fwd").comm_bytes, 0.0);
  EXPECT_TRUE(core.overlapped);  // ring attention: the exchange runs beside the attention
  // All-gather context parallelism (Llama 3) moves the same bytes, before the attention instead of beside it.
  w.cp_all_gather = true;
  const OpGraph gathered = build_training_graph(model, layers(0, 1), w);
  EXPECT_DOUBLE_EQ(find(gathered, "L0.gqa.core.fwd").comm_bytes, block);
  EXPECT_FALSE(find(gathered, "L0.gqa.core.fwd").overlapped);
  EXPECT_FALSE(find(gathered, "L0.gqa.core.dx").overlapped);
}

TEST(OpGraph, RecomputationAddsOnlyNonModelWork) {
  const ModelSpec model = test::deepseek_v3();
  const StageSlice slice = layers(2, 4);  // one dense, one MoE layer
  const OpGraph none = build_training_graph(model, slice, work(64));
  const OpGraph selective = build_training_graph(model, slice, work(64, Precision::fp8, Recompute::selective));
  const OpGraph full = build_training_graph(model, slice, work(64, Precision::fp8, Recompute::full));
  const OpTotals base = sum_ops(none);
  // Selective (V3 §3.2.3): every RMSNorm and the MLA up-projections run again, as non-model work.
  double recomputed = 0;
  int recomputed_ops = 0;
  for (auto v : boost::make_iterator_range(boost::vertices(none))) {
    if (none[v].phase == Phase::forward && recomputed_in_selective_mode(none[v])) {
      recomputed += none[v].flops;
      ++recomputed_ops;
    }
  }
  // Two layers: attention norm, q norm, kv norm and FFN/MoE norm each (8), plus q_up and kv_up each (4).
  EXPECT_EQ(recomputed_ops, 12);
  const OpTotals sel = sum_ops(selective);
  EXPECT_DOUBLE_EQ(sel.model_flops, base.model_flops);
  EXPECT_NEAR(sel.flops - base.flops, recomputed, 1e-9 * recomputed);
  EXPECT_EQ(sel.ops - base.ops, recomputed_ops);
  const Op& again = find(selective, "L3.mla.q_up.recompute");
  EXPECT_FALSE(again.model_flops);
  EXPECT_EQ(again.phase, Phase::backward_input);
  EXPECT_DOUBLE_EQ(again.flops, find(none, "L3.mla.q_up.fwd").flops);
  expect_dag(selective);

  // Full: the whole forward of both layers again, communication included.
  const OpTotals fwd = sum_ops(none, Phase::forward);
  const OpTotals all = sum_ops(full);
  EXPECT_DOUBLE_EQ(all.model_flops, base.model_flops);
  EXPECT_NEAR(all.flops - base.flops, fwd.flops, 1e-9 * fwd.flops);
  EXPECT_DOUBLE_EQ(all.comm_bytes - base.comm_bytes, fwd.comm_bytes);
  EXPECT_EQ(all.ops - base.ops, fwd.ops);
  // Layer 3 is recomputed after layer 3's output gradient arrives and before its backward.
  auto names = by_name(full);
  EXPECT_TRUE(reaches(full, names.at("L3.moe.experts_down.recompute"), names.at("L3.moe.experts_down.dx")));
  EXPECT_TRUE(reaches(full, names.at("L3.mla.q_up.recompute"), names.at("L3.mla.q_up.dw")));
  EXPECT_TRUE(reaches(full, names.at("L3.mla.norm.dx"), names.at("L2.mla.norm.recompute")));
  EXPECT_FALSE(reaches(full, names.at("L3.mla.norm.recompute"), names.at("L3.moe.experts_down.fwd")));
  for (auto v : boost::make_iterator_range(boost::vertices(full)))
    if (full[v].name.find(".recompute") != std::string::npos) {
      EXPECT_FALSE(full[v].model_flops);
      EXPECT_EQ(full[v].phase, Phase::backward_input);
    }
  expect_dag(full);
}

TEST(OpGraph, SelectiveRecomputationRunsTheChosenModulesAgain) {
  // training.recompute_modules (Megatron-Core's names): each chosen module's forward ops get a ".recompute" twin in
  // the backward, non-model work; nothing else does.
  const ModelSpec model = test::deepseek_v3();
  const StageSlice slice = layers(2, 4);  // one dense, one MoE layer
  auto twins_of = [&](const SelectiveRecompute& modules) {
    MicroBatchWork w = work(64, Precision::fp8, Recompute::selective);
    w.selective_recompute = modules;
    const OpGraph graph = build_training_graph(model, slice, w);
    expect_dag(graph);
    std::vector<std::string> names;
    for (auto v : boost::make_iterator_range(boost::vertices(graph)))
      if (graph[v].name.find(".recompute") != std::string::npos) {
        EXPECT_FALSE(graph[v].model_flops);
        EXPECT_EQ(graph[v].phase, Phase::backward_input);
        names.push_back(graph[v].name);
      }
    std::sort(names.begin(), names.end());
    return names;
  };
  EXPECT_EQ(twins_of({false, false, false, true}), std::vector<std::string>{"L3.moe.experts_swiglu.recompute"});
  EXPECT_EQ(twins_of({false, false, true, false}),
            (std::vector<std::string>{"L2.mla.core.recompute", "L3.mla.core.recompute"}));
  EXPECT_TRUE(twins_of({false, false, false, false}).empty());
  // Whole blocks: the dense layer's MLP, the MoE layer's shared expert, or all of the MoE block after its norm
  // (router, dispatch, experts, combine, shared expert; the norm and the residual add stay out).
  SelectiveRecompute mlp{false, false, false, false};
  mlp.mlp = true;
  EXPECT_EQ(twins_of(mlp),
            (std::vector<std::string>{"L2.ffn.down.recompute", "L2.ffn.gate_up.recompute", "L2.ffn.swiglu.recompute"}));
  SelectiveRecompute shared{false, false, false, false};
  shared.shared_experts = true;
  EXPECT_EQ(twins_of(shared),
            (std::vector<std::string>{"L3.moe.shared_down.recompute", "L3.moe.shared_gate_up.recompute",
                                      "L3.moe.shared_swiglu.recompute"}));
  SelectiveRecompute moe{false, false, false, false};
  moe.moe = true;
  const auto moe_twins = twins_of(moe);
  EXPECT_GT(moe_twins.size(), 10u);
  for (const std::string& name : moe_twins) {
    EXPECT_EQ(name.rfind("L3.moe.", 0), 0u) << name;
    EXPECT_EQ(name.find(".norm."), std::string::npos) << name;
    EXPECT_EQ(name.find(".residual."), std::string::npos) << name;
  }
  EXPECT_NE(std::find(moe_twins.begin(), moe_twins.end(), "L3.moe.dispatch.recompute"), moe_twins.end());
  // With the norms as well, each norm is recomputed once, never twice inside a recomputed block.
  moe.layernorm = true;
  EXPECT_EQ(twins_of(moe).size(), moe_twins.size() + 8u);
  // The default is DeepSeek-V3's set, the norms and MLA's up-projections (12 ops over these two layers).
  EXPECT_EQ(twins_of({}).size(), 12u);
  EXPECT_EQ(twins_of({true, true, true, true}).size(), 12u + 2u + 1u);
}

TEST(OpGraph, FullRecomputationOfTheFirstLayersOnly) {
  // Megatron-LM's --recompute-method block --recompute-num-layers 1: of a chunk's layers only the first is
  // recomputed in full; the second keeps its activations and is not run again.
  const ModelSpec model = test::deepseek_v3();
  const StageSlice slice = layers(2, 4);  // one dense, one MoE layer
  const OpGraph none = build_training_graph(model, slice, work(64));
  MicroBatchWork first_only = work(64, Precision::fp8, Recompute::full);
  first_only.recompute_layers = 1;
  const OpGraph block = build_training_graph(model, slice, first_only);
  double layer2_forward_flops = 0;
  std::int64_t layer2_forward_ops = 0;
  for (auto v : boost::make_iterator_range(boost::vertices(none)))
    if (none[v].phase == Phase::forward && none[v].layer == 2) {
      layer2_forward_flops += none[v].flops;
      ++layer2_forward_ops;
    }
  const OpTotals base = sum_ops(none), partial = sum_ops(block);
  EXPECT_NEAR(partial.flops - base.flops, layer2_forward_flops, 1e-9 * layer2_forward_flops);
  EXPECT_EQ(partial.ops - base.ops, layer2_forward_ops);
  EXPECT_DOUBLE_EQ(partial.model_flops, base.model_flops);
  for (auto v : boost::make_iterator_range(boost::vertices(block))) {
    const Op& op = block[v];
    const bool recompute_twin = op.name.find(".recompute") != std::string::npos;
    if (recompute_twin) {
      EXPECT_EQ(op.layer, 2) << op.name;
    }
    // Only layer 2's forward ops are marked as keeping nothing.
    EXPECT_EQ(op.recomputed_in_full, op.phase == Phase::forward && op.layer == 2) << op.name;
  }
  // More layers than the chunk has: all of them, as with no limit.
  first_only.recompute_layers = 5;
  EXPECT_EQ(sum_ops(build_training_graph(model, slice, first_only)).ops,
            sum_ops(build_training_graph(model, slice, work(64, Precision::fp8, Recompute::full))).ops);
  expect_dag(block);
}

TEST(OpGraph, RejectsWhatItCannotShard) {
  const ModelSpec model = test::deepseek_v3();
  EXPECT_THROW(build_training_graph(model, layers(3, 4), work(3)), std::invalid_argument);  // 256 experts / 3
  EXPECT_THROW(build_training_graph(model, layers(0, 1), work(1, Precision::fp8, Recompute::none, 3)),
               std::invalid_argument);  // 128 heads / 3
  EXPECT_THROW(build_training_graph(model, layers(0, 62), work()), std::invalid_argument);
}

TEST(OpGraph, NamesOfEnums) {
  EXPECT_STREQ(to_string(OpKind::grouped_gemm), "grouped_gemm");
  EXPECT_STREQ(to_string(OpKind::all_to_all), "all_to_all");
  EXPECT_STREQ(to_string(Phase::backward_weight), "backward_weight");
  EXPECT_STREQ(to_string(OpKind::tensor_parallel), "tensor_parallel");
  EXPECT_STREQ(to_string(DataType::fp8), "fp8");
  EXPECT_STREQ(to_string(DataType::fp32), "fp32");
}

}  // namespace
}  // namespace fleetsim
