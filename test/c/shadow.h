/*
 * offheap — a randomised shadow-model tester for any malloc-like allocator.
 *
 * The model keeps a table of every live block (pointer, requested size,
 * usable size, pattern seed, required alignment) and drives the allocator
 * under test with a random mix of malloc, calloc, realloc, realloc_in_place,
 * memalign, posix_memalign, free, bulk_free and trim. It checks, after every
 * operation, what any correct allocator must guarantee:
 *   - every block is aligned, at least as large as requested, and does not
 *     overlap any other live block (an address-ordered treap makes this an
 *     O(log n) predecessor query);
 *   - the whole usable size of every block keeps the byte pattern the model
 *     wrote into it until the block is freed or resized (the pattern depends
 *     on a per-block seed and the offset, never on the address, so it
 *     survives a move);
 *   - calloc memory reads as zero, realloc keeps the common prefix, a failed
 *     realloc/realloc_in_place leaves the old block untouched;
 *   - the allocator's own invariant check passes at regular intervals, and
 *     its pointer validation (if any) is exact for live, interior and freed
 *     addresses.
 *
 * The header is allocator-agnostic: the allocator comes in as a table of
 * function pointers (shadow_alloc); optional entry points may be NULL and the
 * operations that need them are then skipped. It is meant to be included by
 * exactly one test file per program (everything here is static).
 *
 *   shadow_alloc a = { .name = "...", .ctx = ..., .malloc_fn = ..., ... };
 *   shadow_config c = shadow_default_config(seed, ops);
 *   shadow_stats st;
 *   int bad = shadow_run(&a, &c, &st);   // 0 when every check held
 */
#ifndef OFFHEAP_SHADOW_H
#define OFFHEAP_SHADOW_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testhelper.h"

/* ---- the allocator under test --------------------------------------------- */

typedef struct shadow_alloc {
  const char* name;
  void* ctx; /* passed back to every function */
  size_t min_align; /* alignment of every result (a power of two, >= 8) */

  /* required */
  void* (*malloc_fn)(void* ctx, size_t n);
  void (*free_fn)(void* ctx, void* p);
  size_t (*usable_fn)(void* ctx, const void* p);

  /* optional (NULL: the operations using them are skipped) */
  void* (*calloc_fn)(void* ctx, size_t n, size_t size);
  void* (*realloc_fn)(void* ctx, void* p, size_t n);
  void* (*realloc_in_place_fn)(void* ctx, void* p, size_t n);
  void* (*memalign_fn)(void* ctx, size_t alignment, size_t n);
  int (*posix_memalign_fn)(void* ctx, void** pp, size_t alignment, size_t n);
  /* Frees the non-NULL entries, sets them to NULL, returns how many it did
   * not free (the model expects 0). */
  size_t (*bulk_free_fn)(void* ctx, void** array, size_t n);
  int (*trim_fn)(void* ctx, size_t pad);
  size_t (*footprint_fn)(void* ctx);
  /* Full invariant check. `live_bytes` is the sum of the usable sizes of the
   * model's live blocks (an allocator can cross-check its statistics).
   * Returns 0 when sound, else writes a reason into msg. */
  int (*check_fn)(void* ctx, size_t live_bytes, char* msg, size_t msg_len);
  /* Exact pointer validation: validate_ok for the start of a live block,
   * validate_not_allocated for interior or freed addresses inside the heap,
   * validate_foreign for addresses outside it. */
  int (*validate_fn)(void* ctx, const void* p);
  int validate_ok, validate_not_allocated, validate_foreign;
  /* Out-of-memory policy. A NULL from an allocating call is a failure of the
   * test unless null_ok_fn says the allocator really ran out (for instance
   * because the port refused a mapping since before_alloc_fn was called). */
  void (*before_alloc_fn)(void* ctx);
  int (*null_ok_fn)(void* ctx);

  /* Semantics switches. */
  int realloc_keeps_usable;  /* realloc preserves min(old usable, new request)
                                bytes (dlmalloc copies the old usable size);
                                else only min(old request, new request) */
  int realloc_zero_frees;    /* realloc(p, 0) frees p and may return NULL */
  int memalign_rounds_up;    /* memalign accepts a non-power-of-two alignment
                                and rounds it up to the next power of two */
  size_t max_slack;          /* usable - request may not exceed this plus the
                                alignment (catches absurd usable sizes) */
} shadow_alloc;

/* ---- the workload ---------------------------------------------------------- */

typedef struct shadow_config {
  uint64_t seed;
  long ops;               /* operations to run (the final drain not counted) */
  size_t live_cap;        /* prefer frees while live usable bytes exceed this */
  size_t max_size;        /* largest request */
  unsigned large_per_100k;  /* draws of a "large" size (>= 512 KiB) per 100000 */
  unsigned check_every;   /* full check + validation sample every N ops */
  unsigned trim_per_100k; /* explicit trims per 100000 ops */
  unsigned validate_free_per_256; /* freed pointers validated, out of 256
                                     (raise where validation is cheap) */
  const size_t* edge_sizes; /* sizes drawn with 1.5% probability (boundaries) */
  size_t n_edge_sizes;
  int trace;              /* print every operation to stderr (reduction aid) */
} shadow_config;

static inline shadow_config shadow_default_config(uint64_t seed, long ops) {
  shadow_config c;
  memset(&c, 0, sizeof c);
  c.seed = seed;
  c.ops = ops;
  c.live_cap = (size_t)64 << 20;
  c.max_size = (size_t)4 << 20;
  c.large_per_100k = 50;
  c.check_every = 2048;
  c.trim_per_100k = 5;
  c.validate_free_per_256 = 1;
  return c;
}

typedef struct shadow_stats {
  long ops;
  long n_malloc, n_calloc, n_realloc, n_realloc_moved, n_realloc_null_in,
      n_realloc_zero, n_rip, n_rip_ok, n_memalign, n_posix_memalign, n_free,
      n_bulk_free, n_bulk_freed, n_trim, n_edge, n_checks, n_validates, n_oom;
  size_t peak_live_bytes;
  size_t peak_live_blocks;
  unsigned long long bytes_written;
  double seconds;
} shadow_stats;

