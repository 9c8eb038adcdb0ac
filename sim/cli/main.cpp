#include "cli/commands.hpp"

int main(int argc, char** argv) { return fleetsim::cli::main_entry(argc, argv); }
