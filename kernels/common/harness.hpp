// A tiny self-contained test harness for kernels/ (the GPU box has no GoogleTest).
//   KTEST(group, name) { KCHECK(cond); KCHECK_NEAR(a, b, tol); }
//   int main(int argc, char** argv) { return fleetsim::kernels::harness::run_main(argc, argv); }
// `prog GROUP` runs only that group's tests. The last line printed is "N passed, N failed" (what CI reads);
// the exit code is 0 when nothing failed, 1 otherwise, and kSkip (77, CTest's SKIP_RETURN_CODE) when a test
// called KSKIP and nothing failed.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace fleetsim::kernels::harness {

inline constexpr int kSkip = 77;

struct TestCase {
  const char* group;
  const char* name;
  void (*body)();
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}
inline int& failures_in_current() {
  static int count = 0;
  return count;
}
inline bool& skipped_current() {
  static bool skipped = false;
  return skipped;
}
inline bool add(const char* group, const char* name, void (*body)()) {
  registry().push_back({group, name, body});
  return true;
}
inline void fail(const char* file, int line, const std::string& what) {
  std::printf("  FAIL %s:%d: %s\n", file, line, what.c_str());
  ++failures_in_current();
}

inline int run_main(int argc, char** argv) {
  const char* only = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0, skipped = 0;
  for (const TestCase& test : registry()) {
    if (only && std::strcmp(only, test.group) != 0) continue;
    failures_in_current() = 0;
    skipped_current() = false;
    test.body();
    const char* verdict = failures_in_current() ? "FAIL" : (skipped_current() ? "SKIP" : "ok");
    std::printf("[%s] %s.%s\n", verdict, test.group, test.name);
    if (failures_in_current()) ++failed;
    else if (skipped_current()) ++skipped;
    else ++passed;
  }
  if (passed + failed + skipped == 0) {
    std::printf("no test matches '%s'\n", only ? only : "");
    return 1;
  }
  if (skipped) std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  else std::printf("%d passed, %d failed\n", passed, failed);
  if (failed) return 1;
  return (skipped && passed == 0) ? kSkip : 0;
}

}  // namespace fleetsim::kernels::harness

#define KTEST(group, name)                                                                                 \
  static void ktest_##group##_##name();                                                                    \
  static const bool ktest_registered_##group##_##name =                                                    \
      ::fleetsim::kernels::harness::add(#group, #name, &ktest_##group##_##name);                           \
  static void ktest_##group##_##name()

#define KCHECK(cond)                                                                                       \
  do {                                                                                                     \
    if (!(cond)) ::fleetsim::kernels::harness::fail(__FILE__, __LINE__, "KCHECK(" #cond ")");              \
  } while (0)

#define KCHECK_NEAR(a, b, tol)                                                                             \
  do {                                                                                                     \
    const double kcheck_a_ = static_cast<double>(a), kcheck_b_ = static_cast<double>(b);                   \
    if (!(std::fabs(kcheck_a_ - kcheck_b_) <= static_cast<double>(tol))) {                                 \
      char kcheck_msg_[256];                                                                               \
      std::snprintf(kcheck_msg_, sizeof kcheck_msg_, "%s = %.9g, %s = %.9g, |diff| > %g", #a, kcheck_a_,    \
                    #b, kcheck_b_, static_cast<double>(tol));                                              \
      ::fleetsim::kernels::harness::fail(__FILE__, __LINE__, kcheck_msg_);                                 \
    }                                                                                                      \
  } while (0)

#define KSKIP(why)                                                                                         \
  do {                                                                                                     \
    std::printf("  SKIP: %s\n", why);                                                                      \
    ::fleetsim::kernels::harness::skipped_current() = true;                                                \
    return;                                                                                                \
  } while (0)
