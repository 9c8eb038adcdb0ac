// Number formats: FP8 E4M3 and BF16 rounding of known values, block-scaling round trip, error measure, RNG.
#include <cmath>
#include <limits>

#include "common/harness.hpp"
#include "common/numeric.hpp"
#include "common/stats.hpp"

using namespace fleetsim::kernels;

KTEST(numeric, e4m3_known_encodings) {
  KCHECK(float_to_e4m3(0.0f) == 0x00);
  KCHECK(float_to_e4m3(-0.0f) == 0x80);
  KCHECK(float_to_e4m3(1.0f) == 0x38);        // exponent 7 (bias 7), mantissa 0
  KCHECK(float_to_e4m3(-1.0f) == 0xB8);
  KCHECK(float_to_e4m3(0.5f) == 0x30);
  KCHECK(float_to_e4m3(1.5f) == 0x3C);
  KCHECK(float_to_e4m3(448.0f) == 0x7E);      // largest finite
  KCHECK(float_to_e4m3(-448.0f) == 0xFE);
  KCHECK(float_to_e4m3(std::ldexp(1.0f, -6)) == 0x08);  // smallest normal
  KCHECK(float_to_e4m3(std::ldexp(1.0f, -9)) == 0x01);  // smallest subnormal
  KCHECK(float_to_e4m3(std::ldexp(7.0f, -9)) == 0x07);  // largest subnormal
  KCHECK(float_to_e4m3(std::numeric_limits<float>::quiet_NaN()) == 0x7F);
}

KTEST(numeric, e4m3_rounds_to_nearest_even_and_saturates) {
  KCHECK(float_to_e4m3(1.0625f) == 0x38);   // halfway 1.0 / 1.125 -> even (1.0)
  KCHECK(float_to_e4m3(1.1875f) == 0x3A);   // halfway 1.125 / 1.25 -> even (1.25)
  KCHECK(float_to_e4m3(1.07f) == 0x39);     // above halfway -> 1.125
  KCHECK(float_to_e4m3(15.5f) == 0x58);     // halfway 15 / 16 -> 16 (carries into the exponent)
  KCHECK(float_to_e4m3(500.0f) == 0x7E);    // saturates to 448
  KCHECK(float_to_e4m3(std::numeric_limits<float>::infinity()) == 0x7E);
  KCHECK(float_to_e4m3(std::ldexp(1.0f, -10)) == 0x00);  // half the smallest subnormal: ties to even (0)
  KCHECK(float_to_e4m3(std::ldexp(3.0f, -11)) == 0x01);  // 0.75 of it: rounds up
}

KTEST(numeric, e4m3_decode_round_trips_every_code) {
  int checked = 0;
  for (int code = 0; code < 256; ++code) {
    const auto bits = static_cast<std::uint8_t>(code);
    const float v = e4m3_to_float(bits);
    if ((code & 0x7F) == 0x7F) {
      KCHECK(std::isnan(v));
      continue;
    }
    if (code == 0x80) continue;  // -0 encodes back to 0x80 too, but compare by value
    KCHECK(float_to_e4m3(v) == bits);
    ++checked;
  }
  KCHECK(checked == 253);
  KCHECK_NEAR(e4m3_to_float(0x7E), 448.0, 0.0);
  KCHECK_NEAR(e4m3_to_float(0x01), std::ldexp(1.0, -9), 0.0);
}

namespace {
// An independent, slow E4M3 encoder (arithmetic on the value, not on float bits) as the oracle of the fast one.
std::uint8_t e4m3_oracle(float value) {
  if (std::isnan(value)) return 0x7F;
  const std::uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  double a = std::fabs(static_cast<double>(value));
  if (a >= 448.0) return static_cast<std::uint8_t>(sign | 0x7E);
  if (a == 0.0) return sign;
  const int e = std::max(static_cast<int>(std::floor(std::log2(a))), -6);
  const double quantum = std::ldexp(1.0, e - 3);
  a = std::nearbyint(a / quantum) * quantum;
  if (a >= 448.0) return static_cast<std::uint8_t>(sign | 0x7E);
  if (a == 0.0) return sign;
  if (a < std::ldexp(1.0, -6)) return static_cast<std::uint8_t>(sign | static_cast<std::uint8_t>(a / std::ldexp(1.0, -9)));
  const int exponent = static_cast<int>(std::floor(std::log2(a)));
  const int mantissa = static_cast<int>(std::lround((a / std::ldexp(1.0, exponent) - 1.0) * 8.0));
  return static_cast<std::uint8_t>(sign | ((exponent + 7) << 3) | mantissa);
}
}  // namespace

