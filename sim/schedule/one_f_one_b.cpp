// 1F1B, the non-interleaved schedule of PipeDream-flush (Narayanan et al. 2021, "Memory-Efficient Pipeline-Parallel
// DNN Training") and Megatron-LM: device d runs pp-1-d warm-up forwards, then alternates one forward and one full
// backward, then drains the remaining backwards. Device d never holds more than pp-d micro-batches of activations.
// With zero communication its bubble is (pp-1)(F+B), B the full backward (DualPipe README; checked in tests).
#include "schedule/builders.hpp"

namespace fleetsim::schedule {

PipelineProgram build_1f1b(int pp_devices, int micro_batches) {
  return detail::one_forward_one_backward("1f1b", pp_devices, micro_batches,
                                          [](std::vector<Chunk>& chunks, int device, int micro_batch) {
                                            chunks.push_back({ChunkKind::backward, micro_batch, device});
                                          });
}

}  // namespace fleetsim::schedule
