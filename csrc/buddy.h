/*
 * offheap — a binary buddy allocator over a caller-provided region, and a page
 * provider for dlmalloc (csrc/buddy.c).
 *
 * The caller gives two pieces of memory: the region to manage (any size, base
 * aligned to the minimum block) and a metadata buffer of buddy_meta_size()
 * bytes that lies outside the region. The allocator never calls the operating
 * system or libc's allocator; it uses only the lock hooks of csrc/portable.h
 * (for instances created with BUDDY_LOCKED), memset and memcpy.
 *
 * Blocks are powers of two from the minimum block (a power of two >= 16,
 * default 16) up to the largest aligned block that fits in the region, and
 * every block is aligned to its own size in absolute addresses. So:
 *   - buddy_aligned_alloc(a, n) costs nothing extra: it is buddy_malloc of
 *     max(a, n);
 *   - a region whose base is only aligned to the minimum block, or whose size
 *     is not a power of two, is managed as a forest: the maximal aligned
 *     blocks that tile it, found by walking from the base and taking at each
 *     address the largest block that is aligned there and still fits. Example:
 *     base 0x10010, size 0x2800, minimum 16 gives roots of 0x10, 0x20, 0x40,
 *     ..., 0x800 (rising to the first 4 KiB boundary), then 0x1000, 0x800 and
 *     0x10 bytes. Blocks never merge across roots (a root's buddy is never
 *     wholly inside the region); buddy_stats().largest_free on an empty
 *     instance is the largest root.
 *
 * free needs no size: out-of-band bitmaps (about 2 bits per minimum block)
 * say where blocks start and how the tree is split, so every pointer given to
 * buddy_free, buddy_realloc, buddy_usable_size or buddy_validate is
 * classified exactly without reading user memory, and a rejected pointer
 * changes nothing (metadata and region byte-identical).
 *
 * Every function is safe to call with any arguments: errors are return codes,
 * never an abort. Once an operation finds damaged metadata (for example a
 * free-list link in a free block overwritten after the block was freed) it
 * returns BUDDY_E_CORRUPTED and the instance refuses all further work except
 * buddy_stats, buddy_check and buddy_destroy.
 */
#ifndef OFFHEAP_BUDDY_H
#define OFFHEAP_BUDDY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes -------------------------------------------------------- */
enum buddy_status {
  BUDDY_OK = 0,
  /* Pointer classification (free, realloc, validate, usable_size). */
  BUDDY_E_FOREIGN = 1,     /* not inside the managed region */
  BUDDY_E_DOUBLE_FREE = 2, /* the start of a block that is free already */
  BUDDY_E_INTERIOR = 3,    /* inside a live block, not at its start */
  BUDDY_E_STALE = 4,       /* inside free memory, not at the start of a free block:
                              a block that was freed and merged into a larger one */
  /* Page ranges (buddy_pages_free). */
  BUDDY_E_NOT_ALLOCATED = 5, /* part of the range is free (or in the cache) */
  /* Everything else. */
  BUDDY_E_NOMEM = 6,      /* no free block is large enough (realloc: old block kept) */
  BUDDY_E_INVALID = 7,    /* bad argument: flags, alignment, length, configuration,
                             or a handle that is not a live instance */
  BUDDY_E_BAD_REGION = 8, /* init: region base NULL or not aligned to the minimum
                             block, smaller than one minimum block, or wrapping */
  BUDDY_E_BAD_META = 9,   /* init: metadata buffer NULL, not 16-aligned, too small,
                             or overlapping the region */
  BUDDY_E_CORRUPTED = 10  /* damaged metadata; the instance refuses further work */
};

/* A constant name for a status ("BUDDY_OK", "BUDDY_E_FOREIGN", ...). */
const char* buddy_status_name(int status);

/* ---- configuration ------------------------------------------------------- */

