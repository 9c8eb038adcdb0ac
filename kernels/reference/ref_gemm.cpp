#include "reference/ref_gemm.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <thread>

#include "common/numeric.hpp"

namespace fleetsim::kernels::ref {
namespace {

const std::array<float, 256>& e4m3_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[static_cast<std::size_t>(i)] = e4m3_to_float(static_cast<std::uint8_t>(i));
    return t;
  }();
  return table;
}

std::vector<int> all_rows(int m) {
  std::vector<int> rows(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) rows[static_cast<std::size_t>(i)] = i;
  return rows;
}

}  // namespace

void fp8_gemm_row(const std::uint8_t* a, const float* sa, const std::uint8_t* b, const float* sb, int n, int k,
                  float* d) {
  const auto& lut = e4m3_table();
  const int kblocks = k / kScaleBlock;
  std::vector<float> av(static_cast<std::size_t>(k)), bv(static_cast<std::size_t>(kScaleBlock));
  for (int i = 0; i < k; ++i) av[static_cast<std::size_t>(i)] = lut[a[i]];
  for (int col = 0; col < n; ++col) {
    const std::uint8_t* brow = b + static_cast<std::size_t>(col) * k;
    double total = 0.0;
    for (int kb = 0; kb < kblocks; ++kb) {
      // A product of two E4M3 values is exact in float; a 128-term sum in float errs by ~1e-5 relative at
      // worst, far inside every tolerance this reference is used with. The promotion is in double.
      const float* ablock = &av[static_cast<std::size_t>(kb) * kScaleBlock];
      const std::uint8_t* bblock = brow + static_cast<std::size_t>(kb) * kScaleBlock;
      for (int i = 0; i < kScaleBlock; ++i) bv[static_cast<std::size_t>(i)] = lut[bblock[i]];
      float block = 0.0f;
      for (int i = 0; i < kScaleBlock; ++i) block += ablock[i] * bv[static_cast<std::size_t>(i)];
      total += static_cast<double>(block) * static_cast<double>(sa[kb]) *
               static_cast<double>(sb[static_cast<std::size_t>(col / kScaleBlock) * kblocks + kb]);
    }
    d[col] = static_cast<float>(total);
  }
}

namespace {
// Runs body(i) for i in [0, count) on all hardware threads (rows of a reference GEMM are independent).
template <typename Body>
void parallel_for(std::size_t count, const Body& body) {
  const std::size_t threads = std::min<std::size_t>(std::max(1u, std::thread::hardware_concurrency()), count);
  if (threads <= 1) {
    for (std::size_t i = 0; i < count; ++i) body(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (std::size_t i = next++; i < count; i = next++) body(i);
    });
  for (auto& th : pool) th.join();
}

// Row r of A against the weights of group group_of(r) (none, and the output row stays 0, when it is negative),
// for the listed rows: what both grouped layouts compute.
template <class GroupOf>
std::vector<float> fp8_grouped(const std::vector<std::uint8_t>& a, const std::vector<float>& sa,
                               const std::vector<std::uint8_t>& b, const std::vector<float>& sb, int n, int k,
                               const std::vector<int>& which, GroupOf group_of) {
  const int kblocks = k / kScaleBlock;
  const std::size_t b_group = static_cast<std::size_t>(n) * k;
  const std::size_t sb_group = static_cast<std::size_t>((n + kScaleBlock - 1) / kScaleBlock) * kblocks;
  std::vector<float> d(which.size() * static_cast<std::size_t>(n), 0.0f);
  parallel_for(which.size(), [&](std::size_t i) {
    const auto r = static_cast<std::size_t>(which[i]);
    const int g = group_of(r);
    if (g < 0) return;
    fp8_gemm_row(&a[r * k], &sa[r * kblocks], &b[static_cast<std::size_t>(g) * b_group],
                 &sb[static_cast<std::size_t>(g) * sb_group], n, k, &d[i * n]);
  });
  return d;
}
}  // namespace

