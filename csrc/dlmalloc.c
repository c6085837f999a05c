/*
 * offheap — a clean-room allocator in the design of Doug Lea's malloc 2.8.
 *
 * Written from the behavioural specification in the project's reference
 * material, behind the portable-dlmalloc port contract (portable.h): the file
 * reaches its environment only through custom_mmap, custom_munmap,
 * custom_direct_mmap, the four lock hooks, custom_abort, dprintf2 (statistics
 * printers only), memcpy and memset.
 *
 * The design, in one paragraph: memory is carved into chunks with boundary
 * tags (a size word with two status bits before each chunk, the size repeated
 * at the end of free chunks), so neighbours coalesce in O(1). Free chunks under
 * 256 bytes sit in exact-size LIFO lists; larger ones in 32 bitwise tries of
 * distinct sizes with FIFO rings of equal sizes, searched best-fit. The
 * remainder of the last split made for a small request (the designated victim,
 * "dv") serves runs of small requests with locality; "top" is the free space
 * at the end of the newest segment. Segments come from custom_mmap and are
 * merged when address-adjacent; large requests get a mapping of their own.
 *
 * What this file adds to the design (offheap is used from a Node process,
 * where an abort kills a whole service):
 *  - every pointer read from heap memory (list and tree links, neighbours
 *    derived from sizes) is checked against the heap's own memory before it is
 *    followed, so damaged metadata is reported, never chased out of the heap;
 *  - exact pointer validation (mspace_validate) and a full invariant walk
 *    (mspace_check) that report a status instead of aborting;
 *  - mspaces whose state lives outside their heap and whose memory is
 *    confined to an address range with a live-chunk bitmap (O(1), exact
 *    rejection of bad frees);
 *  - direct-mapped chunks are tracked, so destroy_mspace releases them and a
 *    pointer into one is recognised exactly;
 *  - the overflow, footprint-limit and USE_LOCKS=0 defects of the original
 *    2.8.6 / portable-dlmalloc are fixed (see the notes at each site).
 *
 * Configuration macros (all optional): PORTABLE (accepted; this file always
 * uses the hooks), USE_LOCKS (0 none, 1 built-in spinlock, 2 port hooks),
 * USE_DL_PREFIX, MSPACES, ONLY_MSPACES, FOOTERS, NO_MALLOC_STATS,
 * MALLOC_INSPECT_ALL, DEFAULT_GRANULARITY, DEFAULT_TRIM_THRESHOLD,
 * DEFAULT_MMAP_THRESHOLD, MAX_RELEASE_CHECK_RATE, MMAP_CLEARS,
 * REALLOC_ZERO_BYTES_FREES, NO_SEGMENT_TRAVERSAL, MALLOC_ALIGNMENT.
 */

/* ==== configuration ========================================================= */

#ifndef USE_LOCKS
#define USE_LOCKS 0
#endif
#ifndef FOOTERS
#define FOOTERS 0
#endif
#if defined(ONLY_MSPACES) && !defined(MSPACES)
#define MSPACES 1
#endif
#ifndef NO_MALLOC_STATS
#define NO_MALLOC_STATS 0
#endif
#ifndef DEFAULT_GRANULARITY
#define DEFAULT_GRANULARITY ((size_t)64U * (size_t)1024U)
#endif
#ifndef DEFAULT_TRIM_THRESHOLD
#define DEFAULT_TRIM_THRESHOLD ((size_t)2U * (size_t)1024U * (size_t)1024U)
#endif
#ifndef DEFAULT_MMAP_THRESHOLD
#define DEFAULT_MMAP_THRESHOLD ((size_t)256U * (size_t)1024U)
#endif
#ifndef MAX_RELEASE_CHECK_RATE
#define MAX_RELEASE_CHECK_RATE 4095
#endif
#ifndef MMAP_CLEARS
#define MMAP_CLEARS 1
#endif
#ifndef REALLOC_ZERO_BYTES_FREES
#define REALLOC_ZERO_BYTES_FREES 0
#endif
#ifndef NO_SEGMENT_TRAVERSAL
#define NO_SEGMENT_TRAVERSAL 0
#endif
#ifndef MALLOC_ALIGNMENT
#define MALLOC_ALIGNMENT ((size_t)(2 * sizeof(void*)))
#endif
/* The page size: the port contract fixes it at 4096 unless a build says
 * otherwise. */
#ifndef malloc_getpagesize
#define malloc_getpagesize ((size_t)4096U)
#endif

#include "dlmalloc.h"
#include "portable.h"

#include <stddef.h>
#include <stdint.h>

/* The only libc functions used (the port contract provides them). */
void* memcpy(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);

#if defined(__GNUC__)
#define DL_LIKELY(x) __builtin_expect(!!(x), 1)
#define DL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define DL_INLINE static inline __attribute__((always_inline))
#define DL_NOINLINE static __attribute__((noinline))
#else
#define DL_LIKELY(x) (x)
#define DL_UNLIKELY(x) (x)
#define DL_INLINE static inline
#define DL_NOINLINE static
#endif

/* ==== sizes and constants ==================================================== */

#define MAX_SIZE_T (~(size_t)0)
#define SIZE_T_SIZE (sizeof(size_t))
#define SIZE_T_BITSIZE (sizeof(size_t) << 3)
#define TWO_SIZE_T_SIZES (SIZE_T_SIZE << 1)
#define FOUR_SIZE_T_SIZES (SIZE_T_SIZE << 2)
#define SIX_SIZE_T_SIZES (FOUR_SIZE_T_SIZES + TWO_SIZE_T_SIZES)
#define CHUNK_ALIGN_MASK (MALLOC_ALIGNMENT - 1)
#define MFAIL ((void*)MAX_SIZE_T)
#define CMFAIL ((char*)MFAIL)

/* Bytes needed to move address A up to the next MALLOC_ALIGNMENT boundary. */
#define align_offset(A)                                 \
  ((((size_t)(A)&CHUNK_ALIGN_MASK) == 0)                \
       ? 0                                              \
       : ((MALLOC_ALIGNMENT - ((size_t)(A)&CHUNK_ALIGN_MASK)) & CHUNK_ALIGN_MASK))

#define is_aligned(A) (((size_t)((A)) & (CHUNK_ALIGN_MASK)) == 0)

/* ==== chunks ==================================================================
 *
 * A chunk at address p:
 *   p + 0  prev_foot  size of the previous chunk when that chunk is free; the
 *                     last word of its user data when it is in use; for a
 *                     direct-mapped chunk, the offset of p in its mapping.
 *                     With FOOTERS, an in-use previous chunk keeps
 *                     (owner mstate ^ magic) here.
 *   p + 8  head       chunk size | PINUSE | CINUSE
 *   p + 16 fd, bk     list links (free chunks only); user data starts here
 *   p + 32 child[2], parent, index   tree links (free chunks >= 256 bytes)
 *
 * Invariants (checked by check_heap):
 *  - every chunk size is a multiple of MALLOC_ALIGNMENT and >= MIN_CHUNK_SIZE;
 *  - a free chunk repeats its size in the next chunk's prev_foot and clears
 *    that chunk's PINUSE; an in-use chunk sets the next chunk's PINUSE;
 *  - no two free chunks are adjacent (free coalesces at once);
 *  - the first chunk of a segment has PINUSE set;
 *  - a direct-mapped chunk has CINUSE = PINUSE = 0 and is followed by a
 *    FENCEPOST_HEAD word, a zero word and offheap's direct-list link.
 */

#define PINUSE_BIT ((size_t)1)
#define CINUSE_BIT ((size_t)2)
#define FLAG4_BIT ((size_t)4)
#define INUSE_BITS (PINUSE_BIT | CINUSE_BIT)
#define FLAG_BITS (PINUSE_BIT | CINUSE_BIT | FLAG4_BIT)
/* The head of the words that close a segment: an in-use chunk of one word. */
#define FENCEPOST_HEAD (INUSE_BITS | SIZE_T_SIZE)

struct malloc_chunk {
  size_t prev_foot;
  size_t head;
  struct malloc_chunk* fd;
  struct malloc_chunk* bk;
};
typedef struct malloc_chunk mchunk;
typedef struct malloc_chunk* mchunkptr;
typedef unsigned int bindex_t;
typedef unsigned int binmap_t;
typedef unsigned int flag_t;

#define MCHUNK_SIZE (sizeof(mchunk))
#if FOOTERS
#define CHUNK_OVERHEAD (TWO_SIZE_T_SIZES)
#else
#define CHUNK_OVERHEAD (SIZE_T_SIZE)
#endif
#define MMAP_CHUNK_OVERHEAD (TWO_SIZE_T_SIZES)
/* After a direct-mapped chunk: footer (FOOTERS), fencepost, zero, list link. */
#define MMAP_FOOT_PAD (FOUR_SIZE_T_SIZES)
#define MIN_CHUNK_SIZE ((MCHUNK_SIZE + CHUNK_ALIGN_MASK) & ~CHUNK_ALIGN_MASK)

#define chunk2mem(p) ((void*)((char*)(p) + TWO_SIZE_T_SIZES))
#define mem2chunk(mem) ((mchunkptr)((char*)(mem)-TWO_SIZE_T_SIZES))
#define align_as_chunk(A) (mchunkptr)((A) + align_offset(chunk2mem(A)))

/* Requests at or above MAX_REQUEST fail at once; below MIN_REQUEST they get
 * the minimum chunk. */
#define MAX_REQUEST ((-MIN_CHUNK_SIZE) << 2)
#define MIN_REQUEST (MIN_CHUNK_SIZE - CHUNK_OVERHEAD - 1)
#define pad_request(req) (((req) + CHUNK_OVERHEAD + CHUNK_ALIGN_MASK) & ~CHUNK_ALIGN_MASK)
#define request2size(req) (((req) < MIN_REQUEST) ? MIN_CHUNK_SIZE : pad_request(req))

#define cinuse(p) ((p)->head & CINUSE_BIT)
#define pinuse(p) ((p)->head & PINUSE_BIT)
#define flag4inuse(p) ((p)->head & FLAG4_BIT)
#define is_inuse(p) (((p)->head & INUSE_BITS) != PINUSE_BIT)
#define is_mmapped(p) (((p)->head & INUSE_BITS) == 0)
#define chunksize(p) ((p)->head & ~(FLAG_BITS))
#define clear_pinuse(p) ((p)->head &= ~PINUSE_BIT)

#define chunk_plus_offset(p, s) ((mchunkptr)(((char*)(p)) + (s)))
#define chunk_minus_offset(p, s) ((mchunkptr)(((char*)(p)) - (s)))
#define next_chunk(p) ((mchunkptr)(((char*)(p)) + chunksize(p)))
#define prev_chunk(p) ((mchunkptr)(((char*)(p)) - ((p)->prev_foot)))
#define next_pinuse(p) ((next_chunk(p)->head) & PINUSE_BIT)

#define get_foot(p, s) (((mchunkptr)((char*)(p) + (s)))->prev_foot)
#define set_foot(p, s) (((mchunkptr)((char*)(p) + (s)))->prev_foot = (s))
#define set_size_and_pinuse_of_free_chunk(p, s) \
  ((p)->head = ((s) | PINUSE_BIT), set_foot(p, s))
#define set_free_with_pinuse(p, s, n) (clear_pinuse(n), set_size_and_pinuse_of_free_chunk(p, s))

/* Usable bytes of an in-use chunk. */
#define overhead_for(p) (is_mmapped(p) ? MMAP_CHUNK_OVERHEAD : CHUNK_OVERHEAD)

#if MMAP_CLEARS
#define calloc_must_clear(p) (!is_mmapped(p))
#else
#define calloc_must_clear(p) (1)
#endif

/* Tree chunks: free chunks of MIN_LARGE_SIZE bytes or more. */
struct malloc_tree_chunk {
  size_t prev_foot;
  size_t head;
  struct malloc_tree_chunk* fd;
  struct malloc_tree_chunk* bk;
  struct malloc_tree_chunk* child[2];
  struct malloc_tree_chunk* parent;
  bindex_t index;
};
typedef struct malloc_tree_chunk tchunk;
typedef struct malloc_tree_chunk* tchunkptr;
typedef struct malloc_tree_chunk* tbinptr;

#define leftmost_child(t) ((t)->child[0] != 0 ? (t)->child[0] : (t)->child[1])

/* ==== segments ================================================================
 *
 * A segment is one contiguous run of memory obtained from the port. The head
 * record lives in the mstate and describes the segment holding top; the
 * others are kept in small in-use chunks carved at the end of the segment that
 * was current when the next one was added, followed by fencepost words up to
 * that segment's end.
 */
struct malloc_segment {
  char* base;
  size_t size;
  struct malloc_segment* next;
  flag_t sflags;
};
typedef struct malloc_segment msegment;
typedef struct malloc_segment* msegmentptr;

#define USE_MMAP_BIT ((flag_t)1)
#define EXTERN_BIT ((flag_t)8)
#define is_mmapped_segment(S) ((S)->sflags & USE_MMAP_BIT)
#define is_extern_segment(S) ((S)->sflags & EXTERN_BIT)

/* ==== the heap state (mstate) ================================================
 *
 * Invariants (checked by check_heap):
 *  - smallmap bit i is set iff small bin i is non-empty; treemap bit i iff
 *    tree bin i is non-empty;
 *  - small bin i holds only free chunks of exactly i << SMALLBIN_SHIFT bytes;
 *    tree bin i holds free chunks whose sizes map to index i;
 *  - dv (when dvsize != 0) and top are free chunks in no bin; top is followed
 *    by TOP_FOOT_SIZE reserved bytes at the end of the head segment;
 *  - footprint is the sum of segment sizes and direct mappings;
 *    max_footprint >= footprint;
 *  - with a live-chunk map, bit (mem - least_addr) / 16 is set iff mem is the
 *    start of a chunk handed to the program and not yet freed.
 *
 * Layout note: the fields fit 944 bytes on 64-bit with a pointer-sized lock,
 * as in the original design (the mstate of create_mspace is a 960-byte chunk
 * and the first allocation lands 976 bytes into the mspace). offheap's extra
 * fields use the space the original left unused.
 */
#define NSMALLBINS (32U)
#define NTREEBINS (32U)
#define SMALLBIN_SHIFT (3U)
#define SMALLBIN_WIDTH (1U << SMALLBIN_SHIFT)
#define TREEBIN_SHIFT (8U)
#define MIN_LARGE_SIZE ((size_t)1 << TREEBIN_SHIFT)
#define MAX_SMALL_SIZE (MIN_LARGE_SIZE - 1)
#define MAX_SMALL_REQUEST (MAX_SMALL_SIZE - CHUNK_ALIGN_MASK - CHUNK_OVERHEAD)

struct malloc_state {
  binmap_t smallmap;
  binmap_t treemap;
  size_t dvsize;
  size_t topsize;
  char* least_addr;
  mchunkptr dv;
  mchunkptr top;
  size_t trim_check;
  size_t release_checks;
  size_t magic;
  /* Small bin i's list head is a fake chunk whose fd/bk are smallbins[2i],
   * smallbins[2i+1]; its prev_foot and head are never touched. */
  mchunkptr smallbins[NSMALLBINS * 2];
  tbinptr treebins[NTREEBINS];
  size_t footprint;
  size_t max_footprint;
  size_t footprint_limit; /* 0 = no limit */
  flag_t mflags;
#if USE_LOCKS
  void* mutex;
#endif
  msegment seg;
  /* offheap: one past the last usable address when the mstate is bounded. */
  char* highest_addr;
  /* offheap: live-chunk bitmap over [least_addr, highest_addr), or NULL. */
  unsigned char* livemap;
  /* offheap: the most recently direct-mapped chunk; each links to the next
   * through the last word of its trailer. */
  mchunkptr direct_head;
  /* offheap: what the last failed check found ("" when none). */
  const char* check_message;
#if FOOTERS
  /* offheap: the next mspace in the registry (see owner_of). */
  struct malloc_state* registry_next;
#endif
};
typedef struct malloc_state* mstate;

/* mflags */
#define USE_LOCK_BIT ((flag_t)2)
#define USE_MMAP_BIT_M ((flag_t)1) /* (same value as the segment flag USE_MMAP_BIT) */
#define USE_NONCONTIGUOUS_BIT ((flag_t)4)
#define BOUNDED_BIT ((flag_t)16)  /* offheap: confined to [least_addr, highest_addr) */
#define CORRUPT_BIT ((flag_t)32)  /* offheap: an error was reported; refuse work */
/* offheap: the heap spans more than its head segment (other segments or
 * direct maps), so range checks must look at each of them. */
#define MULTI_RANGE_BIT ((flag_t)64)
/* offheap: the heap has parameters of its own (create_mspace_with_state),
 * kept right after the mstate; see heap_params. */
#define OWN_PARAMS_BIT ((flag_t)128)

#define use_lock(M) ((M)->mflags & USE_LOCK_BIT)
#define use_mmap(M) ((M)->mflags & USE_MMAP_BIT_M)
#define enable_mmap(M) ((M)->mflags |= USE_MMAP_BIT_M)
#define disable_mmap(M) ((M)->mflags &= ~USE_MMAP_BIT_M)
#define is_bounded(M) ((M)->mflags & BOUNDED_BIT)
#define is_corrupt(M) ((M)->mflags & CORRUPT_BIT)
#define is_initialized(M) ((M)->top != 0)

