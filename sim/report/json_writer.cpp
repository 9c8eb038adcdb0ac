#include "report/json_writer.hpp"

#include <cmath>
#include <cstdio>

namespace fleetsim {

std::string json_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  return out;
}

void JsonWriter::newline() {
  text_ += '\n';
  text_.append(static_cast<std::size_t>(depth_) * 2, ' ');
}

void JsonWriter::key_prefix(std::string_view key) {
  if (depth_ > 0) {
    if (!first_in_scope_) text_ += ',';
    newline();
  }
  first_in_scope_ = false;
  if (!key.empty()) text_ += "\"" + json_escape(key) + "\": ";
}

JsonWriter& JsonWriter::begin_object(std::string_view key) {
  key_prefix(key);
  text_ += '{';
  ++depth_;
  first_in_scope_ = true;
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  --depth_;
  if (!first_in_scope_) newline();
  text_ += '}';
  first_in_scope_ = false;
  if (depth_ == 0) text_ += '\n';
  return *this;
}

JsonWriter& JsonWriter::begin_array(std::string_view key) {
  key_prefix(key);
  text_ += '[';
  ++depth_;
  first_in_scope_ = true;
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  --depth_;
  if (!first_in_scope_) newline();
  text_ += ']';
  first_in_scope_ = false;
  return *this;
}

std::string format_report_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.10g", value);
  return buffer;
}

JsonWriter& JsonWriter::number(std::string_view key, double value) {
  key_prefix(key);
  text_ += format_report_number(value);  // "null" when not finite
  return *this;
}

JsonWriter& JsonWriter::integer(std::string_view key, long long value) {
  key_prefix(key);
  text_ += std::to_string(value);
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view key, std::string_view value) {
  key_prefix(key);
  text_ += "\"" + json_escape(value) + "\"";
  return *this;
}

JsonWriter& JsonWriter::boolean(std::string_view key, bool value) {
  key_prefix(key);
  text_ += value ? "true" : "false";
  return *this;
}

}  // namespace fleetsim
