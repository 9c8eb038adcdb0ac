// CPU tests of kernels/ and calibration/: `fleetsim-kernels-ref-tests [GROUP]` (see CMakeLists.txt).
#include "common/harness.hpp"

int main(int argc, char** argv) { return fleetsim::kernels::harness::run_main(argc, argv); }
