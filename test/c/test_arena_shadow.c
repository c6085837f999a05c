/*
 * offheap — the arena core's API (csrc/addon/core/arena.h) under a randomised
 * shadow model, for both kinds of arena, with spares on and off.
 *
 * The model holds every block the user owns (offset, requested length,
 * usable size, pattern seed, and the spare class when it was popped from a
 * spare stack the way lib/spares.ts does). Random operations: alloc, calloc,
 * memalign, realloc, free (oh_free, the mailbox, or a push back onto a spare
 * stack), usable, validate, reset, trim, stats, refill / flush, pops and
 * pushes of spares, and bad offsets (random, freed, double, interior, spares
 * on a stack). After every operation:
 *   - a returned block lies inside the region, usable range included;
 *   - no two live blocks overlap, usable ranges included (a map of 16-byte
 *     granules);
 *   - the block an operation touched holds its pattern (realloc: the kept
 *     prefix), calloc'd bytes read as zeros, and every block is verified
 *     every VERIFY_EVERY operations;
 *   - a bad offset gets FOREIGN (past the end) or NOT_ALLOCATED, and changes
 *     nothing (a byte-exact snapshot now and then);
 *   - the core's live count is the model's blocks plus the spares held, and
 *     stats' liveAllocations is the model's count;
 * oh_check every CHECK_EVERY operations and at the end.
 *
 * Reproduce one configuration: OFFHEAP_SEED=0x... OFFHEAP_OPS=n (the seed
 * of a failing configuration is printed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/addon/core/arena.h"
#include "testhelper.h"
#include "arena_fixture.h"


enum { MAXLIVE = 4096, FREED_RING = 64, CHECK_EVERY = 512, VERIFY_EVERY = 2048, SNAP_EVERY = 300 };

typedef struct {
  size_t off, len, usable;
  unsigned seed;
  unsigned spare_class; /* popped from stack c (its tag is c), else 0 */
} blk;

typedef struct {
  const char* name;
  int kind;
  size_t capacity;
  size_t min_block;
  int spares;
  uint64_t seed;
  long ops;
} config;

typedef struct {
  const config* cfg;
  oh_arena* a;
  test_rng r;
  blk live[MAXLIVE];
  int n;
  unsigned char* map; /* per 16-byte granule: 0 free, 1 covered, 2 a live block starts here */
  unsigned char* pattern; /* pattern[i] = i & 255, capacity + 256 bytes */
  size_t freed[FREED_RING];
  unsigned nfreed;
  long op;
  const char* op_name;
  int failed; /* stop this configuration at the first failure */
  /* statistics of the run */
  long n_oom, n_bad, n_spare_pops, n_spare_push, n_reset, n_moved;
} shadow;

#define SCHECK(sh, cond)                                                                        \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      test_failed_checks++;                                                                     \
      fprintf(stderr, "  FAIL %s [%s seed 0x%llx op %ld %s] (%s:%d): %s\n", test_current,       \
              (sh)->cfg->name, (unsigned long long)(sh)->cfg->seed, (sh)->op, (sh)->op_name,    \
              __FILE__, __LINE__, #cond);                                                       \
      (sh)->failed = 1;                                                                         \
    }                                                                                           \
  } while (0)

