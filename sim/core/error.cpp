#include "core/error.hpp"

namespace fleetsim {

std::string format_input_error(const SourceLocation& where, const std::string& key_path, const std::string& detail) {
  std::string text = where.file.empty() ? std::string("<scenario>") : where.file;
  if (where.line > 0) text += ":" + std::to_string(where.line);
  text += ": ";
  if (!key_path.empty()) text += key_path + ": ";
  text += detail;
  return text;
}

InputError::InputError(SourceLocation where, std::string key_path, std::string what_was_wrong)
    : std::runtime_error(format_input_error(where, key_path, what_was_wrong)),
      where_(std::move(where)),
      key_path_(std::move(key_path)),
      detail_(std::move(what_was_wrong)) {}

}  // namespace fleetsim
