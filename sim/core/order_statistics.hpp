// Order statistics of independent normal draws: how far the slowest (most loaded) of n lock-stepped GPUs sits above
// the mean one, in standard deviations. Used by the per-GPU speed spread (sim/engine/gpu_variation) and by the
// routed-expert load of an EP group's busiest GPU (sim/cost/expert_load).
#pragma once

#include <cstdint>

namespace fleetsim {

// E[max of n independent standard normals] (0 for n = 1, 1/sqrt(pi) for n = 2, 1.16296 for n = 5, about 2.42 for
// n = 64). Numerical integration, accurate to 1e-9.
double expected_max_standard_normal(std::int64_t n);

}  // namespace fleetsim
