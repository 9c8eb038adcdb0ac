#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "analytic/pipeline_schedule.hpp"
#include "analytic/training_estimate.hpp"
#include "core/error.hpp"

namespace fleetsim {
namespace {

// Power of the rest of a node (CPUs, NICs, switches in the chassis, fans), per GPU: a DGX H100 draws about
// 10.2 kW at most with 8 x 700 W GPUs (public-figures.md §5), leaving (10.2 kW - 5.6 kW) / 8 per GPU.
constexpr double kNodeOverheadWattsPerGpu = (10200.0 - 8 * 700.0) / 8.0;
constexpr double kSecondsPerDay = 86400.0;

// Sequences per step after `tokens_seen` tokens: the ramp grows linearly in tokens (V3 §4.2 gives the end
// points, not the shape), rounded down to whole micro-batches on every DP rank.
std::int64_t batch_at(const TrainingJob& job, double tokens_seen) {
  if (!job.ramp || tokens_seen >= job.ramp->over_tokens) return job.global_batch;
  const auto& ramp = *job.ramp;
  double sequences = static_cast<double>(ramp.from) +
                     static_cast<double>(ramp.to - ramp.from) * tokens_seen / ramp.over_tokens;
  std::int64_t quantum = job.micro_batch * job.parallelism.dp;
  auto batch = static_cast<std::int64_t>(sequences) / quantum * quantum;
  return std::clamp(batch, std::min(ramp.from, ramp.to), std::max(ramp.from, ramp.to));
}

}  // namespace

TrainingModels::TrainingModels(const Scenario& scenario)
    : profile(load_kernel_profile(scenario.cluster.profile, profile_directories(scenario.cluster))),
      kernels(profile, scenario.cluster.gpu, scenario.cluster.profile_gpu),
      collectives(scenario.cluster, scenario.model, scenario.training->parallelism),
      comm(scenario.cluster, scenario.model, scenario.training->parallelism, kernels.profile(), &collectives,
           scenario.training->moe_dispatcher) {}

std::vector<std::int64_t> stage_layer_counts(const std::vector<StageCost>& stages) {
  std::vector<std::int64_t> counts;
  for (const StageCost& stage : stages) counts.push_back(stage.slice.last_layer - stage.slice.first_layer);
  return counts;
}

std::string op_costs_csv(const Scenario& scenario, const TrainingModels& models, const std::vector<StageCost>& stages) {
  std::string out =
      "stage,layer,block,op,kind,phase,dtype,m,n,k,groups,gflop,hbm_mb,cast_mb,comm_mb,seconds,source,tflops\n";
  std::vector<StageSlice> slices;
  for (const StageCost& stage : stages) slices.push_back(stage.slice);
  const OpCostVisitor write_row = [&out](std::size_t stage, const Op& op, const OpCost& cost) {
    const bool gemm = op.kind == OpKind::gemm || op.kind == OpKind::grouped_gemm;
    char line[512];
    std::snprintf(line, sizeof line, "%zu,%d,%s,%s,%s,%s,%s,%lld,%lld,%lld,%lld,%.6g,%.6g,%.6g,%.6g,%.6g,%s,%.4g\n", stage,
                  op.layer, op.block.c_str(), op.name.c_str(), to_string(op.kind), to_string(op.phase),
                  to_string(op.dtype), static_cast<long long>(gemm ? op.gemm.m : 0),
                  static_cast<long long>(gemm ? op.gemm.n : 0), static_cast<long long>(gemm ? op.gemm.k : 0),
                  static_cast<long long>(gemm ? op.gemm.groups : 0), op.flops / 1e9,
                  (op.bytes_read + op.bytes_written) / 1e6, op.cast_bytes / 1e6, op.comm_bytes / 1e6, cost.seconds,
                  to_string(cost.source), cost.seconds > 0 ? op.flops / cost.seconds / 1e12 : 0.0);
    out += line;
  };
  CostSourceCounts ignored;
  cost_slices(scenario, slices, models.kernels, models.comm, ignored, write_row);
  return out;
}

namespace {

// Each device's bytes (device_memory) and each device's busy time per chunk (compute and all-to-all of one visit,
// device_loads): the two things a split trades.
std::vector<double> device_bytes(const Scenario& scenario, const std::vector<StageCost>& stages) {
  std::vector<double> bytes;
  for (const MemoryBreakdown& device : device_memory(scenario, stages)) bytes.push_back(device.total_bytes);
  return bytes;
}

std::vector<double> device_seconds(const Scenario& scenario, const std::vector<StageCost>& stages) {
  std::vector<double> seconds;
  const auto& job = *scenario.training;
  for (const DeviceLoad& device : device_loads(schedule_of(job), stages, job.parallelism.pp))
    seconds.push_back(device.forward_compute_s + device.backward_input_compute_s + device.backward_weight_compute_s +
                      device.forward_comm_s + device.backward_comm_s);
  return seconds;
}

// Largest first: one split is worse than another when this is larger lexicographically (the worst device first,
// then the next: DualPipe's mirrored devices are both relieved by one move).
std::vector<double> worst_first(std::vector<double> values) {
  std::sort(values.begin(), values.end(), std::greater<>());
  return values;
}

// When the time-balanced split does not fit, moves one layer at a time from a stage of the fullest device to a stage
// of one of the three emptiest (the stages between pass one layer along and keep their counts) until every device
// fits; then, while every device still fits, from a stage of the busiest device to a stage of one of the three
// least busy, while that shortens the busiest device's time. Slower than the balance, but it runs, as a planner lays
// a pipeline out by hand for memory (Megatron's --decoder-first/last-pipeline-num-layers). Returns the layer counts,
// or nothing when no split found this way fits. Hopeless plans (the devices' mean above the capacity) are not
// searched.
std::optional<std::vector<std::int64_t>> split_that_fits(const Scenario& scenario, const TrainingModels& models,
                                                         const std::vector<StageCost>& balanced) {
  const std::vector<double> balanced_bytes = device_bytes(scenario, balanced);
  const double capacity = scenario.cluster.gpu.hbm_bytes;
  double mean = 0;
  for (double bytes : balanced_bytes) mean += bytes / static_cast<double>(balanced_bytes.size());
  if (mean > capacity) return std::nullopt;
  // A stage's cost depends only on its slice: cache them, as a move changes the stages between two.
  using SliceKey = std::tuple<int, int, bool, bool, bool>;
  std::map<SliceKey, StageCost> cache;
  auto key_of = [](const StageSlice& slice) {
    return SliceKey{slice.first_layer, slice.last_layer, slice.has_embedding, slice.has_head, slice.has_mtp};
  };
  for (const StageCost& stage : balanced) cache.emplace(key_of(stage.slice), stage);
  auto costed = [&](const std::vector<std::int64_t>& counts) {
    std::vector<StageCost> stages;
    for (const StageSlice& slice : stages_of_split(scenario.model, counts)) {
      auto found = cache.find(key_of(slice));
      if (found == cache.end()) {
        CostSourceCounts ignored;
        found =
            cache.emplace(key_of(slice), cost_slices(scenario, {slice}, models.kernels, models.comm, ignored).front())
                .first;
      }
      stages.push_back(found->second);
    }
    return stages;
  };
  auto fits = [&](const std::vector<StageCost>& stages) {
    const std::vector<double> bytes = device_bytes(scenario, stages);
    return *std::max_element(bytes.begin(), bytes.end()) <= capacity;
  };
  std::vector<std::int64_t> counts = stage_layer_counts(balanced);
  const std::size_t last = counts.size() - 1;
  const auto placement = device_stage_lists(schedule_of(*scenario.training), scenario.training->parallelism.pp);
  std::vector<StageCost> stages = balanced;
  // One local search: moves off the device `score` ranks worst, kept while they lower worst_first(score) (and, when
  // `keep_fitting`, leave every device fitting). Stops when `done` holds or no move helps.
  using Score = std::vector<double> (*)(const Scenario&, const std::vector<StageCost>&);
  auto improve = [&](Score score, bool keep_fitting, const std::function<bool()>& done) {
    for (std::int64_t move = 0; move < 4 * scenario.model.layers && !done(); ++move) {
      const std::vector<double> values = score(scenario, stages);
      const std::vector<double> current = worst_first(values);
      std::vector<std::size_t> order(values.size());
      for (std::size_t d = 0; d < order.size(); ++d) order[d] = d;
      std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return values[x] > values[y]; });
      std::optional<std::vector<std::int64_t>> best_counts;
      std::vector<double> best;
      for (const std::int64_t from_stage : placement[order.front()])
        for (std::size_t e = 0; e < std::min<std::size_t>(3, order.size()); ++e)
          for (const std::int64_t to_stage : placement[order[order.size() - 1 - e]]) {
            const auto from = static_cast<std::size_t>(from_stage), to = static_cast<std::size_t>(to_stage);
            if (from == to || counts[from] <= (from == 0 || from == last ? 0 : 1)) continue;  // only ends may empty
            std::vector<std::int64_t> moved = counts;
            --moved[from];
            ++moved[to];
            const std::vector<StageCost> candidate_stages = costed(moved);
            if (keep_fitting && !fits(candidate_stages)) continue;
            std::vector<double> candidate = worst_first(score(scenario, candidate_stages));
            if (!best_counts || candidate < best) {
              best = std::move(candidate);
              best_counts = moved;
            }
          }
      if (!best_counts || !(best < current)) return;
      counts = *best_counts;
      stages = costed(counts);
    }
  };
  improve(device_bytes, false, [&] { return fits(stages); });
  if (!fits(stages)) return std::nullopt;
  improve(device_seconds, true, [] { return false; });
  return counts;
}

}  // namespace