/* ---- internals -------------------------------------------------------------- */

typedef struct {
  uintptr_t p;      /* user address: the treap key */
  size_t req;       /* requested size */
  size_t usable;    /* usable size reported at allocation / resize */
  size_t align;     /* alignment the block must have */
  uint64_t seed;    /* pattern seed */
  uint32_t l, r;    /* treap children (pool indices, 0 = none) */
  uint32_t prio;    /* treap priority */
  uint32_t pos;     /* index in the dense live array */
} shadow_blk;

typedef struct {
  const shadow_alloc* a;
  const shadow_config* c;
  shadow_stats* st;
  test_rng rng;
  shadow_blk* blk;  /* pool; index 0 unused (nil) */
  uint32_t blk_cap, blk_used;
  uint32_t* free_slots;
  uint32_t n_free_slots;
  uint32_t* live; /* dense array of pool indices, for random choice */
  uint32_t n_live;
  uint32_t root;
  size_t live_bytes;
  long op;
  const char* opname;
  int failed;
} shadow_t;

#define SHADOW_B(s, i) ((s)->blk[(i)])

/* One line per operation when tracing: "op <index> <call> -> <result>". */
#define SHADOW_TRACE(s, ...)                         \
  do {                                               \
    if ((s)->c->trace) {                             \
      fprintf(stderr, "    op %ld: ", (s)->op);      \
      fprintf(stderr, __VA_ARGS__);                  \
      fputc('\n', stderr);                           \
    }                                                \
  } while (0)

__attribute__((format(printf, 2, 3))) static int shadow_fail(shadow_t* s, const char* fmt, ...) {
  va_list ap;
  if (s->failed) return 1; /* report only the first failure: later ones cascade */
  fprintf(stderr, "  shadow[%s] seed=0x%llx op=%ld (%s): ", s->a->name,
          (unsigned long long)s->c->seed, s->op, s->opname);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  s->failed = 1;
  return 1;
}

/* The pattern: 64-bit word k of a block with seed S holds mix(S + k*G).
 * Consecutive words differ, blocks with different seeds differ, and a copy
 * shifted by any number of bytes is caught. Partial words hold the bytes the
 * full word would have in memory order, so a block re-read with a different
 * usable size still agrees. */
#define SHADOW_GOLDEN 0x9E3779B97F4A7C15ULL
#define SHADOW_MIX(x) ((x) ^ ((x) >> 29))

static inline unsigned char shadow_byte(uint64_t seed, size_t i) {
  uint64_t x = seed + (uint64_t)(i >> 3) * SHADOW_GOLDEN;
  uint64_t w = SHADOW_MIX(x);
  unsigned char b[8];
  memcpy(b, &w, 8);
  return b[i & 7];
}

/* Writes the pattern into bytes [from, to) of block p (p 8-aligned). */
static void shadow_fill(unsigned char* p, uint64_t seed, size_t from, size_t to) {
  size_t i = from;
  while (i < to && (i & 7) != 0) {
    p[i] = shadow_byte(seed, i);
    i++;
  }
  size_t kend = to >> 3;
  if ((i >> 3) < kend) {
    uint64_t* q = (uint64_t*)(void*)(p + i);
    uint64_t x = seed + (uint64_t)(i >> 3) * SHADOW_GOLDEN;
    for (size_t k = i >> 3; k < kend; k++) {
      *q++ = SHADOW_MIX(x);
      x += SHADOW_GOLDEN;
    }
    i = kend << 3;
  }
  while (i < to) {
    p[i] = shadow_byte(seed, i);
    i++;
  }
}

/* Returns the first offset in [from, to) that does not hold the pattern, or
 * SIZE_MAX when all do. */
static size_t shadow_verify(const unsigned char* p, uint64_t seed, size_t from, size_t to) {
  size_t i = from;
  while (i < to && (i & 7) != 0) {
    if (p[i] != shadow_byte(seed, i)) return i;
    i++;
  }
  size_t kend = to >> 3;
  if ((i >> 3) < kend) {
    const uint64_t* q = (const uint64_t*)(const void*)(p + i);
    uint64_t x = seed + (uint64_t)(i >> 3) * SHADOW_GOLDEN;
    for (size_t k = i >> 3; k < kend; k++) {
      if (*q != SHADOW_MIX(x)) {
        for (size_t j = k << 3;; j++)
          if (p[j] != shadow_byte(seed, j)) return j;
      }
      q++;
      x += SHADOW_GOLDEN;
    }
    i = kend << 3;
  }
  while (i < to) {
    if (p[i] != shadow_byte(seed, i)) return i;
    i++;
  }
  return SIZE_MAX;
}

/* First non-zero offset in [0, n) of p (8-aligned), or SIZE_MAX. */
static size_t shadow_find_nonzero(const unsigned char* p, size_t n) {
  size_t i = 0;
  const uint64_t* q = (const uint64_t*)(const void*)p;
  for (; i + 8 <= n; i += 8, q++)
    if (*q != 0) break;
  for (; i < n; i++)
    if (p[i] != 0) return i;
  return SIZE_MAX;
}

/* ---- treap keyed by address ------------------------------------------------- */

static uint32_t shadow_rot_right(shadow_t* s, uint32_t t) {
  uint32_t l = SHADOW_B(s, t).l;
  SHADOW_B(s, t).l = SHADOW_B(s, l).r;
  SHADOW_B(s, l).r = t;
  return l;
}

static uint32_t shadow_rot_left(shadow_t* s, uint32_t t) {
  uint32_t r = SHADOW_B(s, t).r;
  SHADOW_B(s, t).r = SHADOW_B(s, r).l;
  SHADOW_B(s, r).l = t;
  return r;
}

