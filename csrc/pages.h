/*
 * offheap — a page-run allocator over one caller-provided region (csrc/pages.c).
 *
 * It serves the mapping hooks of a dlmalloc heap confined to a region: runs of
 * any whole number of pages (not powers of two), placed either at the lowest
 * address where they fit (PAGES_LOW: the heap's segments, so the heap grows as
 * one contiguous run from the bottom of the region and dlmalloc merges each
 * new segment into the previous one) or at the highest (PAGES_HIGH: large
 * chunks, stacked from the top). So a region of capacity C with a small heap
 * live can still give one run of nearly C bytes.
 *
 * The caller gives the region (base page-aligned, size a multiple of the page)
 * and a metadata buffer of pages_meta_size() bytes outside it. The allocator
 * never reads or writes the region except to clear pages for PAGES_ZEROED
 * requests; it never calls the operating system, libc's allocator or any port
 * hook; it uses only memset. One instance is used by one thread at a time (the
 * heap that calls it holds its own lock).
 *
 * Pages are PAGES_PAGE (4096) bytes. Frees are by range, not by run: a free
 * may cover the tail of a run, or several address-adjacent runs, as
 * custom_munmap may (portable.h); every page of the range must be in use.
 *
 * Zero tracking: the allocator remembers which free pages are known to read as
 * zeros (fresh at init with PAGES_REGION_ZEROED, freed with PAGES_CLEAN, or
 * given back through pages_trim), so a PAGES_ZEROED request clears only the
 * pages not known zero, and `committed` (what may be backed by memory) is
 * exact: used pages plus free pages not known zero.
 *
 * Every function is safe to call with any arguments: errors are return codes,
 * never an abort, and a refused call changes nothing. Once an operation finds
 * damaged metadata it returns PAGES_E_CORRUPTED and the instance refuses all
 * further work except pages_stats, pages_check and reading the message.
 */
#ifndef OFFHEAP_PAGES_H
#define OFFHEAP_PAGES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAGES_PAGE ((size_t)4096)

enum pages_status {
  PAGES_OK = 0,
  PAGES_E_FOREIGN = 1,       /* the range is not inside the region */
  PAGES_E_NOT_ALLOCATED = 2, /* some page of the range is free */
  PAGES_E_NOMEM = 3,         /* no free run is long enough */
  PAGES_E_INVALID = 4,       /* bad argument: misaligned, zero or overflowing length, flags,
                                metadata too small or misaligned, region misaligned */
  PAGES_E_CORRUPTED = 5      /* damaged metadata: the instance refuses further work */
};
/* A constant name for a status ("PAGES_OK", ...). */
const char* pages_status_name(int status);

/* pages_init flags */
#define PAGES_REGION_ZEROED 0x1u /* every page of the region reads as zeros now */
#define PAGES_META_ZEROED 0x2u   /* the metadata buffer reads as zeros now: it is not
                                    cleared, so untouched parts of it stay uncommitted */
/* pages_alloc flags (exactly one of LOW and HIGH) */
#define PAGES_LOW 0x1u    /* the run at the lowest address where it fits */
#define PAGES_HIGH 0x2u   /* the run at the highest address where it fits */
#define PAGES_ZEROED 0x4u /* the run must read as zeros */
/* pages_free flags */
#define PAGES_CLEAN 0x1u /* the caller made the range read as zeros (madvise) */

typedef struct pages pages_t;

/* Bytes of metadata needed for a region of `region_size` bytes (0 when it is
 * not a positive multiple of PAGES_PAGE): about 28 bytes per 64 pages, the
 * same for any base. */
size_t pages_meta_size(size_t region_size);

/* Makes an instance over [base, base + region_size), all free, its state in
 * `meta` (16-aligned, at least pages_meta_size(region_size) bytes). */
int pages_init(pages_t** out, void* meta, size_t meta_size, void* base, size_t region_size,
               unsigned flags);

