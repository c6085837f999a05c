/*
 * offheap arena core — one arena: a reserved region, the allocator that
 * manages it, and everything an arena decides, with no Node header.
 *
 * The Node-API glue (the .cc files of csrc/addon) converts arguments, makes views and
 * keeps V8 lifetimes; every decision about memory is taken here:
 *   - the composition of the region (arena.c): a buddy instance over it, or a
 *     dlmalloc heap whose mapping hooks (port.c) are served by a page-run
 *     provider (csrc/pages.h) over it: heap segments from the bottom, large
 *     chunks from the top, so one allocation of nearly the whole capacity
 *     fits while small blocks are live;
 *   - allocation and free paths that check each block once (the allocators'
 *     status-returning calls, never a validate-then-act pair);
 *   - the spare small blocks of fast arenas and their tag map (spares.c);
 *   - the live count, the corrupted and destroyed states, and the statistics
 *     (stats.h);
 *   - the lock of shared arenas (lock.h).
 *
 * Offsets: every block is named by its offset from the region's base; an
 * argument offset is any size_t (the core classifies it, FOREIGN when it is
 * not inside the region).
 *
 * Threads: an arena made with `shared` takes its lock in every entry point
 * below; any other arena is used by one thread at a time (the allocators
 * themselves are unlocked: the arena serialises them).
 */
#ifndef OFFHEAP_CORE_ARENA_H
#define OFFHEAP_CORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "../../buddy.h"
#include "../../dlmalloc.h"
#include "../../pages.h"
#include "spares.h"
#include "stats.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The mailbox of fast arenas: a few doubles JavaScript reads and writes
 * through a Float64Array, so that the hottest calls take no arguments and
 * return nothing (an argument-less Node-API call costs about a third of one
 * that converts a number each way). See the oh_io_* calls. */
#define OH_IO(X)          \
  X(IO_ARG, 0)           \
  X(IO_RESULT, 1)        \
  X(IO_WORDS, 2)
enum {
#define OH_IO_ENUM(name, value) OH_##name = value,
  OH_IO(OH_IO_ENUM)
#undef OH_IO_ENUM
};

/* dlmalloc tuning of an arena's heap: {param, value} pairs (M_GRANULARITY,
 * M_TRIM_THRESHOLD, M_MMAP_THRESHOLD of dlmalloc.h). */
#define OH_MAX_TUNING 3

/* The bytes of written pages a reset keeps committed by default. A period
 * that writes more than a reset keeps faults the rest in again after every
 * reset (on a 2-vCPU AMD EPYC VM, filling 4096 blocks of 16 B..4 KiB, 3.3 MB,
 * took a third more time with 2 MiB kept than with all of it), so the
 * default keeps the working set of a large request (a few MiB) warm. Only
 * pages a period wrote are kept, lowest first; trim() gives them back. */
#define OH_RETAIN_DEFAULT ((size_t)8 << 20)

typedef struct oh_config {
  int kind;          /* enum oh_kind */
  size_t capacity;   /* bytes, a positive multiple of 4096 */
  size_t min_block;  /* buddy: the smallest block, a power of two >= 16 */
  int spares;        /* keep spare small blocks and a tag map (fast arenas) */
  int shared;        /* used from several threads: every entry takes the lock */
  int tuning[OH_MAX_TUNING][2];
  int n_tuning;
  size_t retain;     /* 0 .. capacity: written bytes oh_reset keeps committed */
} oh_config;

/* What the last oh_reset did, counted by the core (tests assert on it: the
 * work of a reset must follow what was used since the one before, never the
 * capacity): bytes given back to the OS, words of allocator metadata
 * rewritten or visited, bytes of the arena's own maps (live map, tag map)
 * cleared; full is 1 when the reset had to release and rebuild everything
 * (a released arena, or an allocator that refused the fast path). */
typedef struct oh_reset_work {
  size_t released_bytes;
  size_t meta_words;
  size_t map_bytes;
  int full;
} oh_reset_work;