static uint32_t shadow_tr_insert(shadow_t* s, uint32_t t, uint32_t n) {
  if (t == 0) return n;
  if (SHADOW_B(s, n).p < SHADOW_B(s, t).p) {
    SHADOW_B(s, t).l = shadow_tr_insert(s, SHADOW_B(s, t).l, n);
    if (SHADOW_B(s, SHADOW_B(s, t).l).prio > SHADOW_B(s, t).prio) t = shadow_rot_right(s, t);
  } else {
    SHADOW_B(s, t).r = shadow_tr_insert(s, SHADOW_B(s, t).r, n);
    if (SHADOW_B(s, SHADOW_B(s, t).r).prio > SHADOW_B(s, t).prio) t = shadow_rot_left(s, t);
  }
  return t;
}

static uint32_t shadow_tr_merge(shadow_t* s, uint32_t a, uint32_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  if (SHADOW_B(s, a).prio > SHADOW_B(s, b).prio) {
    SHADOW_B(s, a).r = shadow_tr_merge(s, SHADOW_B(s, a).r, b);
    return a;
  }
  SHADOW_B(s, b).l = shadow_tr_merge(s, a, SHADOW_B(s, b).l);
  return b;
}

static uint32_t shadow_tr_remove(shadow_t* s, uint32_t t, uintptr_t key) {
  if (t == 0) return 0;
  if (key < SHADOW_B(s, t).p) {
    SHADOW_B(s, t).l = shadow_tr_remove(s, SHADOW_B(s, t).l, key);
  } else if (key > SHADOW_B(s, t).p) {
    SHADOW_B(s, t).r = shadow_tr_remove(s, SHADOW_B(s, t).r, key);
  } else {
    uint32_t m = shadow_tr_merge(s, SHADOW_B(s, t).l, SHADOW_B(s, t).r);
    SHADOW_B(s, t).l = SHADOW_B(s, t).r = 0;
    return m;
  }
  return t;
}

/* The live block with the largest start address < key, or 0. */
static uint32_t shadow_tr_pred(const shadow_t* s, uintptr_t key) {
  uint32_t best = 0, t = s->root;
  while (t) {
    if (SHADOW_B(s, t).p < key) {
      best = t;
      t = SHADOW_B(s, t).r;
    } else {
      t = SHADOW_B(s, t).l;
    }
  }
  return best;
}

/* The live block with the smallest start address > key, or 0. */
static uint32_t shadow_tr_succ(const shadow_t* s, uintptr_t key) {
  uint32_t best = 0, t = s->root;
  while (t) {
    if (SHADOW_B(s, t).p > key) {
      best = t;
      t = SHADOW_B(s, t).l;
    } else {
      t = SHADOW_B(s, t).r;
    }
  }
  return best;
}

/* The live block that starts exactly at key, or 0. */
static uint32_t shadow_tr_find(const shadow_t* s, uintptr_t key) {
  uint32_t t = s->root;
  while (t && SHADOW_B(s, t).p != key) t = key < SHADOW_B(s, t).p ? SHADOW_B(s, t).l : SHADOW_B(s, t).r;
  return t;
}

/* ---- the table -------------------------------------------------------------- */

static uint32_t shadow_new_slot(shadow_t* s) {
  if (s->n_free_slots) return s->free_slots[--s->n_free_slots];
  if (s->blk_used >= s->blk_cap) {
    uint32_t cap = s->blk_cap ? s->blk_cap * 2 : 4096;
    shadow_blk* nb = (shadow_blk*)realloc(s->blk, (size_t)cap * sizeof *nb);
    uint32_t* nl = (uint32_t*)realloc(s->live, (size_t)cap * sizeof *nl);
    uint32_t* nf = (uint32_t*)realloc(s->free_slots, (size_t)cap * sizeof *nf);
    if (!nb || !nl || !nf) {
      fprintf(stderr, "shadow: out of test memory\n");
      abort();
    }
    s->blk = nb;
    s->live = nl;
    s->free_slots = nf;
    s->blk_cap = cap;
  }
  return s->blk_used++;
}

/* Checks [p, p+usable) against every live block; 0 when disjoint. The live
 * blocks are pairwise disjoint, so only the one starting last below the new
 * block's end can overlap it. */
static int shadow_check_overlap(shadow_t* s, uintptr_t p, size_t usable) {
  uint32_t q = shadow_tr_pred(s, p + (usable ? usable : 1));
  if (q && SHADOW_B(s, q).p + SHADOW_B(s, q).usable > p)
    return shadow_fail(s, "new block [%p, +%zu) overlaps live block [%p, +%zu) (req %zu)", (void*)p,
                       usable, (void*)SHADOW_B(s, q).p, SHADOW_B(s, q).usable, SHADOW_B(s, q).req);
  return 0;
}

/* Validates a fresh result (alignment, usable size, overlap) and records it. */
static int shadow_add(shadow_t* s, void* ptr, size_t req, size_t align, uint64_t seed, int fill) {
  uintptr_t p = (uintptr_t)ptr;
  if (align < s->a->min_align) align = s->a->min_align;
  if (p % align != 0) return shadow_fail(s, "%p (req %zu) is not %zu-aligned", ptr, req, align);
  size_t usable = s->a->usable_fn(s->a->ctx, ptr);
  if (usable < req) return shadow_fail(s, "usable size %zu < request %zu at %p", usable, req, ptr);
  if (usable - req > s->a->max_slack + align)
    return shadow_fail(s, "usable size %zu absurd for request %zu (align %zu) at %p", usable, req,
                       align, ptr);
  if (p + usable < p) return shadow_fail(s, "block %p + %zu wraps", ptr, usable);
  if (shadow_check_overlap(s, p, usable)) return 1;
  uint32_t i = shadow_new_slot(s);
  shadow_blk* b = &SHADOW_B(s, i);
  b->p = p;
  b->req = req;
  b->usable = usable;
  b->align = align;
  b->seed = seed;
  b->l = b->r = 0;
  b->prio = (uint32_t)test_rng_next(&s->rng);
  b->pos = s->n_live;
  s->live[s->n_live++] = i;
  s->root = shadow_tr_insert(s, s->root, i);
  s->live_bytes += usable;
  if (s->live_bytes > s->st->peak_live_bytes) s->st->peak_live_bytes = s->live_bytes;
  if (s->n_live > s->st->peak_live_blocks) s->st->peak_live_blocks = s->n_live;
  if (fill) {
    shadow_fill((unsigned char*)ptr, seed, 0, usable);
    s->st->bytes_written += usable;
  }
  return 0;
}

