// The event-driven engine against hand-checked schedules, the analytic path, and its own modes.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/order_statistics.hpp"
#include "engine/gpu_variation.hpp"
#include "engine/step_simulation.hpp"
#include "engine/training_run.hpp"
#include "report/chrome_trace.hpp"
#include "scenario/load.hpp"
#include "schedule/schedule.hpp"
#include "schedule/timeline.hpp"

namespace fleetsim {
namespace {

// A pipeline whose stages all cost the same and move nothing but latency: the engine must reproduce the schedule
// timeline exactly (the p2p latency of one InfiniBand hop across leaves, 3.7 us, ISCA Table 5).
struct UniformPipeline {
  Scenario scenario;
  std::vector<StageCost> stages;
  KernelCostModel kernels{KernelProfile{}, GpuSpec{}, GpuSpec{}};
  CommModel comm;

  UniformPipeline(const std::string& schedule, std::int64_t pp, std::int64_t micro_batches, int stage_multiplier)
      : comm(make_cluster(), ModelSpec{}, ParallelPlan{}, kernels.profile()) {
    scenario.cluster = make_cluster();
    TrainingJob job;
    job.seq_len = 4096;
    job.micro_batch = 1;
    job.global_batch = micro_batches;
    job.parallelism.pp = pp;
    job.parallelism.dp = 1;
    job.schedule = schedule;
    scenario.training = job;
    scenario.engine.p2p = "buffered";  // the timeline evaluator's rule; rendezvous is tested against it below
    for (std::int64_t s = 0; s < pp * stage_multiplier; ++s) {
      StageCost stage;
      stage.forward_compute_s = 1e-3;
      stage.backward_input_compute_s = 1.5e-3;
      stage.backward_weight_compute_s = 0.5e-3;
      stages.push_back(stage);
    }
  }

  static ClusterSpec make_cluster() {
    ClusterSpec cluster;
    cluster.gpu.name = "test";
    cluster.gpu.sm_count = 132;
    cluster.gpu.hbm_bandwidth_bytes_per_s = 3.35e12;
    cluster.gpu.nvlink_bandwidth_bytes_per_s = 400e9;
    cluster.gpus = 8;
    cluster.gpus_per_node = 8;
    cluster.network.nic_bandwidth_bytes_per_s = 50e9;
    return cluster;
  }

  double simulated_step() {
    return simulate_training_steps(scenario, stages, kernels, comm, {{scenario.training->global_batch, false}})
        .front()
        .step.step_s;
  }

  double timeline_step() {
    const auto program = schedule::build_schedule(scenario.training->schedule,
                                                  static_cast<int>(scenario.training->parallelism.pp),
                                                  static_cast<int>(scenario.training->global_batch));
    return schedule::evaluate_timeline(program, {1e-3, 1.5e-3, 0.5e-3, std::nullopt, 3.7e-6}).makespan;
  }
};

TEST(Engine, OneFOneBReplaysTheHandCheckedTimeline) {
  UniformPipeline pipeline("1f1b", 4, 8, 1);
  // (m + p - 1)(F + B + W) = 33 ms of compute on the critical path, plus the transfers on it: the timeline
  // evaluator counts 16 of them (the fill, the drain and the 1F1B round trips that stall device 0).
  EXPECT_NEAR(pipeline.simulated_step(), 11 * 3e-3 + 16 * 3.7e-6, 1e-9);
  EXPECT_NEAR(pipeline.simulated_step(), pipeline.timeline_step(), 1e-9);
}

TEST(Engine, EveryScheduleMatchesItsTimelineWithoutCommunication) {
  for (const auto& [name, multiplier] : std::vector<std::pair<std::string, int>>{
           {"1f1b", 1}, {"zb1p", 1}, {"interleaved", 2}, {"dualpipe", 1}, {"dualpipev", 2}}) {
    UniformPipeline pipeline(name, 4, 8, multiplier);
    // Exactly: every transfer on the critical path pays its latency in both (this once caught inputs consumed
    // before they had arrived).
    EXPECT_NEAR(pipeline.simulated_step(), pipeline.timeline_step(), 1e-9) << name;
  }
}

TEST(Engine, RendezvousSendsRunTheSchedulesThatModelThem) {
  // With the implementations' send/receive semantics the schedules that encode their order still complete (no
  // device waits on a send whose receiver waits on it), and never sooner than with buffered sends; on 1F1B, whose
  // receivers always post before their senders finish, a sender waits only for its bytes to land.
  for (const auto& [name, multiplier] : std::vector<std::pair<std::string, int>>{{"1f1b", 1}, {"dualpipe", 1}}) {
    for (int micro_batches : {8, 16}) {
      UniformPipeline buffered(name, 4, micro_batches, multiplier);
      UniformPipeline rendezvous(name, 4, micro_batches, multiplier);
      rendezvous.scenario.engine.p2p = "rendezvous";
      double with_rendezvous = 0;
      try {
        with_rendezvous = rendezvous.simulated_step();
      } catch (const std::exception& error) {
        ADD_FAILURE() << name << " " << micro_batches << ": " << error.what();
        continue;
      }
      EXPECT_GE(with_rendezvous, buffered.simulated_step() - 1e-12) << name << " " << micro_batches;
      if (name == "1f1b") {
        EXPECT_NEAR(with_rendezvous, buffered.simulated_step(), 10 * 3.7e-6);
      }
    }
  }
}

TEST(Engine, RendezvousIsRefusedWhereTheScheduleDoesNotModelIt) {
  for (const auto& [name, multiplier] :
       std::vector<std::pair<std::string, int>>{{"zb1p", 1}, {"interleaved", 2}, {"dualpipev", 2}}) {
    UniformPipeline pipeline(name, 4, 8, multiplier);
    pipeline.scenario.engine.p2p = "rendezvous";
    EXPECT_THROW(pipeline.simulated_step(), InputError) << name;
    pipeline.scenario.engine.p2p = "auto";  // falls back to buffered: the timeline evaluator's step
    EXPECT_NEAR(pipeline.simulated_step(), pipeline.timeline_step(), 1e-9) << name;
  }
}

TEST(Engine, OverlappedDataParallelCommunicationHidesBehindTheLastBackward) {
  // 1F1B, pp 4, 8 micro-batches, dp 2 with ZeRO-1 over 40 GB/s NICs (50 GB/s at V3's 80%): 60 M parameters per stage
  // reduce-scatter 4 B each over 2 ranks in 60e6 x 4 / 2 / 40e9 = 3 ms and all-gather 2 B each in 1.5 ms.
  // Without overlap device 0, the last to finish, pays both after its last chunk (its first chunk starts at 0, so
  // nothing hides the all-gather). With dp_comm_overlap its first forward waits 1.5 ms for its own stage's
  // all-gather (which delays the whole fill by that), and its reduce-scatter starts with its last backward (2 ms),
  // so only 1 ms of it shows: 2 ms less in all.
  auto step = [](bool overlap) {
    UniformPipeline pipeline("1f1b", 4, 8, 1);
    pipeline.scenario.cluster.gpus = 8;
    pipeline.scenario.training->parallelism.dp = 2;
    pipeline.scenario.training->parallelism.zero = 1;
    pipeline.scenario.training->dp_comm_overlap = overlap;
    const CommModel comm(pipeline.scenario.cluster, ModelSpec{}, pipeline.scenario.training->parallelism,
                         pipeline.kernels.profile());
    // The optimizer reads and writes its shard at the HBM roofline: the GPU needs a bandwidth.
    const KernelCostModel kernels{KernelProfile{}, pipeline.scenario.cluster.gpu, pipeline.scenario.cluster.gpu};
    for (auto& stage : pipeline.stages) stage.dense_params = 60e6;
    pipeline.scenario.training->global_batch = 16;  // 8 micro-batches on each of the 2 replicas
    return simulate_training_steps(pipeline.scenario, pipeline.stages, kernels, comm, {{16, false}})
        .front()
        .step;
  };
  const StepBreakdown with = step(true);
  const StepBreakdown without = step(false);
  const double timeline = UniformPipeline("1f1b", 4, 8, 1).timeline_step();
  // (Each collective also crosses the NIC's link latency, 3.7 us: ISCA Table 5.)
  EXPECT_NEAR(without.step_s, timeline + 3e-3 + without.optimizer_s + 1.5e-3, 1e-5);
  EXPECT_NEAR(with.step_s, timeline + 1.5e-3 + (3e-3 - 2e-3) + with.optimizer_s, 1e-5);
  EXPECT_NEAR(without.step_s - with.step_s, 2e-3, 1e-5);
  EXPECT_NEAR(with.data_parallel_s, 1.5e-3 + 1e-3, 1e-5);  // the all-gather wait and the reduce-scatter's tail
}

const std::string kDefault = std::string(FLEETSIM_SOURCE_ROOT) + "/scenarios/deepseek-v3-pretrain.yaml";
const std::string kLlama = std::string(FLEETSIM_SOURCE_ROOT) + "/scenarios/llama-3-405b-pretrain.yaml";

Scenario load(const std::string& path, std::vector<std::string> overrides = {}) {
  LoadOptions options;
  options.overrides = std::move(overrides);
  return load_scenario(path, options);
}

TEST(Engine, AgreesWithTheAnalyticPathWithinTenPercentOnTheBundledScenarios) {
  // Every bundled training scenario (scenarios/*.yaml with a training section), whatever is added later.
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(FLEETSIM_SOURCE_ROOT) + "/scenarios"))
    if (entry.path().extension() == ".yaml") paths.push_back(entry.path().string());
  std::sort(paths.begin(), paths.end());
  int compared = 0;
  for (const std::string& path : paths) {
    const Scenario scenario = load(path);
    if (!scenario.training) continue;
    const double simulated = run_training(scenario, nullptr).step.step_s;
    const double analytic = run_training(load(path, {"engine.backend=analytic"}), nullptr).step.step_s;
    EXPECT_NEAR(simulated / analytic, 1.0, 0.10) << path << ": simgrid " << simulated << " s, analytic " << analytic;
    ++compared;
  }
  // DeepSeek-V3 (2, and 1 under Megatron-Core), Llama 3 (3, and 3 under Megatron-Core), Megatron GPT (5), MPT (4),
  // Qwen3 (2); the serving scenario has no training section.
  EXPECT_GE(compared, 20);
}