/* A padded segment record plus a minimum chunk: what follows top. */
#define TOP_FOOT_SIZE \
  (align_offset(chunk2mem(0)) + pad_request(sizeof(struct malloc_segment)) + MIN_CHUNK_SIZE)
#define SYS_ALLOC_PADDING (TOP_FOOT_SIZE + MALLOC_ALIGNMENT)

/* ==== process-wide parameters ================================================ */

struct malloc_params {
  size_t magic; /* non-zero once initialised */
  size_t page_size;
  size_t granularity;
  size_t mmap_threshold;
  size_t trim_threshold;
  flag_t default_mflags;
};
static struct malloc_params mparams;

static int init_mparams(void);
/* The magic is published last (release), so a non-zero magic read with
 * acquire means every parameter is set. */
static inline int params_ready(void) { return __atomic_load_n(&mparams.magic, __ATOMIC_ACQUIRE) != 0; }
#define ensure_initialization() (void)(params_ready() || init_mparams())


#define page_align(S) (((S) + (mparams.page_size - (size_t)1)) & ~(mparams.page_size - (size_t)1))
#define granularity_align(S) \
  (((S) + (mparams.granularity - (size_t)1)) & ~(mparams.granularity - (size_t)1))
#define mmap_align(S) page_align(S)

/* The tunable parameters a heap may hold for itself instead of using the
 * process-wide ones (only heaps whose state the caller owns: the 944-byte
 * mstate of in-heap states has no room). They follow the mstate in the
 * caller's state memory; mspace_state_size() counts them. */
struct heap_params {
  size_t granularity;
  size_t mmap_threshold;
  size_t trim_threshold;
  int dynamic_mmap; /* M_MMAP_DYNAMIC */
};
struct malloc_state_with_params {
  struct malloc_state state;
  struct heap_params params;
};
#define own_params(M) (&((struct malloc_state_with_params*)(M))->params)

#ifndef ONLY_MSPACES
/* With room for parameters like any state, although the global heap never
 * holds its own (OWN_PARAMS_BIT): own_params stays inside the object. */
static struct malloc_state_with_params global_heap_state;
#define gm (&global_heap_state.state)
#define is_global(M) ((M) == gm)
#else
#define is_global(M) (0)
#endif
#define heap_granularity(M) \
  (((M)->mflags & OWN_PARAMS_BIT) ? own_params(M)->granularity : mparams.granularity)
#define heap_mmap_threshold(M) \
  (((M)->mflags & OWN_PARAMS_BIT) ? own_params(M)->mmap_threshold : mparams.mmap_threshold)
#define heap_trim_threshold(M) \
  (((M)->mflags & OWN_PARAMS_BIT) ? own_params(M)->trim_threshold : mparams.trim_threshold)
#define heap_granularity_align(M, S) \
  (((S) + (heap_granularity(M) - (size_t)1)) & ~(heap_granularity(M) - (size_t)1))
#define is_page_aligned(S) (((size_t)(S) & (mparams.page_size - (size_t)1)) == 0)
#define is_granularity_aligned(S) (((size_t)(S) & (mparams.granularity - (size_t)1)) == 0)

/* ==== locks ==================================================================== */

#if USE_LOCKS == 2
#define INITIAL_LOCK(l) init_lock(l)
#define DESTROY_LOCK(l) final_lock(l)
#define ACQUIRE_LOCK(l) acquire_lock(l)
#define RELEASE_LOCK(l) release_lock(l)
#elif USE_LOCKS == 1
/* Built-in lock: test-and-set on the word, spinning on reads while held. */
static void builtin_acquire(void** l) {
  while (__atomic_exchange_n((volatile uintptr_t*)l, (uintptr_t)1, __ATOMIC_ACQUIRE) != 0) {
    while (__atomic_load_n((volatile uintptr_t*)l, __ATOMIC_RELAXED) != 0) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }
}
#define INITIAL_LOCK(l) (*(l) = 0)
#define DESTROY_LOCK(l) ((void)0)
#define ACQUIRE_LOCK(l) builtin_acquire(l)
#define RELEASE_LOCK(l) __atomic_store_n((volatile uintptr_t*)(l), (uintptr_t)0, __ATOMIC_RELEASE)
#endif

#if USE_LOCKS
static void* malloc_global_mutex; /* zero-filled: a valid unlocked lock */
#define ACQUIRE_MALLOC_GLOBAL_LOCK() ACQUIRE_LOCK(&malloc_global_mutex)
#define RELEASE_MALLOC_GLOBAL_LOCK() RELEASE_LOCK(&malloc_global_mutex)
#define PREACTION(M) (use_lock(M) ? (ACQUIRE_LOCK(&(M)->mutex), 0) : 0)
#define POSTACTION(M)                              \
  do {                                             \
    if (use_lock(M)) RELEASE_LOCK(&(M)->mutex);    \
  } while (0)
#else
/* B1 of the port's bug list: with locks off every lock step is a no-op
 * statement, so the file compiles with USE_LOCKS=0. */
#define ACQUIRE_MALLOC_GLOBAL_LOCK() ((void)0)
#define RELEASE_MALLOC_GLOBAL_LOCK() ((void)0)
#define PREACTION(M) (0)
#define POSTACTION(M) ((void)0)
#endif

/* ==== error reporting ==========================================================
 *
 * Misuse (a bad pointer given to free or realloc) and damage (metadata that
 * fails a check) go to custom_abort. Misuse is detected before anything is
 * written, so a port that unwinds out of custom_abort (longjmp) keeps a
 * usable heap; damaged metadata marks the heap corrupted first, and a
 * corrupted heap refuses all further work. A port that returns from
 * custom_abort breaks the contract; the heap is then marked corrupted too and
 * the operation in progress stops without another write.
 */
static const char usage_error_message[] = "Usage Error Detected!";
static const char corruption_error_message[] = "Corruption Detected!";

DL_NOINLINE void usage_error(mstate m, const char* file, unsigned line) {
  custom_abort(usage_error_message, file, line);
  m->mflags |= CORRUPT_BIT;
}
DL_NOINLINE void corruption_error(mstate m, const char* file, unsigned line) {
  m->mflags |= CORRUPT_BIT;
  custom_abort(corruption_error_message, file, line);
}
#define USAGE_ERROR_ACTION(m) usage_error((m), __FILE__, __LINE__)
#define CORRUPTION_ERROR_ACTION(m) corruption_error((m), __FILE__, __LINE__)

/* ==== bins ===================================================================== */

#define smallbin_at(M, i) ((mchunkptr)((char*)&((M)->smallbins[(i) << 1]) - TWO_SIZE_T_SIZES))
#define treebin_at(M, i) (&((M)->treebins[i]))

#define is_small(s) (((s) >> SMALLBIN_SHIFT) < NSMALLBINS)
#define small_index(s) (bindex_t)((s) >> SMALLBIN_SHIFT)
#define small_index2size(i) ((size_t)(i) << SMALLBIN_SHIFT)
#define MIN_SMALL_INDEX (small_index(MIN_CHUNK_SIZE))

#define idx2bit(i) ((binmap_t)(1) << (i))
#define mark_smallmap(M, i) ((M)->smallmap |= idx2bit(i))
#define clear_smallmap(M, i) ((M)->smallmap &= ~idx2bit(i))
#define smallmap_is_marked(M, i) ((M)->smallmap & idx2bit(i))
#define mark_treemap(M, i) ((M)->treemap |= idx2bit(i))
#define clear_treemap(M, i) ((M)->treemap &= ~idx2bit(i))
#define treemap_is_marked(M, i) ((M)->treemap & idx2bit(i))

#define least_bit(x) ((x) & -(x))
#define left_bits(x) ((x << 1) | -(x << 1))
#define same_or_left_bits(x) ((x) | -(x))

DL_INLINE bindex_t bit2idx(binmap_t x) { return (bindex_t)__builtin_ctz(x); }

/* Tree bin of a chunk size: two bins per power of two from 256 bytes up;
 * bin 31 takes everything from 12 MiB (16 MiB - 4 MiB on the half split). */
DL_INLINE bindex_t compute_tree_index(size_t s) {
  size_t x = s >> TREEBIN_SHIFT;
  if (x == 0) return 0;
  if (x > 0xFFFF) return NTREEBINS - 1;
  unsigned k = (unsigned)(sizeof(unsigned long long) * 8 - 1) -
               (unsigned)__builtin_clzll((unsigned long long)x);
  return (bindex_t)((k << 1) + ((s >> (k + (TREEBIN_SHIFT - 1))) & 1));
}

/* Shift that brings the first size bit a tree bin does not fix to the top. */
#define leftshift_for_tree_index(i) \
  ((i == NTREEBINS - 1) ? 0 : ((SIZE_T_BITSIZE - (size_t)1) - (((i) >> 1) + TREEBIN_SHIFT - 2)))

/* The smallest chunk size of tree bin i. */
#define minsize_for_tree_index(i)                   \
  (((size_t)1 << (((i) >> 1) + TREEBIN_SHIFT)) |    \
   (((size_t)((i)&1)) << (((i) >> 1) + TREEBIN_SHIFT - 1)))

/* ==== in-use marking (FOOTERS) ================================================== */

#if FOOTERS
#define mark_inuse_foot(M, p, s) \
  (((mchunkptr)((char*)(p) + (s)))->prev_foot = ((size_t)(M) ^ mparams.magic))
#define get_mstate_for(p) \
  ((mstate)(((mchunkptr)((char*)(p) + (chunksize(p))))->prev_foot ^ mparams.magic))
#define set_inuse(M, p, s)                                               \
  ((p)->head = (((p)->head & PINUSE_BIT) | (s) | CINUSE_BIT),              \
   (((mchunkptr)(((char*)(p)) + (s)))->head |= PINUSE_BIT), mark_inuse_foot(M, p, s))
#define set_inuse_and_pinuse(M, p, s)                                    \
  ((p)->head = ((s) | PINUSE_BIT | CINUSE_BIT),                            \
   (((mchunkptr)(((char*)(p)) + (s)))->head |= PINUSE_BIT), mark_inuse_foot(M, p, s))
#define set_size_and_pinuse_of_inuse_chunk(M, p, s) \
  ((p)->head = ((s) | PINUSE_BIT | CINUSE_BIT), mark_inuse_foot(M, p, s))
#else
#define mark_inuse_foot(M, p, s) ((void)0)
#define set_inuse(M, p, s)                                  \
  ((p)->head = (((p)->head & PINUSE_BIT) | (s) | CINUSE_BIT), \
   ((mchunkptr)(((char*)(p)) + (s)))->head |= PINUSE_BIT)
#define set_inuse_and_pinuse(M, p, s) \
  ((p)->head = ((s) | PINUSE_BIT | CINUSE_BIT), ((mchunkptr)(((char*)(p)) + (s)))->head |= PINUSE_BIT)
#define set_size_and_pinuse_of_inuse_chunk(M, p, s) ((p)->head = ((s) | PINUSE_BIT | CINUSE_BIT))
#endif

/* ==== parameters ============================================================== */

static int init_mparams(void) {
  ACQUIRE_MALLOC_GLOBAL_LOCK();
  if (mparams.magic == 0) {
    size_t psize = malloc_getpagesize;
    size_t gsize = (DEFAULT_GRANULARITY != 0) ? DEFAULT_GRANULARITY : psize;
    /* The design depends on these; a build that breaks one cannot work. */
    if ((sizeof(size_t) != sizeof(char*)) || (MAX_SIZE_T < MIN_CHUNK_SIZE) ||
        (sizeof(int) < 4) || (MALLOC_ALIGNMENT < (size_t)8U) ||
        ((MALLOC_ALIGNMENT & (MALLOC_ALIGNMENT - 1)) != 0) ||
        ((MCHUNK_SIZE & (MCHUNK_SIZE - 1)) != 0) || ((gsize & (gsize - 1)) != 0) ||
        ((psize & (psize - 1)) != 0)) {
      custom_abort("Sanity-Check Failed!", __FILE__, __LINE__);
    }
    mparams.granularity = gsize;
    mparams.page_size = psize;
    mparams.mmap_threshold = DEFAULT_MMAP_THRESHOLD;
    mparams.trim_threshold = DEFAULT_TRIM_THRESHOLD;
    mparams.default_mflags = USE_LOCK_BIT | USE_MMAP_BIT_M | USE_NONCONTIGUOUS_BIT;
#ifndef ONLY_MSPACES
    gm->mflags = mparams.default_mflags;
    gm->check_message = "";
#if USE_LOCKS
    INITIAL_LOCK(&gm->mutex);
#endif
#endif
    {
      /* Without a clock or /dev/urandom the magic mixes two addresses, which
       * differ between processes under ASLR. Low bits: 8 set, 0-2 clear. */
      size_t local = 0;
      size_t magic = (size_t)(uintptr_t)&local ^ ((size_t)(uintptr_t)&mparams << 17);
      magic ^= magic >> 29;
      magic *= (size_t)0x9E3779B97F4A7C15ULL;
      magic ^= (size_t)0x55555555U;
      magic |= (size_t)8U;
      magic &= ~(size_t)7U;
      __atomic_store_n(&mparams.magic, magic, __ATOMIC_RELEASE);
    }
  }
  RELEASE_MALLOC_GLOBAL_LOCK();
  return 1;
}


/* Apply a mallopt setting to a parameter set (the process-wide one or a
 * heap's own): 1 when applied. -1 means MAX_SIZE_T; a granularity must be a
 * power of two of at least a page. */
static int set_param(size_t* granularity, size_t* mmap_threshold, size_t* trim_threshold,
                     int param_number, int value) {
  size_t val = (value == -1) ? MAX_SIZE_T : (size_t)value;
  switch (param_number) {
    case M_TRIM_THRESHOLD:
      *trim_threshold = val;
      return 1;
    case M_GRANULARITY:
      if (val >= mparams.page_size && ((val & (val - 1)) == 0)) {
        *granularity = val;
        return 1;
      }
      return 0;
    case M_MMAP_THRESHOLD:
      *mmap_threshold = val;
      return 1;
    default:
      return 0;
  }
}

static int change_mparam(int param_number, int value) {
  ensure_initialization();
  return set_param(&mparams.granularity, &mparams.mmap_threshold, &mparams.trim_threshold,
                   param_number, value);
}

/* ==== which addresses belong to a heap =========================================
 *
 * Every pointer read from heap memory is checked with ok_chunk before the
 * memory it points to is read or written. A bounded heap checks against its
 * fixed range in O(1); an unbounded heap with a single segment and no direct
 * maps against that segment; otherwise against each segment and direct map.
 */

/* [a, a + len) lies inside one segment of m. */
static int in_segments(mstate m, const char* a, size_t len) {
  const msegment* sp = &m->seg;
  for (size_t guard = 0; sp != 0 && guard < ((size_t)1 << 24); guard++) {
    if (a >= sp->base && (size_t)(a - sp->base) <= sp->size && len <= sp->size - (size_t)(a - sp->base))
      return 1;
    sp = sp->next;
  }
  return 0;
}

#define direct_link_at(p, psize) (*(mchunkptr*)((char*)(p) + (psize) + 3 * SIZE_T_SIZE))
#define direct_mapping_base(p) ((char*)(p) - (p)->prev_foot)
#define direct_mapping_size(p) ((p)->prev_foot + chunksize(p) + MMAP_FOOT_PAD)

/* [a, a + len) lies inside one direct mapping of m. */
static int in_direct_maps(mstate m, const char* a, size_t len) {
  mchunkptr p = m->direct_head;
  for (size_t guard = 0; p != 0 && guard < ((size_t)1 << 24); guard++) {
    const char* base = direct_mapping_base(p);
    size_t size = direct_mapping_size(p);
    if (a >= base && (size_t)(a - base) <= size && len <= size - (size_t)(a - base)) return 1;
    p = direct_link_at(p, chunksize(p));
  }
  return 0;
}

DL_INLINE int ok_range(mstate m, const void* a, size_t len) {
  const char* p = (const char*)a;
  flag_t f = m->mflags;
  if (f & BOUNDED_BIT) {
    return p >= m->least_addr && p <= m->highest_addr && len <= (size_t)(m->highest_addr - p);
  }
  if (DL_LIKELY(!(f & MULTI_RANGE_BIT))) {
    size_t off = (size_t)(p - m->seg.base); /* wraps to huge below base */
    return off <= m->seg.size && len <= m->seg.size - off;
  }
  return in_segments(m, p, len) || in_direct_maps(m, p, len);
}

/* Keep MULTI_RANGE_BIT in step with the segment list and the direct list. */
static void refresh_range_flag(mstate m) {
  if (m->seg.next != 0 || m->direct_head != 0)
    m->mflags |= MULTI_RANGE_BIT;
  else
    m->mflags &= ~MULTI_RANGE_BIT;
}

/* A chunk pointer read from the heap may be followed: aligned, and its whole
 * header (tree links included) inside the heap. */
#define ok_chunk(M, p) (ok_range((M), (p), sizeof(tchunk)) && is_aligned(chunk2mem(p)))
/* A chunk size read from the heap keeps the next chunk's header inside. */
#define ok_next(M, p, s) \
  ((s) >= MIN_CHUNK_SIZE && (s) < MAX_REQUEST && ok_range((M), (p), (s) + TWO_SIZE_T_SIZES))

/* ==== the live-chunk map (bounded heaps) ========================================= */

#define LIVE_GRANULE MALLOC_ALIGNMENT