/* Forgets block i (after the allocator released it). */
static void shadow_drop(shadow_t* s, uint32_t i) {
  shadow_blk* b = &SHADOW_B(s, i);
  s->root = shadow_tr_remove(s, s->root, b->p);
  uint32_t last = s->live[--s->n_live];
  s->live[b->pos] = last;
  SHADOW_B(s, last).pos = b->pos;
  s->live_bytes -= b->usable;
  s->free_slots[s->n_free_slots++] = i;
}

/* Verifies the whole usable size of block i. */
static int shadow_verify_blk(shadow_t* s, uint32_t i, const char* when) {
  shadow_blk* b = &SHADOW_B(s, i);
  size_t bad = shadow_verify((const unsigned char*)b->p, b->seed, 0, b->usable);
  if (bad != SIZE_MAX)
    return shadow_fail(s, "%s: block %p (req %zu, usable %zu) damaged at offset %zu: 0x%02x, want 0x%02x",
                       when, (void*)b->p, b->req, b->usable, bad, ((unsigned char*)b->p)[bad],
                       shadow_byte(b->seed, bad));
  return 0;
}

static uint32_t shadow_pick(shadow_t* s) {
  return s->n_live ? s->live[test_rng_below(&s->rng, s->n_live)] : 0;
}

/* ---- sizes -------------------------------------------------------------------- */

/* Uniform in [lo, hi] (inclusive). */
static size_t shadow_uniform(shadow_t* s, size_t lo, size_t hi) {
  return lo + (size_t)test_rng_below(&s->rng, (uint64_t)(hi - lo) + 1);
}

/* Log-uniform-ish in [lo, hi): a random power-of-two octave, then uniform
 * within it, so every octave is equally likely. */
static size_t shadow_loguniform(shadow_t* s, size_t lo, size_t hi) {
  if (hi <= lo + 1) return lo;
  unsigned klo = 0, khi = 0;
  while (((size_t)1 << (klo + 1)) <= lo) klo++;
  while (((size_t)1 << khi) < hi) khi++;
  unsigned k = klo + (unsigned)test_rng_below(&s->rng, khi - klo);
  size_t a = (size_t)1 << k, b = a << 1;
  if (a < lo) a = lo;
  if (b > hi) b = hi;
  return shadow_uniform(s, a, b - 1);
}

/* Request sizes with a realistic skew: mostly small, some medium, rare large. */
static size_t shadow_size(shadow_t* s) {
  const shadow_config* c = s->c;
  uint64_t x = test_rng_below(&s->rng, 100000);
  size_t n;
  if (c->n_edge_sizes && x < 1500) {
    n = c->edge_sizes[test_rng_below(&s->rng, c->n_edge_sizes)];
  } else if ((x = test_rng_below(&s->rng, 100000)) < c->large_per_100k) {
    n = shadow_loguniform(s, (size_t)512 << 10, c->max_size + 1);
  } else if (x < c->large_per_100k + 500) {
    n = shadow_loguniform(s, (size_t)32 << 10, (size_t)512 << 10);
  } else if (x < c->large_per_100k + 8500) {
    n = shadow_loguniform(s, 1025, (size_t)32 << 10);
  } else if (x < c->large_per_100k + 29500) {
    n = shadow_uniform(s, 129, 1024);
  } else {
    n = shadow_uniform(s, 0, 128);
  }
  return n > c->max_size ? c->max_size : n;
}

/* A new size for a block being resized: a fresh draw, a growth or a shrink. */
static size_t shadow_resize(shadow_t* s, size_t old, int shrink) {
  size_t n;
  uint64_t x = test_rng_below(&s->rng, 8);
  if (shrink) {
    n = x == 0 ? 0 : (size_t)test_rng_below(&s->rng, old + 1);
  } else if (x < 3) {
    n = shadow_size(s);
  } else {
    n = old + 1 + (size_t)test_rng_below(&s->rng, old < 64 ? 128 : old);
  }
  return n > s->c->max_size ? s->c->max_size : n;
}

/* ---- operations ---------------------------------------------------------------- */

static void shadow_before_alloc(shadow_t* s) {
  if (s->a->before_alloc_fn) s->a->before_alloc_fn(s->a->ctx);
}

/* A NULL (or ENOMEM) from an allocating call: tolerated only as a real OOM. */
static int shadow_null(shadow_t* s, size_t req) {
  if (s->a->null_ok_fn && s->a->null_ok_fn(s->a->ctx)) {
    s->st->n_oom++;
    return 0;
  }
  return shadow_fail(s, "allocation of %zu bytes failed without a refused mapping", req);
}

static void shadow_op_malloc(shadow_t* s) {
  s->opname = "malloc";
  size_t n = shadow_size(s);
  shadow_before_alloc(s);
  void* p = s->a->malloc_fn(s->a->ctx, n);
  SHADOW_TRACE(s, "malloc(%zu) -> %p", n, p);
  s->st->n_malloc++;
  if (!p) {
    shadow_null(s, n);
    return;
  }
  shadow_add(s, p, n, 0, test_rng_next(&s->rng), 1);
}

