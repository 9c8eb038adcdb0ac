#include <gtest/gtest.h>

#include "core/units.hpp"

namespace fleetsim {
namespace {

TEST(Units, ParsesBandwidthInBitsAndBytes) {
  EXPECT_DOUBLE_EQ(*parse_quantity("400Gbps", Dimension::bandwidth_bytes_per_s), 50e9);
  EXPECT_DOUBLE_EQ(*parse_quantity("50GB/s", Dimension::bandwidth_bytes_per_s), 50e9);
  EXPECT_DOUBLE_EQ(*parse_quantity("1GiB/s", Dimension::bandwidth_bytes_per_s), 1073741824.0);
}

TEST(Units, ParsesTimesSizesPowerAndCounts) {
  EXPECT_DOUBLE_EQ(*parse_quantity("1.5us", Dimension::time_s), 1.5e-6);
  EXPECT_DOUBLE_EQ(*parse_quantity("30min", Dimension::time_s), 1800.0);
  EXPECT_DOUBLE_EQ(*parse_quantity("80GiB", Dimension::bytes), 80.0 * 1073741824.0);
  EXPECT_DOUBLE_EQ(*parse_quantity("141GB", Dimension::bytes), 141e9);
  EXPECT_DOUBLE_EQ(*parse_quantity("700W", Dimension::power_w), 700.0);
  EXPECT_DOUBLE_EQ(*parse_quantity("10.2kW", Dimension::power_w), 10200.0);
  EXPECT_DOUBLE_EQ(*parse_quantity("14.8e12", Dimension::count), 14.8e12);
  EXPECT_DOUBLE_EQ(*parse_quantity("14.8T", Dimension::count), 14.8e12);
  EXPECT_DOUBLE_EQ(*parse_quantity("989TFLOPS", Dimension::flop_per_s), 989e12);
  EXPECT_DOUBLE_EQ(*parse_quantity("$25000", Dimension::dollars), 25000.0);
  EXPECT_DOUBLE_EQ(*parse_quantity("3600", Dimension::time_s), 3600.0);
}

TEST(Units, RejectsWrongDimensionAndGarbage) {
  EXPECT_FALSE(parse_quantity("400Gbps", Dimension::time_s));
  EXPECT_FALSE(parse_quantity("80GiB", Dimension::bandwidth_bytes_per_s));
  EXPECT_FALSE(parse_quantity("fast", Dimension::count));
  EXPECT_FALSE(parse_quantity("", Dimension::count));
  EXPECT_FALSE(parse_quantity("12 parsecs", Dimension::time_s));
  EXPECT_FALSE(parse_quantity("inf", Dimension::count));
}

TEST(Units, FormatFixedGivesTheDecimalsAsked) {
  EXPECT_EQ(format_fixed(42.25, 1), "42.2");  // round-half-even on the binary value 42.25
  EXPECT_EQ(format_fixed(2.0 / 3.0, 3), "0.667");
  EXPECT_EQ(format_fixed(4042.4, 0), "4042");
}

}  // namespace
}  // namespace fleetsim