KTEST(numeric, e4m3_fast_encoder_matches_the_oracle) {
  Rng rng(13);
  int mismatches = 0;
  for (int i = 0; i < 200000; ++i) {
    // Magnitudes from 2^-12 to 2^10: subnormals, normals, the saturation edge.
    const float v = std::ldexp(rng.uniform(1.0f, 2.0f), static_cast<int>(rng.uniform() * 22) - 12) * (i % 2 ? 1.0f : -1.0f);
    mismatches += float_to_e4m3(v) == e4m3_oracle(v) ? 0 : 1;
  }
  for (int code = 0; code < 256; ++code) {  // every midpoint between neighbouring codes
    const float lo = e4m3_to_float(static_cast<std::uint8_t>(code)), hi = e4m3_to_float(static_cast<std::uint8_t>(code + 1));
    if (std::isnan(lo) || std::isnan(hi) || code == 0x7F) continue;
    const float mid = 0.5f * (lo + hi);
    mismatches += float_to_e4m3(mid) == e4m3_oracle(mid) ? 0 : 1;
  }
  KCHECK(mismatches == 0);
}

KTEST(numeric, bf16_rounding) {
  KCHECK(float_to_bf16(1.0f) == 0x3F80);
  KCHECK(float_to_bf16(-2.0f) == 0xC000);
  KCHECK_NEAR(bf16_to_float(float_to_bf16(3.140625f)), 3.140625, 0.0);  // exactly representable
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0); 1 + 3*2^-8 rounds up to 1 + 2^-6.
  KCHECK(float_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3F80);
  KCHECK(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3F82);
  KCHECK(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  KCHECK(std::isnan(bf16_to_float(0xFFFF)));  // the poison pattern is NaN
}

KTEST(numeric, activation_block_scaling_round_trip) {
  Rng rng(7);
  const int rows = 3, cols = 256;
  std::vector<float> x(rows * cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) x[r * cols + c] = rng.normal() * (r == 1 ? 1000.0f : 0.01f);
  const Fp8Activation q = quantize_activation_1x128(x, rows, cols);
  KCHECK(q.scales.size() == 6u);
  // Each tile's largest magnitude maps to 448 exactly: scale = amax / 448.
  for (int r = 0; r < rows; ++r)
    for (int kb = 0; kb < 2; ++kb) {
      float amax = 0;
      for (int i = 0; i < 128; ++i) amax = std::max(amax, std::fabs(x[r * cols + kb * 128 + i]));
      KCHECK_NEAR(q.scales[r * 2 + kb], amax / 448.0f, 1e-6 * amax);
    }
  // Round trip within E4M3's half-ulp (2^-4 relative) of each tile's range.
  const std::vector<float> back = dequantize(q);
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float scale = q.scales[(i / cols) * 2 + (i % cols) / 128];
    worst = std::max(worst, std::fabs(back[i] - x[i]) / (scale * 448.0));
  }
  KCHECK(worst <= 1.0 / 16 + 1e-6);
  KCHECK(relative_error(back, x) < 0.05);
}

KTEST(numeric, weight_block_scaling_round_trip) {
  Rng rng(11);
  const int rows = 200, cols = 256;  // 2 row blocks (the second partial) x 2 column blocks
  std::vector<float> w = rng.normal_vector(rows * cols, 0.02f);
  w[150 * cols + 3] = 5.0f;  // one outlier: only its block's scale grows
  const Fp8Weight q = quantize_weight_128x128(w, rows, cols);
  KCHECK(q.scales.size() == 4u);
  KCHECK_NEAR(q.scales[1 * 2 + 0], 5.0f / 448.0f, 1e-7);
  KCHECK(q.scales[0] < 0.2f / 448.0f);
  const std::vector<float> back = dequantize(q);
  KCHECK(relative_error(back, w) < 0.05);
  KCHECK_NEAR(back[150 * cols + 3], 5.0, 1e-6);
}

KTEST(numeric, relative_error_and_statistics) {
  KCHECK_NEAR(relative_error({1, 2, 2}, {1, 2, 2}), 0.0, 0.0);
  KCHECK(std::isinf(relative_error({3, 4}, {0, 0})));
  KCHECK_NEAR(relative_error({1, 0}, {1, 1}), std::sqrt(0.5), 1e-12);
  KCHECK(std::isinf(relative_error({NAN, 1}, {1, 1})));  // NaN never passes
  KCHECK(count_non_finite({1.0f, NAN, INFINITY, -2.0f}) == 2u);
  KCHECK_NEAR(median({5, 1, 3}), 3.0, 0.0);
  KCHECK_NEAR(median({4, 1, 3, 2}), 2.5, 0.0);
  KCHECK_NEAR(percentile({10, 20, 30, 40, 50}, 0.1), 14.0, 1e-12);
}

KTEST(numeric, rng_is_deterministic_and_sane) {
  Rng a(42), b(42), c(43);
  KCHECK(a.next_u64() == b.next_u64());
  KCHECK(a.next_u64() != c.next_u64());
  Rng r(1);
  const auto v = r.normal_vector(100000);
  double mean = 0, var = 0;
  for (float x : v) mean += x;
  mean /= v.size();
  for (float x : v) var += (x - mean) * (x - mean);
  var /= v.size();
  KCHECK_NEAR(mean, 0.0, 0.02);
  KCHECK_NEAR(var, 1.0, 0.02);
}
