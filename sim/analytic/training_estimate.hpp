// The analytic training model: step time from per-chunk costs and a schedule's bubble formula, memory per GPU,
// and the whole run (steps for the token budget with the batch ramp, wall time, GPU-hours, energy, dollars).
// This is the fast path that sweeps use; the event-driven SimGrid engine replays the same chunks on a topology.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "analytic/pipeline_schedule.hpp"
#include "collective/collective_model.hpp"
#include "cost/comm_model.hpp"
#include "cost/kernel_cost.hpp"
#include "schedule/schedule.hpp"
#include "spec/scenario.hpp"

namespace fleetsim {

// Work of one micro-batch through one stage chunk of the pipeline, costed.
struct StageCost {
  StageSlice slice;
  double forward_compute_s = 0;
  double backward_input_compute_s = 0;
  double backward_weight_compute_s = 0;
  double forward_comm_s = 0;   // MoE dispatch + combine of the forward pass
  double backward_comm_s = 0;  // their backward counterparts
  double forward_gemm_s = 0;            // the GEMMs' and grouped GEMMs' part of the compute above, launched on
  double backward_input_gemm_s = 0;     // TrainingJob::gemm_sms SMs (ComputeStretch)
  double backward_weight_gemm_s = 0;
  double boundary_bytes = 0;   // activations sent to the next stage (and gradients back) per micro-batch
  double model_flops = 0;      // per micro-batch (for MFU)
  double activation_bytes = 0; // saved for backward, per micro-batch
  double dense_params = 0;     // parameters on this GPU that every DP rank holds (attention, dense FFN, shared ...)
  double expert_params = 0;    // routed-expert parameters on this GPU
};

// What one device of the pipeline carries: the stages the schedule places on it, per chunk (one visit of one of
// its stages by one micro-batch; for DualPipe, where a micro-batch visits one of the two, the average of both).
struct DeviceLoad {
  std::vector<std::int64_t> stages;
  double forward_compute_s = 0;
  double backward_input_compute_s = 0;
  double backward_weight_compute_s = 0;
  double forward_comm_s = 0;
  double backward_comm_s = 0;
  double forward_gemm_s = 0;       // part of the compute above (StageCost)
  double backward_input_gemm_s = 0;
  double backward_weight_gemm_s = 0;
  double dense_params = 0;         // all stages on the device
  double expert_params = 0;
  double activation_chunk_bytes = 0;  // the largest chunk's saved activations
  double work_per_chunk_s() const {
    return forward_compute_s + backward_input_compute_s + backward_weight_compute_s + forward_comm_s +
           backward_comm_s;
  }
};

// The devices of one pipeline (pp of them) and what each carries.
std::vector<DeviceLoad> device_loads(const PipelineSchedule& schedule, const std::vector<StageCost>& stages,
                                     std::int64_t pp);

// The routed experts' work on the busiest GPU of an EP group over the mean GPU's, per MoE layer and micro-batch:
// (1 + engine.expert_skew) x the busiest GPU's expected share of the routing (engine.routing_fluctuation,
// sim/cost/expert_load.hpp). Every op that works on the routed copies (works_on_routed_copies) costs this many
// times its profiled time at the mean load: each layer's combine waits for that GPU. 1 for a dense model.
double busiest_gpu_expert_load(const Scenario& scenario);

// Whether the schedule hides the MoE all-to-all behind another micro-batch's compute (DualPipe-style, EP > 1), and
// how much longer the compute of such an overlapped chunk takes on the SMs DeepEP leaves free (1 when no overlap):
// kernels that spread over every SM stretch by SMs / free SMs; GEMMs launched on TrainingJob::gemm_sms SMs only
// by gemm_sms / free SMs, if that is more than 1 (their stand-alone cost already runs on gemm_sms SMs).
bool overlaps_expert_communication(const Scenario& scenario);
struct ComputeStretch {
  double all_sms = 1;  // kernels that fill whatever SMs are free (attention, memory-bound kernels)
  double gemm = 1;     // GEMMs on gemm_sms SMs
  // The overlapped time of `compute_s` seconds of stand-alone compute, `gemm_s` of them GEMMs.
  double apply(double compute_s, double gemm_s) const { return (compute_s - gemm_s) * all_sms + gemm_s * gemm; }
};
ComputeStretch overlapped_compute_stretch(const Scenario& scenario);
// The SMs GEMM kernels run on (TrainingJob::gemm_sms resolved: `free` is the GPU's SMs less DeepEP's where the
// schedule overlaps the all-to-all), and how much longer a GEMM takes on them than on the whole GPU.
std::int64_t gemm_sm_count(const Scenario& scenario);
double gemm_sm_stretch(const Scenario& scenario);

// The per-step parameter update of one device: data-parallel gradient reduce-scatter and parameter all-gather
// (ZeRO), and the optimizer on the local shard.
struct UpdateCost {
  double reduce_scatter_s = 0;
  double all_gather_s = 0;
  double optimizer_s = 0;
};
UpdateCost parameter_update_cost(const Scenario& scenario, const DeviceLoad& device, const KernelCostModel& kernels,
                                 const CommModel& comm);
// The same for one model stage's parameters alone (TrainingJob::dp_comm_overlap times each stage's collectives).
UpdateCost stage_update_cost(const Scenario& scenario, const StageCost& stage, const KernelCostModel& kernels,
                             const CommModel& comm);
// ZeRO-3 over more than one data-parallel rank: parameters stay sharded between uses, so each chunk gathers its
// stage's parameters and each backward chunk reduce-scatters its gradients (instead of once per step).
bool shards_parameters(const Scenario& scenario);
// ZeRO-3: the seconds of collectives one chunk needs: it all-gathers the parameters of each stage it computes (the
// forward's, and again the backward's: they were freed in between) and reduce-scatters the gradients of each stage
// whose weight gradients it forms. `stage_update` holds each model stage's collective times (stage_update_cost).
double sharded_parameter_traffic_s(const schedule::Chunk& chunk, const std::vector<UpdateCost>& stage_update);
// ZeRO-3 with prefetching (dp_comm_overlap): a chunk's gathers and reduce-scatters run layer by layer beside its
// compute, one layer ahead, so the chunk is a two-resource pipeline of `layers` equal steps: it takes
// max(compute, traffic) + min(compute, traffic) / layers (the first layer's gather and the last layer's
// reduce-scatter cannot hide). Returns what the chunk spends beyond `compute`. Without prefetching: all of it.
double sharded_chunk_wait_s(double compute_s, double traffic_s, std::int64_t layers, bool prefetch);
// The part of that which overlap cannot hide: min(compute, traffic) / layers (the engine, which overlaps the two
// itself, adds just this).
double sharded_unhidden_s(double compute_s, double traffic_s, std::int64_t layers);
// The layers (FSDP units) of a stage: its transformer layers, at least one.
std::int64_t sharded_units(const StageCost& stage);

// Where the critical GPU's step goes, phase by phase, as DeepSeek's own breakdown reports it (ISCA 2505.09343
// Table 4: 1F, 1B, 1W, 1F1B, bubble, opt): the wall time of its chunks of each kind over the whole step, a chunk's
// all-to-all included when nothing overlaps it. forward + backward_input + backward_weight + overlapped + bubble +
// update = the step.
struct PhaseTotals {
  double forward_s = 0;          // stand-alone forward chunks (pipeline fill, DualPipe's warm-up)
  double backward_input_s = 0;   // stand-alone backward chunks: inputs-only, or full where the schedule fuses B+W
  double backward_weight_s = 0;  // stand-alone weight-gradient chunks (zero-bubble W)
  double overlapped_s = 0;       // DualPipe's F&B chunks: a forward and a backward overlapped (ISCA's "1F1B")
  double bubble_s = 0;           // idle before the last chunk: waiting for the pipeline's inputs
  double update_s = 0;           // after the last chunk: gradient reduce-scatter, optimizer, unhidden all-gather
  int device = 0;                // the pipeline device these are read on (the one that finishes the step last)
};

// Adds `seconds` of a chunk of this kind to its phase (a full backward counts as a backward chunk, as ISCA's 1B).
void add_chunk_time(PhaseTotals& phases, schedule::ChunkKind kind, double seconds);

struct StepBreakdown {
  PhaseTotals phases;
  // The same phases on every pipeline device (index = device, 0 .. pp - 1), each summing to the step: what a
  // device idles through (before its last chunk, or after its update until the step ends) is its bubble. ISCA does
  // not say which GPU its Table 4 was read on; these let a reader compare any of them.
  std::vector<PhaseTotals> device_phases;
  double forward_chunk_s = 0;         // F of the slowest device, including the SM share lost to communication
  double backward_input_chunk_s = 0;  // B
  double backward_weight_chunk_s = 0; // W
  double overlapped_chunk_s = 0;      // F&B
  double steady_s = 0;                // micro-batches x (F + B + W) x chunks per device
  double bubble_s = 0;
  double exposed_communication_s = 0; // EP all-to-all not hidden, PP transfers on the fill/drain path
  double data_parallel_s = 0;         // gradient reduce-scatter + parameter all-gather not hidden by the bubble
  double optimizer_s = 0;
  double step_s = 0;
  std::int64_t micro_batches = 0;     // per pipeline per step
  double compute_busy_s = 0;          // time the GPU computes (for power)
};

struct MemoryBreakdown {
  double weights_bytes = 0;
  double gradients_bytes = 0;
  double optimizer_bytes = 0;  // FP32 master weights + Adam moments, after ZeRO sharding
  double activations_bytes = 0;
  double reserved_bytes = 0;   // CUDA context, communication buffers, allocator slack
  double total_bytes = 0;
  double capacity_bytes = 0;
  double peak_activation_chunks = 0;
};

struct TrainingEstimate {
  StepBreakdown step;              // at the final (largest) batch
  MemoryBreakdown memory;
  std::vector<StageCost> stages;   // one per stage chunk
  CostSourceCounts cost_sources;   // per step at the final batch
  double model_flops_per_token = 0;
  double tflops_per_gpu = 0;
  double mfu = 0;
  double tokens_per_day = 0;
  std::int64_t steps = 0;
  double wall_time_s = 0;
  double gpu_hours = 0;
  double gpu_hours_per_trillion_tokens = 0;
  double ramp_steps = 0;           // steps spent in the batch ramp
  std::string backend = "analytic";  // which path timed the step: analytic | simgrid
  // How the stages were split: "given" (training.stage_layers), "balanced" (for time: split_into_stages) or "memory"
  // (the balance did not fit in GPU memory; layers moved across stage boundaries until every device did).
  std::string stage_split = "balanced";
  std::int64_t engine_activities = 0;  // simgrid: Execs and Comms of the simulated final-batch step
  std::int64_t engine_actors = 0;
  std::string engine_p2p;              // simgrid: the send/receive semantics simulated (rendezvous | buffered)
  double engine_peak_rss_bytes = 0;    // simgrid: peak memory of the simulation process
  // Power and money.
  double gpu_average_w = 0;
  double facility_average_kw = 0;
  double energy_mwh = 0;
  double compute_usd = 0;
  double energy_usd = 0;
  double total_usd = 0;
  double per_day_usd = 0;
};

// Thrown (as InputError by the caller, with key and breakdown) when the plan does not fit in GPU memory.
std::string describe_memory(const MemoryBreakdown& memory);

// Called for every op costed: the stage index, the op and what it costs (one micro-batch).
using OpCostVisitor = std::function<void(std::size_t stage, const Op& op, const OpCost& cost)>;

// Costs every stage chunk of one micro-batch; `visit`, when given, sees each op and its cost.
std::vector<StageCost> cost_stages(const Scenario& scenario, const KernelCostModel& kernels, const CommModel& comm,
                                   CostSourceCounts& sources, const OpCostVisitor& visit = {});
// cost_stages for the given slices (visit's stage index is the position in `slices`).
std::vector<StageCost> cost_slices(const Scenario& scenario, const std::vector<StageSlice>& slices,
                                   const KernelCostModel& kernels, const CommModel& comm, CostSourceCounts& sources,
                                   const OpCostVisitor& visit = {});

// Step time at `global_batch` sequences from costed stages.
StepBreakdown estimate_step(const Scenario& scenario, const std::vector<StageCost>& stages,
                            const KernelCostModel& kernels, const CommModel& comm, std::int64_t global_batch);

MemoryBreakdown estimate_memory(const Scenario& scenario, const std::vector<StageCost>& stages);
// The same for every pipeline device (index = device); estimate_memory is the fullest of them.
std::vector<MemoryBreakdown> device_memory(const Scenario& scenario, const std::vector<StageCost>& stages);

// The cost models of one training scenario: its kernel profile, kernel costs and communication.
struct TrainingModels {
  explicit TrainingModels(const Scenario& scenario);
  KernelProfile profile;
  KernelCostModel kernels;
  collective::CollectiveModel collectives;  // collectives on the cluster's topology, all groups at once
  CommModel comm;
};

// Every op of one micro-batch on every stage of `stages` (the split an estimate ran with) with its cost, as CSV
// (`fleetsim run --ops FILE`): where the time of a chunk goes, which ops a profile answers and which fall back to the
// roofline.
std::string op_costs_csv(const Scenario& scenario, const TrainingModels& models, const std::vector<StageCost>& stages);

// The transformer layers of each stage, in model order (the report's training.stage_layers).
std::vector<std::int64_t> stage_layer_counts(const std::vector<StageCost>& stages);

// Costs the stages and checks memory: an estimate with stages, memory and cost sources filled in. Throws
// InputError (key training.parallelism, with the breakdown) when the plan does not fit in GPU memory.
TrainingEstimate cost_and_check_memory(const Scenario& scenario, const TrainingModels& models);

// Completes an estimate from a step-time function: the steps of the token budget through the batch ramp, wall
// time, GPU-hours, throughput, power, energy and dollars. The analytic path and the event-driven engine share it.
void finish_run(const Scenario& scenario, TrainingEstimate& estimate,
                const std::function<StepBreakdown(std::int64_t global_batch)>& step_at);

// The whole analytic estimate; throws InputError when the plan does not fit in memory.
TrainingEstimate estimate_training(const Scenario& scenario);

}  // namespace fleetsim