/* Instance flags (buddy_config.flags).
 *
 * Threads: an instance without BUDDY_LOCKED must be used by one thread at a
 * time; with it, every call takes the instance's lock (init_lock /
 * acquire_lock / release_lock / final_lock of portable.h), never recursively
 * and never while calling out, except buddy_trim's callback.
 *
 * Zero tracking (BUDDY_TRACK_ZERO): one bit per page of max(BUDDY_ZERO_PAGE,
 * min_block) bytes says "this free page reads as zeros". Pages become known
 * zero at init (BUDDY_REGION_ZEROED), through buddy_pages_free(...,
 * BUDDY_PAGES_CLEAN) and through buddy_trim; they stop being known zero when
 * they are handed out, or when the allocator writes a free block's list
 * links into them (the first page of every free block). Zeroed requests
 * (buddy_calloc, buddy_pages_alloc with BUDDY_PAGES_ZEROED) then clear only
 * the pages not known zero, so memory the OS has just zero-filled is neither
 * cleared again nor made resident. Without tracking, a zeroed request clears
 * everything it returns. */
#define BUDDY_LOCKED 0x1u        /* every call takes the instance's lock (portable.h) */
#define BUDDY_TRACK_ZERO 0x2u    /* remember which free pages read as zeros (below) */
#define BUDDY_REGION_ZEROED 0x4u /* the region reads as zeros now (fresh mmap);
                                    implies BUDDY_TRACK_ZERO */
#define BUDDY_NO_CACHE 0x8u      /* no lazy cache: every free merges at once */
#define BUDDY_META_ZEROED 0x10u  /* buddy_init only: the metadata memory reads as zeros
                                    (fresh mmap, or given back with madvise), so it is not
                                    cleared: parts no allocation reaches are never written,
                                    and a large region's bitmaps stay mostly uncommitted */

/* The lazy cache: for the lowest `cache_orders` orders, up to `cache_limit`
 * freed blocks per order are kept unmerged and handed out again first (last
 * freed, first reused), so a program that allocates and frees one size
 * repeatedly does not split and merge all the way up the tree each time.
 * By default every order whose blocks are at most 64 KiB is cached (13
 * orders for 16-byte blocks, 5 for 4 KiB pages), 16 blocks each: at most
 * about 2 MiB held unmerged. Cached blocks count as free in the statistics.
 * The cache is flushed (its blocks merged) when an allocation would
 * otherwise fail, and by buddy_flush and buddy_trim. */
#define BUDDY_CACHE_ORDERS_MAX 16
#define BUDDY_CACHE_LIMIT_MAX 16
#define BUDDY_CACHE_DEFAULT_MAX_SHIFT 16 /* 64 KiB */
#define BUDDY_CACHE_LIMIT_DEFAULT 16

/* Zero tracking works on pages of max(BUDDY_ZERO_PAGE, min_block) bytes. */
#define BUDDY_ZERO_PAGE 4096u

typedef struct buddy_config {
  size_t min_block;      /* power of two >= 16; 0 means 16 */
  unsigned flags;        /* BUDDY_* flags above */
  unsigned cache_orders; /* 0 means the orders of blocks up to 64 KiB */
  unsigned cache_limit;  /* 0 means BUDDY_CACHE_LIMIT_DEFAULT */
} buddy_config;

typedef struct buddy buddy_t;

/* ---- life cycle ---------------------------------------------------------- */

/* Bytes of metadata buffer an instance over `region_size` bytes with minimum
 * block `min_block` (0 means 16) needs, for any base. About 2 bits per minimum
 * block plus a fixed header of a few KiB. 0 when the arguments are invalid
 * (min_block not a power of two >= 16, region smaller than one block). */
size_t buddy_meta_size(size_t region_size, size_t min_block);

/* Creates an instance in `meta` (meta_size >= buddy_meta_size(...), 16-aligned,
 * outside the region) managing [base, base + region_size rounded down to the
 * minimum block). `cfg` may be NULL for the defaults. On success *out is the
 * handle (it points into `meta`, which must stay in place) and the whole
 * region is free. Statuses: BUDDY_OK, BUDDY_E_INVALID (out NULL, bad config),
 * BUDDY_E_BAD_REGION, BUDDY_E_BAD_META. */
