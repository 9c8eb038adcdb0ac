// Replays a PipelineProgram with fixed chunk durations: the reference the event-driven engine is checked against,
// and the way the tests compare each schedule with its published bubble formula.
//
// Rules (those the event-driven engine is to apply as well):
//   - a device runs its chunks one at a time, in program order, each as early as its inputs allow;
//   - forward (m, s) needs forward (m, s-1); backward (m, s), full or inputs-only, needs its own forward (m, s) and
//     the backward of (m, s+1); W (m, s) needs the inputs-only backward of (m, s); an F&B chunk needs what both its
//     halves need. Stages are in model order, so DualPipe's reverse direction needs no special case: its stage s-1
//     simply sits on the device after, not before, stage s;
//   - a dependency between two devices costs p2p_latency (one transfer: an activation forward, a gradient back); on
//     the same device it is free (DualPipeV's turn at the last device).
// Sends are buffered: a device never waits for its receiver to post a receive. The real implementations pair sends
// with receives (Megatron-LM, DualPipe's batch_isend_irecv), which can add waits this model leaves out.
//
// Bubble: for each device, makespan - busy, its idle time between the step's start and the end of the last chunk on
// any device. When every device does the same work (1F1B, ZB-H1, interleaved, and DualPipe/DualPipeV with
// F&B = F + B) it is the same number on every device, and it is what the DualPipe README's formulas mean. When F&B
// is shorter than F + B, DualPipe's devices differ (they run different numbers of overlapped pairs: the middle ones
// the most, so they are the least busy); the README's (PP/2-1)(F&B+B-3W) is then max_bubble, the bubble of the least
// busy device, i.e. makespan - min(busy) (tests/unit/schedule/test_schedules.cpp checks this on a grid).
#pragma once

#include <optional>
#include <vector>

#include "schedule/schedule.hpp"

namespace fleetsim::schedule {

// Times of one chunk. In seconds by convention; any unit works if all five share it.
struct ChunkDurations {
  double forward = 0;          // F
  double backward_input = 0;   // B, the inputs-only backward (a full backward takes backward_input + backward_weight)
  double backward_weight = 0;  // W
  // F&B: a forward and a full backward of two micro-batches run overlapped. Unset: no overlap, F + B + W.
  std::optional<double> forward_backward;
  double p2p_latency = 0;  // added to every dependency that crosses devices
};

// Duration of a chunk of this kind.
double duration_of(ChunkKind kind, const ChunkDurations& durations);

struct ChunkSpan {
  double start = 0;
  double end = 0;
};

struct Timeline {
  double makespan = 0;                           // end of the last chunk; the step starts at 0
  std::vector<double> busy;                      // per device: sum of its chunks' durations
  std::vector<double> bubble;                    // per device: makespan - busy
  double max_bubble = 0;                         // the largest of bubble
  std::vector<std::vector<ChunkSpan>> per_device;  // parallel to PipelineProgram::per_device
};

// Checks that the program is well formed (every chunk on the device that holds its stage, every (micro-batch,
// stage, pass) run exactly once: forward, input backward, weight backward, a full backward or an F&B's backward half
// counting for the last two) and evaluates it. Throws std::logic_error with a description if the program is
// malformed or deadlocks (no device can start its next chunk; the message says what each one waits for).
Timeline evaluate_timeline(const PipelineProgram& program, const ChunkDurations& durations);

}  // namespace fleetsim::schedule
