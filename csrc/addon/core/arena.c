/*
 * offheap arena core — the region, its composition, and the entry points of
 * arena.h.
 *
 * The region: one mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|
 * MAP_NORESERVE) reservation per arena, aligned to the largest power of two
 * <= capacity where the address space allows (so a buddy instance sees one
 * big root and alignedAlloc offsets are absolute alignments). It is never
 * munmap'd or mprotect'd while a view can exist: destroy gives the pages back
 * with madvise(MADV_DONTNEED), and the address range goes in
 * oh_arena_delete, which the glue calls once no view is left.
 *
 * 'dlmalloc' arena: a page-run provider (csrc/pages.h) over the region serves
 * the heap's mapping hooks (port.c): segments from the lowest free address,
 * so the heap grows as one contiguous run from the bottom (dlmalloc merges
 * address-adjacent segments), and large chunks' own runs from the highest,
 * zeroed only where pages are not known zero. The mspace's state and its
 * live-chunk map (mspace_set_bounds: exact O(1) validation) live outside the
 * region, in NORESERVE mappings whose untouched pages cost nothing.
 * 'buddy' arena: a buddy instance over the region serves requests directly.
 * Metadata of both is outside the region, so no view can reach it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../bits.h"
#include "internal.h"
#include "lock.h"

/* ---- the region ------------------------------------------------------------ */

