#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "report/json_writer.hpp"

namespace fleetsim {
namespace {

TEST(JsonWriter, WritesNestedObjectsInOrderWithFixedNumberFormat) {
  JsonWriter json;
  json.begin_object().string("name", "a\"b").begin_object("inner").number("x", 0.1).integer("n", 3).end_object();
  json.number("nan", std::numeric_limits<double>::quiet_NaN()).end_object();
  EXPECT_EQ(json.text(), "{\n  \"name\": \"a\\\"b\",\n  \"inner\": {\n    \"x\": 0.1,\n    \"n\": 3\n  },\n"
                         "  \"nan\": null\n}\n");
}

TEST(AtomicFile, WritesTheWholeFileAndLeavesNoTemporary) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / "fleetsim-atomic-test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_output((dir / "out.json").string(), "{}\n", "--json");
  std::ifstream in(dir / "out.json");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "{}\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  EXPECT_THROW(write_output((dir / "missing" / "out.json").string(), "{}", "--json"), InputError);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fleetsim
