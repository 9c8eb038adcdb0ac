// Pipeline schedules: the chunk orders on small hand-checked cases, the bubble of each against its published formula
// (DualPipe README table, public-figures.md §4), and the evaluator's checks. All durations are exact binary
// fractions, so times compare exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "schedule/schedule.hpp"
#include "schedule/timeline.hpp"

namespace fleetsim::schedule {
namespace {

// How many chunks of each kind one device runs in a step (F&B counted once).
struct ChunkCounts {
  int forward = 0;
  int backward_input = 0;  // inputs-only backwards
  int backward = 0;        // full backwards (B+W fused)
  int backward_weight = 0;
  int forward_backward = 0;
};

ChunkCounts count_chunks(const PipelineProgram& program, int device) {
  ChunkCounts counts;
  for (const Chunk& chunk : program.per_device.at(static_cast<std::size_t>(device))) {
    switch (chunk.kind) {
      case ChunkKind::forward: ++counts.forward; break;
      case ChunkKind::backward_input: ++counts.backward_input; break;
      case ChunkKind::backward: ++counts.backward; break;
      case ChunkKind::backward_weight: ++counts.backward_weight; break;
      case ChunkKind::forward_backward: ++counts.forward_backward; break;
    }
  }
  return counts;
}

std::string order_of(const PipelineProgram& program, int device, bool with_stage = false) {
  std::string text;
  for (const Chunk& chunk : program.per_device.at(static_cast<std::size_t>(device)))
    text += (text.empty() ? "" : " ") + to_string(chunk, with_stage);
  return text;
}

// README notation: F forward, B full backward (input + weight), W weight backward, F&B an overlapped pair.
double readme_1f1b(int pp, double f, double b_full) { return (pp - 1) * (f + b_full); }
double readme_zb1p(int pp, double f, double b_full, double w) { return (pp - 1) * (f + b_full - 2 * w); }
double readme_dualpipe(int pp_stages, double fb, double b_full, double w) {
  return (pp_stages / 2 - 1) * (fb + b_full - 3 * w);
}

ChunkDurations durations(double f, double b_input, double w, std::optional<double> fb = std::nullopt,
                         double latency = 0) {
  ChunkDurations d;
  d.forward = f;
  d.backward_input = b_input;
  d.backward_weight = w;
  d.forward_backward = fb;
  d.p2p_latency = latency;
  return d;
}

// Independent of the evaluator: every chunk starts after its inputs (plus the transfer latency when they come from
// another device), no device runs two chunks at once, and chunks keep program order.
void expect_dependencies_respected(const PipelineProgram& p, const Timeline& t, const ChunkDurations& d) {
  enum { kF, kB, kW };
  std::map<std::tuple<int, int, int>, std::pair<double, int>> end;  // (mb, stage, pass) -> (end, device)
  for (int dev = 0; dev < p.devices; ++dev) {
    const auto& chunks = p.per_device[static_cast<std::size_t>(dev)];
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      const Chunk& c = chunks[i];
      const double e = t.per_device[static_cast<std::size_t>(dev)][i].end;
      switch (c.kind) {
        case ChunkKind::forward: end[{c.micro_batch, c.stage, kF}] = {e, dev}; break;
        case ChunkKind::backward_input: end[{c.micro_batch, c.stage, kB}] = {e, dev}; break;
        case ChunkKind::backward_weight: end[{c.micro_batch, c.stage, kW}] = {e, dev}; break;
        case ChunkKind::backward:
          end[{c.micro_batch, c.stage, kB}] = {e, dev};
          end[{c.micro_batch, c.stage, kW}] = {e, dev};
          break;
        case ChunkKind::forward_backward:
          end[{c.micro_batch, c.stage, kF}] = {e, dev};
          end[{c.paired_micro_batch, c.paired_stage, kB}] = {e, dev};
          end[{c.paired_micro_batch, c.paired_stage, kW}] = {e, dev};
          break;
      }
    }
  }
  ASSERT_EQ(end.size(), static_cast<std::size_t>(p.micro_batches * p.stages * 3));
  for (int dev = 0; dev < p.devices; ++dev) {
    const auto& chunks = p.per_device[static_cast<std::size_t>(dev)];
    const auto& spans = t.per_device[static_cast<std::size_t>(dev)];
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      const double start = spans[i].start;
      EXPECT_DOUBLE_EQ(spans[i].end - start, duration_of(chunks[i].kind, d));
      if (i > 0) {
        EXPECT_GE(start, spans[i - 1].end);
      }
      auto after = [&](int mb, int stage, int pass) {
        const auto& [e, from] = end.at({mb, stage, pass});
        EXPECT_GE(start, e + (from == dev ? 0.0 : d.p2p_latency))
            << p.schedule << " device " << dev << " chunk " << to_string(chunks[i], true);
      };
      auto forward_needs = [&](int mb, int s) {
        if (s > 0) after(mb, s - 1, kF);
      };
      auto backward_needs = [&](int mb, int s) {
        after(mb, s, kF);
        if (s + 1 < p.stages) after(mb, s + 1, kB);
      };
      const Chunk& c = chunks[i];
      switch (c.kind) {
        case ChunkKind::forward: forward_needs(c.micro_batch, c.stage); break;
        case ChunkKind::backward_input:
        case ChunkKind::backward: backward_needs(c.micro_batch, c.stage); break;
        case ChunkKind::backward_weight: after(c.micro_batch, c.stage, kB); break;
        case ChunkKind::forward_backward:
          forward_needs(c.micro_batch, c.stage);
          backward_needs(c.paired_micro_batch, c.paired_stage);
          break;
      }
    }
  }
}

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---------------------------------------------------------------------------------------------------------------
// 1F1B