static void* map_noreserve(size_t len) {
  void* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static size_t page_round(size_t n) { return (n + OH_PAGE - 1) & ~(OH_PAGE - 1); }

static size_t pow2_floor(size_t x) {
  size_t p = 1;
  while (p <= x / 2) p <<= 1;
  return p;
}

/* Reserves the region: aligned to the largest power of two <= capacity where
 * the address space allows (reserving capacity + align, then trimming the
 * slop), less aligned otherwise. */
static int reserve_region(oh_arena* a) {
  size_t align = pow2_floor(a->capacity);
  unsigned char* raw = NULL;
  size_t want = 0;
  for (; align >= OH_PAGE; align /= 2) {
    want = a->capacity + align;
    if (want > a->capacity && (raw = (unsigned char*)map_noreserve(want)) != NULL) break;
  }
  if (!raw) return OH_OOM;
  uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
  size_t head = start - (uintptr_t)raw;
  size_t tail = want - head - a->capacity;
  if (head) munmap(raw, head);
  if (tail) munmap((unsigned char*)start + a->capacity, tail);
  a->base = (unsigned char*)start;
  return OH_OK;
}

/* ---- the allocator over the region ---------------------------------------- */

/* A new heap over the page provider as it is; the live map reads as zeros
 * when livemap_zeroed. */
static int dl_heap_init(oh_arena* a, int livemap_zeroed) {
  /* Unlocked: the arena serialises every call (arena.h). */
  a->msp = create_mspace_with_state(a->dl_state, mspace_state_size(), 0);
  if (!a->msp) return OH_INVALID;
  /* Like glibc's malloc, the heap raises its mmap and trim thresholds as
   * large blocks are freed, so alloc+free of one large size does not map
   * and give back pages each time, unless the user chose the thresholds. */
  int chosen = 0;
  for (int i = 0; i < a->n_tuning; i++) {
    if (mspace_set_param(a->msp, a->tuning[i][0], a->tuning[i][1]) != 1) return OH_INVALID;
    if (a->tuning[i][0] == M_MMAP_THRESHOLD || a->tuning[i][0] == M_TRIM_THRESHOLD) chosen = 1;
  }
  if (!chosen && mspace_set_param(a->msp, M_MMAP_DYNAMIC, 1) != 1) return OH_INVALID;
  int b = livemap_zeroed ? mspace_set_bounds_zeroed(a->msp, a->base, a->capacity, a->livemap, a->livemap_len)
                         : mspace_set_bounds(a->msp, a->base, a->capacity, a->livemap, a->livemap_len);
  return b == DL_OK ? OH_OK : OH_INVALID;
}

/* Makes the allocator over the region. When region and metadata read as
 * zeros (fresh, or released) nothing is cleared, so untouched parts stay
 * uncommitted (a 4 GiB arena's maps would otherwise cost tens of MiB). */
static int core_init(oh_arena* a) {
  unsigned zeroed = a->maps_zeroed;
  if (a->kind == OH_KIND_DLMALLOC) {
    unsigned flags = zeroed ? (PAGES_REGION_ZEROED | PAGES_META_ZEROED) : 0u;
    if (pages_init(&a->pages, a->pages_meta, a->pages_meta_len, a->base, a->capacity, flags) != PAGES_OK)
      return OH_INVALID;
    int h = dl_heap_init(a, (int)zeroed);
    if (h != OH_OK) return h;
  } else {
    buddy_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.min_block = a->min_block;
    cfg.flags = BUDDY_TRACK_ZERO | (zeroed ? (BUDDY_REGION_ZEROED | BUDDY_META_ZEROED) : 0u);
    if (buddy_init(&a->buddy, a->buddy_meta, a->buddy_meta_len, a->base, a->capacity, &cfg) != BUDDY_OK)
      return OH_INVALID;
  }
  a->corrupted = 0;
  a->released = 0;
  a->live = 0;
  a->sp.dropped = 0;
  return OH_OK;
}

/* Every page back to the OS and the allocator dropped, without walking heap
 * memory (it may be damaged): region and metadata then read as zeros
 * (maps_zeroed, unless the OS refused) and core_init can start over. */
static void core_release(oh_arena* a) {
  if (a->released) return;
  int zeroed = 1;
#define GIVE_BACK(p, n) \
  if ((p) && (n) && madvise((p), (n), MADV_DONTNEED) != 0) zeroed = 0
  a->msp = NULL; /* its state is ours and holds nothing to release */
  a->pages = NULL;
  a->buddy = NULL;
  GIVE_BACK(a->livemap, a->livemap_len);
  GIVE_BACK(a->pages_meta, a->pages_meta_len);
  GIVE_BACK(a->buddy_meta, a->buddy_meta_len);
  GIVE_BACK(a->base, a->capacity);
#undef GIVE_BACK
  oh_spares_forget(a, 1);
  a->maps_zeroed = zeroed;
  a->released = 1;
  a->live = 0;
}

int oh_arena_create(const oh_config* cfg, oh_arena** out) {
  *out = NULL;
  if (!cfg || (cfg->kind != OH_KIND_DLMALLOC && cfg->kind != OH_KIND_BUDDY) || cfg->capacity < OH_PAGE ||
      cfg->capacity % OH_PAGE != 0 || cfg->n_tuning < 0 || cfg->n_tuning > OH_MAX_TUNING ||
      (cfg->shared && cfg->spares) || cfg->retain > cfg->capacity)
    return OH_INVALID;
  if (cfg->kind == OH_KIND_BUDDY &&
      (cfg->min_block < 16 || (cfg->min_block & (cfg->min_block - 1)) || cfg->min_block > cfg->capacity))
    return OH_INVALID;
  oh_arena* a = (oh_arena*)calloc(1, sizeof *a);
  if (!a) return OH_OOM;
  a->kind = cfg->kind;
  a->shared = cfg->shared;
  a->capacity = cfg->capacity;
  a->min_block = cfg->kind == OH_KIND_BUDDY ? cfg->min_block : 16;
  memcpy(a->tuning, cfg->tuning, sizeof a->tuning);
  a->n_tuning = cfg->n_tuning;
  a->retain = cfg->retain;
  a->maps_zeroed = 1;
  a->released = 1; /* nothing to release until core_init */
  int s = reserve_region(a);
  if (s == OH_OK) {
    if (a->kind == OH_KIND_DLMALLOC) {
      a->pages_meta_len = page_round(pages_meta_size(a->capacity));
      a->pages_meta = map_noreserve(a->pages_meta_len);
      a->dl_state = aligned_alloc(64, (mspace_state_size() + 63) & ~(size_t)63);
      a->livemap_len = page_round(mspace_livemap_bytes(a->capacity));
      a->livemap = (unsigned char*)map_noreserve(a->livemap_len);
      if (!a->pages_meta || !a->dl_state || !a->livemap) s = OH_OOM;
    } else {
      a->buddy_meta_len = page_round(buddy_meta_size(a->capacity, a->min_block));
      a->buddy_meta = map_noreserve(a->buddy_meta_len);
      if (!a->buddy_meta) s = OH_OOM;
    }
  }
  if (s == OH_OK && cfg->spares) s = oh_spares_create(a);
  if (s == OH_OK) s = core_init(a);
  if (s != OH_OK) {
    oh_arena_delete(a);
    return s;
  }
  *out = a;
  return OH_OK;
}

void oh_arena_delete(oh_arena* a) {
  if (!a) return;
  core_release(a);
  if (a->base) munmap(a->base, a->capacity);
  if (a->pages_meta) munmap(a->pages_meta, a->pages_meta_len);
  if (a->livemap) munmap(a->livemap, a->livemap_len);
  if (a->buddy_meta) munmap(a->buddy_meta, a->buddy_meta_len);
  oh_spares_unmap(a);
  free(a->dl_state);
  free(a);
}

/* ---- entering and leaving --------------------------------------------------- */

/* Every entry point: the lock (shared arenas), the arena the hooks serve, and
 * the state every call refuses. */
typedef struct {
  oh_arena* prev;
} oh_entry;

static inline int enter(oh_arena* a, oh_entry* e) {
  if (a->shared) oh_lock_acquire(&a->lock);
  e->prev = oh_current_swap(a);
  if (a->destroyed) return OH_DESTROYED;
  if (a->corrupted) return OH_CORRUPTED;
  return OH_OK;
}

/* A damaged arena hands out nothing more, spares included: JavaScript then
 * finds every stack empty and every tag clear, and each call reaches the core. */
static inline void drop_spares_if_damaged(oh_arena* a) {
  if (a->corrupted && !a->sp.dropped) {
    oh_spares_forget(a, 1);
    a->sp.dropped = 1;
  }
}

static inline int leave(oh_arena* a, oh_entry* e, int status) {
  drop_spares_if_damaged(a);
  oh_current_swap(e->prev);
  if (a->shared) oh_lock_release(&a->lock);
  return status;
}

/* ---- the allocator calls ---------------------------------------------------- */

static int from_dl(oh_arena* a, int s) {
  switch (s) {
    case DL_OK: return OH_OK;
    case DL_E_FOREIGN: return OH_FOREIGN;
    case DL_E_NOT_ALLOCATED: return OH_NOT_ALLOCATED;
    default: a->corrupted = 1; return OH_CORRUPTED;
  }
}

static int from_buddy(oh_arena* a, int s) {
  switch (s) {
    case BUDDY_OK: return OH_OK;
    case BUDDY_E_FOREIGN: return OH_FOREIGN;
    case BUDDY_E_DOUBLE_FREE:
    case BUDDY_E_INTERIOR:
    case BUDDY_E_STALE:
    case BUDDY_E_NOT_ALLOCATED: return OH_NOT_ALLOCATED;
    case BUDDY_E_NOMEM: return OH_OOM;
    default: a->corrupted = 1; return OH_CORRUPTED;
  }
}

/* After an allocator returned no block: was it damage, or no room? (dlmalloc
 * reports damage through custom_abort, which sets a->corrupted; buddy keeps it
 * in its instance.) */
static void note_failure(oh_arena* a) {
  if (a->kind == OH_KIND_BUDDY && buddy_validate(a->buddy, a->base) == BUDDY_E_CORRUPTED) a->corrupted = 1;
}

void* oh_core_malloc(oh_arena* a, size_t n) {
  void* p = a->kind == OH_KIND_DLMALLOC ? mspace_malloc(a->msp, n) : buddy_malloc(a->buddy, n);
  if (!p) note_failure(a);
  return p;
}

size_t oh_core_malloc_run(oh_arena* a, size_t n, size_t count, void** out) {
  size_t got = 0;
  if (a->kind == OH_KIND_BUDDY) {
    got = buddy_malloc_run(a->buddy, n, count, out);
  } else {
    while (got < count && (out[got] = mspace_malloc(a->msp, n)) != NULL) got++;
  }
  if (got < count) note_failure(a);
  return got;
}

int oh_core_free(oh_arena* a, size_t off) {
  void* p = a->base + off;
  int s = a->kind == OH_KIND_DLMALLOC ? from_dl(a, mspace_free_status(a->msp, p))
                                      : from_buddy(a, buddy_free(a->buddy, p));
  if (s == OH_OK) a->live--;
  return s;
}

int oh_core_validate(oh_arena* a, size_t off) {
  const void* p = a->base + off;
  return a->kind == OH_KIND_DLMALLOC ? from_dl(a, mspace_validate(a->msp, p))
                                     : from_buddy(a, buddy_validate(a->buddy, p));
}

size_t oh_core_usable(oh_arena* a, size_t off) {
  const void* p = a->base + off;
  return a->kind == OH_KIND_DLMALLOC ? mspace_usable_size(p) : buddy_usable_size(a->buddy, p);
}

/* An allocation by `fn`; on no room, the spares go back to the allocator (they
 * may be what the request needs) and it is tried once more. */
typedef void* (*alloc_fn)(oh_arena* a, size_t x, size_t n);

static void* dl_or_buddy_malloc(oh_arena* a, size_t x, size_t n) {
  (void)x;
  return oh_core_malloc(a, n);
}

static void* dl_or_buddy_calloc(oh_arena* a, size_t x, size_t n) {
  (void)x;
  void* p = a->kind == OH_KIND_DLMALLOC ? mspace_calloc(a->msp, 1, n) : buddy_calloc(a->buddy, 1, n);
  if (!p) note_failure(a);
  return p;
}

static void* dl_or_buddy_memalign(oh_arena* a, size_t alignment, size_t n) {
  void* p = a->kind == OH_KIND_DLMALLOC ? mspace_memalign(a->msp, alignment, n)
                                        : buddy_aligned_alloc(a->buddy, alignment, n);
  if (!p) note_failure(a);
  return p;
}

static int allocate(oh_arena* a, alloc_fn fn, size_t x, size_t n, size_t* off) {
  oh_entry e;
  int s = enter(a, &e);
  if (s) return leave(a, &e, s);
  if (n > a->capacity) return leave(a, &e, OH_OOM);
  void* p = fn(a, x, n);
  if (!p && !a->corrupted && oh_spares_held(a) > 0 && oh_spares_give_back(a) == OH_OK) p = fn(a, x, n);
  if (!p) return leave(a, &e, a->corrupted ? OH_CORRUPTED : OH_OOM);
  a->live++;
  *off = (size_t)((unsigned char*)p - a->base);
  return leave(a, &e, OH_OK);
}

int oh_alloc(oh_arena* a, size_t n, size_t* off) { return allocate(a, dl_or_buddy_malloc, 0, n, off); }
int oh_calloc(oh_arena* a, size_t n, size_t* off) { return allocate(a, dl_or_buddy_calloc, 0, n, off); }
int oh_memalign(oh_arena* a, size_t alignment, size_t n, size_t* off) {
  return allocate(a, dl_or_buddy_memalign, alignment, n, off);
}

/* The block at `off` for an offset-taking call: FOREIGN outside the region,
 * NOT_ALLOCATED at its end and for a spare (free to the user: not theirs).
 * *tag is the block's tag when it is in the spare scheme. */
static int user_block(oh_arena* a, size_t off, unsigned char** tag) {
  if (off > a->capacity) return OH_FOREIGN;
  if (off == a->capacity) return OH_NOT_ALLOCATED;
  *tag = oh_spare_tag(a, off);
  return (*tag && (**tag & OH_TAG_SPARE)) ? OH_NOT_ALLOCATED : OH_OK;
}

int oh_free(oh_arena* a, size_t off) {
  oh_entry e;
  unsigned char* tag = NULL;
  int s = enter(a, &e);
  if (s == OH_OK) s = user_block(a, off, &tag);
  if (s == OH_OK) s = oh_core_free(a, off);
  if (s == OH_OK && tag) *tag = 0;
  return leave(a, &e, s);
}

int oh_realloc(oh_arena* a, size_t off, size_t n, size_t* out) {
  oh_entry e;
  unsigned char* tag = NULL;
  int s = enter(a, &e);
  if (s == OH_OK) s = user_block(a, off, &tag);
  if (s) return leave(a, &e, s);
  void* p = a->base + off;
  void* q = NULL;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (a->kind == OH_KIND_DLMALLOC) {
      s = from_dl(a, mspace_realloc_status(a->msp, p, n, &q));
      if (s == OH_OK && !q) s = OH_OOM;
    } else {
      s = from_buddy(a, buddy_realloc(a->buddy, p, n, &q));
    }
    if (s != OH_OOM || oh_spares_held(a) == 0 || oh_spares_give_back(a) != OH_OK) break;
  }
  if (s) return leave(a, &e, s);
  /* Resized or moved: the block leaves the spare scheme (its class no longer fits). */
  if (tag) *tag = 0;
  *out = (size_t)((unsigned char*)q - a->base);
  return leave(a, &e, OH_OK);
}

