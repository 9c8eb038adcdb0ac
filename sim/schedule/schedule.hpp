// Pipeline schedules as explicit per-device chunk orders: what each pipeline device computes, in which order, for
// one training step. The event-driven engine replays these lists (a device runs its chunks one at a time, in order,
// each as soon as its inputs have arrived); timeline.hpp evaluates them with fixed chunk durations.
//
// Vocabulary (as in the DualPipe README and Qi et al. 2023, "Zero Bubble Pipeline Parallelism"):
//   stage     one contiguous slice of the model's layers; stages are numbered in model order 0..stages-1, and every
//             micro-batch goes forward through 0, 1, ... and backward through stages-1, ..., 0.
//   chunk     one pass of one micro-batch through one stage: F (forward), B (backward for inputs), W (backward for
//             weights), or the fused B+W that 1F1B runs, or DualPipe's F&B (a forward of one micro-batch overlapped
//             with a backward of another on the same device).
//
// Adding a schedule: one file with a builder and one line in schedule_registry() (schedule.cpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fleetsim::schedule {

enum class ChunkKind {
  forward,           // F
  backward_input,    // B: gradients w.r.t. the stage's inputs only (zero-bubble split); W follows separately
  backward_weight,   // W: gradients w.r.t. the stage's weights, for a micro-batch whose B already ran
  backward,          // B+W fused, as 1F1B and interleaved 1F1B run it (the README's "full backward chunk")
  forward_backward,  // DualPipe's F&B: forward of (micro_batch, stage) overlapped with the full backward of
                     // (paired_micro_batch, paired_stage) on the same device
};

struct Chunk {
  ChunkKind kind = ChunkKind::forward;
  int micro_batch = 0;
  int stage = 0;  // model stage index the chunk computes
  // For forward_backward only: the backward half (a full backward, input and weight gradients).
  int paired_micro_batch = -1;
  int paired_stage = -1;
  // When the device exchanges this chunk's messages under rendezvous send/receive (EngineSpec::p2p), where the
  // implementation differs from "receive at the chunk's start, send at its end": the index (in the device's
  // program) of the earlier chunk at whose start the forward input is received (-1: this chunk's own start), and
  // whether the forward output is sent only after the device's next chunk. DualPipe's reference code does both in
  // its warm-up (dualpipe.py, steps 2-4).
  int forward_receive_at = -1;
  bool defer_forward_send = false;

  friend bool operator==(const Chunk&, const Chunk&) = default;
};

struct PipelineProgram {
  std::string schedule;  // registry name
  int devices = 0;
  int stages = 0;
  int micro_batches = 0;
  // device_of_stage[s]: the device that computes stage s. A device may hold two stages (interleaved: s and s+pp;
  // DualPipeV: s and 2pp-1-s).
  std::vector<int> device_of_stage;
  // direction_of_micro_batch[m]: 0 for every schedule but DualPipe, whose second half of the micro-batches enters
  // the pipeline at the last device (direction 1). A direction-1 micro-batch still runs stages 0..stages-1 in model
  // order, but stage s runs on device devices-1-device_of_stage[s] (each DualPipe device keeps a copy of stage i and
  // of stage pp-1-i: the README's "2x parameters").
  std::vector<int> direction_of_micro_batch;
  // per_device[d]: the chunks device d runs, in order.
  std::vector<std::vector<Chunk>> per_device;
  // Whether the chunks carry where the schedule's reference implementation receives and sends
  // (Chunk::forward_receive_at, defer_forward_send), so that rendezvous send/receive can be simulated without
  // inventing an order: 1F1B (receive at the chunk's start, send at its end and wait for it before the next chunk,
  // as Megatron-LM's blocking combined send/receive calls do) and DualPipe (dualpipe.py's steps).
  bool models_rendezvous = false;
};

// Megatron-Core's all-to-all overlap in the 1F1B steady state (moe_a2a_overlap, its "combined 1F1B"): every full
// backward that a forward follows on the same device becomes one overlapped F&B chunk with that forward, so the MoE
// all-to-all of each half runs beside the other half's compute. The device's first steady-state forward runs
// alone (one more warm-up forward: one more micro-batch of activations), the last backward too. Pairing a backward
// with the forward after it (never before) keeps the program free of cycles: the paired forward's input was sent by
// the previous device before that device needs this backward's output. For 1F1B and interleaved 1F1B, whose
// backwards are full; the result is not rendezvous-modelled (models_rendezvous = false: sends are buffered).
PipelineProgram pair_backwards_with_next_forwards(PipelineProgram program);

// The device that runs (micro_batch, stage) of this program.
int device_of(const PipelineProgram& program, int micro_batch, int stage);

// Builds the named schedule for pp_devices pipeline devices and micro_batches micro-batches per step;
// virtual_stages is the interleaved schedule's model chunks per device (TrainingJob::virtual_stages; the others
// ignore it). Throws std::invalid_argument for an unknown name or a combination the schedule cannot run (each
// schedule's constraints are listed in schedule_registry()'s descriptions and in its file).
PipelineProgram build_schedule(std::string_view name, int pp_devices, int micro_batches, int virtual_stages = 2);

struct ScheduleInfo {
  std::string_view name;
  std::string_view description;  // one line, including the constraints on pp and micro-batches
  PipelineProgram (*build)(int pp_devices, int micro_batches, int virtual_stages) = nullptr;
};

// Every schedule, in registry order.
const std::vector<ScheduleInfo>& schedule_registry();

// Short names used by tests and diagnostics: "F3" forward, "B3" full backward, "Bi3" backward for inputs, "W3"
// backward for weights of micro-batch 3, "F5&B1" an overlapped pair; with_stage appends the stage ("F3.s5",
// "F5.s0&B1.s3"), for devices that hold two stages.
std::string to_string(const Chunk& chunk, bool with_stage = false);
std::string_view to_string(ChunkKind kind);

}  // namespace fleetsim::schedule
