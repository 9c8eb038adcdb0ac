// fleetsim-fit PROFILE_DIR: fits efficiency curves to a profile's tables (see fit.hpp) and writes fit.csv and
// efficiency.csv beside them. Exit 0 on success, 1 on error, 2 on bad usage.
#include <cstdio>
#include <exception>

#include "fit/fit.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fleetsim-fit PROFILE_DIR\n");
    return 2;
  }
  try {
    const auto curves = fleetsim::calibration::fit_profile(argv[1]);
    if (curves.empty()) {
      std::fprintf(stderr, "fleetsim-fit: no table with fittable rows in %s\n", argv[1]);
      return 1;
    }
    std::printf("%s", fleetsim::calibration::write_fit(argv[1], curves).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fleetsim-fit: %s\n", e.what());
    return 1;
  }
}