int buddy_init(buddy_t** out, void* meta, size_t meta_size, void* base, size_t region_size,
               const buddy_config* cfg);

/* Ends the instance (final_lock for a locked one). The memory stays the
 * caller's. Later calls with the handle return BUDDY_E_INVALID / NULL. */
void buddy_destroy(buddy_t* b);

/* Frees everything at once: the instance is as after buddy_init (known-zero
 * pages stay known; peak_used_bytes and peak_committed_bytes are kept).
 * BUDDY_OK or BUDDY_E_INVALID. */
int buddy_reset(buddy_t* b);

/* What buddy_restart did: bytes given to `release`, and the tree nodes and
 * words of the dirty journal it visited. Both grow with the blocks in use
 * and the pages written since the last restart, never with the region. */
typedef struct buddy_reset_work {
  size_t released_bytes;
  size_t meta_words;
} buddy_reset_work;
/* Frees everything at once, in time proportional to the blocks now in the
 * tree and the pages written since buddy_init or the last restart (not to
 * the region): the instance is then as after buddy_init, peaks and
 * zero_filled_bytes included, except for zero tracking, which stays exact:
 * of the pages not known zero, the lowest `keep_bytes` worth stay as they are
 * (dirty: zeroed requests clear them), the others are offered to `release`
 * (as buddy_trim does; NULL releases none) and are known zero once it
 * accepts. The roots' links then dirty their first pages, as at init.
 * *work (may be NULL) gets what was done. BUDDY_OK, BUDDY_E_INVALID or
 * BUDDY_E_CORRUPTED (nothing changed). */
int buddy_restart(buddy_t* b, size_t keep_bytes, int (*release)(void* ptr, size_t length, void* arg),
                  void* arg, buddy_reset_work* work);
/* ---- allocation ---------------------------------------------------------- */

/* A block of at least n bytes (n = 0 gives a minimum block), aligned to its
 * size, or NULL. */
void* buddy_malloc(buddy_t* b, size_t n);
/* Up to `count` blocks of at least n bytes each, as `count` calls of
 * buddy_malloc would give (the cache aside: it is not used), their addresses
 * stored in out[0 .. returned). Runs of 2^j blocks (up to 64) are carved
 * from one free block of 2^j times their size, split in place, so the halves
 * never go through the free lists: a run costs about one buddy_malloc and a
 * few bit writes per block. Each block is then an ordinary one to every
 * other call. Returns how many were allocated: fewer than count when memory
 * runs out, 0 for n larger than the largest block, out NULL, or damage. */
size_t buddy_malloc_run(buddy_t* b, size_t n, size_t count, void** out);
/* n * size bytes reading as zeros (n * size overflow-checked), or NULL. Bytes
 * of the block beyond n * size are unspecified. */
void* buddy_calloc(buddy_t* b, size_t n, size_t size);
/* n bytes aligned to `alignment` (a power of two; any value up to the largest
 * block), or NULL. */
void* buddy_aligned_alloc(buddy_t* b, size_t alignment, size_t n);

/* Frees a block. NULL is a no-op (BUDDY_OK). Anything that is not the start
 * of a live block is rejected with its classification and changes nothing:
 * BUDDY_E_FOREIGN, BUDDY_E_DOUBLE_FREE, BUDDY_E_INTERIOR, BUDDY_E_STALE.
 * What cannot be told apart: a stale pointer equal to the start of a block
 * that is live again (the same address was handed out anew) is that live
 * block, and is freed; a stale pointer into a new live block is
 * BUDDY_E_INTERIOR; one at the start of a new free block is
 * BUDDY_E_DOUBLE_FREE. */
int buddy_free(buddy_t* b, void* ptr);

/* Resizes the block at ptr to at least n bytes and stores the result in *out:
 *   ptr NULL: as buddy_malloc (BUDDY_E_NOMEM on failure);
 *   smaller order (n = 0 included): in place, the freed halves go back;
 *   larger order: in place when the block is the left half at each level and
 *     the right halves are free, otherwise move (copy the old block);
 *   failure: BUDDY_E_NOMEM, *out NULL, the old block is untouched;
 *   an invalid ptr: its classification (as buddy_free), nothing changed. */
