// Parsers of the scenario's sections (internal header). Each reads one mapping through the accessor layer
// (yaml_reader.hpp), fills a spec struct, and runs the checks that need only what is already known; the plan
// checks that tie the job to the model and the cluster run in parse_training / parse_inference, which therefore
// come after parse_model and parse_cluster.
#pragma once

#include <cstdint>
#include <string>

#include "scenario/bundles.hpp"
#include "scenario/yaml_reader.hpp"
#include "spec/cluster.hpp"
#include "spec/jobs.hpp"
#include "spec/model.hpp"

namespace fleetsim::scenario {

// `model:` — a bundled name (scalar) or an inline mapping.
ModelSpec parse_model(const Value& value, const LoadContext& context);
// The mapping of a model; `bundle_name` is the name it was loaded by ("" for an inline model).
ModelSpec parse_model_mapping(const Value& value, const std::string& bundle_name);

// `cluster.gpu:` — a bundled name (scalar) or an inline datasheet mapping.
GpuSpec parse_gpu(const Value& value, const LoadContext& context);
GpuSpec parse_gpu_mapping(const Value& value, const std::string& bundle_name);

ClusterSpec parse_cluster(const Map& cluster, const LoadContext& context);

// Parallel degrees shared by training and the serving pools (tp, pp, ep, dp, cp); dp is required, the rest are 1
// unless given. Checks that every degree divides `gpus` and that tp x pp x dp x cp == gpus, that ep fits the
// model and the dp x tp ranks, that tp divides the attention heads and pp does not exceed the layers.
// `gpus_key` names the GPU count in messages ("cluster.gpus", "inference.decode.gpus").
ParallelPlan parse_degrees(const Map& plan, std::int64_t gpus, const std::string& gpus_key, const ModelSpec& model);

TrainingJob parse_training(const Map& training, const ModelSpec& model, const ClusterSpec& cluster);
InferenceJob parse_inference(const Map& inference, const ModelSpec& model, const ClusterSpec& cluster,
                             const LoadContext& context);
CostSpec parse_cost(const Map& cost);
ReliabilitySpec parse_reliability(const Map& reliability);
EngineSpec parse_engine(const Map& engine);

}  // namespace fleetsim::scenario
