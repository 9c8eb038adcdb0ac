// Quantities with units, as users write them in scenarios: "400Gbps", "50GB/s", "1.5us", "700W", "80GiB", "30min".
//
// Everything inside fleetsim is in base units (seconds, bytes, bytes per second, watts, FLOP, FLOP per second,
// joules, US dollars); the unit lives in the name of the field (`nic_bandwidth_bytes_per_s`). This file is the one
// place that turns text into base units. A bare number is taken in the base unit of the quantity.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fleetsim {

enum class Dimension {
  count,              // a plain number: "14.8e12", "2048"; suffixes K/M/G/T/P accepted ("14.8T")
  time_s,             // s, ms, us, ns, min, h, d
  bytes,              // B, KB, MB, GB, TB (powers of 10), KiB, MiB, GiB, TiB (powers of 2)
  bandwidth_bytes_per_s,  // bps, Kbps, Mbps, Gbps, Tbps (bits); B/s, KB/s, MB/s, GB/s, TB/s, GiB/s (bytes)
  power_w,            // W, kW, MW
  flop,               // FLOP, GFLOP, TFLOP, PFLOP
  flop_per_s,         // FLOPS, GFLOPS, TFLOPS, PFLOPS
  energy_j,           // J, kJ, MJ, Wh, kWh, MWh, GWh
  dollars,            // "$2.5" or 2.5
};

// What a value of this dimension looks like, for error messages: "a time such as 1.5us or 30min".
std::string describe_dimension(Dimension dimension);

// Parses `text` as a quantity of `dimension` and returns it in the base unit. Returns std::nullopt when the text is
// not a number, has a unit of another dimension, or is not finite; the caller turns that into an InputError.
std::optional<double> parse_quantity(std::string_view text, Dimension dimension);

// Human-readable formatting for the text summary ("19.93 s", "74.6 GiB", "2.66 M").
std::string format_seconds(double seconds);
std::string format_bytes(double bytes);
std::string format_si(double value, int significant_digits = 4);
// A number with a fixed count of decimals ("18.556", "42.8"), the same bytes in every locale: table cells, SVG
// coordinates.
std::string format_fixed(double value, int decimals);

}  // namespace fleetsim
