/*
 * offheap arena core — the lock (lock.h): states 0 free, 1 held, 2 held and
 * someone may be sleeping. The state lives in the 32-bit half of the word
 * that holds its low-order bits, which is what the futex waits on.
 */
#include "lock.h"

#include <sched.h>
#include <stdint.h>
#include <time.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

_Static_assert(sizeof(void*) >= sizeof(uint32_t), "the state fits in the word");

static inline uint32_t* state_of(void** word) {
  /* The low-order 32 bits of the word: the first half on little-endian machines. */
  uint32_t* halves = (uint32_t*)word;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return sizeof(void*) == 8 ? halves + 1 : halves;
#else
  return halves;
#endif
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void sleep_while(uint32_t* s, uint32_t value, unsigned round) {
#if defined(__linux__)
  (void)round;
  syscall(SYS_futex, s, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
#else
  (void)s;
  (void)value;
  if (round < 16) {
    sched_yield();
  } else {
    struct timespec ts = {0, 50000}; /* 50 us */
    nanosleep(&ts, NULL);
  }
#endif
}

static void wake_one(uint32_t* s) {
#if defined(__linux__)
  syscall(SYS_futex, s, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
  (void)s;
#endif
}

enum { SPINS = 128 };

int oh_lock_try(void** word) {
  uint32_t expected = 0;
  return __atomic_compare_exchange_n(state_of(word), &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void oh_lock_acquire(void** word) {
  uint32_t* s = state_of(word);
  if (oh_lock_try(word)) return;
  for (unsigned i = 0; i < SPINS; i++) {
    cpu_relax();
    if (__atomic_load_n(s, __ATOMIC_RELAXED) == 0 && oh_lock_try(word)) return;
  }
  /* Contended: mark the word 2 and sleep until a release wakes us. Whoever
   * takes the lock from here on takes it as 2, since others may be asleep. */
  for (unsigned round = 0;; round++) {
    if (__atomic_exchange_n(s, 2, __ATOMIC_ACQUIRE) == 0) return;
    sleep_while(s, 2, round);
  }
}

void oh_lock_release(void** word) {
  uint32_t* s = state_of(word);
  if (__atomic_exchange_n(s, 0, __ATOMIC_RELEASE) == 2) wake_one(s);
}
