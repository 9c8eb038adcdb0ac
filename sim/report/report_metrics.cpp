#include "report/report_metrics.hpp"

namespace fleetsim {

const std::map<std::string, ReportMetric>& report_metrics() {
  static const std::map<std::string, ReportMetric> table{
      {"training.step_time_s", [](const TrainingEstimate& e) { return e.step.step_s; }},
      {"training.breakdown_s.forward_chunk", [](const TrainingEstimate& e) { return e.step.phases.forward_s; }},
      {"training.breakdown_s.backward_input_chunk",
       [](const TrainingEstimate& e) { return e.step.phases.backward_input_s; }},
      {"training.breakdown_s.backward_weight_chunk",
       [](const TrainingEstimate& e) { return e.step.phases.backward_weight_s; }},
      {"training.breakdown_s.bubble", [](const TrainingEstimate& e) { return e.step.phases.bubble_s; }},
      {"training.breakdown_s.overlapped_forward_backward",
       [](const TrainingEstimate& e) { return e.step.phases.overlapped_s; }},
      // The ratios issue 3 is judged on (ISCA Table 4: 1.99 / 1.13 and 0.48 / 1.13), derived from two keys.
      {"training.breakdown_s.backward_input_chunk/forward_chunk",
       [](const TrainingEstimate& e) { return e.step.phases.backward_input_s / e.step.phases.forward_s; }},
      {"training.breakdown_s.backward_weight_chunk/forward_chunk",
       [](const TrainingEstimate& e) { return e.step.phases.backward_weight_s / e.step.phases.forward_s; }},
      {"training.breakdown_s.optimizer", [](const TrainingEstimate& e) { return e.step.phases.update_s; }},
      {"training.tokens_per_day", [](const TrainingEstimate& e) { return e.tokens_per_day; }},
      {"training.tflops_per_gpu", [](const TrainingEstimate& e) { return e.tflops_per_gpu; }},
      {"training.mfu", [](const TrainingEstimate& e) { return e.mfu; }},
      {"training.memory_per_gpu_bytes", [](const TrainingEstimate& e) { return e.memory.total_bytes; }},
      {"training.gpu_hours", [](const TrainingEstimate& e) { return e.gpu_hours; }},
      {"training.gpu_hours_per_trillion_tokens",
       [](const TrainingEstimate& e) { return e.gpu_hours_per_trillion_tokens; }},
      {"training.wall_time_days", [](const TrainingEstimate& e) { return e.wall_time_s / 86400.0; }},
      {"power.energy_mwh", [](const TrainingEstimate& e) { return e.energy_mwh; }},
      {"cost.total_usd", [](const TrainingEstimate& e) { return e.total_usd; }},
      {"cost.compute_usd", [](const TrainingEstimate& e) { return e.compute_usd; }},
  };
  return table;
}

const std::map<std::string, ReportEcho>& report_echoes() {
  auto degree = [](std::int64_t ParallelPlan::*member) {
    return [member](const Scenario& s) { return static_cast<double>(s.training->parallelism.*member); };
  };
  static const std::map<std::string, ReportEcho> table{
      {"training.parallelism.tp", degree(&ParallelPlan::tp)}, {"training.parallelism.pp", degree(&ParallelPlan::pp)},
      {"training.parallelism.ep", degree(&ParallelPlan::ep)}, {"training.parallelism.dp", degree(&ParallelPlan::dp)},
      {"training.parallelism.cp", degree(&ParallelPlan::cp)},
  };
  return table;
}

}  // namespace fleetsim