/* The bytes of a map for `length` bytes of heap: one bit per granule. */
static size_t livemap_bytes(size_t length) {
  size_t granules = length / LIVE_GRANULE + ((length % LIVE_GRANULE) != 0);
  return granules / 8 + ((granules % 8) != 0);
}

DL_INLINE size_t live_index(mstate m, const void* mem) {
  return (size_t)((const char*)mem - m->least_addr) / LIVE_GRANULE;
}
DL_INLINE void set_live(mstate m, const void* mem) {
  if (m->livemap != 0) {
    size_t i = live_index(m, mem);
    m->livemap[i >> 3] |= (unsigned char)(1U << (i & 7));
  }
}
/* A chunk the heap is about to hand out: marked live, or 0 when the map says
 * it is live already. Then the heap's metadata was damaged (a live chunk sat
 * in a bin), and handing it out again would give two owners one block. */
DL_INLINE void* claim_live(mstate m, void* mem) {
  if (mem == 0 || m->livemap == 0) return mem;
  size_t i = live_index(m, mem);
  unsigned char bit = (unsigned char)(1U << (i & 7));
  if (DL_UNLIKELY(m->livemap[i >> 3] & bit)) {
    CORRUPTION_ERROR_ACTION(m);
    return 0;
  }
  m->livemap[i >> 3] |= bit;
  return mem;
}
DL_INLINE void clear_live(mstate m, const void* mem) {
  if (m->livemap != 0) {
    size_t i = live_index(m, mem);
    m->livemap[i >> 3] &= (unsigned char)~(1U << (i & 7));
  }
}
DL_INLINE int is_live(mstate m, const void* mem) {
  size_t i = live_index(m, mem);
  return (m->livemap[i >> 3] >> (i & 7)) & 1;
}

/* ==== segment helpers ============================================================= */

/* The segment holding address addr, or 0. */
static msegmentptr segment_holding(mstate m, char* addr) {
  msegmentptr sp = &m->seg;
  for (;;) {
    if (addr >= sp->base && addr < sp->base + sp->size) return sp;
    if ((sp = sp->next) == 0) return 0;
  }
}

/* Some segment record of m lives inside ss. */
static int has_segment_link(mstate m, msegmentptr ss) {
  msegmentptr sp = &m->seg;
  for (;;) {
    if ((char*)sp >= ss->base && (char*)sp < ss->base + ss->size) return 1;
    if ((sp = sp->next) == 0) return 0;
  }
}

#define segment_holds(S, A) ((char*)(A) >= S->base && (char*)(A) < S->base + S->size)

#define SEGMENT_RECORD_CHUNK_SIZE pad_request(sizeof(struct malloc_segment))

/* mem is the record of one of m's segments (an internal in-use chunk). */
static int is_segment_record(mstate m, const void* mem) {
  for (const msegment* sp = m->seg.next; sp != 0; sp = sp->next)
    if ((const void*)sp == mem) return 1;
  return 0;
}

/* ==== small bins ================================================================ */

DL_INLINE void insert_small_chunk(mstate m, mchunkptr p, size_t s) {
  bindex_t i = small_index(s);
  mchunkptr b = smallbin_at(m, i);
  mchunkptr f = b;
  if (!smallmap_is_marked(m, i)) {
    mark_smallmap(m, i);
  } else if (DL_LIKELY(ok_chunk(m, b->fd))) {
    f = b->fd;
  } else {
    CORRUPTION_ERROR_ACTION(m);
    return;
  }
  b->fd = p;
  f->bk = p;
  p->fd = f;
  p->bk = b;
}

/* Unlink p (of size s) from its small bin; 0 on success. */
DL_INLINE int unlink_small_chunk(mstate m, mchunkptr p, size_t s) {
  mchunkptr f = p->fd;
  mchunkptr b = p->bk;
  bindex_t i = small_index(s);
  mchunkptr bin = smallbin_at(m, i);
  if (DL_UNLIKELY(!((f == bin || ok_chunk(m, f)) && (b == bin || ok_chunk(m, b))) ||
                  f->bk != p || b->fd != p)) {
    CORRUPTION_ERROR_ACTION(m);
    return -1;
  }
  /* Relink even when the bin empties, so an empty bin's head points at
   * itself (check_heap relies on it). */
  f->bk = b;
  b->fd = f;
  if (f == b) clear_smallmap(m, i);
  return 0;
}

/* Unlink the first chunk p of small bin i (whose header is b); 0 on success. */
DL_INLINE int unlink_first_small_chunk(mstate m, mchunkptr b, mchunkptr p, bindex_t i) {
  mchunkptr f;
  if (DL_UNLIKELY(!is_aligned(chunk2mem(p)) || !ok_next(m, p, small_index2size(i)) ||
                  chunksize(p) != small_index2size(i))) {
    CORRUPTION_ERROR_ACTION(m);
    return -1;
  }
  f = p->fd;
  if (DL_UNLIKELY(f != b && !(ok_chunk(m, f) && f->bk == p))) {
    CORRUPTION_ERROR_ACTION(m);
    return -1;
  }
  f->bk = b;
  b->fd = f;
  if (f == b) clear_smallmap(m, i);
  return 0;
}

/* Make p (of size s) the designated victim, binning the old one. */
DL_INLINE void replace_dv(mstate m, mchunkptr p, size_t s) {
  size_t dvs = m->dvsize;
  if (dvs != 0) insert_small_chunk(m, m->dv, dvs);
  m->dvsize = s;
  m->dv = p;
}

/* ==== tree bins =================================================================== */

DL_NOINLINE void insert_large_chunk(mstate m, tchunkptr x, size_t s) {
  bindex_t i = compute_tree_index(s);
  tbinptr* h = treebin_at(m, i);
  x->index = i;
  x->child[0] = x->child[1] = 0;
  if (!treemap_is_marked(m, i)) {
    mark_treemap(m, i);
    *h = x;
    x->parent = (tchunkptr)h;
    x->fd = x->bk = x;
    return;
  }
  tchunkptr t = *h;
  size_t k = s << leftshift_for_tree_index(i);
  for (unsigned depth = 0;; depth++) {
    if (DL_UNLIKELY(!ok_chunk(m, t) || depth > SIZE_T_BITSIZE)) {
      CORRUPTION_ERROR_ACTION(m);
      return;
    }
    if (chunksize(t) != s) {
      tchunkptr* c = &(t->child[(k >> (SIZE_T_BITSIZE - (size_t)1)) & 1]);
      k <<= 1;
      if (*c != 0) {
        t = *c;
      } else {
        *c = x;
        x->parent = t;
        x->fd = x->bk = x;
        return;
      }
    } else {
      /* Equal size: join t's ring right after t, so t stays the oldest. */
      tchunkptr f = t->fd;
      if (DL_UNLIKELY(!ok_chunk(m, f))) {
        CORRUPTION_ERROR_ACTION(m);
        return;
      }
      t->fd = f->bk = x;
      x->fd = f;
      x->bk = t;
      x->parent = 0;
      return;
    }
  }
}

/* Unlink tree chunk x; 0 on success. A ring member's bk neighbour takes its
 * place; a lone node is replaced by its rightmost leaf descendant. */
DL_NOINLINE int unlink_large_chunk(mstate m, tchunkptr x) {
  tchunkptr xp = x->parent;
  tchunkptr r;
  if (x->bk != x) {
    tchunkptr f = x->fd;
    r = x->bk;
    if (DL_UNLIKELY(!ok_chunk(m, f) || !ok_chunk(m, r) || f->bk != x || r->fd != x)) goto corrupt;
    f->bk = r;
    r->fd = f;
  } else {
    tchunkptr* rp;
    if (((r = *(rp = &(x->child[1]))) != 0) || ((r = *(rp = &(x->child[0]))) != 0)) {
      tchunkptr* cp;
      unsigned depth = 0;
      if (!ok_chunk(m, r)) goto corrupt;
      while ((*(cp = &(r->child[1])) != 0) || (*(cp = &(r->child[0])) != 0)) {
        r = *(rp = cp);
        if (DL_UNLIKELY(!ok_chunk(m, r) || ++depth > SIZE_T_BITSIZE)) goto corrupt;
      }
      *rp = 0;
    }
  }
  if (xp != 0) {
    bindex_t i = x->index;
    tbinptr* h;
    if (DL_UNLIKELY(i >= NTREEBINS)) goto corrupt;
    h = treebin_at(m, i);
    if (x == *h) {
      if ((*h = r) == 0) clear_treemap(m, i);
    } else if (DL_LIKELY(ok_chunk(m, xp))) {
      if (xp->child[0] == x)
        xp->child[0] = r;
      else
        xp->child[1] = r;
    } else {
      goto corrupt;
    }
    if (r != 0) {
      tchunkptr c0, c1;
      r->parent = xp;
      if ((c0 = x->child[0]) != 0) {
        if (!ok_chunk(m, c0)) goto corrupt;
        r->child[0] = c0;
        c0->parent = r;
      }
      if ((c1 = x->child[1]) != 0) {
        if (!ok_chunk(m, c1)) goto corrupt;
        r->child[1] = c1;
        c1->parent = r;
      }
    }
  }
  return 0;
corrupt:
  CORRUPTION_ERROR_ACTION(m);
  return -1;
}

DL_INLINE void insert_chunk(mstate m, mchunkptr p, size_t s) {
  if (is_small(s))
    insert_small_chunk(m, p, s);
  else
    insert_large_chunk(m, (tchunkptr)p, s);
}

DL_INLINE int unlink_chunk(mstate m, mchunkptr p, size_t s) {
  return is_small(s) ? unlink_small_chunk(m, p, s) : unlink_large_chunk(m, (tchunkptr)p);
}

/* ==== direct-mapped chunks ========================================================
 *
 * Each direct-mapped chunk links to the next through the last word of its
 * trailer (after the footer, fencepost and zero words), from m->direct_head.
 * The list lets free recognise a direct chunk exactly, validate find one, and
 * destroy_mspace release them all.
 */

static void direct_push(mstate m, mchunkptr p) {
  direct_link_at(p, chunksize(p)) = m->direct_head;
  m->direct_head = p;
  refresh_range_flag(m);
}

/* Unlink p from the direct list; 1 if it was there. */
static int direct_remove(mstate m, mchunkptr p) {
  mchunkptr* link = &m->direct_head;
  for (size_t guard = 0; *link != 0 && guard < ((size_t)1 << 24); guard++) {
    mchunkptr q = *link;
    if (q == p) {
      *link = direct_link_at(q, chunksize(q));
      refresh_range_flag(m);
      return 1;
    }
    link = &direct_link_at(q, chunksize(q));
  }
  return 0;
}

/* p is a direct-mapped chunk of m. */
static int direct_contains(mstate m, const mchunk* p) {
  mchunkptr q = m->direct_head;
  for (size_t guard = 0; q != 0 && guard < ((size_t)1 << 24); guard++) {
    if (q == p) return 1;
    q = direct_link_at(q, chunksize(q));
  }
  return 0;
}

/* The direct chunk old now starts at newp (memalign moved its start). */
static void direct_moved(mstate m, mchunkptr old, mchunkptr newp) {
  mchunkptr* link = &m->direct_head;
  while (*link != 0) {
    if (*link == old) {
      *link = newp;
      return;
    }
    link = &direct_link_at(*link, chunksize(*link));
  }
}

/* Memory the port handed out may be used only inside a bounded heap's range. */
static int fits_bounds(mstate m, char* base, size_t size) {
  return !is_bounded(m) ||
         (base >= m->least_addr && base <= m->highest_addr &&
          size <= (size_t)(m->highest_addr - base));
}

static void note_footprint(mstate m, size_t added) {
  if ((m->footprint += added) > m->max_footprint) m->max_footprint = m->footprint;
}

/* The footprint may grow by `size` under the limit (and without wrapping). */
static int footprint_allows(mstate m, size_t size) {
  if (m->footprint_limit != 0) {
    size_t fp = m->footprint + size;
    if (fp <= m->footprint || fp > m->footprint_limit) return 0;
  }
  return m->footprint + size >= m->footprint;
}

/* A dedicated mapping for one large chunk, or 0. */
static void* mmap_alloc(mstate m, size_t nb) {
  size_t mmsize = mmap_align(nb + SIX_SIZE_T_SIZES + CHUNK_ALIGN_MASK);
  if (mmsize <= nb || !footprint_allows(m, mmsize)) return 0; /* wrapped or over the limit */
  char* mm = (char*)custom_direct_mmap(mmsize);
  if (mm == CMFAIL) return 0;
  if (!fits_bounds(m, mm, mmsize)) {
    custom_munmap(mm, mmsize);
    return 0;
  }
  size_t offset = align_offset(chunk2mem(mm));
  size_t psize = mmsize - offset - MMAP_FOOT_PAD;
  mchunkptr p = (mchunkptr)(mm + offset);
  p->prev_foot = offset;
  p->head = psize;
  mark_inuse_foot(m, p, psize);
  chunk_plus_offset(p, psize)->head = FENCEPOST_HEAD;
  chunk_plus_offset(p, psize + SIZE_T_SIZE)->head = 0;
  direct_push(m, p);
  if (!is_bounded(m) && (m->least_addr == 0 || mm < m->least_addr)) m->least_addr = mm;
  note_footprint(m, mmsize);
  return chunk2mem(p);
}

/* ==== top and bins initialisation ================================================ */

static void init_top(mstate m, mchunkptr p, size_t psize) {
  size_t offset = align_offset(chunk2mem(p));
  p = (mchunkptr)((char*)p + offset);
  psize -= offset;
  m->top = p;
  m->topsize = psize;
  p->head = psize | PINUSE_BIT;
  /* The fake chunk after top: its head keeps PINUSE clear. */
  chunk_plus_offset(p, psize)->head = TOP_FOOT_SIZE;
  m->trim_check = heap_trim_threshold(m);
}

static void init_bins(mstate m) {
  for (bindex_t i = 0; i < NSMALLBINS; ++i) {
    mchunkptr bin = smallbin_at(m, i);
    bin->fd = bin->bk = bin;
  }
}

/* ==== freeing: coalescing and binning ============================================
 *
 * merge_and_bin returns chunk p of psize bytes (already unlinked from any
 * use) to the free structures, merging with free neighbours: backwards when
 * p's PINUSE is clear, forwards into top, dv or a binned chunk. free() passes
 * allow_trim; realloc, memalign and bulk_free's inner steps do not.
 */
static size_t release_unused_segments(mstate m);
static int sys_trim(mstate m, size_t pad);

#define should_trim(M, s) ((s) > (M)->trim_check)

DL_INLINE void merge_and_bin(mstate m, mchunkptr p, size_t psize, int allow_trim) {
  mchunkptr next = chunk_plus_offset(p, psize);
  if (!pinuse(p)) {
    size_t prevsize = p->prev_foot;
    /* Integer arithmetic: a damaged prev_foot must not form a wild pointer. */
    mchunkptr prev = (mchunkptr)((uintptr_t)p - prevsize);
    if (DL_UNLIKELY(prevsize < MIN_CHUNK_SIZE || prevsize >= MAX_REQUEST || (uintptr_t)p < prevsize ||
                    !ok_chunk(m, prev) || chunksize(prev) != prevsize || cinuse(prev))) {
      CORRUPTION_ERROR_ACTION(m);
      return;
    }
    psize += prevsize;
    p = prev;
    if (p != m->dv) {
      if (unlink_chunk(m, p, prevsize)) return;
    } else if ((next->head & INUSE_BITS) == INUSE_BITS) {
      m->dvsize = psize;
      set_free_with_pinuse(p, psize, next);
      return;
    }
  }
  if (!cinuse(next)) {
    if (next == m->top) {
      size_t tsize = m->topsize += psize;
      m->top = p;
      p->head = tsize | PINUSE_BIT;
      if (p == m->dv) {
        m->dv = 0;
        m->dvsize = 0;
      }
      if (allow_trim && should_trim(m, tsize)) sys_trim(m, 0);
      return;
    } else if (next == m->dv) {
      size_t dsize = m->dvsize += psize;
      m->dv = p;
      set_size_and_pinuse_of_free_chunk(p, dsize);
      return;
    } else {
      size_t nsize = chunksize(next);
      if (DL_UNLIKELY(!ok_next(m, next, nsize))) {
        CORRUPTION_ERROR_ACTION(m);
        return;
      }
      psize += nsize;
      if (unlink_chunk(m, next, nsize)) return;
      set_size_and_pinuse_of_free_chunk(p, psize);
      if (p == m->dv) {
        m->dvsize = psize;
        return;
      }
    }
  } else {
    set_free_with_pinuse(p, psize, next);
  }
  if (is_small(psize)) {
    insert_small_chunk(m, p, psize);
  } else {
    insert_large_chunk(m, (tchunkptr)p, psize);
    if (allow_trim && --m->release_checks == 0) release_unused_segments(m);
  }
}

/* Dispose of a chunk carved out by realloc, memalign or ialloc. */
DL_NOINLINE void dispose_chunk(mstate m, mchunkptr p, size_t psize) { merge_and_bin(m, p, psize, 0); }

/* Is mem the start of a chunk this heap handed out and has not taken back?
 * Decides without reading anything outside the heap. With a live-chunk map
 * the answer is exact; otherwise the header is checked for consistency with
 * its neighbours, and a direct-mapped chunk must be on the direct list. */