TEST(OneFOneB, ChunkOrderOfFirstAndLastDevice) {
  const auto p = build_schedule("1f1b", 4, 8);
  EXPECT_EQ(p.stages, 4);
  EXPECT_EQ(p.device_of_stage, (std::vector<int>{0, 1, 2, 3}));
  // Device 0: pp-1 = 3 warm-up forwards, then one forward / one backward, then the drain.
  EXPECT_EQ(order_of(p, 0), "F0 F1 F2 F3 B0 F4 B1 F5 B2 F6 B3 F7 B4 B5 B6 B7");
  EXPECT_EQ(order_of(p, 3), "F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5 F6 B6 F7 B7");
}

TEST(OneFOneB, MakespanAndBubbleAreTheTextbookOnes) {
  // F = 1, B (input) = 1.5, W = 0.5: full backward 2. Makespan (m+p-1)(F+B) = 11 * 3, bubble (p-1)(F+B) = 9 on
  // every device (each does 8 forwards and 8 backwards).
  const auto d = durations(1, 1.5, 0.5);
  const auto t = evaluate_timeline(build_schedule("1f1b", 4, 8), d);
  EXPECT_DOUBLE_EQ(t.makespan, 33.0);
  for (double bubble : t.bubble) EXPECT_DOUBLE_EQ(bubble, readme_1f1b(4, 1, 2));
  EXPECT_DOUBLE_EQ(t.max_bubble, 9.0);
  EXPECT_DOUBLE_EQ(t.busy[0], 24.0);
}

TEST(OneFOneB, P2pLatencyIsPaidOncePerHopEachWay) {
  // One micro-batch through 4 stages: 4 forwards and 4 backwards in a chain with 3 hops each way.
  const auto t = evaluate_timeline(build_schedule("1f1b", 4, 1), durations(1, 1.5, 0.5, std::nullopt, 0.25));
  EXPECT_DOUBLE_EQ(t.makespan, 4 * (1 + 2) + 2 * 3 * 0.25);
}

