// The text table sweep and plan print (sim/cli/text_table), on a hand-made table.
#include <gtest/gtest.h>

#include "cli/text_table.hpp"

namespace fleetsim::cli {
namespace {

TEST(TextTable, AlignsNumbersRightTextLeftAndLetsAnErrorRunOn) {
  const std::vector<std::vector<std::string>> rows{
      {"#", "schedule", "step s", "cost"},
      {"1", "dualpipe", "18.177", "$5.2 M"},
      {"10", "1f1b", "21.651", "$6.203 M"},
      {"2", "zb1p", "cannot run: training.parallelism.dp must divide cluster.gpus"},
  };
  const std::string table = format_text_table(rows, [](std::size_t column) { return column == 0 || column >= 2; });
  EXPECT_EQ(table,
            "   # schedule step s     cost\n"
            "   1 dualpipe 18.177   $5.2 M\n"
            "  10 1f1b     21.651 $6.203 M\n"
            "   2 zb1p     cannot run: training.parallelism.dp must divide cluster.gpus\n");
}

TEST(TextTable, AnEmptyTableIsNoText) {
  EXPECT_EQ(format_text_table({}, [](std::size_t) { return true; }), "");
}

}  // namespace
}  // namespace fleetsim::cli