DL_INLINE int is_user_chunk(mstate m, void* mem) {
  mchunkptr p = mem2chunk(mem);
  if (!is_aligned(mem) || !ok_range(m, p, TWO_SIZE_T_SIZES)) return 0;
  if (m->livemap != 0 && !is_live(m, mem)) return 0;
  if (!is_inuse(p)) return 0;
  if (is_mmapped(p)) {
    if (!direct_contains(m, p)) return 0;
  } else {
    size_t psize = chunksize(p);
    if (!ok_next(m, p, psize)) return 0;
    if (!pinuse(chunk_plus_offset(p, psize))) return 0;
    /* The heap's own in-use chunks: its state and its segment records. */
    if (mem == (void*)m || (psize == SEGMENT_RECORD_CHUNK_SIZE && is_segment_record(m, mem))) return 0;
  }
#if FOOTERS
  /* The footer must name this heap. */
  if (get_foot(p, chunksize(p)) != ((size_t)m ^ mparams.magic)) return 0;
#endif
  return 1;
}

/* M_MMAP_DYNAMIC: a direct chunk of `csize` bytes was freed. Requests of
 * its size then stay in the heap (their padded size is below csize), and the
 * top may keep twice that before it is trimmed, so they do not go straight
 * back to the port either. */
DL_INLINE void raise_dynamic_thresholds(mstate m, size_t csize) {
  if (!(m->mflags & OWN_PARAMS_BIT)) return;
  struct heap_params* hp = own_params(m);
  if (!hp->dynamic_mmap || csize <= hp->mmap_threshold || csize > DYNAMIC_MMAP_THRESHOLD_MAX) return;
  hp->mmap_threshold = csize;
  hp->trim_threshold = 2 * csize;
  if (is_initialized(m)) m->trim_check = hp->trim_threshold;
}

/* free with the lock held; mem != 0. */
/* free of a direct-mapped chunk, or of anything in a bounded or multi-range
 * heap: the general checks. 0 when p was a direct chunk (already released),
 * else its size for merge_and_bin; MAX_SIZE_T after a usage error. */
DL_NOINLINE size_t free_checked(mstate m, void* mem) {
  mchunkptr p = mem2chunk(mem);
  if (DL_UNLIKELY(!is_user_chunk(m, mem))) {
    USAGE_ERROR_ACTION(m);
    return MAX_SIZE_T;
  }
  clear_live(m, mem);
  size_t psize = chunksize(p);
  if (is_mmapped(p)) {
    size_t prevsize = p->prev_foot;
    direct_remove(m, p);
    raise_dynamic_thresholds(m, psize);
    psize += prevsize + MMAP_FOOT_PAD;
    if (custom_munmap((char*)p - prevsize, psize) == 0) m->footprint -= psize;
    return 0;
  }
  return psize;
}

DL_INLINE void free_locked_inline(mstate m, void* mem) {
  mchunkptr p = mem2chunk(mem);
  size_t psize;
  if (DL_LIKELY((m->mflags & (BOUNDED_BIT | MULTI_RANGE_BIT)) == 0)) {
    /* The common heap: one segment, no direct maps, no live map. p must be
     * an in-use chunk inside it whose successor agrees (is_user_chunk,
     * specialised). */
    size_t segsize = m->seg.size;
    size_t off = (size_t)((char*)p - m->seg.base);
    if (DL_UNLIKELY(!is_aligned(mem) || segsize < TWO_SIZE_T_SIZES || off > segsize - TWO_SIZE_T_SIZES ||
                    mem == (void*)m)) /* an mspace's own state; one segment has no records */
      goto usage;
    size_t head = p->head;
    psize = head & ~FLAG_BITS;
    if (DL_UNLIKELY(!(head & CINUSE_BIT) || psize < MIN_CHUNK_SIZE ||
                    psize > segsize - off - TWO_SIZE_T_SIZES ||
                    !pinuse(chunk_plus_offset(p, psize))))
      goto usage;
#if FOOTERS
    if (DL_UNLIKELY(get_foot(p, psize) != ((size_t)m ^ mparams.magic))) goto usage;
#endif
  } else {
    psize = free_checked(m, mem);
    if (psize == 0 || psize == MAX_SIZE_T) return;
  }
  merge_and_bin(m, p, psize, 1);
  return;
usage:
  USAGE_ERROR_ACTION(m);
}

DL_NOINLINE void free_locked(mstate m, void* mem) { free_locked_inline(m, mem); }

/* ==== allocating from the bins ===================================================== */

/* Unlink tree chunk v and allocate nb bytes of it. A remainder too small to
 * be a chunk stays in the allocation; otherwise it becomes dv (small
 * requests, for locality) or is binned (large requests). */
static void* take_tree_chunk(mstate m, tchunkptr v, size_t nb, int remainder_to_dv) {
  size_t vsize = chunksize(v);
  if (DL_UNLIKELY(vsize < nb || !ok_next(m, v, vsize))) {
    CORRUPTION_ERROR_ACTION(m);
    return 0;
  }
  if (unlink_large_chunk(m, v)) return 0;
  size_t rsize = vsize - nb;
  if (rsize < MIN_CHUNK_SIZE) {
    set_inuse_and_pinuse(m, v, vsize);
  } else {
    mchunkptr r = chunk_plus_offset(v, nb);
    set_size_and_pinuse_of_inuse_chunk(m, v, nb);
    set_size_and_pinuse_of_free_chunk(r, rsize);
    if (remainder_to_dv)
      replace_dv(m, r, rsize);
    else
      insert_chunk(m, r, rsize);
  }
  return chunk2mem(v);
}

/* Best fit among tree chunks for a large request. */
DL_NOINLINE void* tmalloc_large(mstate m, size_t nb) {
  tchunkptr v = 0;
  size_t rsize = -nb; /* unsigned: any fit is smaller */
  tchunkptr t;
  bindex_t idx = compute_tree_index(nb);
  if ((t = *treebin_at(m, idx)) != 0) {
    /* Walk the trie along nb's bits, remembering the deepest right subtree
     * not taken: it holds the next larger sizes. */
    size_t sizebits = nb << leftshift_for_tree_index(idx);
    tchunkptr rst = 0;
    for (unsigned depth = 0;; depth++) {
      tchunkptr rt;
      if (DL_UNLIKELY(!ok_chunk(m, t) || depth > SIZE_T_BITSIZE)) goto corrupt;
      size_t trem = chunksize(t) - nb;
      if (trem < rsize) {
        v = t;
        if ((rsize = trem) == 0) break;
      }
      rt = t->child[1];
      t = t->child[(sizebits >> (SIZE_T_BITSIZE - (size_t)1)) & 1];
      if (rt != 0 && rt != t) rst = rt;
      if (t == 0) {
        t = rst;
        break;
      }
      sizebits <<= 1;
    }
  }
  if (t == 0 && v == 0) {
    /* Nothing in nb's own bin: the smallest chunk of the next non-empty one. */
    binmap_t leftbits = left_bits(idx2bit(idx)) & m->treemap;
    if (leftbits != 0) t = *treebin_at(m, bit2idx(least_bit(leftbits)));
  }
  for (unsigned depth = 0; t != 0; depth++) {
    if (DL_UNLIKELY(!ok_chunk(m, t) || depth > SIZE_T_BITSIZE)) goto corrupt;
    size_t trem = chunksize(t) - nb;
    if (trem < rsize) {
      rsize = trem;
      v = t;
    }
    t = leftmost_child(t);
  }
  /* Use it only if it beats what dv would leave. */
  if (v != 0 && rsize < (size_t)(m->dvsize - nb)) return take_tree_chunk(m, v, nb, 0);
  return 0;
corrupt:
  CORRUPTION_ERROR_ACTION(m);
  return 0;
}

/* A small request served from the smallest tree chunk; the rest becomes dv. */
DL_NOINLINE void* tmalloc_small(mstate m, size_t nb) {
  tchunkptr t, v;
  bindex_t i = bit2idx(least_bit(m->treemap));
  v = t = *treebin_at(m, i);
  if (DL_UNLIKELY(!ok_chunk(m, t))) goto corrupt;
  size_t rsize = chunksize(t) - nb;
  for (unsigned depth = 0; (t = leftmost_child(t)) != 0; depth++) {
    if (DL_UNLIKELY(!ok_chunk(m, t) || depth > SIZE_T_BITSIZE)) goto corrupt;
    size_t trem = chunksize(t) - nb;
    if (trem < rsize) {
      rsize = trem;
      v = t;
    }
  }
  return take_tree_chunk(m, v, nb, 1);
corrupt:
  CORRUPTION_ERROR_ACTION(m);
  return 0;
}

static void* sys_alloc(mstate m, size_t nb);

/* malloc with the lock held. The returned chunk is not yet marked live.
 * Inlined into the public malloc; other callers use malloc_locked. */
DL_INLINE void* malloc_locked_inline(mstate m, size_t bytes) {
  void* mem;
  size_t nb;
  if (bytes <= MAX_SMALL_REQUEST) {
    nb = (bytes < MIN_REQUEST) ? MIN_CHUNK_SIZE : pad_request(bytes);
    bindex_t idx = small_index(nb);
    binmap_t smallbits = m->smallmap >> idx;

    if ((smallbits & 0x3U) != 0) {
      /* Remainderless fit from this bin (or the next, on 32-bit). */
      idx += ~smallbits & 1;
      mchunkptr b = smallbin_at(m, idx);
      mchunkptr p = b->fd;
      if (unlink_first_small_chunk(m, b, p, idx)) return 0;
      set_inuse_and_pinuse(m, p, small_index2size(idx));
      return chunk2mem(p);
    } else if (nb > m->dvsize) {
      if (smallbits != 0) {
        /* Split the first chunk of the next non-empty small bin. */
        binmap_t leftbits = (smallbits << idx) & left_bits(idx2bit(idx));
        bindex_t i = bit2idx(least_bit(leftbits));
        mchunkptr b = smallbin_at(m, i);
        mchunkptr p = b->fd;
        if (unlink_first_small_chunk(m, b, p, i)) return 0;
        size_t rsize = small_index2size(i) - nb;
        if (SIZE_T_SIZE != 4 && rsize < MIN_CHUNK_SIZE) {
          set_inuse_and_pinuse(m, p, small_index2size(i));
        } else {
          set_size_and_pinuse_of_inuse_chunk(m, p, nb);
          mchunkptr r = chunk_plus_offset(p, nb);
          set_size_and_pinuse_of_free_chunk(r, rsize);
          replace_dv(m, r, rsize);
        }
        return chunk2mem(p);
      } else if (m->treemap != 0 && (mem = tmalloc_small(m, nb)) != 0) {
        return mem;
      }
    }
  } else if (bytes >= MAX_REQUEST) {
    nb = MAX_SIZE_T; /* fails in sys_alloc */
  } else {
    nb = pad_request(bytes);
    if (m->treemap != 0 && (mem = tmalloc_large(m, nb)) != 0) return mem;
  }
  if (DL_UNLIKELY(is_corrupt(m))) return 0;

  if (nb <= m->dvsize) {
    size_t rsize = m->dvsize - nb;
    mchunkptr p = m->dv;
    if (rsize >= MIN_CHUNK_SIZE) {
      mchunkptr r = m->dv = chunk_plus_offset(p, nb);
      m->dvsize = rsize;
      set_size_and_pinuse_of_free_chunk(r, rsize);
      set_size_and_pinuse_of_inuse_chunk(m, p, nb);
    } else {
      size_t dvs = m->dvsize;
      m->dvsize = 0;
      m->dv = 0;
      set_inuse_and_pinuse(m, p, dvs);
    }
    return chunk2mem(p);
  } else if (nb < m->topsize) {
    size_t rsize = m->topsize -= nb;
    mchunkptr p = m->top;
    mchunkptr r = m->top = chunk_plus_offset(p, nb);
    r->head = rsize | PINUSE_BIT;
    set_size_and_pinuse_of_inuse_chunk(m, p, nb);
    return chunk2mem(p);
  }
  return sys_alloc(m, nb);
}

DL_NOINLINE void* malloc_locked(mstate m, size_t bytes) { return malloc_locked_inline(m, bytes); }

/* ==== growing the heap ============================================================= */

/* New memory [newbase, oldbase) ends where segment starting at oldbase begins:
 * carve nb from its start and merge the rest with the old first chunk. */
static void* prepend_alloc(mstate m, char* newbase, char* oldbase, size_t nb) {
  mchunkptr p = align_as_chunk(newbase);
  mchunkptr oldfirst = align_as_chunk(oldbase);
  size_t psize = (size_t)((char*)oldfirst - (char*)p);
  mchunkptr q = chunk_plus_offset(p, nb);
  size_t qsize = psize - nb;
  set_size_and_pinuse_of_inuse_chunk(m, p, nb);

  if (oldfirst == m->top) {
    size_t tsize = m->topsize += qsize;
    m->top = q;
    q->head = tsize | PINUSE_BIT;
  } else if (oldfirst == m->dv) {
    size_t dsize = m->dvsize += qsize;
    m->dv = q;
    set_size_and_pinuse_of_free_chunk(q, dsize);
  } else {
    if (!is_inuse(oldfirst)) {
      size_t nsize = chunksize(oldfirst);
      if (unlink_chunk(m, oldfirst, nsize)) return 0;
      oldfirst = chunk_plus_offset(oldfirst, nsize);
      qsize += nsize;
    }
    set_free_with_pinuse(q, qsize, oldfirst);
    insert_chunk(m, q, qsize);
  }
  return chunk2mem(p);
}

/* Make [tbase, tbase + tsize) the head segment with a fresh top. The old head
 * record moves into an in-use chunk at the end of the old top's segment,
 * fenceposts fill the rest of that segment, and what was left of old top is
 * binned. */
static void add_segment(mstate m, char* tbase, size_t tsize, flag_t mmapped) {
  char* old_top = (char*)m->top;
  msegmentptr oldsp = segment_holding(m, old_top);
  char* old_end = oldsp->base + oldsp->size;
  size_t ssize = pad_request(sizeof(struct malloc_segment));
  char* rawsp = old_end - (ssize + FOUR_SIZE_T_SIZES + CHUNK_ALIGN_MASK);
  size_t offset = align_offset(chunk2mem(rawsp));
  char* asp = rawsp + offset;
  char* csp = (asp < (old_top + MIN_CHUNK_SIZE)) ? old_top : asp;
  mchunkptr sp = (mchunkptr)csp;
  msegmentptr ss = (msegmentptr)(chunk2mem(sp));
  mchunkptr tnext = chunk_plus_offset(sp, ssize);
  mchunkptr p = tnext;

  init_top(m, (mchunkptr)tbase, tsize - TOP_FOOT_SIZE);

  set_size_and_pinuse_of_inuse_chunk(m, sp, ssize);
  *ss = m->seg;
  m->seg.base = tbase;
  m->seg.size = tsize;
  m->seg.sflags = mmapped;
  m->seg.next = ss;
  refresh_range_flag(m);

  for (;;) {
    mchunkptr nextp = chunk_plus_offset(p, SIZE_T_SIZE);
    p->head = FENCEPOST_HEAD;
    if ((char*)(&(nextp->head)) < old_end)
      p = nextp;
    else
      break;
  }

  if (csp != old_top) {
    mchunkptr q = (mchunkptr)old_top;
    size_t psize = (size_t)(csp - old_top);
    mchunkptr tn = chunk_plus_offset(q, psize);
    set_free_with_pinuse(q, psize, tn);
    insert_chunk(m, q, psize);
  }
}

/* A heap that holds nothing but top gives its only segment back and becomes
 * uninitialised again (its state, bounds and live map stay). Used when the
 * port cannot map a request: a page provider may have its largest run split
 * by that very segment, and then nothing else could ever serve a request for
 * (nearly) all of it. Not for a segment holding the heap's own state or the
 * caller's memory. 1 when released. heap_is_empty: the condition (one
 * segment of the port's, wholly top, no direct maps). */
static int heap_is_empty(mstate m) {
  msegmentptr sp = &m->seg;
  return is_initialized(m) && sp->next == 0 && m->direct_head == 0 && !is_extern_segment(sp) &&
         is_mmapped_segment(sp) && m->top == align_as_chunk(sp->base) && m->dvsize == 0;
}

static int release_empty_heap(mstate m) {
  msegmentptr sp = &m->seg;
  if (!heap_is_empty(m)) return 0;
  if (custom_munmap(sp->base, sp->size) != 0) return 0;
  m->footprint -= sp->size;
  sp->base = 0;
  sp->size = 0;
  sp->sflags = 0;
  m->top = 0;
  m->topsize = 0;
  if (!is_bounded(m)) m->least_addr = 0;
  refresh_range_flag(m);
  return 1;
}