TEST(OneFOneB, PairingBackwardsWithTheNextForwardGivesMegatronsCombinedOneFOneB) {
  // TrainingJob::overlap_moe_all_to_all: each backward a forward follows becomes an F&B pair with that forward, so
  // device 0 runs one more forward before its first backward and the last device one (F0) before its pairs: the
  // extra warm-up forward Megatron-Core schedules "to ensure the forward and backward computations are independent
  // in all 1f1b steps" (schedules.py, get_pp_rank_microbatches). Megatron allows it only with virtual stages when
  // pp > 1, and the plain 1F1B case below shows why: a pair's backward waits for the next device's pair of the same
  // step, whose forward waited for this device's previous pair, so the steady state runs at half speed.
  const auto p = pair_backwards_with_next_forwards(build_schedule("1f1b", 4, 8));
  EXPECT_EQ(order_of(p, 0), "F0 F1 F2 F3 F4&B0 F5&B1 F6&B2 F7&B3 B4 B5 B6 B7");
  EXPECT_EQ(order_of(p, 3), "F0 F1&B0 F2&B1 F3&B2 F4&B3 F5&B4 F6&B5 F7&B6 B7");
  EXPECT_FALSE(p.models_rendezvous);  // sends are buffered
  // Well formed and free of cycles, and the dependencies hold, on 1F1B and interleaved alike. With F&B = F + B (no
  // overlap gained) the step is no shorter than unpaired; with F&B = 2 (the full backward's time, the forward
  // hidden) every device's busy time drops by its pairs' F.
  for (const auto& [name, pp, mb] : {std::tuple{"1f1b", 4, 8}, std::tuple{"1f1b", 8, 24},
                                     std::tuple{"interleaved", 4, 8}, std::tuple{"interleaved", 4, 16}}) {
    const auto plain = build_schedule(name, pp, mb, 2);
    const auto paired = pair_backwards_with_next_forwards(plain);
    const auto serial = durations(1, 1.5, 0.5, 3.0);
    const auto t_plain = evaluate_timeline(plain, serial), t_serial = evaluate_timeline(paired, serial);
    expect_dependencies_respected(paired, t_serial, serial);
    EXPECT_GE(t_serial.makespan, t_plain.makespan - 1e-9) << name << " " << pp << " " << mb;
    const auto overlapped = durations(1, 1.5, 0.5, 2.0);
    const auto t_overlapped = evaluate_timeline(paired, overlapped);
    expect_dependencies_respected(paired, t_overlapped, overlapped);
    for (int d = 0; d < pp; ++d) {
      int pairs = 0;
      for (const Chunk& chunk : paired.per_device[static_cast<std::size_t>(d)])
        pairs += chunk.kind == ChunkKind::forward_backward ? 1 : 0;
      EXPECT_GT(pairs, 0) << name << " device " << d;
      EXPECT_DOUBLE_EQ(t_overlapped.busy[static_cast<std::size_t>(d)],
                       t_plain.busy[static_cast<std::size_t>(d)] - pairs)
          << name << " device " << d;
    }
    // Overlap shortens the paired program; it need not beat the unpaired one without communication to hide (a
    // pair holds its forward's output until the pair ends: on plain 1F1B 38 against 33 here).
    EXPECT_LT(t_overlapped.makespan, t_serial.makespan) << name;
  }
  EXPECT_DOUBLE_EQ(evaluate_timeline(p, durations(1, 1.5, 0.5, 2.0)).makespan, 38.0);
}

// ---------------------------------------------------------------------------------------------------------------
// ZB-H1

TEST(ZeroBubbleH1, ChunkOrderDelaysWeightGradientsOnLaterDevices) {
  const auto p = build_schedule("zb1p", 4, 8);
  // Device 0 runs each W right after its B; device d delays W by d micro-batches (Qi et al. 2023, Fig. 3).
  EXPECT_EQ(order_of(p, 0), "F0 F1 F2 F3 Bi0 W0 F4 Bi1 W1 F5 Bi2 W2 F6 Bi3 W3 F7 Bi4 W4 Bi5 W5 Bi6 W6 Bi7 W7");
  EXPECT_EQ(order_of(p, 3), "F0 Bi0 F1 Bi1 F2 Bi2 F3 Bi3 W0 F4 Bi4 W1 F5 Bi5 W2 F6 Bi6 W3 F7 Bi7 W4 W5 W6 W7");
}

TEST(ZeroBubbleH1, KeepsOneFOneBPeakActivations) {
  // Activations held = micro-batches forwarded whose W has not run; 1F1B's first device peaks at pp.
  for (int pp : {2, 4, 8})
    for (int mb : {1, pp, 3 * pp}) {
      const auto p = build_schedule("zb1p", pp, mb);
      for (const auto& chunks : p.per_device) {
        int held = 0, peak = 0;
        for (const Chunk& c : chunks) {
          if (c.kind == ChunkKind::forward) peak = std::max(peak, ++held);
          if (c.kind == ChunkKind::backward_weight) --held;
        }
        EXPECT_LE(peak, pp);
        EXPECT_EQ(held, 0);
      }
    }
}

TEST(ZeroBubbleH1, BubbleMatchesThePublishedFormulaWhenWFitsTheGaps) {
  // F = B = W = 1 (the paper's figure): (p-1)(F+B-2W) with B = 2 the full backward = 3; makespan 8*3 + 3.
  const auto t = evaluate_timeline(build_schedule("zb1p", 4, 8), durations(1, 1, 1));
  EXPECT_DOUBLE_EQ(t.makespan, 27.0);
  for (double bubble : t.bubble) EXPECT_DOUBLE_EQ(bubble, readme_zb1p(4, 1, 2, 1));
  // Other ratios with W <= min(F, B input): still exact.
  for (auto [f, b, w] : {std::tuple{2.0, 1.5, 1.0}, {1.0, 2.0, 0.5}, {2.0, 3.0, 2.0}})
    for (int pp : {2, 4, 8})
      for (int mb : {pp, 2 * pp + 1, 4 * pp})
        EXPECT_DOUBLE_EQ(evaluate_timeline(build_schedule("zb1p", pp, mb), durations(f, b, w)).max_bubble,
                         readme_zb1p(pp, f, b + w, w));
}

