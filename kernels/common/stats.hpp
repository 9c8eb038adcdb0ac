// Small statistics helpers (plain C++17): the timing harness's median and percentiles.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace fleetsim::kernels {

// Linear-interpolated percentile (q in [0, 1]) of the values; NaN for an empty vector.
inline double percentile(std::vector<double> values, double q) {
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = static_cast<std::size_t>(std::ceil(pos));
  return values[lo] + (values[hi] - values[lo]) * (pos - static_cast<double>(lo));
}
inline double median(const std::vector<double>& values) { return percentile(values, 0.5); }

}  // namespace fleetsim::kernels