TrainingEstimate cost_and_check_memory(const Scenario& scenario, const TrainingModels& models) {
  TrainingEstimate estimate;
  estimate.stages = cost_stages(scenario, models.kernels, models.comm, estimate.cost_sources);
  estimate.memory = estimate_memory(scenario, estimate.stages);
  estimate.stage_split = scenario.training->stage_layers.empty() ? "balanced" : "given";
  if (estimate.memory.total_bytes > estimate.memory.capacity_bytes && scenario.training->stage_layers.empty() &&
      estimate.stages.size() > 1) {
    if (const auto counts = split_that_fits(scenario, models, estimate.stages)) {
      estimate.cost_sources = CostSourceCounts{};
      estimate.stages = cost_slices(scenario, stages_of_split(scenario.model, *counts), models.kernels, models.comm,
                                    estimate.cost_sources);
      estimate.memory = estimate_memory(scenario, estimate.stages);
      estimate.stage_split = "memory";
    }
  }
  if (estimate.memory.total_bytes > estimate.memory.capacity_bytes) {
    const auto where = scenario.key_locations.find("training.parallelism");
    throw InputError(where == scenario.key_locations.end() ? SourceLocation{scenario.source_file, 0} : where->second,
                     "training.parallelism",
                     "the plan does not fit in GPU memory: " + describe_memory(estimate.memory) +
                         "; use more pipeline stages, a higher ZeRO stage, recomputation or a smaller micro-batch" +
                         (scenario.training->parallelism.pp <= 1 ? std::string()
                          : scenario.training->stage_layers.empty()
                              ? std::string(" (moving layers between the stages found no split that fits either)")
                              : std::string(", or a training.stage_layers split with fewer layers on the fullest "
                                            "device")));
  }
  return estimate;
}