TEST(ZeroBubbleH1, PublishedFormulaIsOptimisticWhenWOutlastsAGap) {
  // A delayed W fills a gap a forward or an input backward long; the part of W beyond min(F, B) stays on the
  // critical path, so the bubble is (p-1)(F + B - min(W, F, B)), B the input backward. F = 1, B = 2, W = 2:
  // the formula says 3 (1 + 4 - 4), the timeline 3 * (1 + 2 - 1) = 6.
  const auto t = evaluate_timeline(build_schedule("zb1p", 4, 8), durations(1, 2, 2));
  EXPECT_DOUBLE_EQ(readme_zb1p(4, 1, 4, 2), 3.0);
  EXPECT_DOUBLE_EQ(t.max_bubble, 6.0);
}

// ---------------------------------------------------------------------------------------------------------------
// Interleaved 1F1B

TEST(Interleaved, ChunkOrderFollowsMegatron) {
  const auto p = build_schedule("interleaved", 4, 8);
  EXPECT_EQ(p.stages, 8);
  EXPECT_EQ(p.device_of_stage, (std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3}));
  // Device 0: (pp-1)*2 + pp = 10 warm-up forwards, micro-batches in groups of pp per model chunk.
  EXPECT_EQ(order_of(p, 0, true),
            "F0.s0 F1.s0 F2.s0 F3.s0 F0.s4 F1.s4 F2.s4 F3.s4 F4.s0 F5.s0 "
            "F6.s0 B0.s4 F7.s0 B1.s4 F4.s4 B2.s4 F5.s4 B3.s4 F6.s4 B0.s0 F7.s4 B1.s0 "
            "B2.s0 B3.s0 B4.s4 B5.s4 B6.s4 B7.s4 B4.s0 B5.s0 B6.s0 B7.s0");
  // The last device: pp = 4 warm-up forwards.
  EXPECT_EQ(order_of(p, 3, true),
            "F0.s3 F1.s3 F2.s3 F3.s3 F0.s7 B0.s7 F1.s7 B1.s7 F2.s7 B2.s7 F3.s7 B3.s7 F4.s3 B0.s3 F5.s3 B1.s3 "
            "F6.s3 B2.s3 F7.s3 B3.s3 F4.s7 B4.s7 F5.s7 B5.s7 F6.s7 B6.s7 F7.s7 B7.s7 B4.s3 B5.s3 B6.s3 B7.s3");
}

TEST(Interleaved, BubbleIsOneFOneBsDividedByTheVirtualStages) {
  // Chunk times are those of half a device's layers: F = 1, B = 2 per chunk is F = 2, B = 4 per device, whose
  // 1F1B bubble (p-1)(F+B) = 18 halves to 9 = (p-1)(F+B)/v.
  for (int pp : {2, 4, 8})
    for (int mb : {pp, 2 * pp, 3 * pp}) {
      const auto t = evaluate_timeline(build_schedule("interleaved", pp, mb), durations(1, 1.5, 0.5));
      for (double bubble : t.bubble) EXPECT_DOUBLE_EQ(bubble, readme_1f1b(pp, 2 * 1, 2 * 2) / 2);
    }
}

TEST(Interleaved, MoreVirtualStagesShrinkTheBubbleByTheirNumber) {
  // v = 4 on pp 4: 16 stages, device d holds d, d+4, d+8, d+12; Megatron's first device runs 2(pp-1) + (v-1)pp = 18
  // warm-up forwards. With one chunk a quarter of a device's layers (F = 1, B = 2 per chunk: F = 4, B = 8 per
  // device), the 1F1B bubble (p-1)(F+B) = 36 shrinks to 9 = (p-1)(F+B)/v per device.
  const auto p = build_schedule("interleaved", 4, 8, 4);
  EXPECT_EQ(p.stages, 16);
  for (int s = 0; s < 16; ++s) EXPECT_EQ(p.device_of_stage[static_cast<std::size_t>(s)], s % 4);
  const auto& first = p.per_device[0];
  ASSERT_EQ(first.size(), 2u * 8 * 4);  // every micro-batch forward and backward on each of its 4 chunks
  int warmup = 0;
  while (first[static_cast<std::size_t>(warmup)].kind == ChunkKind::forward) ++warmup;
  EXPECT_EQ(warmup, 18 + 1);  // the 18 warm-up forwards, then the first steady-state forward before its backward
  for (int mb : {4, 8, 12}) {
    const auto t = evaluate_timeline(build_schedule("interleaved", 4, mb, 4), durations(1, 1.5, 0.5));
    for (double bubble : t.bubble) EXPECT_DOUBLE_EQ(bubble, readme_1f1b(4, 4 * 1, 4 * 2) / 4) << mb;
  }
  EXPECT_THROW(build_schedule("interleaved", 4, 8, 1), std::invalid_argument);  // one chunk is not interleaved
}

