// The busiest GPU's share of a balanced router's token copies (sim/cost/expert_load): the per-token moments against
// closed forms and against the routing itself, sampled; the busiest of n GPUs against a Monte Carlo of whole
// micro-batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "core/order_statistics.hpp"
#include "cost/expert_load.hpp"

namespace fleetsim {
namespace {

RoutingShape shape(std::int64_t experts, std::int64_t top_k, std::int64_t groups, std::int64_t used, std::int64_t gpus,
                   double tokens) {
  RoutingShape s;
  s.experts = experts;
  s.top_k = top_k;
  s.groups = groups;
  s.groups_per_token = used;
  s.gpus = gpus;
  s.tokens = tokens;
  return s;
}

// One token's experts as the model routes it: groups_per_token groups uniformly, then top_k experts uniformly
// among theirs, without repetition (partial Fisher-Yates on both). Adds each pick to its GPU's count.
void route_one_token(const RoutingShape& s, std::mt19937_64& random, std::vector<int>& group_order,
                     std::vector<std::int64_t>& candidates, std::vector<double>& copies_per_gpu) {
  const std::int64_t per_group = s.experts / s.groups, local = s.experts / s.gpus;
  std::iota(group_order.begin(), group_order.end(), 0);
  candidates.clear();
  for (std::int64_t i = 0; i < s.groups_per_token; ++i) {
    std::uniform_int_distribution<std::int64_t> pick(i, s.groups - 1);
    std::swap(group_order[static_cast<std::size_t>(i)], group_order[static_cast<std::size_t>(pick(random))]);
    for (std::int64_t e = 0; e < per_group; ++e) candidates.push_back(group_order[i] * per_group + e);
  }
  const auto reachable = static_cast<std::int64_t>(candidates.size());
  for (std::int64_t i = 0; i < s.top_k; ++i) {
    std::uniform_int_distribution<std::int64_t> pick(i, reachable - 1);
    std::swap(candidates[static_cast<std::size_t>(i)], candidates[static_cast<std::size_t>(pick(random))]);
    copies_per_gpu[static_cast<std::size_t>(candidates[static_cast<std::size_t>(i)] / local)] += 1;
  }
}

TEST(ExpertLoad, WithoutGroupsOneGpusCopiesAreHypergeometric) {
  // A token's top_k experts are a draw without replacement of k of E; a GPU holding L of them gets a
  // hypergeometric count: mean k L / E, variance k (L/E) (1 - L/E) (E - k) / (E - 1).
  for (const auto& [experts, k, gpus] : {std::tuple{8, 2, 8}, std::tuple{64, 6, 8}, std::tuple{256, 8, 64}}) {
    const RoutingShape s = shape(experts, k, 1, 1, gpus, 4096);
    const double e = experts, l = static_cast<double>(experts / gpus);
    const CopiesPerToken copies = copies_per_token(s, 0);
    EXPECT_NEAR(copies.mean, k * l / e, 1e-12);
    EXPECT_NEAR(copies.variance, k * (l / e) * (1 - l / e) * (e - k) / (e - 1), 1e-12) << experts;
  }
  // One GPU holding every expert gets exactly k copies of every token: no spread, no busiest GPU.
  EXPECT_NEAR(copies_per_token(shape(64, 6, 1, 1, 1, 4096), 0).variance, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(busiest_gpu_load_ratio(shape(64, 6, 1, 1, 1, 4096)), 1.0);
}

TEST(ExpertLoad, DeepSeekV3AtEp64ByHand) {
  // 256 experts, top-8 from 4 of 8 groups; EP 64: 4 experts per GPU, all in one group (node). p = 8/256; a token
  // reaches M = 128 experts; two experts of one group are both picked with P = 1/2 x 8 x 7 / (128 x 127).
  const RoutingShape s = shape(256, 8, 8, 4, 64, 64 * 4096.0);
  const double p = 8.0 / 256, both = 0.5 * 56.0 / (128.0 * 127.0);
  const double variance = 4 * p * (1 - p) + 12 * (both - p * p);  // 0.13004
  EXPECT_NEAR(copies_per_token(s, 0).mean, 0.125, 1e-12);
  EXPECT_NEAR(copies_per_token(s, 17).variance, variance, 1e-12);
  EXPECT_NEAR(variance, 0.13004, 1e-5);
  // A micro-batch of one 4,096-token sequence per GPU: 32,768 copies per GPU on average, sd 184.6 (0.56%); the
  // busiest of 64 is 2.34 sd above (x sqrt(64/63): the 64 counts add up to the tokens' copies): 1.33% more routed
  // work than the mean GPU.
  const double relative_sd = std::sqrt(variance * 64 * 4096.0) / (0.125 * 64 * 4096.0);
  EXPECT_NEAR(relative_sd, 0.005634, 1e-6);
  EXPECT_NEAR(busiest_gpu_load_ratio(s), 1 + std::sqrt(64.0 / 63) * expected_max_standard_normal(64) * relative_sd,
              1e-12);
  EXPECT_NEAR(busiest_gpu_load_ratio(s), 1.01331, 1e-5);
  // More tokens per micro-batch, less spread (1 / sqrt(tokens)).
  RoutingShape twice = s;
  twice.tokens *= 4;
  EXPECT_NEAR(busiest_gpu_load_ratio(twice) - 1, (busiest_gpu_load_ratio(s) - 1) / 2, 1e-12);
}

TEST(ExpertLoad, PerTokenMomentsMatchTheRoutingSampled) {
  // Group-limited shapes where a GPU's experts sit in one group, span two whole groups, and straddle group
  // boundaries (48 experts in groups of 12 on GPUs of 8): the exact moments against 400,000 routed tokens.
  std::mt19937_64 random(20261129);
  for (const RoutingShape& s : {shape(64, 8, 8, 4, 16, 1), shape(64, 8, 8, 4, 4, 1), shape(48, 6, 4, 2, 6, 1)}) {
    std::vector<int> order(static_cast<std::size_t>(s.groups));
    std::vector<std::int64_t> candidates;
    std::vector<double> sum(static_cast<std::size_t>(s.gpus)), sum_squares(sum.size()), copies(sum.size());
    constexpr int kTokens = 400000;
    for (int t = 0; t < kTokens; ++t) {
      std::fill(copies.begin(), copies.end(), 0.0);
      route_one_token(s, random, order, candidates, copies);
      for (std::size_t g = 0; g < copies.size(); ++g) {
        sum[g] += copies[g];
        sum_squares[g] += copies[g] * copies[g];
      }
    }
    for (std::int64_t g = 0; g < s.gpus; ++g) {
      const double mean = sum[g] / kTokens, variance = sum_squares[g] / kTokens - mean * mean;
      const CopiesPerToken exact = copies_per_token(s, g);
      EXPECT_NEAR(mean / exact.mean, 1.0, 0.01) << s.experts << " GPU " << g;
      EXPECT_NEAR(variance / exact.variance, 1.0, 0.02) << s.experts << " GPU " << g;
    }
  }
}

TEST(ExpertLoad, TheBusiestGpuOfWholeMicroBatchesMatchesTheNormalOrderStatistic) {
  // 2,000 micro-batches of 2,048 tokens on 16 GPUs (64 experts, top-8 from 4 of 8 groups; 1,024 copies per GPU
  // on average): the mean of the largest GPU count against the model, which treats the counts as normal with a
  // fixed sum and leaves out that GPUs of one group rise together.
  const RoutingShape s = shape(64, 8, 8, 4, 16, 2048);
  std::mt19937_64 random(7);
  std::vector<int> order(8);
  std::vector<std::int64_t> candidates;
  std::vector<double> copies(16);
  double busiest = 0;
  constexpr int kMicroBatches = 2000;
  for (int b = 0; b < kMicroBatches; ++b) {
    std::fill(copies.begin(), copies.end(), 0.0);
    for (int t = 0; t < 2048; ++t) route_one_token(s, random, order, candidates, copies);
    busiest += *std::max_element(copies.begin(), copies.end());
  }
  const double sampled_excess = busiest / kMicroBatches / 1024.0 - 1;
  const double model_excess = busiest_gpu_load_ratio(s) - 1;
  EXPECT_GT(model_excess, 0.05);                          // about 7%: small micro-batches leave a visible imbalance
  EXPECT_NEAR(sampled_excess / model_excess, 1.0, 0.03);  // sampled 0.0620, model 0.0619
}

TEST(ExpertLoad, ShapesThatCannotRouteAreRejected) {
  EXPECT_THROW(busiest_gpu_load_ratio(shape(64, 8, 8, 4, 6, 2048)), std::invalid_argument);   // 64 % 6
  EXPECT_THROW(busiest_gpu_load_ratio(shape(64, 8, 6, 4, 8, 2048)), std::invalid_argument);   // 64 % 6 groups
  EXPECT_THROW(busiest_gpu_load_ratio(shape(64, 20, 8, 2, 8, 2048)), std::invalid_argument);  // 16 reachable
  EXPECT_THROW(busiest_gpu_load_ratio(shape(64, 8, 8, 4, 8, 0)), std::invalid_argument);      // no tokens
  EXPECT_THROW(copies_per_token(shape(64, 8, 8, 4, 8, 2048), 8), std::invalid_argument);      // GPU 8 of 8
}

}  // namespace
}  // namespace fleetsim
