#include "core/order_statistics.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace fleetsim {

double expected_max_standard_normal(std::int64_t n) {
  if (n < 1) throw std::invalid_argument("expected_max_standard_normal: needs n >= 1");
  if (n == 1) return 0;
  // E[max] = integral of x n phi(x) Phi(x)^(n-1) dx; the integrand is negligible outside [-10, 10]. Simpson's
  // rule on 8,000 intervals: the integrand is smooth, and the error is below 1e-9 for every n tested.
  constexpr int kIntervals = 8000;
  const double step = 20.0 / kIntervals;
  const auto integrand = [n](double x) {
    const double phi = std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi);
    const double cdf = 0.5 * std::erfc(-x / std::numbers::sqrt2);
    return x * static_cast<double>(n) * phi * std::pow(cdf, static_cast<double>(n - 1));
  };
  double sum = integrand(-10.0) + integrand(10.0);
  for (int i = 1; i < kIntervals; ++i) sum += (i % 2 == 1 ? 4.0 : 2.0) * integrand(-10.0 + step * i);
  return sum * step / 3.0;
}

}  // namespace fleetsim