TEST(Engine, ActivationMemoryPerLayerFollowsKorthikanti) {
  // Korthikanti et al. 2022 (arXiv 2205.05198) §4: with tensor and sequence parallelism a GPT layer keeps
  // 34 sbh/t bytes plus 5as^2b/t of attention scores. fleetsim's attention never keeps the scores (FlashAttention),
  // keeps the attention output once (it is also the output projection's input) and models no dropout (KR's two
  // masks, sbh/t each): 32 sbh/t without recomputation; its selective recomputation drops the two norms'
  // 2 sbh/t each: 28 sbh/t. Plus the softmax statistics, 4 bytes per query row. The 22B model of KR Table 3:
  // s 2,048, b 4, h 6,144, t 8, 64 heads (8 per GPU); one layer is the difference of 48 and 47 layers.
  const std::string path = std::string(FLEETSIM_SOURCE_ROOT) + "/scenarios/megatron-gpt-22b-a100.yaml";
  auto activations = [&](const char* layers, const char* recompute) {
    return run_training(load(path, {layers, recompute}), nullptr).memory.activations_bytes;
  };
  const double sbh_over_t = 2048.0 * 4 * 6144 / 8;
  const double statistics = 4.0 * 2048 * 8 * 4;
  EXPECT_DOUBLE_EQ(activations("model.layers=48", "training.recompute=selective") -
                       activations("model.layers=47", "training.recompute=selective"),
                   28 * sbh_over_t + statistics);
  EXPECT_DOUBLE_EQ(activations("model.layers=48", "training.recompute=none") -
                       activations("model.layers=47", "training.recompute=none"),
                   32 * sbh_over_t + statistics);
  // Recomputing the attention core (Megatron-Core's core_attn) drops only its softmax statistics: FlashAttention
  // keeps no scores, and the core's output stays as the output projection's input.
  EXPECT_DOUBLE_EQ(activations("model.layers=48", "training.recompute_modules=[layernorm,core_attn]") -
                       activations("model.layers=47", "training.recompute_modules=[layernorm,core_attn]"),
                   28 * sbh_over_t);
  // Recomputing the MLP block (Megatron-Core's mlp) drops what it keeps, 18 sbh/t of the 32 (its gathered input 2,
  // the GeLU's input 8, the second GEMM's input 8); its own input is the norm's output, which the norm keeps, or
  // rebuilds when it is recomputed too.
  EXPECT_DOUBLE_EQ(activations("model.layers=48", "training.recompute_modules=[mlp]") -
                       activations("model.layers=47", "training.recompute_modules=[mlp]"),
                   14 * sbh_over_t + statistics);
  EXPECT_DOUBLE_EQ(activations("model.layers=48", "training.recompute_modules=[layernorm,mlp]") -
                       activations("model.layers=47", "training.recompute_modules=[layernorm,mlp]"),
                   10 * sbh_over_t + statistics);
  // Full recomputation keeps only each layer's input, sequence-parallel: 2 sbh/t (KR §4: "2sbh").
  auto full = [&](const char* layers, const char* recompute_layers) {
    std::vector<std::string> overrides{layers, "training.recompute=full"};
    if (recompute_layers != nullptr) overrides.emplace_back(recompute_layers);
    return run_training(load(path, overrides), nullptr).memory.activations_bytes;
  };
  EXPECT_DOUBLE_EQ(full("model.layers=48", nullptr) - full("model.layers=47", nullptr), 2 * sbh_over_t);
  // Only the first 10 layers recomputed (Megatron's block method): the 48th layer keeps everything.
  EXPECT_DOUBLE_EQ(
      full("model.layers=48", "training.recompute_layers=10") - full("model.layers=47", "training.recompute_layers=10"),
      32 * sbh_over_t + statistics);
  EXPECT_DOUBLE_EQ(full("model.layers=48", "training.recompute_layers=48"), full("model.layers=48", nullptr));
  EXPECT_DOUBLE_EQ(full("model.layers=48", "training.recompute_layers=10") - full("model.layers=48", nullptr),
                   38 * (30 * sbh_over_t + statistics));
}

