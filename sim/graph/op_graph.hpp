// The op graph: every operation of one micro-batch on one pipeline stage, as a Boost.Graph DAG.
//
// Vertices are operations (a GEMM, an attention core, a norm, an all-to-all ...) carrying FLOPs, bytes moved and the
// shape that the cost model looks up in a kernel profile. Edges are data dependencies. Forward, backward-input (dX)
// and backward-weight (dW) work are separate vertices, because zero-bubble and DualPipe schedules move dW around.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

#include "spec/jobs.hpp"
#include "spec/model.hpp"

namespace fleetsim {

enum class OpKind {
  gemm,          // dense matrix multiply, shape in Op::gemm
  grouped_gemm,  // MoE experts: `groups` GEMMs of m x n x k each (m = expected tokens per expert)
  attention,     // the attention core (QK^T, softmax, PV), shape in Op::attention
  elementwise,   // RoPE, SwiGLU activation, residual add, routing weights ... memory-bound
  norm,          // RMSNorm
  embedding,     // table lookup (forward) / scatter-add (backward)
  loss,          // softmax cross-entropy over the vocabulary
  router,        // sigmoid scores, group-limited top-k selection
  permute,       // on-GPU token permute/unpermute around dispatch and combine
  all_to_all,    // MoE dispatch or combine across the EP group; bytes in Op::comm_bytes
  tensor_parallel,  // sequence-parallel all-gather or reduce-scatter over the TP group (Megatron-LM); the gathered
                    // buffer's bytes in Op::comm_bytes. An NCCL kernel on the compute stream: it blocks compute.
};

enum class Phase { forward, backward_input, backward_weight };
enum class DataType { fp8, bf16, fp32 };

// C[m x n] = A[m x k] * B[k x n], repeated `groups` times (grouped GEMM; m is per group).
struct GemmShape {
  std::int64_t m = 0;
  std::int64_t n = 0;
  std::int64_t k = 0;
  std::int64_t groups = 1;
};

struct AttentionShape {
  std::int64_t batch = 0;    // sequences
  std::int64_t heads = 0;    // query heads on this GPU
  std::int64_t q_len = 0;
  std::int64_t kv_len = 0;
  std::int64_t qk_head_dim = 0;  // 192 for DeepSeek-V3 MLA (128 nope + 64 rope)
  std::int64_t v_head_dim = 0;
  bool causal = true;
  std::int64_t kv_heads = 0;  // key/value heads on this GPU (GQA groups; equal to `heads` for MLA after kv_up)
};

struct Op {
  std::string name;    // unique within the graph, e.g. "L12.mla.q_up.fwd"
  std::string block;   // "embedding", "mla", "gqa", "ffn", "moe", "head", "mtp"
  int layer = -1;      // transformer layer index (0-based); -1 for embedding/head; model.layers + i for MTP module i
  OpKind kind = OpKind::elementwise;
  Phase phase = Phase::forward;
  DataType dtype = DataType::bf16;  // precision of the math (GEMM inputs) or of the tensors moved
  double flops = 0;                 // FLOPs actually executed (causal attention counted once)
  double bytes_read = 0;            // HBM bytes
  double bytes_written = 0;
  double comm_bytes = 0;            // all_to_all: bytes this GPU sends to other GPUs; tensor_parallel: the full
                                    // (gathered) buffer of one rank; attention under context parallelism: the
                                    // K/V (and gradient) bytes this GPU passes round the ring
  GemmShape gemm;                   // gemm / grouped_gemm
  AttentionShape attention;         // attention
  bool model_flops = true;          // counts towards MFU (false for recomputation)
  // A forward op of a layer that full recomputation runs again in the backward pass: it keeps no activations of
  // its own (the layer keeps only its input), and a ".recompute" twin follows in the backward.
  bool recomputed_in_full = false;
  // A weight gradient (".dw"): its output is a parameter's gradient. Usually backward_weight work; a module kept
  // in higher precision may compute it in backward_input (DeferredWeightGradients in sim/spec/jobs.hpp).
  bool weight_gradient = false;
  // FP8 GEMMs only: HBM bytes of the separate cast kernels that bring this GEMM's operands to FP8 with their
  // scales (V3 §3.5.2: the BF16 output of the previous op is read back from HBM, quantised and written as FP8, only
  // to be read again by the GEMM; for the weight gradient the cached 1x128 FP8 activation is read, transposed and
  // re-quantised into 128x1 tiles). Costed at the memory roofline on top of the GEMM itself.
  double cast_bytes = 0;
  // tensor_parallel: the collective runs beside a GEMM (training.tp_comm_overlap) and costs no time of its own.
  // attention with context parallelism: the K/V exchange (comm_bytes) runs beside the blocks' attention (ring
  // attention, cp_comm_type p2p: the slower of the two counts) rather than before and after it (all_gather: both).
  bool overlapped = false;
};

using OpGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, Op>;
using OpVertex = boost::graph_traits<OpGraph>::vertex_descriptor;

// Which part of the model one pipeline stage holds.
struct StageSlice {
  int first_layer = 0;   // [first_layer, last_layer) of the model's transformer layers
  int last_layer = 0;
  bool has_embedding = false;
  bool has_head = false;  // LM head + cross-entropy
  bool has_mtp = false;   // the MTP module(s): layer + projection, shares embedding and head
};

// Splits the model over `pp` stages: layers as evenly as possible, embedding on the first stage, head and MTP on
// the last; the last stage gets fewer transformer layers because the head and MTP module weigh on it, and the
// first or last may hold none (only the embedding, only the head) where that helps. Up to layers + 2 stages.
// Layers are weighed by their forward FLOPs per token at a 4,096-token context (V3 §4.2 pre-training length);
// the overload takes the context length that weighs attention against the GEMMs.
std::vector<StageSlice> split_into_stages(const ModelSpec& model, std::int64_t pp);
std::vector<StageSlice> split_into_stages(const ModelSpec& model, std::int64_t pp, std::int64_t seq_len);
// The same for `stages` stages on pipeline devices that each compute several (device_stages[d]: the stages device d
// runs; interleaved, DualPipe and DualPipeV place two or more per device): the devices' loads are balanced, then the
// stages'. The overloads above give every device one stage.
std::vector<StageSlice> split_into_stages(const ModelSpec& model, std::int64_t stages, std::int64_t seq_len,
                                          const std::vector<std::vector<std::int64_t>>& device_stages);
// The stages a given split makes (TrainingJob::stage_layers): `layers[i]` transformer layers on stage i, in model
// order, the embedding on the first, head and MTP on the last. Throws std::invalid_argument unless the counts add up
// to the model's layers and only the first or last is empty.
std::vector<StageSlice> stages_of_split(const ModelSpec& model, const std::vector<std::int64_t>& layers);

// What one micro-batch on one stage looks like to the graph builder.
struct MicroBatchWork {
  std::int64_t sequences = 1;  // micro_batch
  std::int64_t seq_len = 4096;
  Precision precision = Precision::fp8;  // GEMM precision; attention core, norms and the head stay BF16
  ParallelPlan parallelism;               // tp shards heads and FFN; ep sets experts per GPU and dispatch volume
  Recompute recompute = Recompute::none;
  SelectiveRecompute selective_recompute;  // TrainingJob's: the modules selective recomputation runs again
  std::int64_t recompute_layers = 0;  // TrainingJob's: full recomputation of the first N layers, 0 = all
  DeferredWeightGradients deferred_weight_gradients = DeferredWeightGradients::all;  // TrainingJob's
  MoeDispatcher moe_dispatcher = MoeDispatcher::deepep;                              // TrainingJob's
  EmbeddingGradient embedding_gradient = EmbeddingGradient::dense;                   // TrainingJob's
  bool tp_comm_overlap = false;           // TrainingJob::tp_comm_overlap
  bool cp_all_gather = false;             // TrainingJob::cp_comm_type == all_gather
};

// Builds forward, backward-input and backward-weight ops of `slice` for one micro-batch on one GPU.
OpGraph build_training_graph(const ModelSpec& model, const StageSlice& slice, const MicroBatchWork& work);

// Sums over a graph, filtered by phase (all phases when `phase` is null).
struct OpTotals {
  double flops = 0;
  double model_flops = 0;
  double bytes = 0;        // read + written
  double comm_bytes = 0;
  std::int64_t ops = 0;
};
OpTotals sum_ops(const OpGraph& graph);
OpTotals sum_ops(const OpGraph& graph, Phase phase);

// Closed-form model facts, used by tests and by the report.
struct ParameterCounts {
  double total = 0;        // every parameter (DeepSeek-V3: 671B without the MTP module)
  double activated = 0;    // used by one token (DeepSeek-V3: ~37B)
  double embedding = 0;    // the input embedding table
  double head = 0;         // the LM head (0 extra when tied)
  double mtp = 0;          // the MTP module(s), not counted in total/activated: their own layer, projection and
                           // norms (DeepSeek-V3: 11.6B; the report's 14B also counts the copies of the embedding
                           // and head stored with the module in the checkpoint, 11.6B + 2 x 0.93B = 13.5B)
  double mtp_activated = 0;  // of `mtp`, used by one token (DeepSeek-V3: 0.69B; the shared head not included)
};
ParameterCounts count_parameters(const ModelSpec& model);

// Training FLOPs per token at `seq_len` (forward + backward = 3x forward): 6 x activated non-embedding parameters
// plus attention, causal attention counted once (half the score matrix). Excludes the MTP module, as papers do.
double training_flops_per_token(const ModelSpec& model, std::int64_t seq_len);

// The same for the MTP module(s) alone (layer, projection and the shared head's GEMM, 3x forward), which
// training_flops_per_token leaves out. The op graph of the last stage contains this work.
double mtp_training_flops_per_token(const ModelSpec& model, std::int64_t seq_len);

// KV-cache bytes per token over all layers at `bytes_per_element` (MLA: (kv_lora_rank + rope) per layer).
double kv_cache_bytes_per_token(const ModelSpec& model, double bytes_per_element);

// Whether `recompute: selective` with `modules` runs this forward op again in the backward pass: by default the
// RMSNorms and the MLA up-projections (q_up, kv_up), as DeepSeek-V3 does (V3 §3.2.3); `core_attn` adds the attention
// core, `moe_act` the routed experts' activation. The attention core keeps no score matrix in any mode
// (FlashAttention recomputes it; its backward carries that work).
bool recomputed_in_selective_mode(const Op& forward_op, const SelectiveRecompute& modules = {});

// The feed-forward activation this op applies (its name's segment is the activation's, maybe after "experts_" or
// "shared_": "L3.moe.experts_swiglu.fwd", "L0.ffn.gelu.bwd"), or none for any other op.
std::optional<FfnActivation> ffn_activation_of(const Op& op);

// Whether this op's work is the token copies the GPU's routed experts receive, and so grows with the GPU's share
// of the routing: the experts' grouped GEMMs (forward, input and weight gradients) and their activation
// ("L3.moe.experts_swiglu.fwd").
bool works_on_routed_copies(const Op& op);

const char* to_string(OpKind kind);
const char* to_string(Phase phase);
const char* to_string(DataType dtype);  // fp8 | bf16 | fp32: the profile tables' dtype column

}  // namespace fleetsim