int oh_usable(oh_arena* a, size_t off, size_t* out) {
  oh_entry e;
  unsigned char* tag = NULL;
  int s = enter(a, &e);
  if (s == OH_OK) s = user_block(a, off, &tag);
  if (s == OH_OK) s = oh_core_validate(a, off);
  if (s == OH_OK) *out = oh_core_usable(a, off);
  return leave(a, &e, s);
}

int oh_validate(oh_arena* a, size_t off) {
  oh_entry e;
  unsigned char* tag = NULL;
  int s = enter(a, &e);
  if (s == OH_OK) s = user_block(a, off, &tag);
  if (s == OH_OK) s = oh_core_validate(a, off);
  return leave(a, &e, s);
}

/* ---- the mailbox ------------------------------------------------------------- */

/* The mailbox argument as an offset or size: a non-negative integer no larger
 * than the capacity, or `max + 1` when it is anything else. */
static inline size_t io_arg(const oh_arena* a) {
  double d = a->io[OH_IO_ARG];
  if (!(d >= 0) || d > (double)a->capacity) return a->capacity + 1;
  size_t v = (size_t)d;
  return (double)v == d ? v : a->capacity + 1;
}

void oh_io_alloc(oh_arena* a) {
  size_t n = io_arg(a), off = 0;
  int s = n <= a->capacity ? oh_alloc(a, n, &off) : OH_INVALID;
  a->io[OH_IO_RESULT] = s == OH_OK ? (double)off : (double)s;
}

