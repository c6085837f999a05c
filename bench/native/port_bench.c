/*
 * offheap — the benchmark port: the hooks of csrc/portable.h for the native
 * benchmark (bench/native/bench.c).
 *
 *  - custom_mmap / custom_direct_mmap: anonymous private mmap (zero-filled, so
 *    direct maps satisfy the "reads as zeros" rule).
 *  - custom_munmap: validates the range (page-aligned, length 0 is a no-op),
 *    then munmap.
 *  - locks: a one-word atomic CAS spinlock (0 = free, 1 = held). The
 *    uncontended path is a single CAS to acquire and a release store to
 *    release; under contention it spins on a plain load with a CPU pause for
 *    a short while, then falls back to sched_yield().
 *  - custom_abort: prints the message and aborts (a benchmark has nothing to
 *    recover).
 *
 * No counters, no logging: this port is meant to cost what a production port
 * costs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "portable.h"

#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define BENCH_PAGE 4096u

static void* map_anon(size_t length) {
  if (length == 0) return PORT_MFAIL;
  void* p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? PORT_MFAIL : p;
}

void* custom_mmap(size_t length) { return map_anon(length); }

void* custom_direct_mmap(size_t length) { return map_anon(length); }

int custom_munmap(void* ptr, size_t length) {
  if (((uintptr_t)ptr & (BENCH_PAGE - 1)) != 0 || (length & (BENCH_PAGE - 1)) != 0) return -1;
  if (length == 0) return 0;
  return munmap(ptr, length) == 0 ? 0 : -1;
}

/* ---- locks ------------------------------------------------------------------ */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

#define SPINS_BEFORE_YIELD 128

void init_lock(void** lock) { __atomic_store_n(lock, (void*)0, __ATOMIC_RELAXED); }

void final_lock(void** lock) { __atomic_store_n(lock, (void*)0, __ATOMIC_RELAXED); }

void acquire_lock(void** lock) {
  void* expected = (void*)0;
  if (__builtin_expect(__atomic_compare_exchange_n(lock, &expected, (void*)1, 0, __ATOMIC_ACQUIRE,
                                                   __ATOMIC_RELAXED),
                       1))
    return;
  for (unsigned spins = 0;; spins++) {
    /* Test before test-and-set: spin on a shared read, not on the CAS. */
    if (__atomic_load_n(lock, __ATOMIC_RELAXED) == (void*)0) {
      expected = (void*)0;
      if (__atomic_compare_exchange_n(lock, &expected, (void*)1, 0, __ATOMIC_ACQUIRE,
                                      __ATOMIC_RELAXED))
        return;
    }
    if (spins < SPINS_BEFORE_YIELD)
      cpu_relax();
    else
      sched_yield();
  }
}

void release_lock(void** lock) { __atomic_store_n(lock, (void*)0, __ATOMIC_RELEASE); }

/* ---- abort and printing --------------------------------------------------- */

void custom_abort(const char* message, const char* file, unsigned line) {
  fprintf(stderr, "bench: allocator abort: %s (%s:%u)\n", message ? message : "(null)",
          file ? file : "?", line);
  fflush(stderr);
  abort();
}

int dprintf2(const char* file, int line, const char* fmt, ...) {
  (void)file;
  (void)line;
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(stderr, fmt, ap);
  va_end(ap);
  return r;
}
