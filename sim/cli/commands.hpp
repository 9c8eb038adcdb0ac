// The command-line front end: argument parsing and the subcommands of the contract
// (run, sweep, plan, calibrate, validate). Exit codes: 0 success, 2 bad input, 1 internal error.
#pragma once

namespace fleetsim::cli {

int main_entry(int argc, char** argv);

}  // namespace fleetsim::cli