TrainingEstimate estimate_training(const Scenario& scenario) {
  const TrainingModels models(scenario);
  TrainingEstimate estimate = cost_and_check_memory(scenario, models);
  // The final batch must be one the schedule can run, as the engine requires (the ramp's smaller batches may not
  // be: their steps are then timed from totals, estimate_step).
  checked_training_program(scenario, scenario.training->global_batch);
  // Step time at every batch size the ramp passes through (a few dozen at most).
  std::map<std::int64_t, StepBreakdown> by_batch;
  finish_run(scenario, estimate, [&](std::int64_t batch) {
    auto found = by_batch.find(batch);
    if (found == by_batch.end())
      found =
          by_batch.emplace(batch, estimate_step(scenario, estimate.stages, models.kernels, models.comm, batch)).first;
    return found->second;
  });
  return estimate;
}

void finish_run(const Scenario& scenario, TrainingEstimate& estimate,
                const std::function<StepBreakdown(std::int64_t global_batch)>& step_at) {
  const auto& job = *scenario.training;
  const auto& cluster = scenario.cluster;
  const double tokens_per_sequence = static_cast<double>(job.seq_len);
  double tokens_seen = 0, wall = 0, busy = 0;
  std::int64_t steps = 0;
  std::int64_t last_batch = -1;
  StepBreakdown step;
  while (tokens_seen < job.tokens) {
    const std::int64_t batch = batch_at(job, tokens_seen);
    if (batch != last_batch) step = step_at(batch), last_batch = batch;
    if (!job.ramp || tokens_seen >= job.ramp->over_tokens) {
      // Past the ramp every step is the same: the rest of the run at once (a run may have 10^18 tokens).
      const double step_tokens = static_cast<double>(batch) * tokens_per_sequence;
      const double rest = std::ceil((job.tokens - tokens_seen) / step_tokens);
      tokens_seen += rest * step_tokens;
      wall += rest * step.step_s;
      busy += rest * step.compute_busy_s;
      steps += static_cast<std::int64_t>(rest);
      break;
    }
    tokens_seen += static_cast<double>(batch) * tokens_per_sequence;
    wall += step.step_s;
    busy += step.compute_busy_s;
    ++steps;
    if (job.ramp && batch != job.global_batch) estimate.ramp_steps += 1;
  }
  estimate.step = step_at(job.global_batch);
  estimate.steps = steps;
  estimate.wall_time_s = wall;

  const double gpus = static_cast<double>(cluster.gpus);
  const double step_tokens = static_cast<double>(job.global_batch) * tokens_per_sequence;
  estimate.model_flops_per_token = training_flops_per_token(scenario.model, job.seq_len);
  estimate.tflops_per_gpu = estimate.model_flops_per_token * step_tokens / estimate.step.step_s / gpus / 1e12;
  estimate.mfu = estimate.tflops_per_gpu * 1e12 / cluster.gpu.bf16_flop_per_s;
  estimate.tokens_per_day = step_tokens / estimate.step.step_s * kSecondsPerDay;
  estimate.gpu_hours = wall * gpus / 3600.0;
  estimate.gpu_hours_per_trillion_tokens = estimate.gpu_hours / (tokens_seen / 1e12);

  // Power: TDP while computing, the bundle's idle power otherwise (waiting in bubbles and on communication).
  // A bundle without an idle figure keeps the GPU at TDP throughout: an upper bound, not a guess.
  const double busy_fraction = wall > 0 ? busy / wall : 0.0;
  const auto& gpu = cluster.gpu;
  const double idle_w = gpu.idle_w > 0 ? gpu.idle_w : gpu.tdp_w;
  estimate.gpu_average_w = idle_w + (gpu.tdp_w - idle_w) * busy_fraction;
  const double it_w = (estimate.gpu_average_w + kNodeOverheadWattsPerGpu) * gpus;
  estimate.facility_average_kw = it_w * scenario.cost.pue / 1e3;
  estimate.energy_mwh = estimate.facility_average_kw * wall / 3600.0 / 1e3;

  // Money: rental per GPU-hour, or capital amortised over the years of service, plus electricity.
  const auto& cost = scenario.cost;
  if (cost.gpu_hour_usd) {
    estimate.compute_usd = estimate.gpu_hours * *cost.gpu_hour_usd;
  } else if (cost.capex) {
    const auto& capex = *cost.capex;
    const double per_gpu = capex.gpu_usd + capex.server_per_node_usd / static_cast<double>(cluster.gpus_per_node) +
                           capex.network_per_gpu_usd;
    // Annuity: yearly payment that repays per_gpu over `years` at `interest`.
    const double yearly = capex.interest > 0
                              ? per_gpu * capex.interest / (1.0 - std::pow(1.0 + capex.interest, -capex.years))
                              : per_gpu / capex.years;
    estimate.compute_usd = yearly / (365.0 * 24.0) * estimate.gpu_hours;
  }
  estimate.energy_usd = estimate.energy_mwh * 1e3 * cost.electricity_usd_per_kwh;
  estimate.total_usd = estimate.compute_usd + estimate.energy_usd;
  estimate.per_day_usd = wall > 0 ? estimate.total_usd / (wall / kSecondsPerDay) : 0.0;
}

}  // namespace fleetsim
