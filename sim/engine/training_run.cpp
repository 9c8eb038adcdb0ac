#include "engine/training_run.hpp"

#include <algorithm>
#include <stdexcept>

#include "core/error.hpp"
#include "schedule/schedule.hpp"

namespace fleetsim {
namespace {

// The fewest micro-batches, from `wanted` up to `limit`, that the schedule can run on pp devices.
std::int64_t runnable_micro_batches(const TrainingJob& job, std::int64_t wanted, std::int64_t limit) {
  for (std::int64_t m = std::max<std::int64_t>(1, wanted); m <= limit; ++m) {
    try {
      schedule::build_schedule(job.schedule, static_cast<int>(job.parallelism.pp), static_cast<int>(m),
                               static_cast<int>(job.virtual_stages));
      return m;
    } catch (const std::invalid_argument&) {
    }
  }
  return limit;
}

StepBreakdown interpolate(const StepBreakdown& low, const StepBreakdown& high, double micro_batches) {
  if (high.micro_batches == low.micro_batches) return high;
  // Between two simulated batch sizes every part of a step is linear in the micro-batch count (more micro-batches
  // lengthen the steady phase; the fill, drain and update stay), so the ramp's steps are interpolated.
  const double t = (micro_batches - static_cast<double>(low.micro_batches)) /
                   static_cast<double>(high.micro_batches - low.micro_batches);
  auto mix = [t](double a, double b) { return a + t * (b - a); };
  StepBreakdown step = high;
  step.micro_batches = static_cast<std::int64_t>(micro_batches);
  step.step_s = mix(low.step_s, high.step_s);
  step.steady_s = mix(low.steady_s, high.steady_s);
  step.bubble_s = mix(low.bubble_s, high.bubble_s);
  step.exposed_communication_s = mix(low.exposed_communication_s, high.exposed_communication_s);
  step.data_parallel_s = mix(low.data_parallel_s, high.data_parallel_s);
  step.optimizer_s = mix(low.optimizer_s, high.optimizer_s);
  step.compute_busy_s = mix(low.compute_busy_s, high.compute_busy_s);
  return step;
}

}  // namespace

TrainingEstimate simulate_training(const Scenario& scenario, std::vector<TraceEvent>* trace) {
  const auto& job = *scenario.training;
  const auto& plan = job.parallelism;
  const TrainingModels models(scenario);
  TrainingEstimate estimate = cost_and_check_memory(scenario, models);
  estimate.backend = "simgrid";

  const std::int64_t per_micro_batch = plan.dp * job.micro_batch;
  const std::int64_t final_mb = job.global_batch / per_micro_batch;
  std::vector<EngineRequest> requests{{job.global_batch, trace != nullptr}};
  if (job.ramp && job.ramp->from < job.global_batch) {
    const std::int64_t low_mb = runnable_micro_batches(job, job.ramp->from / per_micro_batch, final_mb);
    if (low_mb < final_mb) requests.push_back({low_mb * per_micro_batch, false});
  }
  std::vector<EngineStep> steps =
      simulate_training_steps(scenario, estimate.stages, models.kernels, models.comm, requests);
  const StepBreakdown final_step = steps.front().step;
  const StepBreakdown low_step = steps.size() > 1 ? steps[1].step : final_step;
  estimate.engine_activities = steps.front().activities;
  estimate.engine_actors = steps.front().actors;
  estimate.engine_p2p = steps.front().rendezvous ? "rendezvous" : "buffered";
  estimate.engine_peak_rss_bytes = steps.front().simulation_peak_rss_bytes;
  if (trace != nullptr) *trace = std::move(steps.front().trace);

  finish_run(scenario, estimate, [&](std::int64_t batch) {
    if (batch == job.global_batch) return final_step;
    return interpolate(low_step, final_step, static_cast<double>(batch / per_micro_batch));
  });
  return estimate;
}

}  // namespace fleetsim

namespace fleetsim {

TrainingEstimate run_training(const Scenario& scenario, std::vector<TraceEvent>* trace) {
  if (scenario.engine.backend == "analytic") {
    if (trace != nullptr)
      throw InputError({scenario.source_file, 0}, "--trace",
                       "a trace needs the event-driven engine; drop engine.backend=analytic");
    return estimate_training(scenario);
  }
  return simulate_training(scenario, trace);
}

}  // namespace fleetsim
