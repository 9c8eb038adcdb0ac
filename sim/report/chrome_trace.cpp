#include "report/chrome_trace.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include "report/json_writer.hpp"

namespace fleetsim {

std::string chrome_trace_json(const std::vector<TraceEvent>& events, int pipeline_devices) {
  std::string out = "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";
  char line[256];
  bool first = true;
  auto emit = [&](const char* text) {
    if (!first) out += ",\n";
    first = false;
    out += text;
  };
  std::set<int> ranks;
  for (const auto& event : events) ranks.insert(event.rank);
  for (int rank : ranks) {
    const int device = pipeline_devices > 0 ? rank % pipeline_devices : rank;
    std::snprintf(line, sizeof line,
                  "{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": %d, \"args\": {\"name\": \"GPU %d "
                  "(pipeline %d, device %d)\"}}",
                  rank, rank, pipeline_devices > 0 ? rank / pipeline_devices : 0, device);
    emit(line);
    std::snprintf(line, sizeof line,
                  "{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": %d, \"tid\": 0, \"args\": {\"name\": "
                  "\"compute\"}}",
                  rank);
    emit(line);
    std::snprintf(line, sizeof line,
                  "{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": %d, \"tid\": 1, \"args\": {\"name\": "
                  "\"communication\"}}",
                  rank);
    emit(line);
  }
  // Complete events ("X") in microseconds, as the format wants.
  for (const auto& event : events) {
    std::snprintf(line, sizeof line, "{\"ph\": \"X\", \"pid\": %d, \"tid\": %d, \"ts\": %.3f, \"dur\": %.3f, \"name\": \"%s\"}",
                  event.rank, event.stream, event.start_s * 1e6, (event.end_s - event.start_s) * 1e6,
                  json_escape(event.name).c_str());
    emit(line);
  }
  out += "\n]}\n";
  return out;
}

}  // namespace fleetsim
