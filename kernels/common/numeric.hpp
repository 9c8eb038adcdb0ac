// Number formats on the host: BF16 and FP8 E4M3 stored as raw bits, and DeepSeek-V3's fine-grained FP8 scaling.
// Plain C++17 (no CUDA): the CPU references and their tests build on machines without a GPU or nvcc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fleetsim::kernels {

// BF16: the high 16 bits of an IEEE float, rounded to nearest even (NaN stays a quiet NaN).
std::uint16_t float_to_bf16(float value);
float bf16_to_float(std::uint16_t bits);

// FP8 E4M3 (OCP "e4m3fn", what __nv_fp8_e4m3 stores): 1 sign, 4 exponent (bias 7), 3 mantissa bits; no
// infinities; 0x7F / 0xFF are NaN; largest finite magnitude 448; smallest subnormal 2^-9.
// Encoding rounds to nearest even and saturates finite overflow to +-448 (the __NV_SATFINITE behaviour).
inline constexpr float kFp8E4M3Max = 448.0f;
std::uint8_t float_to_e4m3(float value);
float e4m3_to_float(std::uint8_t bits);

// DeepSeek-V3 fine-grained scaling (V3 report section 3.3; DeepGEMM's per_token_cast_to_fp8 and
// per_block_cast_to_fp8): an activation row is scaled per 1x128 tile, a weight per 128x128 block, each with
// scale = max(amax, 1e-4) / 448 so that the tile's largest magnitude maps to 448.
inline constexpr int kScaleBlock = 128;

struct Fp8Activation {  // rows x cols, cols a multiple of 128
  int rows = 0, cols = 0;
  std::vector<std::uint8_t> data;  // rows * cols, row-major
  std::vector<float> scales;       // rows * (cols / 128), row-major: scales[row * (cols/128) + kb]
};
struct Fp8Weight {  // rows (N) x cols (K), K a multiple of 128; N rounded up to whole 128-row blocks for scales
  int rows = 0, cols = 0;
  std::vector<std::uint8_t> data;  // rows * cols, row-major (K contiguous: the "NT" layout of DeepGEMM)
  std::vector<float> scales;       // ceil(rows/128) * (cols/128): scales[nb * (cols/128) + kb]
};

Fp8Activation quantize_activation_1x128(const std::vector<float>& x, int rows, int cols);
Fp8Weight quantize_weight_128x128(const std::vector<float>& w, int rows, int cols);
std::vector<float> dequantize(const Fp8Activation& a);
std::vector<float> dequantize(const Fp8Weight& w);

// Accuracy measures used by every check: ||out - ref||_2 / ||ref||_2 over all elements (NaN gives +inf).
double relative_error(const std::vector<float>& out, const std::vector<float>& ref);
std::size_t count_non_finite(const std::vector<float>& values);

// Deterministic pseudo-random numbers (splitmix64): the same seed gives the same inputs on every machine.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next_u64();
  double uniform();                         // [0, 1)
  float uniform(float lo, float hi);        // [lo, hi)
  float normal();                           // standard normal (Box-Muller)
  std::vector<float> normal_vector(std::size_t count, float stddev = 1.0f);
 private:
  std::uint64_t state_;
  float spare_ = 0.0f;      // Box-Muller makes two normals at a time
  bool has_spare_ = false;
};

}  // namespace fleetsim::kernels