std::vector<float> fp8_gemm(const std::vector<std::uint8_t>& a, const std::vector<float>& sa,
                            const std::vector<std::uint8_t>& b, const std::vector<float>& sb, int m, int n, int k,
                            const std::vector<int>& rows) {
  const std::vector<int> which = rows.empty() ? all_rows(m) : rows;
  const int kblocks = k / kScaleBlock;
  std::vector<float> d(which.size() * static_cast<std::size_t>(n));
  parallel_for(which.size(), [&](std::size_t i) {
    const auto r = static_cast<std::size_t>(which[i]);
    fp8_gemm_row(&a[r * k], &sa[r * kblocks], b.data(), sb.data(), n, k, &d[i * n]);
  });
  return d;
}

std::vector<float> fp8_gemm_per_tensor(const std::vector<std::uint8_t>& a, float scale_a,
                                       const std::vector<std::uint8_t>& b, float scale_b, int m, int n, int k,
                                       const std::vector<int>& rows) {
  const auto& lut = e4m3_table();
  const std::vector<int> which = rows.empty() ? all_rows(m) : rows;
  std::vector<float> d(which.size() * static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < which.size(); ++i) {
    const std::uint8_t* arow = &a[static_cast<std::size_t>(which[i]) * k];
    for (int col = 0; col < n; ++col) {
      const std::uint8_t* brow = &b[static_cast<std::size_t>(col) * k];
      double sum = 0.0;
      for (int j = 0; j < k; ++j) sum += static_cast<double>(lut[arow[j]]) * lut[brow[j]];
      d[i * n + static_cast<std::size_t>(col)] = static_cast<float>(sum * scale_a * scale_b);
    }
  }
  return d;
}

std::vector<float> bf16_gemm(const std::vector<std::uint16_t>& a, const std::vector<std::uint16_t>& b, int m, int n,
                             int k, const std::vector<int>& rows) {
  const std::vector<int> which = rows.empty() ? all_rows(m) : rows;
  std::vector<float> bf(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) bf[i] = bf16_to_float(b[i]);
  std::vector<float> d(which.size() * static_cast<std::size_t>(n));
  std::vector<float> arow(static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < which.size(); ++i) {
    for (int j = 0; j < k; ++j) arow[static_cast<std::size_t>(j)] = bf16_to_float(a[static_cast<std::size_t>(which[i]) * k + j]);
    for (int col = 0; col < n; ++col) {
      const float* brow = &bf[static_cast<std::size_t>(col) * k];
      double sum = 0.0;
      for (int j = 0; j < k; ++j) sum += static_cast<double>(arow[static_cast<std::size_t>(j)]) * brow[j];
      d[i * n + static_cast<std::size_t>(col)] = static_cast<float>(sum);
    }
  }
  return d;
}

std::vector<float> fp8_grouped_contiguous(const std::vector<std::uint8_t>& a, const std::vector<float>& sa,
                                          const std::vector<int>& m_indices, const std::vector<std::uint8_t>& b,
                                          const std::vector<float>& sb, int m_total, int n, int k,
                                          const std::vector<int>& rows) {
  return fp8_grouped(a, sa, b, sb, n, k, rows.empty() ? all_rows(m_total) : rows,
                     [&](std::size_t r) { return m_indices[r]; });
}

std::vector<float> fp8_grouped_masked(const std::vector<std::uint8_t>& a, const std::vector<float>& sa,
                                      const std::vector<int>& masked_m, const std::vector<std::uint8_t>& b,
                                      const std::vector<float>& sb, int groups, int m_max, int n, int k,
                                      const std::vector<int>& rows) {
  const auto rows_per_group = static_cast<std::size_t>(m_max);
  return fp8_grouped(a, sa, b, sb, n, k, rows.empty() ? all_rows(groups * m_max) : rows, [&](std::size_t r) {
    const auto g = static_cast<int>(r / rows_per_group);
    return static_cast<int>(r % rows_per_group) < masked_m[static_cast<std::size_t>(g)] ? g : -1;
  });
}

}  // namespace fleetsim::kernels::ref
