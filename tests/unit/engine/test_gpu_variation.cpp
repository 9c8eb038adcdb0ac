// engine.gpu_speed_spread: the per-GPU draws, the factor each simulated rank runs at, and the order statistic the
// docs quote.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include "core/order_statistics.hpp"
#include "engine/gpu_variation.hpp"

namespace fleetsim {
namespace {

TEST(GpuVariation, DrawsAreStandardNormalsScaledBySpreadAndTheSameForTheSameSeed) {
  const double spread = 0.02;
  const auto factors = gpu_time_factors(7, 200001, spread);  // odd: the last Box-Muller pair is cut in half
  ASSERT_EQ(factors.size(), 200001u);
  const double n = static_cast<double>(factors.size());
  const double mean = std::accumulate(factors.begin(), factors.end(), 0.0) / n;
  double square = 0;
  for (double f : factors) square += (f - mean) * (f - mean);
  const double sd = std::sqrt(square / (n - 1));
  EXPECT_NEAR(mean, 1.0, 4 * spread / std::sqrt(n));  // 4 standard errors
  EXPECT_NEAR(sd / spread, 1.0, 0.01);
  const auto [low, high] = std::minmax_element(factors.begin(), factors.end());
  EXPECT_GE(*low, 1 - 5 * spread);  // clamped at 5 spreads
  EXPECT_LE(*high, 1 + 5 * spread);
  // The slowest of 64, averaged over 3,125 groups, is the order statistic.
  double slowest = 0;
  const std::size_t groups = factors.size() / 64;
  for (std::size_t g = 0; g < groups; ++g)
    slowest += *std::max_element(factors.begin() + static_cast<std::ptrdiff_t>(g * 64),
                                 factors.begin() + static_cast<std::ptrdiff_t>((g + 1) * 64));
  EXPECT_NEAR((slowest / static_cast<double>(groups) - 1) / spread, expected_max_standard_normal(64), 0.03);

  EXPECT_EQ(gpu_time_factors(7, 1000, spread), gpu_time_factors(7, 1000, spread));
  EXPECT_NE(gpu_time_factors(7, 1000, spread), gpu_time_factors(8, 1000, spread));
  EXPECT_EQ(gpu_time_factors(7, 10, 0), std::vector<double>(10, 1.0));
  EXPECT_THROW(gpu_time_factors(7, 10, 0.2), std::invalid_argument);
  EXPECT_THROW(gpu_time_factors(7, 10, -0.01), std::invalid_argument);
}

TEST(GpuVariation, RanksRunAtTheSlowestGpuTheyMoveInLockStepWith) {
  // 3 devices x 4 replicas; GPU r x 3 + d.
  const std::vector<double> gpus{1.00, 1.01, 1.02,   // replica 0
                                 1.05, 0.99, 1.00,   // replica 1
                                 0.98, 1.00, 1.04,   // replica 2
                                 1.01, 1.03, 0.97};  // replica 3
  // Symmetric: one pipeline, each device at the slowest of its position.
  EXPECT_EQ(rank_time_factors(gpus, 3, 1, 1, true), (std::vector<double>{1.05, 1.03, 1.04}));
  // Full, groups of 2 replicas (TP 2): ranks r x 3 + d.
  EXPECT_EQ(rank_time_factors(gpus, 3, 4, 2, false),
            (std::vector<double>{1.05, 1.01, 1.02, 1.05, 1.01, 1.02, 1.01, 1.03, 1.04, 1.01, 1.03, 1.04}));
  // Full, no tensor parallelism: every GPU its own.
  EXPECT_EQ(rank_time_factors(gpus, 3, 4, 1, false), gpus);
  EXPECT_THROW(rank_time_factors(gpus, 3, 4, 3, false), std::invalid_argument);  // 4 replicas in groups of 3
  EXPECT_THROW(rank_time_factors(gpus, 5, 1, 1, true), std::invalid_argument);
}

}  // namespace
}  // namespace fleetsim
