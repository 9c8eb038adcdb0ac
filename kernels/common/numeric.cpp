#include "common/numeric.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace fleetsim::kernels {

std::uint16_t float_to_bf16(float value) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  if (std::isnan(value)) return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);  // keep it a quiet NaN
  const std::uint32_t lsb = (bits >> 16) & 1u;
  bits += 0x7FFFu + lsb;  // round to nearest, ties to even
  return static_cast<std::uint16_t>(bits >> 16);
}

float bf16_to_float(std::uint16_t bits) {
  const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
  float value = 0.0f;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

std::uint8_t float_to_e4m3(float value) {
  if (std::isnan(value)) return 0x7F;
  const std::uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  const float a = std::fabs(value);
  if (a >= kFp8E4M3Max) return static_cast<std::uint8_t>(sign | 0x7E);  // saturate (inf too)
  if (a < 0x1p-6f) {  // subnormal range: multiples of 2^-9 (exact scaling, round to nearest even)
    const auto steps = static_cast<int>(std::nearbyint(a * 512.0f));  // 0..8; 8 is the smallest normal, code 0x08
    return static_cast<std::uint8_t>(sign | steps);
  }
  // Normal range: keep 3 mantissa bits of the float, rounding to nearest even on its bits; a carry moves into the
  // exponent by itself.
  std::uint32_t bits = 0;
  std::memcpy(&bits, &a, sizeof bits);
  bits += 0x7FFFFu + ((bits >> 20) & 1u);
  bits &= 0xFFF00000u;
  float rounded = 0.0f;
  std::memcpy(&rounded, &bits, sizeof rounded);
  if (rounded > kFp8E4M3Max) return static_cast<std::uint8_t>(sign | 0x7E);
  const int exponent = static_cast<int>(bits >> 23) - 127;
  const int mantissa = static_cast<int>((bits >> 20) & 7u);
  return static_cast<std::uint8_t>(sign | ((exponent + 7) << 3) | mantissa);
}

float e4m3_to_float(std::uint8_t bits) {
  const int exponent = (bits >> 3) & 0xF;
  const int mantissa = bits & 0x7;
  if (exponent == 0xF && mantissa == 0x7) return std::numeric_limits<float>::quiet_NaN();
  double magnitude = exponent == 0 ? std::ldexp(static_cast<double>(mantissa), -9)
                                   : std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
  return static_cast<float>((bits & 0x80) ? -magnitude : magnitude);
}

namespace {
float tile_scale(float amax) { return std::max(amax, 1e-4f) / kFp8E4M3Max; }
}  // namespace

Fp8Activation quantize_activation_1x128(const std::vector<float>& x, int rows, int cols) {
  Fp8Activation out;
  out.rows = rows;
  out.cols = cols;
  const int kblocks = cols / kScaleBlock;
  out.data.resize(static_cast<std::size_t>(rows) * cols);
  out.scales.resize(static_cast<std::size_t>(rows) * kblocks);
  for (int r = 0; r < rows; ++r) {
    for (int kb = 0; kb < kblocks; ++kb) {
      const float* tile = &x[static_cast<std::size_t>(r) * cols + static_cast<std::size_t>(kb) * kScaleBlock];
      float amax = 0.0f;
      for (int i = 0; i < kScaleBlock; ++i) amax = std::max(amax, std::fabs(tile[i]));
      const float scale = tile_scale(amax);
      out.scales[static_cast<std::size_t>(r) * kblocks + kb] = scale;
      for (int i = 0; i < kScaleBlock; ++i) {
        out.data[static_cast<std::size_t>(r) * cols + static_cast<std::size_t>(kb) * kScaleBlock + i] =
            float_to_e4m3(tile[i] / scale);
      }
    }
  }
  return out;
}

Fp8Weight quantize_weight_128x128(const std::vector<float>& w, int rows, int cols) {
  Fp8Weight out;
  out.rows = rows;
  out.cols = cols;
  const int kblocks = cols / kScaleBlock;
  const int nblocks = (rows + kScaleBlock - 1) / kScaleBlock;
  out.data.resize(static_cast<std::size_t>(rows) * cols);
  out.scales.resize(static_cast<std::size_t>(nblocks) * kblocks);
  for (int nb = 0; nb < nblocks; ++nb) {
    const int r_end = std::min(rows, (nb + 1) * kScaleBlock);
    for (int kb = 0; kb < kblocks; ++kb) {
      float amax = 0.0f;
      for (int r = nb * kScaleBlock; r < r_end; ++r)
        for (int c = kb * kScaleBlock; c < (kb + 1) * kScaleBlock; ++c)
          amax = std::max(amax, std::fabs(w[static_cast<std::size_t>(r) * cols + c]));
      const float scale = tile_scale(amax);
      out.scales[static_cast<std::size_t>(nb) * kblocks + kb] = scale;
      for (int r = nb * kScaleBlock; r < r_end; ++r)
        for (int c = kb * kScaleBlock; c < (kb + 1) * kScaleBlock; ++c)
          out.data[static_cast<std::size_t>(r) * cols + c] = float_to_e4m3(w[static_cast<std::size_t>(r) * cols + c] / scale);
    }
  }
  return out;
}

std::vector<float> dequantize(const Fp8Activation& a) {
  std::vector<float> out(a.data.size());
  const int kblocks = a.cols / kScaleBlock;
  for (int r = 0; r < a.rows; ++r)
    for (int c = 0; c < a.cols; ++c) {
      const std::size_t i = static_cast<std::size_t>(r) * a.cols + c;
      out[i] = e4m3_to_float(a.data[i]) * a.scales[static_cast<std::size_t>(r) * kblocks + c / kScaleBlock];
    }
  return out;
}

std::vector<float> dequantize(const Fp8Weight& w) {
  std::vector<float> out(w.data.size());
  const int kblocks = w.cols / kScaleBlock;
  for (int r = 0; r < w.rows; ++r)
    for (int c = 0; c < w.cols; ++c) {
      const std::size_t i = static_cast<std::size_t>(r) * w.cols + c;
      out[i] = e4m3_to_float(w.data[i]) *
               w.scales[static_cast<std::size_t>(r / kScaleBlock) * kblocks + c / kScaleBlock];
    }
  return out;
}

double relative_error(const std::vector<float>& out, const std::vector<float>& ref) {
  if (out.size() != ref.size()) return std::numeric_limits<double>::infinity();
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(out[i])) return std::numeric_limits<double>::infinity();
    const double d = static_cast<double>(out[i]) - static_cast<double>(ref[i]);
    diff += d * d;
    norm += static_cast<double>(ref[i]) * static_cast<double>(ref[i]);
  }
  if (norm == 0.0) return diff == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(diff / norm);
}

std::size_t count_non_finite(const std::vector<float>& values) {
  return static_cast<std::size_t>(std::count_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); }));
}

std::uint64_t Rng::next_u64() {
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

float Rng::uniform(float lo, float hi) { return lo + (hi - lo) * static_cast<float>(uniform()); }

float Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double u1 = std::max(uniform(), 1e-300);
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = static_cast<float>(r * std::sin(6.283185307179586 * u2));
  has_spare_ = true;
  return static_cast<float>(r * std::cos(6.283185307179586 * u2));
}

std::vector<float> Rng::normal_vector(std::size_t count, float stddev) {
  std::vector<float> out(count);
  for (auto& v : out) v = normal() * stddev;
  return out;
}

}  // namespace fleetsim::kernels
