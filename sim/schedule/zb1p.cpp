// ZB-H1, the handcrafted schedule of Qi et al. 2023, "Zero Bubble Pipeline Parallelism" (ICLR 2024), §3.1, Fig. 3.
//
// The backward is split into B (gradients w.r.t. the stage's input, on the critical path: the previous stage waits
// for it) and W (gradients w.r.t. the weights, needed only by the optimizer step). ZB-H1 keeps 1F1B's order of
// forwards and B's (pp-1-d warm-up forwards on device d, then one F and one B, then the drain) and delays each W:
// device d runs W of micro-batch j right after the B of micro-batch j+d, and its last d W's at the end. Delaying W on
// the later devices shortens the backward chain (a B travels to the previous stage without waiting for a W) and the
// W's fill what would be bubble at the end; the activations a device keeps (micro-batches forwarded whose W has not
// run) never exceed pp, the peak of 1F1B's first device.
//
// Bubble. The paper's is (pp-1)(T_F + T_B - T_W) with T_B the input backward, i.e. the README's (PP-1)(F+B-2W) with
// B the full backward. The timeline (tests) gives (pp-1)(F + B - min(W, F, B)), B the input backward, for every
// micro-batches >= pp: a delayed W can only fill a gap that is a forward or an input backward long, so the published
// formula is exact when W <= min(F, B) (the paper's figures draw F = B = W) and optimistic otherwise. With fewer
// micro-batches than pp the bubble is larger still (the pipeline never fills). Any pp >= 1 and micro-batches >= 1
// run; nothing in the order needs micro-batches >= pp.
#include "schedule/builders.hpp"

#include <algorithm>

namespace fleetsim::schedule {

PipelineProgram build_zb1p(int pp_devices, int micro_batches) {
  constexpr std::string_view kName = "zb1p";
  detail::require_positive(kName, pp_devices, micro_batches);
  PipelineProgram program = detail::empty_program(kName, pp_devices, pp_devices, micro_batches);
  for (int s = 0; s < pp_devices; ++s) program.device_of_stage[static_cast<std::size_t>(s)] = s;

  for (int d = 0; d < pp_devices; ++d) {
    auto& chunks = program.per_device[static_cast<std::size_t>(d)];
    const int warmup = std::min(pp_devices - 1 - d, micro_batches);
    int next_forward = 0;
    int next_weight = 0;
    auto backward_then_delayed_weight = [&](int micro_batch) {
      chunks.push_back({ChunkKind::backward_input, micro_batch, d});
      if (micro_batch >= d) chunks.push_back({ChunkKind::backward_weight, next_weight++, d});
    };
    for (; next_forward < warmup; ++next_forward) chunks.push_back({ChunkKind::forward, next_forward, d});
    int next_backward = 0;
    while (next_forward < micro_batches) {
      chunks.push_back({ChunkKind::forward, next_forward++, d});
      backward_then_delayed_weight(next_backward++);
    }
    while (next_backward < micro_batches) backward_then_delayed_weight(next_backward++);
    while (next_weight < micro_batches) chunks.push_back({ChunkKind::backward_weight, next_weight++, d});
  }
  return program;
}

}  // namespace fleetsim::schedule
