/*
 * offheap — the dlmalloc core as a process's malloc (LD_PRELOAD=liboffheap-malloc.so).
 *
 * csrc/dlmalloc.c is compiled into the same shared object without USE_DL_PREFIX,
 * so it defines malloc, free, calloc, realloc, memalign, posix_memalign, valloc,
 * pvalloc, malloc_usable_size, mallopt, malloc_trim and mallinfo itself; this
 * file is its port (the hooks of csrc/portable.h) and the few entry points a
 * glibc program also expects: aligned_alloc and reallocarray (glibc's own would
 * call its internal allocator), and fork safety. exports.map keeps every other
 * symbol local, so the hooks never clash with a program's names.
 *
 * bench/native/preload.sh builds it and runs real programs on it.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../dlmalloc.h"
#include "../portable.h"

/* ---- memory -------------------------------------------------------------------- */

void* custom_mmap(size_t length) {
  void* p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? PORT_MFAIL : p;
}

/* Fresh anonymous pages read as zeros, as the contract asks of direct maps. */
void* custom_direct_mmap(size_t length) { return custom_mmap(length); }

int custom_munmap(void* ptr, size_t length) {
  if (length == 0) return 0;
  if (((uintptr_t)ptr & 4095) != 0 || (length & 4095) != 0) return -1;
  return munmap(ptr, length);
}

/* ---- locks: a futex word (the low 32 bits of the lock's word) ---------------------
 * 0 free, 1 held, 2 held and someone may be asleep on it. A short spin first:
 * a heap operation holds the lock for tens of nanoseconds. */

typedef uint32_t __attribute__((may_alias)) lock_word;

static lock_word* word_of(void** lock) { return (lock_word*)lock; }

static long futex(lock_word* w, int op, uint32_t value) {
  return syscall(SYS_futex, w, op | FUTEX_PRIVATE_FLAG, value, NULL, NULL, 0);
}

void init_lock(void** lock) { *lock = NULL; }
void final_lock(void** lock) { (void)lock; }

void acquire_lock(void** lock) {
  lock_word* w = word_of(lock);
  uint32_t c = 0;
  if (__atomic_compare_exchange_n(w, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
  for (int spin = 0; spin < 100; spin++) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    c = 0;
    if (__atomic_load_n(w, __ATOMIC_RELAXED) == 0 &&
        __atomic_compare_exchange_n(w, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
      return;
  }
  /* Mark it contended, and sleep while it stays held. */
  while (__atomic_exchange_n(w, 2, __ATOMIC_ACQUIRE) != 0) futex(w, FUTEX_WAIT, 2);
}

void release_lock(void** lock) {
  lock_word* w = word_of(lock);
  if (__atomic_exchange_n(w, 0, __ATOMIC_RELEASE) == 2) futex(w, FUTEX_WAKE, 1);
}

/* ---- misuse and damage ---------------------------------------------------------------
 * A program freed a pointer the heap never gave out, or wrote over its metadata:
 * say so and stop, as glibc does ("free(): invalid pointer"). Only async-signal-safe
 * calls: the heap's lock may be held. */
void custom_abort(const char* message, const char* file, unsigned line) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "offheap malloc: %s (%s:%u)\n", message ? message : "heap damaged",
                   file ? file : "?", line);
  if (n > 0) {
    ssize_t r = write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    (void)r;
  }
  abort();
}

/* Needed only with NO_MALLOC_STATS=0; the shared object is built with 1. */
int dprintf2(const char* file, int line, const char* fmt, ...) {
  (void)file;
  (void)line;
  (void)fmt;
  return 0;
}

/* ---- what glibc programs expect besides the dlmalloc API ---------------------------- */

/* C11: alignment a power of two (glibc also accepts any size). */
void* aligned_alloc(size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return NULL;
  }
  return memalign(alignment, size);
}

void* reallocarray(void* ptr, size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(ptr, bytes);
}

/* A child forked while another thread held the heap's lock would wait for it
 * forever: take the locks around fork (dlmalloc.h). */
__attribute__((constructor)) static void register_fork_handlers(void) {
  if (pthread_atfork(malloc_atfork_prepare, malloc_atfork_parent, malloc_atfork_child) != 0)
    custom_abort("pthread_atfork failed", __FILE__, __LINE__);
}
