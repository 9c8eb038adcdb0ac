// A small reader for the profile tables: comma-separated, a header row naming the columns, no quoting
// (profile values never contain commas). Lines starting with '#' and blank lines are skipped.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fleetsim {

class CsvTable {
 public:
  // Reads `path`; throws InputError (file, line) when the file is unreadable or a row has the wrong column count.
  static CsvTable read(const std::string& path);

  std::size_t rows() const { return cells_.size(); }
  bool has_column(const std::string& name) const { return columns_.count(name) != 0; }
  // The text of a cell ("" when empty). Throws InputError when the column is missing.
  const std::string& text(std::size_t row, const std::string& column) const;
  // The cell as a number; std::nullopt when empty. Throws InputError when it is not a number.
  std::optional<double> number(std::size_t row, const std::string& column) const;
  // As number(), but an empty cell is an error too.
  double required_number(std::size_t row, const std::string& column) const;
  int line_of(std::size_t row) const { return lines_[row]; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, std::size_t> columns_;
  std::vector<std::vector<std::string>> cells_;
  std::vector<int> lines_;
};

}  // namespace fleetsim
