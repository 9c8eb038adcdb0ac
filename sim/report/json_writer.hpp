// A minimal JSON writer with a fixed key order and a fixed number format, so that the same estimate always gives
// the same bytes (the contract's reproducibility rule). Numbers use the shortest "%.10g" form; non-finite numbers
// become null.
#pragma once

#include <string>
#include <string_view>

namespace fleetsim {

// A number as the report writes it: "%.10g", "null" when not finite. `fleetsim sweep` and `plan` write their CSV
// cells with it, so a cell and the report's value are the same text.
std::string format_report_number(double value);

class JsonWriter {
 public:
  JsonWriter& begin_object(std::string_view key = {});
  JsonWriter& end_object();
  JsonWriter& begin_array(std::string_view key = {});
  JsonWriter& end_array();
  JsonWriter& number(std::string_view key, double value);
  JsonWriter& integer(std::string_view key, long long value);
  JsonWriter& string(std::string_view key, std::string_view value);
  JsonWriter& boolean(std::string_view key, bool value);
  const std::string& text() const { return text_; }

 private:
  void key_prefix(std::string_view key);
  void newline();
  std::string text_;
  int depth_ = 0;
  bool first_in_scope_ = true;
};

std::string json_escape(std::string_view text);

}  // namespace fleetsim
