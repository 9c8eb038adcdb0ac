// What runs on the cluster: a training job and/or a serving job, and the money and reliability assumptions.
// Plain data, no behaviour; every quantity is in the base unit named by its field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fleetsim {

// fp16 is costed as bf16: FP16 and BF16 tensor cores have the same dense rate on every bundled GPU (A100, H100,
// H800, H200 datasheets) and the same 2-byte tensors; its loss scaling costs nothing measurable.
enum class Precision { fp8, bf16, fp16 };
enum class Recompute { none, selective, full };
// Which modules `recompute: selective` runs again in the backward pass (Megatron-Core's --recompute-modules names).
// The default is DeepSeek-V3's set (V3 §3.2.3): the RMSNorms and MLA's up-projections.
struct SelectiveRecompute {
  bool layernorm = true;    // every RMSNorm: its output is not kept
  bool mla_up_proj = true;  // MLA's q_up and kv_up: the attention's Q, K and V are not kept
  bool core_attn = false;   // the attention core's forward runs again; only its softmax statistics go (FlashAttention
                            // keeps no score matrix, and its output is the output projection's input, kept there)
  bool moe_act = false;     // the routed experts' activation runs again: its output, the experts' down projection's
                            // input, is not kept (under FP8 it never is: V3 §3.3.3 caches the activation's input)
  // Whole blocks, each keeping only its input (the norm's output before it) and running its forward again before
  // its backward, communication included:
  bool mlp = false;             // a dense layer's MLP
  bool moe = false;             // a MoE layer's block after its norm: router, dispatch, experts, combine, shared expert
  bool shared_experts = false;  // a MoE layer's shared expert
};
// Which weight gradients a schedule that splits the backward pass (zb1p, dualpipe, dualpipev) defers to its W
// chunks. all: every weight's (the zero-bubble papers' rule). except_high_precision: all but those of the modules
// DeepSeek-V3 keeps out of FP8 (V3 §3.3: the embedding, the output head, the MoE gate), which are computed with
// their input gradient in the B chunk, as DeepSeek's framework does: its training trace (profile-data train.json)
// runs the gate's weight-gradient GEMM right after its input-gradient GEMM in attn(B), on the same stream, while
// every FP8 weight gradient sits in attn(W) / mlp(W). Schedules that do not split the backward are unaffected.
enum class DeferredWeightGradients { all, except_high_precision };

// How the MoE dispatch and combine move tokens between the GPUs of an EP group.
// deepep: DeepSeek's DeepEP normal kernels (V3 §3.2.2): a token crosses InfiniBand once per destination node and is
// forwarded over NVLink inside it; under FP8 training dispatched in FP8 (V3 §3.3.3). Timed at DeepEP's published
// bandwidths (the profile's all_to_all.csv).
// all_to_all: a plain all-to-all of per-expert token copies, as Megatron-Core's AlltoAll token dispatcher does
// (moe_token_dispatcher_type=alltoall, NCCL): every (token, expert) copy bound for another GPU is sent to it
// directly, no per-node deduplication, in BF16 whatever the GEMM precision (the FP8 cast happens at the expert
// GEMM). Timed as the GPU's NIC carrying its copies for other nodes and NVLink its copies for its own node, both
// at their achievable rates, whichever takes longer.
enum class MoeDispatcher { deepep, all_to_all };

// How the framework computes the input embedding's weight gradient, once per micro-batch on the GPU that holds the
// embedding (and again for each MTP module's lookup).
// dense: PyTorch's embedding backward (aten embedding_dense_backward, what F.embedding and nn.Embedding run, and
// with them Megatron-Core's VocabParallelEmbedding) returns a gradient the size of the whole (vocabulary-parallel)
// table, zero-filled, with the micro-batch's rows added in; the framework then adds it to the FP32 gradient it
// accumulates the batch in (Megatron-Core's DDP hook: main_grad.add_(grad); V3 §3.3: gradients accumulated in FP32).
// rows: a framework kernel that adds the micro-batch's rows straight into the FP32 gradient (no PyTorch framework
// does this by default; the table-sized passes are skipped).
enum class EmbeddingGradient { dense, rows };

// Which parallel dimensions are neighbours in the global rank order, innermost first (Megatron-Core's RankGenerator
// orders; sim/collective/rank_layout.hpp). tp_cp_ep_dp_pp is Megatron-Core's default; tp_cp_ep_pp_dp is its
// --use-tp-pp-dp-mapping and Llama 3's [TP, CP, PP, DP] (L3 2407.21783 §3.3.2): a pipeline's stages on
// neighbouring nodes, data parallelism outermost.
enum class RankOrder { tp_cp_ep_dp_pp, tp_cp_ep_pp_dp };

