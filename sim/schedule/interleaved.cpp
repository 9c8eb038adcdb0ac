// Interleaved 1F1B (Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters Using
// Megatron-LM", §2.2.2), with v model chunks per device (2 unless the job sets training.virtual_stages): v*pp stages,
// stage s on device s mod pp, so device d holds stages d, d+pp, ... Each stage is 1/v as long, so with F and B
// the times of one such chunk the bubble is (pp-1)(F+B), i.e. the 1F1B bubble of a whole device's layers divided
// by v.
//
// The order is Megatron-LM's (forward_backward_pipelining_with_interleaving): micro-batches go through in groups of
// pp; a device's k-th forward is micro-batch (k / (pp v)) pp + k mod pp on its chunk (k / pp) mod v, and its k-th
// backward the same micro-batch on chunk v-1 - (k / pp) mod v. Device d runs (pp-1-d)*2 + (v-1)*pp warm-up forwards
// (capped at micro_batches*v), then alternates forward k+warmup and backward k, then drains. Megatron-LM requires
// micro-batches to be a multiple of pp for this order (its group-of-pp indexing); so does this builder.
// Like Megatron-LM, when micro-batches == pp every forward runs before any backward (all warm-up); with the chunk
// durations of the tests that order and the general one have the same makespan.
#include "schedule/builders.hpp"

#include <algorithm>
#include <string>

namespace fleetsim::schedule {

PipelineProgram build_interleaved(int pp_devices, int micro_batches, int virtual_stages) {
  constexpr std::string_view kName = "interleaved";
  detail::require_positive(kName, pp_devices, micro_batches);
  detail::require(virtual_stages >= 2, kName,
                  "needs at least 2 virtual stages per device; got " + std::to_string(virtual_stages));
  detail::require(micro_batches % pp_devices == 0, kName,
                  "micro-batches must be a multiple of pp (Megatron-LM's interleaved order runs them in groups of "
                  "pp); got " + std::to_string(micro_batches) + " micro-batches with pp = " +
                      std::to_string(pp_devices));
  const int stages = virtual_stages * pp_devices;
  PipelineProgram program = detail::empty_program(kName, pp_devices, stages, micro_batches);
  for (int s = 0; s < stages; ++s) program.device_of_stage[static_cast<std::size_t>(s)] = s % pp_devices;

  const int total = micro_batches * virtual_stages;  // forwards (and backwards) per device
  const int group = pp_devices * virtual_stages;
  auto micro_batch_of = [&](int k) { return (k / group) * pp_devices + k % pp_devices; };
  for (int d = 0; d < pp_devices; ++d) {
    auto& chunks = program.per_device[static_cast<std::size_t>(d)];
    auto forward = [&](int k) {
      const int model_chunk = (k % group) / pp_devices;
      chunks.push_back({ChunkKind::forward, micro_batch_of(k), model_chunk * pp_devices + d});
    };
    auto backward = [&](int k) {
      const int model_chunk = virtual_stages - 1 - (k % group) / pp_devices;
      chunks.push_back({ChunkKind::backward, micro_batch_of(k), model_chunk * pp_devices + d});
    };
    const int warmup = micro_batches == pp_devices
                           ? total
                           : std::min((pp_devices - 1 - d) * 2 + (virtual_stages - 1) * pp_devices, total);
    for (int k = 0; k < warmup; ++k) forward(k);
    for (int k = 0; k + warmup < total; ++k) {
      forward(k + warmup);
      backward(k);
    }
    for (int k = total - warmup; k < total; ++k) backward(k);
  }
  return program;
}

}  // namespace fleetsim::schedule
