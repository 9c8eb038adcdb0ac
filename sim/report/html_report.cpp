#include "report/html_report.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/units.hpp"

namespace fleetsim {
namespace {

std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct Phase {
  const char* name;
  const char* colour;
  double PhaseTotals::*seconds;
};

// The contract's phases in the order they add up to the step (report.md), each with its colour.
const Phase kPhases[] = {
    {"forward", "#4e79a7", &PhaseTotals::forward_s},
    {"backward (input)", "#f28e2b", &PhaseTotals::backward_input_s},
    {"backward (weight)", "#59a14f", &PhaseTotals::backward_weight_s},
    {"overlapped F&amp;B", "#b07aa1", &PhaseTotals::overlapped_s},
    {"bubble", "#d3d3d3", &PhaseTotals::bubble_s},
    {"parameter update", "#76b7b2", &PhaseTotals::update_s},
};

std::string legend() {
  std::string html = "<p class=\"legend\">";
  for (const Phase& phase : kPhases)
    html += "<span><i style=\"background:" + std::string(phase.colour) + "\"></i>" + phase.name + "</span>";
  return html + "</p>\n";
}

// One stacked bar per pipeline device: its phases, seconds to the same scale.
std::string device_phases_svg(const StepBreakdown& step) {
  std::vector<PhaseTotals> devices = step.device_phases;
  if (devices.empty()) devices.push_back(step.phases);
  double longest = 0;
  for (const PhaseTotals& device : devices) {
    double total = 0;
    for (const Phase& phase : kPhases) total += device.*(phase.seconds);
    longest = std::max(longest, total);
  }
  const double label = 90, width = 760, row = 22;
  const double scale = longest > 0 ? width / longest : 0;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + format_fixed(label + width + 70, 0) +
                    "\" height=\"" + format_fixed(row * static_cast<double>(devices.size()) + 24, 0) + "\">\n";
  for (std::size_t d = 0; d < devices.size(); ++d) {
    const double y = row * static_cast<double>(d);
    const bool critical = step.device_phases.empty() || static_cast<int>(d) == step.phases.device;
    svg += "<text x=\"0\" y=\"" + format_fixed(y + 15, 0) + "\"" + (critical ? " font-weight=\"bold\"" : "") +
           ">device " + std::to_string(devices[d].device) + "</text>\n";
    double x = label;
    for (const Phase& phase : kPhases) {
      const double seconds = devices[d].*(phase.seconds);
      if (seconds <= 0) continue;
      svg += "<rect x=\"" + format_fixed(x, 2) + "\" y=\"" + format_fixed(y + 3, 0) + "\" width=\"" +
             format_fixed(seconds * scale, 2) + "\" height=\"16\" fill=\"" + phase.colour + "\"><title>device " +
             std::to_string(devices[d].device) + ": " + phase.name + " " + format_fixed(seconds, 3) +
             " s</title></rect>\n";
      x += seconds * scale;
    }
  }
  const double axis_y = row * static_cast<double>(devices.size()) + 16;
  svg += "<text x=\"" + format_fixed(label, 0) + "\" y=\"" + format_fixed(axis_y, 0) + "\">0 s</text><text x=\"" +
         format_fixed(label + width - 40, 0) + "\" y=\"" + format_fixed(axis_y, 0) + "\">" + format_fixed(longest, 3) +
         " s</text>\n";
  return svg + "</svg>\n";
}

const char* chunk_colour(std::string_view name, int stream) {
  if (stream != 0) return "#e15759";                               // communication stream
  if (name.find('&') != std::string_view::npos) return "#b07aa1";  // DualPipe's F&B pairs
  if (name.rfind("W", 0) == 0) return "#59a14f";
  if (name.rfind("B", 0) == 0) return "#f28e2b";
  if (name.rfind("F", 0) == 0) return "#4e79a7";
  return "#76b7b2";  // update, collectives on the compute stream
}

// The first pipeline's devices, two lanes each (compute, communication), time to scale.
std::string timeline_svg(const std::vector<TraceEvent>& trace, int pipeline_devices, double step_s) {
  const double label = 90, width = 900, lane = 11, gap = 6;
  const double scale = step_s > 0 ? width / step_s : 0;
  const double height = (2 * lane + gap) * pipeline_devices + 24;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + format_fixed(label + width + 20, 0) +
                    "\" height=\"" + format_fixed(height, 0) + "\">\n";
  for (int d = 0; d < pipeline_devices; ++d)
    svg += "<text x=\"0\" y=\"" + format_fixed((2 * lane + gap) * d + 2 * lane - 2, 0) + "\">device " +
           std::to_string(d) + "</text>\n";
  for (const TraceEvent& event : trace) {
    if (event.rank >= pipeline_devices) continue;  // full mode: the first replica's pipeline only
    const double y = (2 * lane + gap) * event.rank + lane * event.stream;
    const double w = std::max(0.3, (event.end_s - event.start_s) * scale);
    svg += "<rect x=\"" + format_fixed(label + event.start_s * scale, 2) + "\" y=\"" + format_fixed(y, 0) +
           "\" width=\"" + format_fixed(w, 2) + "\" height=\"" + format_fixed(lane - 1, 0) + "\" fill=\"" +
           chunk_colour(event.name, event.stream) + "\"><title>" + escape(event.name) + " " +
           format_fixed(event.start_s, 4) + "-" + format_fixed(event.end_s, 4) + " s</title></rect>\n";
  }
  const double axis_y = height - 6;
  svg += "<text x=\"" + format_fixed(label, 0) + "\" y=\"" + format_fixed(axis_y, 0) + "\">0 s</text><text x=\"" +
         format_fixed(label + width - 50, 0) + "\" y=\"" + format_fixed(axis_y, 0) + "\">" + format_fixed(step_s, 3) +
         " s</text>\n";
  return svg + "</svg>\n";
}

std::string memory_svg(const MemoryBreakdown& memory) {
  struct Part {
    const char* name;
    const char* colour;
    double bytes;
  };
  const Part parts[] = {{"weights", "#4e79a7", memory.weights_bytes},
                        {"gradients", "#f28e2b", memory.gradients_bytes},
                        {"optimizer states", "#59a14f", memory.optimizer_bytes},
                        {"activations", "#b07aa1", memory.activations_bytes},
                        {"reserved", "#d3d3d3", memory.reserved_bytes}};
  const double width = 760, scale = memory.capacity_bytes > 0 ? width / memory.capacity_bytes : 0;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + format_fixed(width + 10, 0) +
                    "\" height=\"48\">\n<rect x=\"0\" y=\"4\" width=\"" + format_fixed(width, 0) +
                    "\" height=\"20\" fill=\"none\" stroke=\"#333\"/>\n";
  double x = 0;
  for (const Part& part : parts) {
    if (part.bytes <= 0) continue;
    const double w = std::min(part.bytes * scale, std::max(0.0, width - x));
    svg += "<rect x=\"" + format_fixed(x, 2) + "\" y=\"5\" width=\"" + format_fixed(w, 2) + "\" height=\"18\" fill=\"" +
           part.colour + "\"><title>" + part.name + " " + format_bytes(part.bytes) + "</title></rect>\n";
    x += part.bytes * scale;
  }
  svg += "<text x=\"0\" y=\"42\">" + format_bytes(memory.total_bytes) + " of " + format_bytes(memory.capacity_bytes) +
         " (weights, gradients, optimizer states, activations, reserved)</text>\n";
  return svg + "</svg>\n";
}

}  // namespace

std::string training_report_html(const Scenario& scenario, const TrainingEstimate& estimate,
                                 const Provenance& provenance, const std::vector<TraceEvent>& trace) {
  const StepBreakdown& step = estimate.step;
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>fleetsim: " +
      escape(scenario.name) +
      "</title>\n<style>\nbody{font-family:sans-serif;margin:2em;max-width:1100px}\npre{background:#f6f6f6;"
      "padding:1em;overflow-x:auto}\nsvg{font-size:11px;font-family:sans-serif}\n.legend span{margin-right:1.2em}\n"
      ".legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}\n</style>\n"
      "</head>\n<body>\n<h1>fleetsim: " +
      escape(scenario.name) + "</h1>\n<p>fleetsim " + escape(provenance.version) + ", " +
      escape(provenance.network_backend) + " backend, profile " + escape(scenario.cluster.profile) + ", seed " +
      std::to_string(provenance.seed) + ". Step " + format_fixed(step.step_s, 3) + " s; the whole run " +
      format_fixed(estimate.wall_time_s / 86400.0, 1) + " days, " + format_si(estimate.gpu_hours) + " GPU-hours, $" +
      format_si(estimate.total_usd) + ".</p>\n<h2>Summary</h2>\n<pre>" +
      escape(training_report_text(scenario, estimate, provenance)) + "</pre>\n";
  html +=
      "<h2>Where each pipeline device's step goes</h2>\n<p>The phases of the contract's breakdown on every device "
      "(bold: the one the summary reports, which finishes last); they add up to the step. Hover for seconds.</p>\n" +
      legend() + device_phases_svg(step);
  html += "<h2>Memory per GPU (the fullest device)</h2>\n" + memory_svg(estimate.memory);
  html += "<h2>The simulated step</h2>\n";
  if (trace.empty()) {
    html +=
        "<p>The " + escape(estimate.backend) +
        " backend keeps no timeline; the SimGrid backend (the default, engine.backend: simgrid) draws it here.</p>\n";
  } else {
    html +=
        "<p>Each device of the first pipeline: its compute stream (upper lane) and communication stream (lower, "
        "red). Forward chunks blue, backward orange, weight-gradient green, overlapped F&amp;B pairs purple. "
        "`--trace FILE` has the same timeline for ui.perfetto.dev.</p>\n" +
        timeline_svg(trace, static_cast<int>(scenario.training->parallelism.pp), step.step_s);
  }
  return html + "</body>\n</html>\n";
}

}  // namespace fleetsim
