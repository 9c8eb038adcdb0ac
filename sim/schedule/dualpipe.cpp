// DualPipe (DeepSeek-AI 2024, "DeepSeek-V3 Technical Report" §3.2.1; reference implementation and bubble table in
// github.com/deepseek-ai/DualPipe, dualpipe/dualpipe.py and README.md). The order below is re-derived from the
// reference implementation's eight steps; it is not a copy of it.
//
// pp devices and pp model stages. Half of the micro-batches (0 .. M/2-1, direction 0) enter at device 0 and run
// stage s on device s; the other half (M/2 .. M-1, direction 1) enter at device pp-1 and run stage s on device
// pp-1-s, so device i keeps copies of stages i and pp-1-i (2x parameters). Seen from device i, "phase 0" is the
// direction that enters on its side of the pipeline (stage h = min(i, pp-1-i) of it) and "phase 1" the other one
// (stage pp-1-h). With h that half-rank and n = pp/2:
//   1. 2(n-h-1) forwards of phase 0                      (fill)
//   2. h+1 times: forward phase 0, forward phase 1
//   3. n-h-1 times: B phase 1 (inputs only), W, forward phase 1   (zero-bubble: W fills the wait)
//   4. M/2-pp+h+1 times: F&B (forward phase 0 with backward phase 1), F&B (forward phase 1 with backward phase 0);
//      on the two middle devices the very first pair runs as a plain forward then a plain backward, which the
//      reference implementation does "to further reduce bubble size" (the backward can start before the forward's
//      output has been sent)
//   5. n-h-1 times: backward phase 1, F&B (forward phase 1 with backward phase 0)
//   6. h+1 times: backward phase 1, backward phase 0; from the middle of this step on the backwards are split
//      (inputs only, W deferred)
//   7. n-h-1 times: W, backward phase 0 (inputs only)
//   8. h+1 times: W
// Every full backward here, alone or inside F&B, computes input and weight gradients together.
// Constraints (asserted by the reference step()): pp even, micro-batches even and >= 2*pp.
//
// Bubble. The README's (PP/2-1)(F&B+B-3W), B the full backward, is what the timeline gives for the least busy device
// (max_bubble: the devices nearest the middle overlap the most pairs) whenever the input backward takes as long as
// the forward and W <= F, for any F&B between max(F, B) and F + B and any even micro-batches >= 2*pp (tests). Those
// are the proportions the README's figure is drawn with (every cell the same width). Otherwise the formula is off:
// with no overlap gain (F&B = F+B) and W <= B it is low by (PP/2-1)(F-B) when B < F (the gaps it counts as a
// backward are a forward long), and high when B > F by an amount that does not grow with PP (at most F); see
// DualPipeFormulaNeedsEqualForwardAndBackward in the tests for numbers.
#include "schedule/builders.hpp"

#include <stdexcept>
#include <string>

#include "schedule/dualpipe_emitter.hpp"

namespace fleetsim::schedule {

PipelineProgram build_dualpipe(int pp_devices, int micro_batches) {
  constexpr std::string_view kName = "dualpipe";
  detail::require_positive(kName, pp_devices, micro_batches);
  detail::require(pp_devices % 2 == 0, kName,
                  "pp must be even (device i pairs stage i with stage pp-1-i); got pp = " + std::to_string(pp_devices));
  detail::require(micro_batches % 2 == 0 && micro_batches >= 2 * pp_devices, kName,
                  "micro-batches must be even (half enter from each end) and at least 2*pp = " +
                      std::to_string(2 * pp_devices) + "; got " + std::to_string(micro_batches));

  PipelineProgram program = detail::empty_program(kName, pp_devices, pp_devices, micro_batches);
  program.models_rendezvous = true;
  const int half_micro_batches = micro_batches / 2;
  for (int s = 0; s < pp_devices; ++s) program.device_of_stage[static_cast<std::size_t>(s)] = s;
  for (int m = half_micro_batches; m < micro_batches; ++m)
    program.direction_of_micro_batch[static_cast<std::size_t>(m)] = 1;  // enters at the last device

  const int n = pp_devices / 2;
  for (int device = 0; device < pp_devices; ++device) {
    const bool second_half = device >= n;
    const int h = second_half ? pp_devices - 1 - device : device;
    const bool middle = h == n - 1;
    detail::PhaseEmitter emit(program.per_device[static_cast<std::size_t>(device)], {h, pp_devices - 1 - h},
                              {second_half ? half_micro_batches : 0, second_half ? 0 : half_micro_batches});
    // Where the reference posts a receive early or holds a send back (what rendezvous send/receive sees), the
    // emitter is told so; the order of the chunks does not depend on it.
    for (int i = 0; i < 2 * (n - h - 1); ++i) emit.forward(0);
    emit.post_forward_receive(0);
    for (int i = 0; i < h + 1; ++i) {
      // Outer devices send this forward's output after the next chunk; the middle ones hold back the last forward
      // of phase 1 instead (until after step 4's first forward).
      emit.forward(0, /*received_early=*/true, /*defer_send=*/!middle);
      emit.post_forward_receive(0);
      emit.forward(1, /*received_early=*/false, /*defer_send=*/middle && i == h);
    }
    for (int i = 0; i < n - h - 1; ++i) {
      emit.backward(1, /*zero_bubble=*/true);
      emit.post_forward_receive(1);
      emit.weight();
      emit.forward(1, /*received_early=*/true);
    }
    for (int i = 0; i < half_micro_batches - pp_devices + h + 1; ++i) {
      if (i == 0 && middle) {
        emit.forward(0, /*received_early=*/true, /*defer_send=*/true);
        emit.backward(1, /*zero_bubble=*/false);
      } else {
        emit.forward_backward(0, 1, /*received_early=*/i == 0);
      }
      emit.forward_backward(1, 0);
    }
    for (int i = 0; i < n - h - 1; ++i) {
      emit.backward(1, /*zero_bubble=*/false);
      emit.forward_backward(1, 0);
    }
    bool zero_bubble = false;
    for (int i = 0; i < h + 1; ++i) {
      // The second half of these backwards defer their W; an odd h switches before phase 1's backward.
      if (i == (h + 1) / 2 && h % 2 == 1) zero_bubble = true;
      emit.backward(1, zero_bubble);
      if (i == (h + 1) / 2 && h % 2 == 0) zero_bubble = true;
      emit.backward(0, zero_bubble);
    }
    for (int i = 0; i < n - h - 1; ++i) {
      emit.weight();
      emit.backward(0, /*zero_bubble=*/true);
    }
    for (int i = 0; i < h + 1; ++i) emit.weight();
    if (emit.weights_pending()) throw std::logic_error("dualpipe: weight chunks left over on a device");
  }
  return program;
}

}  // namespace fleetsim::schedule
