/*
 * offheap — the test port (see port_test.h): hooks over the real mmap, a
 * spin-then-yield lock, and an abort hook tests can catch.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "port_test.h"

#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

port_state_t port_state;
jmp_buf port_abort_jmp;
static int port_abort_armed;

/* The reserved area of the bump modes: 1 GiB of address space. */
#define BUMP_AREA_SIZE ((size_t)1 << 30)
static char* bump_area;
static size_t bump_low, bump_high; /* used: [bump_low, bump_high) within the area */

void port_reset_counters(void) {
  int mode = port_state.mmap_mode, direct = port_state.direct_enabled;
  memset(&port_state, 0, sizeof port_state);
  port_state.mmap_mode = mode;
  port_state.direct_enabled = direct;
}

void port_reset(void) { memset(&port_state, 0, sizeof port_state); }

void* port_bump_area(void) { return bump_area; }

/* Hooks of different heaps run concurrently (each heap only serialises its
 * own), so a slot is reserved atomically and the count never passes the end. */
static void log_call(char kind, void* ptr, size_t length, int result) {
  int i = __atomic_load_n(&port_state.n_log, __ATOMIC_RELAXED);
  do {
    if (i >= PORT_LOG_MAX) return;
  } while (!__atomic_compare_exchange_n(&port_state.n_log, &i, i + 1, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED));
  port_call* c = &port_state.log[i];
  c->kind = kind;
  c->ptr = ptr;
  c->length = length;
  c->result = result;
}

static void* bump_map(size_t length) {
  if (!bump_area) {
    void* a = mmap(NULL, BUMP_AREA_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (a == MAP_FAILED) return PORT_MFAIL;
    bump_area = (char*)a;
    bump_low = bump_high = BUMP_AREA_SIZE / 2;
  }
  char* p;
  if (port_state.mmap_mode == PORT_MMAP_BOTTOM_UP) {
    if (length > BUMP_AREA_SIZE - bump_high) return PORT_MFAIL;
    p = bump_area + bump_high;
    bump_high += length;
  } else {
    if (length > bump_low) return PORT_MFAIL;
    bump_low -= length;
    p = bump_area + bump_low;
  }
  /* Fresh pages every time: what a real mmap would give. */
  if (mmap(p, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
      MAP_FAILED)
    return PORT_MFAIL;
  return p;
}

static void* map_pages(size_t length) {
  if (length == 0) return PORT_MFAIL;
  if (port_state.mmap_mode != PORT_MMAP_SYSTEM) return bump_map(length);
  void* p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? PORT_MFAIL : p;
}

void* custom_mmap(size_t length) {
  __atomic_fetch_add(&port_state.n_mmap, 1, __ATOMIC_RELAXED);
  void* p = PORT_MFAIL;
  if (port_state.fail_next_mmaps > 0) {
    port_state.fail_next_mmaps--;
  } else if (!port_state.fail_all_mmaps) {
    p = map_pages(length);
  }
  log_call('m', p, length, 0);
  return p;
}

void* custom_direct_mmap(size_t length) {
  __atomic_fetch_add(&port_state.n_direct, 1, __ATOMIC_RELAXED);
  void* p = PORT_MFAIL;
  if (port_state.direct_enabled && !port_state.fail_all_mmaps) p = map_pages(length);
  log_call('d', p, length, 0);
  return p;
}

int custom_munmap(void* ptr, size_t length) {
  __atomic_fetch_add(&port_state.n_munmap, 1, __ATOMIC_RELAXED);
  int r;
  if (((uintptr_t)ptr & 4095) != 0 || (length & 4095) != 0) {
    r = -1; /* a bogus range: refuse, as a robust port must */
  } else if (length == 0) {
    r = 0;
  } else if (port_state.mmap_mode != PORT_MMAP_SYSTEM) {
    /* Keep the address range reserved; drop the pages. */
    r = mmap(ptr, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
             0) == MAP_FAILED
            ? -1
            : 0;
  } else {
    r = munmap(ptr, length);
  }
  log_call('u', ptr, length, r);
  return r;
}

/* ---- locks: a word that is 0 when free and 1 when held ------------------- */

/* Locks the current thread holds, so an abort can release them. */
#define HELD_MAX 4
static __thread void** held[HELD_MAX];
static __thread int n_held;

void init_lock(void** lock) {
  __atomic_fetch_add(&port_state.n_init_lock, 1, __ATOMIC_RELAXED);
  *lock = NULL;
}

void final_lock(void** lock) {
  __atomic_fetch_add(&port_state.n_final_lock, 1, __ATOMIC_RELAXED);
  *lock = NULL;
}

void acquire_lock(void** lock) {
  __atomic_fetch_add(&port_state.n_acquire, 1, __ATOMIC_RELAXED);
  for (unsigned spins = 0;; spins++) {
    void* expected = NULL;
    if (__atomic_compare_exchange_n(lock, &expected, (void*)1, 0, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED))
      break;
    if (spins >= 64) sched_yield();
  }
  if (n_held < HELD_MAX) held[n_held++] = lock;
}

void release_lock(void** lock) {
  __atomic_fetch_add(&port_state.n_release, 1, __ATOMIC_RELAXED);
  for (int i = n_held - 1; i >= 0; i--) {
    if (held[i] == lock) {
      held[i] = held[--n_held];
      break;
    }
  }
  __atomic_store_n(lock, NULL, __ATOMIC_RELEASE);
}

/* ---- abort ----------------------------------------------------------------- */

void port_arm(void) {
  port_abort_armed = 1;
}

void port_disarm(void) { port_abort_armed = 0; }

void custom_abort(const char* message, const char* file, unsigned line) {
  port_state.n_abort++;
  port_state.last_abort = message;
  if (port_abort_armed) {
    port_abort_armed = 0;
    while (n_held > 0) release_lock(held[n_held - 1]);
    longjmp(port_abort_jmp, 1);
  }
  fprintf(stderr, "custom_abort: %s (%s:%u)\n", message, file, line);
  abort();
}

int dprintf2(const char* file, int line, const char* fmt, ...) {
  (void)file;
  (void)line;
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(stdout, fmt, ap);
  va_end(ap);
  return r;
}
