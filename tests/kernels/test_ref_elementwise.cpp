// Elementwise references against closed forms.
#include <cmath>

#include "common/harness.hpp"
#include "common/numeric.hpp"
#include "reference/ref_elementwise.hpp"

using namespace fleetsim::kernels;

KTEST(elementwise, rmsnorm_of_a_constant_vector) {
  const int cols = 7168;
  std::vector<std::uint16_t> x(2 * cols), w(cols, float_to_bf16(1.0f));
  for (int c = 0; c < cols; ++c) {
    x[c] = float_to_bf16(3.0f);
    x[cols + c] = float_to_bf16(-0.5f);
  }
  w[5] = float_to_bf16(2.0f);
  std::vector<float> y(2 * cols);
  ref::rmsnorm(x.data(), w.data(), 2, cols, 1e-6f, y.data());
  KCHECK_NEAR(y[0], 3.0 / std::sqrt(9.0 + 1e-6), 1e-6);
  KCHECK_NEAR(y[5], 2 * 3.0 / std::sqrt(9.0 + 1e-6), 1e-6);
  KCHECK_NEAR(y[cols + 1], -0.5 / std::sqrt(0.25 + 1e-6), 1e-6);
}

KTEST(elementwise, swiglu_closed_forms) {
  // Row: gate [0, 20, -20, 1], up [5, 2, 3, 4].
  std::vector<std::uint16_t> in;
  for (float v : {0.0f, 20.0f, -20.0f, 1.0f, 5.0f, 2.0f, 3.0f, 4.0f}) in.push_back(float_to_bf16(v));
  std::vector<float> y(4);
  ref::swiglu(in.data(), 1, 4, y.data());
  KCHECK_NEAR(y[0], 0.0, 0.0);
  KCHECK_NEAR(y[1], 2 * 20.0, 1e-6);
  KCHECK_NEAR(y[2], 0.0, 1e-6);
  KCHECK_NEAR(y[3], 4.0 / (1.0 + std::exp(-1.0)), 1e-6);
}

KTEST(elementwise, rope_rotates_pairs_by_position_times_frequency) {
  const int dim = 64;
  std::vector<std::uint16_t> x(2 * dim, float_to_bf16(0.0f));
  x[0] = float_to_bf16(1.0f);                   // token 0 pair 0 = (1, 0)
  x[dim + 2] = float_to_bf16(1.0f);             // token 1 pair 1 = (1, 0)
  x[dim + 3] = float_to_bf16(2.0f);             // ... = (1, 2)
  const int pos[] = {0, 7};
  std::vector<float> y(2 * dim);
  ref::rope(x.data(), pos, 2, 1, dim, 10000.0f, y.data());
  KCHECK_NEAR(y[0], 1.0, 0.0);  // position 0: identity
  KCHECK_NEAR(y[1], 0.0, 0.0);
  const double angle = 7 * std::pow(10000.0, -2.0 / 64);  // pair i = 1
  KCHECK_NEAR(y[dim + 2], std::cos(angle) - 2 * std::sin(angle), 1e-6);
  KCHECK_NEAR(y[dim + 3], std::sin(angle) + 2 * std::cos(angle), 1e-6);
  const double norm_in = 1 + 4, norm_out = y[dim + 2] * y[dim + 2] + y[dim + 3] * y[dim + 3];
  KCHECK_NEAR(norm_out, norm_in, 1e-5);  // a rotation keeps the norm
}

KTEST(elementwise, embedding_copies_rows) {
  const int hidden = 8;
  std::vector<std::uint16_t> table(3 * hidden);
  for (int i = 0; i < 3 * hidden; ++i) table[i] = float_to_bf16(static_cast<float>(i));
  const int ids[] = {2, 0, 2};
  std::vector<float> out(3 * hidden);
  ref::embedding(ids, table.data(), 3, hidden, out.data());
  KCHECK_NEAR(out[0], 16.0, 0.0);
  KCHECK_NEAR(out[hidden + 7], 7.0, 0.0);
  KCHECK_NEAR(out[2 * hidden + 3], 19.0, 0.0);
}

KTEST(elementwise, cross_entropy_closed_forms) {
  const int vocab = 129280;
  std::vector<std::uint16_t> logits(2 * vocab, float_to_bf16(1.5f));  // row 0 uniform
  logits[vocab + 7] = float_to_bf16(40.0f);                           // row 1: one dominant logit
  const int labels[] = {123, 7};
  float loss[2];
  ref::cross_entropy(logits.data(), labels, 2, vocab, loss);
  KCHECK_NEAR(loss[0], std::log(static_cast<double>(vocab)), 1e-5);
  KCHECK_NEAR(loss[1], std::log1p((vocab - 1) * std::exp(1.5 - 40.0)), 1e-6);
  // Two classes: log(1 + e^(b - a)).
  std::vector<std::uint16_t> two = {float_to_bf16(2.0f), float_to_bf16(-1.0f)};
  const int label0[] = {0};
  float l2;
  ref::cross_entropy(two.data(), label0, 1, 2, &l2);
  KCHECK_NEAR(l2, std::log1p(std::exp(-3.0)), 1e-6);
}
