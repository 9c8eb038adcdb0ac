// The text tables `fleetsim sweep` and `fleetsim plan` print: one row per run, the figures in `fleetsim run`'s units
// (cells formatted with core/units: format_fixed, format_si).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace fleetsim::cli {

// rows[0] is the header. Every column is as wide as its widest cell, the cells right-aligned where
// `right_aligned(column)` (numbers) and left-aligned otherwise. In a row shorter than the header (an error message in
// place of the figures) the last cell is left-aligned and runs on past the columns it replaces without widening
// them. Two spaces before each line, one between columns, no trailing spaces.
std::string format_text_table(const std::vector<std::vector<std::string>>& rows,
                              const std::function<bool(std::size_t column)>& right_aligned);

}  // namespace fleetsim::cli
