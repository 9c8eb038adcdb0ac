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

#include <vector>

namespace fleetsim::schedule {

PipelineProgram build_zb1p(int pp_devices, int micro_batches) {
  detail::require_positive("zb1p", pp_devices, micro_batches);  // before sizing anything by pp_devices
  // Device d runs W of micro-batch j right after B of micro-batch j + d; the last d weight backwards drain at the end.
  std::vector<int> next_weight(static_cast<std::size_t>(pp_devices), 0);
  PipelineProgram program = detail::one_forward_one_backward(
      "zb1p", pp_devices, micro_batches, [&](std::vector<Chunk>& chunks, int device, int micro_batch) {
        chunks.push_back({ChunkKind::backward_input, micro_batch, device});
        if (micro_batch >= device)
          chunks.push_back({ChunkKind::backward_weight, next_weight[static_cast<std::size_t>(device)]++, device});
      });
  // The zero-bubble implementation issues its sends and runs W while they are in flight; "wait for every send at
  // the next chunk" (the 1F1B skeleton's rendezvous rule) would make each W wait for a receiver, which it does not.
  program.models_rendezvous = false;
  for (int d = 0; d < pp_devices; ++d) {
    auto& chunks = program.per_device[static_cast<std::size_t>(d)];
    for (int& w = next_weight[static_cast<std::size_t>(d)]; w < micro_batches; ++w)
      chunks.push_back({ChunkKind::backward_weight, w, d});
  }
  return program;
}

}  // namespace fleetsim::schedule