static void shadow_op_calloc(shadow_t* s) {
  static const size_t elts[] = {1, 2, 4, 8, 12, 16, 24, 100};
  s->opname = "calloc";
  size_t n = shadow_size(s);
  size_t e = elts[test_rng_below(&s->rng, sizeof elts / sizeof elts[0])];
  size_t count = n / e;
  shadow_before_alloc(s);
  unsigned char* p = (unsigned char*)s->a->calloc_fn(s->a->ctx, count, e);
  SHADOW_TRACE(s, "calloc(%zu, %zu) -> %p", count, e, (void*)p);
  s->st->n_calloc++;
  if (!p) {
    shadow_null(s, count * e);
    return;
  }
  if ((uintptr_t)p % s->a->min_align == 0) { /* else shadow_add reports it */
    size_t bad = shadow_find_nonzero(p, count * e);
    if (bad != SIZE_MAX) {
      shadow_fail(s, "calloc(%zu, %zu) = %p: byte %zu is 0x%02x, not zero", count, e, (void*)p, bad,
                  p[bad]);
      return;
    }
  }
  shadow_add(s, p, count * e, 0, test_rng_next(&s->rng), 1);
}

static size_t shadow_pow2_at_least(size_t a) {
  size_t r = 1;
  while (r < a) r <<= 1;
  return r;
}

static void shadow_op_memalign(shadow_t* s) {
  static const size_t odd[] = {0, 1, 3, 17, 24, 48, 100, 1000, 3000, 40000};
  s->opname = "memalign";
  size_t a;
  if (s->a->memalign_rounds_up && test_rng_below(&s->rng, 8) == 0)
    a = odd[test_rng_below(&s->rng, sizeof odd / sizeof odd[0])];
  else
    a = (size_t)1 << (test_rng_below(&s->rng, 8) ? test_rng_below(&s->rng, 13)
                                                 : test_rng_below(&s->rng, 17));
  size_t n = shadow_size(s);
  shadow_before_alloc(s);
  void* p = s->a->memalign_fn(s->a->ctx, a, n);
  SHADOW_TRACE(s, "memalign(%zu, %zu) -> %p", a, n, p);
  s->st->n_memalign++;
  if (!p) {
    shadow_null(s, n);
    return;
  }
  shadow_add(s, p, n, shadow_pow2_at_least(a), test_rng_next(&s->rng), 1);
}

static void shadow_op_posix_memalign(shadow_t* s) {
  s->opname = "posix_memalign";
  /* sizeof(void*) * 2^k: the alignments POSIX requires to be accepted */
  size_t a = sizeof(void*) << test_rng_below(&s->rng, 14);
  size_t n = shadow_size(s);
  void* sentinel = (void*)&s->rng;
  void* p = sentinel;
  shadow_before_alloc(s);
  int r = s->a->posix_memalign_fn(s->a->ctx, &p, a, n);
  SHADOW_TRACE(s, "posix_memalign(&p, %zu, %zu) -> %d, %p", a, n, r, p);
  s->st->n_posix_memalign++;
  if (r != 0) {
    if (p != sentinel) {
      shadow_fail(s, "posix_memalign(%zu, %zu) failed with %d but wrote the result", a, n, r);
      return;
    }
    if (r != ENOMEM) {
      shadow_fail(s, "posix_memalign(%zu, %zu) returned %d", a, n, r);
      return;
    }
    shadow_null(s, n);
    return;
  }
  shadow_add(s, p, n, a, test_rng_next(&s->rng), 1);
}

static void shadow_op_free(shadow_t* s, uint32_t i) {
  s->opname = "free";
  uintptr_t p = SHADOW_B(s, i).p;
  if (shadow_verify_blk(s, i, "before free")) return;
  SHADOW_TRACE(s, "free(%p) (req %zu, usable %zu)", (void*)p, SHADOW_B(s, i).req,
               SHADOW_B(s, i).usable);
  s->a->free_fn(s->a->ctx, (void*)p);
  s->st->n_free++;
  shadow_drop(s, i);
  /* A freed address is not a live allocation any more: exact validation must
   * say so. Sampled, since validation may walk a segment; where it is O(1)
   * every free can be checked, which also catches a free that did nothing. */
  if (s->a->validate_fn && test_rng_below(&s->rng, 256) < s->c->validate_free_per_256) {
    int v = s->a->validate_fn(s->a->ctx, (void*)p);
    s->st->n_validates++;
    if (v != s->a->validate_not_allocated && v != s->a->validate_foreign)
      shadow_fail(s, "validate(%p) after free = %d", (void*)p, v);
  }
}

/* realloc of block i to n bytes (or of NULL when i == 0). */
static void shadow_op_realloc(shadow_t* s, uint32_t i, size_t n) {
  s->opname = "realloc";
  s->st->n_realloc++;
  if (i == 0) {
    s->st->n_realloc_null_in++;
    shadow_before_alloc(s);
    void* p = s->a->realloc_fn(s->a->ctx, NULL, n);
    SHADOW_TRACE(s, "realloc(NULL, %zu) -> %p", n, p);
    if (!p) {
      shadow_null(s, n);
      return;
    }
    shadow_add(s, p, n, 0, test_rng_next(&s->rng), 1);
    return;
  }
  if (shadow_verify_blk(s, i, "before realloc")) return;
  shadow_blk old = SHADOW_B(s, i);
  if (n == 0) s->st->n_realloc_zero++;
  shadow_before_alloc(s);
  void* p = s->a->realloc_fn(s->a->ctx, (void*)old.p, n);
  SHADOW_TRACE(s, "realloc(%p, %zu) -> %p (old req %zu, usable %zu)", (void*)old.p, n, p, old.req,
               old.usable);
  if (!p) {
    if (n == 0 && s->a->realloc_zero_frees) {
      shadow_drop(s, i);
      return;
    }
    /* The old block must be untouched. */
    if (shadow_verify_blk(s, i, "after failed realloc")) return;
    shadow_null(s, n);
    return;
  }
  if ((uintptr_t)p != old.p) s->st->n_realloc_moved++;
  shadow_drop(s, i);
  size_t keep = s->a->realloc_keeps_usable ? old.usable : old.req;
  if (keep > n) keep = n;
  /* Check the prefix before shadow_add rewrites the block. */
  if ((uintptr_t)p % s->a->min_align == 0) {
    size_t bad = shadow_verify((const unsigned char*)p, old.seed, 0, keep);
    if (bad != SIZE_MAX) {
      shadow_fail(s, "realloc(%p, %zu) = %p lost byte %zu of %zu kept (old req %zu, usable %zu)",
                  (void*)old.p, n, p, bad, keep, old.req, old.usable);
      return;
    }
  }
  if (shadow_add(s, p, n, 0, old.seed, 0)) return;
  /* Same seed: the kept prefix already holds the right pattern. */
  uint32_t j = shadow_tr_find(s, (uintptr_t)p);
  shadow_fill((unsigned char*)p, old.seed, keep, SHADOW_B(s, j).usable);
  s->st->bytes_written += SHADOW_B(s, j).usable - keep;
}