/* Get memory from the port for a chunk of nb bytes and allocate it. */
DL_NOINLINE void* sys_alloc(mstate m, size_t nb) {
  ensure_initialization();

  /* A large request gets its own mapping, once the heap exists. */
  if (use_mmap(m) && nb >= heap_mmap_threshold(m) && m->topsize != 0) {
    void* mem = mmap_alloc(m, nb);
    if (mem != 0) return mem;
  }

  size_t asize = heap_granularity_align(m, nb + SYS_ALLOC_PADDING);
  if (asize <= nb || !footprint_allows(m, asize)) return 0; /* wrapped or over the limit */

  char* tbase = (char*)custom_mmap(asize);
  if (tbase == CMFAIL && release_empty_heap(m)) tbase = (char*)custom_mmap(asize);
  if (tbase == CMFAIL) return 0;
  if (!fits_bounds(m, tbase, asize)) {
    custom_munmap(tbase, asize);
    return 0;
  }
  size_t tsize = asize;
  flag_t mmap_flag = USE_MMAP_BIT;
  note_footprint(m, tsize);

  if (!is_initialized(m)) {
    if (!is_bounded(m) && (m->least_addr == 0 || tbase < m->least_addr)) m->least_addr = tbase;
    m->seg.base = tbase;
    m->seg.size = tsize;
    m->seg.sflags = mmap_flag;
    m->magic = mparams.magic;
    m->release_checks = MAX_RELEASE_CHECK_RATE;
    init_bins(m);
    init_top(m, (mchunkptr)tbase, tsize - TOP_FOOT_SIZE);
  } else {
    /* Append to the segment that ends at tbase if it holds top. */
    msegmentptr sp = &m->seg;
    while (sp != 0 && tbase != sp->base + sp->size) sp = (NO_SEGMENT_TRAVERSAL) ? 0 : sp->next;
    if (sp != 0 && !is_extern_segment(sp) && (sp->sflags & USE_MMAP_BIT) == mmap_flag &&
        segment_holds(sp, m->top)) {
      sp->size += tsize;
      init_top(m, m->top, m->topsize + tsize);
    } else {
      if (!is_bounded(m) && tbase < m->least_addr) m->least_addr = tbase;
      /* Prepend to the segment that starts at tbase + tsize. */
      sp = &m->seg;
      while (sp != 0 && sp->base != tbase + tsize) sp = (NO_SEGMENT_TRAVERSAL) ? 0 : sp->next;
      if (sp != 0 && !is_extern_segment(sp) && (sp->sflags & USE_MMAP_BIT) == mmap_flag) {
        char* oldbase = sp->base;
        sp->base = tbase;
        sp->size += tsize;
        return prepend_alloc(m, tbase, oldbase, nb);
      }
      add_segment(m, tbase, tsize, mmap_flag);
    }
  }

  if (nb < m->topsize) {
    size_t rsize = m->topsize -= nb;
    mchunkptr p = m->top;
    mchunkptr r = m->top = chunk_plus_offset(p, nb);
    r->head = rsize | PINUSE_BIT;
    set_size_and_pinuse_of_inuse_chunk(m, p, nb);
    return chunk2mem(p);
  }
  return 0;
}

/* ==== giving memory back ============================================================ */

/* Unmap every non-head segment that holds nothing but one free chunk. */
DL_NOINLINE size_t release_unused_segments(mstate m) {
  size_t released = 0;
  size_t nsegs = 0;
  msegmentptr pred = &m->seg;
  msegmentptr sp = pred->next;
  while (sp != 0) {
    char* base = sp->base;
    size_t size = sp->size;
    msegmentptr next = sp->next;
    ++nsegs;
    if (is_mmapped_segment(sp) && !is_extern_segment(sp)) {
      mchunkptr p = align_as_chunk(base);
      size_t psize = chunksize(p);
      /* Unused: one free chunk reaching the segment's record, which sits
       * TOP_FOOT_SIZE before the end, or right after the old top when that
       * was smaller than a chunk (add_segment). */
      mchunkptr after = chunk_plus_offset(p, psize);
      if (!is_inuse(p) &&
          ((char*)after >= base + size - TOP_FOOT_SIZE || (msegmentptr)chunk2mem(after) == sp)) {
        tchunkptr tp = (tchunkptr)p;
        int was_dv = (p == m->dv);
        if (was_dv) {
          m->dv = 0;
          m->dvsize = 0;
        } else if (unlink_large_chunk(m, tp)) {
          return released;
        }
        if (custom_munmap(base, size) == 0) {
          released += size;
          m->footprint -= size;
          /* The record of sp lived inside sp: drop it from the list. */
          sp = pred;
          sp->next = next;
        } else if (was_dv) {
          m->dv = p;
          m->dvsize = psize;
        } else {
          insert_large_chunk(m, tp, psize);
        }
      }
    }
    if (NO_SEGMENT_TRAVERSAL) break;
    pred = sp;
    sp = next;
  }
  m->release_checks = (nsegs > (size_t)MAX_RELEASE_CHECK_RATE) ? nsegs : (size_t)MAX_RELEASE_CHECK_RATE;
  refresh_range_flag(m);
  return released;
}

/* Shrink top to at most pad + TOP_FOOT_SIZE + one granularity unit by
 * unmapping the tail of its segment, then release unused segments. */
DL_NOINLINE int sys_trim(mstate m, size_t pad) {
  size_t released = 0;
  ensure_initialization();
  if (pad < MAX_REQUEST && is_initialized(m)) {
    pad += TOP_FOOT_SIZE;
    if (m->topsize > pad) {
      size_t unit = heap_granularity(m);
      size_t extra = ((m->topsize - pad + (unit - (size_t)1)) / unit - (size_t)1) * unit;
      msegmentptr sp = segment_holding(m, (char*)m->top);
      if (sp != 0 && !is_extern_segment(sp) && is_mmapped_segment(sp) && sp->size >= extra &&
          !has_segment_link(m, sp)) {
        size_t newsize = sp->size - extra;
        if (custom_munmap(sp->base + newsize, extra) == 0) released = extra;
      }
      if (released != 0) {
        sp->size -= released;
        m->footprint -= released;
        init_top(m, m->top, m->topsize - released);
      }
    }
    released += release_unused_segments(m);
    /* Nothing to give back although top is large: stop trying until top is
     * re-initialised. */
    if (released == 0 && m->topsize > m->trim_check) m->trim_check = MAX_SIZE_T;
  }
  return (released != 0) ? 1 : 0;
}

/* ==== resizing in place ============================================================== */

/* A direct-mapped chunk cannot move or grow without mremap (never available
 * through the port): it may only keep its mapping when the waste is small. */
static mchunkptr mmap_resize(mstate m, mchunkptr oldp, size_t nb) {
  size_t oldsize = chunksize(oldp);
  if (is_small(nb)) return 0; /* never shrink a mapping to a small chunk */
  if (oldsize >= nb + SIZE_T_SIZE && (oldsize - nb) <= (heap_granularity(m) << 1)) return oldp;
  return 0;
}

/* Resize p (a validated user chunk) to nb bytes without moving it: shrink
 * by splitting, grow into top, dv or a free successor. The new chunk or 0. */
static mchunkptr try_realloc_chunk(mstate m, mchunkptr p, size_t nb) {
  size_t oldsize = chunksize(p);
  mchunkptr next = chunk_plus_offset(p, oldsize);
  if (is_mmapped(p)) return mmap_resize(m, p, nb);
  if (oldsize >= nb) {
    size_t rsize = oldsize - nb;
    if (rsize >= MIN_CHUNK_SIZE) {
      mchunkptr r = chunk_plus_offset(p, nb);
      set_inuse(m, p, nb);
      set_inuse(m, r, rsize);
      dispose_chunk(m, r, rsize);
    }
    return p;
  }
  if (next == m->top) {
    if (oldsize + m->topsize > nb) {
      size_t newtopsize = oldsize + m->topsize - nb;
      mchunkptr newtop = chunk_plus_offset(p, nb);
      set_inuse(m, p, nb);
      newtop->head = newtopsize | PINUSE_BIT;
      m->top = newtop;
      m->topsize = newtopsize;
      return p;
    }
    return 0;
  }
  if (next == m->dv) {
    size_t dvs = m->dvsize;
    if (oldsize + dvs >= nb) {
      size_t dsize = oldsize + dvs - nb;
      if (dsize >= MIN_CHUNK_SIZE) {
        mchunkptr r = chunk_plus_offset(p, nb);
        mchunkptr n = chunk_plus_offset(r, dsize);
        set_inuse(m, p, nb);
        set_size_and_pinuse_of_free_chunk(r, dsize);
        clear_pinuse(n);
        m->dvsize = dsize;
        m->dv = r;
      } else {
        set_inuse(m, p, oldsize + dvs);
        m->dvsize = 0;
        m->dv = 0;
      }
      return p;
    }
    return 0;
  }
  if (!cinuse(next)) {
    size_t nextsize = chunksize(next);
    if (DL_UNLIKELY(!ok_next(m, next, nextsize))) {
      CORRUPTION_ERROR_ACTION(m);
      return 0;
    }
    if (oldsize + nextsize >= nb) {
      size_t rsize = oldsize + nextsize - nb;
      if (unlink_chunk(m, next, nextsize)) return 0;
      if (rsize < MIN_CHUNK_SIZE) {
        set_inuse(m, p, oldsize + nextsize);
      } else {
        mchunkptr r = chunk_plus_offset(p, nb);
        set_inuse(m, p, nb);
        set_inuse(m, r, rsize);
        dispose_chunk(m, r, rsize);
      }
      return p;
    }
  }
  return 0;
}

/* ==== aligned allocation ============================================================= */

/* memalign with the lock held; alignment is a power of two > MALLOC_ALIGNMENT
 * and bytes < MAX_REQUEST - alignment. Allocates nb + alignment + MIN_CHUNK,
 * then gives back the misaligned leader and any spare tail. */
static void* memalign_locked(mstate m, size_t alignment, size_t bytes) {
  size_t nb = request2size(bytes);
  size_t req = nb + alignment + MIN_CHUNK_SIZE - CHUNK_OVERHEAD;
  char* mem = (char*)malloc_locked(m, req);
  if (mem == 0) return 0;
  mchunkptr p = mem2chunk(mem);
  if (((size_t)mem & (alignment - 1)) != 0) {
    /* Find the first aligned spot whose leader is a whole chunk. */
    char* br = (char*)mem2chunk((size_t)(mem + alignment - 1) & -alignment);
    char* pos = ((size_t)(br - (char*)p) >= MIN_CHUNK_SIZE) ? br : br + alignment;
    mchunkptr newp = (mchunkptr)pos;
    size_t leadsize = (size_t)(pos - (char*)p);
    size_t newsize = chunksize(p) - leadsize;
    if (is_mmapped(p)) {
      newp->prev_foot = p->prev_foot + leadsize;
      newp->head = newsize;
      direct_moved(m, p, newp);
    } else {
      set_inuse(m, newp, newsize);
      set_inuse(m, p, leadsize);
      dispose_chunk(m, p, leadsize);
    }
    p = newp;
  }
  if (!is_mmapped(p)) {
    size_t size = chunksize(p);
    if (size > nb + MIN_CHUNK_SIZE) {
      size_t remainder_size = size - nb;
      mchunkptr remainder = chunk_plus_offset(p, nb);
      set_inuse(m, p, nb);
      set_inuse(m, remainder, remainder_size);
      dispose_chunk(m, remainder, remainder_size);
    }
  }
  return chunk2mem(p);
}

/* Normalise a memalign request: 0 when it must fail, else the alignment to
 * use (MALLOC_ALIGNMENT or less means plain malloc). */
static size_t normalise_alignment(size_t alignment) {
  if (alignment <= MALLOC_ALIGNMENT) return alignment;
  if (alignment < MIN_CHUNK_SIZE) alignment = MIN_CHUNK_SIZE;
  if ((alignment & (alignment - (size_t)1)) != 0) {
    size_t a = MALLOC_ALIGNMENT << 1;
    while (a < alignment && a != 0) a <<= 1;
    alignment = a; /* 0 when no power of two fits */
  }
  return alignment;
}

/* ==== independent_calloc / independent_comalloc ======================================== */

/* Carve n chunks (equal sizes when opts & 1, zeroed when opts & 2) from one
 * allocation. Every size computation is checked for overflow. */
static void** ialloc_locked(mstate m, size_t n_elements, size_t* sizes, int opts, void* chunks[]) {
  size_t element_size, contents_size, array_size, remainder_size, size;
  void** marray;

  if (chunks != 0) {
    if (n_elements == 0) return chunks;
    marray = chunks;
    array_size = 0;
  } else {
    if (n_elements == 0) {
      void* mem = claim_live(m, malloc_locked(m, 0));
      return (void**)mem;
    }
    if (n_elements > (MAX_REQUEST - 1) / sizeof(void*)) return 0;
    marray = 0;
    array_size = request2size(n_elements * sizeof(void*));
  }

  if (opts & 0x1) {
    if (*sizes >= MAX_REQUEST) return 0;
    element_size = request2size(*sizes);
    if (n_elements > MAX_REQUEST / element_size) return 0;
    contents_size = n_elements * element_size;
  } else {
    element_size = 0;
    contents_size = 0;
    for (size_t i = 0; i != n_elements; ++i) {
      if (sizes[i] >= MAX_REQUEST) return 0;
      contents_size += request2size(sizes[i]);
      if (contents_size >= MAX_REQUEST) return 0;
    }
  }
  size = contents_size + array_size;
  if (size >= MAX_REQUEST) return 0;

  /* One ordinary chunk, never a direct mapping: the pieces must be freeable
   * one by one. */
  flag_t was_enabled = use_mmap(m);
  disable_mmap(m);
  void* mem = malloc_locked(m, size - CHUNK_OVERHEAD);
  if (was_enabled) enable_mmap(m);
  if (mem == 0) return 0;

  mchunkptr p = mem2chunk(mem);
  remainder_size = chunksize(p);
  if (opts & 0x2) memset(mem, 0, remainder_size - SIZE_T_SIZE - array_size);

  if (marray == 0) {
    /* The pointer array takes the last chunk. */
    mchunkptr array_chunk = chunk_plus_offset(p, contents_size);
    size_t array_chunk_size = remainder_size - contents_size;
    marray = (void**)(chunk2mem(array_chunk));
    set_size_and_pinuse_of_inuse_chunk(m, array_chunk, array_chunk_size);
    set_live(m, marray);
    remainder_size = contents_size;
  }
  for (size_t i = 0;; ++i) {
    marray[i] = chunk2mem(p);
    set_live(m, marray[i]);
    if (i != n_elements - 1) {
      size = element_size != 0 ? element_size : request2size(sizes[i]);
      remainder_size -= size;
      set_size_and_pinuse_of_inuse_chunk(m, p, size);
      p = chunk_plus_offset(p, size);
    } else {
      /* The last element takes the slack. */
      set_size_and_pinuse_of_inuse_chunk(m, p, remainder_size);
      break;
    }
  }
  return marray;
}

/* ==== bulk free ============================================================================ */

/* Free the chunks of array[0..nelem) that belong to m, merging runs of
 * physically adjacent ones; entries freed are set to 0. Returns the number
 * of entries left because they belong to another heap (FOOTERS). */
static size_t bulk_free_locked(mstate m, void* array[], size_t nelem) {
  size_t unfreed = 0;
  void** fence = &(array[nelem]);
  for (void** a = array; a != fence; ++a) {
    void* mem = *a;
    if (mem == 0) continue;
    if (!is_user_chunk(m, mem)) {
#if FOOTERS
      ++unfreed; /* another heap's chunk: leave it for its owner */
      continue;
#else
      USAGE_ERROR_ACTION(m);
      break;
#endif
    }
    mchunkptr p = mem2chunk(mem);
    size_t psize = chunksize(p);
    *a = 0;
    if (is_mmapped(p)) {
      clear_live(m, mem);
      direct_remove(m, p);
      size_t prevsize = p->prev_foot;
      psize += prevsize + MMAP_FOOT_PAD;
      if (custom_munmap((char*)p - prevsize, psize) == 0) m->footprint -= psize;
      continue;
    }
    void** b = a + 1;
    mchunkptr next = chunk_plus_offset(p, psize);
    if (b != fence && *b == chunk2mem(next) && is_user_chunk(m, *b) && !is_mmapped(next)) {
      /* Merge with the next entry's chunk and let that entry free both. */
      clear_live(m, *b);
      set_inuse(m, p, chunksize(next) + psize);
      *b = chunk2mem(p);
    } else {
      clear_live(m, mem);
      dispose_chunk(m, p, psize);
    }
    if (is_corrupt(m)) break;
  }
  if (!is_corrupt(m) && should_trim(m, m->topsize)) sys_trim(m, 0);
  return unfreed;
}

/* ==== statistics ============================================================================ */

static struct mallinfo mallinfo_locked(mstate m) {
  struct mallinfo nm = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  if (is_initialized(m)) {
    size_t nfree = 1; /* top */
    size_t mfree = m->topsize + TOP_FOOT_SIZE;
    size_t sum = mfree;
    for (msegmentptr s = &m->seg; s != 0; s = s->next) {
      mchunkptr q = align_as_chunk(s->base);
      while (segment_holds(s, q) && q != m->top && q->head != FENCEPOST_HEAD) {
        size_t sz = chunksize(q);
        if (sz == 0) break;
        sum += sz;
        if (!is_inuse(q)) {
          mfree += sz;
          ++nfree;
        }
        q = next_chunk(q);
      }
      /* The fenceposts closing a segment belong to it too, so that arena is
       * the segments' size and hblkhd only the direct mappings. */
      if (q != m->top && segment_holds(s, q)) sum += (size_t)(s->base + s->size - (char*)q);
    }
    nm.arena = sum;
    nm.ordblks = nfree;
    nm.hblkhd = m->footprint - sum;
    nm.usmblks = m->max_footprint;
    nm.uordblks = m->footprint - mfree;
    nm.fordblks = mfree;
    nm.keepcost = m->topsize;
  }
  return nm;
}

