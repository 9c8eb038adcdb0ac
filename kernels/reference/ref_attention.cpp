#include "reference/ref_attention.hpp"

#include <algorithm>
#include <cmath>

#include "common/numeric.hpp"

namespace fleetsim::kernels::ref {

void attention_row(const std::uint16_t* q, int dqk, const std::uint16_t* keys, std::size_t key_stride,
                   const std::uint16_t* values, std::size_t value_stride, int dv, int n_keys, float scale, float* out) {
  std::vector<double> score(static_cast<std::size_t>(n_keys));
  std::vector<double> qf(static_cast<std::size_t>(dqk));
  for (int d = 0; d < dqk; ++d) qf[static_cast<std::size_t>(d)] = bf16_to_float(q[d]);
  double max_score = -INFINITY;
  for (int j = 0; j < n_keys; ++j) {
    const std::uint16_t* key = keys + static_cast<std::size_t>(j) * key_stride;
    double dot = 0.0;
    for (int d = 0; d < dqk; ++d) dot += qf[static_cast<std::size_t>(d)] * bf16_to_float(key[d]);
    score[static_cast<std::size_t>(j)] = dot * scale;
    max_score = std::max(max_score, score[static_cast<std::size_t>(j)]);
  }
  double denom = 0.0;
  for (auto& s : score) denom += (s = std::exp(s - max_score));
  std::vector<double> acc(static_cast<std::size_t>(dv), 0.0);
  for (int j = 0; j < n_keys; ++j) {
    const std::uint16_t* value = values + static_cast<std::size_t>(j) * value_stride;
    const double p = score[static_cast<std::size_t>(j)] / denom;
    for (int d = 0; d < dv; ++d) acc[static_cast<std::size_t>(d)] += p * bf16_to_float(value[d]);
  }
  for (int d = 0; d < dv; ++d) out[d] = static_cast<float>(acc[static_cast<std::size_t>(d)]);
}

std::vector<float> mla_prefill(const std::vector<std::uint16_t>& q, const std::vector<std::uint16_t>& k,
                               const std::vector<std::uint16_t>& v, int batch, int seq, int heads, int dqk, int dv,
                               float scale, bool causal, const std::vector<int>& query_rows) {
  std::vector<int> rows = query_rows;
  if (rows.empty()) {
    rows.resize(static_cast<std::size_t>(batch) * seq * heads);
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int>(i);
  }
  std::vector<float> out(rows.size() * static_cast<std::size_t>(dv));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const int h = rows[i] % heads;
    const int s = (rows[i] / heads) % seq;
    const int b = rows[i] / heads / seq;
    const std::size_t seq_base = static_cast<std::size_t>(b) * seq * heads;  // first (b, 0, 0) row
    attention_row(&q[static_cast<std::size_t>(rows[i]) * dqk], dqk, &k[(seq_base + h) * dqk],
                  static_cast<std::size_t>(heads) * dqk, &v[(seq_base + h) * dv], static_cast<std::size_t>(heads) * dv,
                  dv, causal ? s + 1 : seq, scale, &out[i * dv]);
  }
  return out;
}

std::vector<float> mla_decode_paged(const std::vector<std::uint16_t>& q, const std::vector<std::uint16_t>& cache,
                                    const std::vector<int>& block_table, int max_blocks, const std::vector<int>& seqlens,
                                    int batch, int heads, float scale) {
  std::vector<float> out(static_cast<std::size_t>(batch) * heads * kMlaLatent);
  std::vector<std::uint16_t> gathered;
  for (int b = 0; b < batch; ++b) {
    const int len = seqlens[static_cast<std::size_t>(b)];
    gathered.resize(static_cast<std::size_t>(len) * kMlaQkDim);
    for (int t = 0; t < len; ++t) {
      const int block = block_table[static_cast<std::size_t>(b) * max_blocks + t / kMlaBlockSize];
      const std::size_t src = (static_cast<std::size_t>(block) * kMlaBlockSize + t % kMlaBlockSize) * kMlaQkDim;
      std::copy(&cache[src], &cache[src] + kMlaQkDim, &gathered[static_cast<std::size_t>(t) * kMlaQkDim]);
    }
    for (int h = 0; h < heads; ++h) {
      const std::size_t row = static_cast<std::size_t>(b) * heads + h;
      attention_row(&q[row * kMlaQkDim], kMlaQkDim, gathered.data(), kMlaQkDim, gathered.data(), kMlaQkDim, kMlaLatent,
                    len, scale, &out[row * kMlaLatent]);
    }
  }
  return out;
}

std::vector<float> mla_decode_unpaged(const std::vector<std::uint16_t>& q, const std::vector<std::uint16_t>& kv,
                                      int max_len, const std::vector<int>& seqlens, int batch, int heads, float scale) {
  std::vector<float> out(static_cast<std::size_t>(batch) * heads * kMlaLatent);
  for (int b = 0; b < batch; ++b) {
    const std::uint16_t* base = &kv[static_cast<std::size_t>(b) * max_len * kMlaQkDim];
    for (int h = 0; h < heads; ++h) {
      const std::size_t row = static_cast<std::size_t>(b) * heads + h;
      attention_row(&q[row * kMlaQkDim], kMlaQkDim, base, kMlaQkDim, base, kMlaQkDim, kMlaLatent,
                    seqlens[static_cast<std::size_t>(b)], scale, &out[row * kMlaLatent]);
    }
  }
  return out;
}

}  // namespace fleetsim::kernels::ref
