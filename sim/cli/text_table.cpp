#include "cli/text_table.hpp"

#include <algorithm>

namespace fleetsim::cli {

std::string format_text_table(const std::vector<std::vector<std::string>>& rows,
                              const std::function<bool(std::size_t column)>& right_aligned) {
  if (rows.empty()) return "";
  const std::size_t columns = rows.front().size();
  std::vector<std::size_t> width(columns, 0);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size() && c < columns; ++c)
      if (row.size() == columns || c + 1 < row.size()) width[c] = std::max(width[c], row[c].size());
  std::string text;
  for (const auto& row : rows) {
    const bool whole = row.size() == columns;  // else the last cell runs on, left-aligned
    std::string line = " ";
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::size_t pad = c < columns && width[c] > row[c].size() ? width[c] - row[c].size() : 0;
      line += " ";
      if ((whole || c + 1 < row.size()) && right_aligned(c))
        line += std::string(pad, ' ') + row[c];
      else
        line += row[c] + std::string(pad, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    text += line + "\n";
  }
  return text;
}

}  // namespace fleetsim::cli