struct ParallelPlan {
  std::int64_t tp = 1;
  std::int64_t pp = 1;
  std::int64_t ep = 1;  // experts are sharded over `ep` ranks; EP groups are carved out of the dp x tp ranks
  std::int64_t dp = 1;
  std::int64_t cp = 1;
  std::int64_t zero = 0;  // ZeRO stage 0..3: 1 shards optimizer states, 2 also gradients, 3 also parameters
  RankOrder order = RankOrder::tp_cp_ep_dp_pp;  // training only
};

// Sequences per step, constant or growing linearly from `from` to `to` over the first `over_tokens` tokens.
struct BatchRamp {
  std::int64_t from = 0;
  std::int64_t to = 0;
  double over_tokens = 0;
};

struct TrainingJob {
  double tokens = 0;
  std::int64_t seq_len = 0;
  std::int64_t global_batch = 0;  // sequences per step after any ramp (= ramp->to when a ramp is given)
  std::optional<BatchRamp> ramp;
  std::int64_t micro_batch = 1;   // sequences per micro-batch
  Precision precision = Precision::fp8;
  ParallelPlan parallelism;
  std::string schedule = "1f1b";  // a name from the schedule registry (sim/analytic/pipeline_bubble)
  // Interleaved only: model chunks (virtual pipeline stages) per device, Megatron-LM's
  // --num-virtual-stages-per-pipeline-rank. The model is cut into pp x virtual_stages stages.
  std::int64_t virtual_stages = 2;
  // Transformer layers of each model chunk in model order (pp chunks; pp x virtual_stages under interleaving,
  // 2 x pp under dualpipev), as Megatron-LM's --pipeline-model-parallel-layout or
  // --decoder-first/last-pipeline-num-layers fix them; the first chunk also holds the embedding, the last the head
  // and MTP module. Empty: sim/graph's split_into_stages balances the chunks.
  std::vector<std::int64_t> stage_layers;
  Recompute recompute = Recompute::none;
  SelectiveRecompute selective_recompute;  // recompute: selective only: which modules
  // Full recomputation only: how many transformer layers of each model chunk (pipeline stage, or virtual stage
  // under interleaving) are recomputed, the first ones (Megatron-LM's --recompute-method block
  // --recompute-num-layers N); the others keep their activations. 0: every layer.
  std::int64_t recompute_layers = 0;
  // Megatron-LM's --tp-comm-overlap: the tensor-parallel all-gathers and reduce-scatters run beside the GEMMs
  // (userbuffers) instead of on the compute stream's critical path. Off by default, as in Megatron-LM.
  bool tp_comm_overlap = false;
  // Megatron-LM's --overlap-grad-reduce and --overlap-param-gather (PyTorch FSDP does both by design): each stage's
  // gradient reduce-scatter starts when the stage's last backward of the step is done, beside the rest of the
  // step's chunks, and its parameter all-gather runs under the next step's first chunks, each stage's first forward
  // waiting only for its own stage's parameters. Off (Megatron-LM's default): both wait for the last chunk.
  bool dp_comm_overlap = false;
  // Megatron-Core's all-to-all overlap (moe_a2a_overlap, its combined 1F1B), for interleaved or for 1f1b at pp 1 (it
  // needs virtual stages when pp > 1): each steady-state backward is paired with the forward after it into an F&B
  // chunk whose MoE all-to-all runs beside its compute (schedule::pair_backwards_with_next_forwards), as DualPipe's
  // pairs do; one more micro-batch of activations.
  bool overlap_moe_all_to_all = false;
  // How context-parallel attention exchanges keys and values (Megatron-Core / Transformer Engine's cp_comm_type):
  // p2p, ring attention, each K/V block passed on while the previous one's attention runs; all_gather, every rank
  // gathers the whole sequence's K and V before its attention (and reduce-scatters their gradients after the
  // backward), exposed but simple with document masks (Llama 3's choice, L3 2407.21783 §3.3.2).
  enum class CpCommType { p2p, all_gather };
  CpCommType cp_comm_type = CpCommType::p2p;
  // SMs the framework launches its GEMM kernels on (DeepGEMM's set_num_sms, cuBLASLt's SM_COUNT_TARGET): 0, all of
  // the GPU's; kGemmSmsFree, those the MoE all-to-all leaves where the schedule overlaps it with compute (DeepSeek:
  // 132 - DeepEP's 20), all of them elsewhere; else that many. A persistent GEMM launched on fewer SMs runs on that
  // many in every chunk, overlapped or not: it is slower where nothing else runs and is not slowed further while
  // DeepEP holds its SMs, if it left them free (gemm_sm_count in sim/analytic resolves it).
  static constexpr std::int64_t kGemmSmsFree = -1;
  // Bounds that keep a run simulable (50,000 micro-batches: about 40 s and 2 GiB) and its step count in 64 bits;
  // each far beyond any published run (DeepSeek-V3: 120 micro-batches per pipeline, 14.8T tokens, a 15,155-step
  // batch ramp).
  static constexpr std::int64_t kMaxMicroBatchesPerPipeline = 50'000;
  static constexpr double kMaxTokens = 1e18;
  static constexpr std::int64_t kMaxRampSteps = 10'000'000;
  std::int64_t gemm_sms = 0;
  DeferredWeightGradients deferred_weight_gradients = DeferredWeightGradients::all;
  MoeDispatcher moe_dispatcher = MoeDispatcher::deepep;
  EmbeddingGradient embedding_gradient = EmbeddingGradient::dense;
};