int buddy_realloc(buddy_t* b, void* ptr, size_t n, void** out);

/* The block size of the live block at ptr, or 0 for anything else. */
size_t buddy_usable_size(buddy_t* b, const void* ptr);

/* Classifies ptr exactly as buddy_free would, and changes nothing: BUDDY_OK
 * for the start of a live block. */
int buddy_validate(buddy_t* b, const void* ptr);

/* ---- page provider (dlmalloc's custom_mmap / custom_munmap / direct) ----- */

/* Flags of the page calls. */
#define BUDDY_PAGES_ZEROED 0x1u /* pages_alloc: the pages must read as zeros */
#define BUDDY_PAGES_CLEAN 0x2u  /* pages_free: the caller has made the range read as
                                   zeros already (e.g. madvise(MADV_DONTNEED) done
                                   BEFORE this call, while it still owned the range) */

/* Exactly `length` bytes (rounded up to the minimum block) of live memory:
 * the smallest block of at least length is taken and the rest of it goes
 * back at once as maximal aligned blocks, so 68 KiB costs 68 KiB. The result
 * is aligned to the next power of two >= length. With BUDDY_PAGES_ZEROED the
 * memory reads as zeros; with BUDDY_TRACK_ZERO only pages not known to be
 * zero are cleared. NULL on failure or length 0. */
void* buddy_pages_alloc(buddy_t* b, size_t length, unsigned flags);

/* Frees [ptr, ptr + length), which must be aligned to the minimum block and
 * consist of live memory only. It may be any part of earlier allocations:
 * the tail of one, a range spanning several, a whole one (the metadata
 * describes blocks, not allocations; live parts around the range stay live
 * as aligned blocks). length 0 is a no-op that succeeds for any ptr.
 * Statuses: BUDDY_OK; BUDDY_E_INVALID (misaligned ptr or length, bad flags);
 * BUDDY_E_FOREIGN (not inside the region); BUDDY_E_NOT_ALLOCATED (some of it
 * is free or cached). Nothing changes on error. */
int buddy_pages_free(buddy_t* b, void* ptr, size_t length, unsigned flags);

/* What buddy_pages_free(ptr, length) would return, without freeing: a port
 * that gives pages back to the OS calls this first, then madvise, then
 * buddy_pages_free(..., BUDDY_PAGES_CLEAN); madvise on a range that is not
 * live could wipe the links of a free block. The range must not be freed by
 * anyone else in between (dlmalloc calls its hooks under its own lock). */
int buddy_pages_validate(buddy_t* b, const void* ptr, size_t length);

/* ---- maintenance --------------------------------------------------------- */

/* Merges every cached block. After freeing everything and flushing, each
 * root of the region is one free block again. */
int buddy_flush(buddy_t* b);

/* Flushes, then offers every free page that is not known to be zero to
 * `release(ptr, length, arg)` (runs of whole pages of max(BUDDY_ZERO_PAGE,
 * min_block) bytes; the first page of each free block holds its list links
 * and is never offered; without BUDDY_TRACK_ZERO every call offers all). The callback runs with
 * the lock held and must not call into this instance; returning 0 means the
 * pages now read as zeros (e.g. after madvise(MADV_DONTNEED)) and, with
 * BUDDY_TRACK_ZERO, they are remembered as zero and not offered again.
 * *released (may be NULL) receives the bytes accepted. */
int buddy_trim(buddy_t* b, int (*release)(void* ptr, size_t length, void* arg), void* arg,
               size_t* released);

/* ---- statistics and checking --------------------------------------------- */

#define BUDDY_MAX_ORDERS 64