void oh_io_free(oh_arena* a) { a->io[OH_IO_RESULT] = oh_free(a, io_arg(a)); }

static void io_spares(oh_arena* a, int (*fn)(oh_arena*, size_t)) {
  oh_entry e;
  int s = enter(a, &e);
  if (s == OH_OK) s = fn(a, io_arg(a));
  a->io[OH_IO_RESULT] = leave(a, &e, s);
}

void oh_io_refill(oh_arena* a) { io_spares(a, oh_spares_refill); }
void oh_io_flush(oh_arena* a) { io_spares(a, oh_spares_flush); }

/* ---- the whole arena --------------------------------------------------------- */

static size_t peak_committed(oh_arena* a) {
  if (a->released) return 0;
  if (a->kind == OH_KIND_DLMALLOC) {
    pages_stats_t ps;
    return pages_stats(a->pages, &ps) == PAGES_OK ? ps.peak_committed_bytes : 0;
  }
  buddy_stats_t bs;
  return buddy_stats(a->buddy, &bs) == BUDDY_OK ? bs.peak_committed_bytes : 0;
}

int oh_state(oh_arena* a) {
  oh_entry e;
  int s = enter(a, &e);
  return leave(a, &e, s);
}

static int release_pages(void* ptr, size_t length, void* arg) {
  (void)arg;
  return madvise(ptr, length, MADV_DONTNEED) == 0 ? 0 : -1;
}

