/*
 * offheap arena core — spare small blocks and the tag map (spares.h, where
 * the scheme and its invariants are written).
 */
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* The relations the scheme relies on. */
_Static_assert(OH_SPARE_CLASSES <= OH_TAG_CLASS, "a class must fit in a tag");
_Static_assert(OH_SPARE_DEPTH_MAX / 2 >= 1 && OH_SPARE_DEPTH_MIN >= 2,
               "a full stack gives back half and keeps at least one");
_Static_assert(OH_SPARE_STACKS_AT >= 4 * (OH_SPARE_CLASSES + 1) && OH_SPARE_STACKS_AT % 8 == 0,
               "the counts fit before the stacks, which are 8-aligned");
_Static_assert(OH_SPARE_MAX_BYTES % 16 == 0, "class sizes are multiples of 16");
_Static_assert(sizeof(size_t) == 8,
               "dlmalloc's blocks start at least 32 bytes (four words) apart only with 8-byte words: "
               "one tag per 32-byte granule relies on it");

/* ---- the class table -------------------------------------------------------- */

static uint32_t class_bytes(uint32_t c) {
  if (c <= 32) return c * 16;
  uint32_t k = c - 33;
  return (512u << (k >> 2)) + (128u << (k >> 2)) * ((k & 3) + 1);
}

static oh_spare_table table;
static int table_built;

static void build_table(oh_spare_table* t) {
  uint32_t slots = 0, unit = 0;
  for (uint32_t c = 1; c <= OH_SPARE_CLASSES; c++) {
    uint32_t bytes = class_bytes(c);
    uint32_t depth = OH_SPARE_STACK_BYTES / bytes;
    if (depth < OH_SPARE_DEPTH_MIN) depth = OH_SPARE_DEPTH_MIN;
    if (depth > OH_SPARE_DEPTH_MAX) depth = OH_SPARE_DEPTH_MAX;
    uint32_t refill = OH_SPARE_REFILL_BYTES / bytes;
    if (refill > depth / 2) refill = depth / 2;
    if (refill < 1) refill = 1;
    t->bytes[c] = bytes;
    t->depth[c] = depth;
    t->refill[c] = refill;
    t->base[c] = slots;
    slots += depth;
    for (; unit <= bytes / 16; unit++) t->class_of_16[OH_CLASSES_EXACT][unit] = (uint8_t)c;
  }
  t->slots = slots;
  /* A power of two is a class (class_bytes), so the exact class of the
   * power of two that holds a request is that power's own class. */
  for (uint32_t u = 0; u <= OH_SPARE_MAX_BYTES / 16; u++) {
    uint32_t p = 16;
    while (p < 16 * u) p *= 2;
    t->class_of_16[OH_CLASSES_POW2][u] = t->class_of_16[OH_CLASSES_EXACT][p / 16];
  }
}

const oh_spare_table* oh_spare_table_get(void) {
  /* Built on first use; every caller computes the same bytes, so a race
   * between two first callers writes identical values. */
  if (!__atomic_load_n(&table_built, __ATOMIC_ACQUIRE)) {
    build_table(&table);
    __atomic_store_n(&table_built, 1, __ATOMIC_RELEASE);
  }
  return &table;
}

unsigned oh_spare_class_map(int kind) {
  /* as oh_core_block_bytes rounds a request */
  return kind == OH_KIND_BUDDY ? OH_CLASSES_POW2 : OH_CLASSES_EXACT;
}

/* ---- the tag map ---------------------------------------------------------- */

static inline unsigned tag_high(const oh_arena* a, size_t off) {
  return (a->sp.tag_shift == 5 && (off & 16)) ? (unsigned)OH_TAG_HIGH : 0u;
}

unsigned char* oh_spare_tag(oh_arena* a, size_t off) {
  if (!a->sp.tags || (off & 15) != 0 || off >= a->capacity) return NULL;
  unsigned char* t = &a->sp.tags[off >> a->sp.tag_shift];
  if (*t == 0 || (*t & OH_TAG_HIGH) != tag_high(a, off)) return NULL;
  return t;
}

