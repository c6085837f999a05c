/*
 * offheap — the test port (see port_test.h): mapping hooks over the real mmap
 * or an attached page provider, a test-and-test-and-set spinlock, and an
 * abort hook tests can catch.
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

/* The reserved area of the bump modes: 1 GiB of address space. */
#define BUMP_AREA_SIZE ((size_t)1 << 30)
static char* bump_area;
static size_t bump_low, bump_high; /* used: [bump_low, bump_high) within the area */

/* The attached page provider, when `pages_attached`. */
static port_pages pages;
static int pages_attached;

void port_reset_counters(void) {
  int mode = port_state.mmap_mode, direct = port_state.direct_enabled;
  const char* label = port_state.abort_label;
  memset(&port_state, 0, sizeof port_state);
  port_state.mmap_mode = mode;
  port_state.direct_enabled = direct;
  port_state.abort_label = label;
}

void port_reset(void) { memset(&port_state, 0, sizeof port_state); }

void* port_bump_area(void) { return bump_area; }

void port_attach_pages(const port_pages* p) {
  if (p) pages = *p;
  pages_attached = p != NULL;
}

#ifdef PORT_TEST_LEAN
/* No bookkeeping: the hooks only do their work. */
#define COUNT(counter) ((void)0)
#define log_call(kind, ptr, length, result) ((void)0)
#else
#define COUNT(counter) __atomic_fetch_add(&port_state.counter, 1, __ATOMIC_RELAXED)

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
#endif

/* ---- mapping hooks ------------------------------------------------------------ */

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

/* Anonymous mappings read as zeros, so `zeroed` only matters to a provider. */
static void* map_pages(size_t length, int zeroed) {
  if (pages_attached) {
    void* p = pages.alloc(pages.ctx, length, zeroed);
    return p ? p : PORT_MFAIL;
  }
  if (length == 0) return PORT_MFAIL;
  if (port_state.mmap_mode != PORT_MMAP_SYSTEM) return bump_map(length);
  void* p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? PORT_MFAIL : p;
}

static void* mapped(char kind, void* p, size_t length) {
  if (p == PORT_MFAIL) COUNT(n_mmap_refused);
  log_call(kind, p, length, 0);
  (void)kind;
  (void)length;
  return p;
}

void* custom_mmap(size_t length) {
  COUNT(n_mmap);
  void* p = PORT_MFAIL;
  if (port_state.fail_next_mmaps > 0) {
    port_state.fail_next_mmaps--;
  } else if (!port_state.fail_all_mmaps) {
    p = map_pages(length, 0);
  }
  return mapped('m', p, length);
}

void* custom_direct_mmap(size_t length) {
  COUNT(n_direct);
  void* p = PORT_MFAIL;
  if (port_state.direct_enabled && !port_state.fail_all_mmaps) p = map_pages(length, 1);
  return mapped('d', p, length);
}

/* As the Node glue does: the provider checks the whole range first (it
 * validates any arguments), then the pages go back to the OS, so they read
 * as zeros, and the provider is told so, which saves clearing them for the
 * next zeroed request. Returns the provider's status. */
static int unmap_to_provider(void* ptr, size_t length) {
  int status = pages.validate(pages.ctx, ptr, length);
  if (status != 0) return status;
  int clean = length > 0 && madvise(ptr, length, MADV_DONTNEED) == 0;
  return pages.release(pages.ctx, ptr, length, clean);
}

static int unmap_to_system(void* ptr, size_t length) {
  /* A bogus range: refuse, as a robust port must. */
  if (((uintptr_t)ptr & 4095) != 0 || (length & 4095) != 0) return -1;
  if (length == 0) return 0;
  if (port_state.mmap_mode != PORT_MMAP_SYSTEM) {
    /* Keep the address range reserved; drop the pages. */
    return mmap(ptr, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                -1, 0) == MAP_FAILED
               ? -1
               : 0;
  }
  return munmap(ptr, length) == 0 ? 0 : -1;
}

int custom_munmap(void* ptr, size_t length) {
  COUNT(n_munmap);
  int status = pages_attached ? unmap_to_provider(ptr, length) : unmap_to_system(ptr, length);
  int r = status == 0 ? 0 : -1;
  if (r != 0) {
    port_state.last_munmap_status = status;
    COUNT(n_munmap_refused);
  }
  log_call('u', ptr, length, r);
  return r;
}

/* ---- locks: a word that is 0 when free and 1 when held ------------------- */

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

static inline void spin_acquire(void** lock) {
  void* expected = NULL;
  if (__builtin_expect(__atomic_compare_exchange_n(lock, &expected, (void*)1, 0, __ATOMIC_ACQUIRE,
                                                   __ATOMIC_RELAXED),
                       1))
    return;
  for (unsigned spins = 0;; spins++) {
    /* Test before test-and-set: spin on a shared read, not on the CAS. */
    if (__atomic_load_n(lock, __ATOMIC_RELAXED) == NULL) {
      expected = NULL;
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

static inline void spin_release(void** lock) { __atomic_store_n(lock, NULL, __ATOMIC_RELEASE); }

#ifdef PORT_TEST_LEAN

void init_lock(void** lock) { __atomic_store_n(lock, NULL, __ATOMIC_RELAXED); }
void final_lock(void** lock) { __atomic_store_n(lock, NULL, __ATOMIC_RELAXED); }
void acquire_lock(void** lock) { spin_acquire(lock); }
void release_lock(void** lock) { spin_release(lock); }

#else

/* Locks the current thread holds, so an abort can release them. */
#define HELD_MAX 4
static __thread void** held[HELD_MAX];
static __thread int n_held;

void init_lock(void** lock) {
  COUNT(n_init_lock);
  __atomic_store_n(lock, NULL, __ATOMIC_RELAXED);
}

void final_lock(void** lock) {
  COUNT(n_final_lock);
  __atomic_store_n(lock, NULL, __ATOMIC_RELAXED);
}

void acquire_lock(void** lock) {
  COUNT(n_acquire);
  spin_acquire(lock);
  if (n_held < HELD_MAX) held[n_held++] = lock;
}

void release_lock(void** lock) {
  COUNT(n_release);
  for (int i = n_held - 1; i >= 0; i--) {
    if (held[i] == lock) {
      held[i] = held[--n_held];
      break;
    }
  }
  spin_release(lock);
}

/* ---- abort capture --------------------------------------------------------- */

jmp_buf port_abort_jmp;
static int port_abort_armed;

void port_arm(void) { port_abort_armed = 1; }

void port_disarm(void) { port_abort_armed = 0; }

#endif

/* ---- abort and printing ------------------------------------------------------ */

void custom_abort(const char* message, const char* file, unsigned line) {
  port_state.n_abort++;
  port_state.last_abort = message;
#ifndef PORT_TEST_LEAN
  if (port_abort_armed) {
    port_abort_armed = 0;
    while (n_held > 0) release_lock(held[n_held - 1]);
    longjmp(port_abort_jmp, 1);
  }
#endif
  const char* label = port_state.abort_label ? port_state.abort_label : "custom_abort";
  fprintf(stderr, "%s: %s (%s:%u)\n", label, message ? message : "(null)", file ? file : "?", line);
  fflush(stderr);
  abort();
}

/* Only the statistics printers call it (builds with NO_MALLOC_STATS=0). */
int dprintf2(const char* file, int line, const char* fmt, ...) {
  (void)file;
  (void)line;
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(stdout, fmt, ap);
  va_end(ap);
  return r;
}
