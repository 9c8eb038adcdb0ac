// GEMM references against closed forms: identity, per-block scales, BF16 dot products, grouped layouts.
#include <cmath>

#include "common/harness.hpp"
#include "common/numeric.hpp"
#include "reference/ref_gemm.hpp"

using namespace fleetsim::kernels;

namespace {
constexpr std::uint8_t kOne = 0x38;  // 1.0 in E4M3
}

KTEST(gemm, identity_times_b_gives_b_transposed) {
  const int m = 128, n = 130, k = 128;
  std::vector<std::uint8_t> a(m * k, 0), b(n * k);
  for (int i = 0; i < m; ++i) a[i * k + i] = kOne;
  Rng rng(3);
  for (auto& v : b) v = float_to_e4m3(rng.uniform(-8.0f, 8.0f));
  const std::vector<float> sa(m, 1.0f), sb(2, 1.0f);  // ceil(130/128) = 2 row blocks of B, 1 K block
  const auto d = ref::fp8_gemm(a, sa, b, sb, m, n, k);
  int wrong = 0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) wrong += d[i * n + j] == e4m3_to_float(b[j * k + i]) ? 0 : 1;
  KCHECK(wrong == 0);
}

KTEST(gemm, scales_promote_per_128_block) {
  // A and B all ones, K = 256 (two K blocks): D = 128 * sa0 * sb0 + 128 * sa1 * sb1.
  const int m = 2, n = 3, k = 256;
  std::vector<std::uint8_t> a(m * k, kOne), b(n * k, kOne);
  const std::vector<float> sa = {1.0f, 2.0f, 0.5f, 0.25f};  // row 0: [1, 2]; row 1: [0.5, 0.25]
  const std::vector<float> sb = {3.0f, 5.0f};
  const auto d = ref::fp8_gemm(a, sa, b, sb, m, n, k);
  for (int j = 0; j < n; ++j) {
    KCHECK_NEAR(d[0 * n + j], 128 * 1.0 * 3 + 128 * 2.0 * 5, 0.0);
    KCHECK_NEAR(d[1 * n + j], 128 * 0.5 * 3 + 128 * 0.25 * 5, 0.0);
  }
  // Selected rows come back in the order asked.
  const auto r = ref::fp8_gemm(a, sa, b, sb, m, n, k, {1});
  KCHECK(r.size() == static_cast<std::size_t>(n));
  KCHECK_NEAR(r[0], d[n], 0.0);
}

KTEST(gemm, quantized_gemm_matches_float_gemm_of_dequantized_operands) {
  const int m = 5, n = 140, k = 384;
  Rng rng(5);
  const auto x = rng.normal_vector(m * k), w = rng.normal_vector(n * k, 0.05f);
  const Fp8Activation qa = quantize_activation_1x128(x, m, k);
  const Fp8Weight qb = quantize_weight_128x128(w, n, k);
  const auto d = ref::fp8_gemm(qa.data, qa.scales, qb.data, qb.scales, m, n, k);
  const auto xa = dequantize(qa), wb = dequantize(qb);
  std::vector<float> want(m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int t = 0; t < k; ++t) s += static_cast<double>(xa[i * k + t]) * wb[j * k + t];
      want[i * n + j] = static_cast<float>(s);
    }
  KCHECK(relative_error(d, want) < 1e-6);
  // And the quantized product is close to the exact float product (FP8 error, a few percent at most).
  std::vector<float> exact(m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int t = 0; t < k; ++t) s += static_cast<double>(x[i * k + t]) * w[j * k + t];
      exact[i * n + j] = static_cast<float>(s);
    }
  KCHECK(relative_error(d, exact) < 0.08);
}

KTEST(gemm, per_tensor_and_bf16_closed_forms) {
  const int m = 1, n = 2, k = 4;
  const std::vector<std::uint8_t> a = {kOne, kOne, kOne, kOne};
  const std::vector<std::uint8_t> b = {kOne, kOne, kOne, kOne, float_to_e4m3(2.0f), float_to_e4m3(2.0f), 0, 0};
  const auto d = ref::fp8_gemm_per_tensor(a, 0.5f, b, 3.0f, m, n, k);
  KCHECK_NEAR(d[0], 4 * 1.5, 0.0);
  KCHECK_NEAR(d[1], 4 * 1.5, 0.0);
  std::vector<std::uint16_t> ab, bb;
  for (float v : {1.0f, 2.0f, 3.0f}) ab.push_back(float_to_bf16(v));
  for (float v : {1.0f, 1.0f, 1.0f, 0.5f, -1.0f, 2.0f}) bb.push_back(float_to_bf16(v));
  const auto e = ref::bf16_gemm(ab, bb, 1, 2, 3);
  KCHECK_NEAR(e[0], 6.0, 0.0);
  KCHECK_NEAR(e[1], 0.5 - 2 + 6, 0.0);
}

KTEST(gemm, grouped_layouts_pick_their_expert_and_skip_padding) {
  const int n = 8, k = 128;
  // Expert g's weights are all (g + 1); activations all ones: every valid output is 128 * (g + 1).
  std::vector<std::uint8_t> b;
  for (int g = 0; g < 3; ++g) b.insert(b.end(), n * k, float_to_e4m3(static_cast<float>(g + 1)));
  const std::vector<float> sb(3, 1.0f);
  {
    const std::vector<int> m_indices = {2, 0, -1, 1};
    const std::vector<std::uint8_t> a(4 * k, kOne);
    const std::vector<float> sa(4, 1.0f);
    const auto d = ref::fp8_grouped_contiguous(a, sa, m_indices, b, sb, 4, n, k);
    KCHECK_NEAR(d[0 * n], 128 * 3, 0.0);
    KCHECK_NEAR(d[1 * n], 128 * 1, 0.0);
    KCHECK_NEAR(d[2 * n], 0.0, 0.0);  // padding row
    KCHECK_NEAR(d[3 * n + 7], 128 * 2, 0.0);
  }
  {
    const int m_max = 2;
    const std::vector<int> masked = {1, 2, 0};
    const std::vector<std::uint8_t> a(3 * m_max * k, kOne);
    const std::vector<float> sa(3 * m_max, 2.0f);
    const auto d = ref::fp8_grouped_masked(a, sa, masked, b, sb, 3, m_max, n, k);
    KCHECK_NEAR(d[0 * n], 2 * 128 * 1, 0.0);
    KCHECK_NEAR(d[1 * n], 0.0, 0.0);  // past masked_m[0]
    KCHECK_NEAR(d[2 * n], 2 * 128 * 2, 0.0);
    KCHECK_NEAR(d[3 * n], 2 * 128 * 2, 0.0);
    KCHECK_NEAR(d[4 * n], 0.0, 0.0);  // group 2 has no rows
  }
}
