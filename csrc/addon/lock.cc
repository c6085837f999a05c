/*
 * offheap glue — the lock (lock.h): states 0 free, 1 held, 2 held and
 * someone may be sleeping. The state lives in the 32-bit half of the word
 * that holds its low-order bits, which is what the futex waits on.
 */
#include "lock.h"

#include <sched.h>
#include <time.h>

#include <cstdint>
#include <cstring>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace offheap {

static inline uint32_t* state_of(void** word) {
  /* The low-order 32 bits of the word: the first half on little-endian machines. */
  uint32_t* halves = reinterpret_cast<uint32_t*>(word);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return sizeof(void*) == 8 ? halves + 1 : halves;
#else
  return halves;
#endif
}

static inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void sleep_while(uint32_t* s, uint32_t value, unsigned round) {
#if defined(__linux__)
  (void)round;
  syscall(SYS_futex, s, FUTEX_WAIT_PRIVATE, value, nullptr, nullptr, 0);
#else
  (void)s;
  (void)value;
  if (round < 16) {
    sched_yield();
  } else {
    struct timespec ts = {0, 50000}; /* 50 us */
    nanosleep(&ts, nullptr);
  }
#endif
}

static void wake_one(uint32_t* s) {
#if defined(__linux__)
  syscall(SYS_futex, s, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
#else
  (void)s;
#endif
}

static const unsigned kSpins = 128;

void word_lock_acquire(void** word) {
  uint32_t* s = state_of(word);
  uint32_t expected = 0;
  if (__atomic_compare_exchange_n(s, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
  for (unsigned i = 0; i < kSpins; i++) {
    cpu_relax();
    expected = 0;
    if (__atomic_load_n(s, __ATOMIC_RELAXED) == 0 &&
        __atomic_compare_exchange_n(s, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
      return;
  }
  /* Contended: mark the word 2 and sleep until a release wakes us. Whoever
   * takes the lock from here on takes it as 2, since others may be asleep. */
  for (unsigned round = 0;; round++) {
    if (__atomic_exchange_n(s, 2, __ATOMIC_ACQUIRE) == 0) return;
    sleep_while(s, 2, round);
  }
}

void word_lock_release(void** word) {
  uint32_t* s = state_of(word);
  if (__atomic_exchange_n(s, 0, __ATOMIC_RELEASE) == 2) wake_one(s);
}

}  // namespace offheap