// ---------------------------------------------------------------------------------------------------------------
// DualPipe

TEST(DualPipe, ChunkOrderOnPp4With8MicroBatches) {
  const auto p = build_schedule("dualpipe", 4, 8);
  EXPECT_EQ(p.stages, 4);
  EXPECT_EQ(p.direction_of_micro_batch, (std::vector<int>{0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(device_of(p, 0, 3), 3);
  EXPECT_EQ(device_of(p, 4, 3), 0);  // the reverse direction's last stage sits on device 0
  // Micro-batches 0-3 enter at device 0 (its stage 0), 4-7 at device 3 (their stage 0; device 0 computes their
  // stage 3). Steps of dualpipe.py: F0 F1 | F2 F4 | Bi4 W4 F5 | F3&B5 F6&B0 | B6 F7&B1 | B7 Bi2 | W2 Bi3 | W3.
  EXPECT_EQ(order_of(p, 0, true),
            "F0.s0 F1.s0 F2.s0 F4.s3 Bi4.s3 W4.s3 F5.s3 F3.s0&B5.s3 F6.s3&B0.s0 B6.s3 F7.s3&B1.s0 B7.s3 "
            "Bi2.s0 W2.s0 Bi3.s0 W3.s0");
  // A middle device: its first pair runs unoverlapped (F2 then B4).
  EXPECT_EQ(order_of(p, 1, true),
            "F0.s1 F4.s2 F1.s1 F5.s2 F2.s1 B4.s2 F6.s2&B0.s1 F3.s1&B5.s2 F7.s2&B1.s1 B6.s2 B2.s1 Bi7.s2 Bi3.s1 "
            "W7.s2 W3.s1");
}

TEST(DualPipe, ChunkOrderOnPp8With16MicroBatches) {
  const auto p = build_schedule("dualpipe", 8, 16);
  EXPECT_EQ(order_of(p, 0, true),
            "F0.s0 F1.s0 F2.s0 F3.s0 F4.s0 F5.s0 F6.s0 F8.s7 Bi8.s7 W8.s7 F9.s7 Bi9.s7 W9.s7 F10.s7 Bi10.s7 W10.s7 "
            "F11.s7 F7.s0&B11.s7 F12.s7&B0.s0 B12.s7 F13.s7&B1.s0 B13.s7 F14.s7&B2.s0 B14.s7 F15.s7&B3.s0 B15.s7 "
            "Bi4.s0 W4.s0 Bi5.s0 W5.s0 Bi6.s0 W6.s0 Bi7.s0 W7.s0");
}

TEST(DualPipe, ChunkCountsOfTheDefaultPlanFollowTheEightSteps) {
  // PP 16, 120 micro-batches (the default scenario), n = pp/2 = 8. Device 0 (h = 0): forwards 2(n-h-1) + 2(h+1) +
  // (n-h-1) = 23; inputs-only backwards (n-h-1) in step 3, one in step 6, (n-h-1) in step 7 = 15; full backwards
  // (n-h-1) in step 5 and one in step 6 = 8; a W for each inputs-only backward = 15; F&B 2(M/2-pp+h+1) + (n-h-1)
  // = 97. These are the chunks whose times ISCA Table 4's 1F, 1B, 1W and 1F1B rows add up.
  const auto p = build_schedule("dualpipe", 16, 120);
  const ChunkCounts first = count_chunks(p, 0);
  EXPECT_EQ(first.forward, 23);
  EXPECT_EQ(first.backward_input, 15);
  EXPECT_EQ(first.backward, 8);
  EXPECT_EQ(first.backward_weight, 15);
  EXPECT_EQ(first.forward_backward, 97);
  // A middle device (h = 7): 2(h+1) forwards plus the first pair split into F and B; step 6's 2(h+1) backwards,
  // half full, half inputs-only; F&B 2(M/2-pp+h+1) - 1.
  const ChunkCounts middle = count_chunks(p, 7);
  EXPECT_EQ(middle.forward, 17);
  EXPECT_EQ(middle.backward_input, 8);
  EXPECT_EQ(middle.backward, 9);
  EXPECT_EQ(middle.backward_weight, 8);
  EXPECT_EQ(middle.forward_backward, 103);
  // Every device runs each micro-batch's forward and backward once on each of its two stages: 2 x 120 = F + F&B.
  for (int d = 0; d < 16; ++d) {
    const ChunkCounts c = count_chunks(p, d);
    EXPECT_EQ(c.forward + c.forward_backward, 120) << d;
    EXPECT_EQ(c.backward_input + c.backward + c.forward_backward, 120) << d;
    EXPECT_EQ(c.backward_weight, c.backward_input) << d;
  }
}

TEST(DualPipe, TheTwoHalvesMirrorEachOther) {
  // Device pp-1-d runs device d's order with the two directions swapped: micro-batch m <-> m + M/2 (mod M), same
  // model stage (device d holds stage d of direction 0, device pp-1-d stage d of direction 1).
  for (auto [pp, mb] : {std::pair{4, 8}, {8, 16}, {6, 18}}) {
    const auto p = build_schedule("dualpipe", pp, mb);
    for (int d = 0; d < pp; ++d) {
      PipelineProgram mirrored = p;
      for (Chunk& c : mirrored.per_device[static_cast<std::size_t>(d)]) {
        c.micro_batch = (c.micro_batch + mb / 2) % mb;
        if (c.kind == ChunkKind::forward_backward) c.paired_micro_batch = (c.paired_micro_batch + mb / 2) % mb;
      }
      EXPECT_EQ(order_of(mirrored, d, true), order_of(p, pp - 1 - d, true)) << "pp " << pp << " device " << d;
    }
  }
}

TEST(DualPipe, BubbleMatchesTheReadmeWhenForwardAndInputBackwardAreEqual) {
  // The README's (PP/2-1)(F&B+B-3W), B full, with F = B(input) = 1 and W = 0.5 (full backward 1.5).
  // PP 4, 8 micro-batches, no overlap gain (F&B = F + B = 2.5): every device idles 1 * (2.5 + 1.5 - 1.5) = 2.5.
  auto t = evaluate_timeline(build_schedule("dualpipe", 4, 8), durations(1, 1, 0.5));
  for (double bubble : t.bubble) EXPECT_DOUBLE_EQ(bubble, readme_dualpipe(4, 2.5, 1.5, 0.5));
  EXPECT_DOUBLE_EQ(t.max_bubble, 2.5);
  // PP 8, 16 micro-batches, F&B = 2 (overlap saves 0.5): devices differ, since the middle ones overlap more pairs;
  // the formula, 3 * (2 + 1.5 - 1.5) = 6, is the bubble of the least busy device.
  t = evaluate_timeline(build_schedule("dualpipe", 8, 16), durations(1, 1, 0.5, 2.0));
  EXPECT_DOUBLE_EQ(t.max_bubble, readme_dualpipe(8, 2, 1.5, 0.5));
  EXPECT_DOUBLE_EQ(t.max_bubble, 6.0);
  EXPECT_DOUBLE_EQ(t.max_bubble, t.makespan - *std::min_element(t.busy.begin(), t.busy.end()));
  EXPECT_LT(t.bubble[0], t.max_bubble);
  // A grid: any F&B from max(F, B) to F + B, W <= F, pp 4..16, micro-batches 2pp..5pp.
  for (int pp : {2, 4, 6, 8, 16})
    for (int mb : {2 * pp, 3 * pp, 5 * pp})
      for (double f : {1.0, 2.0})
        for (double w : {0.25 * f, f})
          for (double saved : {0.0, 0.5 * f, f}) {
            const double fb = f + f + w - saved;
            const auto grid = evaluate_timeline(build_schedule("dualpipe", pp, mb), durations(f, f, w, fb));
            EXPECT_DOUBLE_EQ(grid.max_bubble, readme_dualpipe(pp, fb, f + w, w))
                << "pp " << pp << " mb " << mb << " F " << f << " W " << w << " F&B " << fb;
          }
}

TEST(DualPipe, FormulaNeedsEqualForwardAndInputBackward) {
  // The README's figure draws every cell the same width. With B(input) != F the formula is off, and the timeline
  // is kept as it is (not bent to the formula). PP 4, 8 micro-batches, no overlap gain, W = 0.5:
  // F = 2, B = 1: the formula says 1 * (3.5 + 1.5 - 1.5) = 3.5; the device idles 2 (waiting for a forward) at the
  // start, 2 in the middle (where the formula counts a backward, 1) and 0.5 at the end: 4.5 = formula + (F - B).
  auto t = evaluate_timeline(build_schedule("dualpipe", 4, 8), durations(2, 1, 0.5));
  EXPECT_DOUBLE_EQ(readme_dualpipe(4, 3.5, 1.5, 0.5), 3.5);
  EXPECT_DOUBLE_EQ(t.max_bubble, 4.5);
  // F = 1, B = 2: the formula says 4.5; the device idles 1 + 1 + 1.5 = 3.5.
  t = evaluate_timeline(build_schedule("dualpipe", 4, 8), durations(1, 2, 0.5));
  EXPECT_DOUBLE_EQ(readme_dualpipe(4, 3.5, 2.5, 0.5), 4.5);
  EXPECT_DOUBLE_EQ(t.max_bubble, 3.5);
  // W longer than F also breaks it: F = B = 1, W = 2, the formula says 1 * (4 + 3 - 6) = 1, the timeline 2.
  t = evaluate_timeline(build_schedule("dualpipe", 4, 8), durations(1, 1, 2));
  EXPECT_DOUBLE_EQ(t.max_bubble, 2.0);
}

// ---------------------------------------------------------------------------------------------------------------
// DualPipeV

TEST(DualPipeV, ChunkOrderOnFourDevices) {
  const auto p = build_schedule("dualpipev", 4, 8);
  EXPECT_EQ(p.stages, 8);
  EXPECT_EQ(p.device_of_stage, (std::vector<int>{0, 1, 2, 3, 3, 2, 1, 0}));
  EXPECT_EQ(order_of(p, 0, true),
            "F0.s0 F1.s0 F2.s0 F3.s0 F4.s0 F5.s0 F6.s0 F0.s7 Bi0.s7 W0.s7 F1.s7 Bi1.s7 W1.s7 F2.s7 Bi2.s7 W2.s7 "
            "F3.s7 F7.s0&B3.s7 F4.s7&B0.s0 B4.s7 F5.s7&B1.s0 B5.s7 F6.s7&B2.s0 B6.s7 F7.s7&B3.s0 B7.s7 "
            "Bi4.s0 W4.s0 Bi5.s0 W5.s0 Bi6.s0 W6.s0 Bi7.s0 W7.s0");
  // The turn of the V: the last device runs stage 3 then stage 4 of each micro-batch itself.
  EXPECT_EQ(order_of(p, 3, true),
            "F0.s3 F0.s4 F1.s3 F1.s4 F2.s3 F2.s4 F3.s3 F3.s4 F4.s3 B0.s4 F4.s4&B0.s3 F5.s3&B1.s4 F5.s4&B1.s3 "
            "F6.s3&B2.s4 F6.s4&B2.s3 F7.s3&B3.s4 F7.s4&B3.s3 B4.s4 B4.s3 B5.s4 B5.s3 Bi6.s4 Bi6.s3 Bi7.s4 Bi7.s3 "
            "W6.s4 W6.s3 W7.s4 W7.s3");
}

TEST(DualPipeV, SameBubbleAsDualPipeOnHalfTheDevices) {
  // The README gives DualPipeV the same (PP/2-1)(F&B+B-3W) with PP the number of stages (2 per device), so on
  // pp devices it is (pp-1)(F&B+B-3W). F = B(input) = 1, W = 0.5, F&B from 1.5 to 2.5.
  for (int pp : {1, 2, 3, 4, 8})
    for (int mb = 2 * pp; mb <= 2 * pp + 5; ++mb)
      for (double fb : {1.5, 2.0, 2.5}) {
        const auto t = evaluate_timeline(build_schedule("dualpipev", pp, mb), durations(1, 1, 0.5, fb));
        EXPECT_DOUBLE_EQ(t.max_bubble, readme_dualpipe(2 * pp, fb, 1.5, 0.5)) << "pp " << pp << " mb " << mb;
      }
  // Cut in half: DualPipeV on pp devices with m micro-batches takes as long as DualPipe on 2pp devices with 2m
  // (m each way), for any chunk times.
  for (auto d : {durations(1, 1, 0.5, 2.0), durations(2, 3, 1, 4.5), durations(1, 2, 2)})
    EXPECT_DOUBLE_EQ(evaluate_timeline(build_schedule("dualpipev", 4, 8), d).makespan,
                     evaluate_timeline(build_schedule("dualpipe", 8, 16), d).makespan);
}

TEST(DualPipeV, TheTurnOfTheVNeedsNoTransfer) {
  // One device: both stages local, so a latency never shows: the bubble stays 0.
  const auto t = evaluate_timeline(build_schedule("dualpipev", 1, 3), durations(1, 1, 0.5, 2.0, 10.0));
  EXPECT_DOUBLE_EQ(t.max_bubble, 0.0);
}

// ---------------------------------------------------------------------------------------------------------------
// Every schedule on a grid

TEST(AllSchedules, RunEveryPassExactlyOnceAndRespectDependencies) {
  const std::vector<ChunkDurations> cases{durations(1, 1, 1), durations(1, 1.5, 0.5, 2.25, 0.125),
                                          durations(2, 3, 1, 4.0, 1.0), durations(0.5, 2, 3)};
  int programs = 0;
  for (const auto& info : schedule_registry())
    for (int pp = 1; pp <= 8; ++pp)
      for (int mb = 1; mb <= 3 * pp + 3; ++mb) {
        PipelineProgram p;
        try {
          p = build_schedule(info.name, pp, mb);
        } catch (const std::invalid_argument&) {
          continue;  // combinations a schedule cannot run are checked in Errors.*
        }
        ++programs;
        EXPECT_EQ(p.schedule, info.name);
        EXPECT_EQ(p.devices, pp);
        EXPECT_EQ(p.micro_batches, mb);
        for (const auto& d : cases) {
          const auto t = evaluate_timeline(p, d);  // throws if a pass is missing, repeated or deadlocked
          expect_dependencies_respected(p, t, d);
          for (double bubble : t.bubble) EXPECT_GE(bubble, 0.0);
        }
      }
  EXPECT_GT(programs, 300);
}

TEST(AllSchedules, RegistryListsTheFiveByName) {
  std::vector<std::string> names;
  for (const auto& info : schedule_registry()) {
    names.emplace_back(info.name);
    EXPECT_FALSE(info.description.empty());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"1f1b", "interleaved", "zb1p", "dualpipe", "dualpipev"}));
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

TEST(ScheduleErrors, BadScheduleArgumentsSayWhatIsWrong) {
  auto message = [](const char* name, int pp, int mb) {
    return error_of([&] { build_schedule(name, pp, mb); });
  };
  EXPECT_THROW(build_schedule("gpipe", 4, 8), std::invalid_argument);
  EXPECT_TRUE(contains(message("gpipe", 4, 8), "unknown pipeline schedule 'gpipe'"));
  EXPECT_TRUE(contains(message("gpipe", 4, 8), "dualpipev"));  // lists the known ones
  EXPECT_TRUE(contains(message("1f1b", 0, 8), "at least 1 pipeline device"));
  EXPECT_TRUE(contains(message("zb1p", 4, 0), "at least 1 micro-batch"));
  EXPECT_TRUE(contains(message("interleaved", 4, 6), "multiple of pp"));
  EXPECT_TRUE(contains(message("dualpipe", 3, 12), "pp must be even"));
  EXPECT_TRUE(contains(message("dualpipe", 4, 6), "at least 2*pp = 8"));
  EXPECT_TRUE(contains(message("dualpipe", 4, 9), "even"));
  EXPECT_TRUE(contains(message("dualpipev", 4, 7), "at least 2*pp = 8"));
  for (const char* name : {"interleaved", "dualpipe", "dualpipev"})
    EXPECT_THROW(build_schedule(name, 4, 6), std::invalid_argument);
  EXPECT_NO_THROW(build_schedule("dualpipev", 3, 7));  // DualPipeV needs neither even pp nor even micro-batches
}

TEST(ScheduleErrors, EvaluatorRejectsMalformedPrograms) {
  const auto good = build_schedule("1f1b", 2, 2);
  const auto d = durations(1, 1, 1);

  auto missing = good;
  missing.per_device[1].pop_back();
  EXPECT_THROW(evaluate_timeline(missing, d), std::logic_error);
  EXPECT_TRUE(contains(error_of([&] { evaluate_timeline(missing, d); }), "runs 0 times"));

  auto twice = good;
  twice.per_device[0].push_back(twice.per_device[0].front());
  EXPECT_TRUE(contains(error_of([&] { evaluate_timeline(twice, d); }), "runs 2 times"));

  auto wrong_device = good;
  wrong_device.per_device[0][0].stage = 1;
  EXPECT_TRUE(contains(error_of([&] { evaluate_timeline(wrong_device, d); }), "is on device 1"));

  // A backward placed before its own forward: nothing can ever start it.
  auto deadlock = good;
  std::swap(deadlock.per_device[1][0], deadlock.per_device[1][1]);  // B0 before F0 on the last device
  const std::string why = error_of([&] { evaluate_timeline(deadlock, d); });
  EXPECT_TRUE(contains(why, "deadlock")) << why;
  EXPECT_TRUE(contains(why, "device 1 at chunk 0 (B0.s1) waits for the forward of micro-batch 0 at stage 1")) << why;

  EXPECT_THROW(evaluate_timeline(good, durations(-1, 1, 1)), std::invalid_argument);
}

}  // namespace
}  // namespace fleetsim::schedule