static void* map_noreserve(size_t len) {
  void* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

int oh_spares_create(oh_arena* a) {
  const oh_spare_table* t = oh_spare_table_get();
  /* Buddy blocks of 16 bytes may share a 32-byte granule; any larger ones,
   * and dlmalloc's (its smallest chunk is 32 bytes), never do. */
  a->sp.tag_shift = (a->kind == OH_KIND_BUDDY && a->min_block < 32) ? 4 : 5;
  size_t tags_len = ((a->capacity >> a->sp.tag_shift) + OH_PAGE - 1) & ~(OH_PAGE - 1);
  size_t block_len = (OH_SPARE_STACKS_AT + 8 * (size_t)t->slots + OH_PAGE - 1) & ~(OH_PAGE - 1);
  unsigned char* tags = (unsigned char*)map_noreserve(tags_len);
  void* block = tags ? map_noreserve(block_len) : NULL;
  if (!block) {
    if (tags) munmap(tags, tags_len);
    return OH_OOM;
  }
  a->sp.tags = tags;
  a->sp.tags_len = tags_len;
  a->sp.tag_lo = tags_len; /* no tag written yet */
  a->sp.tag_hi = 0;
  a->sp.block = block;
  a->sp.block_len = block_len;
  a->sp.count = (int32_t*)block;
  a->sp.stack = (double*)((unsigned char*)block + OH_SPARE_STACKS_AT);
  return OH_OK;
}

void oh_spares_unmap(oh_arena* a) {
  if (a->sp.tags) munmap(a->sp.tags, a->sp.tags_len);
  if (a->sp.block) munmap(a->sp.block, a->sp.block_len);
  memset(&a->sp, 0, sizeof a->sp);
}

size_t oh_spares_forget(oh_arena* a, int give_back_pages) {
  if (!a->sp.tags) return 0;
  /* They leave the live count with the stacks (a count out of range is
   * damage, and counted as nothing). */
  size_t held = oh_spares_held(a);
  a->live = held <= a->live ? a->live - held : 0;
  size_t cleared = 0;
  if (a->sp.tag_lo < a->sp.tag_hi) {
    /* Only the range tags were written in: the pages around it, whole, go
     * back when asked or when it is large; a small one is cleared in place. */
    size_t lo = a->sp.tag_lo & ~(OH_PAGE - 1);
    size_t hi = (a->sp.tag_hi + OH_PAGE - 1) & ~(OH_PAGE - 1);
    if (hi > a->sp.tags_len) hi = a->sp.tags_len;
    cleared = hi - lo;
    if (!(give_back_pages || cleared > OH_MAP_CLEAR_MAX) || madvise(a->sp.tags + lo, cleared, MADV_DONTNEED) != 0) {
      cleared = a->sp.tag_hi - a->sp.tag_lo;
      memset(a->sp.tags + a->sp.tag_lo, 0, cleared);
    }
  }
  a->sp.tag_lo = a->sp.tags_len;
  a->sp.tag_hi = 0;
  memset(a->sp.count, 0, 4 * (OH_SPARE_CLASSES + 1));
  memset(a->sp.supplied, 0, sizeof a->sp.supplied);
  return cleared;
}

size_t oh_spares_held(const oh_arena* a) {
  const oh_spare_table* t = oh_spare_table_get();
  size_t n = 0;
  if (!a->sp.tags) return 0;
  for (size_t c = 1; c <= OH_SPARE_CLASSES; c++) {
    int32_t k = a->sp.count[c];
    if (k > 0 && (uint32_t)k <= t->depth[c]) n += (size_t)k;
  }
  return n;
}

/* Class c's stack, after checking what JavaScript left in its count: a class
 * out of range is a bad argument (OH_INVALID), a count out of range is damage
 * (the arena is then corrupted). */
static int stack_of(oh_arena* a, size_t c, uint32_t* n) {
  const oh_spare_table* t = oh_spare_table_get();
  if (!a->sp.tags || c < 1 || c > OH_SPARE_CLASSES) return OH_INVALID;
  int32_t k = a->sp.count[c];
  if (k < 0 || (uint32_t)k > t->depth[c]) {
    a->corrupted = 1;
    return OH_CORRUPTED;
  }
  *n = (uint32_t)k;
  return OH_OK;
}

/* Puts new blocks of the allocator (at least bytes[c] each) on class c's
 * stack, which holds n and has room for k more: tags written, the lowest
 * offset on top, so blocks are handed out in address order. */
static void push_new(oh_arena* a, size_t c, uint32_t n, void* const* blocks, uint32_t k) {
  const oh_spare_table* t = oh_spare_table_get();
  double* stack = a->sp.stack + t->base[c];
  size_t got[OH_SPARE_DEPTH_MAX];
  for (uint32_t i = 0; i < k; i++) {
    size_t off = (size_t)((unsigned char*)blocks[i] - a->base);
    size_t ti = off >> a->sp.tag_shift;
    a->sp.tags[ti] = (unsigned char)(c | OH_TAG_SPARE | tag_high(a, off));
    if (ti < a->sp.tag_lo) a->sp.tag_lo = ti;
    if (ti >= a->sp.tag_hi) a->sp.tag_hi = ti + 1;
    /* insertion sort: runs rise within themselves, not always across them */
    uint32_t j = i;
    for (; j > 0 && got[j - 1] > off; j--) got[j] = got[j - 1];
    got[j] = off;
  }
  a->live += k;
  a->sp.supplied[c] += k;
  for (uint32_t j = 0; j < k; j++) stack[n + j] = (double)got[k - 1 - j];
  a->sp.count[c] = (int32_t)(n + k);
}

/* Fills class c's stack with up to `want` new blocks (never past its
 * depth). OH_OK when at least one was added, else why not. */
static int refill_n(oh_arena* a, size_t c, uint32_t want) {
  const oh_spare_table* t = oh_spare_table_get();
  uint32_t n;
  int s = stack_of(a, c, &n);
  if (s) return s;
  if (want > t->depth[c] - n) want = t->depth[c] - n;
  if (want == 0) return OH_OK;
  void* blocks[OH_SPARE_DEPTH_MAX];
  uint32_t k = (uint32_t)oh_core_malloc_run(a, t->bytes[c], want, blocks);
  push_new(a, c, n, blocks, k);
  if (k > 0) return OH_OK;
  return a->corrupted ? OH_CORRUPTED : OH_OOM;
}

/* A class that keeps running dry refills in growing batches: half of what
 * refills gave it since the last reset (at least refill[c]; refill_n stops
 * at the depth), so a burst of n allocations of one class takes O(log n)
 * native calls until its stack is full size, then one per depth[c]. */
int oh_spares_refill(oh_arena* a, size_t c) {
  if (c < 1 || c > OH_SPARE_CLASSES) return OH_INVALID;
  uint32_t want = oh_spare_table_get()->refill[c];
  if (want < a->sp.supplied[c] / 2) want = a->sp.supplied[c] / 2;
  return refill_n(a, c, want);
}

/* Gives the `m` oldest spares of class c (the bottom of its stack) back. */
static int give_back(oh_arena* a, size_t c, uint32_t m) {
  const oh_spare_table* t = oh_spare_table_get();
  uint32_t n;
  int s = stack_of(a, c, &n);
  if (s) return s;
  if (m > n) m = n;
  double* stack = a->sp.stack + t->base[c];
  for (uint32_t j = 0; j < m; j++) {
    double d = stack[j];
    size_t off = (d >= 0 && d < (double)a->capacity) ? (size_t)d : a->capacity;
    unsigned char* tag = oh_spare_tag(a, off);
    /* Only this file and lib/spares.ts write the stacks; anything else on
     * one is damage, and the arena stops. */
    if ((double)off != d || !tag || *tag != (unsigned char)(c | OH_TAG_SPARE | tag_high(a, off))) {
      a->corrupted = 1;
      return OH_CORRUPTED;
    }
    *tag = 0;
    s = oh_core_free(a, off);
    if (s) return s;
  }
  memmove(stack, stack + m, (n - m) * sizeof *stack);
  a->sp.count[c] = (int32_t)(n - m);
  a->sp.supplied[c] = a->sp.supplied[c] > m ? a->sp.supplied[c] - m : 0;
  return OH_OK;
}

void oh_spares_demand(const oh_arena* a, uint32_t demand[OH_SPARE_CLASSES + 1],
                      uint32_t want[OH_SPARE_CLASSES + 1]) {
  const oh_spare_table* t = oh_spare_table_get();
  for (size_t c = 0; c <= OH_SPARE_CLASSES; c++) {
    uint32_t d = 0;
    if (a->sp.tags && c >= 1) {
      int32_t k = a->sp.count[c];
      uint32_t left = (k > 0 && (uint32_t)k <= t->depth[c]) ? (uint32_t)k : 0;
      uint32_t took = a->sp.supplied[c] > left ? a->sp.supplied[c] - left : 0;
      uint32_t last = a->sp.demand[c], fade = last / 8 > 0 ? last / 8 : (last > 0);
      uint32_t max = t->depth[c] * OH_DEMAND_ONE;
      d = took < max / OH_DEMAND_ONE ? took * OH_DEMAND_ONE : max;
      if (d < last - fade) d = last - fade;
      if (d > max) d = max;
    }
    demand[c] = d;
    want[c] = (d + OH_DEMAND_ONE - 1) / OH_DEMAND_ONE;
  }
}

/* The most blocks oh_spares_warm carves in one run (the classes up to a
 * buddy arena's minimum block share its blocks). */
#define WARM_RUN_MAX (16 * OH_SPARE_DEPTH_MAX)

size_t oh_spares_warm(oh_arena* a, const uint32_t want[OH_SPARE_CLASSES + 1], size_t budget) {
  const oh_spare_table* t = oh_spare_table_get();
  size_t carved = 0;
  if (!a->sp.tags) return 0;
  void* blocks[WARM_RUN_MAX];
  /* Consecutive classes whose blocks the allocator makes the same size (a
   * buddy arena's power of two) are carved in one run, then shared out.
   * The stacks are empty but for what this loop pushed (reset forgot them). */
  for (size_t c = 1; c <= OH_SPARE_CLASSES;) {
    size_t block = oh_core_block_bytes(a, t->bytes[c]), e = c;
    uint32_t need[OH_SPARE_CLASSES + 1], total = 0;
    for (; e <= OH_SPARE_CLASSES && (e == c || oh_core_block_bytes(a, t->bytes[e]) == block); e++) {
      uint32_t have = (uint32_t)a->sp.count[e];
      uint32_t n = want[e] > have ? want[e] - have : 0;
      size_t fit = (budget - carved) / block - total;
      if (n > fit) n = (uint32_t)fit;
      if (n > WARM_RUN_MAX - total) n = WARM_RUN_MAX - total;
      need[e] = n;
      total += n;
    }
    if (total > 0) {
      uint32_t made = (uint32_t)oh_core_malloc_run(a, block, total, blocks), used = 0;
      for (size_t k = c; k < e && used < made; k++) {
        uint32_t n = made - used < need[k] ? made - used : need[k];
        if (n > 0) push_new(a, k, (uint32_t)a->sp.count[k], blocks + used, n);
        used += n;
      }
      carved += (size_t)made * block;
      if (made < total) return carved;
    }
    c = e;
  }
  return carved;
}

/* A full stack gives back its older half. */
int oh_spares_flush(oh_arena* a, size_t c) {
  uint32_t n;
  int s = stack_of(a, c, &n);
  if (s) return s;
  return give_back(a, c, n / 2);
}

int oh_spares_give_back(oh_arena* a) {
  if (!a->sp.tags) return OH_OK;
  for (size_t c = 1; c <= OH_SPARE_CLASSES; c++) {
    int s = give_back(a, c, OH_SPARE_DEPTH_MAX);
    if (s) return s;
  }
  return OH_OK;
}

/* Every stack entry names a spare of its class (its tag says so, the
 * allocator holds the block, and it is large enough), and no block is on a
 * stack twice: each entry's SPARE bit is taken off while it is visited, so a
 * second entry for the same block finds it gone; the bits are put back after. */
int oh_spares_check(oh_arena* a) {
  const oh_spare_table* t = oh_spare_table_get();
  if (!a->sp.tags) return OH_OK;
  int ok = 1;
  size_t c = 1;
  uint32_t j = 0, n = 0;
  for (; ok && c <= OH_SPARE_CLASSES; c++) {
    if (stack_of(a, c, &n)) {
      ok = 0;
      j = 0;
      break;
    }
    const double* stack = a->sp.stack + t->base[c];
    for (j = 0; j < n; j++) {
      double d = stack[j];
      size_t off = (d >= 0 && d < (double)a->capacity) ? (size_t)d : a->capacity;
      unsigned char* tag = oh_spare_tag(a, off);
      size_t ti = off >> a->sp.tag_shift;
      if ((double)off != d || !tag || *tag != (unsigned char)(c | OH_TAG_SPARE | tag_high(a, off)) ||
          ti < a->sp.tag_lo || ti >= a->sp.tag_hi || oh_core_validate(a, off) != OH_OK || oh_core_usable(a, off) < t->bytes[c]) {
        ok = 0;
        break;
      }
      *tag &= (unsigned char)~OH_TAG_SPARE;
    }
    if (!ok) break;
  }
  /* Put the bits back on every entry visited: classes before c whole, class c up to j. */
  for (size_t k = 1; k <= c && k <= OH_SPARE_CLASSES; k++) {
    uint32_t m = k < c ? (uint32_t)a->sp.count[k] : j;
    const double* stack = a->sp.stack + t->base[k];
    for (uint32_t i = 0; i < m; i++) a->sp.tags[(size_t)stack[i] >> a->sp.tag_shift] |= OH_TAG_SPARE;
  }
  if (!ok) a->corrupted = 1;
  return ok ? OH_OK : OH_CORRUPTED;
}
