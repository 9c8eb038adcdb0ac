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

KTEST(elementwise, cross_entropy_backward_closed_forms) {
  // A uniform row: softmax 1/V everywhere, so the gradient is g/V off the label and g(1/V - 1) on it.
  const int vocab = 1024;
  std::vector<std::uint16_t> logits(2 * vocab, float_to_bf16(0.75f));
  logits[vocab + 5] = float_to_bf16(2.0f);  // row 1: two classes differ, the rest share the remainder
  const int labels[] = {100, 5};
  float loss[2], lse[2];
  ref::cross_entropy(logits.data(), labels, 2, vocab, loss, lse);
  KCHECK_NEAR(lse[0], 0.75 + std::log(static_cast<double>(vocab)), 1e-5);
  const float grad_loss[] = {0.5f, 2.0f};
  std::vector<float> grad(2 * vocab);
  ref::cross_entropy_backward(logits.data(), labels, lse, grad_loss, 2, vocab, grad.data());
  KCHECK_NEAR(grad[0], 0.5 / vocab, 1e-9);
  KCHECK_NEAR(grad[100], 0.5 * (1.0 / vocab - 1.0), 1e-7);
  // Row 1: one logit e^2 against (V - 1) of e^0.75; its label is the big one.
  const double big = std::exp(2.0), rest = (vocab - 1) * std::exp(0.75);
  KCHECK_NEAR(grad[vocab + 5], 2.0 * (big / (big + rest) - 1.0), 1e-6);
  KCHECK_NEAR(grad[vocab + 6], 2.0 * std::exp(0.75) / (big + rest), 1e-8);
  // Every row's gradient sums to zero (softmax sums to one, minus the one-hot).
  for (int r = 0; r < 2; ++r) {
    double sum = 0;
    for (int v = 0; v < vocab; ++v) sum += grad[static_cast<std::size_t>(r) * vocab + v];
    KCHECK_NEAR(sum, 0.0, 1e-5);
  }
  // Two classes, label 0, logits (2, -1): d loss / d a = sigmoid(a - b) - 1, d loss / d b = sigmoid(b - a).
  std::vector<std::uint16_t> two = {float_to_bf16(2.0f), float_to_bf16(-1.0f)};
  const int label0[] = {0};
  const float one[] = {1.0f};
  float l2, lse2, g2[2];
  ref::cross_entropy(two.data(), label0, 1, 2, &l2, &lse2);
  ref::cross_entropy_backward(two.data(), label0, &lse2, one, 1, 2, g2);
  KCHECK_NEAR(g2[0], -1.0 / (1.0 + std::exp(3.0)), 1e-7);
  KCHECK_NEAR(g2[1], 1.0 / (1.0 + std::exp(3.0)), 1e-7);
}

KTEST(elementwise, embedding_backward_dense_sums_each_rows_tokens) {
  // Vocabulary 4, hidden 8: tokens 2, 0, 2 (row 2 twice, rows 1 and 3 untouched) with output-gradient rows of 1, 2
  // and 0.5; the FP32 gradient starts at 10 everywhere.
  const int vocab = 4, hidden = 8, ids[] = {2, 0, 2};
  std::vector<std::uint16_t> grad_out(3 * hidden);
  for (int h = 0; h < hidden; ++h) {
    grad_out[h] = float_to_bf16(1.0f);
    grad_out[hidden + h] = float_to_bf16(2.0f);
    grad_out[2 * hidden + h] = float_to_bf16(0.5f);
  }
  std::vector<float> main_grad(vocab * hidden, 10.0f);
  ref::embedding_backward_dense(ids, grad_out.data(), 3, vocab, hidden, main_grad.data());
  for (int h = 0; h < hidden; ++h) {
    KCHECK_NEAR(main_grad[0 * hidden + h], 12.0, 0.0);
    KCHECK_NEAR(main_grad[1 * hidden + h], 10.0, 0.0);
    KCHECK_NEAR(main_grad[2 * hidden + h], 11.5, 0.0);
    KCHECK_NEAR(main_grad[3 * hidden + h], 10.0, 0.0);
  }
  // The dense gradient is BF16: a row's sum is rounded to 8 bits of mantissa before the FP32 add (1 + 2^-9 -> 1).
  std::vector<std::uint16_t> both(2 * hidden);
  for (int h = 0; h < hidden; ++h) both[h] = float_to_bf16(1.0f), both[hidden + h] = float_to_bf16(1.0f / 512);
  const int twice[] = {1, 1};
  std::vector<float> zero(vocab * hidden, 0.0f);
  ref::embedding_backward_dense(twice, both.data(), 2, vocab, hidden, zero.data());
  KCHECK_NEAR(zero[hidden], 1.0, 0.0);
}