/* Clears [p, p + n) of a map outside the region: memset when small, the
 * whole pages inside it given back when large. Returns the bytes. */
static size_t clear_map(unsigned char* p, size_t n) {
  if (n == 0) return 0;
  if (n > OH_MAP_CLEAR_MAX) {
    uintptr_t lo = ((uintptr_t)p + OH_PAGE - 1) & ~(uintptr_t)(OH_PAGE - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~(uintptr_t)(OH_PAGE - 1);
    if (hi > lo && madvise((void*)lo, hi - lo, MADV_DONTNEED) == 0) {
      memset(p, 0, lo - (uintptr_t)p);
      memset((void*)hi, 0, (uintptr_t)p + n - hi);
      return n;
    }
  }
  memset(p, 0, n);
  return n;
}

/* The reset of a live arena in time of what was used since the last one:
 * each allocator frees everything from its touched parts, keeping up to
 * `retain` bytes of written pages (pages_reset, buddy_restart); the live map
 * is cleared where the heap's page runs were (only there can a chunk have
 * started); the tag map where tags were written. OH_OK, or the allocator's
 * refusal: the caller then releases and rebuilds everything. */
static int fast_reset(oh_arena* a, oh_reset_work* w) {
  if (a->kind == OH_KIND_DLMALLOC) {
    size_t lo_end, hi_start;
    pages_reset_work pw;
    if (pages_touched(a->pages, &lo_end, &hi_start) != PAGES_OK ||
        pages_reset(a->pages, a->retain, release_pages, NULL, &pw) != PAGES_OK)
      return OH_CORRUPTED;
    w->released_bytes += pw.released_bytes;
    w->meta_words += pw.meta_words;
    /* the live map: one bit per 16 bytes from the base, 8 to a byte */
    size_t lm_end = mspace_livemap_bytes(a->capacity); /* the rest of the mapping is never written */
    size_t lm_lo = mspace_livemap_bytes(lo_end), lm_hi = hi_start / 128;
    if (lm_lo > lm_end) lm_lo = lm_end;
    if (lm_hi < lm_lo) lm_hi = lm_lo;
    w->map_bytes += clear_map(a->livemap, lm_lo);
    if (lm_hi < lm_end) w->map_bytes += clear_map(a->livemap + lm_hi, lm_end - lm_hi);
    if (dl_heap_init(a, 1) != OH_OK) return OH_CORRUPTED;
  } else {
    buddy_reset_work bw;
    int r = buddy_restart(a->buddy, a->retain, release_pages, NULL, &bw);
    if (r != BUDDY_OK) return r == BUDDY_E_CORRUPTED ? OH_CORRUPTED : OH_INVALID;
    w->released_bytes += bw.released_bytes;
    w->meta_words += bw.meta_words;
  }
  a->live = 0;
  a->sp.dropped = 0;
  return OH_OK;
}

int oh_reset(oh_arena* a) {
  oh_entry e;
  int s = enter(a, &e);
  if (s) return leave(a, &e, s);
  /* The new instance starts its peak at zero; stats keep reporting the larger. */
  size_t peak = peak_committed(a);
  if (peak > a->peak_carried) a->peak_carried = peak;
  oh_reset_work w = {0, 0, 0, 0};
  /* The spares first: they are blocks of the allocator that is reset. What
   * this period took from them is carved again at the end, within the
   * retained bytes (pages that stay committed anyway). */
  uint32_t demand[OH_SPARE_CLASSES + 1], want[OH_SPARE_CLASSES + 1];
  oh_spares_demand(a, demand, want);
  w.map_bytes += oh_spares_forget(a, 0);
  a->live = 0;
  s = a->released ? OH_INVALID : fast_reset(a, &w);
  if (s != OH_OK) {
    /* released, or an allocator that refused: everything back, and anew */
    w.full = 1;
    core_release(a);
    s = core_init(a);
    if (s) a->corrupted = 1;
  }
  if (s == OH_OK) {
    if (a->sp.tags) memcpy(a->sp.demand, demand, sizeof a->sp.demand);
    oh_spares_warm(a, want, a->retain);
  }
  a->last_reset = w;
  return leave(a, &e, s);
}

void oh_destroy(oh_arena* a) {
  oh_entry e;
  enter(a, &e);
  if (!a->destroyed) {
    core_release(a);
    a->destroyed = 1;
  }
  leave(a, &e, OH_OK);
}

int oh_trim(oh_arena* a, size_t* released) {
  oh_entry e;
  *released = 0;
  int s = enter(a, &e);
  if (s == OH_OK) s = oh_spares_give_back(a);
  if (s) return leave(a, &e, s);
  size_t r = 0;
  if (a->kind == OH_KIND_DLMALLOC) {
    size_t before = mspace_footprint(a->msp);
    mspace_trim(a->msp, 0);
    size_t after = mspace_footprint(a->msp);
    if (before > after) *released += before - after;
    if (pages_trim(a->pages, release_pages, NULL, &r) == PAGES_OK) *released += r;
    else a->corrupted = 1;
  } else {
    int t = buddy_trim(a->buddy, release_pages, NULL, &r);
    if (t == BUDDY_OK) *released += r;
    else if (t == BUDDY_E_CORRUPTED) a->corrupted = 1;
  }
  return leave(a, &e, a->corrupted ? OH_CORRUPTED : OH_OK);
}

static void fill_stats(oh_arena* a, oh_arena_stats* s, int merge);
static int stats_consistent(oh_arena* a, const oh_arena_stats* s);

/* The invariants of oh_arena (arena.h) and of everything under it, and the
 * relations of its statistics (stats.h). */
int oh_check(oh_arena* a) {
  oh_entry e;
  int s = enter(a, &e);
  if (s) return leave(a, &e, s);
  int ok;
  if (a->kind == OH_KIND_DLMALLOC) {
    /* The live map marks where every block the heap holds for us starts. */
    size_t marked = 0;
    for (size_t i = 0; i < a->livemap_len; i += 8) {
      uint64_t w;
      memcpy(&w, a->livemap + i, 8);
      marked += popcount64(w);
    }
    ok = mspace_check(a->msp) == DL_OK && pages_check(a->pages) == PAGES_OK && marked == a->live;
  } else {
    buddy_stats_t bs;
    ok = buddy_check(a->buddy) == BUDDY_OK && buddy_stats(a->buddy, &bs) == BUDDY_OK &&
         bs.live_blocks == a->live;
  }
  ok = ok && !a->released && a->live >= oh_spares_held(a) && oh_spares_check(a) == OH_OK;
  if (ok) {
    oh_arena_stats st;
    memset(&st, 0, sizeof st);
    fill_stats(a, &st, 0);
    ok = !a->corrupted && stats_consistent(a, &st);
  }
  if (!ok) a->corrupted = 1;
  return leave(a, &e, ok ? OH_OK : OH_CORRUPTED);
}

/* ---- the statistics (stats.h defines every field) ------------------------------ */

/* The request sizes of stats.h: largestFree (any) and largestFreeCommitted
 * (committed), both exact. dlmalloc: the heap works them out from its own
 * paths (mspace_largest_requests) for a port whose largest run is the page
 * provider's longest free run, or the whole region once the heap gave its
 * memory back when the heap's pages are all the provider hands out (an empty
 * heap gives its segment back when no run fits a request). buddy: the largest
 * free block (with the lazy cache merged, as an allocation that needs it
 * merges it), and the largest one with no page known zero. 0 and 0 for a
 * released or damaged arena; damage found on the way marks the arena. */
typedef struct {
  size_t any, committed;
} oh_room;

static oh_room arena_room(oh_arena* a, int merge, int want_committed) {
  oh_room r = {0, 0};
  if (a->released || a->corrupted) return r;
  if (a->kind == OH_KIND_DLMALLOC) {
    pages_stats_t ps;
    if (pages_stats(a->pages, &ps) != PAGES_OK) return r;
    size_t run_empty = ps.used_bytes == mspace_footprint(a->msp) ? ps.region_bytes : ps.largest_free;
    mspace_room m;
    if (mspace_largest_requests(a->msp, ps.largest_free, run_empty, &m) != DL_OK) {
      a->corrupted = 1;
      return r;
    }
    r.any = m.any;
    r.committed = m.in_heap;
    return r;
  }
  buddy_stats_t bs;
  if (merge) buddy_flush(a->buddy);
  if (buddy_stats(a->buddy, &bs) != BUDDY_OK) return r;
  r.any = bs.largest_free;
  if (want_committed) {
    int st = buddy_largest_free_committed(a->buddy, &r.committed);
    if (st != BUDDY_OK) {
      if (st == BUDDY_E_CORRUPTED) a->corrupted = 1;
      r.any = r.committed = 0;
    }
  }
  return r;
}

static void fill_dlmalloc(oh_arena* a, oh_arena_stats* s) {
  pages_stats_t ps;
  struct mallinfo mi;
  memset(&ps, 0, sizeof ps);
  memset(&mi, 0, sizeof mi);
  size_t fp = 0;
  if (!a->released && !a->corrupted) {
    pages_stats(a->pages, &ps);
    mi = mspace_mallinfo(a->msp);
    fp = mspace_footprint(a->msp);
  }
  /* committed: the heap's page runs, and the free pages of the region not
   * known to read as zeros (written before, kept by reset's `retain` or by
   * a release that did not happen); what is not in the heap's chunks is free. */
  size_t committed = ps.committed_bytes > fp ? ps.committed_bytes : fp;
  size_t free_b = mi.fordblks <= fp ? mi.fordblks : fp;
  size_t in_use = fp - free_b;
  size_t peak = ps.peak_committed_bytes > committed ? ps.peak_committed_bytes : committed;
  s->committed = (double)committed;
  s->inUse = (double)in_use;
  s->free = (double)(committed - in_use);
  s->peakCommitted = (double)(peak > a->peak_carried ? peak : a->peak_carried);
  s->detail.dl.heapBytes = (double)mi.arena;
  s->detail.dl.directMappedBytes = (double)mi.hblkhd;
  s->detail.dl.freeChunks = (double)mi.ordblks;
  s->detail.dl.topBytes = (double)mi.keepcost;
  s->detail.dl.pagesFree = (double)ps.free_bytes;
  s->detail.dl.pagesUsed = (double)ps.used_bytes;
  s->detail.dl.pagesLargestFree = (double)ps.largest_free;
  s->detail.dl.pagesFreeRuns = (double)ps.free_runs;
  s->detail.dl.pagesKnownZero = (double)ps.zero_known_bytes;
  s->detail.dl.metadataBytes = (double)(ps.meta_bytes + mspace_state_size() + a->livemap_len);
}

/* merge: the lazy cache merged first (stats report the merged picture, which
 * is what an allocation that needs the cached blocks sees); check reads the
 * instance as it is. */
static void fill_buddy(oh_arena* a, oh_arena_stats* s, int merge) {
  buddy_stats_t bs;
  memset(&bs, 0, sizeof bs);
  if (!a->released) {
    if (!a->corrupted && merge) buddy_flush(a->buddy);
    buddy_stats(a->buddy, &bs);
  }
  /* committed: the region less the pages known to read as zeros, i.e. what
   * may be backed by memory. Known-zero pages lie wholly in free blocks (I6 in
   * buddy.c), so inUse <= committed and free = committed - inUse; the max()
   * only guards a corrupted instance, whose figures are not trusted anyway. */
  size_t committed = bs.committed_bytes > bs.used_bytes ? bs.committed_bytes : bs.used_bytes;
  size_t peak = bs.peak_committed_bytes > committed ? bs.peak_committed_bytes : committed;
  if (a->peak_carried > peak) peak = a->peak_carried;
  s->committed = (double)committed;
  s->inUse = (double)bs.used_bytes;
  s->free = (double)(committed - bs.used_bytes);
  s->peakCommitted = (double)peak;
  s->detail.buddy.peakInUse = (double)bs.peak_used_bytes;
  s->detail.buddy.freeBlockBytes = (double)bs.free_bytes;
  s->detail.buddy.minBlock = (double)bs.min_block;
  s->detail.buddy.orders = (double)bs.orders;
  s->detail.buddy.liveBlocks = (double)bs.live_blocks;
  s->detail.buddy.cachedBytes = (double)bs.cached_bytes;
  s->detail.buddy.knownZeroBytes = (double)bs.zero_known_bytes;
  s->detail.buddy.fragmentation = bs.fragmentation;
  s->detail.buddy.metadataBytes = (double)bs.meta_bytes;
  for (unsigned i = 0; i < bs.orders && i < OH_MAX_ORDERS && i < BUDDY_MAX_ORDERS; i++)
    s->detail.buddy.freeBlocksPerOrder[i] = (double)bs.free_blocks[i];
}

/* Every field, for an arena entered and not destroyed. */
static void fill_stats(oh_arena* a, oh_arena_stats* s, int merge) {
  s->kind = a->kind;
  s->capacity = (double)a->capacity;
  s->liveAllocations = (double)(a->live - oh_spares_held(a));
  if (a->kind == OH_KIND_DLMALLOC) fill_dlmalloc(a, s);
  else fill_buddy(a, s, merge);
  oh_room r = arena_room(a, 0, 1); /* fill_buddy merged already when asked to */
  s->largestFree = (double)r.any;
  s->largestFreeCommitted = (double)r.committed;
  s->corrupted = a->corrupted;
}

/* The relations of stats.h, which follow from the definitions of the fields. */
static int stats_consistent(oh_arena* a, const oh_arena_stats* s) {
  int ok = s->inUse + s->free == s->committed && s->committed <= s->capacity &&
           s->peakCommitted >= s->committed && s->largestFreeCommitted <= s->free &&
           s->largestFreeCommitted <= s->largestFree && s->largestFree <= s->capacity - s->inUse &&
           (s->inUse > 0 || s->liveAllocations == 0);
  if (a->kind == OH_KIND_DLMALLOC) {
    /* committed: every page run the heap took, and the free pages not known
     * zero; the heap's footprint is exactly its page runs */
    ok = ok && s->committed == s->capacity - s->detail.dl.pagesKnownZero &&
         s->committed >= s->detail.dl.pagesUsed &&
         s->detail.dl.heapBytes + s->detail.dl.directMappedBytes == s->detail.dl.pagesUsed;
  } else {
    ok = ok && s->detail.buddy.fragmentation >= 0 && s->detail.buddy.fragmentation < 1 &&
         s->detail.buddy.knownZeroBytes == s->detail.buddy.freeBlockBytes - s->free;
    /* with no spare held, the live blocks are the user's: inUse is theirs alone */
    if (oh_spares_held(a) == 0) ok = ok && (s->liveAllocations == 0) == (s->inUse == 0);
  }
  return ok;
}

int oh_stats(oh_arena* a, oh_arena_stats* s) {
  oh_entry e;
  memset(s, 0, sizeof *s);
  int st = enter(a, &e);
  if (st == OH_DESTROYED) return leave(a, &e, st);
  /* Spares back first, so that the numbers count the user's blocks only; a
   * failure marks the arena corrupted, which the numbers then say. */
  if (st == OH_OK && oh_spares_give_back(a) != OH_OK) a->corrupted = 1;
  drop_spares_if_damaged(a); /* before counting: their count goes with them */
  fill_stats(a, s, 1);
  return leave(a, &e, OH_OK);
}

size_t oh_largest_free(oh_arena* a) {
  oh_entry e;
  size_t r = enter(a, &e) == OH_OK ? arena_room(a, 1, 0).any : 0;
  leave(a, &e, OH_OK);
  return r;
}
