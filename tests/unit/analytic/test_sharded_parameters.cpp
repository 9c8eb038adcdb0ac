// ZeRO-3's per-chunk collectives: which a chunk needs, and how long they hold it with and without prefetching.
#include <gtest/gtest.h>

#include <vector>

#include "analytic/training_estimate.hpp"

namespace fleetsim {
namespace {

TEST(ShardedParameters, ChunkWaitIsATwoResourcePipelineOfItsLayers) {
  // Compute 10 s beside 4 s of traffic over 4 layers: the traffic hides except the first layer's gather (1 s).
  EXPECT_DOUBLE_EQ(sharded_chunk_wait_s(10, 4, 4, true), 1.0);
  // Traffic-bound: 10 s of traffic, 4 s of compute over 5 layers: 10 + 4 / 5 = 10.8 s, 6.8 beyond the compute.
  EXPECT_DOUBLE_EQ(sharded_chunk_wait_s(4, 10, 5, true), 6.8);
  // Without prefetching every collective runs before the compute.
  EXPECT_DOUBLE_EQ(sharded_chunk_wait_s(10, 4, 4, false), 4.0);
  EXPECT_DOUBLE_EQ(sharded_chunk_wait_s(10, 0, 4, true), 0.0);
  EXPECT_DOUBLE_EQ(sharded_chunk_wait_s(10, 4, 0, true), 4.0);  // at least one step: max + min
}

TEST(ShardedParameters, EachChunkGathersWhatItComputesAndReducesWhatItDifferentiates) {
  // Stage 0: reduce-scatter 2 s, gather 1 s; stage 1: 20 s and 10 s.
  const std::vector<UpdateCost> stages{{2.0, 1.0, 0.0}, {20.0, 10.0, 0.0}};
  auto chunk = [](schedule::ChunkKind kind, int stage, int paired = -1) {
    schedule::Chunk c;
    c.kind = kind;
    c.stage = stage;
    c.paired_stage = paired;
    return c;
  };
  using schedule::ChunkKind;
  EXPECT_DOUBLE_EQ(sharded_parameter_traffic_s(chunk(ChunkKind::forward, 0), stages), 1.0);
  EXPECT_DOUBLE_EQ(sharded_parameter_traffic_s(chunk(ChunkKind::backward_input, 1), stages), 10.0);
  EXPECT_DOUBLE_EQ(sharded_parameter_traffic_s(chunk(ChunkKind::backward_weight, 1), stages), 20.0);
  EXPECT_DOUBLE_EQ(sharded_parameter_traffic_s(chunk(ChunkKind::backward, 0), stages), 3.0);
  // DualPipe's F&B pair: the forward stage's gather, the backward stage's gather and reduce-scatter.
  EXPECT_DOUBLE_EQ(sharded_parameter_traffic_s(chunk(ChunkKind::forward_backward, 0, 1), stages), 31.0);
}

}  // namespace
}  // namespace fleetsim
