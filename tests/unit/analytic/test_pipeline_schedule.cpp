#include <gtest/gtest.h>

#include <stdexcept>

#include "analytic/pipeline_schedule.hpp"

namespace fleetsim {
namespace {

// F = 1, B (input) = 1.5, W = 0.5, so the README's full backward B is 2; F&B = 3.
constexpr ChunkTimes kChunk{1.0, 1.5, 0.5, 3.0};

TEST(PipelineSchedule, BubblesFollowThePublishedFormulas) {
  EXPECT_DOUBLE_EQ(find_schedule("1f1b").bubble_seconds(kChunk, 4), 3 * (1.0 + 2.0));           // (PP-1)(F+B)
  EXPECT_DOUBLE_EQ(find_schedule("zb1p").bubble_seconds(kChunk, 4), 3 * (1.0 + 2.0 - 1.0));     // (PP-1)(F+B-2W)
  EXPECT_DOUBLE_EQ(find_schedule("dualpipe").bubble_seconds(kChunk, 8), 3 * (3.0 + 2.0 - 1.5)); // (PP/2-1)(F&B+B-3W)
  EXPECT_DOUBLE_EQ(find_schedule("dualpipev").bubble_seconds(kChunk, 4), 3 * (3.0 + 2.0 - 1.5));
  EXPECT_DOUBLE_EQ(find_schedule("interleaved").bubble_seconds(kChunk, 4), 3 * (1.0 + 2.0));
}

TEST(PipelineSchedule, DualPipeKeepsTwoParameterCopiesAndPpPlusOneActivations) {
  const auto& dualpipe = find_schedule("dualpipe");
  EXPECT_EQ(dualpipe.stages_per_device, 2);  // two parameter copies: stage d and its mirror pp-1-d
  EXPECT_EQ(dualpipe.stage_of(0, 0, 16), 0);
  EXPECT_EQ(dualpipe.stage_of(0, 1, 16), 15);
  EXPECT_EQ(dualpipe.stage_of(5, 1, 16), 10);
  EXPECT_EQ(find_schedule("dualpipev").stage_of(0, 1, 8), 15);
  EXPECT_EQ(find_schedule("interleaved").stage_of(3, 1, 8), 11);
  EXPECT_TRUE(dualpipe.overlaps_expert_communication);
  EXPECT_TRUE(dualpipe.needs_even_pp);
  EXPECT_DOUBLE_EQ(dualpipe.peak_activation_chunks(16, 120), 17.0);
  EXPECT_DOUBLE_EQ(find_schedule("1f1b").peak_activation_chunks(16, 120), 16.0);
  EXPECT_DOUBLE_EQ(find_schedule("1f1b").peak_activation_chunks(16, 4), 4.0);  // fewer micro-batches than stages
}

TEST(PipelineSchedule, RegistryListsEveryContractScheduleAndRejectsOthers) {
  for (const char* name : {"1f1b", "interleaved", "zb1p", "dualpipe", "dualpipev"})
    EXPECT_EQ(find_schedule(name).name, name);
  EXPECT_THROW(find_schedule("gpipe-ish"), std::out_of_range);
}

}  // namespace
}  // namespace fleetsim
