// Static per-GPU speed variation (`engine.gpu_speed_spread`): GPUs of one SKU run the same kernels at different
// speeds, from manufacturing variation and power management, and the differences persist (Sinha et al., "Not All
// GPUs Are Created Equal", SC'22, arXiv 2208.11035: 8% average performance variation, up to 22%, between identical
// GPUs of large clusters, steady for each GPU across runs). A synchronous step waits for the slowest GPU of every
// group that moves in lock-step, so the more GPUs, the slower the step.
//
// Each GPU's compute takes 1 + spread x z of its nominal time, z a standard normal drawn per GPU from the
// scenario's seed (SplitMix64 and Box-Muller, the same numbers on every platform), clamped to |z| <= 5.
#pragma once

#include <cstdint>
#include <vector>

namespace fleetsim {

// The compute-time factor of each of `gpus` GPUs, GPU g being rank g of the cluster (pipeline device d of replica
// r: r x pp + d, as the engine numbers ranks).
std::vector<double> gpu_time_factors(std::uint64_t seed, std::int64_t gpus, double spread);

// The factor each simulated rank runs at.
// Symmetric mode (one pipeline of `pp` devices stands for `replicas` pipelines): device d runs at the slowest of
// the `replicas` GPUs at its position, since its EP group and, through the all-to-all, the other pipelines wait
// for that one (an upper bound where several EP groups share a position, or none: pipelines that meet only at the
// step's end are each as slow as their own slowest GPU).
// Full mode (every GPU simulated): each rank runs at the slowest of its tensor x context-parallel group, the
// `group` consecutive replicas whose collectives lock them together every layer; EP groups wait for each other at
// their all-to-all in the simulation itself.
std::vector<double> rank_time_factors(const std::vector<double>& gpu_factors, int pp, int replicas, int group,
                                      bool symmetric);

}  // namespace fleetsim
