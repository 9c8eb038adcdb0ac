// The fluid max-min solver on hand-checked cases: fair halves, bandwidth released by a finished flow, max-min (not
// proportional) fairness on the classic three-link line, weights, latency, determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "collective/flow_solver.hpp"

namespace fleetsim::collective {
namespace {

constexpr double kGB = 1e9;

TEST(FlowSolver, TwoFlowsSharingALinkGetHalfEach) {
  FlowProblem problem;
  const ResourceId link = problem.add_resource(10 * kGB);
  const ResourceId ids[] = {link};
  problem.add_flow(ids, 5 * kGB);
  problem.add_flow(ids, 5 * kGB);
  const std::vector<double> rates = max_min_rates(problem);
  EXPECT_DOUBLE_EQ(rates[0], 5 * kGB);
  EXPECT_DOUBLE_EQ(rates[1], 5 * kGB);
  const FlowSolution solution = solve(problem);
  EXPECT_DOUBLE_EQ(solution.finish_s[0], 1.0);  // 5 GB at 5 GB/s
  EXPECT_DOUBLE_EQ(solution.finish_s[1], 1.0);
  EXPECT_EQ(solution.rate_solves, 1u);  // both end in the same event
}

TEST(FlowSolver, AFinishedFlowReleasesItsBandwidth) {
  // 1 GB and 3 GB on a 1 GB/s link: both at 0.5 GB/s until the small one ends at 2 s (1 GB sent by each); the large
  // one then has 2 GB left at the full 1 GB/s and ends at 4 s (not at 6 s, as it would at a constant half).
  FlowProblem problem;
  const ResourceId ids[] = {problem.add_resource(1 * kGB)};
  problem.add_flow(ids, 1 * kGB);
  problem.add_flow(ids, 3 * kGB);
  const FlowSolution solution = solve(problem);
  EXPECT_NEAR(solution.transfer_end_s[0], 2.0, 1e-12);
  EXPECT_NEAR(solution.transfer_end_s[1], 4.0, 1e-12);
  EXPECT_EQ(solution.rate_solves, 2u);
}

TEST(FlowSolver, MaxMinNotProportionalOnAThreeLinkLine) {
  // The textbook case (Bertsekas & Gallager, Data Networks, §6.5; Kelly 1998): links 1-2-3 of capacity 1, one long
  // flow over all three, one short flow on each. Max-min gives everybody 1/2; proportional fairness would give the
  // long flow 1/4 and the short ones 3/4. SimGrid's model, and this solver, are max-min.
  FlowProblem problem;
  const ResourceId a = problem.add_resource(1.0), b = problem.add_resource(1.0), c = problem.add_resource(1.0);
  const ResourceId all[] = {a, b, c}, only_a[] = {a}, only_b[] = {b}, only_c[] = {c};
  problem.add_flow(all, 1.0);
  problem.add_flow(only_a, 1.0);
  problem.add_flow(only_b, 1.0);
  problem.add_flow(only_c, 1.0);
  const std::vector<double> rates = max_min_rates(problem);
  for (const double rate : rates) EXPECT_DOUBLE_EQ(rate, 0.5);
  EXPECT_GT(rates[0], 0.25);  // not the proportionally fair 1/4

  // Unequal capacities: the long flow is held to 1/2 by link a (shared with one short flow); on link b (capacity
  // 2) the short flow gets what the long one leaves, 1.5 - water-filling, not an equal split of link b.
  FlowProblem unequal;
  const ResourceId x = unequal.add_resource(1.0), y = unequal.add_resource(2.0);
  const ResourceId both[] = {x, y}, only_x[] = {x}, only_y[] = {y};
  unequal.add_flow(both, 1.0);
  unequal.add_flow(only_x, 1.0);
  unequal.add_flow(only_y, 1.0);
  const std::vector<double> r = max_min_rates(unequal);
  EXPECT_DOUBLE_EQ(r[0], 0.5);
  EXPECT_DOUBLE_EQ(r[1], 0.5);
  EXPECT_DOUBLE_EQ(r[2], 1.5);
}

TEST(FlowSolver, AWeightedFlowIsExactlyItsIdenticalFlows) {
  // Three identical flows and one other on a link, against one flow of weight 3 (three times the bytes) and the
  // other: same rates per original flow, same end times.
  FlowProblem separate, merged;
  for (FlowProblem* p : {&separate, &merged}) p->add_resource(6.0);
  const ResourceId ids[] = {0};
  for (int i = 0; i < 3; ++i) separate.add_flow(ids, 2.0);
  separate.add_flow(ids, 4.0);
  merged.add_flow(ids, 3 * 2.0, 0.0, 3.0);
  merged.add_flow(ids, 4.0);
  const FlowSolution s = solve(separate), m = solve(merged);
  EXPECT_DOUBLE_EQ(s.finish_s[0], m.finish_s[0]);
  EXPECT_DOUBLE_EQ(s.finish_s[3], m.finish_s[1]);
  EXPECT_DOUBLE_EQ(max_min_rates(merged)[0], 3 * max_min_rates(separate)[0]);
}

TEST(FlowSolver, LatencyIsAddedAndEmptyFlowsTakeOnlyLatency) {
  FlowProblem problem;
  const ResourceId ids[] = {problem.add_resource(2.0)};
  problem.add_flow(ids, 4.0, 0.5);
  problem.add_flow({}, 7.0, 0.25);  // same GPU: no resource
  problem.add_flow(ids, 0.0, 0.125);
  const FlowSolution solution = solve(problem);
  EXPECT_DOUBLE_EQ(solution.transfer_end_s[0], 2.0);
  EXPECT_DOUBLE_EQ(solution.finish_s[0], 2.5);
  EXPECT_DOUBLE_EQ(solution.finish_s[1], 0.25);
  EXPECT_DOUBLE_EQ(solution.finish_s[2], 0.125);
  EXPECT_DOUBLE_EQ(solution.makespan_s, 2.5);
  EXPECT_DOUBLE_EQ(solution.transfer_makespan_s, 2.0);
}

TEST(FlowSolver, ProgressiveFillingAcrossSeveralBottlenecks) {
  // A parking lot: flows 0 (links a, b), 1 (a), 2 (b), 3 (b); a = 3, b = 3. Link b is the tighter (3 over 3 flows):
  // flows 0, 2, 3 get 1; then flow 1 gets what a has left, 2.
  FlowProblem problem;
  const ResourceId a = problem.add_resource(3.0), b = problem.add_resource(3.0);
  const ResourceId ab[] = {a, b}, only_a[] = {a}, only_b[] = {b};
  problem.add_flow(ab, 1.0);
  problem.add_flow(only_a, 1.0);
  problem.add_flow(only_b, 1.0);
  problem.add_flow(only_b, 1.0);
  const std::vector<double> r = max_min_rates(problem);
  EXPECT_DOUBLE_EQ(r[0], 1.0);
  EXPECT_DOUBLE_EQ(r[1], 2.0);
  EXPECT_DOUBLE_EQ(r[2], 1.0);
  EXPECT_DOUBLE_EQ(r[3], 1.0);
  // Time: flow 1 ends at 0.5 s, which frees nothing on b; flows 0, 2, 3 end at 1 s.
  const FlowSolution s = solve(problem);
  EXPECT_DOUBLE_EQ(s.transfer_end_s[1], 0.5);
  EXPECT_DOUBLE_EQ(s.transfer_end_s[0], 1.0);
}

TEST(FlowSolver, DeterministicWithManyEvents) {
  // 2,000 flows on 200 resources, 3 each, sizes and capacities varying (hundreds of distinct end times): two solves
  // give bit-identical answers, and every flow ends no earlier than its bytes over its tightest resource.
  FlowProblem problem;
  for (int r = 0; r < 200; ++r) problem.add_resource(1e9 * (1 + r % 7));
  for (int f = 0; f < 2000; ++f) {
    const ResourceId ids[] = {static_cast<ResourceId>(f % 200), static_cast<ResourceId>((f * 7 + 3) % 200),
                              static_cast<ResourceId>((f * 13 + 5) % 200)};
    problem.add_flow(ids, 1e6 * (1 + f % 5));
  }
  const FlowSolution first = solve(problem), second = solve(problem);
  EXPECT_EQ(first.finish_s, second.finish_s);
  for (std::size_t f = 0; f < problem.flow_count(); ++f) {
    double tightest = INFINITY;
    for (const ResourceId r : problem.resources_of(f)) tightest = std::min(tightest, problem.capacity(r));
    EXPECT_GE(first.finish_s[f], problem.bytes(f) / tightest * (1 - 1e-12));
  }
}

TEST(FlowSolver, RejectsBadInput) {
  FlowProblem problem;
  EXPECT_THROW(problem.add_resource(0.0), std::invalid_argument);
  const ResourceId unknown[] = {3};
  EXPECT_THROW(problem.add_flow(unknown, 1.0), std::out_of_range);
  EXPECT_THROW(problem.add_flow({}, -1.0), std::invalid_argument);
}

}  // namespace
}  // namespace fleetsim::collective
