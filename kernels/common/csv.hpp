// A CSV table written row by row (flushed after each row, so a crash leaves the rows measured so far).
#pragma once

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fleetsim::kernels {

class CsvTable {
 public:
  CsvTable() = default;
  // Appends to `path` when it already starts with the same header (several runs filling one table), else
  // creates it with the header.
  CsvTable(const std::string& path, const std::string& header) {
    std::string first;
    {
      std::ifstream in(path);
      if (in) std::getline(in, first);
    }
    if (!first.empty() && first != header)
      throw std::runtime_error(path + " exists with another header: " + first);
    out_.open(path, std::ios::app);
    if (!out_) throw std::runtime_error("cannot write " + path);
    if (first.empty()) out_ << header << '\n';
    out_.flush();
  }
  bool open() const { return out_.is_open(); }
  // Cells are joined with commas; numbers via cell().
  void row(const std::vector<std::string>& cells) {
    if (!out_.is_open()) return;
    for (std::size_t i = 0; i < cells.size(); ++i) out_ << (i ? "," : "") << cells[i];
    out_ << '\n';
    out_.flush();
  }
  static std::string cell(double v, int digits = 4) {
    if (!std::isfinite(v) || v < 0) return "";  // unknown -> empty cell
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
  }
  static std::string cell(long long v) { return std::to_string(v); }

 private:
  std::ofstream out_;
};

}  // namespace fleetsim::kernels
