#include "reference/ref_elementwise.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "common/numeric.hpp"

namespace fleetsim::kernels::ref {

void rmsnorm(const std::uint16_t* x, const std::uint16_t* w, int rows, int cols, float eps, float* y) {
  for (int r = 0; r < rows; ++r) {
    const std::uint16_t* row = x + static_cast<std::size_t>(r) * cols;
    double sum_sq = 0.0;
    for (int c = 0; c < cols; ++c) {
      const double v = bf16_to_float(row[c]);
      sum_sq += v * v;
    }
    const double inv = 1.0 / std::sqrt(sum_sq / cols + eps);
    for (int c = 0; c < cols; ++c)
      y[static_cast<std::size_t>(r) * cols + c] = static_cast<float>(bf16_to_float(row[c]) * inv * bf16_to_float(w[c]));
  }
}

void swiglu(const std::uint16_t* in, int rows, int cols, float* y) {
  for (int r = 0; r < rows; ++r) {
    const std::uint16_t* gate = in + static_cast<std::size_t>(r) * 2 * cols;
    const std::uint16_t* up = gate + cols;
    for (int c = 0; c < cols; ++c) {
      const double g = bf16_to_float(gate[c]);
      y[static_cast<std::size_t>(r) * cols + c] = static_cast<float>(g / (1.0 + std::exp(-g)) * bf16_to_float(up[c]));
    }
  }
}

void rope(const std::uint16_t* x, const int* positions, int tokens, int heads, int dim, float theta, float* y) {
  for (int t = 0; t < tokens; ++t)
    for (int h = 0; h < heads; ++h) {
      const std::size_t base = (static_cast<std::size_t>(t) * heads + h) * dim;
      for (int i = 0; i < dim / 2; ++i) {
        const double freq = std::pow(static_cast<double>(theta), -2.0 * i / dim);
        const double angle = positions[t] * freq;
        const double c = std::cos(angle), s = std::sin(angle);
        const double a = bf16_to_float(x[base + 2 * static_cast<std::size_t>(i)]);
        const double b = bf16_to_float(x[base + 2 * static_cast<std::size_t>(i) + 1]);
        y[base + 2 * static_cast<std::size_t>(i)] = static_cast<float>(a * c - b * s);
        y[base + 2 * static_cast<std::size_t>(i) + 1] = static_cast<float>(a * s + b * c);
      }
    }
}

void embedding(const int* ids, const std::uint16_t* table, int tokens, int hidden, float* out) {
  for (int t = 0; t < tokens; ++t)
    for (int h = 0; h < hidden; ++h)
      out[static_cast<std::size_t>(t) * hidden + h] = bf16_to_float(table[static_cast<std::size_t>(ids[t]) * hidden + h]);
}

void embedding_backward_dense(const int* ids, const std::uint16_t* grad_out, int tokens, int vocab, int hidden,
                              float* main_grad) {
  std::vector<double> table(static_cast<std::size_t>(vocab) * hidden, 0.0);
  for (int t = 0; t < tokens; ++t)
    for (int h = 0; h < hidden; ++h)
      table[static_cast<std::size_t>(ids[t]) * hidden + h] +=
          bf16_to_float(grad_out[static_cast<std::size_t>(t) * hidden + h]);
  for (std::size_t i = 0; i < table.size(); ++i)
    main_grad[i] += bf16_to_float(float_to_bf16(static_cast<float>(table[i])));
}

void cross_entropy(const std::uint16_t* logits, const int* labels, int rows, int vocab, float* loss, float* lse) {
  for (int r = 0; r < rows; ++r) {
    const std::uint16_t* row = logits + static_cast<std::size_t>(r) * vocab;
    double m = -INFINITY;
    for (int v = 0; v < vocab; ++v) m = std::max(m, static_cast<double>(bf16_to_float(row[v])));
    double sum = 0.0;
    for (int v = 0; v < vocab; ++v) sum += std::exp(bf16_to_float(row[v]) - m);
    const double log_sum_exp = m + std::log(sum);
    loss[r] = static_cast<float>(log_sum_exp - bf16_to_float(row[labels[r]]));
    if (lse != nullptr) lse[r] = static_cast<float>(log_sum_exp);
  }
}

void cross_entropy_backward(const std::uint16_t* logits, const int* labels, const float* lse, const float* grad_loss,
                            int rows, int vocab, float* grad) {
  for (int r = 0; r < rows; ++r) {
    const std::size_t offset = static_cast<std::size_t>(r) * vocab;
    for (int v = 0; v < vocab; ++v) {
      const double p = std::exp(static_cast<double>(bf16_to_float(logits[offset + v])) - lse[r]);
      grad[offset + v] = static_cast<float>((p - (v == labels[r] ? 1.0 : 0.0)) * grad_loss[r]);
    }
  }
}

}  // namespace fleetsim::kernels::ref
