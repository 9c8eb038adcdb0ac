// Pipeline schedules as the analytic path sees them: a bubble formula, the activations a stage holds at peak and
// the parameter copies it keeps. Formulas from the DualPipe README (public-figures.md §4):
//   1F1B (PP-1)(F+B);  ZB1P (PP-1)(F+B-2W);  DualPipe (PP/2-1)(F&B+B-3W), 2x parameters, PP+1 activations;
//   DualPipeV the same bubble on PP/2 devices.
// There, B is a full backward chunk (input + weight gradients); here B_input and W are kept apart, so the
// README's B is B_input + W. Adding a schedule is one function and one line in the registry (pipeline_schedule.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "schedule/schedule.hpp"
#include "spec/jobs.hpp"
#include "spec/scenario.hpp"

namespace fleetsim {

// Times of one chunk (one micro-batch through one stage chunk) on the slowest device.
struct ChunkTimes {
  double forward = 0;          // F
  double backward_input = 0;   // B (input gradients only)
  double backward_weight = 0;  // W
  double overlapped_forward_backward = 0;  // F&B: a forward and a backward chunk of two micro-batches run together
};

struct PipelineSchedule {
  std::string_view name;
  std::string_view description;
  // The model is cut into stage_multiplier x pp stages (interleaved: its virtual stages, 2 unless the job says;
  // DualPipeV: 2), whose devices hold smaller chunks); device d holds stages_per_device of them:
  // stage_of(d, slot, pp) for each slot.
  std::int64_t stage_multiplier = 1;
  std::int64_t stages_per_device = 1;
  // How many of a device's stages one micro-batch passes through (DualPipe: 1 of its 2, one per direction;
  // interleaved and DualPipeV: both).
  std::int64_t visits_per_micro_batch = 1;
  std::int64_t (*stage_of)(std::int64_t device, std::int64_t slot, std::int64_t pp) = nullptr;
  // Whether MoE all-to-all hides behind another micro-batch's compute (DualPipe's bidirectional overlap).
  bool overlaps_expert_communication = false;
  // Whether pp must be even.
  bool needs_even_pp = false;
  // Idle time of a device per step, from chunk times (one visit of one stage) and the pipeline's devices.
  double (*bubble_seconds)(const ChunkTimes& chunk, std::int64_t pp) = nullptr;
  // Micro-batches of activations (in units of one chunk's activations) the busiest device holds at peak, given
  // the stages each device holds.
  double (*peak_activation_chunks)(std::int64_t pp, std::int64_t micro_batches,
                                   std::int64_t stages_per_device) = nullptr;
};

// Every schedule, in registry order. find_schedule throws std::out_of_range for an unknown name.
const std::vector<PipelineSchedule>& pipeline_schedules();
const PipelineSchedule& find_schedule(std::string_view name);
// The stages each of the pp devices computes, as the schedule places them (stage_of for every slot).
std::vector<std::vector<std::int64_t>> device_stage_lists(const PipelineSchedule& schedule, std::int64_t pp);

// The job's schedule: the registry's entry with the job's virtual stages (interleaved: TrainingJob::virtual_stages
// stages per device, each visited once per micro-batch). Throws std::out_of_range as find_schedule does.
PipelineSchedule schedule_of(const TrainingJob& job);

// The job's program for `micro_batches` micro-batches per pipeline: its schedule's, with steady-state backwards and
// forwards paired when the job overlaps the MoE all-to-all in 1F1B (TrainingJob::overlap_moe_all_to_all). Throws
// std::invalid_argument as schedule::build_schedule does.
schedule::PipelineProgram training_program(const TrainingJob& job, std::int64_t micro_batches);

// training_program for a step of `global_batch` sequences, or an InputError at training.schedule that says what the
// schedule needs and how many micro-batches the step gives (both backends refuse such a final batch alike).
schedule::PipelineProgram checked_training_program(const Scenario& scenario, std::int64_t global_batch);

}  // namespace fleetsim
