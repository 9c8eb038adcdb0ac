#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "common/numeric.hpp"
#include "driver/driver.hpp"

namespace fleetsim::kernels {

int Context::rotations(std::size_t set_bytes) const {
  if (set_bytes == 0) return 1;
  const std::size_t n = (rotate_bytes + set_bytes - 1) / set_bytes;
  return static_cast<int>(std::min<std::size_t>(std::max<std::size_t>(n, 1), 256));
}

bool Context::report(const std::string& what, double rel_err, double tolerance, std::size_t unwritten) {
  const bool ok = std::isfinite(rel_err) && rel_err <= tolerance && unwritten == 0;
  std::printf("[%s] %s: rel_err %.3e (tolerance %.1e), unwritten %zu\n", ok ? "ok" : "FAIL", what.c_str(), rel_err,
              tolerance, unwritten);
  std::fflush(stdout);
  (ok ? passed : failed)++;
  return ok;
}

bool Context::report_bool(const std::string& what, bool ok, const std::string& detail) {
  std::printf("[%s] %s%s%s\n", ok ? "ok" : "FAIL", what.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  std::fflush(stdout);
  (ok ? passed : failed)++;
  return ok;
}

void Context::print_timing(const std::string& what, const Timing& t, const std::string& rate) const {
  std::printf("  %-58s %10.2f us  %s", what.c_str(), t.median_us, rate.c_str());
  if (t.power.average_w >= 0) std::printf("  %6.0f W  %.3g J/call", t.power.average_w, t.joules_per_call);
  std::printf("\n");
  std::fflush(stdout);
}

std::vector<std::uint16_t> random_bf16(std::size_t count, std::uint64_t seed, float stddev) {
  Rng rng(seed);
  std::vector<std::uint16_t> out(count);
  for (auto& v : out) {
    std::uint16_t bits;
    do bits = float_to_bf16(rng.normal() * stddev); while ((bits & 0x7FFF) == 0);  // never zeros
    v = bits;
  }
  return out;
}

std::vector<float> bf16_vector_to_float(const std::vector<std::uint16_t>& v) {
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = bf16_to_float(v[i]);
  return out;
}

std::vector<int> sample_rows(const std::vector<int>& valid, std::size_t count, std::uint64_t seed) {
  if (valid.size() <= count) return valid;
  std::set<int> picked{valid.front(), valid.back()};
  Rng rng(seed);
  while (picked.size() < count) picked.insert(valid[static_cast<std::size_t>(rng.uniform() * valid.size()) % valid.size()]);
  return {picked.begin(), picked.end()};
}

}  // namespace fleetsim::kernels
