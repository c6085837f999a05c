/*
 * offheap — public interface of the dlmalloc-design allocator (csrc/dlmalloc.c).
 *
 * A clean-room implementation of Doug Lea's malloc 2.8 design behind the
 * portable-dlmalloc port contract (csrc/portable.h). Include this header with
 * the same configuration macros the .c file was compiled with:
 *
 *   USE_DL_PREFIX      public names carry a `dl` prefix (dlmalloc, dlfree, ...);
 *                      mspace_* names never do.
 *   MSPACES            also declare the mspace API.
 *   ONLY_MSPACES       declare the mspace API only (no global heap).
 *   MALLOC_INSPECT_ALL declare the inspect_all walkers.
 *   NO_MALLOC_STATS    when 0, declare the statistics printers (need dprintf2).
 *
 * Beyond the portable-dlmalloc API this header declares offheap's additions:
 * exact pointer validation, a full invariant check, mspaces whose state lives
 * outside their heap, and address bounds with a live-chunk map.
 */
#ifndef OFFHEAP_DLMALLOC_H
#define OFFHEAP_DLMALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- mallopt parameters --------------------------------------------------- */
#define M_TRIM_THRESHOLD (-1)
#define M_GRANULARITY (-2)
#define M_MMAP_THRESHOLD (-3)
/* offheap: mspace_set_param only. 1: the heap raises its mmap threshold to
 * the size of each direct-mapped chunk it frees (up to
 * DYNAMIC_MMAP_THRESHOLD_MAX) and its trim threshold to twice that, so a
 * program that keeps allocating and freeing blocks of one large size stops
 * paying a mapping and an unmapping for each; 0 (the default): off. Setting
 * M_MMAP_THRESHOLD or M_TRIM_THRESHOLD turns it off. */
#define M_MMAP_DYNAMIC (-4)
#ifndef DYNAMIC_MMAP_THRESHOLD_MAX
#define DYNAMIC_MMAP_THRESHOLD_MAX ((size_t)4 * 1024 * 1024 * sizeof(long))
#endif

/* ---- mallinfo --------------------------------------------------------------- */
#ifndef STRUCT_MALLINFO_DECLARED
#define STRUCT_MALLINFO_DECLARED 1
struct mallinfo {
  size_t arena;    /* bytes in segments (footprint minus direct maps) */
  size_t ordblks;  /* number of free chunks, top included */
  size_t smblks;   /* always 0 */
  size_t hblks;    /* always 0 (as upstream) */
  size_t hblkhd;   /* bytes in direct-mapped chunks (mappings included) */
  size_t usmblks;  /* peak footprint */
  size_t fsmblks;  /* always 0 */
  size_t uordblks; /* bytes in use: footprint - fordblks */
  size_t fordblks; /* free bytes, top and its reserved foot included */
  size_t keepcost; /* size of top: what malloc_trim could release at most */
};
#endif

/* ---- status codes of offheap's validating entry points ------------------ */
enum dl_status {
  DL_OK = 0,
  DL_E_FOREIGN = 1,       /* the address is not inside any memory of this heap */
  DL_E_NOT_ALLOCATED = 2, /* inside the heap, but not the start of a live
                             allocation: interior, stale, freed twice, misaligned */
  DL_E_CORRUPTED = 3,     /* the heap's metadata is damaged */
  DL_E_INVALID = 4        /* a bad argument to a configuration call */
};
/* A short constant name for a status ("DL_OK", "DL_E_FOREIGN", ...). */
const char* dl_status_name(int status);

#if !defined(ONLY_MSPACES)

#ifndef USE_DL_PREFIX
#define dlcalloc calloc
#define dlfree free
#define dlmalloc malloc
#define dlmemalign memalign
#define dlposix_memalign posix_memalign
#define dlrealloc realloc
#define dlrealloc_in_place realloc_in_place
#define dlvalloc valloc
#define dlpvalloc pvalloc
#define dlmallinfo mallinfo
#define dlmallopt mallopt
#define dlmalloc_trim malloc_trim
#define dlmalloc_stats malloc_stats
#define dlmalloc_usable_size malloc_usable_size
#define dlmalloc_footprint malloc_footprint
#define dlmalloc_max_footprint malloc_max_footprint
#define dlmalloc_footprint_limit malloc_footprint_limit
#define dlmalloc_set_footprint_limit malloc_set_footprint_limit
#define dlmalloc_inspect_all malloc_inspect_all
#define dlindependent_calloc independent_calloc
#define dlindependent_comalloc independent_comalloc
#define dlbulk_free bulk_free
#define dlmalloc_validate malloc_validate
#define dlmalloc_check malloc_check
#define dlmalloc_check_message malloc_check_message
#define dlmalloc_atfork_prepare malloc_atfork_prepare
#define dlmalloc_atfork_parent malloc_atfork_parent
#define dlmalloc_atfork_child malloc_atfork_child
#endif