typedef struct oh_arena {
  /* identity and the region: fixed from creation on */
  int kind;
  int shared;
  unsigned char* base; /* aligned to the largest power of two <= capacity where possible */
  size_t capacity;
  size_t min_block;
  int tuning[OH_MAX_TUNING][2];
  int n_tuning;
  size_t retain;       /* written bytes a reset keeps committed (oh_config) */

  /* the lock of shared arenas (lock.h): a word, zero when free */
  void* lock;

  /* the allocator instances; the metadata of each lives outside the region */
  pages_t* pages;          /* dlmalloc: the page runs of the heap */
  void* pages_meta;
  size_t pages_meta_len;
  mspace msp;              /* dlmalloc: the heap, its state in dl_state */
  void* dl_state;
  unsigned char* livemap;  /* dlmalloc: where live blocks start (1 bit per 16 bytes) */
  size_t livemap_len;
  buddy_t* buddy;          /* buddy arenas */
  void* buddy_meta;
  size_t buddy_meta_len;

  /* State. Invariants (oh_check verifies them on a live arena):
   *   an arena neither destroyed nor corrupted is not released (it has its
   *   allocator); oh_destroy releases it for good;
   *   live == the blocks the allocator holds for this arena (user blocks and
   *   spares: buddy's live blocks, the marks of dlmalloc's live map), never
   *   below the spares held. */
  int corrupted;    /* an allocator found damaged metadata: every entry refuses */
  int destroyed;    /* oh_destroy ran: every entry refuses */
  int released;     /* the pages went back and the instances were dropped */
  int maps_zeroed;  /* region and metadata read as zeros (fresh, or released) */
  size_t live;
  size_t peak_carried; /* peak committed bytes of the instances before the last reset */
  oh_reset_work last_reset; /* what the last oh_reset did */

  /* fast arenas: the mailbox and the spares (spares.h) */
  double io[OH_IO_WORDS];
  oh_spares sp;
} oh_arena;

/* A new arena (its region reserved, its allocator ready), or OH_OOM when the
 * address space or metadata could not be reserved, OH_INVALID for a bad
 * configuration. */
int oh_arena_create(const oh_config* cfg, oh_arena** out);
/* Gives everything back (pages, address space, metadata) and frees `a`. The
 * caller guarantees no view of the region is reachable any more. */
void oh_arena_delete(oh_arena* a);

/* Allocation: *off gets the block's offset. OH_OOM, OH_CORRUPTED, OH_DESTROYED.
 * A fast arena's spares go back to the allocator before OH_OOM is reported. */
int oh_alloc(oh_arena* a, size_t n, size_t* off);
int oh_calloc(oh_arena* a, size_t n, size_t* off);
int oh_memalign(oh_arena* a, size_t alignment, size_t n, size_t* off);
/* Each classifies `off` once: OH_OK (done), OH_FOREIGN, OH_NOT_ALLOCATED
 * (interior, stale, freed, or a spare), OH_CORRUPTED, OH_DESTROYED; a refused
 * call changes nothing. */
int oh_free(oh_arena* a, size_t off);
/* On OH_OOM the old block is untouched; on OH_OK *out names the block (moved
 * or not) and the old offset is dead. */
int oh_realloc(oh_arena* a, size_t off, size_t n, size_t* out);
int oh_usable(oh_arena* a, size_t off, size_t* out);
int oh_validate(oh_arena* a, size_t off);

/* The mailbox calls of fast arenas (io[OH_IO_ARG] in, io[OH_IO_RESULT] out):
 *   oh_io_alloc   size in; offset or a negative status out
 *   oh_io_free    offset in; status out
 *   oh_io_refill  class in; status out (spares.h)
 *   oh_io_flush   class in; status out (spares.h) */
void oh_io_alloc(oh_arena* a);
void oh_io_free(oh_arena* a);
void oh_io_refill(oh_arena* a);
void oh_io_flush(oh_arena* a);

/* OH_OK, OH_DESTROYED or OH_CORRUPTED: what every entry point would refuse with. */
int oh_state(oh_arena* a);

/* Every block freed at once: afterwards the arena is, to every entry point,
 * a fresh one over the same region (statistics, check, what fits), except
 * that up to `retain` bytes of pages written before stay committed (the
 * lowest ones: where the next blocks go), known not to be zero, so a zeroed
 * request clears them. The work follows what was used since the last reset
 * (the allocators' touched parts, the live and tag maps there), not the
 * capacity; a->last_reset says what was done. An arena with spares then
 * gets again, on its stacks, the spare blocks the period took from them
 * (at most `retain` bytes of them): a fresh arena given those spares. */
int oh_reset(oh_arena* a);
/* The pages go back now and every later call refuses (OH_DESTROYED); the
 * address range stays reserved until oh_arena_delete. Idempotent. */
void oh_destroy(oh_arena* a);
/* Unused pages back to the OS: *released gets the bytes. */
int oh_trim(oh_arena* a, size_t* released);
/* Walks every invariant of the arena and its allocator: OH_OK or
 * OH_CORRUPTED (the arena then refuses further work). */
int oh_check(oh_arena* a);
/* Fills *s (spares go back first, so the numbers count user blocks only).
 * OH_DESTROYED after oh_destroy; a corrupted arena reports what it can. */
int oh_stats(oh_arena* a, oh_arena_stats* s);
/* The largestFree of oh_arena_stats, without the rest (for error messages). */
size_t oh_largest_free(oh_arena* a);

#ifdef __cplusplus
}
#endif

#endif