TEST(Engine, RecomputingTheExpertsActivationDropsTheirDownProjectionsInput) {
  // recompute_modules moe_act under BF16: the routed experts' down projection no longer keeps its input, the
  // activation's output: one 4,096-token sequence x top-8 copies x 2,048 wide x 2 bytes per MoE layer of a stage.
  // (Under FP8 it never keeps it, V3 §3.3.3.) The activation runs again: a longer backward, the same forward.
  const std::vector<std::string> bf16{"training.precision=bf16", "cluster.gpu.hbm=400GB", "engine.backend=analytic"};
  auto with = [&](std::vector<std::string> overrides, const char* extra) {
    if (extra != nullptr) overrides.emplace_back(extra);
    return run_training(load(kDefault, overrides), nullptr);
  };
  const auto kept = with(bf16, nullptr);
  const auto recomputed = with(bf16, "training.recompute_modules=[layernorm,mla_up_proj,moe_act]");
  const double per_moe_layer = 4096.0 * 8 * 2048 * 2;
  ASSERT_EQ(kept.stages.size(), 16u);
  for (std::size_t s = 0; s < 16; ++s) {
    const auto& slice = kept.stages[s].slice;
    // Stage 0 holds the 3 dense layers and one MoE layer; stage 15 one MoE layer and the MTP module's (MoE) layer.
    const double moe_layers = s == 0 ? 1.0 : s == 15 ? 2.0 : static_cast<double>(slice.last_layer - slice.first_layer);
    EXPECT_DOUBLE_EQ(kept.stages[s].activation_bytes - recomputed.stages[s].activation_bytes,
                     moe_layers * per_moe_layer)
        << s;
    EXPECT_GT(recomputed.stages[s].backward_input_compute_s, kept.stages[s].backward_input_compute_s) << s;
    EXPECT_DOUBLE_EQ(recomputed.stages[s].forward_compute_s, kept.stages[s].forward_compute_s) << s;
  }
}

TEST(Engine, ZeroThreeGathersAndReduceScattersEveryMicroBatch) {
  // MPT-7B on 16 H100s (2 nodes) behind 25 Gb/s NICs, FSDP-style: ZeRO-3 frees the parameters after each use, so
  // every forward chunk all-gathers them and every backward chunk all-gathers them again and reduce-scatters its
  // gradients. Here that traffic outlasts the compute beside it, so the exposed data-parallel time is the same per
  // micro-batch: twice the accumulation steps, exactly twice the exposure. ZeRO-2 keeps the parameters and
  // reduce-scatters once per step: its exposure does not grow with the micro-batches. Both backends agree.
  const std::string path = std::string(FLEETSIM_SOURCE_ROOT) + "/scenarios/mpt-7b-h100.yaml";
  auto run = [&](int zero, int accumulation, const char* backend) {
    return run_training(load(path, {"cluster.gpus=16", "cluster.network.nic_bandwidth=25Gbps",
                                    "training.parallelism={pp: 1, dp: 16, zero: " + std::to_string(zero) + "}",
                                    "training.global_batch=" + std::to_string(6 * accumulation * 16),
                                    std::string("engine.backend=") + backend}),
                        nullptr)
        .step;
  };
  const auto two = run(3, 2, "simgrid"), four = run(3, 4, "simgrid");
  EXPECT_GT(two.data_parallel_s, two.steady_s);  // communication-bound: the case the test is about
  EXPECT_NEAR(four.data_parallel_s, 2 * two.data_parallel_s, 1e-9 * four.data_parallel_s);
  EXPECT_NEAR(four.step_s, two.step_s + (four.steady_s - two.steady_s) + two.data_parallel_s, 1e-9 * four.step_s);
  EXPECT_NEAR(run(3, 4, "analytic").step_s, four.step_s, 1e-5 * four.step_s);  // SimGrid adds link latencies
  const auto zero2_two = run(2, 2, "simgrid"), zero2_four = run(2, 4, "simgrid");
  EXPECT_NEAR(zero2_four.data_parallel_s, zero2_two.data_parallel_s, 1e-9 * zero2_two.data_parallel_s);
  EXPECT_LT(zero2_four.step_s, four.step_s);
  // With the NIC fast enough for the traffic to hide behind the compute (the bundled 400 Gb/s), only the first
  // layer's gather and the last layer's reduce-scatter of each chunk show (1/32 of the traffic of MPT-7B's 32 layers).
  const auto hidden = run_training(load(path), nullptr).step;
  EXPECT_GT(hidden.data_parallel_s, 0.0);
  EXPECT_LT(hidden.data_parallel_s, 0.01 * hidden.step_s);
}

TEST(Engine, StepsSimulatedSideBySideDoNotInterfere) {
  // The default scenario simulates its final batch beside the ramp's first batch; alone, the same step.
  const double beside_the_ramp = run_training(load(kDefault), nullptr).step.step_s;
  const double alone = run_training(load(kDefault, {"training.global_batch=15360"}), nullptr).step.step_s;
  EXPECT_DOUBLE_EQ(beside_the_ramp, alone);
}

TEST(Engine, BreakdownAddsUpToTheStep) {
  const auto step = run_training(load(kDefault), nullptr).step;
  EXPECT_NEAR(step.steady_s + step.bubble_s + step.exposed_communication_s + step.data_parallel_s + step.optimizer_s,
              step.step_s, 1e-9 * step.step_s);
  EXPECT_GT(step.bubble_s, 0.0);
  EXPECT_EQ(step.micro_batches, 120);
}

