/*
 * offheap — the port of port_buddy_pages.h: mapping hooks on a buddy page
 * provider (its region from one mmap, pages given back with madvise), a
 * spin-then-yield lock, and an abort that ends the process.
 */
#include "port_buddy_pages.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

port_buddy_counters port_buddy;
static buddy_t* provider;

void port_buddy_attach(buddy_t* b) { provider = b; }

void* custom_mmap(size_t length) {
  __atomic_fetch_add(&port_buddy.n_mmap, 1, __ATOMIC_RELAXED);
  void* p = provider ? buddy_pages_alloc(provider, length, 0) : NULL;
  if (!p) {
    __atomic_fetch_add(&port_buddy.n_mmap_refused, 1, __ATOMIC_RELAXED);
    return PORT_MFAIL;
  }
  return p;
}

void* custom_direct_mmap(size_t length) {
  __atomic_fetch_add(&port_buddy.n_direct, 1, __ATOMIC_RELAXED);
  void* p = provider ? buddy_pages_alloc(provider, length, BUDDY_PAGES_ZEROED) : NULL;
  if (!p) {
    __atomic_fetch_add(&port_buddy.n_mmap_refused, 1, __ATOMIC_RELAXED);
    return PORT_MFAIL;
  }
  return p;
}

/* As the Node glue does: pages go back to the OS (they read as zeros
 * afterwards) before the provider takes them back, and the provider is told
 * so, which saves clearing them for the next zeroed request. madvise only
 * after the provider confirmed the whole range is live. */
int custom_munmap(void* ptr, size_t length) {
  __atomic_fetch_add(&port_buddy.n_munmap, 1, __ATOMIC_RELAXED);
  int status = provider ? buddy_pages_validate(provider, ptr, length) : BUDDY_E_INVALID;
  unsigned flags = 0;
  if (status == BUDDY_OK && length > 0 && madvise(ptr, length, MADV_DONTNEED) == 0)
    flags = BUDDY_PAGES_CLEAN;
  if (status == BUDDY_OK) status = buddy_pages_free(provider, ptr, length, flags);
  if (status != BUDDY_OK) {
    port_buddy.last_munmap_status = status;
    __atomic_fetch_add(&port_buddy.n_munmap_refused, 1, __ATOMIC_RELAXED);
    return -1;
  }
  return 0;
}

/* A lock word is NULL when free and (void*)1 when held. */
void init_lock(void** lock) { *lock = NULL; }
void final_lock(void** lock) { *lock = NULL; }
void acquire_lock(void** lock) {
  for (unsigned spins = 0;; spins++) {
    void* expected = NULL;
    if (__atomic_compare_exchange_n(lock, &expected, (void*)1, 0, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED))
      return;
    if (spins >= 64) sched_yield();
  }
}
void release_lock(void** lock) { __atomic_store_n(lock, NULL, __ATOMIC_RELEASE); }

void custom_abort(const char* message, const char* file, unsigned line) {
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
