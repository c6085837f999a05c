/*
 * offheap arena core — what its files share and nobody else uses.
 *
 *   arena.c   the region, its composition, the entry points of arena.h
 *   spares.c  spare small blocks and the tag map (spares.h)
 *   port.c    the portable.h hooks, served by the current arena's region
 *   lock.c    the lock of shared arenas and of the hooks (lock.h)
 */
#ifndef OFFHEAP_CORE_INTERNAL_H
#define OFFHEAP_CORE_INTERNAL_H

#include "arena.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OH_PAGE ((size_t)4096)
/* A written range of the live map or the tag map up to this many bytes is
 * cleared with memset at a reset, a larger one given back with madvise (a
 * system call and page faults cost more than clearing a few pages). */
#define OH_MAP_CLEAR_MAX ((size_t)65536)

/* port.c: the arena whose region the mapping hooks serve, and where
 * custom_abort reports damage. Set for the duration of each call into an
 * allocator (the hooks have no context argument). */
oh_arena* oh_current_swap(oh_arena* a);

/* arena.c: the allocator calls every path goes through (a block, or NULL
 * with a->corrupted set when the allocator found damage). */
void* oh_core_malloc(oh_arena* a, size_t n);
/* Up to `count` blocks of n bytes into out[], as many oh_core_malloc calls
 * would (buddy carves them in runs, buddy_malloc_run); returns how many. */
size_t oh_core_malloc_run(oh_arena* a, size_t n, size_t count, void** out);
/* The bytes of the block the allocator makes for a request of n (buddy: a
 * power of two; dlmalloc: n itself, as far as grouping requests goes).
 * Inline: oh_spares_warm asks it for every class at every reset. */
static inline size_t oh_core_block_bytes(const oh_arena* a, size_t n) {
  if (a->kind != OH_KIND_BUDDY) return n;
  size_t b = a->min_block;
  while (b < n) b *= 2;
  return b;
}
int oh_core_free(oh_arena* a, size_t off);
int oh_core_validate(oh_arena* a, size_t off);
size_t oh_core_usable(oh_arena* a, size_t off);

/* spares.c */
int oh_spares_create(oh_arena* a);       /* the tag map and the stacks */
void oh_spares_unmap(oh_arena* a);
/* Every tag and count 0 (the allocator was released, or reset): the tags'
 * pages go back when give_back_pages or when many were written; returns the
 * bytes of the tag map cleared or given back. */
size_t oh_spares_forget(oh_arena* a, int give_back_pages);
int oh_spares_give_back(oh_arena* a);    /* every spare back to the allocator */
size_t oh_spares_held(const oh_arena* a);
/* The tag of the block at `off` when a block of the scheme starts there, else null. */
unsigned char* oh_spare_tag(oh_arena* a, size_t off);
int oh_spares_refill(oh_arena* a, size_t c);
/* Before a reset, reading only: each class's demand after this period (see
 * oh_spares.demand), which the reset stores, and how many blocks to carve
 * again (want[c]: the demand rounded up, at most the stack's depth). After
 * it, in the same entry: oh_spares_warm carves them again into the fresh
 * allocator, from the smallest class up, while their bytes fit in `budget`;
 * returns the bytes. */
void oh_spares_demand(const oh_arena* a, uint32_t demand[OH_SPARE_CLASSES + 1],
                      uint32_t want[OH_SPARE_CLASSES + 1]);
size_t oh_spares_warm(oh_arena* a, const uint32_t want[OH_SPARE_CLASSES + 1], size_t budget);
int oh_spares_flush(oh_arena* a, size_t c);
int oh_spares_check(oh_arena* a);

#ifdef __cplusplus
}
#endif

#endif