TEST(Engine, PhasesAddUpToTheStepAndHoldTheirChunks) {
  // The ISCA-style phases (stand-alone F, B, W, overlapped F&B, bubble, parameter update) tile the critical GPU's
  // step; each chunk phase holds at least its chunks' compute (count x per-micro-batch time, no SM share lost:
  // stand-alone chunks run on all SMs).
  const auto estimate = run_training(load(kDefault), nullptr);
  const auto& step = estimate.step;
  const auto& ph = step.phases;
  EXPECT_NEAR(ph.forward_s + ph.backward_input_s + ph.backward_weight_s + ph.overlapped_s + ph.bubble_s + ph.update_s,
              step.step_s, 1e-9 * step.step_s);
  EXPECT_NEAR(ph.bubble_s, step.bubble_s, 1e-9 * step.step_s);
  EXPECT_NEAR(ph.update_s, step.data_parallel_s + step.optimizer_s, 1e-9 * step.step_s);
  EXPECT_EQ(ph.device, 0);  // DualPipe's first device: nothing hides its parameter all-gather
  const auto program = schedule::build_schedule("dualpipe", 16, 120);
  const auto& chunks = program.per_device.at(static_cast<std::size_t>(ph.device));
  auto count = [&](schedule::ChunkKind kind) {
    return std::count_if(chunks.begin(), chunks.end(), [&](const schedule::Chunk& c) { return c.kind == kind; });
  };
  // Stand-alone chunks: their stage's compute plus its all-to-all, nothing overlapping (device 0 holds stage 0
  // and stage 15; 15 + 8 of its 23 forwards, by the eight steps).
  double forward = 0, weight = 0;
  for (const auto& chunk : program.per_device[0]) {
    const auto& stage = estimate.stages.at(static_cast<std::size_t>(chunk.stage));
    if (chunk.kind == schedule::ChunkKind::forward) forward += stage.forward_compute_s + stage.forward_comm_s;
    if (chunk.kind == schedule::ChunkKind::backward_weight) weight += stage.backward_weight_compute_s;
  }
  EXPECT_NEAR(ph.forward_s / forward, 1.0, 0.01);
  EXPECT_NEAR(ph.backward_weight_s / weight, 1.0, 0.01);
  EXPECT_EQ(count(schedule::ChunkKind::forward), 23);
  EXPECT_GT(ph.overlapped_s, static_cast<double>(count(schedule::ChunkKind::forward_backward)) * step.forward_chunk_s);
  EXPECT_GT(ph.backward_input_s, ph.forward_s);
}

TEST(Engine, ChunkPhasesAgreeWithTheAnalyticSumOfStandAloneChunks) {
  // On the default scenario nothing stretches a chunk beyond its stand-alone cost (waits land in the bubble), so
  // the engine's timeline and the analytic sum over the program give the same chunk phases.
  const auto simulated = run_training(load(kDefault), nullptr).step.phases;
  const auto analytic = run_training(load(kDefault, {"engine.backend=analytic"}), nullptr).step.phases;
  // The engine's all-to-all also pays the NIC latency (1.85 us a chunk, ISCA Table 5): 23 chunks, under 0.1 ms.
  EXPECT_EQ(simulated.device, analytic.device);
  EXPECT_NEAR(simulated.forward_s, analytic.forward_s, 1e-4);
  EXPECT_NEAR(simulated.backward_input_s, analytic.backward_input_s, 1e-4);
  EXPECT_NEAR(simulated.backward_weight_s, analytic.backward_weight_s, 1e-6);
  EXPECT_NEAR(simulated.overlapped_s, analytic.overlapped_s, 1e-6);
}

TEST(Engine, EveryPipelineDeviceHasItsPhasesAndTheEngineAndAnalyticAgreeOnThem) {
  // training.breakdown_by_device_s: one entry per pipeline device, each tiling the step; the critical device's entry
  // is the contract's breakdown; DualPipe's devices d and pp - 1 - d run mirrored programs (stages d and 15 - d),
  // so their phases are equal; and each device's chunk phases are the same sum of stand-alone chunks in both paths.
  const auto simulated = run_training(load(kDefault), nullptr).step;
  const auto analytic = run_training(load(kDefault, {"engine.backend=analytic"}), nullptr).step;
  ASSERT_EQ(simulated.device_phases.size(), 16u);
  ASSERT_EQ(analytic.device_phases.size(), 16u);
  for (std::size_t d = 0; d < 16; ++d) {
    const auto& ph = simulated.device_phases[d];
    EXPECT_EQ(ph.device, static_cast<int>(d));
    EXPECT_NEAR(ph.forward_s + ph.backward_input_s + ph.backward_weight_s + ph.overlapped_s + ph.bubble_s +
                    ph.update_s, simulated.step_s, 1e-9 * simulated.step_s);
    const auto& mirror = simulated.device_phases[15 - d];
    EXPECT_NEAR(ph.forward_s, mirror.forward_s, 1e-6);
    EXPECT_NEAR(ph.backward_weight_s, mirror.backward_weight_s, 1e-6);
    const auto& formula = analytic.device_phases[d];
    EXPECT_NEAR(ph.forward_s, formula.forward_s, 1e-4);
    EXPECT_NEAR(ph.backward_input_s, formula.backward_input_s, 1e-4);
    EXPECT_NEAR(ph.backward_weight_s, formula.backward_weight_s, 1e-6);
    EXPECT_NEAR(ph.overlapped_s, formula.overlapped_s, 1e-6);
  }
  const auto& critical = simulated.device_phases.at(static_cast<std::size_t>(simulated.phases.device));
  EXPECT_DOUBLE_EQ(critical.forward_s, simulated.phases.forward_s);
  EXPECT_DOUBLE_EQ(critical.bubble_s, simulated.phases.bubble_s);
  // A middle device (7: stages 7 and 8, four MoE layers each) runs 8 stand-alone W chunks, the first device 15
  // (DualPipe's eight steps), so its weight phase is the smaller.
  EXPECT_LT(simulated.device_phases[7].backward_weight_s, simulated.device_phases[0].backward_weight_s);
}