/* ---- the global heap --------------------------------------------------------- */
void* dlmalloc(size_t n);
void dlfree(void* mem);
void* dlcalloc(size_t n_elements, size_t element_size);
void* dlrealloc(void* mem, size_t n);
void* dlrealloc_in_place(void* mem, size_t n);
void* dlmemalign(size_t alignment, size_t n);
int dlposix_memalign(void** pp, size_t alignment, size_t n);
void* dlvalloc(size_t n);
void* dlpvalloc(size_t n);
int dlmallopt(int param, int value);
int dlmalloc_trim(size_t pad);
struct mallinfo dlmallinfo(void);
size_t dlmalloc_usable_size(const void* mem);
size_t dlmalloc_footprint(void);
size_t dlmalloc_max_footprint(void);
size_t dlmalloc_footprint_limit(void);
size_t dlmalloc_set_footprint_limit(size_t bytes);
void** dlindependent_calloc(size_t n_elements, size_t element_size, void** chunks);
void** dlindependent_comalloc(size_t n_elements, size_t* sizes, void** chunks);
size_t dlbulk_free(void** array, size_t n_elements);
#if !defined(NO_MALLOC_STATS) || NO_MALLOC_STATS == 0
void dlmalloc_stats(void);
#endif
#ifdef MALLOC_INSPECT_ALL
void dlmalloc_inspect_all(void (*handler)(void* start, void* end, size_t used_bytes,
                                          void* callback_arg),
                          void* arg);
#endif

/* offheap: DL_OK when `mem` is the start of a live allocation of the global
 * heap, otherwise DL_E_FOREIGN or DL_E_NOT_ALLOCATED (or DL_E_CORRUPTED).
 * Never aborts, changes nothing, never reads memory outside the heap. */
int dlmalloc_validate(const void* mem);
/* offheap: walks the whole global heap and verifies every invariant.
 * DL_OK or DL_E_CORRUPTED; never aborts. */
int dlmalloc_check(void);
/* offheap: which invariant the last failed dlmalloc_check found broken. */
const char* dlmalloc_check_message(void);
/* offheap: fork() copies the heap's locks as they are, so a child forked
 * while another thread held one would wait for it forever. A program that
 * forks while other threads may allocate registers these with
 * pthread_atfork: prepare takes every lock of the global heap (the calling
 * thread then owns the heap until parent or child), parent releases them in
 * the parent, child in the child. No-ops when built without locks. */
void dlmalloc_atfork_prepare(void);
void dlmalloc_atfork_parent(void);
void dlmalloc_atfork_child(void);

#endif /* !ONLY_MSPACES */

#if defined(MSPACES) || defined(ONLY_MSPACES)
typedef void* mspace;

mspace create_mspace(size_t capacity, int locked);
mspace create_mspace_with_base(void* base, size_t capacity, int locked);
size_t destroy_mspace(mspace msp);
int mspace_track_large_chunks(mspace msp, int enable);

void* mspace_malloc(mspace msp, size_t bytes);
void mspace_free(mspace msp, void* mem);
void* mspace_calloc(mspace msp, size_t n_elements, size_t elem_size);
void* mspace_realloc(mspace msp, void* mem, size_t newsize);
void* mspace_realloc_in_place(mspace msp, void* mem, size_t newsize);
void* mspace_memalign(mspace msp, size_t alignment, size_t bytes);
void** mspace_independent_calloc(mspace msp, size_t n_elements, size_t elem_size,
                                 void* chunks[]);
void** mspace_independent_comalloc(mspace msp, size_t n_elements, size_t sizes[],
                                   void* chunks[]);
size_t mspace_bulk_free(mspace msp, void** array, size_t n_elements);
size_t mspace_usable_size(const void* mem);
size_t mspace_footprint(mspace msp);
size_t mspace_max_footprint(mspace msp);
size_t mspace_footprint_limit(mspace msp);
size_t mspace_set_footprint_limit(mspace msp, size_t bytes);
struct mallinfo mspace_mallinfo(mspace msp);
int mspace_trim(mspace msp, size_t pad);
int mspace_mallopt(int param, int value);
#if !defined(NO_MALLOC_STATS) || NO_MALLOC_STATS == 0
void mspace_malloc_stats(mspace msp);
#endif
#ifdef MALLOC_INSPECT_ALL
void mspace_inspect_all(mspace msp,
                        void (*handler)(void* start, void* end, size_t used_bytes,
                                        void* callback_arg),
                        void* arg);
#endif

/* ---- offheap additions for mspaces --------------------------------------- */

/* Exact validation: DL_OK when `mem` is the start of a live allocation of
 * `msp`; DL_E_FOREIGN when it lies outside the heap — outside its bounds for
 * a bounded heap (the whole range belongs to it), outside every segment and
 * direct mapping otherwise; DL_E_NOT_ALLOCATED for interior, stale, freed or
 * misaligned pointers inside it, and for the heap's own internal chunks.
 * Exact, without side effects, and it never reads memory outside the heap.
 * O(1) with a live-chunk map (mspace_set_bounds), otherwise a walk of the
 * segment that holds `mem`. */
int mspace_validate(mspace msp, const void* mem);

