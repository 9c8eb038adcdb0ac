// Writes an output file so that readers never see half of it: the text goes to a temporary file beside the target,
// which is renamed over the target only once fully written. "-" means standard output.
#pragma once

#include <string>

namespace fleetsim {

// Throws InputError (key = `option`, e.g. "--json") when the file cannot be written; no temporary is left behind.
void write_output(const std::string& path, const std::string& text, const std::string& option);

}  // namespace fleetsim