TEST(Engine, TheTraceProfileReplaysTheChunkPairItWasMadeFrom) {
  // profiles/h800-dsv3-trace comes from DeepSeek's trace of one DualPipe pair of 4-layer MoE chunks (profile-data
  // train.json): its compute-stream kernels span 129.0 ms from first start to last end, launch gaps included.
  // Stage 1 of the default scenario is such a chunk (layers 4-7); its forward, input- and weight-gradient compute
  // overlapped with DeepEP (GEMMs on their 112 SMs, the rest stretched by 132 / 112) must come back within 3% of
  // that span and short of it: the span also holds two waits on DeepEP's combine (274 + 1,761 us), which the engine
  // times itself. (The replay is 1.1 ms above the span less those waits: weight-gradient GEMMs that ran on a second
  // stream beside other phases' GEMMs are costed one after the other.)
  // The trace was taken with balanced routing (every GPU the mean load), so the replay is too.
  const Scenario scenario = load(kDefault, {"engine.routing_fluctuation=false"});
  ASSERT_EQ(scenario.cluster.profile, "h800-dsv3-trace");
  const auto estimate = run_training(scenario, nullptr);
  const auto& stage = estimate.stages.at(1);
  const double pair = overlapped_compute_stretch(scenario).apply(
      stage.forward_compute_s + stage.backward_input_compute_s + stage.backward_weight_compute_s,
      stage.forward_gemm_s + stage.backward_input_gemm_s + stage.backward_weight_gemm_s);
  EXPECT_NEAR(pair / 129.0e-3, 1.0, 0.03) << pair;
  EXPECT_LT(pair, 129.0e-3) << pair;
}

TEST(Engine, GemmsLaunchedOnFewerSmsAreSlowerAloneAndNoSlowerBesideDeepEp) {
  // training.gemm_sms: a GEMM's own kernel takes 132 / gemm_sms of its whole-GPU time in every chunk; its FP8
  // casts and every other kernel do not change. Overlapped with DeepEP (20 SMs), 112-SM GEMMs lose nothing more,
  // so the F&B pairs cost what they cost with all-SM GEMMs stretched by 132 / 112; 66-SM GEMMs are not stretched.
  const Scenario all = load(kDefault, {"training.gemm_sms=132", "engine.backend=analytic"});
  const Scenario free = load(kDefault, {"engine.backend=analytic"});  // 112, the default scenario's
  const Scenario half = load(kDefault, {"training.gemm_sms=66", "engine.backend=analytic"});
  ASSERT_EQ(free.training->gemm_sms, TrainingJob::kGemmSmsFree);  // `free`: 132 less DeepEP's 20
  ASSERT_EQ(gemm_sm_count(free), 112);
  const auto on_all = run_training(all, nullptr), on_free = run_training(free, nullptr),
             on_half = run_training(half, nullptr);
  for (std::size_t s = 0; s < on_all.stages.size(); ++s) {
    const StageCost &a = on_all.stages[s], &f = on_free.stages[s], &h = on_half.stages[s];
    EXPECT_GT(a.forward_gemm_s, 0.5 * a.forward_compute_s) << s;  // the GEMMs are most of a forward chunk
    EXPECT_NEAR(f.forward_gemm_s, a.forward_gemm_s * 132.0 / 112.0, 1e-12) << s;
    EXPECT_NEAR(h.backward_weight_gemm_s, a.backward_weight_gemm_s * 2.0, 1e-12) << s;
    EXPECT_NEAR(f.backward_input_compute_s - f.backward_input_gemm_s,
                a.backward_input_compute_s - a.backward_input_gemm_s, 1e-12) << s;
    const auto overlapped = [](const Scenario& scenario, const StageCost& stage) {
      return overlapped_compute_stretch(scenario).apply(stage.forward_compute_s, stage.forward_gemm_s);
    };
    EXPECT_NEAR(overlapped(free, f), overlapped(all, a), 1e-12) << s;
    EXPECT_NEAR(overlapped(half, h), (h.forward_compute_s - h.forward_gemm_s) * 132.0 / 112.0 + h.forward_gemm_s,
                1e-12) << s;
  }
  EXPECT_DOUBLE_EQ(overlapped_compute_stretch(half).gemm, 1.0);
  EXPECT_NEAR(on_free.step.phases.overlapped_s, on_all.step.phases.overlapped_s, 1e-9);
  EXPECT_GT(on_free.step.phases.forward_s, on_all.step.phases.forward_s * 1.05);
  EXPECT_GT(on_half.step.step_s, on_free.step.step_s);
  // Absent, the key means every SM: the same step as naming all 132.
  Scenario unset = free;
  unset.training->gemm_sms = 0;
  EXPECT_DOUBLE_EQ(run_training(unset, nullptr).step.step_s, on_all.step.step_s);
  // `free` follows the GPU and the schedule: an H20 leaves 78 - 20; a schedule that does not overlap the all-to-all
  // leaves the GEMMs every SM.
  EXPECT_EQ(gemm_sm_count(load(kDefault, {"cluster.gpu=h20"})), 58);
  Scenario sequential = free;
  sequential.training->schedule = "1f1b";
  EXPECT_EQ(gemm_sm_count(sequential), 132);
  EXPECT_EQ(gemm_sm_count(load(kDefault, {"training.gemm_sms=all"})), 132);
}

TEST(Engine, HighPrecisionWeightGradientsLeaveDualPipesWChunksForItsBChunks) {
  // training.deferred_weight_gradients: except_high_precision (the default scenario's) moves the BF16 head's,
  // gate's and embedding's weight gradients from W to B chunk time, the same seconds on each side; nothing else
  // changes per stage. On the last stage (model head + MTP head, 2 x 7.6 TFLOP of weight gradient) W loses most.
  const Scenario kept = load(kDefault, {"engine.backend=analytic"});
  const Scenario deferred = load(kDefault, {"engine.backend=analytic", "training.deferred_weight_gradients=all"});
  ASSERT_EQ(kept.training->deferred_weight_gradients, DeferredWeightGradients::except_high_precision);
  const auto with_b = run_training(kept, nullptr), with_w = run_training(deferred, nullptr);
  for (std::size_t s = 0; s < with_b.stages.size(); ++s) {
    const StageCost &b = with_b.stages[s], &w = with_w.stages[s];
    const double moved = w.backward_weight_compute_s - b.backward_weight_compute_s;
    EXPECT_GT(moved, 0) << s;  // every stage has a gate or the embedding
    EXPECT_NEAR(b.backward_input_compute_s - w.backward_input_compute_s, moved, 1e-12) << s;
    EXPECT_NEAR(w.backward_weight_gemm_s - b.backward_weight_gemm_s, b.backward_input_gemm_s - w.backward_input_gemm_s,
                1e-12)
        << s;
    EXPECT_DOUBLE_EQ(b.forward_compute_s, w.forward_compute_s) << s;
    EXPECT_DOUBLE_EQ(b.dense_params, w.dense_params) << s;  // the head and gate are still reduced over DP
  }
  const StageCost &last_b = with_b.stages.back(), &last_w = with_w.stages.back();
  EXPECT_LT(last_b.backward_weight_compute_s, 0.6 * last_w.backward_weight_compute_s);
  // The engine's phases: less W, more B on the first device, F and the overlapped pairs (B and W together) as they
  // were; under 1F1B, which never splits the backward, the whole step is the same.
  const auto engine_b = run_training(load(kDefault), nullptr).step.phases;
  const auto engine_w = run_training(load(kDefault, {"training.deferred_weight_gradients=all"}), nullptr).step.phases;
  EXPECT_LT(engine_b.backward_weight_s, engine_w.backward_weight_s - 0.1);
  EXPECT_GT(engine_b.backward_input_s, engine_w.backward_input_s + 0.1);
  EXPECT_DOUBLE_EQ(engine_b.forward_s, engine_w.forward_s);
  EXPECT_NEAR(engine_b.overlapped_s, engine_w.overlapped_s, 1e-9);
  const auto sequential = [&](const char* deferral) {
    return run_training(load(kDefault, {"training.schedule=1f1b", "engine.backend=analytic",
                                        std::string("training.deferred_weight_gradients=") + deferral}),
                        nullptr)
        .step.step_s;
  };
  EXPECT_NEAR(sequential("all"), sequential("except_high_precision"), 1e-9);
}