/* A run of `length` bytes (a positive multiple of PAGES_PAGE), or NULL. */
void* pages_alloc(pages_t* p, size_t length, unsigned flags);

/* Frees [ptr, ptr + length): PAGES_OK, or why not (nothing changed). length 0
 * is PAGES_OK and does nothing. Checked in this order: flags, the instance,
 * a misaligned ptr or length or one that wraps (PAGES_E_INVALID), a range not
 * wholly inside the region (PAGES_E_FOREIGN), a free page in it
 * (PAGES_E_NOT_ALLOCATED). */
int pages_free(pages_t* p, void* ptr, size_t length, unsigned flags);

/* PAGES_OK when every page of [ptr, ptr + length) is in use, else as
 * pages_free would refuse. Changes nothing. */
int pages_validate(pages_t* p, const void* ptr, size_t length);

/* Offers every maximal run of free pages not known zero to `release` (which
 * makes it read as zeros, e.g. madvise(MADV_DONTNEED), and returns 0, or
 * returns nonzero to refuse); released runs are then known zero. *released
 * (may be NULL) gets the bytes released. */
int pages_trim(pages_t* p, int (*release)(void* ptr, size_t length, void* arg), void* arg,
               size_t* released);

/* What pages_reset did: bytes given to `release`, and words of metadata it
 * rewrote (used words and tree nodes). Both grow with what was touched since
 * the last reset, never with the region. */
typedef struct pages_reset_work {
  size_t released_bytes;
  size_t meta_words;
} pages_reset_work;

/* Every run is freed at once, in time proportional to the pages touched
 * since pages_init or the last pages_reset (not to the region): the
 * instance is then as after pages_init, except for zero tracking, which
 * stays exact: of the pages not known zero, the lowest `keep_bytes` worth
 * stay as they are (dirty: a PAGES_ZEROED request clears them), the others
 * are offered to `release` (as pages_trim does; NULL releases none) and are
 * known zero once it accepts. The peak of committed starts again from now.
 * *work (may be NULL) gets what was done. PAGES_OK, PAGES_E_INVALID or
 * PAGES_E_CORRUPTED (nothing changed). */
int pages_reset(pages_t* p, size_t keep_bytes, int (*release)(void* ptr, size_t length, void* arg),
                void* arg, pages_reset_work* work);

/* Bytes from the region's start: pages at or beyond *lo_end and below
 * *hi_start have not been handed out since pages_init or the last
 * pages_reset, and read as zeros (the caller's own per-page metadata is
 * untouched there too). Works on a corrupted instance. */
int pages_touched(pages_t* p, size_t* lo_end, size_t* hi_start);

typedef struct pages_stats {
  size_t region_bytes;      /* bytes managed */
  size_t meta_bytes;        /* bytes of metadata the instance uses */
  size_t used_bytes;        /* in runs handed out */
  size_t free_bytes;        /* region_bytes - used_bytes */
  size_t largest_free;      /* the longest free run: what one pages_alloc can get */
  size_t free_runs;         /* maximal runs of free pages */
  size_t zero_known_bytes;  /* free pages known to read as zeros */
  size_t committed_bytes;   /* region_bytes - zero_known_bytes */
  size_t peak_committed_bytes; /* the largest committed_bytes since init (exact) */
  size_t zero_filled_bytes; /* bytes cleared for PAGES_ZEROED requests so far */
} pages_stats_t;

/* Fills *out (works on a corrupted instance). PAGES_OK or PAGES_E_INVALID. */
int pages_stats(pages_t* p, pages_stats_t* out);

/* Verifies every invariant of the instance without changing it: PAGES_OK or
 * PAGES_E_CORRUPTED (the instance then refuses further work, and
 * pages_check_message names the broken invariant). */
int pages_check(pages_t* p);
const char* pages_check_message(pages_t* p);

#ifdef __cplusplus
}
#endif

#endif /* OFFHEAP_PAGES_H */
