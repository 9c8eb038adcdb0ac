#include "cost/expert_load.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/order_statistics.hpp"

namespace fleetsim {
namespace {

void check(const RoutingShape& s) {
  if (s.experts < 1 || s.top_k < 1 || s.groups < 1 || s.groups_per_token < 1 || s.gpus < 1 || !(s.tokens > 0) ||
      s.experts % s.groups != 0 || s.experts % s.gpus != 0 || s.groups_per_token > s.groups ||
      s.top_k > s.groups_per_token * (s.experts / s.groups))
    throw std::invalid_argument(
        "expert load: a routing shape that cannot route (experts divisible by groups and "
        "GPUs, groups_per_token <= groups, top_k within reach, tokens > 0)");
}

}  // namespace

CopiesPerToken copies_per_token(const RoutingShape& s, std::int64_t gpu) {
  check(s);
  if (gpu < 0 || gpu >= s.gpus) throw std::invalid_argument("expert load: no such GPU in the EP group");
  const double experts = static_cast<double>(s.experts), k = static_cast<double>(s.top_k);
  const double groups = static_cast<double>(s.groups), used = static_cast<double>(s.groups_per_token);
  const std::int64_t per_group = s.experts / s.groups, local = s.experts / s.gpus;
  // Each of the GPU's experts is picked with probability p = k / E (by symmetry). The count is a sum of indicator
  // variables, so its variance is L p (1 - p) plus, for each ordered pair of distinct local experts, P(both) - p^2.
  // Both are picked when their groups are among the token's groups and both are among its k of the
  // M = groups_per_token x E/G experts it chooses from: P = P(groups) x k (k - 1) / (M (M - 1)).
  const double p = k / experts;
  const double reachable = used * static_cast<double>(per_group);
  const double both_of_reachable = reachable > 1 ? k * (k - 1) / (reachable * (reachable - 1)) : 0.0;
  const double same_group = used / groups * both_of_reachable;
  const double other_groups = groups > 1 ? used * (used - 1) / (groups * (groups - 1)) * both_of_reachable : 0.0;
  // Ordered pairs of local experts in the same group: sum over the groups the GPU's range touches of c (c - 1).
  double same_pairs = 0;
  const std::int64_t first = gpu * local, last = first + local;  // [first, last)
  for (std::int64_t g = first / per_group; g * per_group < last; ++g) {
    const std::int64_t from = std::max(first, g * per_group), to = std::min(last, (g + 1) * per_group);
    const double c = static_cast<double>(to - from);
    same_pairs += c * (c - 1);
  }
  const double l = static_cast<double>(local);
  const double all_pairs = l * (l - 1);
  CopiesPerToken copies;
  copies.mean = l * p;
  copies.variance =
      l * p * (1 - p) + same_pairs * (same_group - p * p) + (all_pairs - same_pairs) * (other_groups - p * p);
  return copies;
}

double busiest_gpu_load_ratio(const RoutingShape& s) {
  check(s);
  if (s.gpus == 1) return 1.0;
  double variance = 0;
  for (std::int64_t gpu = 0; gpu < s.gpus; ++gpu) variance += copies_per_token(s, gpu).variance;
  variance /= static_cast<double>(s.gpus);
  const double mean = copies_per_token(s, 0).mean * s.tokens;
  const double sd = std::sqrt(std::max(0.0, variance) * s.tokens);
  // The GPUs' counts add up to tokens x top_k exactly, so they are not independent: exchangeable normal counts with
  // a fixed sum are sd x sqrt(n / (n - 1)) x (Z_i - mean of Z), and the busiest sits sqrt(n / (n - 1)) E[max of n]
  // standard deviations above the mean. (GPUs of one group also rise together under group-limited routing; for
  // DeepSeek-V3 at EP 64 that moves the busiest GPU's excess by 0.2%, and it is left out.)
  const double n = static_cast<double>(s.gpus);
  return 1.0 + std::sqrt(n / (n - 1)) * expected_max_standard_normal(s.gpus) * sd / mean;
}

}  // namespace fleetsim
