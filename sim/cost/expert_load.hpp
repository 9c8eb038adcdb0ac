// The routed-expert load of the busiest GPU of an EP group in one MoE layer of one micro-batch.
//
// A router balanced in expectation (DeepSeek-V3's auxiliary-loss-free bias, V3 §2.1.2, keeps every expert's load
// even over a batch) still hands each GPU a random number of token copies per micro-batch: every token draws its
// own top-k experts. The combine all-to-all of each MoE layer waits for the GPU whose experts received the most,
// so an EP group of n GPUs moves at the pace of the largest of n draws, not the mean. The model takes tokens as
// independent draws, uniform over the groups a token may use (group-limited routing: `groups_per_token` of
// `groups`, uniformly) and then uniform over the experts of those groups, top_k of them without repetition. This
// is the least imbalance a balanced router leaves: tokens of one sequence share a domain and their experts (V3
// Figure 9 shows experts specialising by domain), which only adds to it.
//
// Each GPU's copies are a sum of `tokens` independent per-token counts, so they are normal to a good approximation
// (the mean is hundreds to tens of thousands of copies); the busiest of n GPUs is about E[max of n standard
// normals] standard deviations above the mean (sim/core/order_statistics).
#pragma once

#include <cstdint>

namespace fleetsim {

struct RoutingShape {
  std::int64_t experts = 1;           // routed experts
  std::int64_t top_k = 1;             // experts per token
  std::int64_t groups = 1;            // expert groups (contiguous: group j holds experts j E/G .. (j+1) E/G - 1)
  std::int64_t groups_per_token = 1;  // groups a token's experts may come from
  std::int64_t gpus = 1;              // the EP group: GPU i holds experts i E/n .. (i+1) E/n - 1
  double tokens = 0;                  // tokens the whole EP group routes in one micro-batch (every GPU's share)
};

// Mean and variance of the number of copies one token puts on GPU `gpu`'s experts (exact for the model above).
struct CopiesPerToken {
  double mean = 0;
  double variance = 0;
};
CopiesPerToken copies_per_token(const RoutingShape& shape, std::int64_t gpu);

// E[the busiest GPU's copies] / mean copies per GPU, for one layer of one micro-batch: 1 + sqrt(n / (n - 1)) x
// E[max of n standard normals] x sd / mean (the counts' sum is fixed), with the variance averaged over the GPUs (equal
// on every GPU where each GPU's experts sit in one group, or span whole groups). 1 for a single GPU, or one holding
// every expert. Throws std::invalid_argument for a shape that cannot route (experts not divisible by groups or gpus,
// top_k more than a token can reach, no tokens).
double busiest_gpu_load_ratio(const RoutingShape& shape);

}  // namespace fleetsim
