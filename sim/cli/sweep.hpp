// `fleetsim sweep`: one scenario run once per combination of `--vary` values (their cartesian product, the first
// --vary outermost), each exactly as `fleetsim run --set KEY=VALUE ...` would run it, tabulated: a text table on
// stdout, the same rows as CSV with --csv. A combination that cannot run (degrees that do not divide, a plan that does
// not fit in memory) is a row with its error; the sweep fails (exit 2) only when none can run. --jobs N runs the
// combinations in N worker processes; the output is the same bytes whatever N is.
#pragma once

namespace fleetsim::cli {

extern const char* const kSweepUsage;

int sweep_command(int argc, char** argv);

}  // namespace fleetsim::cli