static void shadow_op_realloc_in_place(shadow_t* s, uint32_t i, size_t n) {
  s->opname = "realloc_in_place";
  if (shadow_verify_blk(s, i, "before realloc_in_place")) return;
  shadow_blk old = SHADOW_B(s, i);
  s->st->n_rip++;
  void* p = s->a->realloc_in_place_fn(s->a->ctx, (void*)old.p, n);
  SHADOW_TRACE(s, "realloc_in_place(%p, %zu) -> %p (old req %zu, usable %zu)", (void*)old.p, n, p,
               old.req, old.usable);
  if (!p) {
    /* Refused: the old block stays valid, unchanged, with its usable size. */
    size_t u = s->a->usable_fn(s->a->ctx, (void*)old.p);
    if (u != old.usable) {
      shadow_fail(s, "realloc_in_place(%p, %zu) failed but usable changed %zu -> %zu",
                  (void*)old.p, n, old.usable, u);
      return;
    }
    shadow_verify_blk(s, i, "after refused realloc_in_place");
    return;
  }
  if ((uintptr_t)p != old.p) {
    shadow_fail(s, "realloc_in_place(%p, %zu) returned another pointer %p", (void*)old.p, n, p);
    return;
  }
  s->st->n_rip_ok++;
  shadow_drop(s, i);
  size_t u = s->a->usable_fn(s->a->ctx, p);
  size_t keep = old.usable < u ? old.usable : u;
  size_t bad = shadow_verify((const unsigned char*)p, old.seed, 0, keep);
  if (bad != SIZE_MAX) {
    shadow_fail(s, "realloc_in_place(%p, %zu) lost byte %zu (old usable %zu, new %zu)",
                (void*)old.p, n, bad, old.usable, u);
    return;
  }
  /* The block keeps its address, so it keeps its alignment. */
  if (shadow_add(s, p, n, old.align, old.seed, 0)) return;
  uint32_t j = shadow_tr_find(s, (uintptr_t)p);
  shadow_fill((unsigned char*)p, old.seed, keep, SHADOW_B(s, j).usable);
  s->st->bytes_written += SHADOW_B(s, j).usable - keep;
}

static void shadow_op_bulk_free(shadow_t* s) {
  s->opname = "bulk_free";
  void* arr[20];
  uint32_t idx[20];
  size_t k = 1 + (size_t)test_rng_below(&s->rng, 16);
  size_t n = 0;
  if (test_rng_below(&s->rng, 2) == 0) {
    /* A run of address-consecutive blocks: often physically adjacent, which
     * is what the allocator's merge-while-freeing path looks for. */
    uint32_t i = shadow_pick(s);
    while (i && n < k) {
      idx[n] = i;
      arr[n++] = (void*)SHADOW_B(s, i).p;
      i = shadow_tr_succ(s, SHADOW_B(s, i).p);
    }
  } else {
    /* A random subset (no duplicates: each pick is marked by its position). */
    for (size_t t = 0; t < k && t < s->n_live; t++) {
      uint32_t i = shadow_pick(s);
      int dup = 0;
      for (size_t u = 0; u < n; u++) dup |= idx[u] == i;
      if (!dup) {
        idx[n] = i;
        arr[n++] = (void*)SHADOW_B(s, i).p;
      }
    }
  }
  /* NULL entries must be skipped. */
  size_t total = n;
  if (test_rng_below(&s->rng, 4) == 0) {
    size_t at = (size_t)test_rng_below(&s->rng, total + 1);
    memmove(&arr[at + 1], &arr[at], (total - at) * sizeof arr[0]);
    arr[at] = NULL;
    total++;
  }
  for (size_t t = 0; t < n; t++)
    if (shadow_verify_blk(s, idx[t], "before bulk_free")) return;
  if (s->c->trace)
    for (size_t t = 0; t < total; t++) SHADOW_TRACE(s, "bulk_free entry %zu: %p", t, arr[t]);
  size_t left = s->a->bulk_free_fn(s->a->ctx, arr, total);
  SHADOW_TRACE(s, "bulk_free(%zu entries) -> %zu", total, left);
  s->st->n_bulk_free++;
  s->st->n_bulk_freed += (long)n;
  for (size_t t = 0; t < n; t++) shadow_drop(s, idx[t]);
  if (left != 0) {
    shadow_fail(s, "bulk_free of %zu blocks returned %zu", n, left);
    return;
  }
  for (size_t t = 0; t < total; t++)
    if (arr[t] != NULL) {
      shadow_fail(s, "bulk_free left entry %zu = %p", t, arr[t]);
      return;
    }
}

static void shadow_op_trim(shadow_t* s) {
  static const size_t pads[] = {0, 0, 4096, (size_t)64 << 10, (size_t)1 << 20};
  s->opname = "trim";
  size_t pad = pads[test_rng_below(&s->rng, sizeof pads / sizeof pads[0])];
  size_t before = s->a->footprint_fn ? s->a->footprint_fn(s->a->ctx) : 0;
  int r = s->a->trim_fn(s->a->ctx, pad);
  SHADOW_TRACE(s, "trim(%zu) -> %d", pad, r);
  s->st->n_trim++;
  if (s->a->footprint_fn) {
    size_t after = s->a->footprint_fn(s->a->ctx);
    if (after > before) shadow_fail(s, "trim(%zu) grew the footprint %zu -> %zu", pad, before, after);
    if (r == 0 && after != before)
      shadow_fail(s, "trim(%zu) returned 0 but the footprint changed %zu -> %zu", pad, before,
                  after);
  }
}

