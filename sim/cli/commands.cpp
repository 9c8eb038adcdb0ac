#include "cli/commands.hpp"

#include <cstdio>

namespace fleetsim::cli {
int main_entry(int, char**) {
  std::fprintf(stderr, "fleetsim: under construction\n");
  return 1;
}
}  // namespace fleetsim::cli
