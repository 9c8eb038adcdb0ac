#include "core/units.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <utility>

namespace fleetsim {
namespace {

struct UnitFactor {
  std::string_view suffix;
  double factor;  // multiply by this to get the base unit
};

// Suffixes are matched exactly (case-sensitive where SI needs it: "Mbps" vs "mbps" is accepted both ways below
// only for the unambiguous bit/byte rates).
constexpr std::array kCountUnits{UnitFactor{"", 1.0}, UnitFactor{"K", 1e3}, UnitFactor{"M", 1e6},
                                 UnitFactor{"G", 1e9}, UnitFactor{"T", 1e12},
                                 UnitFactor{"P", 1e15}};
constexpr std::array kTimeUnits{UnitFactor{"", 1.0},     UnitFactor{"s", 1.0},       UnitFactor{"ms", 1e-3},
                                UnitFactor{"us", 1e-6},  UnitFactor{"ns", 1e-9},     UnitFactor{"min", 60.0},
                                UnitFactor{"h", 3600.0}, UnitFactor{"d", 86400.0},   UnitFactor{"days", 86400.0}};
constexpr std::array kByteUnits{UnitFactor{"", 1.0},          UnitFactor{"B", 1.0},
                                UnitFactor{"KB", 1e3},        UnitFactor{"MB", 1e6},
                                UnitFactor{"GB", 1e9},        UnitFactor{"TB", 1e12},
                                UnitFactor{"KiB", 1024.0},    UnitFactor{"MiB", 1048576.0},
                                UnitFactor{"GiB", 1073741824.0}, UnitFactor{"TiB", 1099511627776.0}};
constexpr std::array kBandwidthUnits{UnitFactor{"", 1.0},           UnitFactor{"bps", 0.125},
                                     UnitFactor{"Kbps", 1e3 / 8},   UnitFactor{"Mbps", 1e6 / 8},
                                     UnitFactor{"Gbps", 1e9 / 8},   UnitFactor{"Tbps", 1e12 / 8},
                                     UnitFactor{"B/s", 1.0},        UnitFactor{"KB/s", 1e3},
                                     UnitFactor{"MB/s", 1e6},       UnitFactor{"GB/s", 1e9},
                                     UnitFactor{"TB/s", 1e12},      UnitFactor{"KiB/s", 1024.0},
                                     UnitFactor{"MiB/s", 1048576.0}, UnitFactor{"GiB/s", 1073741824.0}};
constexpr std::array kPowerUnits{UnitFactor{"", 1.0}, UnitFactor{"W", 1.0}, UnitFactor{"kW", 1e3},
                                 UnitFactor{"MW", 1e6}};
constexpr std::array kFlopUnits{UnitFactor{"", 1.0}, UnitFactor{"FLOP", 1.0}, UnitFactor{"GFLOP", 1e9},
                                UnitFactor{"TFLOP", 1e12}, UnitFactor{"PFLOP", 1e15}};
constexpr std::array kFlopRateUnits{UnitFactor{"", 1.0}, UnitFactor{"FLOPS", 1.0}, UnitFactor{"GFLOPS", 1e9},
                                    UnitFactor{"TFLOPS", 1e12}, UnitFactor{"PFLOPS", 1e15}};
constexpr std::array kEnergyUnits{UnitFactor{"", 1.0},      UnitFactor{"J", 1.0},       UnitFactor{"kJ", 1e3},
                                  UnitFactor{"MJ", 1e6},    UnitFactor{"Wh", 3600.0},   UnitFactor{"kWh", 3.6e6},
                                  UnitFactor{"MWh", 3.6e9}, UnitFactor{"GWh", 3.6e12}};
constexpr std::array kDollarUnits{UnitFactor{"", 1.0}, UnitFactor{"USD", 1.0}};

template <std::size_t N>
std::optional<double> factor_for(const std::array<UnitFactor, N>& units, std::string_view suffix) {
  for (const auto& unit : units)
    if (unit.suffix == suffix) return unit.factor;
  return std::nullopt;
}

std::optional<double> unit_factor(Dimension dimension, std::string_view suffix) {
  switch (dimension) {
    case Dimension::count: return factor_for(kCountUnits, suffix);
    case Dimension::time_s: return factor_for(kTimeUnits, suffix);
    case Dimension::bytes: return factor_for(kByteUnits, suffix);
    case Dimension::bandwidth_bytes_per_s: return factor_for(kBandwidthUnits, suffix);
    case Dimension::power_w: return factor_for(kPowerUnits, suffix);
    case Dimension::flop: return factor_for(kFlopUnits, suffix);
    case Dimension::flop_per_s: return factor_for(kFlopRateUnits, suffix);
    case Dimension::energy_j: return factor_for(kEnergyUnits, suffix);
    case Dimension::dollars: return factor_for(kDollarUnits, suffix);
  }
  return std::nullopt;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

}  // namespace

std::string describe_dimension(Dimension dimension) {
  switch (dimension) {
    case Dimension::count: return "a number such as 2048 or 14.8e12";
    case Dimension::time_s: return "a time such as 1.5us, 30min or 3600 (seconds)";
    case Dimension::bytes: return "a size such as 80GiB, 141GB or 1e9 (bytes)";
    case Dimension::bandwidth_bytes_per_s: return "a bandwidth such as 400Gbps, 50GB/s or 5e10 (bytes per second)";
    case Dimension::power_w: return "a power such as 700W or 10.2kW";
    case Dimension::flop: return "a FLOP count such as 250GFLOP";
    case Dimension::flop_per_s: return "a FLOP rate such as 989TFLOPS or 9.89e14";
    case Dimension::energy_j: return "an energy such as 2000MWh or 3.6e6 (joules)";
    case Dimension::dollars: return "an amount in US dollars such as 2.0 or \"$25000\"";
  }
  return "a number";
}

std::optional<double> parse_quantity(std::string_view text, Dimension dimension) {
  text = trim(text);
  if (dimension == Dimension::dollars && !text.empty() && text.front() == '$') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  // std::from_chars for double is in libstdc++ 11+; it never depends on the locale.
  double number = 0.0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (*begin == '+') ++begin;
  auto [rest, error] = std::from_chars(begin, end, number);
  if (error != std::errc() || !std::isfinite(number)) return std::nullopt;
  std::string_view suffix = trim(std::string_view(rest, static_cast<std::size_t>(end - rest)));
  auto factor = unit_factor(dimension, suffix);
  if (!factor) return std::nullopt;
  double value = number * *factor;
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

std::string format_seconds(double seconds) {
  char buffer[64];
  if (seconds >= 86400.0 * 2)
    std::snprintf(buffer, sizeof buffer, "%.1f days", seconds / 86400.0);
  else if (seconds >= 3600.0 * 2)
    std::snprintf(buffer, sizeof buffer, "%.2f h", seconds / 3600.0);
  else if (seconds >= 1.0)
    std::snprintf(buffer, sizeof buffer, "%.3f s", seconds);
  else if (seconds >= 1e-3)
    std::snprintf(buffer, sizeof buffer, "%.3f ms", seconds * 1e3);
  else
    std::snprintf(buffer, sizeof buffer, "%.3f us", seconds * 1e6);
  return buffer;
}

std::string format_bytes(double bytes) {
  constexpr std::array<std::pair<double, const char*>, 4> kSteps{
      {{1099511627776.0, "TiB"}, {1073741824.0, "GiB"}, {1048576.0, "MiB"}, {1024.0, "KiB"}}};
  char buffer[64];
  for (const auto& [size, name] : kSteps) {
    if (bytes >= size) {
      std::snprintf(buffer, sizeof buffer, "%.1f %s", bytes / size, name);
      return buffer;
    }
  }
  std::snprintf(buffer, sizeof buffer, "%.0f B", bytes);
  return buffer;
}

std::string format_si(double value, int significant_digits) {
  constexpr std::array<std::pair<double, const char*>, 4> kSteps{{{1e12, " T"}, {1e9, " G"}, {1e6, " M"}, {1e3, " K"}}};
  char buffer[64];
  for (const auto& [size, name] : kSteps) {
    if (std::fabs(value) >= size) {
      std::snprintf(buffer, sizeof buffer, "%.*g%s", significant_digits, value / size, name);
      return buffer;
    }
  }
  std::snprintf(buffer, sizeof buffer, "%.*g", significant_digits, value);
  return buffer;
}

std::string format_fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

}  // namespace fleetsim
