// E[max of n standard normals], closed forms and a published table.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <stdexcept>

#include "core/order_statistics.hpp"

namespace fleetsim {
namespace {

TEST(OrderStatistics, ExpectedMaximumOfStandardNormalsMatchesTheClosedForms) {
  EXPECT_DOUBLE_EQ(expected_max_standard_normal(1), 0.0);
  EXPECT_NEAR(expected_max_standard_normal(2), 1.0 / std::sqrt(std::numbers::pi), 1e-9);  // 0.5642
  EXPECT_NEAR(expected_max_standard_normal(3), 1.5 / std::sqrt(std::numbers::pi), 1e-9);  // 0.8463
  // n = 5 (David & Nagaraja, Order Statistics, Table: 1.16296)
  EXPECT_NEAR(expected_max_standard_normal(5), 1.16296, 1e-5);
  EXPECT_LT(expected_max_standard_normal(64), expected_max_standard_normal(128));
  EXPECT_THROW(expected_max_standard_normal(0), std::invalid_argument);
}

}  // namespace
}  // namespace fleetsim
