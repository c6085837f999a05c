/*
 * offheap glue — the region and the allocator instances over it.
 *
 * One mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE)
 * reservation per arena, aligned to the largest power of two <= capacity
 * (where the address space allows) so that a buddy instance sees one big
 * root and alignedAlloc offsets are absolute alignments. It is never
 * munmap'd or mprotect'd while a JavaScript view can exist: destroy gives
 * the pages back with madvise(MADV_DONTNEED) at once, and the address range
 * goes when the last reference (the JS handle, the region-wide ArrayBuffer,
 * each safe-mode ArrayBuffer) is dropped (arena_unref).
 *
 * 'dlmalloc' arena: a buddy page provider over the region (4 KiB blocks, zero
 * tracking, metadata outside the region) serves custom_mmap/custom_munmap/
 * custom_direct_mmap (port.cc); an mspace whose state lives outside the
 * region (create_mspace_with_state) is confined to the region with a live
 * map (mspace_set_bounds) that is itself an mmap NORESERVE outside it, so
 * untouched map pages cost nothing and validation is O(1) and exact.
 * 'buddy' arena: a buddy instance over the region serves requests directly.
 * No allocation policy here: every decision is the core's.
 */
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

#include "arena.h"

namespace offheap {

static const size_t kPage = 4096;

static void* map_noreserve(size_t len) {
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

static size_t pow2_floor(size_t x) {
  size_t p = 1;
  while (p <= x / 2) p <<= 1;
  return p;
}

int region_create(Arena* a, int kind, size_t capacity, size_t min_block) {
  a->kind = kind;
  a->capacity = capacity;
  a->min_block = min_block;
  /* Aligned to the largest power of two <= capacity where the address space
   * allows (reserving capacity + align first), less aligned otherwise. */
  size_t align = pow2_floor(capacity);
  if (align < kPage) align = kPage;
  unsigned char* raw = nullptr;
  size_t want = 0;
  for (; align >= kPage; align /= 2) {
    want = capacity + align;
    if (want > capacity && (raw = (unsigned char*)map_noreserve(want)) != nullptr) break;
  }
  if (!raw) return ST_OOM;
  uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
  /* No view exists yet: the slop around the aligned range can go now. */
  size_t head = start - (uintptr_t)raw;
  size_t tail = want - head - capacity;
  if (head) munmap(raw, head);
  if (tail) munmap((unsigned char*)start + capacity, tail);
  a->map = (void*)start;
  a->map_len = capacity;
  a->base = (unsigned char*)start;

  if (kind == KIND_DLMALLOC) {
    a->pages_meta_len = (buddy_meta_size(capacity, kPage) + kPage - 1) & ~(kPage - 1);
    a->pages_meta = map_noreserve(a->pages_meta_len);
    a->dl_state = aligned_alloc(64, (mspace_state_size() + 63) & ~(size_t)63);
    a->livemap_len = (mspace_livemap_bytes(capacity) + kPage - 1) & ~(kPage - 1);
    a->livemap = (unsigned char*)map_noreserve(a->livemap_len);
    if (!a->pages_meta || !a->dl_state || !a->livemap) return ST_OOM;
  } else {
    a->buddy_meta_len = (buddy_meta_size(capacity, min_block) + kPage - 1) & ~(kPage - 1);
    a->buddy_meta = map_noreserve(a->buddy_meta_len);
    if (!a->buddy_meta) return ST_OOM;
  }
  return core_init(a);
}

/* Creates the allocator over the region. When the region and the maps read
 * as zeros (fresh, or released), nothing is cleared and untouched parts stay
 * uncommitted; otherwise the maps are cleared and no page is taken as zero. */
int core_init(Arena* a) {
  CurrentArena cur(a);
  unsigned zeroed = a->maps_zeroed ? (BUDDY_REGION_ZEROED | BUDDY_META_ZEROED) : 0u;
  if (a->kind == KIND_DLMALLOC) {
    buddy_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.min_block = kPage;
    /* Region and metadata are fresh mappings or were given back (core_release):
     * they read as zeros, so nothing is cleared and untouched parts stay
     * uncommitted (a 4 GiB arena's maps would otherwise cost tens of MiB). */
    cfg.flags = BUDDY_TRACK_ZERO | zeroed;
    if (buddy_init(&a->pages, a->pages_meta, a->pages_meta_len, a->base, a->capacity, &cfg) !=
        BUDDY_OK)
      return ST_INVALID;
    a->msp = create_mspace_with_state(a->dl_state, mspace_state_size(), 1);
    if (!a->msp) return ST_INVALID;
    /* Like glibc's malloc, the heap raises its mmap and trim thresholds as
     * large blocks are freed, so alloc+free of one large size does not map
     * and give back pages each time, unless the user chose the thresholds. */
    bool chosen = false;
    for (int i = 0; i < a->n_tuning; i++) {
      if (mspace_set_param(a->msp, a->tuning[i][0], a->tuning[i][1]) != 1) return ST_INVALID;
      if (a->tuning[i][0] == M_MMAP_THRESHOLD || a->tuning[i][0] == M_TRIM_THRESHOLD) chosen = true;
    }
    if (!chosen && mspace_set_param(a->msp, M_MMAP_DYNAMIC, 1) != 1) return ST_INVALID;
    int b = a->maps_zeroed
                ? mspace_set_bounds_zeroed(a->msp, a->base, a->capacity, a->livemap, a->livemap_len)
                : mspace_set_bounds(a->msp, a->base, a->capacity, a->livemap, a->livemap_len);
    if (b != DL_OK)
      return ST_INVALID;
  } else {
    buddy_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.min_block = a->min_block;
    cfg.flags = BUDDY_LOCKED | BUDDY_TRACK_ZERO | zeroed;
    if (buddy_init(&a->buddy, a->buddy_meta, a->buddy_meta_len, a->base, a->capacity, &cfg) !=
        BUDDY_OK)
      return ST_INVALID;
  }
  a->corrupted = false;
  a->core_released = false;
  if (a->fresh_largest == 0) {
    buddy_stats_t bs;
    if (buddy_stats(a->kind == KIND_DLMALLOC ? a->pages : a->buddy, &bs) == BUDDY_OK)
      a->fresh_largest = bs.largest_free;
  }
  return ST_OK;
}

/* Gives every page back to the OS and drops the allocator state, without
 * walking heap memory (it may be damaged): the region and the maps then
 * read as zeros (maps_zeroed, unless the OS refused) and core_init can start
 * over on them. */
void core_release(Arena* a) {
  if (a->core_released) return;
  bool zeroed = true;
  auto give_back = [&zeroed](void* p, size_t n) {
    if (p && n && madvise(p, n, MADV_DONTNEED) != 0) zeroed = false;
  };
  if (a->kind == KIND_DLMALLOC) {
    /* The mspace's state is caller memory: nothing in it needs releasing
     * when the pages go back all at once. */
    a->msp = nullptr;
    if (a->pages) buddy_destroy(a->pages);
    a->pages = nullptr;
    give_back(a->livemap, a->livemap_len);
    give_back(a->pages_meta, a->pages_meta_len);
  } else {
    if (a->buddy) buddy_destroy(a->buddy);
    a->buddy = nullptr;
    give_back(a->buddy_meta, a->buddy_meta_len);
  }
  give_back(a->base, a->capacity);
  spares_clear(a);
  a->maps_zeroed = zeroed;
  a->core_released = true;
}

void arena_unref(Arena* a) {
  if (a->shared) {
    if (!shared_unref(a)) return;
  } else if (a->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  core_release(a);
  env_unlink(a);
  if (a->map) munmap(a->map, a->map_len);
  if (a->pages_meta) munmap(a->pages_meta, a->pages_meta_len);
  if (a->livemap) munmap(a->livemap, a->livemap_len);
  if (a->buddy_meta) munmap(a->buddy_meta, a->buddy_meta_len);
  spares_unmap(a);
  free(a->dl_state);
  delete a;
}

void core_note_failure(Arena* a) {
  if (a->kind == KIND_DLMALLOC) {
    if (a->msp && mspace_validate(a->msp, a->base) == DL_E_CORRUPTED) a->corrupted = true;
  } else if (a->buddy && buddy_validate(a->buddy, a->base) == BUDDY_E_CORRUPTED) {
    a->corrupted = true;
  }
}

void* core_malloc(Arena* a, size_t n) {
  CurrentArena cur(a);
  void* p = a->kind == KIND_DLMALLOC ? mspace_malloc(a->msp, n) : buddy_malloc(a->buddy, n);
  if (!p) core_note_failure(a);
  return p;
}

void* core_calloc(Arena* a, size_t n) {
  CurrentArena cur(a);
  void* p =
      a->kind == KIND_DLMALLOC ? mspace_calloc(a->msp, 1, n) : buddy_calloc(a->buddy, 1, n);
  if (!p) core_note_failure(a);
  return p;
}

void* core_memalign(Arena* a, size_t align, size_t n) {
  CurrentArena cur(a);
  void* p = a->kind == KIND_DLMALLOC ? mspace_memalign(a->msp, align, n)
                                     : buddy_aligned_alloc(a->buddy, align, n);
  if (!p) core_note_failure(a);
  return p;
}

size_t core_fresh_largest(Arena* a) { return a->fresh_largest; }

size_t core_peak_committed(Arena* a) {
  if (a->corrupted) return 0;
  CurrentArena cur(a);
  if (a->kind == KIND_DLMALLOC) return a->msp ? mspace_max_footprint(a->msp) : 0;
  buddy_stats_t bs;
  return (a->buddy && buddy_stats(a->buddy, &bs) == BUDDY_OK) ? bs.peak_committed_bytes : 0;
}

int core_validate(Arena* a, const void* p) {
  if (a->kind == KIND_DLMALLOC) {
    int s = status_from_dl(mspace_validate(a->msp, p));
    if (s == ST_CORRUPTED) a->corrupted = true;
    return s;
  }
  int s = status_from_buddy(buddy_validate(a->buddy, p));
  if (s == ST_CORRUPTED) a->corrupted = true;
  return s;
}

int core_free(Arena* a, void* p) {
  CurrentArena cur(a);
  int s = core_validate(a, p);
  if (s != ST_OK) return s;
  if (a->kind == KIND_DLMALLOC) {
    mspace_free(a->msp, p);
    if (a->corrupted) return ST_CORRUPTED;
    return ST_OK;
  }
  s = status_from_buddy(buddy_free(a->buddy, p));
  if (s == ST_CORRUPTED) a->corrupted = true;
  return s;
}

int core_realloc(Arena* a, void* p, size_t n, void** out) {
  CurrentArena cur(a);
  *out = nullptr;
  int s = core_validate(a, p);
  if (s != ST_OK) return s;
  if (a->kind == KIND_DLMALLOC) {
    void* q = mspace_realloc(a->msp, p, n);
    if (a->corrupted) return ST_CORRUPTED;
    if (!q) {
      core_note_failure(a);
      return a->corrupted ? ST_CORRUPTED : ST_OOM;
    }
    *out = q;
    return ST_OK;
  }
  s = status_from_buddy(buddy_realloc(a->buddy, p, n, out));
  if (s == ST_CORRUPTED) a->corrupted = true;
  return s;
}

size_t core_usable(Arena* a, const void* p) {
  return a->kind == KIND_DLMALLOC ? mspace_usable_size(p) : buddy_usable_size(a->buddy, p);
}

int core_check(Arena* a) {
  CurrentArena cur(a);
  if (a->kind == KIND_DLMALLOC) {
    int s = mspace_check(a->msp);
    if (s == DL_OK) s = buddy_check(a->pages) == BUDDY_OK ? DL_OK : DL_E_CORRUPTED;
    if (s != DL_OK) a->corrupted = true;
    return s == DL_OK ? ST_OK : ST_CORRUPTED;
  }
  int s = buddy_check(a->buddy);
  if (s != BUDDY_OK) a->corrupted = true;
  return s == BUDDY_OK ? ST_OK : ST_CORRUPTED;
}

size_t core_largest_free(Arena* a) {
  buddy_stats_t bs;
  if (a->kind == KIND_DLMALLOC) {
    size_t best = 0;
    if (a->pages && buddy_stats(a->pages, &bs) == BUDDY_OK) best = bs.largest_free;
    if (a->msp) {
      CurrentArena cur(a);
      struct mallinfo mi = mspace_mallinfo(a->msp);
      if (mi.keepcost > best) best = mi.keepcost;
    }
    return best;
  }
  if (a->buddy && buddy_stats(a->buddy, &bs) == BUDDY_OK) return bs.largest_free;
  return 0;
}

static int trim_release(void* ptr, size_t length, void* arg) {
  (void)arg;
  return madvise(ptr, length, MADV_DONTNEED) == 0 ? 0 : -1;
}

size_t region_trim(Arena* a) {
  CurrentArena cur(a);
  size_t released = 0;
  if (a->kind == KIND_DLMALLOC) {
    size_t before = mspace_footprint(a->msp);
    mspace_trim(a->msp, 0);
    size_t after = mspace_footprint(a->msp);
    if (before > after) released += before - after;
    size_t r = 0;
    if (buddy_trim(a->pages, trim_release, nullptr, &r) == BUDDY_OK) released += r;
  } else {
    size_t r = 0;
    int s = buddy_trim(a->buddy, trim_release, nullptr, &r);
    if (s == BUDDY_E_CORRUPTED) a->corrupted = true;
    if (s == BUDDY_OK) released += r;
  }
  return released;
}

}  // namespace offheap
