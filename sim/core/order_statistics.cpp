#include "core/order_statistics.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace fleetsim {

double expected_max_standard_normal(std::int64_t n) {
  if (n < 1) throw std::invalid_argument("expected_max_standard_normal: needs n >= 1");
  if (n == 1) return 0;
  // E[max] = integral of x n phi(x) Phi(x)^(n-1) dx; the integrand is negligible outside [-10, 10].
  constexpr int kSteps = 200000;
  const double step = 20.0 / kSteps;
  double sum = 0;
  for (int i = 0; i <= kSteps; ++i) {
    const double x = -10.0 + step * i;
    const double phi = std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi);
    const double cdf = 0.5 * std::erfc(-x / std::numbers::sqrt2);
    sum += x * static_cast<double>(n) * phi * std::pow(cdf, static_cast<double>(n - 1));
  }
  return sum * step;
}

}  // namespace fleetsim