TEST(Engine, TensorParallelCollectivesCostWhatTheirRingsTakeUnlessOverlapped) {
  // Llama 405B, TP 8 on H100 NVLink (900 GB/s both ways, 80% achievable per direction: 360 GB/s): each forward
  // chunk of a stage pays 4 collectives per layer of 8,192 x 16,384 BF16 (268 MB), 7/8 of it over the ring.
  const auto exposed = run_training(load(kLlama, {"engine.backend=analytic"}), nullptr);
  const auto hidden = run_training(load(kLlama, {"engine.backend=analytic", "training.tp_comm_overlap=true"}), nullptr);
  const auto& stage = exposed.stages.at(5);
  const double layers = static_cast<double>(stage.slice.last_layer - stage.slice.first_layer);
  const double collective = 8192.0 * 16384 * 2 * 7.0 / 8.0 / 360e9;
  EXPECT_NEAR(stage.forward_compute_s - hidden.stages.at(5).forward_compute_s, 4 * layers * collective, 1e-9);
  // The backward pays the two row-parallel all-gathers only; the weight gradient nothing.
  EXPECT_NEAR(stage.backward_input_compute_s - hidden.stages.at(5).backward_input_compute_s, 2 * layers * collective,
              1e-9);
  EXPECT_DOUBLE_EQ(stage.backward_weight_compute_s, hidden.stages.at(5).backward_weight_compute_s);
  EXPECT_GT(exposed.step.step_s, hidden.step.step_s);
}

TEST(Engine, AllGatherContextParallelismExposesWhatTheRingHides) {
  // Llama 405B at 131,072 tokens, CP 16: the same K/V bytes either way; the ring passes them beside the attention,
  // the all-gather form before it, so every forward and backward-input chunk gets longer and the weight chunks not.
  const std::string long_context = std::string(FLEETSIM_SOURCE_ROOT) + "/scenarios/llama-3-405b-pretrain-128k.yaml";
  const auto ring = run_training(load(long_context, {"engine.backend=analytic", "training.cp_comm_type=p2p"}), nullptr);
  const auto gathered =
      run_training(load(long_context, {"engine.backend=analytic", "training.cp_comm_type=all_gather"}), nullptr);
  for (std::size_t s = 1; s + 1 < ring.stages.size(); ++s) {
    EXPECT_GT(gathered.stages[s].forward_compute_s, ring.stages[s].forward_compute_s) << s;
    EXPECT_GT(gathered.stages[s].backward_input_compute_s, ring.stages[s].backward_input_compute_s) << s;
    EXPECT_DOUBLE_EQ(gathered.stages[s].backward_weight_compute_s, ring.stages[s].backward_weight_compute_s) << s;
  }
  EXPECT_GT(gathered.step.step_s, ring.step.step_s);
}

TEST(Engine, FullModeAgreesWithSymmetryOnSmallClusters) {
  // 256 GPUs: 16 pipelines of 16 (a 29-layer DeepSeek-V3 so that EP 16 fits), EP 16 across 16 pipelines; both
  // network kinds.
  for (const char* topology : {"multi-plane-fat-tree", "fat-tree"}) {
    std::vector<std::string> small{"model.layers=29",
                                   "cluster.gpus=256",
                                   "training.parallelism.dp=16",
                                   "training.parallelism.ep=16",
                                   "training.global_batch=512",
                                   std::string("cluster.network.topology=") + topology};
    const double symmetric = run_training(load(kDefault, small), nullptr).step.step_s;
    small.push_back("engine.mode=full");
    const double full = run_training(load(kDefault, small), nullptr).step.step_s;
    EXPECT_NEAR(full / symmetric, 1.0, 0.03) << topology;
  }
}

TEST(Engine, FullModeAgreesWithSymmetryOnTensorParallelPlans) {
  // A 16-layer Llama 3 405B on 256 GPUs, TP 8 PP 4 DP 8, interleaved (2 virtual stages, so the last device sends to
  // the first), Llama 3's rank order, FSDP-style overlap: every rank of every stage is an actor in full mode, each
  // TP rank sending its share to its counterpart. One pod (non-blocking), and 1:7 leaves.
  for (const char* oversubscribed : {"pod", "leaf"}) {
    std::vector<std::string> small{"model.layers=16",
                                   "cluster.gpus=256",
                                   "training.parallelism.pp=4",
                                   "training.parallelism.dp=8",
                                   "training.virtual_stages=2",
                                   "training.global_batch=64",
                                   std::string("cluster.network.oversubscription_at=") + oversubscribed};
    const auto symmetric = run_training(load(kLlama, small), nullptr);
    small.push_back("engine.mode=full");
    const auto full = run_training(load(kLlama, small), nullptr);
    EXPECT_EQ(full.engine_actors, 256);
    EXPECT_NEAR(full.step.step_s / symmetric.step.step_s, 1.0, 0.03) << oversubscribed;
  }
}

TEST(Engine, ASlowGpuAndAnUnevenExpertLoadStretchTheStep) {
  const double base = run_training(load(kDefault), nullptr).step.step_s;
  const double slow = run_training(load(kDefault, {"engine.slow_gpu_factor=1.25"}), nullptr).step.step_s;
  const double skewed = run_training(load(kDefault, {"engine.expert_skew=0.5"}), nullptr).step.step_s;
  EXPECT_GT(slow, base * 1.05);
  EXPECT_LT(slow, base * 1.25 + 1e-9);  // at most the slow factor on everything
  EXPECT_GT(skewed, base * 1.02);
}

