#include "cost/kernel_profile.hpp"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <set>
#include <tuple>

#include "core/csv.hpp"

namespace fleetsim {
namespace {

std::int64_t as_int(const CsvTable& table, std::size_t row, const std::string& column) {
  return static_cast<std::int64_t>(table.required_number(row, column));
}

// tflops / gbps columns are in units of 1e12 FLOP/s and 1e9 B/s; a throughput missing from a row is derived from
// its time when the row has one.
double rate(const CsvTable& table, std::size_t row, const std::string& column, double scale, double work) {
  if (auto value = table.number(row, column)) return *value * scale;
  if (auto time_us = table.number(row, "time_us"); time_us && *time_us > 0) return work / (*time_us * 1e-6);
  return 0.0;
}

}  // namespace

KernelProfile load_kernel_profile(const std::string& name, const std::string& directory) {
  namespace fs = std::filesystem;
  KernelProfile profile;
  profile.name = name;
  const fs::path dir(directory);

  if (fs::exists(dir / "gemm.csv")) {
    auto table = CsvTable::read((dir / "gemm.csv").string());
    for (std::size_t r = 0; r < table.rows(); ++r) {
      GemmRow row{table.text(r, "kernel"), table.text(r, "dtype"), as_int(table, r, "groups"),
                  as_int(table, r, "m"),   as_int(table, r, "n"),   as_int(table, r, "k"), 0.0};
      double flops = 2.0 * static_cast<double>(row.groups * row.m) * static_cast<double>(row.n) *
                     static_cast<double>(row.k);
      row.flop_per_s = rate(table, r, "tflops", 1e12, flops);
      profile.gemm.push_back(row);
    }
  }
  if (fs::exists(dir / "attention.csv")) {
    auto table = CsvTable::read((dir / "attention.csv").string());
    for (std::size_t r = 0; r < table.rows(); ++r) {
      AttentionRow row;
      row.kernel = table.text(r, "kernel");
      row.dtype = table.text(r, "dtype");
      row.batch = as_int(table, r, "batch");
      row.heads = as_int(table, r, "heads");
      row.q_len = as_int(table, r, "q_len");
      row.kv_len = as_int(table, r, "kv_len");
      row.qk_head_dim = as_int(table, r, "qk_head_dim");
      row.v_head_dim = as_int(table, r, "v_head_dim");
      row.causal = table.required_number(r, "causal") != 0.0;
      row.flop_per_s = rate(table, r, "tflops", 1e12, 0.0);
      row.bytes_per_s = rate(table, r, "gbps", 1e9, 0.0);
      profile.attention.push_back(row);
    }
  }
  if (fs::exists(dir / "elementwise.csv")) {
    auto table = CsvTable::read((dir / "elementwise.csv").string());
    for (std::size_t r = 0; r < table.rows(); ++r) {
      ElementwiseRow row{table.text(r, "kernel"), table.required_number(r, "bytes"), 0.0};
      row.bytes_per_s = rate(table, r, "gbps", 1e9, row.bytes);
      profile.elementwise.push_back(row);
    }
  }
  if (fs::exists(dir / "all_to_all.csv")) {
    auto table = CsvTable::read((dir / "all_to_all.csv").string());
    for (std::size_t r = 0; r < table.rows(); ++r) {
      AllToAllRow row{table.text(r, "kernel"), table.text(r, "mode"), as_int(table, r, "ep"),
                      as_int(table, r, "tokens"), 0.0, 0.0};
      row.bytes_per_s = table.number(r, "gbps").value_or(0.0) * 1e9;
      row.latency_s = table.number(r, "time_us").value_or(0.0) * 1e-6;
      profile.all_to_all.push_back(row);
    }
  }
  return profile;
}

namespace {

auto key_of(const GemmRow& r) { return std::tuple(r.kernel, r.dtype, r.groups, r.m, r.n, r.k); }
auto key_of(const AttentionRow& r) { return std::tuple(r.kernel, r.batch, r.heads, r.q_len, r.kv_len); }
auto key_of(const ElementwiseRow& r) { return std::tuple(r.kernel, r.bytes); }
auto key_of(const AllToAllRow& r) { return std::tuple(r.kernel, r.mode, r.ep, r.tokens); }

// Adds `layer`'s rows to `rows`, dropping the earlier rows that a layer row replaces (same key).
template <typename Row>
void overlay(std::vector<Row>& rows, std::vector<Row> layer) {
  std::set<decltype(key_of(layer.front()))> replaced;
  for (const Row& row : layer) replaced.insert(key_of(row));
  rows.erase(std::remove_if(rows.begin(), rows.end(), [&](const Row& row) { return replaced.count(key_of(row)) > 0; }),
             rows.end());
  rows.insert(rows.end(), std::make_move_iterator(layer.begin()), std::make_move_iterator(layer.end()));
}

}  // namespace

KernelProfile load_kernel_profile(const std::string& name, const std::vector<std::string>& directories) {
  KernelProfile profile;
  profile.name = name;
  for (const std::string& directory : directories) {
    KernelProfile layer = load_kernel_profile(name, directory);
    if (!layer.gemm.empty()) overlay(profile.gemm, std::move(layer.gemm));
    if (!layer.attention.empty()) overlay(profile.attention, std::move(layer.attention));
    if (!layer.elementwise.empty()) overlay(profile.elementwise, std::move(layer.elementwise));
    if (!layer.all_to_all.empty()) overlay(profile.all_to_all, std::move(layer.all_to_all));
  }
  return profile;
}

}  // namespace fleetsim
