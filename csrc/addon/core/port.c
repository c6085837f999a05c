/*
 * offheap arena core — the port: the functions csrc/portable.h asks of the
 * program that links the allocators, served by the arena that is being
 * called. The hooks have no context parameter, so every entry point of
 * arena.c names its arena in a thread-local (oh_current_swap) before calling
 * an allocator.
 *
 * Mapping hooks (dlmalloc arenas; a buddy arena never calls them): page runs
 * from the arena's page provider, heap segments from the bottom of the
 * region, large chunks from the top (arena.c says why).
 *
 * custom_abort never ends the process: it marks the current arena corrupted
 * and returns. The allocator then marks its heap corrupted and leaves the
 * operation without another write (dlmalloc.h); the entry point sees the flag
 * and returns OH_CORRUPTED. Usage errors never get here: frees and reallocs
 * go through the allocators' status-returning calls.
 */
#include <sys/mman.h>

#include "../../portable.h"
#include "internal.h"
#include "lock.h"

static _Thread_local oh_arena* current;

oh_arena* oh_current_swap(oh_arena* a) {
  oh_arena* prev = current;
  current = a;
  return prev;
}

static pages_t* current_pages(void) { return current ? current->pages : NULL; }

void* custom_mmap(size_t length) {
  pages_t* p = current_pages();
  void* r = p && length ? pages_alloc(p, length, PAGES_LOW) : NULL;
  return r ? r : PORT_MFAIL;
}

void* custom_direct_mmap(size_t length) {
  pages_t* p = current_pages();
  void* r = p && length ? pages_alloc(p, length, PAGES_HIGH | PAGES_ZEROED) : NULL;
  return r ? r : PORT_MFAIL;
}

/* Pages back: validated first (madvise on a range that is not in use could
 * wipe a free block's links), then given to the OS, then to the provider as
 * clean. Anything refused stays with the heap, which is always safe. */
int custom_munmap(void* ptr, size_t length) {
  if (length == 0) return 0;
  pages_t* p = current_pages();
  if (!p || pages_validate(p, ptr, length) != PAGES_OK) return -1;
  unsigned flags = madvise(ptr, length, MADV_DONTNEED) == 0 ? PAGES_CLEAN : 0u;
  return pages_free(p, ptr, length, flags) == PAGES_OK ? 0 : -1;
}

void init_lock(void** lock) { __atomic_store_n(lock, (void*)0, __ATOMIC_RELEASE); }
void final_lock(void** lock) { __atomic_store_n(lock, (void*)0, __ATOMIC_RELEASE); }
void acquire_lock(void** lock) { oh_lock_acquire(lock); }
void release_lock(void** lock) { oh_lock_release(lock); }

void custom_abort(const char* message, const char* file, unsigned line) {
  (void)message;
  (void)file;
  (void)line;
  if (current) current->corrupted = 1;
  /* returns: the allocator stops the operation safely (see above) */
}

int dprintf2(const char* file, int line, const char* fmt, ...) {
  (void)file;
  (void)line;
  (void)fmt;
  return 0; /* the arena core builds the allocators with NO_MALLOC_STATS=1: never called */
}
