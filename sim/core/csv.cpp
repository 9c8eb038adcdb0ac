#include "core/csv.hpp"

#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/units.hpp"

namespace fleetsim {
namespace {

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  std::istringstream stream(line);
  while (std::getline(stream, cell, ',')) {
    while (!cell.empty() && (cell.back() == '\r' || cell.back() == ' ')) cell.pop_back();
    while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
    cells.push_back(cell);
  }
  if (!line.empty() && line.back() == ',') cells.emplace_back();  // getline drops a trailing empty cell
  return cells;
}

}  // namespace

CsvTable CsvTable::read(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError({path, 0}, "", "cannot read the profile table");
  CsvTable table;
  table.path_ = path;
  std::string line;
  int line_number = 0;
  bool have_header = false;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty() || line == "\r" || line.front() == '#') continue;
    auto cells = split_commas(line);
    if (!have_header) {
      for (std::size_t i = 0; i < cells.size(); ++i) table.columns_[cells[i]] = i;
      have_header = true;
      continue;
    }
    if (cells.size() != table.columns_.size())
      throw InputError({path, line_number}, "",
                       "expected " + std::to_string(table.columns_.size()) + " columns as in the header, found " +
                           std::to_string(cells.size()));
    table.cells_.push_back(std::move(cells));
    table.lines_.push_back(line_number);
  }
  if (!have_header) throw InputError({path, 0}, "", "empty profile table: expected a header row");
  return table;
}

const std::string& CsvTable::text(std::size_t row, const std::string& column) const {
  auto found = columns_.find(column);
  if (found == columns_.end()) throw InputError({path_, 1}, column, "column missing from the header");
  return cells_.at(row)[found->second];
}

std::optional<double> CsvTable::number(std::size_t row, const std::string& column) const {
  const std::string& cell = text(row, column);
  if (cell.empty()) return std::nullopt;
  auto value = parse_quantity(cell, Dimension::count);
  if (!value) throw InputError({path_, lines_[row]}, column, "expected a number, found '" + cell + "'");
  return value;
}

double CsvTable::required_number(std::size_t row, const std::string& column) const {
  auto value = number(row, column);
  if (!value) throw InputError({path_, lines_[row]}, column, "expected a number, found an empty cell");
  return *value;
}

}  // namespace fleetsim