/* Requests that must fail cleanly, and arguments that must be refused,
 * without changing any live block. */
static void shadow_op_edge(shadow_t* s) {
  s->opname = "edge";
  s->st->n_edge++;
  const size_t huge = SIZE_MAX;
  uint64_t kind = test_rng_below(&s->rng, 9);
  SHADOW_TRACE(s, "edge case %d", (int)kind);
  switch (kind) {
    case 0: {
      void* p = s->a->malloc_fn(s->a->ctx, huge - test_rng_below(&s->rng, 256));
      if (p) shadow_fail(s, "malloc(~SIZE_MAX) = %p", p);
      p = s->a->malloc_fn(s->a->ctx, (size_t)1 << 62);
      if (p) shadow_fail(s, "malloc(2^62) = %p", p);
      break;
    }
    case 1:
      if (s->a->calloc_fn) {
        void* p = s->a->calloc_fn(s->a->ctx, huge / 2 + 1, 2);
        if (p) shadow_fail(s, "calloc(SIZE_MAX/2+1, 2) = %p (overflow)", p);
        p = s->a->calloc_fn(s->a->ctx, (size_t)1 << 33, (size_t)1 << 33);
        if (p) shadow_fail(s, "calloc(2^33, 2^33) = %p (overflow)", p);
      }
      break;
    case 2:
      if (s->a->realloc_fn && s->n_live) {
        uint32_t i = shadow_pick(s);
        void* p = s->a->realloc_fn(s->a->ctx, (void*)SHADOW_B(s, i).p, huge - 64);
        if (p) {
          shadow_fail(s, "realloc(p, ~SIZE_MAX) = %p", p);
          break;
        }
        if (s->a->usable_fn(s->a->ctx, (void*)SHADOW_B(s, i).p) != SHADOW_B(s, i).usable)
          shadow_fail(s, "failed realloc changed the usable size of %p", (void*)SHADOW_B(s, i).p);
        shadow_verify_blk(s, i, "after realloc(p, ~SIZE_MAX)");
      }
      break;
    case 3:
      if (s->a->realloc_in_place_fn && s->n_live) {
        uint32_t i = shadow_pick(s);
        void* p = s->a->realloc_in_place_fn(s->a->ctx, (void*)SHADOW_B(s, i).p, huge - 64);
        if (p) shadow_fail(s, "realloc_in_place(p, ~SIZE_MAX) = %p", p);
        else shadow_verify_blk(s, i, "after realloc_in_place(p, ~SIZE_MAX)");
      }
      if (s->a->realloc_in_place_fn) {
        void* p = s->a->realloc_in_place_fn(s->a->ctx, NULL, 10);
        if (p) shadow_fail(s, "realloc_in_place(NULL, 10) = %p (must not allocate)", p);
      }
      break;
    case 4:
      if (s->a->memalign_fn) {
        void* p = s->a->memalign_fn(s->a->ctx, 64, huge - 10);
        if (p) shadow_fail(s, "memalign(64, ~SIZE_MAX) = %p", p);
      }
      break;
    case 5:
      if (s->a->posix_memalign_fn) {
        static const size_t bad[] = {0, 4, 24, 48, 3 * sizeof(void*)};
        void* sentinel = (void*)&s->rng;
        void* p = sentinel;
        size_t a = bad[test_rng_below(&s->rng, sizeof bad / sizeof bad[0])];
        int r = s->a->posix_memalign_fn(s->a->ctx, &p, a, 10);
        if (r != EINVAL || p != sentinel)
          shadow_fail(s, "posix_memalign(alignment %zu) = %d, result %s", a, r,
                      p == sentinel ? "untouched" : "written");
        r = s->a->posix_memalign_fn(s->a->ctx, &p, 64, huge - 10);
        if (r != ENOMEM || p != sentinel)
          shadow_fail(s, "posix_memalign(64, ~SIZE_MAX) = %d, result %s", r,
                      p == sentinel ? "untouched" : "written");
      }
      break;
    case 6:
      s->a->free_fn(s->a->ctx, NULL);
      if (s->a->bulk_free_fn) {
        void* arr[3] = {NULL, NULL, NULL};
        size_t r = s->a->bulk_free_fn(s->a->ctx, arr, 3);
        if (r != 0) shadow_fail(s, "bulk_free of NULLs returned %zu", r);
        r = s->a->bulk_free_fn(s->a->ctx, arr, 0);
        if (r != 0) shadow_fail(s, "bulk_free of nothing returned %zu", r);
      }
      break;
    case 7:
      if (s->a->validate_fn) {
        int local = 0;
        int v = s->a->validate_fn(s->a->ctx, &local);
        if (v != s->a->validate_foreign) shadow_fail(s, "validate(stack address) = %d", v);
      }
      if (s->a->usable_fn(s->a->ctx, NULL) != 0) shadow_fail(s, "usable_size(NULL) != 0");
      break;
    default:
      if (s->a->realloc_fn) {
        /* realloc(NULL, 0) is malloc(0): a unique minimum block. */
        shadow_before_alloc(s);
        void* p = s->a->realloc_fn(s->a->ctx, NULL, 0);
        SHADOW_TRACE(s, "realloc(NULL, 0) -> %p", p);
        if (!p) {
          if (!s->a->realloc_zero_frees) shadow_null(s, 0);
          break;
        }
        shadow_add(s, p, 0, 0, test_rng_next(&s->rng), 1);
      }
      break;
  }
}

/* The periodic sample: the allocator's own check, then exact validation of
 * live starts, interior and misaligned addresses. */