struct LengthDistribution {
  double mean = 0;
  std::string distribution = "fixed";  // fixed | lognormal | exponential
  double sigma = 0;                    // lognormal shape
};

struct InferencePool {
  std::int64_t gpus = 0;
  ParallelPlan parallelism;
  std::int64_t mtp_depth = 0;
  double mtp_acceptance = 0;
};

struct InferenceJob {
  InferencePool prefill;
  InferencePool decode;
  double input_tokens_per_day = 0;
  double output_tokens_per_day = 0;
  double requests_per_day = 0;
  LengthDistribution input_length;
  LengthDistribution output_length;
  double cache_hit_rate = 0;
  std::string arrival = "poisson";  // poisson | diurnal | trace
  std::string arrival_trace;        // CSV path when arrival is a trace
  double slo_ttft_s = 0;
  double slo_tpot_s = 0;
};

struct CapexSpec {
  double gpu_usd = 0;
  double server_per_node_usd = 0;
  double network_per_gpu_usd = 0;
  double years = 0;
  double interest = 0;
};

struct CostSpec {
  std::optional<double> gpu_hour_usd;  // rental price per GPU-hour
  std::optional<CapexSpec> capex;      // or ownership
  double electricity_usd_per_kwh = 0;
  double pue = 1.0;
};

// How a training step is simulated (the `engine:` section; every key optional).
struct EngineSpec {
  std::string backend = "simgrid";  // simgrid: event-driven; analytic: the closed-form path sweeps use
  std::string mode = "symmetric";   // symmetric: one representative pipeline; full: every rank an actor
  double expert_skew = 0;           // load of the busiest expert over the mean, minus 1 (0: balanced, V3 §2.1.2)
  // Per-micro-batch routing fluctuation: a router balanced in expectation still gives each GPU a random number of
  // token copies; each MoE layer waits for the EP group's busiest GPU (sim/cost/expert_load.hpp). true: the routed
  // experts' work is that GPU's expected load (on top of expert_skew); false: every GPU gets the mean load.
  bool routing_fluctuation = true;
  double slow_gpu_factor = 1;       // one GPU computes this many times slower (1: none)
  // Static per-GPU speed variation: each GPU computes 1 + spread x z times slower, z a standard normal drawn per
  // GPU from the scenario's seed (sim/engine/gpu_variation.hpp). 0: identical GPUs. Below kMaxGpuSpeedSpread: the
  // draws are clamped at 1 / kMaxGpuSpeedSpread = 5 spreads, so that no GPU computes in no time.
  static constexpr double kMaxGpuSpeedSpread = 0.2;
  static constexpr double kMaxSlowGpuFactor = 100;  // beyond it a GPU has failed, not straggled
  double gpu_speed_spread = 0;
  // Pipeline send/receive semantics. rendezvous: as Megatron-LM and DualPipe's reference implementation run them
  // (torch.distributed.batch_isend_irecv, then wait): before each chunk a GPU posts that chunk's receives and waits
  // for them and for every send it has issued, and a send completes only once its receiver has posted the
  // matching receive. buffered: sends never wait (the timeline evaluator's rule, sim/schedule/timeline.hpp).
  // auto: rendezvous for the schedules whose implementation's order is modelled (1f1b, dualpipe), buffered for the
  // others (zb1p, interleaved, dualpipev).
  std::string p2p = "auto";
};

struct ReliabilitySpec {
  double gpu_mtbf_hours = 0;
  double checkpoint_interval_s = 0;
  double restart_overhead_s = 0;
};

}  // namespace fleetsim
