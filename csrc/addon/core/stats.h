/*
 * offheap arena core — the statistics of an arena: every field defined once,
 * here. The core fills an oh_arena_stats (arena.c); the glue turns it into the
 * object arena.stats() returns by walking these lists, and exports the lists
 * so that lib/ and the tests read the names from the binding.
 */
#ifndef OFFHEAP_CORE_STATS_H
#define OFFHEAP_CORE_STATS_H

#include <stddef.h>

/* Every arena. Sizes are bytes; largestFree and largestFreeCommitted are
 * request sizes (the n of alloc(n): the allocator's headers, rounding and
 * padding are already taken off). Every field is read at one moment, with
 * the spare blocks of fast arenas given back first and a buddy arena's lazy
 * cache merged. Relations that follow from the definitions (oh_check verifies
 * them; the tests of test/c/test_arena_stats.c and test/js/stats.test.ts
 * check them and the exactness of the two request sizes):
 *   inUse + free == committed <= capacity;   committed <= peakCommitted;
 *   largestFreeCommitted <= free;
 *   largestFreeCommitted <= largestFree <= capacity - inUse
 *     (= free + what is not committed: a block is carved from memory in no
 *     allocated block);
 *   inUse == 0 implies liveAllocations == 0 (buddy: and the converse; a
 *     dlmalloc heap of several segments keeps their records in use);
 *   dlmalloc: committed == capacity - detail.pagesKnownZero >= detail.pagesUsed,
 *     detail.heapBytes + detail.directMappedBytes == detail.pagesUsed;
 *   buddy: detail.knownZeroBytes == detail.freeBlockBytes - free, and
 *     0 <= detail.fragmentation < 1. */
#define OH_STATS(X)                                                                           \
  X(capacity)      /* bytes of address space reserved */                                    \
  /* bytes that may be backed by memory: the region less the free pages known to read as    \
   * zeros (never touched since the region was fresh, or given back by trim or reset).       \
   * dlmalloc: the page runs the heap took from the region (its footprint: segments and      \
   * direct maps) and the free pages written before (reset's retain keeps them) */           \
  X(committed)                                                                               \
  /* bytes of committed in allocated blocks, with the allocator's overhead (dlmalloc: chunk  \
   * headers and rounding, direct mappings whole, records of extra segments; buddy: blocks   \
   * rounded up to powers of two) */                                                         \
  X(inUse)                                                                                   \
  X(free) /* committed - inUse: committed bytes in no allocated block */                     \
  /* the largest n for which alloc(n) succeeds now, memory the allocator can still commit    \
   * included (dlmalloc: a free chunk of the heap, or a free page run of the region taken as \
   * a new segment or as a large chunk's own run; buddy: the largest free block);            \
   * alloc(largestFree + 1) fails. 0 when no allocation succeeds */                          \
  X(largestFree)                                                                             \
  /* the largest n that free committed memory serves: dlmalloc, the heap's free chunks (top  \
   * included), so alloc(n) commits nothing and alloc(n + 1) needs new pages; buddy, the     \
   * largest free block with no page known zero (an allocation of its size may still take   \
   * another free block of that size; a fast arena's spare refill takes a batch of blocks of \
   * a size class at once, which may commit more). 0 when there is none */                  \
  X(largestFreeCommitted)                                                                    \
  X(peakCommitted)   /* the largest committed so far, across resets (exact, not sampled) */  \
  X(liveAllocations) /* blocks allocated and not freed (spares excluded) */

/* dlmalloc arenas: the heap, and the page runs it takes from the region. */
#define OH_DETAIL_DLMALLOC(X)                                                   \
  X(heapBytes)         /* bytes in heap segments */                            \
  X(directMappedBytes) /* bytes in large chunks with a page run of their own */ \
  X(freeChunks)        /* free chunks in the heap, top included */             \
  X(topBytes)          /* the free space at the end of the heap */             \
  X(pagesFree)         /* region bytes in no page run */                       \
  X(pagesUsed)         /* region bytes in page runs (<= committed) */          \
  X(pagesLargestFree)  /* the longest free page run */                         \
  X(pagesFreeRuns)     /* maximal free page runs */                            \
  X(pagesKnownZero)    /* free region bytes known to read as zeros */          \
  X(metadataBytes)     /* bytes of metadata outside the region */

/* buddy arenas (freeBlocksPerOrder, an array, is added by the glue).
 * fragmentation = 1 - largestFree / ideal, where ideal is the largest free
 * block an ideally packed buddy arena holding the same in-use bytes would
 * have: the largest power of two no larger than freeBlockBytes nor the
 * largest root block (the largestFree of the arena when empty). 0 <=
 * fragmentation < 1. A fresh arena, an empty one, and one whose few small
 * blocks leave half of the root free read 0 (splitting the root to hold
 * small blocks is not fragmentation); freeing every other block of many
 * makes it high; 0 when no memory is free. */
#define OH_DETAIL_BUDDY(X)                                                            \
  X(peakInUse)      /* the largest inUse so far */                                   \
  X(freeBlockBytes) /* bytes in free blocks, committed or not */                   \
  X(minBlock)       /* the smallest block */                                         \
  X(orders)         /* block sizes are minBlock << 0 .. orders - 1 */                \
  X(liveBlocks)     /* blocks allocated in the buddy instance */                     \
  X(cachedBytes)    /* freed blocks held unmerged in the lazy cache (0: merged) */   \
  X(knownZeroBytes) /* free bytes known to read as zeros: freeBlockBytes - free */   \
  X(fragmentation)  /* see above */                                                  \
  X(metadataBytes)  /* bytes of metadata outside the region */

#define OH_STATS_FIELD(name) double name;
#define OH_MAX_ORDERS 64

typedef struct oh_arena_stats {
  OH_STATS(OH_STATS_FIELD)
  int corrupted; /* the arena refuses further work (oh_check found damage, or an operation did) */
  int kind;      /* enum oh_kind: which detail is filled */
  union {
    struct {
      OH_DETAIL_DLMALLOC(OH_STATS_FIELD)
    } dl;
    struct {
      OH_DETAIL_BUDDY(OH_STATS_FIELD)
      double freeBlocksPerOrder[OH_MAX_ORDERS];
    } buddy;
  } detail;
} oh_arena_stats;

#undef OH_STATS_FIELD

#endif
