// DualPipeV, DualPipe "cut in half" (Sea AI Lab, https://hackmd.io/@ufotalent/r1lVXsa9Jg; reference implementation
// github.com/deepseek-ai/DualPipe dualpipe/dualpipev.py). The order below is re-derived from the reference
// implementation's eight steps; it is not a copy of it.
//
// pp devices and 2*pp stages in a V: device i computes stage i ("phase 0", on the way down) and stage 2pp-1-i
// ("phase 1", on the way back), so every micro-batch enters and leaves at device 0 and turns around on device pp-1
// without a transfer. All micro-batches go one way. With i the device:
//   1. 2(pp-i-1) forwards of phase 0
//   2. i+1 times: forward phase 0, forward phase 1
//   3. pp-i-1 times: B phase 1 (inputs only), W, forward phase 1
//   4. M-2pp+i+1 times: F&B (forward phase 0 with backward phase 1), F&B (forward phase 1 with backward phase 0);
//      on the last device the very first pair runs as a plain forward then a plain backward
//   5. pp-i-1 times: backward phase 1, F&B (forward phase 1 with backward phase 0)
//   6. i+1 times: backward phase 1, backward phase 0, split (W deferred) from the middle of this step on
//   7. pp-i-1 times: W, backward phase 0 (inputs only)
//   8. i+1 times: W
// It is DualPipe's order for 2pp stages with the two mirrored halves of the devices merged, which is why the
// DualPipe README gives it the same bubble, (PP/2-1)(F&B+B-3W) with PP = 2pp stages, on half the devices.
// Constraint (asserted by the reference step()): micro-batches >= 2*pp.
#include "schedule/builders.hpp"

#include <stdexcept>
#include <string>

#include "schedule/dualpipe_emitter.hpp"

namespace fleetsim::schedule {

PipelineProgram build_dualpipev(int pp_devices, int micro_batches) {
  constexpr std::string_view kName = "dualpipev";
  detail::require_positive(kName, pp_devices, micro_batches);
  detail::require(micro_batches >= 2 * pp_devices, kName,
                  "micro-batches must be at least 2*pp = " + std::to_string(2 * pp_devices) + "; got " +
                      std::to_string(micro_batches));

  const int stages = 2 * pp_devices;
  PipelineProgram program = detail::empty_program(kName, pp_devices, stages, micro_batches);
  for (int s = 0; s < pp_devices; ++s) {
    program.device_of_stage[static_cast<std::size_t>(s)] = s;
    program.device_of_stage[static_cast<std::size_t>(stages - 1 - s)] = s;
  }

  const int pp = pp_devices;
  for (int i = 0; i < pp; ++i) {
    const bool last = i == pp - 1;
    detail::PhaseEmitter emit(program.per_device[static_cast<std::size_t>(i)], {i, stages - 1 - i}, {0, 0});
    for (int k = 0; k < 2 * (pp - i - 1); ++k) emit.forward(0);
    for (int k = 0; k < i + 1; ++k) {
      emit.forward(0);
      emit.forward(1);
    }
    for (int k = 0; k < pp - i - 1; ++k) {
      emit.backward(1, /*zero_bubble=*/true);
      emit.weight();
      emit.forward(1);
    }
    for (int k = 0; k < micro_batches - 2 * pp + i + 1; ++k) {
      if (k == 0 && last) {
        emit.forward(0);
        emit.backward(1, /*zero_bubble=*/false);
      } else {
        emit.forward_backward(0, 1);
      }
      emit.forward_backward(1, 0);
    }
    for (int k = 0; k < pp - i - 1; ++k) {
      emit.backward(1, /*zero_bubble=*/false);
      emit.forward_backward(1, 0);
    }
    bool zero_bubble = false;
    for (int k = 0; k < i + 1; ++k) {
      if (k == (i + 1) / 2 && i % 2 == 1) zero_bubble = true;
      emit.backward(1, zero_bubble);
      if (k == (i + 1) / 2 && i % 2 == 0) zero_bubble = true;
      emit.backward(0, zero_bubble);
    }
    for (int k = 0; k < pp - i - 1; ++k) {
      emit.weight();
      emit.backward(0, /*zero_bubble=*/true);
    }
    for (int k = 0; k < i + 1; ++k) emit.weight();
    if (emit.weights_pending()) throw std::logic_error("dualpipev: weight chunks left over on a device");
  }
  return program;
}

}  // namespace fleetsim::schedule