#define SCHECK_ST(sh, expr, want)                                                              \
  do {                                                                                         \
    int sst_ = (expr);                                                                         \
    int swant_ = (want);                                                                       \
    if (sst_ != swant_) {                                                                      \
      test_failed_checks++;                                                                    \
      fprintf(stderr, "  FAIL %s [%s seed 0x%llx op %ld %s] (%s:%d): %s == %s (%d != %d)\n",   \
              test_current, (sh)->cfg->name, (unsigned long long)(sh)->cfg->seed, (sh)->op,    \
              (sh)->op_name, __FILE__, __LINE__, #expr, #want, sst_, swant_);                  \
      (sh)->failed = 1;                                                                        \
    }                                                                                          \
  } while (0)

static unsigned char* at(shadow* sh, size_t off) { return sh->a->base + off; }

static void pattern_fill(shadow* sh, size_t off, size_t n, unsigned seed) {
  memcpy(at(sh, off), sh->pattern + (seed & 255), n);
}
static int pattern_ok(shadow* sh, size_t off, size_t n, unsigned seed) {
  return memcmp(at(sh, off), sh->pattern + (seed & 255), n) == 0;
}
static int zeros(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

/* ---- the granule map -------------------------------------------------------- */

static int map_claim(shadow* sh, size_t off, size_t usable) {
  size_t g0 = off / 16, g1 = (off + usable + 15) / 16;
  for (size_t g = g0; g < g1; g++)
    if (sh->map[g]) return 0;
  memset(sh->map + g0, 1, g1 - g0);
  sh->map[g0] = 2;
  return 1;
}
static void map_release(shadow* sh, size_t off, size_t usable) {
  size_t g0 = off / 16, g1 = (off + usable + 15) / 16;
  memset(sh->map + g0, 0, g1 - g0);
}
static int is_live_start(shadow* sh, size_t off) {
  return off < sh->a->capacity && off % 16 == 0 && sh->map[off / 16] == 2;
}

/* ---- spares, as lib/spares.ts ------------------------------------------------- */

/* ---- model bookkeeping ----------------------------------------------------------- */

/* A new block from the core: inside the region, not overlapping, patterned. */
static void adopt(shadow* sh, size_t off, size_t len, unsigned spare_class, int zeroed) {
  oh_arena* a = sh->a;
  size_t u = 0;
  SCHECK(sh, off < a->capacity);
  SCHECK_ST(sh, oh_usable(a, off, &u), OH_OK);
  SCHECK(sh, u >= len);
  SCHECK(sh, off + u <= a->capacity);
  SCHECK(sh, off % 16 == 0);
  if (sh->failed) return;
  if (spare_class) SCHECK(sh, u >= oh_spare_table_get()->bytes[spare_class]);
  SCHECK(sh, map_claim(sh, off, u));
  if (sh->failed) return;
  if (zeroed) SCHECK(sh, zeros(at(sh, off), len));
  SCHECK(sh, sh->n < MAXLIVE);
  if (sh->failed) return;
  unsigned seed = (unsigned)test_rng_next(&sh->r);
  pattern_fill(sh, off, u, seed);
  blk* b = &sh->live[sh->n++];
  b->off = off;
  b->len = len;
  b->usable = u;
  b->seed = seed;
  b->spare_class = spare_class;
}

static void forget(shadow* sh, int i) {
  blk* b = &sh->live[i];
  map_release(sh, b->off, b->usable);
  sh->freed[sh->nfreed++ % FREED_RING] = b->off;
  sh->live[i] = sh->live[--sh->n];
}

static void verify_block(shadow* sh, int i) {
  blk* b = &sh->live[i];
  SCHECK(sh, pattern_ok(sh, b->off, b->usable, b->seed));
}

static void verify_all(shadow* sh) {
  for (int i = 0; i < sh->n && !sh->failed; i++) verify_block(sh, i);
}

static void check_live_count(shadow* sh) {
  SCHECK(sh, sh->a->live == (size_t)sh->n + spares_held(sh->a));
}

/* ---- sizes -------------------------------------------------------------------------- */

static size_t random_size(shadow* sh) {
  size_t cap = sh->a->capacity;
  switch (test_rng_below(&sh->r, 20)) {
    case 0: return 0;
    case 1:
    case 2: return test_rng_below(&sh->r, 64 * KiB);
    case 3: return test_rng_below(&sh->r, cap / 8 + 1);
    case 4: return test_rng_below(&sh->r, 8) == 0 ? cap / 2 + test_rng_below(&sh->r, cap / 2) : 1 + test_rng_below(&sh->r, 4096);
    default: return 1 + test_rng_below(&sh->r, test_rng_below(&sh->r, 2) ? 128 : 1024);
  }
}

/* ---- operations ------------------------------------------------------------------------ */

static void op_alloc(shadow* sh) {
  oh_arena* a = sh->a;
  size_t n = random_size(sh), off = SIZE_MAX;
  unsigned how = (unsigned)test_rng_below(&sh->r, 4);
  int st;
  if (how == 0) {
    sh->op_name = "io_alloc";
    a->io[OH_IO_ARG] = (double)n;
    oh_io_alloc(a);
    double r = a->io[OH_IO_RESULT];
    st = r >= 0 ? OH_OK : (int)r;
    if (r >= 0) off = (size_t)r;
  } else {
    sh->op_name = "alloc";
    st = oh_alloc(a, n, &off);
  }
  if (st == OH_OOM) {
    sh->n_oom++;
    /* OOM only after the spares went back */
    SCHECK(sh, spares_held(a) == 0);
    return;
  }
  SCHECK_ST(sh, st, OH_OK);
  if (st == OH_OK) adopt(sh, off, n, 0, 0);
}

static void op_calloc(shadow* sh) {
  sh->op_name = "calloc";
  size_t n = random_size(sh), off;
  int st = oh_calloc(sh->a, n, &off);
  if (st == OH_OOM) {
    sh->n_oom++;
    SCHECK(sh, spares_held(sh->a) == 0);
    return;
  }
  SCHECK_ST(sh, st, OH_OK);
  if (st == OH_OK) adopt(sh, off, n, 0, 1);
}

static void op_memalign(shadow* sh) {
  sh->op_name = "memalign";
  size_t al = (size_t)16 << test_rng_below(&sh->r, 13); /* 16 .. 64 KiB */
  size_t n = test_rng_below(&sh->r, 3) == 0 ? random_size(sh) : 1 + test_rng_below(&sh->r, 2 * al);
  size_t off;
  int st = oh_memalign(sh->a, al, n, &off);
  if (st == OH_OOM) {
    sh->n_oom++;
    SCHECK(sh, spares_held(sh->a) == 0);
    return;
  }
  SCHECK_ST(sh, st, OH_OK);
  if (st != OH_OK) return;
  SCHECK(sh, off % al == 0);
  SCHECK(sh, (uintptr_t)(sh->a->base + off) % al == 0);
  adopt(sh, off, n, 0, 0);
}

static void op_realloc(shadow* sh) {
  sh->op_name = "realloc";
  if (sh->n == 0) return;
  int i = (int)test_rng_below(&sh->r, (uint64_t)sh->n);
  blk b = sh->live[i];
  verify_block(sh, i);
  size_t n = random_size(sh), q = SIZE_MAX;
  int st = oh_realloc(sh->a, b.off, n, &q);
  if (st == OH_OOM) {
    sh->n_oom++;
    SCHECK(sh, q == SIZE_MAX);
    SCHECK_ST(sh, oh_validate(sh->a, b.off), OH_OK);
    size_t u = 0;
    SCHECK_ST(sh, oh_usable(sh->a, b.off, &u), OH_OK);
    SCHECK(sh, u == b.usable);
    verify_block(sh, i);
    return;
  }
  SCHECK_ST(sh, st, OH_OK);
  if (st != OH_OK) return;
  size_t keep = b.len < n ? b.len : n;
  /* the kept prefix moved (or stayed) intact */
  SCHECK(sh, q < sh->a->capacity);
  if (sh->failed) return;
  SCHECK(sh, memcmp(at(sh, q), sh->pattern + (b.seed & 255), keep) == 0);
  map_release(sh, b.off, b.usable);
  sh->live[i] = sh->live[--sh->n];
  if (q != b.off) {
    sh->n_moved++;
    sh->freed[sh->nfreed++ % FREED_RING] = b.off;
    SCHECK_ST(sh, oh_validate(sh->a, b.off), OH_NOT_ALLOCATED);
  }
  /* out of the spare scheme: its tag is clear */
  if (sh->a->sp.tags && b.spare_class && q != b.off) SCHECK(sh, *tag_at(sh->a, b.off) == 0);
  if (sh->a->sp.tags) SCHECK(sh, js_put(sh->a, q) == 0);
  size_t u = 0;
  SCHECK_ST(sh, oh_usable(sh->a, q, &u), OH_OK);
  SCHECK(sh, u >= n && q + u <= sh->a->capacity);
  if (sh->failed) return;
  SCHECK(sh, map_claim(sh, q, u));
  if (sh->failed) return;
  pattern_fill(sh, q, u, b.seed);
  blk* nb = &sh->live[sh->n++];
  nb->off = q;
  nb->len = n;
  nb->usable = u;
  nb->seed = b.seed;
  nb->spare_class = 0;
}

static void op_free(shadow* sh) {
  if (sh->n == 0) return;
  oh_arena* a = sh->a;
  int i = (int)test_rng_below(&sh->r, (uint64_t)sh->n);
  blk b = sh->live[i];
  verify_block(sh, i);
  unsigned how = (unsigned)test_rng_below(&sh->r, 4);
  if (b.spare_class && how != 0) {
    sh->op_name = "js_put";
    int r = js_put(a, b.off);
    SCHECK(sh, r == 1);
    sh->n_spare_push++;
    forget(sh, i);
    SCHECK(sh, *tag_at(a, b.off) == (b.spare_class | OH_TAG_SPARE | high_of(a, b.off)));
    /* freeing it again is a double free */
    SCHECK_ST(sh, oh_free(a, b.off), OH_NOT_ALLOCATED);
    return;
  }
  if (how == 1) {
    sh->op_name = "io_free";
    a->io[OH_IO_ARG] = (double)b.off;
    oh_io_free(a);
    SCHECK(sh, a->io[OH_IO_RESULT] == OH_OK);
  } else {
    sh->op_name = "free";
    SCHECK_ST(sh, oh_free(a, b.off), OH_OK);
  }
  if (a->sp.tags) SCHECK(sh, *tag_at(a, b.off) == 0 || (*tag_at(a, b.off) & OH_TAG_HIGH) != high_of(a, b.off));
  forget(sh, i);
}

static void op_query(shadow* sh) {
  sh->op_name = "usable/validate";
  if (sh->n == 0) return;
  int i = (int)test_rng_below(&sh->r, (uint64_t)sh->n);
  blk* b = &sh->live[i];
  size_t u = 0;
  SCHECK_ST(sh, oh_usable(sh->a, b->off, &u), OH_OK);
  SCHECK(sh, u == b->usable);
  SCHECK_ST(sh, oh_validate(sh->a, b->off), OH_OK);
  verify_block(sh, i);
}

/* A bad offset: every offset-taking call refuses it, with the same status. */
static void op_bad(shadow* sh) {
  oh_arena* a = sh->a;
  const oh_spare_table* t = oh_spare_table_get();
  size_t off;
  sh->op_name = "bad offset";
  switch (test_rng_below(&sh->r, 8)) {
    case 0: off = test_rng_below(&sh->r, a->capacity + 1); break;
    case 7: off = a->capacity - 16 * test_rng_below(&sh->r, 3); break; /* the end, and just before it */
    case 1: off = test_rng_below(&sh->r, a->capacity / 16 + 1) * 16; break;
    case 2: off = a->capacity + test_rng_below(&sh->r, 1u << 20); break;
    case 3:
      if (sh->nfreed == 0) return;
      off = sh->freed[test_rng_below(&sh->r, sh->nfreed < FREED_RING ? sh->nfreed : FREED_RING)];
      break;
    case 4: {
      if (sh->n == 0) return;
      blk* b = &sh->live[test_rng_below(&sh->r, (uint64_t)sh->n)];
      if (b->usable <= 1) return;
      off = b->off + 1 + test_rng_below(&sh->r, b->usable - 1);
      break;
    }
    case 5: {
      if (!a->sp.tags) return;
      unsigned c = 1 + (unsigned)test_rng_below(&sh->r, OH_SPARE_CLASSES);
      if (a->sp.count[c] <= 0) return;
      off = (size_t)a->sp.stack[t->base[c] + (uint32_t)test_rng_below(&sh->r, (uint64_t)a->sp.count[c])];
      break;
    }
    default: off = SIZE_MAX - test_rng_below(&sh->r, 64); break;
  }
  if (is_live_start(sh, off)) return;
  int want = off > a->capacity ? OH_FOREIGN : OH_NOT_ALLOCATED;
  sh->n_bad++;
  int snap = test_rng_below(&sh->r, SNAP_EVERY) == 0;
  snap_t s;
  if (snap) snap_take(&s, a);
  size_t live0 = a->live, held0 = spares_held(a), out = 4242;
  switch (test_rng_below(&sh->r, 5)) {
    case 0: SCHECK_ST(sh, oh_free(a, off), want); break;
    case 1: SCHECK_ST(sh, oh_realloc(a, off, 1 + test_rng_below(&sh->r, 1000), &out), want); break;
    case 2: SCHECK_ST(sh, oh_usable(a, off, &out), want); break;
    case 3: SCHECK_ST(sh, oh_validate(a, off), want); break;
    default:
      if (off > ((size_t)1 << 53)) {
        SCHECK_ST(sh, oh_free(a, off), want);
      } else {
        a->io[OH_IO_ARG] = (double)off;
        oh_io_free(a);
        SCHECK(sh, a->io[OH_IO_RESULT] == (double)want);
      }
      break;
  }
  if (want != OH_OK && sh->failed) fprintf(stderr, "    offset 0x%zx, capacity 0x%zx\n", off, a->capacity);
  SCHECK(sh, out == 4242);
  SCHECK(sh, a->live == live0 && spares_held(a) == held0);
  if (snap) SCHECK(sh, snap_same_free(&s, a));
}

static void op_spare_pop(shadow* sh) {
  sh->op_name = "js_take";
  if (!sh->a->sp.tags) return;
  const oh_spare_table* t = oh_spare_table_get();
  size_t n = test_rng_below(&sh->r, 4) == 0 ? test_rng_below(&sh->r, OH_SPARE_MAX_BYTES + 1)
                                            : test_rng_below(&sh->r, 600);
  unsigned c = t->class_of_16[oh_spare_class_map(sh->a->kind)][(n + 15) / 16];
  size_t off = js_take(sh->a, c);
  if (off == SIZE_MAX) {
    /* the general path, as lib/ falls back to */
    sh->n_oom++;
    size_t o;
    int st = oh_alloc(sh->a, n, &o);
    if (st == OH_OOM) return;
    SCHECK_ST(sh, st, OH_OK);
    if (st == OH_OK) adopt(sh, o, n, 0, 0);
    return;
  }
  sh->n_spare_pops++;
  SCHECK(sh, *tag_at(sh->a, off) == (c | high_of(sh->a, off)));
  SCHECK_ST(sh, oh_validate(sh->a, off), OH_OK);
  adopt(sh, off, n, c, 0);
}

static void op_refill_flush(shadow* sh) {
  oh_arena* a = sh->a;
  if (!a->sp.tags) return;
  const oh_spare_table* t = oh_spare_table_get();
  unsigned c = 1 + (unsigned)test_rng_below(&sh->r, OH_SPARE_CLASSES);
  int32_t before = a->sp.count[c];
  a->io[OH_IO_ARG] = c;
  if (test_rng_below(&sh->r, 2)) {
    sh->op_name = "refill";
    oh_io_refill(a);
    double r = a->io[OH_IO_RESULT];
    SCHECK(sh, r == OH_OK || r == OH_OOM);
    if (r == OH_OK && (uint32_t)before < t->depth[c]) SCHECK(sh, a->sp.count[c] > before);
    SCHECK(sh, (uint32_t)a->sp.count[c] <= t->depth[c]);
  } else {
    sh->op_name = "flush";
    oh_io_flush(a);
    SCHECK(sh, a->io[OH_IO_RESULT] == OH_OK);
    SCHECK(sh, a->sp.count[c] == before - before / 2);
  }
}

static void op_stats(shadow* sh) {
  sh->op_name = "stats";
  oh_arena* a = sh->a;
  oh_arena_stats s;
  SCHECK_ST(sh, oh_stats(a, &s), OH_OK);
  SCHECK(sh, s.liveAllocations == (double)sh->n);
  SCHECK(sh, spares_held(a) == 0);
  SCHECK(sh, s.inUse + s.free == s.committed);
  SCHECK(sh, s.peakCommitted >= s.committed);
  SCHECK(sh, s.committed <= (double)a->capacity);
  SCHECK(sh, s.corrupted == 0);
  SCHECK(sh, s.largestFree <= (double)a->capacity);
  size_t model_bytes = 0;
  for (int i = 0; i < sh->n; i++) model_bytes += sh->live[i].usable;
  SCHECK(sh, s.inUse >= (double)model_bytes);
  if (a->kind == OH_KIND_BUDDY) {
    SCHECK(sh, s.detail.buddy.liveBlocks == (double)sh->n);
    /* buddy's largestFree is exact: one byte more does not fit */
    size_t lf = (size_t)s.largestFree, o;
    if (lf < a->capacity) SCHECK_ST(sh, oh_alloc(a, lf + 1, &o), OH_OOM);
  } else {
    SCHECK(sh, s.detail.dl.pagesUsed + s.detail.dl.pagesFree == (double)a->capacity);
  }
}

static void op_trim(shadow* sh) {
  sh->op_name = "trim";
  size_t rel = 0;
  SCHECK_ST(sh, oh_trim(sh->a, &rel), OH_OK);
  SCHECK(sh, rel <= sh->a->capacity);
  SCHECK(sh, spares_held(sh->a) == 0);
  verify_all(sh);
}

static void op_reset(shadow* sh) {
  sh->op_name = "reset";
  oh_arena* a = sh->a;
  size_t probe = sh->n ? sh->live[0].off : SIZE_MAX;
  SCHECK_ST(sh, oh_reset(a), OH_OK);
  SCHECK(sh, a->live == 0);
  SCHECK(sh, spares_held(a) == 0);
  if (probe != SIZE_MAX) SCHECK_ST(sh, oh_validate(a, probe), OH_NOT_ALLOCATED);
  for (int i = 0; i < sh->n; i++) map_release(sh, sh->live[i].off, sh->live[i].usable);
  sh->n = 0;
  sh->nfreed = 0;
  sh->n_reset++;
  SCHECK_ST(sh, oh_check(a), OH_OK);
}

static void run_config(const config* cfg) {
  shadow* sh = (shadow*)calloc(1, sizeof *sh);
  CHECK(sh != NULL);
  if (!sh) return;
  sh->cfg = cfg;
  const char* env_seed = getenv("OFFHEAP_SEED");
  const char* env_ops = getenv("OFFHEAP_OPS");
  config c = *cfg;
  if (env_seed) c.seed = strtoull(env_seed, NULL, 0);
  if (env_ops) c.ops = strtol(env_ops, NULL, 0);
  sh->cfg = &c;
  sh->r.s = c.seed ? c.seed : 1;
  oh_config oc;
  memset(&oc, 0, sizeof oc);
  oc.kind = c.kind;
  oc.capacity = c.capacity;
  oc.min_block = c.min_block;
  oc.spares = c.spares;
  int st = oh_arena_create(&oc, &sh->a);
  if (st != OH_OK) {
    fprintf(stderr, "  %s: create -> %d\n", c.name, st);
    test_failed_checks++;
    free(sh);
    return;
  }
  sh->map = (unsigned char*)calloc(c.capacity / 16 + 1, 1);
  sh->pattern = (unsigned char*)malloc(c.capacity + 256);
  if (!sh->map || !sh->pattern) {
    test_failed_checks++;
    goto done;
  }
  for (size_t i = 0; i < c.capacity + 256; i++) sh->pattern[i] = (unsigned char)(i * 7 + (i >> 8));
  for (sh->op = 0; sh->op < c.ops && !sh->failed; sh->op++) {
    unsigned pick = (unsigned)test_rng_below(&sh->r, 1000);
    /* fuller arenas free more */
    int pressure = sh->n > MAXLIVE - 64;
    if (pressure) pick = 300 + pick % 200;
    if (pick < 250) op_alloc(sh);
    else if (pick < 300) op_calloc(sh);
    else if (pick < 500) op_free(sh);
    else if (pick < 540) op_memalign(sh);
    else if (pick < 620) op_realloc(sh);
    else if (pick < 680) op_query(sh);
    else if (pick < 780) op_bad(sh);
    else if (pick < 900) op_spare_pop(sh);
    else if (pick < 960) op_refill_flush(sh);
    else if (pick < 985) op_free(sh);
    else if (pick < 995) op_stats(sh);
    else if (pick < 999) op_trim(sh);
    else if (test_rng_below(&sh->r, 8) == 0) op_reset(sh);
    else op_free(sh);
    if (sh->failed) break;
    check_live_count(sh);
    if (sh->op % CHECK_EVERY == CHECK_EVERY - 1) {
      sh->op_name = "check";
      SCHECK_ST(sh, oh_check(sh->a), OH_OK);
    }
    if (sh->op % VERIFY_EVERY == VERIFY_EVERY - 1) {
      sh->op_name = "verify";
      verify_all(sh);
    }
  }
  if (!sh->failed) {
    sh->op_name = "end";
    verify_all(sh);
    SCHECK_ST(sh, oh_check(sh->a), OH_OK);
    op_stats(sh);
    /* free everything: the arena is empty again */
    while (sh->n > 0 && !sh->failed) {
      SCHECK_ST(sh, oh_free(sh->a, sh->live[sh->n - 1].off), OH_OK);
      map_release(sh, sh->live[sh->n - 1].off, sh->live[sh->n - 1].usable);
      sh->n--;
    }
    oh_arena_stats s;
    SCHECK_ST(sh, oh_stats(sh->a, &s), OH_OK);
    SCHECK(sh, s.liveAllocations == 0);
    SCHECK(sh, sh->a->live == 0);
    SCHECK_ST(sh, oh_check(sh->a), OH_OK);
    oh_destroy(sh->a);
    size_t o;
    SCHECK_ST(sh, oh_alloc(sh->a, 1, &o), OH_DESTROYED);
  }
  if (getenv("OFFHEAP_TEST_VERBOSE"))
    fprintf(stderr, "    %-22s %ld ops: %ld OOM, %ld bad offsets, %ld pops, %ld pushes, %ld moved, %ld resets\n",
            c.name, sh->op, sh->n_oom, sh->n_bad, sh->n_spare_pops, sh->n_spare_push, sh->n_moved, sh->n_reset);
done:
  oh_arena_delete(sh->a);
  free(sh->map);
  free(sh->pattern);
  free(sh);
}

static const config configs[] = {
    {"dl 4M", OH_KIND_DLMALLOC, 4 * MiB, 16, 0, 0x5EED0001ULL, 40000},
    {"dl 4M spares", OH_KIND_DLMALLOC, 4 * MiB, 16, 1, 0x5EED0002ULL, 40000},
    {"dl 1M spares", OH_KIND_DLMALLOC, 1 * MiB, 16, 1, 0x5EED0003ULL, 20000},
    {"dl 1M", OH_KIND_DLMALLOC, 1 * MiB, 16, 0, 0x5EED0004ULL, 20000},
    {"buddy16 4M", OH_KIND_BUDDY, 4 * MiB, 16, 0, 0x5EED0011ULL, 40000},
    {"buddy16 4M spares", OH_KIND_BUDDY, 4 * MiB, 16, 1, 0x5EED0012ULL, 40000},
    {"buddy64 1M spares", OH_KIND_BUDDY, 1 * MiB, 64, 1, 0x5EED0013ULL, 20000},
    {"buddy4096 2M spares", OH_KIND_BUDDY, 2 * MiB, 4096, 1, 0x5EED0014ULL, 10000},
    {"buddy32 3M spares", OH_KIND_BUDDY, 3 * MiB, 32, 1, 0x5EED0015ULL, 20000},
};

TEST(shadow_dl_4m) { run_config(&configs[0]); }
TEST(shadow_dl_4m_spares) { run_config(&configs[1]); }
TEST(shadow_dl_1m_spares) { run_config(&configs[2]); }
TEST(shadow_dl_1m) { run_config(&configs[3]); }
TEST(shadow_buddy16_4m) { run_config(&configs[4]); }
TEST(shadow_buddy16_4m_spares) { run_config(&configs[5]); }
TEST(shadow_buddy64_1m_spares) { run_config(&configs[6]); }
TEST(shadow_buddy4096_2m_spares) { run_config(&configs[7]); }
TEST(shadow_buddy32_3m_spares) { run_config(&configs[8]); }

int main(void) {
  RUN_FORKED(shadow_dl_4m);
  RUN_FORKED(shadow_dl_4m_spares);
  RUN_FORKED(shadow_dl_1m_spares);
  RUN_FORKED(shadow_dl_1m);
  RUN_FORKED(shadow_buddy16_4m);
  RUN_FORKED(shadow_buddy16_4m_spares);
  RUN_FORKED(shadow_buddy64_1m_spares);
  RUN_FORKED(shadow_buddy4096_2m_spares);
  RUN_FORKED(shadow_buddy32_3m_spares);
  return test_summary("arena_shadow");
}