static void shadow_sample(shadow_t* s) {
  char msg[256];
  s->opname = "check";
  s->st->n_checks++;
  if (s->a->check_fn) {
    msg[0] = 0;
    if (s->a->check_fn(s->a->ctx, s->live_bytes, msg, sizeof msg)) {
      shadow_fail(s, "heap check failed: %s", msg);
      return;
    }
  }
  for (int t = 0; t < 8 && s->n_live; t++) {
    uint32_t i = shadow_pick(s);
    shadow_blk* b = &SHADOW_B(s, i);
    size_t u = s->a->usable_fn(s->a->ctx, (void*)b->p);
    if (u != b->usable) {
      shadow_fail(s, "usable_size(%p) = %zu, was %zu", (void*)b->p, u, b->usable);
      return;
    }
    if (!s->a->validate_fn) continue;
    s->st->n_validates++;
    int v = s->a->validate_fn(s->a->ctx, (void*)b->p);
    if (v != s->a->validate_ok) {
      shadow_fail(s, "validate(live %p, req %zu) = %d", (void*)b->p, b->req, v);
      return;
    }
    if (b->usable > 32) {
      /* p+16 always (a plausible chunk-aligned interior start), plus one of
       * a misaligned, a word-aligned and the last-word interior address. */
      size_t offs[2] = {16, 0};
      static const size_t other[] = {1, 8, 24};
      offs[1] = test_rng_below(&s->rng, 4) ? other[test_rng_below(&s->rng, 3)] : b->usable - 8;
      for (int k = 0; k < 2; k++) {
        v = s->a->validate_fn(s->a->ctx, (void*)(b->p + offs[k]));
        if (v != s->a->validate_not_allocated) {
          shadow_fail(s, "validate(interior %p + %zu) = %d", (void*)b->p, offs[k], v);
          return;
        }
      }
    }
  }
}

/* Frees every live block (verifying each first). */
static void shadow_drain(shadow_t* s) {
  while (s->n_live && !s->failed) shadow_op_free(s, s->live[s->n_live - 1]);
}

static double shadow_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs the model. Returns 0 when every check held; prints the first failure
 * with the seed and the operation index. Leaves the heap empty (on success). */
static int shadow_run(const shadow_alloc* a, const shadow_config* c, shadow_stats* st) {
  shadow_t s;
  memset(&s, 0, sizeof s);
  memset(st, 0, sizeof *st);
  s.a = a;
  s.c = c;
  s.st = st;
  s.rng.s = c->seed ? c->seed : 1;
  s.blk_used = 1; /* index 0 is nil */
  double t0 = shadow_now();

  /* Phases make the heap fill up, churn and drain, so that trimming and
   * segment release are reached repeatedly, not just a steady state. About
   * 73% of the allocating operations add a block and the freeing ones remove
   * 1.07 on average, so 60% allocating is roughly steady. */
  unsigned p_alloc = 60; /* percent of operations that allocate */
  long phase_end = 0;
  for (s.op = 0; s.op < c->ops && !s.failed; s.op++) {
    if (s.op >= phase_end) {
      static const unsigned mix[] = {75, 65, 60, 60, 55, 35};
      p_alloc = mix[test_rng_below(&s.rng, sizeof mix / sizeof mix[0])];
      phase_end = s.op + 2000 + (long)test_rng_below(&s.rng, 40000);
    }
    if (c->check_every && s.op % c->check_every == 0) {
      shadow_sample(&s);
      if (s.failed) break;
    }
    if (a->trim_fn && test_rng_below(&s.rng, 100000) < c->trim_per_100k) {
      shadow_op_trim(&s);
      continue;
    }
    int alloc = test_rng_below(&s.rng, 100) < p_alloc;
    if (s.live_bytes > c->live_cap) alloc = 0;
    if (s.n_live == 0) alloc = 1;
    uint64_t r = test_rng_below(&s.rng, 100);
    if (alloc) {
      if (r < 45) {
        shadow_op_malloc(&s);
      } else if (r < 57 && a->calloc_fn) {
        shadow_op_calloc(&s);
      } else if (r < 73 && a->realloc_fn) {
        uint32_t i = shadow_pick(&s);
        shadow_op_realloc(&s, i, i ? shadow_resize(&s, SHADOW_B(&s, i).req, 0) : shadow_size(&s));
      } else if (r < 75 && a->realloc_fn) {
        shadow_op_realloc(&s, 0, shadow_size(&s));
      } else if (r < 83 && a->realloc_in_place_fn && s.n_live) {
        uint32_t i = shadow_pick(&s);
        shadow_op_realloc_in_place(&s, i, shadow_resize(&s, SHADOW_B(&s, i).req, 0));
      } else if (r < 91 && a->memalign_fn) {
        shadow_op_memalign(&s);
      } else if (r < 97 && a->posix_memalign_fn) {
        shadow_op_posix_memalign(&s);
      } else if (r < 98) {
        shadow_op_edge(&s);
      } else {
        shadow_op_malloc(&s);
      }
    } else {
      uint32_t i = shadow_pick(&s);
      if (r < 82) {
        shadow_op_free(&s, i);
      } else if (r < 89 && a->realloc_fn) {
        shadow_op_realloc(&s, i, shadow_resize(&s, SHADOW_B(&s, i).req, 1));
      } else if (r < 97 && a->realloc_in_place_fn) {
        shadow_op_realloc_in_place(&s, i, shadow_resize(&s, SHADOW_B(&s, i).req, 1));
      } else if (a->bulk_free_fn) {
        shadow_op_bulk_free(&s);
      } else {
        shadow_op_free(&s, i);
      }
    }
  }
  st->ops = s.op;
  if (!s.failed) {
    s.op = c->ops;
    shadow_sample(&s);
  }
  shadow_drain(&s);
  if (!s.failed) {
    s.opname = "final check";
    shadow_sample(&s);
  }
  st->seconds = shadow_now() - t0;
  free(s.blk);
  free(s.live);
  free(s.free_slots);
  return s.failed;
}

#endif /* OFFHEAP_SHADOW_H */