#if !NO_MALLOC_STATS
static void malloc_stats_of(mstate m) {
  size_t maxfp = 0, fp = 0, used = 0;
  if (!PREACTION(m)) {
    if (is_initialized(m)) {
      struct mallinfo mi = mallinfo_locked(m);
      maxfp = m->max_footprint;
      fp = m->footprint;
      used = mi.uordblks;
    }
    POSTACTION(m);
  }
  dprintf2(__FILE__, __LINE__, "max system bytes = %10lu\n", (unsigned long)(maxfp));
  dprintf2(__FILE__, __LINE__, "system bytes     = %10lu\n", (unsigned long)(fp));
  dprintf2(__FILE__, __LINE__, "in use bytes     = %10lu\n", (unsigned long)(used));
}
#endif

#ifdef MALLOC_INSPECT_ALL
static void inspect_all_locked(mstate m, void (*handler)(void*, void*, size_t, void*), void* arg) {
  if (!is_initialized(m)) return;
  mchunkptr top = m->top;
  for (msegmentptr s = &m->seg; s != 0; s = s->next) {
    mchunkptr q = align_as_chunk(s->base);
    while (segment_holds(s, q) && q->head != FENCEPOST_HEAD) {
      mchunkptr next = next_chunk(q);
      size_t sz = chunksize(q);
      size_t used;
      void* start;
      if (sz == 0) break;
      if (is_inuse(q)) {
        used = sz - CHUNK_OVERHEAD;
        start = chunk2mem(q);
      } else {
        used = 0;
        start = (void*)((char*)q + (is_small(sz) ? sizeof(mchunk) : sizeof(tchunk)));
      }
      if ((char*)start < (char*)next) handler(start, next, used, arg);
      if (q == top) break;
      q = next;
    }
  }
}
#endif

/* ==== the invariant walk =================================================================
 *
 * check_heap verifies every invariant written at the structures above and
 * returns DL_OK or DL_E_CORRUPTED (naming the broken invariant in
 * m->check_message). It reads only memory it has range-checked, so it is safe
 * on a damaged heap, and it never calls custom_abort.
 */

#define CHECK_THAT(cond, what)        \
  do {                                \
    if (DL_UNLIKELY(!(cond))) {       \
      m->check_message = (what);      \
      return DL_E_CORRUPTED;          \
    }                                 \
  } while (0)

typedef struct {
  size_t free_chunks, free_bytes; /* counted by the segment walk, dv excluded */
  size_t user_chunks;             /* live allocations */
  int saw_dv;
} heap_census;

/* Walk one segment chunk by chunk up to top (head segment) or its fenceposts. */
static int check_segment(mstate m, msegmentptr s, int is_head, heap_census* c) {
  char* end = s->base + s->size;
  mchunkptr q = align_as_chunk(s->base);
  int prev_free = 0;
  size_t prev_size = 0;
  CHECK_THAT(pinuse(q), "the first chunk of a segment has PINUSE clear");
  for (size_t guard = 0;; guard++) {
    CHECK_THAT(guard <= s->size / MIN_CHUNK_SIZE + 1, "segment walk does not end");
    CHECK_THAT((char*)q >= s->base && (char*)q + TWO_SIZE_T_SIZES <= end,
               "a chunk header lies outside its segment");
    if (is_head && q == m->top) {
      CHECK_THAT(!prev_free, "a free chunk precedes top");
      return DL_OK;
    }
    if ((q->head & ~PINUSE_BIT) == (FENCEPOST_HEAD & ~PINUSE_BIT)) {
      /* Fenceposts: every remaining header word of the segment. */
      CHECK_THAT(!is_head, "fenceposts in the segment holding top");
      for (char* w = (char*)&q->head; w + SIZE_T_SIZE <= end; w += SIZE_T_SIZE) {
        size_t h = *(size_t*)w;
        CHECK_THAT(h == FENCEPOST_HEAD || (w == (char*)&q->head && h == (FENCEPOST_HEAD & ~PINUSE_BIT)),
                   "a damaged fencepost");
      }
      CHECK_THAT(!prev_free, "a free chunk precedes fenceposts");
      return DL_OK;
    }
    size_t sz = chunksize(q);
    CHECK_THAT(sz >= MIN_CHUNK_SIZE && (sz & CHUNK_ALIGN_MASK) == 0, "a chunk size is misaligned or too small");
    CHECK_THAT(sz <= (size_t)(end - (char*)q) - TWO_SIZE_T_SIZES, "a chunk runs past its segment");
    CHECK_THAT(is_aligned(chunk2mem(q)), "a chunk is misaligned");
    mchunkptr next = chunk_plus_offset(q, sz);
    if (!is_inuse(q)) {
      CHECK_THAT(!prev_free, "two free chunks are adjacent");
      CHECK_THAT(next->prev_foot == sz, "a free chunk's footer differs from its size");
      CHECK_THAT(!pinuse(next), "the chunk after a free chunk has PINUSE set");
      if (q == m->dv) {
        CHECK_THAT(sz == m->dvsize, "dv's size differs from dvsize");
        c->saw_dv = 1;
      } else {
        c->free_chunks++;
        c->free_bytes += sz;
      }
      prev_free = 1;
    } else {
      CHECK_THAT(!is_mmapped(q), "a chunk inside a segment is marked direct-mapped");
      CHECK_THAT((pinuse(q) == 0) == prev_free, "PINUSE disagrees with the previous chunk");
      if (prev_free) CHECK_THAT(q->prev_foot == prev_size, "prev_foot disagrees with the free chunk before");
      CHECK_THAT(pinuse(next), "the chunk after an in-use chunk has PINUSE clear");
#if FOOTERS
      CHECK_THAT(next->prev_foot == ((size_t)m ^ mparams.magic), "an in-use chunk's footer names another heap");
#endif
      void* mem = chunk2mem(q);
      int internal = (mem == (void*)m) ||
                     (sz == SEGMENT_RECORD_CHUNK_SIZE && is_segment_record(m, mem));
      if (!internal) c->user_chunks++;
      if (m->livemap != 0)
        CHECK_THAT(is_live(m, mem) == !internal, "the live-chunk map disagrees with a chunk");
      prev_free = 0;
    }
    prev_size = sz;
    q = next;
  }
}

/* Check the subtree rooted at t of tree bin i; t was reached at `depth`
 * along a path whose direction bits the caller verified. */
static int check_tree(mstate m, tchunkptr t, bindex_t i, unsigned depth, heap_census* binned) {
  CHECK_THAT(depth <= SIZE_T_BITSIZE, "a tree is deeper than its key");
  CHECK_THAT(ok_chunk(m, t), "a tree link points outside the heap");
  size_t size = chunksize(t);
  CHECK_THAT(!is_inuse(t), "a binned tree chunk is in use");
  CHECK_THAT(t->index == i && compute_tree_index(size) == i, "a tree chunk is in the wrong bin");
  CHECK_THAT(ok_next(m, t, size), "a tree chunk's size runs outside the heap");
  /* The ring of equal sizes: members have no parent and no children. */
  tchunkptr u = t;
  for (size_t guard = 0;; guard++) {
    CHECK_THAT(guard < ((size_t)1 << 32), "a tree ring does not close");
    CHECK_THAT(ok_chunk(m, u->fd) && ok_chunk(m, u->bk), "a tree ring link points outside the heap");
    CHECK_THAT(u->fd->bk == u && u->bk->fd == u, "a tree ring is not doubly linked");
    CHECK_THAT(chunksize(u) == size, "a tree ring mixes sizes");
    CHECK_THAT(!is_inuse(u), "a binned tree chunk is in use");
    binned->free_chunks++;
    binned->free_bytes += size;
    if (u != t) CHECK_THAT(u->parent == 0 && u->child[0] == 0 && u->child[1] == 0, "a ring member is linked into the tree");
    u = u->fd;
    if (u == t) break;
  }
  for (int dir = 0; dir < 2; dir++) {
    tchunkptr child = t->child[dir];
    if (child == 0) continue;
    CHECK_THAT(ok_chunk(m, child), "a tree child points outside the heap");
    CHECK_THAT(child->parent == t, "a tree child does not point back at its parent");
    /* The trie: the child's key has bit `dir` where the walk branched. */
    size_t ckey = chunksize(child) << leftshift_for_tree_index(i);
    CHECK_THAT(((ckey << depth) >> (SIZE_T_BITSIZE - 1)) == (size_t)dir, "a tree chunk sits on the wrong side");
    int r = check_tree(m, child, i, depth + 1, binned);
    if (r != DL_OK) return r;
  }
  if (t->child[0] != 0 && t->child[1] != 0)
    CHECK_THAT(chunksize(t->child[0]) < chunksize(t->child[1]), "tree children are out of order");
  return DL_OK;
}

static int check_heap(mstate m) {
  heap_census walked = {0, 0, 0, 0};
  heap_census binned = {0, 0, 0, 0};
  m->check_message = "";
  CHECK_THAT(m->magic == mparams.magic || !is_initialized(m), "the heap's magic is wrong");

  /* Direct mappings. */
  size_t direct_total = 0;
  {
    mchunkptr p = m->direct_head;
    for (size_t guard = 0; p != 0; guard++) {
      CHECK_THAT(guard < ((size_t)1 << 24), "the direct-map list does not end");
      CHECK_THAT(is_aligned(chunk2mem(p)) && is_mmapped(p), "a direct-map list entry is not a direct chunk");
      size_t psize = chunksize(p);
      size_t mapping = direct_mapping_size(p);
      CHECK_THAT(mapping >= psize && is_page_aligned(mapping) && is_page_aligned(direct_mapping_base(p)),
                 "a direct chunk's mapping is not whole pages");
      CHECK_THAT(chunk_plus_offset(p, psize)->head == FENCEPOST_HEAD &&
                     chunk_plus_offset(p, psize + SIZE_T_SIZE)->head == 0,
                 "a direct chunk's trailer is damaged");
#if FOOTERS
      CHECK_THAT(get_foot(p, psize) == ((size_t)m ^ mparams.magic), "a direct chunk's footer names another heap");
#endif
      if (m->livemap != 0) CHECK_THAT(is_live(m, chunk2mem(p)), "a direct chunk is missing from the live-chunk map");
      walked.user_chunks++;
      direct_total += mapping;
      p = direct_link_at(p, psize);
    }
  }

  if (!is_initialized(m)) {
    CHECK_THAT(m->smallmap == 0 && m->treemap == 0 && m->dvsize == 0 && m->topsize == 0,
               "an empty heap has free chunks");
    CHECK_THAT(m->footprint == direct_total, "footprint differs from the memory held");
    return DL_OK;
  }

  /* Segments and top. */
  size_t seg_total = 0;
  for (msegmentptr s = &m->seg; s != 0; s = s->next) {
    CHECK_THAT(seg_total < ((size_t)1 << (SIZE_T_BITSIZE - 2)), "the segment list does not end");
    CHECK_THAT(s->size > 0 && s->base + s->size > s->base, "a segment has an impossible size");
    if (is_bounded(m)) CHECK_THAT(fits_bounds(m, s->base, s->size), "a segment lies outside the heap's bounds");
    if (s != &m->seg) CHECK_THAT(in_segments(m, (char*)s, sizeof(msegment)), "a segment record lies outside the heap");
    seg_total += s->size;
  }
  CHECK_THAT(segment_holds((&m->seg), m->top), "top is not in the head segment");
  CHECK_THAT(chunksize(m->top) == m->topsize && pinuse(m->top), "top's header disagrees with topsize");
  CHECK_THAT((char*)m->top + m->topsize + TOP_FOOT_SIZE == m->seg.base + m->seg.size,
             "top does not end TOP_FOOT_SIZE before its segment");
  for (msegmentptr s = &m->seg; s != 0; s = s->next) {
    int r = check_segment(m, s, s == &m->seg, &walked);
    if (r != DL_OK) return r;
  }
  CHECK_THAT(m->footprint == seg_total + direct_total, "footprint differs from the memory held");
  CHECK_THAT(m->max_footprint >= m->footprint, "max_footprint is below footprint");

  /* dv */
  if (m->dvsize != 0) {
    CHECK_THAT(walked.saw_dv, "dv is not a chunk of the heap");
    CHECK_THAT(chunksize(m->dv) == m->dvsize && !is_inuse(m->dv), "dv's header disagrees with dvsize");
  }

  /* Small bins. */
  for (bindex_t i = 0; i < NSMALLBINS; ++i) {
    mchunkptr b = smallbin_at(m, i);
    CHECK_THAT((smallmap_is_marked(m, i) != 0) == (b->fd != b), "smallmap disagrees with a small bin");
    mchunkptr p = b->fd;
    for (size_t guard = 0; p != b; guard++) {
      CHECK_THAT(guard <= walked.free_chunks, "a small bin holds more chunks than the heap");
      CHECK_THAT(ok_chunk(m, p), "a small-bin link points outside the heap");
      CHECK_THAT(chunksize(p) == small_index2size(i), "a small bin holds a chunk of another size");
      CHECK_THAT(!is_inuse(p) && p != m->dv && p != m->top, "a small bin holds a chunk that is not free");
      CHECK_THAT((p->fd == b || ok_chunk(m, p->fd)) && p->fd->bk == p, "a small bin is not doubly linked");
      CHECK_THAT((p->bk == b || ok_chunk(m, p->bk)) && p->bk->fd == p, "a small bin is not doubly linked");
      binned.free_chunks++;
      binned.free_bytes += chunksize(p);
      p = p->fd;
    }
  }
  /* Tree bins. */
  for (bindex_t i = 0; i < NTREEBINS; ++i) {
    tchunkptr t = *treebin_at(m, i);
    CHECK_THAT((treemap_is_marked(m, i) != 0) == (t != 0), "treemap disagrees with a tree bin");
    if (t == 0) continue;
    CHECK_THAT(ok_chunk(m, t) && t->parent == (tchunkptr)treebin_at(m, i), "a tree root does not point at its bin");
    int r = check_tree(m, t, i, 0, &binned);
    if (r != DL_OK) return r;
    CHECK_THAT(binned.free_chunks <= walked.free_chunks, "the tree bins hold more chunks than the heap");
  }
  CHECK_THAT(binned.free_chunks == walked.free_chunks && binned.free_bytes == walked.free_bytes,
             "the bins disagree with the free chunks of the heap");

  /* The live-chunk map marks exactly the live allocations. */
  if (m->livemap != 0) {
    size_t bytes = livemap_bytes((size_t)(m->highest_addr - m->least_addr));
    size_t bits = 0, k = 0;
    for (; k + sizeof(uint64_t) <= bytes; k += sizeof(uint64_t)) {
      uint64_t word;
      memcpy(&word, m->livemap + k, sizeof word);
      bits += (size_t)__builtin_popcountll(word);
    }
    for (; k < bytes; k++) bits += (size_t)__builtin_popcount(m->livemap[k]);
    CHECK_THAT(bits == walked.user_chunks, "the live-chunk map marks chunks that are not allocated");
  }
  return DL_OK;
}

/* ==== exact validation ===================================================================== */

static int validate_locked(mstate m, const void* mem) {
  const char* a = (const char*)mem;
  if (mem == 0) return DL_E_FOREIGN;
  if (is_bounded(m)) {
    if (a < m->least_addr || a >= m->highest_addr) return DL_E_FOREIGN;
    if (!is_aligned(mem)) return DL_E_NOT_ALLOCATED;
    if (m->livemap != 0) return is_live(m, mem) ? DL_OK : DL_E_NOT_ALLOCATED;
  }
  /* A direct mapping? */
  for (mchunkptr p = m->direct_head; p != 0; p = direct_link_at(p, chunksize(p))) {
    const char* base = direct_mapping_base(p);
    if (a >= base && a < base + direct_mapping_size(p))
      return (mem == chunk2mem(p)) ? DL_OK : DL_E_NOT_ALLOCATED;
  }
  if (!is_initialized(m)) return is_bounded(m) ? DL_E_NOT_ALLOCATED : DL_E_FOREIGN;
  /* A segment: walk it from its start to the chunk at or past mem. */
  for (msegmentptr s = &m->seg; s != 0; s = s->next) {
    if (!segment_holds(s, a)) continue;
    if (!is_aligned(mem)) return DL_E_NOT_ALLOCATED;
    char* end = s->base + s->size;
    mchunkptr q = align_as_chunk(s->base);
    for (;;) {
      if ((char*)q + TWO_SIZE_T_SIZES > end) return DL_E_CORRUPTED;
      if (q == m->top || (q->head & ~PINUSE_BIT) == (FENCEPOST_HEAD & ~PINUSE_BIT))
        return DL_E_NOT_ALLOCATED;
      size_t sz = chunksize(q);
      if (sz < MIN_CHUNK_SIZE || sz > (size_t)(end - (char*)q)) return DL_E_CORRUPTED;
      if ((char*)chunk2mem(q) == a) {
        if (!cinuse(q) || a == (const char*)m ||
            (sz == SEGMENT_RECORD_CHUNK_SIZE && is_segment_record(m, mem)))
          return DL_E_NOT_ALLOCATED;
        return DL_OK;
      }
      if ((char*)chunk2mem(q) > a) return DL_E_NOT_ALLOCATED;
      q = chunk_plus_offset(q, sz);
    }
  }
  return is_bounded(m) ? DL_E_NOT_ALLOCATED : DL_E_FOREIGN;
}

/* ==== heap operations behind the public names ============================================
 *
 * Each takes the heap's lock once. Allocations are marked in the live-chunk
 * map and frees unmarked while the lock is held.
 */

