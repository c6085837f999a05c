/*
 * offheap glue — the port: the functions csrc/portable.h asks of the program
 * that links the core. They have no context parameter, so every entry point
 * of the glue names its arena in a thread-local (CurrentArena) before calling
 * into the core; the mapping hooks serve that arena's region.
 *
 * Locks: lock.h (spin briefly, then sleep in the kernel). A zero-filled word
 * is an unlocked lock, as the contract asks.
 *
 * custom_abort never ends the process: it marks the current arena corrupted
 * and returns. The core then marks its heap corrupted and leaves the
 * operation without another write (dlmalloc.h, buddy.h); the glue entry sees
 * the flag and reports ERR_ARENA_CORRUPTED. Usage errors cannot get here: the
 * glue validates every pointer (mspace_validate / buddy_validate) first.
 */
#include <sched.h>
#include <sys/mman.h>

#include <cstdarg>

#include "arena.h"
#include "lock.h"

extern "C" {
#include "../portable.h"
}

namespace offheap {

static thread_local Arena* tl_current = nullptr;

CurrentArena::CurrentArena(Arena* a) : prev(tl_current) { tl_current = a; }
CurrentArena::~CurrentArena() { tl_current = prev; }
Arena* current_arena() { return tl_current; }

}  // namespace offheap

using offheap::Arena;
using offheap::current_arena;

extern "C" {

/* dlmalloc's segments: exact page runs from the arena's buddy page provider. */
void* custom_mmap(size_t length) {
  Arena* a = current_arena();
  if (!a || !a->pages || length == 0) return PORT_MFAIL;
  void* p = buddy_pages_alloc(a->pages, length, 0);
  return p ? p : PORT_MFAIL;
}

/* Large chunks: zeroed page runs (zero tracking skips pages known zero). */
void* custom_direct_mmap(size_t length) {
  Arena* a = current_arena();
  if (!a || !a->pages || length == 0) return PORT_MFAIL;
  void* p = buddy_pages_alloc(a->pages, length, BUDDY_PAGES_ZEROED);
  return p ? p : PORT_MFAIL;
}

/* Pages back: validated first (madvise on a range that is not live could
 * wipe a free block's links), then given to the OS, then to the provider as
 * clean. Anything refused stays with the heap, which is always safe. */
int custom_munmap(void* ptr, size_t length) {
  if (length == 0) return 0;
  Arena* a = current_arena();
  if (!a || !a->pages) return -1;
  if (buddy_pages_validate(a->pages, ptr, length) != BUDDY_OK) return -1;
  unsigned flags = 0;
  if (madvise(ptr, length, MADV_DONTNEED) == 0) flags = BUDDY_PAGES_CLEAN;
  return buddy_pages_free(a->pages, ptr, length, flags) == BUDDY_OK ? 0 : -1;
}

void init_lock(void** lock) { __atomic_store_n(lock, (void*)0, __ATOMIC_RELEASE); }
void final_lock(void** lock) { __atomic_store_n(lock, (void*)0, __ATOMIC_RELEASE); }
void acquire_lock(void** lock) { offheap::word_lock_acquire(lock); }
void release_lock(void** lock) { offheap::word_lock_release(lock); }

void custom_abort(const char* message, const char* file, unsigned line) {
  (void)message;
  (void)file;
  (void)line;
  Arena* a = current_arena();
  if (a) a->corrupted = true;
  /* returns: the core stops the operation safely (see the file comment) */
}

int dprintf2(const char* file, int line, const char* fmt, ...) {
  (void)file;
  (void)line;
  (void)fmt;
  return 0; /* built with NO_MALLOC_STATS=1: never called */
}

}  // extern "C"
