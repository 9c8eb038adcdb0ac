// `fleetsim validate`: runs the bundled scenarios named in scenarios/validation/published.csv and prints each
// prediction beside the published figure with its relative error. Checks, never inputs.
#pragma once

#include <ostream>

namespace fleetsim::cli {

int validate_command(std::ostream& out);

}  // namespace fleetsim::cli