#if FOOTERS
/* Every live mspace, so that free, realloc and bulk_free can route a chunk
 * to the heap that owns it whatever heap the call names. Guarded by the
 * global lock. */
static mstate heap_registry;
#endif

/* The heap that owns mem: the one named by the call when mem lies in it;
 * with FOOTERS, otherwise any registered heap holding it. The footer is then
 * checked against the owner by is_user_chunk. */
static mstate owner_of(mstate hint, void* mem) {
#if FOOTERS
  mchunkptr p = mem2chunk(mem);
  if (ok_range(hint, p, TWO_SIZE_T_SIZES)) return hint;
  mstate found = 0;
  ACQUIRE_MALLOC_GLOBAL_LOCK();
#ifndef ONLY_MSPACES
  if (hint != gm && ok_range(gm, p, TWO_SIZE_T_SIZES)) found = gm;
#endif
  for (mstate m = heap_registry; m != 0 && found == 0; m = m->registry_next)
    if (m != hint && ok_range(m, p, TWO_SIZE_T_SIZES)) found = m;
  RELEASE_MALLOC_GLOBAL_LOCK();
  return found != 0 ? found : hint;
#else
  (void)mem;
  return hint;
#endif
}

DL_INLINE void* heap_malloc(mstate m, size_t bytes) {
  void* mem = 0;
  if (PREACTION(m)) return 0;
  if (DL_LIKELY(!is_corrupt(m))) {
    mem = claim_live(m, malloc_locked_inline(m, bytes));
  }
  POSTACTION(m);
  return mem;
}

static void* heap_calloc(mstate m, size_t n_elements, size_t elem_size) {
  size_t req = 0;
  if (n_elements != 0) {
    req = n_elements * elem_size;
    if (((n_elements | elem_size) & ~(size_t)0xffff) && (req / n_elements != elem_size))
      req = MAX_SIZE_T; /* overflow: fails */
  }
  void* mem = heap_malloc(m, req);
  if (mem != 0 && calloc_must_clear(mem2chunk(mem))) memset(mem, 0, req);
  return mem;
}

DL_INLINE void heap_free(mstate hint, void* mem) {
  if (mem == 0) return;
  mstate m = owner_of(hint, mem);
  if (PREACTION(m)) return;
  if (DL_LIKELY(!is_corrupt(m))) free_locked_inline(m, mem);
  POSTACTION(m);
}

static void* heap_realloc(mstate hint, void* oldmem, size_t bytes, int can_move) {
  if (oldmem == 0) return can_move ? heap_malloc(hint, bytes) : 0;
  if (bytes >= MAX_REQUEST) return 0;
#if REALLOC_ZERO_BYTES_FREES
  if (bytes == 0 && can_move) {
    heap_free(hint, oldmem);
    return 0;
  }
#endif
  mstate m = owner_of(hint, oldmem);
  void* result = 0;
  if (PREACTION(m)) return 0;
  if (is_corrupt(m)) goto done;
  if (!is_user_chunk(m, oldmem)) {
    USAGE_ERROR_ACTION(m);
    goto done;
  }
  mchunkptr oldp = mem2chunk(oldmem);
  mchunkptr newp = try_realloc_chunk(m, oldp, request2size(bytes));
  if (newp != 0) {
    result = chunk2mem(newp);
  } else if (can_move && !is_corrupt(m)) {
    void* mem = claim_live(m, malloc_locked(m, bytes));
    if (mem != 0) {
      size_t oc = chunksize(oldp) - overhead_for(oldp);
      memcpy(mem, oldmem, (oc < bytes) ? oc : bytes);
      free_locked(m, oldmem);
      result = mem;
    }
  }
done:
  POSTACTION(m);
  return result;
}

#ifdef MSPACES /* the reporting variants and the room queries: mspace API only */
/* free that reports instead of aborting: the pointer is classified as
 * heap_validate would (O(1) with a live-chunk map), under the same lock
 * acquisition as the free itself, so a bad pointer is never a usage error and
 * a good one is checked once. DL_E_CORRUPTED when the heap was or became
 * corrupted. */
static int heap_free_status(mstate m, void* mem) {
  if (PREACTION(m)) return DL_E_CORRUPTED;
  int r = is_corrupt(m) ? DL_E_CORRUPTED : validate_locked(m, mem);
  if (r == DL_OK) {
    free_locked_inline(m, mem);
    if (is_corrupt(m)) r = DL_E_CORRUPTED;
  }
  POSTACTION(m);
  return r;
}

/* realloc that reports, as heap_free_status: *out is the new block (the old
 * one is then gone) or 0 with the old block untouched; DL_OK with *out == 0
 * means out of memory. */
static int heap_realloc_status(mstate m, void* oldmem, size_t bytes, void** out) {
  *out = 0;
  if (PREACTION(m)) return DL_E_CORRUPTED;
  int r = is_corrupt(m) ? DL_E_CORRUPTED : validate_locked(m, oldmem);
  if (r == DL_OK && !is_user_chunk(m, oldmem)) {
    /* Live by the heap's records, but its boundary tags disagree: damage. */
    CORRUPTION_ERROR_ACTION(m);
    r = DL_E_CORRUPTED;
  }
  if (r == DL_OK && bytes < MAX_REQUEST) { /* a request too large for any heap: no room */
    mchunkptr oldp = mem2chunk(oldmem);
    mchunkptr newp = try_realloc_chunk(m, oldp, request2size(bytes));
    if (newp != 0) {
      *out = chunk2mem(newp);
    } else if (!is_corrupt(m)) {
      void* mem = claim_live(m, malloc_locked(m, bytes));
      if (mem != 0) {
        size_t oc = chunksize(oldp) - overhead_for(oldp);
        memcpy(mem, oldmem, (oc < bytes) ? oc : bytes);
        free_locked(m, oldmem);
        *out = mem;
      }
    }
    if (is_corrupt(m)) {
      *out = 0;
      r = DL_E_CORRUPTED;
    }
  }
  POSTACTION(m);
  return r;
}

#endif /* MSPACES */

static void* heap_memalign(mstate m, size_t alignment, size_t bytes) {
  if (alignment <= MALLOC_ALIGNMENT) return heap_malloc(m, bytes);
  alignment = normalise_alignment(alignment);
  if (alignment == 0 || bytes >= MAX_REQUEST - alignment) return 0;
  void* mem = 0;
  if (PREACTION(m)) return 0;
  if (!is_corrupt(m)) {
    mem = claim_live(m, memalign_locked(m, alignment, bytes));
  }
  POSTACTION(m);
  return mem;
}

#ifndef ONLY_MSPACES
static int heap_posix_memalign(mstate m, void** pp, size_t alignment, size_t bytes) {
  void* mem = 0;
  if (alignment == MALLOC_ALIGNMENT) {
    mem = heap_malloc(m, bytes);
  } else {
    size_t d = alignment / sizeof(void*);
    size_t r = alignment % sizeof(void*);
    if (r != 0 || d == 0 || (d & (d - (size_t)1)) != 0) return 22; /* EINVAL */
    if (bytes <= MAX_REQUEST - alignment) {
      if (alignment < MIN_CHUNK_SIZE) alignment = MIN_CHUNK_SIZE;
      mem = heap_memalign(m, alignment, bytes);
    }
  }
  if (mem == 0) return 12; /* ENOMEM */
  *pp = mem;
  return 0;
}
#endif

static void** heap_ialloc(mstate m, size_t n, size_t* sizes, int opts, void** chunks) {
  void** result = 0;
  if (PREACTION(m)) return 0;
  if (!is_corrupt(m)) result = ialloc_locked(m, n, sizes, opts, chunks);
  POSTACTION(m);
  return result;
}

static size_t heap_bulk_free(mstate m, void** array, size_t nelem) {
  size_t unfreed = 0;
  if (PREACTION(m)) return nelem;
  if (!is_corrupt(m)) unfreed = bulk_free_locked(m, array, nelem);
  POSTACTION(m);
  return unfreed;
}

static int heap_trim(mstate m, size_t pad) {
  int result = 0;
  if (PREACTION(m)) return 0;
  if (!is_corrupt(m)) result = sys_trim(m, pad);
  POSTACTION(m);
  return result;
}

static struct mallinfo heap_mallinfo(mstate m) {
  struct mallinfo mi = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  if (PREACTION(m)) return mi;
  if (!is_corrupt(m)) mi = mallinfo_locked(m);
  POSTACTION(m);
  return mi;
}

static size_t heap_set_footprint_limit(mstate m, size_t bytes) {
  size_t result;
  /* Fixed against 2.8.6: 0 asks for the smallest limit (one granularity
   * unit) instead of silently meaning "unlimited", and a call before the
   * first allocation works because the parameters are set up first. */
  if (bytes == 0)
    result = heap_granularity_align(m, (size_t)1);
  else if (bytes == MAX_SIZE_T || bytes > MAX_SIZE_T - heap_granularity(m))
    result = 0; /* no limit */
  else
    result = heap_granularity_align(m, bytes);
  m->footprint_limit = result;
  return result;
}

static size_t heap_footprint_limit(mstate m) {
  size_t limit = m->footprint_limit;
  return (limit == 0) ? MAX_SIZE_T : limit;
}

static int heap_validate(mstate m, const void* mem) {
  int r;
  if (PREACTION(m)) return DL_E_CORRUPTED;
  r = validate_locked(m, mem);
  POSTACTION(m);
  return r;
}

#ifdef MSPACES
/* The largest free chunk other than top, with the lock held on an
 * initialised heap: dv, the largest chunk of the highest non-empty tree bin
 * (the path that prefers child[1] at each level, as the trie orders sizes by
 * their bits) or the highest small bin. 0 once the heap is found damaged. */
static size_t largest_binned_locked(mstate m) {
  size_t best = m->dvsize;
  if (m->treemap != 0) {
    tchunkptr t = *treebin_at(m, (bindex_t)(31 - __builtin_clz((unsigned)m->treemap)));
    for (unsigned depth = 0; t != 0; depth++) {
      if (!ok_chunk(m, t) || depth > SIZE_T_BITSIZE) {
        CORRUPTION_ERROR_ACTION(m);
        return 0;
      }
      if (chunksize(t) > best) best = chunksize(t);
      t = t->child[1] != 0 ? t->child[1] : t->child[0];
    }
  } else if (m->smallmap != 0) {
    size_t sz = small_index2size(31 - __builtin_clz((unsigned)m->smallmap));
    if (sz > best) best = sz;
  }
  return best;
}

/* The largest free chunk: top, or the largest other one. 0 once the heap is
 * found damaged. */
static size_t heap_largest_free(mstate m) {
  size_t best = 0;
  if (PREACTION(m)) return 0;
  if (!is_corrupt(m) && is_initialized(m)) {
    size_t binned = largest_binned_locked(m);
    if (!is_corrupt(m)) best = m->topsize > binned ? m->topsize : binned;
  }
  POSTACTION(m);
  return best;
}

/* The largest request whose chunk is at most nb bytes (0 when nb is below a
 * minimum chunk: then no request has one). */
static size_t request_for_chunk(size_t nb) {
  if (nb < MIN_CHUNK_SIZE) return 0;
  size_t bytes = (nb & ~CHUNK_ALIGN_MASK) - CHUNK_OVERHEAD;
  return bytes < MAX_REQUEST ? bytes : MAX_REQUEST - 1;
}

/* The largest chunk size nb whose new memory, `pad` bytes more rounded up to
 * `unit` (a power of two), fits in `run` bytes; 0 when none does. */
static size_t chunk_fitting(size_t run, size_t pad, size_t unit) {
  size_t fit = run & ~(unit - (size_t)1);
  if (fit < pad + MIN_CHUNK_SIZE) return 0;
  return (fit - pad) & ~CHUNK_ALIGN_MASK;
}

/* mspace_largest_requests, with the lock held. Mirrors the paths of
 * malloc_locked_inline and sys_alloc: a request of chunk size nb succeeds
 * when
 *   - a free chunk other than top has at least nb bytes (dv or a bin), or
 *     top has more than nb (the in-heap paths); else sys_alloc:
 *   - nb >= the mmap threshold, the heap exists and mmap is on: a direct
 *     mapping of mmap_align(nb + SIX_SIZE_T_SIZES + CHUNK_ALIGN_MASK) bytes
 *     fits in a run;
 *   - a segment of granularity_align(nb + SYS_ALLOC_PADDING) bytes fits in a
 *     run (appended to top's segment, prepended to another, or a new one:
 *     each leaves nb < topsize, so each serves the request);
 *   - failing that, an empty heap gives its segment back and the segment is
 *     asked for again, now of the runs the port has once it did.
 * A failed attempt changes nothing, so the largest nb served is the largest
 * any one path serves. Every size the port is asked for must also pass the
 * footprint limit, checked against the footprint before any release. */
static void room_locked(mstate m, size_t port_run, size_t port_run_empty, mspace_room* out) {
  size_t in_heap = 0, any = 0;
  if (is_initialized(m)) {
    in_heap = largest_binned_locked(m);
    if (is_corrupt(m)) return;
    if (m->topsize > MIN_CHUNK_SIZE) {
      size_t below_top = (m->topsize - (size_t)1) & ~CHUNK_ALIGN_MASK; /* nb < topsize */
      if (below_top > in_heap) in_heap = below_top;
    }
  }
  any = in_heap;
  if (m->footprint_limit != 0) {
    size_t grow = m->footprint_limit > m->footprint ? m->footprint_limit - m->footprint : 0;
    if (port_run > grow) port_run = grow;
    if (port_run_empty > grow) port_run_empty = grow;
  }
  size_t unit = heap_granularity(m);
  size_t nb = chunk_fitting(port_run, SYS_ALLOC_PADDING, unit);
  if (nb > any) any = nb;
  if (heap_is_empty(m)) {
    nb = chunk_fitting(port_run_empty, SYS_ALLOC_PADDING, unit);
    if (nb > any) any = nb;
  }
  if (use_mmap(m) && is_initialized(m)) {
    nb = chunk_fitting(port_run, SIX_SIZE_T_SIZES + CHUNK_ALIGN_MASK, mparams.page_size);
    if (nb >= heap_mmap_threshold(m) && nb > any) any = nb;
  }
  out->in_heap = request_for_chunk(in_heap);
  out->any = request_for_chunk(any);
}

static int heap_largest_requests(mstate m, size_t port_run, size_t port_run_empty, mspace_room* out) {
  out->in_heap = out->any = 0;
  if (PREACTION(m)) return DL_E_CORRUPTED;
  if (!is_corrupt(m)) room_locked(m, port_run, port_run_empty, out);
  int r = is_corrupt(m) ? DL_E_CORRUPTED : DL_OK;
  if (r != DL_OK) out->in_heap = out->any = 0;
  POSTACTION(m);
  return r;
}

#endif /* MSPACES */

static int heap_check(mstate m) {
  int r;
  if (PREACTION(m)) return DL_E_CORRUPTED;
  r = is_corrupt(m) ? DL_E_CORRUPTED : check_heap(m);
  if (is_corrupt(m) && m->check_message[0] == 0) m->check_message = "the heap reported an error earlier";
  POSTACTION(m);
  return r;
}

static size_t usable_size_of(const void* mem) {
  if (mem != 0) {
    mchunkptr p = mem2chunk(mem);
    if (is_inuse(p)) return chunksize(p) - overhead_for(p);
  }
  return 0;
}

const char* dl_status_name(int status) {
  switch (status) {
    case DL_OK: return "DL_OK";
    case DL_E_FOREIGN: return "DL_E_FOREIGN";
    case DL_E_NOT_ALLOCATED: return "DL_E_NOT_ALLOCATED";
    case DL_E_CORRUPTED: return "DL_E_CORRUPTED";
    case DL_E_INVALID: return "DL_E_INVALID";
    default: return "DL_E_UNKNOWN";
  }
}

/* ==== the global heap ====================================================================== */

#ifndef ONLY_MSPACES

void* dlmalloc(size_t bytes) {
  ensure_initialization();
  return heap_malloc(gm, bytes);
}

void dlfree(void* mem) {
  if (mem == 0) return;
  ensure_initialization();
  heap_free(gm, mem);
}

void* dlcalloc(size_t n_elements, size_t elem_size) {
  ensure_initialization();
  return heap_calloc(gm, n_elements, elem_size);
}

void* dlrealloc(void* oldmem, size_t bytes) {
  ensure_initialization();
  return heap_realloc(gm, oldmem, bytes, 1);
}

void* dlrealloc_in_place(void* oldmem, size_t bytes) {
  if (oldmem == 0) return 0;
  ensure_initialization();
  return heap_realloc(gm, oldmem, bytes, 0);
}

void* dlmemalign(size_t alignment, size_t bytes) {
  ensure_initialization();
  return heap_memalign(gm, alignment, bytes);
}

int dlposix_memalign(void** pp, size_t alignment, size_t bytes) {
  ensure_initialization();
  return heap_posix_memalign(gm, pp, alignment, bytes);
}

void* dlvalloc(size_t bytes) {
  ensure_initialization();
  return heap_memalign(gm, mparams.page_size, bytes);
}

void* dlpvalloc(size_t bytes) {
  ensure_initialization();
  size_t pagesz = mparams.page_size;
  if (bytes > MAX_SIZE_T - pagesz) return 0; /* rounding would wrap */
  return heap_memalign(gm, pagesz, (bytes + pagesz - (size_t)1) & ~(pagesz - (size_t)1));
}

