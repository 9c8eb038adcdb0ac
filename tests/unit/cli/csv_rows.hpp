// Reading the CSV that `fleetsim sweep` and `fleetsim plan` write, in the CLI tests.
#pragma once

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace fleetsim::testing {

// Rows of cells; commas inside quotes stay in the cell (RFC 4180, without doubled quotes, which the tests' values
// do not hold); an empty last cell is kept.
inline std::vector<std::vector<std::string>> csv_rows(const std::string& csv) {
  std::vector<std::vector<std::string>> rows;
  std::stringstream lines(csv);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> cells(1);
    bool quoted = false;
    for (char c : line) {
      if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        cells.emplace_back();
      } else {
        cells.back() += c;
      }
    }
    rows.push_back(cells);
  }
  return rows;
}

// The index of the header cell `name` (a test failure when there is none).
inline std::size_t column(const std::vector<std::string>& header, const std::string& name) {
  for (std::size_t c = 0; c < header.size(); ++c)
    if (header[c] == name) return c;
  ADD_FAILURE() << "no column " << name;
  return 0;
}

}  // namespace fleetsim::testing
