#include "engine/gpu_variation.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "spec/jobs.hpp"

namespace fleetsim {
namespace {

// SplitMix64 (Steele, Lea and Flood, OOPSLA 2014): a fixed, portable sequence for a given seed.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1): the top 53 bits, shifted off zero.
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) / 9007199254740992.0; }

 private:
  std::uint64_t state_;
};

// |z| clamp: a GPU more than 5 spreads off its SKU's mean is a fault, not spread (one in 3.5 million GPUs would be).
// The largest spread the scenario accepts keeps 1 - spread x 5 above 0.
constexpr double kMaxSpreads = 1.0 / EngineSpec::kMaxGpuSpeedSpread;

}  // namespace

std::vector<double> gpu_time_factors(std::uint64_t seed, std::int64_t gpus, double spread) {
  if (gpus < 0 || spread < 0 || spread >= EngineSpec::kMaxGpuSpeedSpread)
    throw std::invalid_argument("gpu_time_factors: needs gpus >= 0 and 0 <= spread < EngineSpec::kMaxGpuSpeedSpread");
  std::vector<double> factors(static_cast<std::size_t>(gpus), 1.0);
  if (spread == 0) return factors;
  SplitMix64 random(seed);
  for (std::size_t g = 0; g < factors.size(); g += 2) {
    // Box-Muller: two independent standard normals from two uniforms.
    const double radius = std::sqrt(-2.0 * std::log(random.uniform()));
    const double angle = 2.0 * std::numbers::pi * random.uniform();
    const double z[2] = {radius * std::cos(angle), radius * std::sin(angle)};
    for (std::size_t i = 0; i < 2 && g + i < factors.size(); ++i)
      factors[g + i] = 1.0 + spread * std::clamp(z[i], -kMaxSpreads, kMaxSpreads);
  }
  return factors;
}

std::vector<double> rank_time_factors(const std::vector<double>& gpu_factors, int pp, int replicas, int group,
                                      bool symmetric) {
  if (pp <= 0 || replicas <= 0 || group <= 0 || replicas % group != 0 ||
      gpu_factors.size() % static_cast<std::size_t>(pp) != 0 ||
      static_cast<std::size_t>(replicas) * static_cast<std::size_t>(pp) > gpu_factors.size())
    throw std::invalid_argument("rank_time_factors: inconsistent pipeline, replica and group counts");
  const auto factor = [&](std::size_t replica, int device) {
    return gpu_factors[replica * static_cast<std::size_t>(pp) + static_cast<std::size_t>(device)];
  };
  const std::size_t all_replicas = gpu_factors.size() / static_cast<std::size_t>(pp);
  std::vector<double> ranks(static_cast<std::size_t>(replicas) * static_cast<std::size_t>(pp), 1.0);
  for (int device = 0; device < pp; ++device) {
    if (symmetric) {
      double slowest = 0;
      for (std::size_t r = 0; r < all_replicas; ++r) slowest = std::max(slowest, factor(r, device));
      for (int r = 0; r < replicas; ++r) ranks[static_cast<std::size_t>(r * pp + device)] = slowest;
      continue;
    }
    for (int first = 0; first < replicas; first += group) {
      double slowest = 0;
      for (int r = first; r < first + group; ++r)
        slowest = std::max(slowest, factor(static_cast<std::size_t>(r), device));
      for (int r = first; r < first + group; ++r) ranks[static_cast<std::size_t>(r * pp + device)] = slowest;
    }
  }
  return ranks;
}

}  // namespace fleetsim