void** dlindependent_calloc(size_t n_elements, size_t elem_size, void** chunks) {
  ensure_initialization();
  size_t sz = elem_size;
  return heap_ialloc(gm, n_elements, &sz, 3, chunks);
}

void** dlindependent_comalloc(size_t n_elements, size_t* sizes, void** chunks) {
  ensure_initialization();
  return heap_ialloc(gm, n_elements, sizes, 0, chunks);
}

size_t dlbulk_free(void** array, size_t nelem) {
  ensure_initialization();
  return heap_bulk_free(gm, array, nelem);
}

#ifdef MALLOC_INSPECT_ALL
void dlmalloc_inspect_all(void (*handler)(void* start, void* end, size_t used_bytes, void* callback_arg),
                          void* arg) {
  ensure_initialization();
  if (!PREACTION(gm)) {
    inspect_all_locked(gm, handler, arg);
    POSTACTION(gm);
  }
}
#endif

int dlmalloc_trim(size_t pad) {
  ensure_initialization();
  return heap_trim(gm, pad);
}

size_t dlmalloc_footprint(void) { return gm->footprint; }

size_t dlmalloc_max_footprint(void) { return gm->max_footprint; }

size_t dlmalloc_footprint_limit(void) { return heap_footprint_limit(gm); }

size_t dlmalloc_set_footprint_limit(size_t bytes) {
  ensure_initialization();
  return heap_set_footprint_limit(gm, bytes);
}

struct mallinfo dlmallinfo(void) {
  ensure_initialization();
  return heap_mallinfo(gm);
}

#if !NO_MALLOC_STATS
void dlmalloc_stats(void) {
  ensure_initialization();
  malloc_stats_of(gm);
}
#endif

int dlmallopt(int param_number, int value) { return change_mparam(param_number, value); }

size_t dlmalloc_usable_size(const void* mem) { return usable_size_of(mem); }

int dlmalloc_validate(const void* mem) {
  ensure_initialization();
  return heap_validate(gm, mem);
}

int dlmalloc_check(void) {
  ensure_initialization();
  return heap_check(gm);
}

const char* dlmalloc_check_message(void) { return gm->check_message ? gm->check_message : ""; }

/* The process-wide lock, then the heap's: no path holds the heap's lock
 * while it takes the process-wide one. */
void dlmalloc_atfork_prepare(void) {
  ensure_initialization();
  ACQUIRE_MALLOC_GLOBAL_LOCK();
  (void)PREACTION(gm);
}

void dlmalloc_atfork_parent(void) {
  POSTACTION(gm);
  RELEASE_MALLOC_GLOBAL_LOCK();
}

/* The child's only thread is the one that forked and holds both locks. */
void dlmalloc_atfork_child(void) { dlmalloc_atfork_parent(); }

#endif /* !ONLY_MSPACES */

/* ==== mspaces ================================================================================ */

#ifdef MSPACES

#define ok_magic(M) ((M) != 0 && (M)->magic == mparams.magic)

static void set_lock(mstate m, int locked) {
  if (locked)
    m->mflags |= USE_LOCK_BIT;
  else
    m->mflags &= ~USE_LOCK_BIT;
}

static void register_heap(mstate m) {
#if FOOTERS
  ACQUIRE_MALLOC_GLOBAL_LOCK();
  m->registry_next = heap_registry;
  heap_registry = m;
  RELEASE_MALLOC_GLOBAL_LOCK();
#else
  (void)m;
#endif
}

static void unregister_heap(mstate m) {
#if FOOTERS
  ACQUIRE_MALLOC_GLOBAL_LOCK();
  for (mstate* link = &heap_registry; *link != 0; link = &(*link)->registry_next) {
    if (*link == m) {
      *link = m->registry_next;
      break;
    }
  }
  RELEASE_MALLOC_GLOBAL_LOCK();
#else
  (void)m;
#endif
}

/* An mstate at the start of [tbase, tbase + tsize), held in an in-use chunk,
 * with the rest of the memory as top. */
static mstate init_user_mstate(char* tbase, size_t tsize) {
  size_t msize = pad_request(sizeof(struct malloc_state));
  mchunkptr msp = align_as_chunk(tbase);
  mstate m = (mstate)(chunk2mem(msp));
  memset(m, 0, msize);
#if USE_LOCKS
  INITIAL_LOCK(&m->mutex);
#endif
  set_size_and_pinuse_of_inuse_chunk(m, msp, msize);
  m->seg.base = m->least_addr = tbase;
  m->seg.size = m->footprint = m->max_footprint = tsize;
  m->magic = mparams.magic;
  m->release_checks = MAX_RELEASE_CHECK_RATE;
  m->mflags = mparams.default_mflags;
  m->check_message = "";
  init_bins(m);
  mchunkptr mn = next_chunk(mem2chunk(m));
  init_top(m, mn, (size_t)((tbase + tsize) - (char*)mn) - TOP_FOOT_SIZE);
  return m;
}

mspace create_mspace(size_t capacity, int locked) {
  mstate m = 0;
  ensure_initialization();
  size_t msize = pad_request(sizeof(struct malloc_state));
  if (capacity < (size_t) - (msize + TOP_FOOT_SIZE + mparams.page_size)) {
    size_t rs = (capacity == 0) ? mparams.granularity : (capacity + TOP_FOOT_SIZE + msize);
    size_t tsize = granularity_align(rs);
    char* tbase = (char*)custom_mmap(tsize);
    if (tbase != CMFAIL) {
      m = init_user_mstate(tbase, tsize);
      m->seg.sflags = USE_MMAP_BIT;
      set_lock(m, locked);
      register_heap(m);
    }
  }
  return (mspace)m;
}

mspace create_mspace_with_base(void* base, size_t capacity, int locked) {
  mstate m = 0;
  ensure_initialization();
  size_t msize = pad_request(sizeof(struct malloc_state));
  if (base != 0 && capacity > msize + TOP_FOOT_SIZE &&
      capacity < (size_t) - (msize + TOP_FOOT_SIZE + mparams.page_size)) {
    /* Only whole alignment units of the caller's memory are used, so that
     * the fenceposts at its end stay inside it. */
    size_t usable = (size_t)(((uintptr_t)base + capacity) & ~(uintptr_t)CHUNK_ALIGN_MASK) - (uintptr_t)base;
    m = init_user_mstate((char*)base, usable);
    m->seg.sflags = EXTERN_BIT;
    set_lock(m, locked);
    register_heap(m);
  }
  return (mspace)m;
}

size_t mspace_state_size(void) { return sizeof(struct malloc_state_with_params); }

mspace create_mspace_with_state(void* state, size_t state_size, int locked) {
  ensure_initialization();
  if (state == 0 || state_size < sizeof(struct malloc_state_with_params) || !is_aligned(state)) return 0;
  mstate m = (mstate)state;
  memset(m, 0, sizeof(struct malloc_state_with_params));
#if USE_LOCKS
  INITIAL_LOCK(&m->mutex);
#endif
  m->magic = mparams.magic;
  m->mflags = mparams.default_mflags | OWN_PARAMS_BIT;
  m->check_message = "";
  /* Its own parameters start as the process-wide ones of this moment. */
  own_params(m)->granularity = mparams.granularity;
  own_params(m)->mmap_threshold = mparams.mmap_threshold;
  own_params(m)->trim_threshold = mparams.trim_threshold;
  own_params(m)->dynamic_mmap = 0;
  set_lock(m, locked);
  register_heap(m);
  return (mspace)m;
}

int mspace_set_param(mspace msp, int param_number, int value) {
  mstate ms = (mstate)msp;
  int applied = 0;
  if (!ok_magic(ms) || !(ms->mflags & OWN_PARAMS_BIT)) return 0;
  if (PREACTION(ms)) return 0;
  struct heap_params* hp = own_params(ms);
  if (param_number == M_MMAP_DYNAMIC) {
    applied = (value == 0 || value == 1);
    if (applied) hp->dynamic_mmap = value;
  } else {
    applied = set_param(&hp->granularity, &hp->mmap_threshold, &hp->trim_threshold, param_number, value);
    /* An explicit threshold is the caller's choice: stop adjusting it. */
    if (applied && (param_number == M_MMAP_THRESHOLD || param_number == M_TRIM_THRESHOLD)) hp->dynamic_mmap = 0;
  }
  /* A new trim threshold applies at once, not at the next top re-initialisation. */
  if (applied && param_number == M_TRIM_THRESHOLD && is_initialized(ms)) ms->trim_check = hp->trim_threshold;
  POSTACTION(ms);
  return applied;
}

size_t mspace_livemap_bytes(size_t length) { return livemap_bytes(length); }

static int set_bounds(mspace msp, void* lo, size_t length, unsigned char* livemap, size_t livemap_bytes,
                      int zeroed);

int mspace_set_bounds(mspace msp, void* lo, size_t length, unsigned char* livemap, size_t livemap_bytes) {
  return set_bounds(msp, lo, length, livemap, livemap_bytes, 0);
}

int mspace_set_bounds_zeroed(mspace msp, void* lo, size_t length, unsigned char* livemap,
                             size_t livemap_bytes) {
  return set_bounds(msp, lo, length, livemap, livemap_bytes, 1);
}

static int set_bounds(mspace msp, void* lo, size_t length, unsigned char* livemap, size_t livemap_bytes,
                      int zeroed) {
  mstate ms = (mstate)msp;
  if (!ok_magic(ms) || lo == 0 || length == 0 || !is_aligned(lo) ||
      (uintptr_t)lo + length < (uintptr_t)lo)
    return DL_E_INVALID;
  if (livemap != 0 && livemap_bytes < mspace_livemap_bytes(length)) return DL_E_INVALID;
  int result = DL_E_INVALID;
  if (PREACTION(ms)) return DL_E_INVALID;
  if (!is_initialized(ms) && ms->direct_head == 0 && ms->footprint == 0) {
    ms->least_addr = (char*)lo;
    ms->highest_addr = (char*)lo + length;
    ms->livemap = livemap;
    if (livemap != 0 && !zeroed) memset(livemap, 0, mspace_livemap_bytes(length));
    ms->mflags |= BOUNDED_BIT;
    result = DL_OK;
  }
  POSTACTION(ms);
  return result;
}

size_t destroy_mspace(mspace msp) {
  size_t freed = 0;
  mstate ms = (mstate)msp;
  if (!ok_magic(ms)) {
    if (ms != 0) USAGE_ERROR_ACTION(ms);
    return 0;
  }
  unregister_heap(ms);
#if USE_LOCKS
  DESTROY_LOCK(&ms->mutex);
#endif
  /* Direct mappings first: their links live in them. */
  mchunkptr p = ms->direct_head;
  while (p != 0) {
    mchunkptr next = direct_link_at(p, chunksize(p));
    char* base = direct_mapping_base(p);
    size_t size = direct_mapping_size(p);
    if (custom_munmap(base, size) == 0) freed += size;
    p = next;
  }
  ms->direct_head = 0;
  refresh_range_flag(ms);
  if (is_initialized(ms)) {
    /* Each record is read before the segment holding it goes. */
    msegmentptr sp = &ms->seg;
    while (sp != 0) {
      char* base = sp->base;
      size_t size = sp->size;
      flag_t flag = sp->sflags;
      sp = sp->next;
      if ((flag & USE_MMAP_BIT) && !(flag & EXTERN_BIT) && custom_munmap(base, size) == 0) freed += size;
    }
  }
  return freed;
}

int mspace_track_large_chunks(mspace msp, int enable) {
  int ret = 0;
  mstate ms = (mstate)msp;
  if (!ok_magic(ms)) return 0;
  if (!PREACTION(ms)) {
    if (!use_mmap(ms)) ret = 1;
    if (!enable)
      enable_mmap(ms);
    else
      disable_mmap(ms);
    POSTACTION(ms);
  }
  return ret;
}

/* Every mspace entry point starts here: a heap that is not an mspace is a
 * usage error (reported only when the pointer is readable at all). */
#define MSPACE_OR(ms, msp, fail)          \
  mstate ms = (mstate)(msp);              \
  if (!ok_magic(ms)) {                    \
    if (ms != 0) USAGE_ERROR_ACTION(ms);  \
    return fail;                          \
  }

void* mspace_malloc(mspace msp, size_t bytes) {
  MSPACE_OR(ms, msp, 0);
  return heap_malloc(ms, bytes);
}

void mspace_free(mspace msp, void* mem) {
  if (mem == 0) return;
  MSPACE_OR(ms, msp, );
  heap_free(ms, mem);
}

void* mspace_calloc(mspace msp, size_t n_elements, size_t elem_size) {
  MSPACE_OR(ms, msp, 0);
  return heap_calloc(ms, n_elements, elem_size);
}

void* mspace_realloc(mspace msp, void* oldmem, size_t bytes) {
  if (oldmem == 0) return mspace_malloc(msp, bytes);
  MSPACE_OR(ms, msp, 0);
  return heap_realloc(ms, oldmem, bytes, 1);
}

int mspace_free_status(mspace msp, void* mem) {
  mstate ms = (mstate)msp;
  if (!ok_magic(ms)) return DL_E_INVALID;
  return heap_free_status(ms, mem);
}

int mspace_realloc_status(mspace msp, void* oldmem, size_t bytes, void** out) {
  mstate ms = (mstate)msp;
  if (out == 0) return DL_E_INVALID;
  *out = 0;
  if (!ok_magic(ms)) return DL_E_INVALID;
  return heap_realloc_status(ms, oldmem, bytes, out);
}

void* mspace_realloc_in_place(mspace msp, void* oldmem, size_t bytes) {
  if (oldmem == 0) return 0;
  MSPACE_OR(ms, msp, 0);
  return heap_realloc(ms, oldmem, bytes, 0);
}

void* mspace_memalign(mspace msp, size_t alignment, size_t bytes) {
  MSPACE_OR(ms, msp, 0);
  return heap_memalign(ms, alignment, bytes);
}

void** mspace_independent_calloc(mspace msp, size_t n_elements, size_t elem_size, void* chunks[]) {
  MSPACE_OR(ms, msp, 0);
  size_t sz = elem_size;
  return heap_ialloc(ms, n_elements, &sz, 3, chunks);
}

void** mspace_independent_comalloc(mspace msp, size_t n_elements, size_t sizes[], void* chunks[]) {
  MSPACE_OR(ms, msp, 0);
  return heap_ialloc(ms, n_elements, sizes, 0, chunks);
}

size_t mspace_bulk_free(mspace msp, void** array, size_t nelem) {
  MSPACE_OR(ms, msp, nelem);
  return heap_bulk_free(ms, array, nelem);
}

#ifdef MALLOC_INSPECT_ALL
void mspace_inspect_all(mspace msp, void (*handler)(void* start, void* end, size_t used_bytes, void* callback_arg),
                        void* arg) {
  MSPACE_OR(ms, msp, );
  if (!PREACTION(ms)) {
    inspect_all_locked(ms, handler, arg);
    POSTACTION(ms);
  }
}
#endif

int mspace_trim(mspace msp, size_t pad) {
  MSPACE_OR(ms, msp, 0);
  return heap_trim(ms, pad);
}

#if !NO_MALLOC_STATS
void mspace_malloc_stats(mspace msp) {
  MSPACE_OR(ms, msp, );
  malloc_stats_of(ms);
}
#endif

size_t mspace_footprint(mspace msp) {
  MSPACE_OR(ms, msp, 0);
  return ms->footprint;
}

size_t mspace_max_footprint(mspace msp) {
  MSPACE_OR(ms, msp, 0);
  return ms->max_footprint;
}

size_t mspace_footprint_limit(mspace msp) {
  MSPACE_OR(ms, msp, 0);
  return heap_footprint_limit(ms);
}

size_t mspace_set_footprint_limit(mspace msp, size_t bytes) {
  MSPACE_OR(ms, msp, 0);
  return heap_set_footprint_limit(ms, bytes);
}

struct mallinfo mspace_mallinfo(mspace msp) {
  struct mallinfo none = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  MSPACE_OR(ms, msp, none);
  return heap_mallinfo(ms);
}

size_t mspace_usable_size(const void* mem) { return usable_size_of(mem); }

int mspace_mallopt(int param_number, int value) { return change_mparam(param_number, value); }

int mspace_validate(mspace msp, const void* mem) {
  mstate ms = (mstate)msp;
  if (!ok_magic(ms)) return DL_E_INVALID;
  return heap_validate(ms, mem);
}

size_t mspace_largest_free(mspace msp) {
  mstate ms = (mstate)msp;
  if (!ok_magic(ms)) return 0;
  return heap_largest_free(ms);
}

int mspace_largest_requests(mspace msp, size_t port_run, size_t port_run_empty, mspace_room* out) {
  mstate ms = (mstate)msp;
  if (out == 0) return DL_E_INVALID;
  out->in_heap = out->any = 0;
  if (!ok_magic(ms)) return DL_E_INVALID;
  return heap_largest_requests(ms, port_run, port_run_empty, out);
}

int mspace_check(mspace msp) {
  mstate ms = (mstate)msp;
  if (!ok_magic(ms)) return DL_E_INVALID;
  return heap_check(ms);
}

const char* mspace_check_message(mspace msp) {
  mstate ms = (mstate)msp;
  if (!ok_magic(ms)) return "not an mspace";
  return ms->check_message ? ms->check_message : "";
}

#endif /* MSPACES */
