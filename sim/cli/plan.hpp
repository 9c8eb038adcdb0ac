// `fleetsim plan`: the cheapest way to run a training scenario that meets goals on its results. The candidates are
// GPU counts (--gpus, else the scenario's count times 1/8 .. 16) crossed with the combinations of --vary/--with keys;
// each runs as `fleetsim run` would with cluster.gpus set and training.parallelism.dp: auto (the GPUs over
// tp x pp x cp). Goals (--goal KEY=VALUE in the key's better direction, or KEY<=VALUE, KEY>=VALUE, on JSON
// report keys) must all hold; the objective
// (--minimize KEY, default cost.total_usd) ranks the candidates that meet them, ties to fewer GPUs.
#pragma once

namespace fleetsim::cli {

extern const char* const kPlanUsage;

int plan_command(int argc, char** argv);

}  // namespace fleetsim::cli