/* free that never aborts: DL_OK when `mem` was the start of a live
 * allocation (it is then freed), otherwise what mspace_validate would say and
 * nothing changes: DL_E_FOREIGN, DL_E_NOT_ALLOCATED, DL_E_CORRUPTED (the heap
 * was damaged, or the free found it damaged). NULL is DL_E_FOREIGN. The
 * pointer is checked once, under the lock the free takes. */
int mspace_free_status(mspace msp, void* mem);
/* realloc that never aborts: statuses as mspace_free_status for `oldmem`
 * (nothing changes unless DL_OK). On DL_OK, *out is the resized block (the
 * old one is gone), or NULL when there was no room (the old block is
 * untouched). */
int mspace_realloc_status(mspace msp, void* oldmem, size_t bytes, void** out);

/* The largest free chunk of the heap, top included (bytes, headers counted):
 * no request larger than this is served without new memory from the port. */
size_t mspace_largest_free(mspace msp);

/* The largest requests mspace_malloc serves now, as request sizes (the
 * `bytes` argument: chunk headers, alignment and the padding of new memory
 * accounted for), for a port that can hand out any run of up to `port_run`
 * bytes now, and up to `port_run_empty` bytes once this heap has given its
 * memory back (a heap that holds nothing gives its only segment back when the
 * port cannot serve a request; pass `port_run` when unknown). Runs the port
 * hands out must lie inside the heap's bounds.
 *   in_heap: served from the heap's free chunks (top included), so the heap
 *            takes no memory from the port: mspace_malloc(in_heap) succeeds
 *            without changing the footprint, mspace_malloc(in_heap + 1)
 *            needs new memory;
 *   any:     served at all: mspace_malloc(any) succeeds and
 *            mspace_malloc(any + 1) fails (any >= in_heap).
 * Each is 0 also when no request succeeds that way (not even one of 0 bytes).
 * DL_OK; DL_E_INVALID for a null `out` or a handle that is not an mspace;
 * DL_E_CORRUPTED (both 0) once the heap is found damaged (a damaged bin found
 * on the way marks it so, as every walk does). Changes nothing else. */
typedef struct mspace_room {
  size_t in_heap;
  size_t any;
} mspace_room;
int mspace_largest_requests(mspace msp, size_t port_run, size_t port_run_empty, mspace_room* out);

/* Full invariant walk (bins, bitmaps, tree shape, boundary tags, top, dv,
 * segments, footprint accounting, live-chunk map). DL_OK or DL_E_CORRUPTED;
 * never aborts. */
int mspace_check(mspace msp);
/* Which invariant the last failed mspace_check found broken ("" if none). */
const char* mspace_check_message(mspace msp);

/* Bytes of caller memory an mspace's state needs (create_mspace_with_state):
 * the heap state and its own tunable parameters. */
size_t mspace_state_size(void);
/* An mspace whose state lives in caller memory (`state`, at least
 * mspace_state_size() bytes, 16-aligned) rather than inside its own heap, so
 * that no write into heap memory can reach it. Every byte of heap comes from
 * custom_mmap. Returns NULL on bad arguments. destroy_mspace releases the
 * heap's memory; the state memory stays the caller's. */
mspace create_mspace_with_state(void* state, size_t state_size, int locked);

/* Set M_TRIM_THRESHOLD, M_GRANULARITY or M_MMAP_THRESHOLD (as mallopt, -1
 * meaning unlimited), or M_MMAP_DYNAMIC (0 or 1), for this mspace alone. Only mspaces made by
 * create_mspace_with_state have parameters of their own (they start as the
 * process-wide ones at creation); for others this returns 0 and
 * mspace_mallopt sets the process-wide value. 1 when applied. */
int mspace_set_param(mspace msp, int param, int value);

/* Bytes of live-chunk map needed to cover `length` bytes (1 bit per 16). */
size_t mspace_livemap_bytes(size_t length);
/* Confine `msp` to the address range [lo, lo + length): memory the port hands
 * out beyond it is returned and treated as a mapping failure, and every
 * pointer read from heap memory is checked against this range in O(1).
 * `livemap` (caller memory of mspace_livemap_bytes(length) bytes, outside the
 * range) records where live allocations start, which makes mspace_validate
 * O(1) and exact and lets free and realloc reject bad pointers exactly.
 * Call before the first allocation. DL_OK, or DL_E_INVALID for bad arguments
 * (misaligned or empty range, a map too small, a heap already in use). */
/* As mspace_set_bounds, for a `livemap` that already reads as zeros (fresh
 * anonymous memory, or given back with madvise): it is not cleared, so only
 * the parts covering used memory are ever written (and made resident). */
int mspace_set_bounds_zeroed(mspace msp, void* lo, size_t length, unsigned char* livemap,
                             size_t livemap_bytes);
int mspace_set_bounds(mspace msp, void* lo, size_t length, unsigned char* livemap,
                      size_t livemap_bytes);
#endif /* MSPACES */

#ifdef __cplusplus
}
#endif

#endif /* OFFHEAP_DLMALLOC_H */
