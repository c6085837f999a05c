/*
 * offheap — a minimal test harness for the C core.
 *
 *   TEST(name) { CHECK(expr); CHECK_EQ_SZ(a, b); ... }
 *   int main(void) { RUN(name); ...; return test_summary("suite"); }
 *
 * A test passes when none of its checks failed. test_summary prints one
 * human line and one machine line ("RESULT <passed> <failed>") that
 * test/c/run.sh adds up, and returns the process exit status.
 */
#ifndef OFFHEAP_TESTHELPER_H
#define OFFHEAP_TESTHELPER_H

#include <stdio.h>
#include <stdint.h>

static int test_failed_checks;
static int tests_passed;
static int tests_failed;
static const char* test_current = "";

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      test_failed_checks++;                                                        \
      fprintf(stderr, "  FAIL %s (%s:%d): %s\n", test_current, __FILE__, __LINE__, \
              #cond);                                                              \
    }                                                                              \
  } while (0)

/* Compare two size-like values and print both on failure. */
#define CHECK_EQ_SZ(a, b)                                                                  \
  do {                                                                                     \
    unsigned long long check_a_ = (unsigned long long)(a);                                 \
    unsigned long long check_b_ = (unsigned long long)(b);                                 \
    if (check_a_ != check_b_) {                                                            \
      test_failed_checks++;                                                                \
      fprintf(stderr, "  FAIL %s (%s:%d): %s == %s (0x%llx != 0x%llx)\n", test_current,    \
              __FILE__, __LINE__, #a, #b, check_a_, check_b_);                             \
    }                                                                                      \
  } while (0)

#define RUN(name)                                                  \
  do {                                                             \
    int before_ = test_failed_checks;                              \
    test_current = #name;                                          \
    name();                                                        \
    if (test_failed_checks == before_) {                           \
      tests_passed++;                                              \
    } else {                                                       \
      tests_failed++;                                              \
      fprintf(stderr, "  test %s failed\n", #name);                \
    }                                                              \
  } while (0)

static inline int test_summary(const char* suite) {
  printf("%s: %d ok, %d failing\n", suite, tests_passed, tests_failed);
  printf("RESULT %d %d\n", tests_passed, tests_failed);
  fflush(stdout);
  return tests_failed == 0 ? 0 : 1;
}

/* Deterministic pseudo-random numbers (xorshift64*), so every run of a
 * randomised test is reproducible from its seed. */
typedef struct { uint64_t s; } test_rng;
static inline uint64_t test_rng_next(test_rng* r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1DULL;
}
/* Uniform in [0, n). */
static inline uint64_t test_rng_below(test_rng* r, uint64_t n) {
  return n ? test_rng_next(r) % n : 0;
}

#endif