typedef struct buddy_stats {
  size_t region_bytes;   /* bytes managed (region size rounded to the minimum block) */
  size_t min_block;      /* bytes */
  unsigned orders;       /* block sizes are min_block << 0 .. orders - 1 */
  size_t meta_bytes;     /* bytes of the metadata buffer in use */
  size_t free_bytes;     /* in free blocks, cached blocks included */
  size_t used_bytes;     /* region_bytes - free_bytes */
  size_t peak_used_bytes; /* the largest used_bytes so far (kept across buddy_reset) */
  size_t cached_bytes;   /* in the lazy cache */
  size_t largest_free;   /* the largest free (or cached) block */
  size_t live_blocks;    /* allocated blocks (cached ones excluded) */
  size_t zero_known_bytes;        /* free pages known to read as zeros */
  /* Bytes that may be backed by memory: region_bytes - zero_known_bytes, i.e.
   * everything except the pages known to read as zeros (never touched since
   * the region was fresh, or cleaned through buddy_trim or
   * BUDDY_PAGES_CLEAN). Known-zero pages lie wholly inside free blocks, so
   * used_bytes <= committed_bytes. Kept as a running count (buddy_check
   * verifies it), so reading it costs nothing. Without BUDDY_TRACK_ZERO no
   * page is known zero and committed_bytes == region_bytes. */
  size_t committed_bytes;
  /* The largest committed_bytes so far: exact (every change of the count is
   * seen, not sampled at buddy_stats calls) and, like peak_used_bytes, kept
   * across buddy_reset (a reset leaves the zero pages as they are; only
   * buddy_init starts it afresh). Always >= committed_bytes; region_bytes
   * without BUDDY_TRACK_ZERO. */
  size_t peak_committed_bytes;
  size_t zero_filled_bytes;       /* bytes cleared for zeroed requests so far */
  size_t free_blocks[BUDDY_MAX_ORDERS];   /* free-list blocks per order */
  size_t cached_blocks[BUDDY_MAX_ORDERS]; /* cached blocks per order */
  /* 1 - largest_free / ideal, where ideal is the largest free block an
   * ideally packed instance holding the same used bytes would have: the
   * largest power of two no larger than free_bytes nor the largest root. So
   * 0 <= fragmentation < 1; 0 when there is no free memory, when nothing is
   * allocated (and the cache is empty, or merged), and while a few small
   * blocks leave half of the root free (splitting the root is not
   * fragmentation); it rises when free memory is scattered in blocks smaller
   * than the packing would leave (e.g. every other block freed). */
  double fragmentation;
} buddy_stats_t;

/* Fills *out. BUDDY_OK or BUDDY_E_INVALID; works on a corrupted instance.
 * Reads the metadata only (a few words per order and root). */
int buddy_stats(buddy_t* b, buddy_stats_t* out);

/* *out = the largest free or cached block none of whose pages is known to
 * read as zeros (see BUDDY_TRACK_ZERO): a block wholly inside
 * committed_bytes, so at most free_bytes - zero_known_bytes; 0 when there is
 * none. Without BUDDY_TRACK_ZERO it is the largest free block. Walks the
 * free lists from the largest order down, in-band links checked as every
 * list walk checks them, and scans the known-zero bits of each block it
 * visits until one has none. BUDDY_OK; BUDDY_E_INVALID (out NULL, not an
 * instance); BUDDY_E_CORRUPTED (found damaged, or already). */
int buddy_largest_free_committed(buddy_t* b, size_t* out);

/* Visits every block in address order: state 0 free, 1 live, 2 cached.
 * A nonzero return from `visit` stops the walk. BUDDY_OK, BUDDY_E_INVALID
 * or BUDDY_E_CORRUPTED. */
#define BUDDY_BLOCK_FREE 0
#define BUDDY_BLOCK_LIVE 1
#define BUDDY_BLOCK_CACHED 2
int buddy_walk(buddy_t* b, int (*visit)(void* start, size_t size, int state, void* arg),
               void* arg);

/* Verifies every invariant of the instance (see buddy.c) without changing
 * it. BUDDY_OK or BUDDY_E_CORRUPTED (then the instance refuses further work
 * and buddy_check_message names the broken invariant). */
int buddy_check(buddy_t* b);
const char* buddy_check_message(buddy_t* b);

#ifdef __cplusplus
}
#endif

#endif /* OFFHEAP_BUDDY_H */