TEST(Engine, RoutedExpertsCostTheBusiestGpusShareOfTheRouting) {
  // engine.routing_fluctuation (on by default) and engine.expert_skew: every op on the copies the GPU's experts
  // receive (grouped GEMMs, the experts' SwiGLU) costs (1 + skew) x the EP group's busiest GPU's expected share
  // (sim/cost/expert_load) times its profiled cost at the mean load; nothing else changes. Both backends.
  const Scenario balanced = load(kDefault, {"engine.backend=analytic", "engine.routing_fluctuation=false"});
  const Scenario sampled = load(kDefault, {"engine.backend=analytic"});
  const Scenario skewed = load(kDefault, {"engine.backend=analytic", "engine.expert_skew=0.5"});
  const double ratio = busiest_gpu_expert_load(sampled);
  EXPECT_NEAR(ratio, 1.01331, 1e-5);  // EP 64, one 4,096-token sequence per GPU: ExpertLoad.DeepSeekV3AtEp64ByHand
  EXPECT_DOUBLE_EQ(busiest_gpu_expert_load(balanced), 1.0);
  EXPECT_NEAR(busiest_gpu_expert_load(skewed), 1.5 * ratio, 1e-12);
  EXPECT_DOUBLE_EQ(busiest_gpu_expert_load(load(kLlama)), 1.0);  // dense: nothing routed
  // Two sequences per micro-batch halve the variance relative to the mean: the excess shrinks by sqrt(2).
  EXPECT_NEAR(busiest_gpu_expert_load(load(kDefault, {"training.micro_batch=2"})) - 1, (ratio - 1) / std::sqrt(2.0),
              1e-12);

  // The routed ops' seconds per stage and phase at the mean load, as the op listing shows them.
  const TrainingModels models(balanced);
  CostSourceCounts sources;
  std::vector<std::array<double, 3>> routed(16, {0.0, 0.0, 0.0});
  cost_stages(balanced, models.kernels, models.comm, sources, [&](std::size_t stage, const Op& op, const OpCost& cost) {
    if (works_on_routed_copies(op)) routed[stage][static_cast<std::size_t>(op.phase)] += cost.seconds;
  });
  const auto mean_load = run_training(balanced, nullptr), busiest = run_training(sampled, nullptr),
             heavier = run_training(skewed, nullptr);
  for (std::size_t s = 0; s < 16; ++s) {
    const StageCost &m = mean_load.stages[s], &b = busiest.stages[s], &h = heavier.stages[s];
    EXPECT_GT(routed[s][static_cast<std::size_t>(Phase::forward)], 0) << s;  // every stage has a MoE layer
    EXPECT_NEAR(b.forward_compute_s - m.forward_compute_s,
                (ratio - 1) * routed[s][static_cast<std::size_t>(Phase::forward)], 1e-12)
        << s;
    EXPECT_NEAR(b.backward_input_compute_s - m.backward_input_compute_s,
                (ratio - 1) * routed[s][static_cast<std::size_t>(Phase::backward_input)], 1e-12)
        << s;
    EXPECT_NEAR(h.backward_weight_compute_s - m.backward_weight_compute_s,
                (1.5 * ratio - 1) * routed[s][static_cast<std::size_t>(Phase::backward_weight)], 1e-12)
        << s;
    EXPECT_DOUBLE_EQ(b.forward_comm_s, m.forward_comm_s) << s;
    EXPECT_DOUBLE_EQ(b.expert_params, m.expert_params) << s;
  }
  EXPECT_GT(busiest.step.step_s, mean_load.step.step_s);
  EXPECT_GT(heavier.step.step_s, busiest.step.step_s * 1.02);
  // The engine waits for the same GPU.
  EXPECT_GT(run_training(load(kDefault), nullptr).step.step_s,
            run_training(load(kDefault, {"engine.routing_fluctuation=false"}), nullptr).step.step_s);
}

TEST(Engine, APlainAllToAllDispatcherChangesOnlyTheAllToAllAndTheExpertsInputCast) {
  // training.moe_dispatcher: all_to_all. Per stage the all-to-all costs the NIC's share of every BF16 expert copy
  // (more than DeepEP's node copies in FP8), and the routed experts' forward gains the FP8 cast of their BF16
  // input; nothing else moves. Both backends; DualPipe still hides most of it in its pairs.
  const Scenario deepep = load(kDefault, {"engine.backend=analytic"});
  const Scenario plain = load(kDefault, {"engine.backend=analytic", "training.moe_dispatcher=all_to_all"});
  ASSERT_EQ(deepep.training->moe_dispatcher, MoeDispatcher::deepep);
  const auto a = run_training(deepep, nullptr), b = run_training(plain, nullptr);
  for (std::size_t s = 0; s < a.stages.size(); ++s) {
    EXPECT_GT(b.stages[s].forward_comm_s, 2.0 * a.stages[s].forward_comm_s) << s;
    EXPECT_GT(b.stages[s].forward_compute_s, a.stages[s].forward_compute_s) << s;  // the experts' input cast
    EXPECT_DOUBLE_EQ(b.stages[s].backward_weight_compute_s, a.stages[s].backward_weight_compute_s) << s;
    EXPECT_DOUBLE_EQ(b.stages[s].model_flops, a.stages[s].model_flops) << s;
  }
  EXPECT_GT(run_training(load(kDefault, {"training.moe_dispatcher=all_to_all"}), nullptr).step.step_s,
            run_training(load(kDefault), nullptr).step.step_s * 1.05);
}

TEST(Engine, AnFAndBPairCarriesTheAllToAllOfBothHalves) {
  // A DualPipe pair's all-to-all is its forward's dispatch and combine and its backward's (the engine once charged
  // only the backward half's; with DeepEP's all-to-all hidden behind the pairs' compute it changed no bundled
  // step). With the plain dispatcher the pairs' communication matters: every pair's all-to-all track is the sum.
  const Scenario scenario = load(kDefault, {"training.moe_dispatcher=all_to_all"});
  std::vector<TraceEvent> trace;
  const auto estimate = run_training(scenario, &trace);
  int checked = 0;
  for (const auto& event : trace) {
    int mb = 0, stage = 0, paired_mb = 0, paired_stage = 0;
    if (event.stream != 0 || std::sscanf(event.name, "F%d.s%d&B%d.s%d", &mb, &stage, &paired_mb, &paired_stage) != 4)
      continue;
    const double expected = estimate.stages.at(static_cast<std::size_t>(stage)).forward_comm_s +
                            estimate.stages.at(static_cast<std::size_t>(paired_stage)).backward_comm_s;
    for (const auto& comm : trace)
      if (comm.rank == event.rank && comm.stream == 1 && comm.start_s == event.start_s) {
        EXPECT_NEAR(comm.end_s - comm.start_s, expected, 5e-6) << event.name;  // + the NIC link's 1.85 us latency
        ++checked;
      }
    if (checked >= 20) break;
  }
  EXPECT_EQ(checked, 20);
}

