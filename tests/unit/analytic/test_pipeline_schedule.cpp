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
  EXPECT_DOUBLE_EQ(dualpipe.peak_activation_chunks(16, 120, 2), 17.0);
  EXPECT_DOUBLE_EQ(find_schedule("1f1b").peak_activation_chunks(16, 120, 1), 16.0);
  EXPECT_DOUBLE_EQ(find_schedule("1f1b").peak_activation_chunks(16, 4, 1), 4.0);  // fewer micro-batches than stages
}

TEST(PipelineSchedule, InterleavedTakesTheJobsVirtualStages) {
  TrainingJob job;
  job.schedule = "interleaved";
  job.virtual_stages = 8;
  const PipelineSchedule schedule = schedule_of(job);
  EXPECT_EQ(schedule.stage_multiplier, 8);   // pp x 8 stages
  EXPECT_EQ(schedule.stages_per_device, 8);  // device d holds d, d + pp, ..., d + 7pp
  EXPECT_EQ(schedule.visits_per_micro_batch, 8);
  EXPECT_EQ(schedule.stage_of(3, 7, 16), 3 + 7 * 16);
  // Megatron-LM's first device: 2(pp-1) + (v-1)pp warm-up forwards, plus the one in flight: 8*16 + 15 chunks.
  EXPECT_DOUBLE_EQ(schedule.peak_activation_chunks(16, 32, 8), 143.0);
  EXPECT_DOUBLE_EQ(schedule.peak_activation_chunks(16, 16, 8), 128.0);  // mb = pp: every forward first
  EXPECT_DOUBLE_EQ(find_schedule("interleaved").peak_activation_chunks(16, 120, 2), 47.0);  // v = 2: 3pp - 1
  // Other schedules keep their shape whatever the field holds.
  job.schedule = "dualpipe";
  EXPECT_EQ(schedule_of(job).stages_per_device, 2);
  EXPECT_EQ(schedule_of(job).stage_multiplier, 1);
}

TEST(PipelineSchedule, RegistryListsEveryContractScheduleAndRejectsOthers) {
  for (const char* name : {"1f1b", "interleaved", "zb1p", "dualpipe", "dualpipev"})
    EXPECT_EQ(find_schedule(name).name, name);
  EXPECT_THROW(find_schedule("gpipe-ish"), std::out_of_range);
}

}  // namespace
}  // namespace fleetsim
