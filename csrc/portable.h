/*
 * offheap — the port contract of the C core.
 *
 * The allocators in csrc/ never call the operating system or libc's allocator.
 * Everything they need from their environment goes through the functions
 * declared here, which the *port* (the program that links the core) defines
 * with C linkage and no prefix. The contract is that of portable-dlmalloc, so
 * a port written for it links against csrc/dlmalloc.c unchanged.
 *
 * Rules common to every hook:
 *  - Hooks may be called while the calling heap's lock is held. Locks are not
 *    recursive: a hook must never allocate from, or free into, the heap that
 *    called it.
 *  - Addresses are plain `void*`; lengths are bytes.
 */
#ifndef OFFHEAP_PORTABLE_H
#define OFFHEAP_PORTABLE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The failure value of the mapping hooks: all bits set. NULL is a valid
 * address to the allocator, never a failure. */
#define PORT_MFAIL ((void*)~(size_t)0)

/* Obtain `length` bytes of readable, writable memory for a heap segment.
 * pre: length > 0 and a multiple of the page size (4096).
 * Returns a page-aligned base, or PORT_MFAIL. The memory need not be zeroed. */
void* custom_mmap(size_t length);

/* Give back `length` bytes starting at `ptr`.
 * The range is page-aligned but need not be one earlier custom_mmap result:
 * it may be only the tail of one, span several address-adjacent ones, or have
 * length 0. The allocator may also pass bogus arguments when a program frees
 * an invalid pointer, so a robust port validates them.
 * Returns 0 on success; anything else means the memory stays with the heap,
 * which is always safe. */
int custom_munmap(void* ptr, size_t length);

/* Obtain a dedicated mapping for one large chunk. Same as custom_mmap, except
 * that the memory must read as zeros (calloc relies on it unless the core is
 * built with MMAP_CLEARS=0). PORT_MFAIL means unsupported or failed; the
 * allocator then falls back to custom_mmap. */
void* custom_direct_mmap(size_t length);

/* Locks. A lock is one pointer-sized word owned by the heap. A word filled
 * with zeros must behave as an initialised, unlocked lock: the process-wide
 * lock is never passed to init_lock. */
void init_lock(void** lock);
void final_lock(void** lock);
void acquire_lock(void** lock);
void release_lock(void** lock);

/* Called when the allocator detects misuse or damaged metadata. A port may
 * end the process, longjmp out of it (the C test port does, to catch it), or
 * return: the allocator then marks the heap corrupted and leaves the current
 * operation without touching anything further (offheap's arena core returns,
 * and reports the arena corrupted). Usually called with the heap's lock held. */
void custom_abort(const char* message, const char* file, unsigned line);

/* Formatted output for the statistics printers; only needed when the core is
 * built with NO_MALLOC_STATS=0. Called with no lock held. */
int dprintf2(const char* file, int line, const char* fmt, ...);

#ifdef __cplusplus
}
#endif

#endif /* OFFHEAP_PORTABLE_H */