TEST(Engine, OverlappingTheAllToAllInOneFOneBPairsHidesItBehindTheOtherHalfsCompute) {
  // training.overlap_moe_all_to_all (Megatron-Core's moe_a2a_overlap): the same stage costs, the steady-state
  // backwards paired with the next forwards, the all-to-all of a comm-bound plan largely hidden, one more chunk of
  // activations. Qwen3-235B on 256 H100s with Megatron's plain all-to-all (its held-out scenario).
  const std::string qwen = std::string(FLEETSIM_SOURCE_ROOT) + "/scenarios/qwen3-235b-megatron-h100.yaml";
  const auto plain = run_training(load(qwen, {"training.overlap_moe_all_to_all=false"}), nullptr);
  const auto overlapped = run_training(load(qwen, {"training.overlap_moe_all_to_all=true"}), nullptr);
  for (std::size_t s = 0; s < plain.stages.size(); ++s)
    EXPECT_DOUBLE_EQ(plain.stages[s].forward_compute_s, overlapped.stages[s].forward_compute_s) << s;
  EXPECT_DOUBLE_EQ(plain.step.phases.overlapped_s, 0.0);
  EXPECT_GT(overlapped.step.phases.overlapped_s, 0.5 * overlapped.step.step_s);  // most of the step is pairs
  EXPECT_LT(overlapped.step.step_s, 0.85 * plain.step.step_s);
  EXPECT_GT(overlapped.step.exposed_communication_s, 0.0);  // the warm-up and cool-down chunks' is not hidden
  EXPECT_NEAR(overlapped.memory.peak_activation_chunks, plain.memory.peak_activation_chunks + 1, 1e-12);
  // Only for the schedules it pairs, and only where there is an all-to-all: anything else is an input error.
  EXPECT_THROW(load(kDefault, {"training.overlap_moe_all_to_all=true"}), InputError);  // DualPipe
  EXPECT_THROW(load(kDefault, {"training.schedule=1f1b", "training.overlap_moe_all_to_all=true"}), InputError);
  EXPECT_THROW(load(kLlama, {"training.overlap_moe_all_to_all=true"}), InputError);  // dense
}

TEST(Engine, GpuSpeedSpreadRunsEachGroupAtItsSlowestGpuAndSymmetryAgreesWithFullMode) {
  // engine.gpu_speed_spread: every GPU draws its speed from the seed; a lock-stepped group waits for its slowest.
  // Symmetric mode runs each pipeline position at the slowest of its GPUs; full mode simulates every GPU with its
  // own draw and lets the EP barriers and pipelines propagate it. They agree within 1% on both kinds of plan.
  const std::vector<std::string> moe{"model.layers=29", "cluster.gpus=256", "training.parallelism.dp=16",
                                     "training.parallelism.ep=16", "training.global_batch=512"};
  const std::vector<std::string> dense{"model.layers=16",           "cluster.gpus=256",
                                       "training.parallelism.pp=4", "training.parallelism.dp=8",
                                       "training.virtual_stages=2", "training.global_batch=64"};
  for (const auto& [path, plan] : {std::pair{kDefault, moe}, std::pair{kLlama, dense}}) {
    auto with = [&, &plan = plan, &path = path](std::vector<std::string> extra) {
      std::vector<std::string> overrides = plan;
      overrides.insert(overrides.end(), extra.begin(), extra.end());
      return run_training(load(path, overrides), nullptr).step.step_s;
    };
    const double identical = with({});
    const double symmetric = with({"engine.gpu_speed_spread=0.02"});
    const double full = with({"engine.gpu_speed_spread=0.02", "engine.mode=full"});
    EXPECT_GT(symmetric, identical * 1.02) << path;  // the slowest of 16 or 64 GPUs: 1.8 to 2.4 spreads
    EXPECT_LT(symmetric, identical * 1.1) << path;  // no GPU is more than 5 spreads slow
    EXPECT_NEAR(full / symmetric, 1.0, 0.01) << path;
    EXPECT_DOUBLE_EQ(with({"engine.gpu_speed_spread=0"}), identical) << path;
  }
  // The seed picks the GPUs: the same seed, the same step; another seed, another draw.
  const auto step = [](const std::vector<std::string>& overrides) {
    return run_training(load(kDefault, overrides), nullptr).step.step_s;
  };
  const double seeded = step({"engine.gpu_speed_spread=0.01"});
  EXPECT_DOUBLE_EQ(step({"engine.gpu_speed_spread=0.01"}), seeded);
  EXPECT_NE(step({"engine.gpu_speed_spread=0.01", "seed=2"}), seeded);
  // 2,048 GPUs: each position runs at the slowest of its 128 GPUs, about 2.6 spreads (compute only: the all-to-all
  // and the DP collectives do not scale), and a wider spread costs more.
  const double base = step({});
  const double expected = 0.01 * expected_max_standard_normal(128);
  EXPECT_GT(seeded / base - 1, 0.6 * expected);
  EXPECT_LT(seeded / base - 1, 1.1 * expected);
  EXPECT_GT(step({"engine.gpu_speed_spread=0.02"}), seeded);
  // The analytic backend has one timeline for every GPU: asking it for a spread is an input error, not ignored.
  EXPECT_THROW(load(kDefault, {"engine.backend=analytic", "engine.gpu_speed_spread=0.01"}), InputError);
}

TEST(Engine, TraceHasComputeAndCommunicationTracksForEveryGpuOfThePipeline) {
  std::vector<TraceEvent> trace;
  run_training(load(kDefault), &trace);
  YAML::Node json = YAML::Load(chrome_trace_json(trace, 16));
  std::set<std::pair<int, int>> tracks;
  for (const auto& event : json["traceEvents"])
    if (event["ph"].as<std::string>() == "X") tracks.insert({event["pid"].as<int>(), event["tid"].as<int>()});
  EXPECT_EQ(tracks.size(), 32u);  // 16 GPUs x {compute, communication}
}

TEST(Engine, ASchedulerThatCannotRunThePlanIsAnInputError) {
  // DualPipe needs at least 2 x pp micro-batches: 16 x 128 sequences give 1 per pipeline.
  EXPECT_THROW(run_training(load(kDefault, {"training.global_batch=128"}), nullptr), InputError);
}

}  // namespace
}  // namespace fleetsim
