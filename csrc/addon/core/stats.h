/*
 * offheap arena core — the statistics of an arena: every field defined once,
 * here. The core fills an oh_arena_stats (arena.c); the glue turns it into the
 * object arena.stats() returns by walking these lists, and exports the lists
 * so that lib/ and the tests read the names from the binding.
 */
#ifndef OFFHEAP_CORE_STATS_H
#define OFFHEAP_CORE_STATS_H

#include <stddef.h>

/* Every arena. Invariant (checked by oh_check): inUse + free == committed. */
#define OH_STATS(X)                                                                     \
  X(capacity)        /* bytes of address space reserved */                             \
  X(committed)       /* bytes the allocator holds (may be backed by memory) */         \
  X(inUse)           /* bytes in allocated blocks, with the allocator's overhead */    \
  X(free)            /* committed - inUse */                                           \
  X(largestFree)     /* the largest request that could succeed now (an upper bound) */ \
  X(peakCommitted)   /* the largest committed so far, across resets */                 \
  X(liveAllocations) /* blocks allocated and not freed (spares excluded) */

/* dlmalloc arenas: the heap, and the page runs it takes from the region. */
#define OH_DETAIL_DLMALLOC(X)                                                   \
  X(heapBytes)         /* bytes in heap segments */                            \
  X(directMappedBytes) /* bytes in large chunks with a page run of their own */ \
  X(freeChunks)        /* free chunks in the heap, top included */             \
  X(topBytes)          /* the free space at the end of the heap */             \
  X(pagesFree)         /* region bytes in no page run */                       \
  X(pagesUsed)         /* region bytes in page runs */                         \
  X(pagesLargestFree)  /* the longest free page run */                         \
  X(pagesFreeRuns)     /* maximal free page runs */                            \
  X(pagesKnownZero)    /* free region bytes known to read as zeros */          \
  X(metadataBytes)     /* bytes of metadata outside the region */

/* buddy arenas (freeBlocksPerOrder, an array, is added by the glue). */
#define OH_DETAIL_BUDDY(X)                                                    \
  X(peakInUse)      /* the largest inUse so far */                           \
  X(freeBlockBytes) /* bytes in free blocks, committed or not */             \
  X(minBlock)       /* the smallest block */                                 \
  X(orders)         /* block sizes are minBlock << 0 .. orders - 1 */        \
  X(liveBlocks)     /* blocks allocated in the buddy instance */             \
  X(cachedBytes)    /* freed blocks held unmerged in the lazy cache */       \
  X(knownZeroBytes) /* free bytes known to read as zeros */                  \
  X(fragmentation)  /* 0: all free memory is one block; near 1: scattered */ \
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
