/*
 * offheap — a minimal test harness for the C core.
 *
 *   TEST(name) { CHECK(expr); CHECK_EQ_SZ(a, b); ... }
 *   int main(void) { RUN(name); RUN_FORKED(other); ...; return test_summary("suite"); }
 *
 * A test passes when none of its checks failed. test_summary prints one
 * human line and one machine line ("RESULT <passed> <failed>") that
 * test/c/run.sh adds up, and returns the process exit status.
 */
#ifndef OFFHEAP_TESTHELPER_H
#define OFFHEAP_TESTHELPER_H

#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Compare two C strings (NULL-safe) and print both on failure. */
#define CHECK_STREQ(a, b)                                                               \
  do {                                                                                  \
    const char* check_sa_ = (a);                                                        \
    const char* check_sb_ = (b);                                                        \
    if (!check_sa_ || !check_sb_ || strcmp(check_sa_, check_sb_) != 0) {                \
      test_failed_checks++;                                                             \
      fprintf(stderr, "  FAIL %s (%s:%d): %s == %s (\"%s\" != \"%s\")\n", test_current,  \
              __FILE__, __LINE__, #a, #b, check_sa_ ? check_sa_ : "(null)",             \
              check_sb_ ? check_sb_ : "(null)");                                        \
    }                                                                                   \
  } while (0)

/* Seconds a forked test may run before it is killed (SIGALRM) and counted as
 * failed, so that a deadlock fails the suite instead of hanging it. A suite
 * may define its own value before including this header. */
#ifndef TEST_FORK_TIMEOUT_S
#define TEST_FORK_TIMEOUT_S 120
#endif

static inline const char* test_signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGALRM: return "SIGALRM (timeout)";
    case SIGKILL: return "SIGKILL";
    case SIGTRAP: return "SIGTRAP";
    default: return "signal";
  }
}

/* Run one test in a forked child process: it gets a fresh copy of the
 * parent's state (a fresh global heap if the parent never touched it), and a
 * crash, an abort() or a hang in it is reported as a failure of that test
 * instead of ending the suite. The child exits 0 when none of its checks
 * failed, 1 otherwise; a child killed by a signal counts as failed and the
 * signal is printed. */
static inline void test_run_forked_(void (*fn)(void), const char* name) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "  test %s failed: fork: errno %d\n", name, errno);
    tests_failed++;
    return;
  }
  if (pid == 0) {
    alarm(TEST_FORK_TIMEOUT_S);
    test_current = name;
    test_failed_checks = 0;
    fn();
    fflush(stdout);
    fflush(stderr);
    _exit(test_failed_checks == 0 ? 0 : 1);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "  test %s failed: waitpid: errno %d\n", name, errno);
      tests_failed++;
      return;
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    tests_passed++;
  } else {
    tests_failed++;
    if (WIFSIGNALED(status))
      fprintf(stderr, "  test %s failed: child killed by signal %d (%s)\n", name,
              WTERMSIG(status), test_signal_name(WTERMSIG(status)));
    else
      fprintf(stderr, "  test %s failed (child exit status %d)\n", name,
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }
}
#define RUN_FORKED(name) test_run_forked_(name, #name)

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
