/*
 * offheap — the arena core (csrc/addon/core/arena.h) through its API, for
 * both kinds of arena (dlmalloc over page runs, buddy), without Node:
 *
 *   - configuration: bad configs are OH_INVALID;
 *   - alloc / calloc (zeroed, also after reuse) / memalign (absolute
 *     alignment: the region's base is aligned) / realloc (contents survive,
 *     the old offset dies, OOM leaves the old block intact) / usable /
 *     validate / free;
 *   - bad offsets (FOREIGN past the end, NOT_ALLOCATED at the end, interior,
 *     double, freed, stale, a spare): the right status from every
 *     offset-taking call, and nothing changes (region, metadata, tags and
 *     counts compared byte for byte), the arena stays usable, oh_check OK;
 *   - reset, destroy, trim, the statistics' invariants;
 *   - the mailbox calls (oh_io_*), including arguments that are not
 *     non-negative integers;
 *   - spares (fast arenas), driven the way lib/spares.ts drives them: refill,
 *     pop (clear OH_TAG_SPARE), push back (set it), flush, the give-back of
 *     stats / trim / OOM, and damaged stacks;
 *   - shared arenas under several threads;
 *   - damaged heap metadata: OH_CORRUPTED from then on, never a crash (forked);
 *   - usable capacity (acceptance goals of the redesign): in a 1 GiB dlmalloc
 *     arena one 900 MiB block fits next to a small live block, and 800 MiB
 *     next to about 50 MiB of fragmented small blocks; largestFree covers
 *     what succeeds; a freed large block's pages go back.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TEST_FORK_TIMEOUT_S 120
#include "../../csrc/addon/core/arena.h"
#include "../../csrc/addon/core/lock.h"
#include "testhelper.h"
#include "arena_fixture.h"


/* ---- helpers ------------------------------------------------------------- */

static oh_arena* make_arena_ex(int kind, size_t capacity, size_t min_block, int spares, int shared) {
  return fixture_arena(kind, capacity, min_block, spares, shared, 0);
}

static oh_arena* make_arena(int kind, size_t capacity) { return make_arena_ex(kind, capacity, 16, 0, 0); }

static unsigned char* at(oh_arena* a, size_t off) { return a->base + off; }

static unsigned char pat(unsigned seed, size_t i) { return (unsigned char)(seed * 31u + (unsigned)(i * 131u) + (unsigned)(i >> 8)); }

static void fill(oh_arena* a, size_t off, size_t n, unsigned seed) {
  unsigned char* p = at(a, off);
  for (size_t i = 0; i < n; i++) p[i] = pat(seed, i);
}

/* 1 when the first n bytes hold the pattern. */
static int intact(oh_arena* a, size_t off, size_t n, unsigned seed) {
  const unsigned char* p = at(a, off);
  for (size_t i = 0; i < n; i++)
    if (p[i] != pat(seed, i)) return 0;
  return 1;
}

static int all_zero(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

static oh_arena_stats stats_of(oh_arena* a) {
  oh_arena_stats s;
  int st = oh_stats(a, &s);
  CHECK_ST(st, OH_OK);
  return s;
}

/* The invariants of oh_arena_stats that always hold. */
static void check_stats(oh_arena* a, size_t live) {
  oh_arena_stats s = stats_of(a);
  CHECK(s.inUse + s.free == s.committed);
  CHECK(s.inUse >= 0 && s.free >= 0);
  CHECK(s.peakCommitted >= s.committed);
  CHECK(s.committed <= s.capacity);
  CHECK_EQ_SZ((size_t)s.capacity, a->capacity);
  CHECK_EQ_SZ((size_t)s.liveAllocations, live);
  CHECK_EQ_SZ(s.corrupted, 0);
  CHECK_EQ_SZ(s.kind, a->kind);
  CHECK(s.largestFree <= s.capacity - s.inUse);
  CHECK(s.largestFreeCommitted <= s.free && s.largestFreeCommitted <= s.largestFree);
}

/* The end of a test that gave every block back: stats say so, check passes, the arena goes. */
static void end_empty(oh_arena* a) {
  check_stats(a, 0);
  CHECK_ST(oh_check(a), OH_OK);
  oh_arena_delete(a);
}

/* ---- byte-exact snapshots: "a refused call changes nothing" -------------- */

/* Every offset-taking call refuses `off` with `want` and changes nothing. */
static void expect_refused(oh_arena* a, size_t off, int want) {
  snap_t s;
  snap_take(&s, a);
  size_t out = 12345;
  int st;
  st = oh_free(a, off);
  if (st != want) fprintf(stderr, "    offset 0x%zx (capacity 0x%zx)\n", off, a->capacity);
  CHECK_ST(st, want);
  CHECK(snap_same(&s, a));
  CHECK_ST(oh_validate(a, off), want);
  CHECK_ST(oh_usable(a, off, &out), want);
  CHECK_EQ_SZ(out, 12345);
  CHECK_ST(oh_realloc(a, off, 64, &out), want);
  CHECK_EQ_SZ(out, 12345);
  CHECK_ST(oh_realloc(a, off, 0, &out), want);
  CHECK(snap_same(&s, a));
  /* through the mailbox as well (offsets past the capacity become FOREIGN) */
  if (off <= ((size_t)1 << 52)) {
    a->io[OH_IO_ARG] = (double)off;
    oh_io_free(a);
    CHECK(a->io[OH_IO_RESULT] == (double)want);
    CHECK(snap_same(&s, a));
  }
  snap_free(&s);
}

/* ---- configuration -------------------------------------------------------- */

TEST(create_invalid) {
  oh_config cfg;
  oh_arena* a = (oh_arena*)1;
  CHECK_ST(oh_arena_create(NULL, &a), OH_INVALID);
  CHECK(a == NULL);
  memset(&cfg, 0, sizeof cfg);
  cfg.kind = 7;
  cfg.capacity = MiB;
  CHECK_ST(oh_arena_create(&cfg, &a), OH_INVALID);
  cfg.kind = -1;
  CHECK_ST(oh_arena_create(&cfg, &a), OH_INVALID);
  for (int kind = 0; kind < 2; kind++) {
    memset(&cfg, 0, sizeof cfg);
    cfg.kind = kind;
    cfg.min_block = 16;
    cfg.capacity = 0;
    CHECK_ST(oh_arena_create(&cfg, &a), OH_INVALID);
    cfg.capacity = 4097;
    CHECK_ST(oh_arena_create(&cfg, &a), OH_INVALID);
    cfg.capacity = 2048;
    CHECK_ST(oh_arena_create(&cfg, &a), OH_INVALID);
    cfg.capacity = MiB;
    cfg.shared = 1;
    cfg.spares = 1;
    CHECK_ST(oh_arena_create(&cfg, &a), OH_INVALID);
    cfg.shared = 0;
    cfg.spares = 0;
    cfg.n_tuning = OH_MAX_TUNING + 1;
    CHECK_ST(oh_arena_create(&cfg, &a), OH_INVALID);
    cfg.n_tuning = -1;
    CHECK_ST(oh_arena_create(&cfg, &a), OH_INVALID);
    cfg.n_tuning = 0;
    CHECK(a == NULL);
  }
  memset(&cfg, 0, sizeof cfg);
  cfg.kind = OH_KIND_BUDDY;
  cfg.capacity = MiB;
  size_t bad_min[] = {0, 8, 24, 48, 2 * MiB};
  for (size_t i = 0; i < sizeof bad_min / sizeof bad_min[0]; i++) {
    cfg.min_block = bad_min[i];
    CHECK_ST(oh_arena_create(&cfg, &a), OH_INVALID);
  }
  /* a dlmalloc parameter the heap refuses */
  memset(&cfg, 0, sizeof cfg);
  cfg.kind = OH_KIND_DLMALLOC;
  cfg.capacity = MiB;
  cfg.n_tuning = 1;
  cfg.tuning[0][0] = 12345;
  cfg.tuning[0][1] = 1;
  CHECK_ST(oh_arena_create(&cfg, &a), OH_INVALID);
  cfg.tuning[0][0] = M_GRANULARITY;
  cfg.tuning[0][1] = 3000; /* not a power of two */
  CHECK_ST(oh_arena_create(&cfg, &a), OH_INVALID);
  /* accepted tuning */
  cfg.tuning[0][1] = 128 * 1024;
  cfg.n_tuning = 2;
  cfg.tuning[1][0] = M_MMAP_THRESHOLD;
  cfg.tuning[1][1] = 64 * 1024;
  CHECK_ST(oh_arena_create(&cfg, &a), OH_OK);
  if (a) {
    size_t off;
    /* above the chosen mmap threshold and more than top holds (dlmalloc
     * maps directly only when top cannot serve, and the granularity is 128 KiB) */
    CHECK_ST(oh_alloc(a, 10, &off), OH_OK);
    CHECK_ST(oh_alloc(a, 200 * 1024, &off), OH_OK);
    oh_arena_stats s = stats_of(a);
    CHECK(s.detail.dl.directMappedBytes >= 200 * 1024);
    CHECK_EQ_SZ((size_t)s.detail.dl.heapBytes, 128 * 1024);
    CHECK_ST(oh_check(a), OH_OK);
    oh_arena_delete(a);
  }
  oh_arena_delete(NULL);
}

/* The region's base is aligned to the largest power of two <= capacity. */
static void base_alignment(int kind) {
  size_t caps[] = {4096, 12288, MiB, 3 * MiB, 64 * MiB};
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    oh_arena* a = make_arena(kind, caps[i]);
    CHECK(a != NULL);
    if (!a) continue;
    size_t p = 1;
    while (p <= caps[i] / 2) p <<= 1;
    CHECK_EQ_SZ((uintptr_t)a->base % p, 0);
    CHECK_EQ_SZ(a->capacity, caps[i]);
    CHECK_ST(oh_state(a), OH_OK);
    CHECK_ST(oh_check(a), OH_OK);
    check_stats(a, 0);
    oh_arena_delete(a);
  }
}

/* ---- allocation ----------------------------------------------------------- */

static void alloc_basic(int kind) {
  oh_arena* a = make_arena(kind, 4 * MiB);
  CHECK(a != NULL);
  if (!a) return;
  enum { N = 200 };
  size_t off[N], len[N];
  test_rng r = {0x1234567ULL + (uint64_t)kind};
  for (int i = 0; i < N; i++) {
    len[i] = i % 50 == 0 ? 0 : 1 + test_rng_below(&r, i % 10 == 0 ? 40000 : 600);
    CHECK_ST(oh_alloc(a, len[i], &off[i]), OH_OK);
    CHECK(off[i] < a->capacity && off[i] + len[i] <= a->capacity);
    CHECK_EQ_SZ(off[i] % 16, 0);
    size_t u = 0;
    CHECK_ST(oh_usable(a, off[i], &u), OH_OK);
    CHECK(u >= len[i]);
    CHECK(off[i] + u <= a->capacity);
    CHECK_ST(oh_validate(a, off[i]), OH_OK);
    fill(a, off[i], u, (unsigned)i);
  }
  /* no overlap: each block still holds its own pattern over its usable bytes */
  for (int i = 0; i < N; i++) {
    size_t u = 0;
    oh_usable(a, off[i], &u);
    CHECK(intact(a, off[i], u, (unsigned)i));
  }
  check_stats(a, N);
  CHECK_ST(oh_check(a), OH_OK);
  for (int i = 0; i < N; i += 2) {
    CHECK_ST(oh_free(a, off[i]), OH_OK);
    CHECK_ST(oh_validate(a, off[i]), OH_NOT_ALLOCATED);
  }
  for (int i = 1; i < N; i += 2) CHECK(intact(a, off[i], len[i], (unsigned)i));
  check_stats(a, N / 2);
  for (int i = 1; i < N; i += 2) CHECK_ST(oh_free(a, off[i]), OH_OK);
  check_stats(a, 0);
  CHECK_ST(oh_check(a), OH_OK);
  /* too large */
  size_t o = 777;
  CHECK_ST(oh_alloc(a, a->capacity + 1, &o), OH_OOM);
  CHECK_ST(oh_alloc(a, SIZE_MAX, &o), OH_OOM);
  CHECK_ST(oh_alloc(a, SIZE_MAX - 4096, &o), OH_OOM);
  CHECK_ST(oh_calloc(a, SIZE_MAX, &o), OH_OOM);
  CHECK_ST(oh_memalign(a, 64, SIZE_MAX, &o), OH_OOM);
  CHECK_EQ_SZ(o, 777);
  end_empty(a);
}

/* calloc reads as zeros: fresh, after a block of the same place was written
 * and freed (heap reuse), and for large blocks (page runs / big buddy blocks,
 * which rely on known-zero pages). */
static void calloc_zeroed(int kind) {
  oh_arena* a = make_arena(kind, 8 * MiB);
  CHECK(a != NULL);
  if (!a) return;
  size_t sizes[] = {1, 24, 100, 1000, 4096, 5000, 70000, 300 * KiB, MiB + 123};
  enum { NS = sizeof sizes / sizeof sizes[0] };
  for (int round = 0; round < 4; round++) {
    size_t off[NS];
    for (int i = 0; i < NS; i++) {
      CHECK_ST(oh_calloc(a, sizes[i], &off[i]), OH_OK);
      size_t u = 0;
      CHECK_ST(oh_usable(a, off[i], &u), OH_OK);
      CHECK(all_zero(at(a, off[i]), sizes[i]));
      memset(at(a, off[i]), 0xEE, u); /* dirty it all for the next round */
    }
    for (int i = 0; i < NS; i++) CHECK_ST(oh_free(a, off[i]), OH_OK);
    /* dirty small blocks reused by calloc in the middle of the heap */
    size_t small[64];
    for (int i = 0; i < 64; i++) {
      CHECK_ST(oh_alloc(a, 48 + 16 * (size_t)(i % 5), &small[i]), OH_OK);
      memset(at(a, small[i]), 0xCD, 48);
    }
    for (int i = 0; i < 64; i += 2) CHECK_ST(oh_free(a, small[i]), OH_OK);
    for (int i = 0; i < 64; i += 2) {
      size_t o;
      CHECK_ST(oh_calloc(a, 48, &o), OH_OK);
      CHECK(all_zero(at(a, o), 48));
      small[i] = o;
    }
    for (int i = 0; i < 64; i++) CHECK_ST(oh_free(a, small[i]), OH_OK);
    if (round == 2) {
      size_t rel;
      CHECK_ST(oh_trim(a, &rel), OH_OK);
    }
  }
  end_empty(a);
}

static void memalign_absolute(int kind) {
  oh_arena* a = make_arena(kind, 16 * MiB);
  CHECK(a != NULL);
  if (!a) return;
  size_t live[128];
  int n = 0;
  for (size_t al = 16; al <= 2 * MiB; al <<= 1) {
    size_t sizes[] = {1, 100, al, al + 1};
    for (int j = 0; j < 4 && n < 128; j++) {
      size_t o = 0;
      int st = oh_memalign(a, al, sizes[j], &o);
      CHECK_ST(st, OH_OK);
      if (st != OH_OK) continue;
      CHECK_EQ_SZ(o % al, 0);
      CHECK_EQ_SZ((uintptr_t)(a->base + o) % al, 0);
      size_t u = 0;
      CHECK_ST(oh_usable(a, o, &u), OH_OK);
      CHECK(u >= sizes[j]);
      memset(at(a, o), 0x5A, sizes[j]);
      live[n++] = o;
      /* a small block between, to stop neighbours merging */
      size_t g;
      if (n < 128 && oh_alloc(a, 40, &g) == OH_OK) live[n++] = g;
    }
  }
  check_stats(a, (size_t)n);
  CHECK_ST(oh_check(a), OH_OK);
  for (int i = 0; i < n; i++) CHECK_ST(oh_free(a, live[i]), OH_OK);
  /* alignment 1 means none; 0 is none for dlmalloc and no power of two for
   * buddy (which reports OOM, not INVALID) */
  size_t o;
  int st0 = oh_memalign(a, 0, 10, &o);
  if (kind == OH_KIND_DLMALLOC) CHECK_ST(st0, OH_OK);
  else CHECK(st0 == OH_OK || st0 == OH_OOM);
  if (st0 == OH_OK) CHECK_ST(oh_free(a, o), OH_OK);
  CHECK_ST(oh_memalign(a, 1, 10, &o), OH_OK);
  CHECK_ST(oh_free(a, o), OH_OK);
  /* larger than the region */
  CHECK_ST(oh_memalign(a, 32 * MiB, 10, &o), OH_OOM);
  /* not a power of two: dlmalloc rounds it up, buddy refuses */
  int st = oh_memalign(a, 48, 100, &o);
  if (kind == OH_KIND_DLMALLOC) {
    CHECK_ST(st, OH_OK);
    if (st == OH_OK) {
      CHECK_EQ_SZ(o % 64, 0);
      CHECK_ST(oh_free(a, o), OH_OK);
    }
  } else {
    CHECK(st == OH_OK || st == OH_OOM);
    if (st == OH_OK) {
      CHECK_EQ_SZ(o % 16, 0);
      CHECK_ST(oh_free(a, o), OH_OK);
    }
  }
  end_empty(a);
}

static void realloc_contents(int kind) {
  oh_arena* a = make_arena(kind, 16 * MiB);
  CHECK(a != NULL);
  if (!a) return;
  size_t guard;
  size_t off;
  CHECK_ST(oh_alloc(a, 100, &off), OH_OK);
  CHECK_ST(oh_alloc(a, 40, &guard), OH_OK); /* so growth cannot always be in place */
  fill(a, off, 100, 7);
  size_t steps[] = {5000, 300 * KiB, 2 * MiB, 64, 0, 70000, 16, 3 * MiB, 1000};
  size_t cur = 100;
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    size_t nw = 0;
    int st = oh_realloc(a, off, steps[i], &nw);
    CHECK_ST(st, OH_OK);
    if (st != OH_OK) break;
    size_t keep = cur < steps[i] ? cur : steps[i];
    CHECK(intact(a, nw, keep, 7));
    CHECK(nw < a->capacity);
    size_t u = 0;
    CHECK_ST(oh_usable(a, nw, &u), OH_OK);
    CHECK(u >= steps[i]);
    CHECK(nw + u <= a->capacity);
    if (nw != off) CHECK_ST(oh_validate(a, off), OH_NOT_ALLOCATED);
    CHECK_ST(oh_validate(a, nw), OH_OK);
    fill(a, nw, steps[i], 7);
    off = nw;
    cur = steps[i];
    check_stats(a, 2);
    CHECK_ST(oh_check(a), OH_OK);
  }
  CHECK_ST(oh_free(a, off), OH_OK);
  CHECK_ST(oh_free(a, guard), OH_OK);
  check_stats(a, 0);
  oh_arena_delete(a);
}

/* On OOM the old block is untouched and still live. */
static void realloc_oom_keeps_old(int kind) {
  oh_arena* a = make_arena(kind, MiB);
  CHECK(a != NULL);
  if (!a) return;
  size_t off, big;
  CHECK_ST(oh_alloc(a, 100, &off), OH_OK);
  CHECK_ST(oh_alloc(a, 512 * KiB, &big), OH_OK);
  fill(a, off, 100, 3);
  size_t u0 = 0;
  CHECK_ST(oh_usable(a, off, &u0), OH_OK);
  size_t asks[] = {600 * KiB, MiB, MiB + 1, SIZE_MAX, SIZE_MAX - 100, SIZE_MAX / 2};
  for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
    size_t nw = 999;
    CHECK_ST(oh_realloc(a, off, asks[i], &nw), OH_OOM);
    CHECK_EQ_SZ(nw, 999);
    CHECK_ST(oh_validate(a, off), OH_OK);
    size_t u = 0;
    CHECK_ST(oh_usable(a, off, &u), OH_OK);
    CHECK_EQ_SZ(u, u0);
    CHECK(intact(a, off, 100, 3));
  }
  check_stats(a, 2);
  CHECK_ST(oh_check(a), OH_OK);
  CHECK_ST(oh_free(a, big), OH_OK);
  size_t nw = 0;
  CHECK_ST(oh_realloc(a, off, 600 * KiB, &nw), OH_OK);
  CHECK(intact(a, nw, 100, 3));
  CHECK_ST(oh_free(a, nw), OH_OK);
  check_stats(a, 0);
  oh_arena_delete(a);
}

/* ---- bad offsets ----------------------------------------------------------- */

static void bad_offsets(int kind, int spares) {
  oh_arena* a = make_arena_ex(kind, MiB, 16, spares, 0);
  CHECK(a != NULL);
  if (!a) return;
  const size_t cap = a->capacity;
  size_t A, B, C, D, F, G, X, Y, L;
  CHECK_ST(oh_alloc(a, 100, &A), OH_OK);
  CHECK_ST(oh_alloc(a, 1000, &B), OH_OK);
  CHECK_ST(oh_alloc(a, 300 * KiB, &L), OH_OK); /* a page run (dlmalloc) / a big block */
  CHECK_ST(oh_alloc(a, 64, &F), OH_OK);
  CHECK_ST(oh_alloc(a, 64, &G), OH_OK); /* keeps F from merging */
  CHECK_ST(oh_alloc(a, 64, &X), OH_OK);
  CHECK_ST(oh_alloc(a, 64, &Y), OH_OK);
  CHECK_ST(oh_alloc(a, 64, &C), OH_OK);
  CHECK_ST(oh_alloc(a, 64, &D), OH_OK);
  fill(a, A, 100, 1);
  fill(a, B, 1000, 2);
  fill(a, C, 64, 3);
  CHECK_ST(oh_free(a, F), OH_OK);
  /* stale: X and Y freed and merged (with each other or further) */
  CHECK_ST(oh_free(a, Y), OH_OK);
  CHECK_ST(oh_free(a, X), OH_OK);
  size_t spare = SIZE_MAX;
  if (spares) {
    a->io[OH_IO_ARG] = 4; /* 64-byte class */
    oh_io_refill(a);
    CHECK(a->io[OH_IO_RESULT] == OH_OK);
    CHECK(a->sp.count[4] > 0);
    if (a->sp.count[4] > 0) spare = (size_t)a->sp.stack[oh_spare_table_get()->base[4]];
  }
  const size_t live = 6 + (spares ? (size_t)a->sp.count[4] : 0);
  CHECK_EQ_SZ(a->live, live);
  CHECK_ST(oh_check(a), OH_OK);

  /* past the end: FOREIGN */
  size_t foreign[] = {cap + 1, cap + 16, cap + 4096, 2 * cap, SIZE_MAX, SIZE_MAX - 15, (size_t)1 << 52};
  for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) expect_refused(a, foreign[i], OH_FOREIGN);
  /* the end itself, and inside without being a live block's start */
  size_t inside[] = {cap, cap - 1, cap - 16, cap - 4096, A + 1, A + 8, A + 16, A + 96, B + 16, B + 512, L + 16,
                     L + 4096, L + 100 * KiB, C + 32, F, X, Y, F + 16, 1, 8};
  for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) expect_refused(a, inside[i], OH_NOT_ALLOCATED);
  if (spare != SIZE_MAX) expect_refused(a, spare, OH_NOT_ALLOCATED);
  /* double free, the second time */
  CHECK_ST(oh_free(a, D), OH_OK);
  expect_refused(a, D, OH_NOT_ALLOCATED);

  /* the live blocks are as they were and the arena works */
  CHECK(intact(a, A, 100, 1));
  CHECK(intact(a, B, 1000, 2));
  CHECK(intact(a, C, 64, 3));
  CHECK_ST(oh_check(a), OH_OK);
  check_stats(a, 5);
  size_t n1, n2;
  CHECK_ST(oh_alloc(a, 64, &n1), OH_OK);
  CHECK_ST(oh_realloc(a, A, 2000, &n2), OH_OK);
  CHECK(intact(a, n2, 100, 1));
  CHECK_ST(oh_free(a, n1), OH_OK);
  CHECK_ST(oh_free(a, n2), OH_OK);
  CHECK_ST(oh_free(a, B), OH_OK);
  CHECK_ST(oh_free(a, C), OH_OK);
  CHECK_ST(oh_free(a, G), OH_OK);
  CHECK_ST(oh_free(a, L), OH_OK);
  end_empty(a);
}

/* ---- reset, destroy, trim, stats ------------------------------------------- */

static void reset_frees_all(int kind) {
  for (int spares = 0; spares < 2; spares++) {
    oh_arena* a = make_arena_ex(kind, 8 * MiB, 16, spares, 0);
    CHECK(a != NULL);
    if (!a) continue;
    size_t off[300];
    for (int i = 0; i < 300; i++) {
      CHECK_ST(oh_alloc(a, 1 + (size_t)i * 97 % 20000, &off[i]), OH_OK);
      fill(a, off[i], 1, (unsigned)i);
    }
    size_t big;
    CHECK_ST(oh_alloc(a, 2 * MiB, &big), OH_OK);
    memset(at(a, big), 1, 2 * MiB);
    if (spares) {
      for (unsigned c = 1; c <= 20; c++) {
        a->io[OH_IO_ARG] = c;
        oh_io_refill(a);
        CHECK(a->io[OH_IO_RESULT] == OH_OK);
      }
    }
    oh_arena_stats before = stats_of(a);
    CHECK(before.peakCommitted >= 2 * MiB);
    CHECK_ST(oh_reset(a), OH_OK);
    CHECK_EQ_SZ(a->live, 0);
    for (int i = 0; i < 300; i += 7) CHECK_ST(oh_validate(a, off[i]), OH_NOT_ALLOCATED);
    CHECK_ST(oh_free(a, big), OH_NOT_ALLOCATED);
    if (spares) {
      for (unsigned c = 1; c <= OH_SPARE_CLASSES; c++) CHECK_EQ_SZ(a->sp.count[c], 0);
      CHECK(all_zero(a->sp.tags, a->sp.tags_len));
    }
    oh_arena_stats after = stats_of(a);
    CHECK_EQ_SZ((size_t)after.liveAllocations, 0);
    CHECK(after.peakCommitted >= before.peakCommitted);
    CHECK(after.committed <= before.committed);
    CHECK(after.inUse + after.free == after.committed);
    CHECK_ST(oh_check(a), OH_OK);
    /* and it works as new, with its memory reading as zeros */
    size_t o;
    CHECK_ST(oh_alloc(a, 6 * MiB, &o), OH_OK);
    CHECK(all_zero(at(a, o), 6 * MiB));
    CHECK_ST(oh_free(a, o), OH_OK);
    CHECK_ST(oh_reset(a), OH_OK);
    CHECK_ST(oh_reset(a), OH_OK);
    oh_arena_stats again = stats_of(a);
    CHECK(again.peakCommitted >= before.peakCommitted);
    check_stats(a, 0);
    CHECK_ST(oh_check(a), OH_OK);
    oh_arena_delete(a);
  }
}

static void destroy_refuses(int kind) {
  for (int spares = 0; spares < 2; spares++) {
    oh_arena* a = make_arena_ex(kind, 4 * MiB, 16, spares, 0);
    CHECK(a != NULL);
    if (!a) continue;
    size_t off;
    CHECK_ST(oh_alloc(a, 1000, &off), OH_OK);
    memset(at(a, off), 0x77, 1000);
    if (spares) {
      a->io[OH_IO_ARG] = 2;
      oh_io_refill(a);
    }
    oh_destroy(a);
    size_t o = 4242, r = 4242;
    CHECK_ST(oh_state(a), OH_DESTROYED);
    CHECK_ST(oh_alloc(a, 10, &o), OH_DESTROYED);
    CHECK_ST(oh_calloc(a, 10, &o), OH_DESTROYED);
    CHECK_ST(oh_memalign(a, 64, 10, &o), OH_DESTROYED);
    CHECK_ST(oh_free(a, off), OH_DESTROYED);
    CHECK_ST(oh_free(a, SIZE_MAX), OH_DESTROYED);
    CHECK_ST(oh_realloc(a, off, 10, &o), OH_DESTROYED);
    CHECK_ST(oh_usable(a, off, &o), OH_DESTROYED);
    CHECK_ST(oh_validate(a, off), OH_DESTROYED);
    CHECK_EQ_SZ(o, 4242);
    CHECK_ST(oh_reset(a), OH_DESTROYED);
    CHECK_ST(oh_trim(a, &r), OH_DESTROYED);
    CHECK_EQ_SZ(r, 0);
    CHECK_ST(oh_check(a), OH_DESTROYED);
    oh_arena_stats s;
    CHECK_ST(oh_stats(a, &s), OH_DESTROYED);
    CHECK_EQ_SZ(oh_largest_free(a), 0);
    a->io[OH_IO_ARG] = 10;
    oh_io_alloc(a);
    CHECK(a->io[OH_IO_RESULT] == OH_DESTROYED);
    a->io[OH_IO_ARG] = (double)off;
    oh_io_free(a);
    CHECK(a->io[OH_IO_RESULT] == OH_DESTROYED);
    a->io[OH_IO_ARG] = 2;
    oh_io_refill(a);
    CHECK(a->io[OH_IO_RESULT] == OH_DESTROYED);
    oh_io_flush(a);
    CHECK(a->io[OH_IO_RESULT] == OH_DESTROYED);
    /* the pages went back: the region reads as zeros; nothing handed out */
    CHECK(all_zero(at(a, off), 1000));
    if (spares) {
      for (unsigned c = 1; c <= OH_SPARE_CLASSES; c++) CHECK_EQ_SZ(a->sp.count[c], 0);
    }
    /* idempotent */
    oh_destroy(a);
    oh_destroy(a);
    CHECK_ST(oh_state(a), OH_DESTROYED);
    CHECK_ST(oh_alloc(a, 10, &o), OH_DESTROYED);
    oh_arena_delete(a);
  }
}

static void trim_releases(int kind) {
  oh_arena* a = make_arena(kind, 16 * MiB);
  CHECK(a != NULL);
  if (!a) return;
  size_t first;
  CHECK_ST(oh_alloc(a, 64, &first), OH_OK);
  enum { N = 1000 };
  static size_t off[N];
  for (int i = 0; i < N; i++) {
    CHECK_ST(oh_alloc(a, 1000, &off[i]), OH_OK);
    memset(at(a, off[i]), 0xAA, 1000);
  }
  oh_arena_stats full = stats_of(a);
  for (int i = 0; i < N; i++) CHECK_ST(oh_free(a, off[i]), OH_OK);
  oh_arena_stats freed = stats_of(a);
  size_t rel = 0;
  CHECK_ST(oh_trim(a, &rel), OH_OK);
  oh_arena_stats trimmed = stats_of(a);
  CHECK(rel > 0);
  CHECK(trimmed.committed < full.committed);
  CHECK(trimmed.committed < freed.committed);
  CHECK(freed.committed - trimmed.committed <= (double)rel);
  CHECK(trimmed.committed < 256 * KiB);
  CHECK(trimmed.peakCommitted >= full.committed);
  /* a second trim has nothing left */
  size_t rel2 = 99;
  CHECK_ST(oh_trim(a, &rel2), OH_OK);
  CHECK(rel2 < 64 * KiB);
  check_stats(a, 1);
  CHECK_ST(oh_check(a), OH_OK);
  /* the trimmed memory is handed out again, and calloc still zeroes */
  for (int i = 0; i < N; i++) {
    CHECK_ST(oh_calloc(a, 1000, &off[i]), OH_OK);
    CHECK(all_zero(at(a, off[i]), 1000));
  }
  check_stats(a, N + 1);
  oh_arena_delete(a);
}

static void stats_invariants(int kind) {
  oh_arena* a = make_arena(kind, 32 * MiB);
  CHECK(a != NULL);
  if (!a) return;
  check_stats(a, 0);
  oh_arena_stats s0 = stats_of(a);
  CHECK(s0.largestFree > 0);
  test_rng r = {0xabcdefULL};
  static size_t off[2000];
  size_t n = 0;
  double peak = 0;
  for (int step = 0; step < 6000; step++) {
    if (n < 2000 && (n == 0 || test_rng_below(&r, 3) != 0)) {
      size_t len = test_rng_below(&r, 10) == 0 ? 1 + test_rng_below(&r, 400 * KiB) : 1 + test_rng_below(&r, 3000);
      if (oh_alloc(a, len, &off[n]) == OH_OK) {
        memset(at(a, off[n]), 1, len < 64 ? len : 64);
        n++;
      }
    } else {
      size_t i = test_rng_below(&r, n);
      CHECK_ST(oh_free(a, off[i]), OH_OK);
      off[i] = off[--n];
    }
    if (step % 500 == 0) {
      check_stats(a, n);
      oh_arena_stats s = stats_of(a);
      CHECK(s.peakCommitted >= peak);
      peak = s.peakCommitted;
      if (kind == OH_KIND_DLMALLOC) {
        CHECK(s.detail.dl.pagesUsed + s.detail.dl.pagesFree == a->capacity);
        CHECK(s.detail.dl.pagesLargestFree <= s.detail.dl.pagesFree);
        CHECK(s.detail.dl.heapBytes + s.detail.dl.directMappedBytes <= s.committed + 0.0);
        CHECK(s.detail.dl.metadataBytes > 0);
      } else {
        CHECK_EQ_SZ((size_t)s.detail.buddy.liveBlocks, n);
        CHECK_EQ_SZ((size_t)s.detail.buddy.minBlock, 16);
        CHECK(s.detail.buddy.fragmentation >= 0 && s.detail.buddy.fragmentation <= 1);
        CHECK_EQ_SZ((size_t)s.detail.buddy.cachedBytes, 0); /* stats merge the cache */
      }
      CHECK_EQ_SZ(oh_largest_free(a), (size_t)s.largestFree);
      CHECK_ST(oh_check(a), OH_OK);
    }
  }
  while (n) CHECK_ST(oh_free(a, off[--n]), OH_OK);
  check_stats(a, 0);
  oh_arena_delete(a);
}

/* largestFree is the largest request that succeeds (stats.h), counting free
 * chunks inside the heap as well as free page runs: here a chunk freed in a
 * full region is all there is. test_arena_stats.c checks the exactness in
 * every state a random mix reaches. */
TEST(largest_free_exact_dl) {
  oh_arena* a = make_arena(OH_KIND_DLMALLOC, MiB);
  CHECK(a != NULL);
  if (!a) return;
  size_t A, B, x;
  CHECK_ST(oh_alloc(a, 200000, &A), OH_OK);
  CHECK_ST(oh_alloc(a, 100, &B), OH_OK);
  while (oh_alloc(a, 30000, &x) == OH_OK) {
  }
  while (oh_alloc(a, 1000, &x) == OH_OK) {
  }
  CHECK_ST(oh_free(a, A), OH_OK);
  oh_arena_stats s = stats_of(a);
  size_t C;
  CHECK(s.largestFree >= 200000 && s.largestFree < 200000 + 4096);
  CHECK(s.largestFreeCommitted == s.largestFree); /* the chunk A left, in the heap */
  CHECK_ST(oh_alloc(a, (size_t)s.largestFree + 1, &C), OH_OOM);
  CHECK_ST(oh_alloc(a, (size_t)s.largestFree, &C), OH_OK); /* served by the free chunk A left */
  CHECK_ST(oh_check(a), OH_OK);
  oh_arena_delete(a);
}

/* buddy: largestFree is exact (after stats merged the cache): a request of
 * that much succeeds, one more fails. */
TEST(largest_free_exact_buddy) {
  oh_arena* a = make_arena(OH_KIND_BUDDY, 4 * MiB);
  CHECK(a != NULL);
  if (!a) return;
  size_t o[3];
  CHECK_ST(oh_alloc(a, 100, &o[0]), OH_OK);
  CHECK_ST(oh_alloc(a, 1000000, &o[1]), OH_OK);
  oh_arena_stats s = stats_of(a);
  size_t lf = (size_t)s.largestFree;
  CHECK_EQ_SZ(lf, 2 * MiB);
  size_t x;
  CHECK_ST(oh_alloc(a, lf + 1, &x), OH_OOM);
  CHECK_ST(oh_alloc(a, lf, &o[2]), OH_OK);
  for (int i = 0; i < 3; i++) CHECK_ST(oh_free(a, o[i]), OH_OK);
  oh_arena_delete(a);
}

/* oh_largest_free is "the largestFree of oh_arena_stats, without the rest":
 * for buddy arenas it merges the lazy cache first, as stats do, so freed
 * blocks held in the cache count at their merged size (what an allocation
 * that needs them gets, as it flushes the cache). */
TEST(largest_free_call_buddy_cache) {
  oh_arena* a = make_arena(OH_KIND_BUDDY, MiB);
  CHECK(a != NULL);
  if (!a) return;
  size_t o[16];
  for (int i = 0; i < 16; i++) CHECK_ST(oh_alloc(a, 64 * KiB, &o[i]), OH_OK);
  for (int i = 0; i < 16; i++) CHECK_ST(oh_free(a, o[i]), OH_OK); /* all 16 held in the cache */
  size_t lf = oh_largest_free(a);
  CHECK(lf == MiB);
  size_t x;
  CHECK_ST(oh_alloc(a, MiB, &x), OH_OK);
  CHECK_ST(oh_free(a, x), OH_OK);
  oh_arena_stats s = stats_of(a);
  CHECK_EQ_SZ((size_t)s.largestFree, MiB);
  CHECK_EQ_SZ(oh_largest_free(a), MiB);
  oh_arena_delete(a);
}

/* ---- the mailbox ------------------------------------------------------------- */

static void mailbox(int kind) {
  oh_arena* a = make_arena(kind, 4 * MiB);
  CHECK(a != NULL);
  if (!a) return;
  a->io[OH_IO_ARG] = 100;
  oh_io_alloc(a);
  double r = a->io[OH_IO_RESULT];
  CHECK(r >= 0 && r < (double)a->capacity && r == floor(r));
  size_t off = (size_t)r;
  CHECK_ST(oh_validate(a, off), OH_OK);
  a->io[OH_IO_ARG] = 0;
  oh_io_alloc(a);
  CHECK(a->io[OH_IO_RESULT] >= 0);
  size_t zero = (size_t)a->io[OH_IO_RESULT];
  /* sizes that are not non-negative integers up to the capacity */
  double bad[] = {-1, -0.5, 0.5, 100.25, NAN, -NAN, INFINITY, -INFINITY, (double)a->capacity + 1,
                  (double)a->capacity * 2, 1e300, 9007199254740993.0, -1e-300, 4.9e-324};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    a->io[OH_IO_ARG] = bad[i];
    a->io[OH_IO_RESULT] = 12345;
    oh_io_alloc(a);
    if (a->io[OH_IO_RESULT] != OH_INVALID) fprintf(stderr, "    io_alloc(%g) -> %g\n", bad[i], a->io[OH_IO_RESULT]);
    CHECK(a->io[OH_IO_RESULT] == OH_INVALID);
  }
  /* -0.0 is zero */
  a->io[OH_IO_ARG] = -0.0;
  oh_io_alloc(a);
  CHECK(a->io[OH_IO_RESULT] >= 0);
  if (a->io[OH_IO_RESULT] >= 0) CHECK_ST(oh_free(a, (size_t)a->io[OH_IO_RESULT]), OH_OK);
  /* the whole capacity is a valid argument, and there is no room for it */
  a->io[OH_IO_ARG] = (double)a->capacity + (kind == OH_KIND_BUDDY ? 0 : 0);
  oh_io_alloc(a);
  CHECK(a->io[OH_IO_RESULT] == OH_OOM);
  /* free: offsets that are not integers are FOREIGN */
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    a->io[OH_IO_ARG] = bad[i];
    a->io[OH_IO_RESULT] = 12345;
    oh_io_free(a);
    if (a->io[OH_IO_RESULT] != OH_FOREIGN) fprintf(stderr, "    io_free(%g) -> %g\n", bad[i], a->io[OH_IO_RESULT]);
    CHECK(a->io[OH_IO_RESULT] == OH_FOREIGN);
  }
  a->io[OH_IO_ARG] = (double)off + 0.5;
  oh_io_free(a);
  CHECK(a->io[OH_IO_RESULT] == OH_FOREIGN);
  a->io[OH_IO_ARG] = (double)a->capacity;
  oh_io_free(a);
  CHECK(a->io[OH_IO_RESULT] == OH_NOT_ALLOCATED);
  a->io[OH_IO_ARG] = (double)off + 16;
  oh_io_free(a);
  CHECK(a->io[OH_IO_RESULT] == OH_NOT_ALLOCATED);
  CHECK_ST(oh_validate(a, off), OH_OK);
  a->io[OH_IO_ARG] = (double)off;
  oh_io_free(a);
  CHECK(a->io[OH_IO_RESULT] == OH_OK);
  oh_io_free(a);
  CHECK(a->io[OH_IO_RESULT] == OH_NOT_ALLOCATED);
  /* refill / flush without spares, or with a bad class: INVALID */
  double classes[] = {1, 0, 61, -1, 1.5, NAN, INFINITY};
  for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
    a->io[OH_IO_ARG] = classes[i];
    oh_io_refill(a);
    CHECK(a->io[OH_IO_RESULT] == OH_INVALID);
    oh_io_flush(a);
    CHECK(a->io[OH_IO_RESULT] == OH_INVALID);
  }
  CHECK_ST(oh_free(a, zero), OH_OK);
  end_empty(a);
}

/* ---- spares: what lib/spares.ts does, in C ---------------------------------- */

TEST(spare_table) {
  const oh_spare_table* t = oh_spare_table_get();
  CHECK(t == oh_spare_table_get());
  CHECK_EQ_SZ(t->bytes[1], 16);
  CHECK_EQ_SZ(t->bytes[OH_SPARE_CLASSES], OH_SPARE_MAX_BYTES);
  uint32_t slots = 0;
  for (unsigned c = 1; c <= OH_SPARE_CLASSES; c++) {
    CHECK_EQ_SZ(t->bytes[c] % 16, 0);
    if (c > 1) CHECK(t->bytes[c] > t->bytes[c - 1]);
    CHECK(t->depth[c] >= OH_SPARE_DEPTH_MIN && t->depth[c] <= OH_SPARE_DEPTH_MAX);
    CHECK(t->refill[c] >= 1 && t->refill[c] <= t->depth[c]);
    CHECK_EQ_SZ(t->base[c], slots);
    slots += t->depth[c];
  }
  CHECK_EQ_SZ(t->slots, slots);
  /* the exact map: the smallest class that holds the request */
  for (size_t n = 0; n <= OH_SPARE_MAX_BYTES; n += 1 + n / 64) {
    unsigned c = t->class_of_16[OH_CLASSES_EXACT][(n + 15) / 16];
    CHECK(c >= 1 && c <= OH_SPARE_CLASSES);
    CHECK(t->bytes[c] >= n);
    if (c > 1) CHECK(t->bytes[c - 1] < n || n == 0);
  }
  /* the power-of-two map: the class whose size is the smallest power of two
   * (at least 16) that holds the request; every request one buddy block
   * serves shares it */
  for (size_t n = 0; n <= OH_SPARE_MAX_BYTES; n++) {
    size_t p = 16;
    while (p < n) p *= 2;
    unsigned c = t->class_of_16[OH_CLASSES_POW2][(n + 15) / 16];
    CHECK(c >= 1 && c <= OH_SPARE_CLASSES);
    CHECK_EQ_SZ(t->bytes[c], p);
  }
  CHECK_EQ_SZ(oh_spare_class_map(OH_KIND_BUDDY), OH_CLASSES_POW2);
  CHECK_EQ_SZ(oh_spare_class_map(OH_KIND_DLMALLOC), OH_CLASSES_EXACT);
}

/* refill: count[c] grows by refill[c], each entry a distinct block of at
 * least bytes[c] whose tag is c | SPARE (| HIGH), invisible to the user. */
static void spares_refill(int kind, size_t min_block) {
  const oh_spare_table* t = oh_spare_table_get();
  oh_arena* a = make_arena_ex(kind, 16 * MiB, min_block, 1, 0);
  CHECK(a != NULL);
  if (!a) return;
  size_t user;
  CHECK_ST(oh_alloc(a, 24, &user), OH_OK);
  for (unsigned c = 1; c <= OH_SPARE_CLASSES; c++) {
    a->io[OH_IO_ARG] = c;
    oh_io_refill(a);
    CHECK(a->io[OH_IO_RESULT] == OH_OK);
    CHECK_EQ_SZ(a->sp.count[c], t->refill[c]);
    for (uint32_t j = 0; j < (uint32_t)a->sp.count[c]; j++) {
      double d = a->sp.stack[t->base[c] + j];
      size_t off = (size_t)d;
      CHECK(d == (double)off && off < a->capacity);
      CHECK_EQ_SZ(*tag_at(a, off), c | OH_TAG_SPARE | high_of(a, off));
      CHECK_EQ_SZ(off % 16, 0);
      if (kind == OH_KIND_BUDDY) CHECK_EQ_SZ(off % (t->bytes[c] > min_block ? 16 : min_block), 0);
      /* stack order: lowest offsets on top (handed out in address order) */
      if (j > 0) CHECK(d < a->sp.stack[t->base[c] + j - 1]);
    }
  }
  CHECK_EQ_SZ(a->live, 1 + spares_held(a));
  CHECK_ST(oh_check(a), OH_OK);
  /* a spare is not the user's: every offset-taking call refuses it */
  for (unsigned c = 1; c <= OH_SPARE_CLASSES; c += 7) {
    size_t off = (size_t)a->sp.stack[t->base[c]];
    expect_refused(a, off, OH_NOT_ALLOCATED);
  }
  /* a full stack: refill adds nothing and says OK */
  unsigned c = 3;
  for (int guard = 0; (uint32_t)a->sp.count[c] < t->depth[c] && guard < 1000; guard++) {
    a->io[OH_IO_ARG] = c;
    oh_io_refill(a);
    CHECK_ST((int)a->io[OH_IO_RESULT], OH_OK);
    if (a->io[OH_IO_RESULT] != OH_OK) break;
  }
  CHECK_EQ_SZ(a->sp.count[c], t->depth[c]);
  oh_io_refill(a);
  CHECK(a->io[OH_IO_RESULT] == OH_OK);
  CHECK_EQ_SZ(a->sp.count[c], t->depth[c]);
  CHECK_ST(oh_check(a), OH_OK);
  /* stats: every spare goes back, liveAllocations counts the user's block */
  oh_arena_stats s = stats_of(a);
  CHECK_EQ_SZ((size_t)s.liveAllocations, 1);
  CHECK_EQ_SZ(spares_held(a), 0);
  CHECK_EQ_SZ(a->live, 1);
  CHECK_ST(oh_check(a), OH_OK);
  if (kind == OH_KIND_BUDDY) CHECK_EQ_SZ((size_t)s.detail.buddy.liveBlocks, 1);
  /* every tag is clear except none: the user's block never had one */
  CHECK(all_zero(a->sp.tags, a->sp.tags_len));
  CHECK_ST(oh_free(a, user), OH_OK);
  check_stats(a, 0);
  oh_arena_delete(a);
}

/* A class drained over and over refills in growing batches: each refill
 * takes max(refill[c], half of what refills gave it since the last reset),
 * at most the depth, so a long burst of one class costs a few native calls
 * per depth[c] blocks; a reset starts the count again. */
static void spares_refill_grows(int kind) {
  const oh_spare_table* t = oh_spare_table_get();
  oh_arena* a = make_arena_ex(kind, 64 * MiB, 16, 1, 0);
  CHECK(a != NULL);
  if (!a) return;
  unsigned cs[] = {1, 20, 33, 41, 52};
  for (int k = 0; k < 5; k++) {
    unsigned c = cs[k];
    uint32_t supplied = 0, refills = 0, taken = 0, want_total = 8 * t->depth[c];
    uint32_t last_batch = 0;
    while (taken < want_total) {
      CHECK_EQ_SZ(a->sp.count[c], 0);
      uint32_t expect = t->refill[c];
      if (expect < supplied / 2) expect = supplied / 2;
      if (expect > t->depth[c]) expect = t->depth[c];
      a->io[OH_IO_ARG] = c;
      oh_io_refill(a);
      CHECK_ST((int)a->io[OH_IO_RESULT], OH_OK);
      if (a->io[OH_IO_RESULT] != OH_OK) break;
      uint32_t batch = (uint32_t)a->sp.count[c];
      CHECK_EQ_SZ(batch, expect);
      CHECK(batch >= last_batch);
      last_batch = batch;
      supplied += batch;
      refills++;
      while (a->sp.count[c] > 0 && taken < want_total) {
        CHECK(js_take(a, c) != SIZE_MAX);
        taken++;
      }
    }
    /* doubling up to the depth, then one refill per depth */
    uint32_t bound = 8 + 2 * 32;
    CHECK(refills <= bound);
    CHECK_EQ_SZ(a->sp.supplied[c], supplied);
  }
  CHECK_ST(oh_check(a), OH_OK);
  CHECK_ST(oh_reset(a), OH_OK);
  /* after a reset: the first refill of a class nothing warmed is refill[c] again */
  unsigned c = 60;
  CHECK_EQ_SZ(a->sp.count[c], 0);
  a->io[OH_IO_ARG] = c;
  oh_io_refill(a);
  CHECK_EQ_SZ(a->sp.count[c], t->refill[c]);
  CHECK_ST(oh_check(a), OH_OK);
  oh_arena_delete(a);
}

/* pop / push back as lib/spares.ts does, with flushes of full stacks. */
static void spares_js_cycle(int kind, size_t min_block) {
  const oh_spare_table* t = oh_spare_table_get();
  oh_arena* a = make_arena_ex(kind, 32 * MiB, min_block, 1, 0);
  CHECK(a != NULL);
  if (!a) return;
  unsigned classes[] = {1, 2, 3, 4, 8, 16, 31, 32, 33, 40, 48, 59, 60};
  enum { NC = sizeof classes / sizeof classes[0], PER = 150 };
  static size_t held[NC][PER];
  for (int k = 0; k < NC; k++) {
    unsigned c = classes[k];
    for (int i = 0; i < PER; i++) {
      size_t off = js_take(a, c);
      CHECK(off != SIZE_MAX);
      held[k][i] = off;
      if (off == SIZE_MAX) continue;
      CHECK_EQ_SZ(*tag_at(a, off), c | high_of(a, off));
      /* the user's now: validate and usable accept it */
      size_t u = 0;
      CHECK_ST(oh_validate(a, off), OH_OK);
      CHECK_ST(oh_usable(a, off, &u), OH_OK);
      CHECK(u >= t->bytes[c]);
      CHECK(off + u <= a->capacity);
      fill(a, off, t->bytes[c], (unsigned)(k * PER + i));
    }
  }
  CHECK_ST(oh_check(a), OH_OK);
  for (int k = 0; k < NC; k++)
    for (int i = 0; i < PER; i++)
      if (held[k][i] != SIZE_MAX) CHECK(intact(a, held[k][i], t->bytes[classes[k]], (unsigned)(k * PER + i)));
  /* give them all back: full stacks flush their older half */
  for (int k = 0; k < NC; k++) {
    unsigned c = classes[k];
    for (int i = 0; i < PER; i++) {
      if (held[k][i] == SIZE_MAX) continue;
      int before = a->sp.count[c];
      int r = js_put(a, held[k][i]);
      CHECK_EQ_SZ(r, 1);
      if ((uint32_t)before == t->depth[c]) CHECK_EQ_SZ(a->sp.count[c], t->depth[c] - t->depth[c] / 2 + 1);
      CHECK(a->sp.count[c] >= 1 && (uint32_t)a->sp.count[c] <= t->depth[c]);
      /* freeing a block that is a spare again is a double free */
      CHECK_ST(oh_free(a, held[k][i]), OH_NOT_ALLOCATED);
    }
  }
  CHECK_EQ_SZ(a->live, spares_held(a));
  CHECK_ST(oh_check(a), OH_OK);
  check_stats(a, 0);
  CHECK(all_zero(a->sp.tags, a->sp.tags_len));
  oh_arena_delete(a);
}

/* flush gives back the older half (the bottom of the stack). */
static void spares_flush_half(int kind) {
  const oh_spare_table* t = oh_spare_table_get();
  oh_arena* a = make_arena_ex(kind, 16 * MiB, 16, 1, 0);
  CHECK(a != NULL);
  if (!a) return;
  unsigned cs[] = {1, 5, 33, 60};
  for (int k = 0; k < 4; k++) {
    unsigned c = cs[k];
    while ((uint32_t)a->sp.count[c] < t->depth[c]) {
      a->io[OH_IO_ARG] = c;
      oh_io_refill(a);
      CHECK(a->io[OH_IO_RESULT] == OH_OK);
      if (a->io[OH_IO_RESULT] != OH_OK) break;
    }
    uint32_t d = t->depth[c];
    double* st = a->sp.stack + t->base[c];
    double before[OH_SPARE_DEPTH_MAX];
    memcpy(before, st, d * sizeof(double));
    size_t live0 = a->live;
    a->io[OH_IO_ARG] = c;
    oh_io_flush(a);
    CHECK(a->io[OH_IO_RESULT] == OH_OK);
    CHECK_EQ_SZ(a->sp.count[c], d - d / 2);
    CHECK_EQ_SZ(a->live, live0 - d / 2);
    for (uint32_t j = 0; j < d - d / 2; j++) CHECK(st[j] == before[d / 2 + j]);
    for (uint32_t j = 0; j < d / 2; j++) {
      size_t off = (size_t)before[j];
      CHECK_EQ_SZ(*tag_at(a, off) & OH_TAG_SPARE, 0);
      CHECK_ST(oh_validate(a, off), OH_NOT_ALLOCATED);
    }
    CHECK_ST(oh_check(a), OH_OK);
    /* flushing a stack of one keeps it; of zero is fine */
    for (int guard = 0; a->sp.count[c] > 1 && guard < 100; guard++) {
      oh_io_flush(a);
      CHECK(a->io[OH_IO_RESULT] == OH_OK);
      if (a->io[OH_IO_RESULT] != OH_OK) break;
    }
    oh_io_flush(a);
    CHECK(a->io[OH_IO_RESULT] == OH_OK);
    CHECK_EQ_SZ(a->sp.count[c], 1);
  }
  CHECK_ST(oh_check(a), OH_OK);
  check_stats(a, 0);
  oh_arena_delete(a);
}

/* A small arena filled with spares: an allocation that needs their room
 * succeeds once the core gives them back (alloc, calloc, memalign, realloc). */
static void spares_give_back_on_oom(int kind) {
  for (int how = 0; how < 4; how++) {
    oh_arena* a = make_arena_ex(kind, MiB, 16, 1, 0);
    CHECK(a != NULL);
    if (!a) continue;
    size_t user;
    CHECK_ST(oh_alloc(a, 100, &user), OH_OK);
    fill(a, user, 100, 9);
    /* every stack filled to its depth: the stacks hold about 60 * 64 KiB,
     * far more than the arena, so the allocator runs out first */
    int full = 0;
    for (int pass = 0; pass < 200 && !full; pass++) {
      for (unsigned c = OH_SPARE_CLASSES; c >= 1; c--) {
        a->io[OH_IO_ARG] = c;
        oh_io_refill(a);
        if (a->io[OH_IO_RESULT] == OH_OOM) full = 1;
        else CHECK(a->io[OH_IO_RESULT] == OH_OK);
      }
    }
    CHECK(full);
    size_t held = spares_held(a);
    CHECK(held > 0);
    CHECK_ST(oh_check(a), OH_OK);
    size_t big = 0;
    /* dlmalloc: more than the mmap threshold; buddy: a half of the region */
    size_t want = kind == OH_KIND_DLMALLOC ? 600 * KiB : 400 * KiB;
    int st;
    switch (how) {
      case 0: st = oh_alloc(a, want, &big); break;
      case 1: st = oh_calloc(a, want, &big); break;
      case 2: st = oh_memalign(a, 64 * KiB, want, &big); break;
      default: st = oh_realloc(a, user, want, &big); break;
    }
    CHECK_ST(st, OH_OK);
    CHECK_EQ_SZ(spares_held(a), 0);
    if (st == OH_OK) {
      if (how == 1) CHECK(all_zero(at(a, big), want));
      if (how == 2) CHECK_EQ_SZ(big % (64 * KiB), 0);
      if (how == 3) {
        CHECK(intact(a, big, 100, 9));
        user = big;
      }
      memset(at(a, big), 0x11, want);
      if (how == 3) fill(a, big, 100, 9);
    }
    CHECK(intact(a, user, 100, 9));
    CHECK_ST(oh_check(a), OH_OK);
    check_stats(a, how == 3 ? 1 : 2);
    oh_arena_delete(a);
  }
}

/* trim gives spares back first. */
static void spares_trim(int kind) {
  oh_arena* a = make_arena_ex(kind, 16 * MiB, 16, 1, 0);
  CHECK(a != NULL);
  if (!a) return;
  for (unsigned c = 1; c <= OH_SPARE_CLASSES; c++) {
    a->io[OH_IO_ARG] = c;
    oh_io_refill(a);
    CHECK(a->io[OH_IO_RESULT] == OH_OK);
  }
  size_t r = 0;
  CHECK_ST(oh_trim(a, &r), OH_OK);
  CHECK_EQ_SZ(spares_held(a), 0);
  CHECK_EQ_SZ(a->live, 0);
  CHECK_ST(oh_check(a), OH_OK);
  oh_arena_delete(a);
}

/* The io calls on a spare-holding arena: io_free of a spare is NOT_ALLOCATED,
 * io_free of a popped one frees it (and clears its tag), realloc of a popped
 * one takes it out of the scheme. */
static void spares_user_paths(int kind) {
  const oh_spare_table* t = oh_spare_table_get();
  oh_arena* a = make_arena_ex(kind, 16 * MiB, 16, 1, 0);
  CHECK(a != NULL);
  if (!a) return;
  unsigned c = 6; /* 96 bytes */
  size_t p1 = js_take(a, c), p2 = js_take(a, c), p3 = js_take(a, c);
  CHECK(p1 != SIZE_MAX && p2 != SIZE_MAX && p3 != SIZE_MAX);
  CHECK(a->sp.count[c] > 0);
  size_t sp = (size_t)a->sp.stack[t->base[c]];
  a->io[OH_IO_ARG] = (double)sp;
  oh_io_free(a);
  CHECK(a->io[OH_IO_RESULT] == OH_NOT_ALLOCATED);
  /* a popped block freed through the general path */
  a->io[OH_IO_ARG] = (double)p1;
  oh_io_free(a);
  CHECK(a->io[OH_IO_RESULT] == OH_OK);
  CHECK_EQ_SZ(*tag_at(a, p1), 0);
  CHECK_EQ_SZ(js_put(a, p1), 0); /* no longer in the scheme */
  CHECK_ST(oh_free(a, p1), OH_NOT_ALLOCATED);
  /* realloc moves it out of the scheme */
  fill(a, p2, 96, 5);
  size_t q;
  CHECK_ST(oh_realloc(a, p2, 5000, &q), OH_OK);
  CHECK(intact(a, q, 96, 5));
  if (q != p2) CHECK_EQ_SZ(*tag_at(a, p2), 0);
  CHECK_EQ_SZ(js_put(a, q), 0);
  /* realloc within the class, in place or not: still out of the scheme */
  size_t q3;
  CHECK_ST(oh_realloc(a, p3, 10, &q3), OH_OK);
  CHECK_EQ_SZ(js_put(a, q3), 0);
  CHECK_ST(oh_free(a, q3), OH_OK);
  CHECK_ST(oh_free(a, q), OH_OK);
  CHECK_ST(oh_check(a), OH_OK);
  check_stats(a, 0);
  oh_arena_delete(a);
}

/* Damage to the stacks (only lib/spares.ts and the core write them): oh_check
 * says CORRUPTED, and from then on every call refuses and no spare is left. */
static void spares_damaged(int kind, int how) {
  const oh_spare_table* t = oh_spare_table_get();
  oh_arena* a = make_arena_ex(kind, 16 * MiB, 16, 1, 0);
  CHECK(a != NULL);
  if (!a) return;
  unsigned c = 4;
  size_t user, popped;
  CHECK_ST(oh_alloc(a, 64, &user), OH_OK);
  popped = js_take(a, c);
  CHECK(popped != SIZE_MAX);
  CHECK(a->sp.count[c] >= 2);
  double* st = a->sp.stack + t->base[c];
  switch (how) {
    case 0: st[0] = (double)user; break;         /* a user block that never was a spare */
    case 1: st[0] = (double)popped; break;       /* a block the user holds */
    case 2: st[0] = st[0] + 0.5; break;          /* not an integer */
    case 3: st[0] = st[0] + 16; break;           /* interior */
    case 4: st[0] = -16; break;                  /* negative */
    case 5: st[0] = (double)a->capacity * 4; break; /* outside */
    case 6: st[0] = NAN; break;
    case 7: a->sp.count[c] = (int32_t)t->depth[c] + 1; break; /* count past the depth */
    case 8: a->sp.count[c] = -1; break;
    case 9: st[0] = st[1]; break;                /* one block twice */
    case 10: *tag_at(a, (size_t)st[0]) = (unsigned char)((c + 1) | OH_TAG_SPARE); break; /* wrong class tag */
    default: break;
  }
  int chk = oh_check(a);
  if (how == 9) {
    /* a duplicate entry passes oh_check when live covers the extra count */
    CHECK(chk == OH_CORRUPTED);
    if (chk != OH_CORRUPTED) {
      /* the give-back of stats finds it: the arena is then corrupted */
      oh_arena_stats s;
      CHECK_ST(oh_stats(a, &s), OH_OK);
      CHECK_EQ_SZ(s.corrupted, 1);
      chk = oh_check(a);
    }
  }
  CHECK_ST(chk, OH_CORRUPTED);
  CHECK_ST(oh_state(a), OH_CORRUPTED);
  size_t o = 5;
  CHECK_ST(oh_alloc(a, 10, &o), OH_CORRUPTED);
  CHECK_ST(oh_free(a, user), OH_CORRUPTED);
  CHECK_ST(oh_validate(a, user), OH_CORRUPTED);
  a->io[OH_IO_ARG] = c;
  oh_io_refill(a);
  CHECK(a->io[OH_IO_RESULT] == OH_CORRUPTED);
  /* spares dropped: every count 0, every tag clear */
  CHECK_EQ_SZ(spares_held(a), 0);
  CHECK(all_zero(a->sp.tags, a->sp.tags_len));
  CHECK_EQ_SZ(js_take(a, c), SIZE_MAX);
  oh_arena_stats s;
  CHECK_ST(oh_stats(a, &s), OH_OK);
  CHECK_EQ_SZ(s.corrupted, 1);
  CHECK(s.liveAllocations >= 0 && s.liveAllocations < 1e12);
  /* the user holds two blocks (user, popped); the dropped spares are still
   * counted in the core's live count */
  if (how == 0) {
    CHECK(s.liveAllocations == 2);
    if (s.liveAllocations != 2) fprintf(stderr, "    liveAllocations %.0f, the user holds 2\n", s.liveAllocations);
  }
  CHECK_ST(oh_reset(a), OH_CORRUPTED);
  oh_destroy(a);
  CHECK_ST(oh_state(a), OH_DESTROYED);
  oh_arena_delete(a);
}

static void spares_damaged_all(int kind) {
  for (int how = 0; how <= 10; how++) spares_damaged(kind, how);
}

/* What a stats call does with a count JavaScript left out of range (not a
 * stack entry the core can check): it must not report nonsense. */
static void spares_bad_count_stats(int kind) {
  oh_arena* a = make_arena_ex(kind, 16 * MiB, 16, 1, 0);
  CHECK(a != NULL);
  if (!a) return;
  size_t user;
  CHECK_ST(oh_alloc(a, 64, &user), OH_OK);
  a->io[OH_IO_ARG] = 4;
  oh_io_refill(a);
  a->sp.count[4] = -5;
  oh_arena_stats s;
  CHECK_ST(oh_stats(a, &s), OH_OK);
  CHECK(s.corrupted == 1 || s.liveAllocations == 1);
  if (!(s.corrupted == 1 || s.liveAllocations == 1))
    fprintf(stderr, "    stats after count[4] = -5: corrupted %d liveAllocations %.0f\n", s.corrupted,
            s.liveAllocations);
  CHECK_ST(oh_check(a), OH_CORRUPTED);
  oh_arena_delete(a);
}

/* ---- shared arenas ------------------------------------------------------------ */

typedef struct {
  oh_arena* a;
  unsigned seed;
  int iters;
  long errors;
  int first_error_line;
} thread_job;

#define JOB_ERROR(j)                                     \
  do {                                                   \
    if ((j)->errors++ == 0) (j)->first_error_line = __LINE__; \
  } while (0)

static void* thread_body(void* arg) {
  thread_job* j = (thread_job*)arg;
  oh_arena* a = j->a;
  test_rng r = {0x9e3779b97f4a7c15ULL * (j->seed + 1)};
  enum { K = 64 };
  size_t off[K], len[K];
  unsigned tagv[K];
  int n = 0;
  for (int it = 0; it < j->iters; it++) {
    unsigned op = (unsigned)test_rng_below(&r, 10);
    if (n < K && (op < 5 || n == 0)) {
      size_t l = test_rng_below(&r, 64) == 0 ? 1 + test_rng_below(&r, 300 * KiB) : 1 + test_rng_below(&r, 2000);
      size_t o;
      int st = op == 0 ? oh_calloc(a, l, &o) : op == 1 ? oh_memalign(a, 256, l, &o) : oh_alloc(a, l, &o);
      if (st == OH_OOM) continue;
      if (st != OH_OK || o + l > a->capacity) {
        JOB_ERROR(j);
        continue;
      }
      if (op == 0 && !all_zero(at(a, o), l)) JOB_ERROR(j);
      if (op == 1 && o % 256) JOB_ERROR(j);
      unsigned tv = (unsigned)test_rng_next(&r);
      fill(a, o, l, tv);
      off[n] = o;
      len[n] = l;
      tagv[n] = tv;
      n++;
    } else if (op < 7 || n == K) {
      int i = (int)test_rng_below(&r, (uint64_t)n);
      if (!intact(a, off[i], len[i], tagv[i])) JOB_ERROR(j);
      if (oh_free(a, off[i]) != OH_OK) JOB_ERROR(j);
      n--;
      off[i] = off[n];
      len[i] = len[n];
      tagv[i] = tagv[n];
    } else if (op == 7) {
      int i = (int)test_rng_below(&r, (uint64_t)n);
      size_t nl = 1 + test_rng_below(&r, 5000), q;
      int st = oh_realloc(a, off[i], nl, &q);
      if (st == OH_OOM) continue;
      if (st != OH_OK) {
        JOB_ERROR(j);
        continue;
      }
      size_t keep = nl < len[i] ? nl : len[i];
      if (!intact(a, q, keep, tagv[i])) JOB_ERROR(j);
      fill(a, q, nl, tagv[i]);
      off[i] = q;
      len[i] = nl;
    } else if (op == 8) {
      int i = (int)test_rng_below(&r, (uint64_t)n);
      size_t u = 0;
      if (oh_usable(a, off[i], &u) != OH_OK || u < len[i]) JOB_ERROR(j);
      if (oh_validate(a, off[i]) != OH_OK) JOB_ERROR(j);
      if (oh_free(a, off[i] + 1 + 7 * test_rng_below(&r, 2)) != OH_NOT_ALLOCATED) JOB_ERROR(j);
    } else {
      oh_arena_stats s;
      if (oh_stats(a, &s) != OH_OK || s.corrupted || s.inUse + s.free != s.committed) JOB_ERROR(j);
      if (test_rng_below(&r, 20) == 0) {
        size_t rel;
        if (oh_trim(a, &rel) != OH_OK) JOB_ERROR(j);
      }
    }
  }
  for (int i = 0; i < n; i++) {
    if (!intact(a, off[i], len[i], tagv[i])) JOB_ERROR(j);
    if (oh_free(a, off[i]) != OH_OK) JOB_ERROR(j);
  }
  return NULL;
}

/* Joins the started threads; none may have reported an error. */
static void join_all(pthread_t* th, thread_job* jobs, int started) {
  long errors = 0;
  for (int i = 0; i < started; i++) {
    pthread_join(th[i], NULL);
    errors += jobs[i].errors;
    if (jobs[i].errors) fprintf(stderr, "    thread %d: %ld errors, the first at line %d\n", i, jobs[i].errors, jobs[i].first_error_line);
  }
  CHECK_EQ_SZ(errors, 0);
}

static void shared_threads(int kind) {
  oh_arena* a = make_arena_ex(kind, 64 * MiB, 16, 0, 1);
  CHECK(a != NULL);
  if (!a) return;
  enum { T = 6 };
  pthread_t th[T];
  thread_job jobs[T];
  int started = 0;
  for (int i = 0; i < T; i++) {
    jobs[i].a = a;
    jobs[i].seed = (unsigned)(i + 17 * kind);
    jobs[i].iters = 8000;
    jobs[i].errors = 0;
    jobs[i].first_error_line = 0;
    if (pthread_create(&th[i], NULL, thread_body, &jobs[i]) != 0) break;
    started++;
  }
  CHECK_EQ_SZ(started, T);
  join_all(th, jobs, started);
  CHECK_ST(oh_check(a), OH_OK);
  CHECK_EQ_SZ(a->live, 0);
  check_stats(a, 0);
  CHECK(a->lock == NULL);
  oh_arena_delete(a);
}

/* Unshared arenas, one per thread, used concurrently: the port's
 * thread-local "current arena" keeps their hooks apart. */
static void* own_arena_body(void* arg) {
  thread_job* j = (thread_job*)arg;
  j->a = make_arena_ex((int)(j->seed % 2), 32 * MiB, 16, (int)(j->seed / 2 % 2), 0);
  if (!j->a) {
    JOB_ERROR(j);
    return NULL;
  }
  thread_body(j);
  if (oh_check(j->a) != OH_OK) JOB_ERROR(j);
  oh_arena_stats s;
  if (oh_stats(j->a, &s) != OH_OK || s.liveAllocations != 0) JOB_ERROR(j);
  oh_arena_delete(j->a);
  j->a = NULL;
  return NULL;
}

TEST(own_arena_per_thread) {
  enum { T = 4 };
  pthread_t th[T];
  thread_job jobs[T];
  int started = 0;
  for (int i = 0; i < T; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].seed = (unsigned)i;
    jobs[i].iters = 5000;
    if (pthread_create(&th[i], NULL, own_arena_body, &jobs[i]) != 0) break;
    started++;
  }
  CHECK_EQ_SZ(started, T);
  join_all(th, jobs, started);
}

/* ---- damaged heap metadata ------------------------------------------------------ */

#define WORD(a, off) (*(size_t*)((a)->base + (off)))

/* After damage was reported: everything refuses with CORRUPTED, stats say
 * so, destroy still works. */
static void expect_dead(oh_arena* a) {
  size_t o = 1, r = 1;
  CHECK_ST(oh_state(a), OH_CORRUPTED);
  CHECK_ST(oh_alloc(a, 10, &o), OH_CORRUPTED);
  CHECK_ST(oh_calloc(a, 10, &o), OH_CORRUPTED);
  CHECK_ST(oh_memalign(a, 64, 10, &o), OH_CORRUPTED);
  CHECK_ST(oh_free(a, 16), OH_CORRUPTED);
  CHECK_ST(oh_realloc(a, 16, 10, &o), OH_CORRUPTED);
  CHECK_ST(oh_usable(a, 16, &o), OH_CORRUPTED);
  CHECK_ST(oh_validate(a, 16), OH_CORRUPTED);
  CHECK_ST(oh_trim(a, &r), OH_CORRUPTED);
  CHECK_ST(oh_check(a), OH_CORRUPTED);
  CHECK_ST(oh_reset(a), OH_CORRUPTED);
  CHECK_EQ_SZ(o, 1);
  a->io[OH_IO_ARG] = 10;
  oh_io_alloc(a);
  CHECK(a->io[OH_IO_RESULT] == OH_CORRUPTED);
  oh_arena_stats s;
  CHECK_ST(oh_stats(a, &s), OH_OK);
  CHECK_EQ_SZ(s.corrupted, 1);
  CHECK(s.largestFree == 0);
  CHECK_EQ_SZ(oh_largest_free(a), 0);
  oh_destroy(a);
  CHECK_ST(oh_state(a), OH_DESTROYED);
  CHECK_ST(oh_alloc(a, 10, &o), OH_DESTROYED);
  oh_arena_delete(a);
}

/* The damage was found by the call that returned `st`, or else by oh_check;
 * the arena then refuses everything. */
static void expect_found(oh_arena* a, int st) {
  if (st == OH_OK) st = oh_check(a);
  CHECK_ST(st, OH_CORRUPTED);
  expect_dead(a);
}

/* Runs `ops` allocator calls; returns the first non-OK, non-OOM status, or
 * CHURN_OUTSIDE (a block not inside the region), or CHURN_TWICE (a block
 * handed out while it was still live), then OH_CORRUPTED when the final
 * oh_check finds damage. */
enum { CHURN_OUTSIDE = 100, CHURN_TWICE = 101 };
static int churn(oh_arena* a, int ops, test_rng* r) {
  size_t live[64];
  int n = 0;
  for (int i = 0; i < ops; i++) {
    size_t o;
    int st;
    if (n < 64 && test_rng_below(r, 3) != 0) {
      size_t len = 1 + test_rng_below(r, test_rng_below(r, 4) == 0 ? 5000 : 200);
      st = oh_alloc(a, len, &o);
      if (st == OH_OK) {
        if (o >= a->capacity || o + len > a->capacity) return CHURN_OUTSIDE;
        for (int j = 0; j < n; j++)
          if (live[j] == o) return CHURN_TWICE;
        memset(at(a, o), 0x33, len);
        live[n++] = o;
      }
    } else if (n > 0) {
      int k = (int)test_rng_below(r, (uint64_t)n);
      st = oh_free(a, live[k]);
      live[k] = live[--n];
    } else {
      continue;
    }
    if (st != OH_OK && st != OH_OOM) return st;
  }
  if (oh_check(a) != OH_OK) return OH_CORRUPTED;
  return OH_OK;
}

/* dlmalloc chunk words (FOOTERS = 0): mem - 16 prev_foot, mem - 8 head, mem
 * fd, mem + 8 bk. */
static oh_arena* dl_arena(void) { return make_arena(OH_KIND_DLMALLOC, 4 * MiB); }

TEST(damage_dl_free_fd) {
  oh_arena* a = dl_arena();
  if (!a) return;
  size_t x, g;
  CHECK_ST(oh_alloc(a, 40, &x), OH_OK);
  CHECK_ST(oh_alloc(a, 16, &g), OH_OK);
  CHECK_ST(oh_free(a, x), OH_OK);
  WORD(a, x) = 0x4141414141414141ULL; /* fd of the freed chunk: a use after free */
  int st = OH_OK;
  for (int i = 0; i < 3 && st == OH_OK; i++) {
    size_t o;
    st = oh_alloc(a, 40, &o);
  }
  expect_found(a, st);
}

TEST(damage_dl_free_bk_unlink) {
  oh_arena* a = dl_arena();
  if (!a) return;
  size_t x, y, g;
  CHECK_ST(oh_alloc(a, 40, &x), OH_OK);
  CHECK_ST(oh_alloc(a, 40, &y), OH_OK);
  CHECK_ST(oh_alloc(a, 16, &g), OH_OK);
  CHECK_ST(oh_free(a, x), OH_OK);
  WORD(a, x + 8) = 0x4242424242424242ULL;
  CHECK_ST(oh_free(a, y), OH_CORRUPTED); /* coalescing with x unlinks it */
  expect_dead(a);
}

TEST(damage_dl_overflow_into_next_head) {
  oh_arena* a = dl_arena();
  if (!a) return;
  size_t x, y;
  CHECK_ST(oh_alloc(a, 100, &x), OH_OK);
  CHECK_ST(oh_alloc(a, 100, &y), OH_OK);
  CHECK_EQ_SZ(y, x + 112);
  memset(at(a, x), 0x41, 120); /* overwrites y's prev_foot and head */
  int st = oh_free(a, y);
  expect_found(a, st);
}

TEST(damage_dl_prev_foot) {
  oh_arena* a = dl_arena();
  if (!a) return;
  size_t x, y, g;
  CHECK_ST(oh_alloc(a, 40, &x), OH_OK);
  CHECK_ST(oh_alloc(a, 40, &y), OH_OK);
  CHECK_ST(oh_alloc(a, 16, &g), OH_OK);
  CHECK_ST(oh_free(a, x), OH_OK);
  WORD(a, y - 16) = 0x4343434343434343ULL; /* prev_foot: backward merge would leave the heap */
  int st = oh_free(a, y);
  expect_found(a, st);
}

/* The size word of a free chunk's neighbour, just before it: found by check. */
TEST(damage_dl_check_free_size) {
  oh_arena* a = dl_arena();
  if (!a) return;
  size_t x, g;
  CHECK_ST(oh_alloc(a, 40, &x), OH_OK);
  CHECK_ST(oh_alloc(a, 16, &g), OH_OK);
  CHECK_ST(oh_free(a, x), OH_OK);
  CHECK_ST(oh_check(a), OH_OK);
  WORD(a, x - 8) += 16; /* claims 64 bytes in a 48-byte bin */
  CHECK_ST(oh_check(a), OH_CORRUPTED);
  expect_dead(a);
}

TEST(damage_dl_inuse_head_huge) {
  oh_arena* a = dl_arena();
  if (!a) return;
  size_t x, g;
  CHECK_ST(oh_alloc(a, 100, &x), OH_OK);
  CHECK_ST(oh_alloc(a, 100, &g), OH_OK);
  WORD(a, x - 8) = 0x4141414141414141ULL | 3;
  int st = oh_free(a, x);
  expect_found(a, st);
}

/* A large (tree-bin) chunk's links and children. */
TEST(damage_dl_tree) {
  oh_arena* a = dl_arena();
  if (!a) return;
  size_t x, g, y, g2;
  CHECK_ST(oh_alloc(a, 1000, &x), OH_OK);
  CHECK_ST(oh_alloc(a, 16, &g), OH_OK);
  CHECK_ST(oh_alloc(a, 900, &y), OH_OK);
  CHECK_ST(oh_alloc(a, 16, &g2), OH_OK);
  CHECK_ST(oh_free(a, x), OH_OK);
  for (int w = 0; w < 4; w++) WORD(a, x + 8 * (size_t)w) = 0x4444444444444444ULL;
  int st = oh_free(a, y);
  size_t o;
  if (st == OH_OK) st = oh_alloc(a, 800, &o);
  if (st == OH_OK) st = oh_alloc(a, 950, &o);
  expect_found(a, st);
}

/* Damage to the heap of a fast arena: spares are dropped with everything else. */
TEST(damage_dl_with_spares) {
  oh_arena* a = make_arena_ex(OH_KIND_DLMALLOC, 4 * MiB, 16, 1, 0);
  if (!a) return;
  size_t p = js_take(a, 3), q = js_take(a, 3);
  CHECK(p != SIZE_MAX && q != SIZE_MAX);
  size_t x, y, g;
  CHECK_ST(oh_alloc(a, 40, &x), OH_OK);
  CHECK_ST(oh_alloc(a, 40, &y), OH_OK);
  CHECK_ST(oh_alloc(a, 16, &g), OH_OK);
  CHECK_ST(oh_free(a, x), OH_OK);
  WORD(a, x + 8) = 0x4242424242424242ULL;
  CHECK_ST(oh_free(a, y), OH_CORRUPTED);
  CHECK_EQ_SZ(spares_held(a), 0);
  CHECK(all_zero(a->sp.tags, a->sp.tags_len));
  CHECK_EQ_SZ(js_put(a, p), 0);
  CHECK_EQ_SZ(js_take(a, 3), SIZE_MAX);
  expect_dead(a);
}

/* Buddy: a freed block's list links overwritten (use after free). */
TEST(damage_buddy_free_links) {
  oh_arena* a = make_arena(OH_KIND_BUDDY, 4 * MiB);
  if (!a) return;
  size_t x[40];
  for (int i = 0; i < 40; i++) CHECK_ST(oh_alloc(a, 1000, &x[i]), OH_OK);
  for (int i = 0; i < 40; i += 2) CHECK_ST(oh_free(a, x[i]), OH_OK);
  size_t r;
  CHECK_ST(oh_trim(a, &r), OH_OK); /* flush the lazy cache: the blocks are on free lists */
  for (int i = 0; i < 40; i += 2) memset(at(a, x[i]), 0x47, 32);
  test_rng rng = {77};
  int st = churn(a, 2000, &rng);
  CHECK_ST(st, OH_CORRUPTED);
  expect_dead(a);
}

/* Random scribbles over dlmalloc heap memory outside live blocks' bytes: the
 * arena reports CORRUPTED or goes on, never crashes, and never hands out a
 * block outside its region. Every seed in a fresh arena. */
static void scribble_run(int kind, uint64_t seed, int* corrupted_seen, int* misclassified) {
  oh_arena* a = make_arena(kind, 2 * MiB);
  if (!a) return;
  test_rng r = {seed};
  enum { N = 200 };
  size_t off[N], freed[N];
  int n = 0, nf = 0;
  for (int i = 0; i < N; i++) {
    size_t len = 1 + test_rng_below(&r, test_rng_below(&r, 5) == 0 ? 3000 : 120);
    if (oh_alloc(a, len, &off[n]) == OH_OK) n++;
  }
  for (int i = 0; i < n; i += 1 + (int)test_rng_below(&r, 3))
    if (oh_free(a, off[i]) == OH_OK) freed[nf++] = off[i];
  /* damage: a few words, either anywhere in the used part of the region
   * (the heap is at its bottom; mostly live blocks' bytes, which are the
   * user's to write) or among the header words and links of a freed block */
  oh_arena_stats s0 = stats_of(a);
  size_t span = (size_t)s0.committed;
  if (span < 4096) span = 4096;
  if (span > a->capacity) span = a->capacity;
  int words = 1 + (int)test_rng_below(&r, 4);
  for (int w = 0; w < words; w++) {
    size_t pos;
    if (test_rng_below(&r, 3) == 0 || nf == 0) {
      pos = test_rng_below(&r, span / 8) * 8;
    } else {
      size_t fo = freed[test_rng_below(&r, (uint64_t)nf)];
      pos = fo + 8 * test_rng_below(&r, 6);
      pos = pos >= 16 ? pos - 16 : pos;
      if (pos + 8 > a->capacity) pos = fo;
    }
    size_t v;
    switch (test_rng_below(&r, 4)) {
      case 0: v = (size_t)test_rng_next(&r); break;
      case 1: v = WORD(a, pos) ^ ((size_t)1 << test_rng_below(&r, 64)); break;
      case 2: v = (uintptr_t)(a->base + test_rng_below(&r, a->capacity)); break;
      default: v = WORD(a, pos) + 16 * (test_rng_below(&r, 9) - 4); break;
    }
    WORD(a, pos) = v;
  }
  int st = churn(a, 400, &r);
  if (st == CHURN_TWICE || st == OH_NOT_ALLOCATED || st == OH_FOREIGN) {
    /* Damage the operations did not notice surfaced as a block handed out
     * twice, or a live block's free refused (seen with dlmalloc, e.g. a size
     * word moved by 16): the full check must find it. */
    (*misclassified)++;
    st = oh_check(a);
  }
  CHECK(st == OH_OK || st == OH_CORRUPTED);
  if (st != OH_OK && st != OH_CORRUPTED)
    fprintf(stderr, "    %s seed 0x%llx: churn -> %d\n", kind_name(kind), (unsigned long long)seed, st);
  if (st == OH_CORRUPTED) {
    (*corrupted_seen)++;
    CHECK_ST(oh_state(a), OH_CORRUPTED);
  }
  oh_arena_delete(a);
}

/* A free tree chunk's child[0] set to (size_t)-16 (a user writing -16 into
 * freed memory): the next small request walks the tree (tmalloc_small) and
 * reports CORRUPTED. The link is range-checked before anything is computed
 * from it (p + 16 would wrap to NULL, which the sanitizers report). */
TEST(damage_dl_wrapping_pointer) {
  oh_arena* a = dl_arena();
  if (!a) return;
  size_t x, g, o;
  CHECK_ST(oh_alloc(a, 1000, &x), OH_OK);
  CHECK_ST(oh_alloc(a, 16, &g), OH_OK);
  CHECK_ST(oh_free(a, x), OH_OK);
  WORD(a, x + 16) = (size_t)0 - 16; /* child[0] of the free tree chunk */
  CHECK_ST(oh_alloc(a, 100, &o), OH_CORRUPTED);
  expect_dead(a);
}

/* OFFHEAP_SCRIBBLES=n: how many seeded runs (default 1500). */
static uint64_t scribble_runs(void) {
  const char* e = getenv("OFFHEAP_SCRIBBLES");
  return e ? strtoull(e, NULL, 0) : 1500;
}

TEST(damage_scribbles_dl) {
  int seen = 0, mis = 0;
  uint64_t runs = scribble_runs();
  for (uint64_t s = 1; s <= runs; s++) scribble_run(OH_KIND_DLMALLOC, s * 0x9E3779B97F4A7C15ULL, &seen, &mis);
  CHECK(seen > 0);
  if (getenv("OFFHEAP_TEST_VERBOSE")) fprintf(stderr, "    %d of %llu runs found damage (%d first seen as misuse)\n", seen, (unsigned long long)runs, mis);
}

TEST(damage_scribbles_buddy) {
  int seen = 0, mis = 0;
  uint64_t runs = scribble_runs();
  for (uint64_t s = 1; s <= runs; s++) scribble_run(OH_KIND_BUDDY, s * 0xD1B54A32D192ED03ULL, &seen, &mis);
  CHECK(seen > 0);
  if (getenv("OFFHEAP_TEST_VERBOSE")) fprintf(stderr, "    %d of %llu runs found damage (%d first seen as misuse)\n", seen, (unsigned long long)runs, mis);
}

/* ---- usable capacity (acceptance goals) ---------------------------------------- */

/* Resident set size in KiB (Linux), or -1. */
static long rss_kib(void) {
  FILE* f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  long size = 0, res = -1;
  if (fscanf(f, "%ld %ld", &size, &res) != 2) res = -1;
  fclose(f);
  return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* 1 GiB dlmalloc arena, one 100-byte block live: one 900 MiB block fits, and
 * its pages go back when it is freed. */
static void capacity_900(int spares) {
  oh_arena* a = make_arena_ex(OH_KIND_DLMALLOC, GiB, 16, spares, 0);
  CHECK(a != NULL);
  if (!a) return;
  size_t small;
  CHECK_ST(oh_alloc(a, 100, &small), OH_OK);
  memset(at(a, small), 0x61, 100);
  if (spares) {
    for (unsigned c = 1; c <= OH_SPARE_CLASSES; c += 3) {
      size_t p = js_take(a, c);
      CHECK(p != SIZE_MAX);
      CHECK_EQ_SZ(js_put(a, p), 1);
    }
  }
  oh_arena_stats s0 = stats_of(a);
  CHECK(s0.largestFree >= 900.0 * MiB);
  size_t big;
  const size_t want = 900 * MiB;
  CHECK_ST(oh_alloc(a, want, &big), OH_OK);
  CHECK(big + want <= a->capacity);
  CHECK(big >= small + 100 || big + want <= small);
  /* touch one byte per 64 KiB (about 56 MiB of pages) and the last */
  for (size_t i = 0; i < want; i += 64 * KiB) at(a, big)[i] = 0x5C;
  at(a, big)[want - 1] = 0x5D;
  CHECK(at(a, small)[99] == 0x61);
  oh_arena_stats s1 = stats_of(a);
  CHECK(s1.committed >= (double)want);
  CHECK(s1.inUse >= (double)want);
  CHECK(s1.inUse + s1.free == s1.committed);
  CHECK(s1.detail.dl.directMappedBytes >= (double)want);
  CHECK(s0.largestFree >= (double)want);
  CHECK_ST(oh_check(a), OH_OK);
  long rss1 = rss_kib();
  CHECK_ST(oh_free(a, big), OH_OK);
  long rss2 = rss_kib();
  /* the OS got the pages back (where /proc tells) */
  if (rss1 > 0 && rss2 > 0) CHECK(rss1 - rss2 >= 40 * 1024);
  oh_arena_stats s2 = stats_of(a);
  CHECK(s2.committed < 64.0 * MiB);
  CHECK(s2.committed + want <= s1.committed);
  CHECK(s2.peakCommitted >= (double)want);
  CHECK(s2.largestFree >= (double)want);
  /* the pages went back: they read as zeros again */
  CHECK(at(a, big)[0] == 0 && at(a, big)[want - 1] == 0);
  /* and it fits again, twice over (alloc, free, calloc) */
  CHECK_ST(oh_calloc(a, want, &big), OH_OK);
  CHECK(at(a, big)[MiB] == 0);
  CHECK_ST(oh_free(a, big), OH_OK);
  check_stats(a, 1);
  CHECK_ST(oh_check(a), OH_OK);
  oh_arena_delete(a);
}

TEST(capacity_900_of_1g) { capacity_900(0); }
TEST(capacity_900_of_1g_spares) { capacity_900(1); }

/* 10,000 random blocks totalling about 100 MiB, every other one freed: one
 * 800 MiB block still fits. */
TEST(capacity_800_after_fragmentation) {
  oh_arena* a = make_arena(OH_KIND_DLMALLOC, GiB);
  CHECK(a != NULL);
  if (!a) return;
  enum { N = 10000 };
  static size_t off[N], len[N];
  test_rng r = {0x5eed0800ULL};
  size_t total = 0;
  for (int i = 0; i < N; i++) {
    len[i] = 1 + test_rng_below(&r, 20 * KiB);
    int st = oh_alloc(a, len[i], &off[i]);
    CHECK_ST(st, OH_OK);
    if (st != OH_OK) {
      oh_arena_delete(a);
      return;
    }
    total += len[i];
    *at(a, off[i]) = (unsigned char)i;
    at(a, off[i])[len[i] - 1] = (unsigned char)(i >> 3);
  }
  CHECK(total > 90 * MiB && total < 110 * MiB);
  for (int i = 0; i < N; i += 2) CHECK_ST(oh_free(a, off[i]), OH_OK);
  oh_arena_stats s0 = stats_of(a);
  CHECK_EQ_SZ((size_t)s0.liveAllocations, N / 2);
  const size_t want = 800 * MiB;
  CHECK(s0.largestFree >= (double)want);
  size_t big;
  CHECK_ST(oh_alloc(a, want, &big), OH_OK);
  CHECK(big + want <= a->capacity);
  at(a, big)[0] = 1;
  at(a, big)[want - 1] = 2;
  for (int i = 1; i < N; i += 2) {
    CHECK(*at(a, off[i]) == (unsigned char)i);
    CHECK(at(a, off[i])[len[i] - 1] == (unsigned char)(i >> 3));
    CHECK(off[i] + len[i] <= big || off[i] >= big + want);
  }
  CHECK_ST(oh_check(a), OH_OK);
  check_stats(a, N / 2 + 1);
  CHECK_ST(oh_free(a, big), OH_OK);
  for (int i = 1; i < N; i += 2) CHECK_ST(oh_free(a, off[i]), OH_OK);
  check_stats(a, 0);
  /* with everything free, nearly the whole capacity fits */
  CHECK_ST(oh_alloc(a, GiB - MiB, &big), OH_OK);
  CHECK_ST(oh_free(a, big), OH_OK);
  CHECK_ST(oh_check(a), OH_OK);
  oh_arena_delete(a);
}

/* ---- the list --------------------------------------------------------------------- */

#define BOTH(fn)                                  \
  TEST(fn##_dl) { fn(OH_KIND_DLMALLOC); }         \
  TEST(fn##_buddy) { fn(OH_KIND_BUDDY); }

BOTH(base_alignment)
BOTH(alloc_basic)
BOTH(calloc_zeroed)
BOTH(memalign_absolute)
BOTH(realloc_contents)
BOTH(realloc_oom_keeps_old)
BOTH(reset_frees_all)
BOTH(destroy_refuses)
BOTH(trim_releases)
BOTH(stats_invariants)
BOTH(mailbox)
BOTH(spares_flush_half)
BOTH(spares_give_back_on_oom)
BOTH(spares_trim)
BOTH(spares_user_paths)
BOTH(spares_damaged_all)
BOTH(spares_bad_count_stats)
BOTH(shared_threads)

static void bad_offsets_plain(int kind) { bad_offsets(kind, 0); }
static void bad_offsets_spares(int kind) { bad_offsets(kind, 1); }
BOTH(bad_offsets_plain)
BOTH(bad_offsets_spares)
TEST(spares_refill_dl) { spares_refill(OH_KIND_DLMALLOC, 16); }
TEST(spares_refill_buddy16) { spares_refill(OH_KIND_BUDDY, 16); }
TEST(spares_refill_buddy64) { spares_refill(OH_KIND_BUDDY, 64); }
TEST(spares_refill_grows_dl) { spares_refill_grows(OH_KIND_DLMALLOC); }
TEST(spares_refill_grows_buddy) { spares_refill_grows(OH_KIND_BUDDY); }
TEST(spares_js_cycle_dl) { spares_js_cycle(OH_KIND_DLMALLOC, 16); }
TEST(spares_js_cycle_buddy16) { spares_js_cycle(OH_KIND_BUDDY, 16); }
TEST(spares_js_cycle_buddy256) { spares_js_cycle(OH_KIND_BUDDY, 256); }

/* OFFHEAP_TEST_VERBOSE=1 prints each test's time. */
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
#define TIMED(run)                                                              \
  do {                                                                          \
    double t0_ = now_s();                                                       \
    run;                                                                        \
    if (getenv("OFFHEAP_TEST_VERBOSE")) fprintf(stderr, "    %-40s %.3f s\n", #run, now_s() - t0_); \
  } while (0)

int main(void) {
  TIMED(RUN(create_invalid));
  TIMED(RUN(base_alignment_dl));
  TIMED(RUN(base_alignment_buddy));
  TIMED(RUN(alloc_basic_dl));
  TIMED(RUN(alloc_basic_buddy));
  TIMED(RUN(calloc_zeroed_dl));
  TIMED(RUN(calloc_zeroed_buddy));
  TIMED(RUN(memalign_absolute_dl));
  TIMED(RUN(memalign_absolute_buddy));
  TIMED(RUN(realloc_contents_dl));
  TIMED(RUN(realloc_contents_buddy));
  TIMED(RUN(realloc_oom_keeps_old_dl));
  TIMED(RUN(realloc_oom_keeps_old_buddy));
  TIMED(RUN(bad_offsets_plain_dl));
  TIMED(RUN(bad_offsets_plain_buddy));
  TIMED(RUN(bad_offsets_spares_dl));
  TIMED(RUN(bad_offsets_spares_buddy));
  TIMED(RUN(reset_frees_all_dl));
  TIMED(RUN(reset_frees_all_buddy));
  TIMED(RUN(destroy_refuses_dl));
  TIMED(RUN(destroy_refuses_buddy));
  TIMED(RUN(trim_releases_dl));
  TIMED(RUN(trim_releases_buddy));
  TIMED(RUN(stats_invariants_dl));
  TIMED(RUN(stats_invariants_buddy));
  TIMED(RUN(largest_free_exact_dl));
  TIMED(RUN(largest_free_exact_buddy));
  TIMED(RUN(largest_free_call_buddy_cache));
  TIMED(RUN(mailbox_dl));
  TIMED(RUN(mailbox_buddy));
  TIMED(RUN(spare_table));
  TIMED(RUN(spares_refill_dl));
  TIMED(RUN(spares_refill_buddy16));
  TIMED(RUN(spares_refill_buddy64));
  TIMED(RUN(spares_refill_grows_dl));
  TIMED(RUN(spares_refill_grows_buddy));
  TIMED(RUN(spares_js_cycle_dl));
  TIMED(RUN(spares_js_cycle_buddy16));
  TIMED(RUN(spares_js_cycle_buddy256));
  TIMED(RUN(spares_flush_half_dl));
  TIMED(RUN(spares_flush_half_buddy));
  TIMED(RUN(spares_give_back_on_oom_dl));
  TIMED(RUN(spares_give_back_on_oom_buddy));
  TIMED(RUN(spares_trim_dl));
  TIMED(RUN(spares_trim_buddy));
  TIMED(RUN(spares_user_paths_dl));
  TIMED(RUN(spares_user_paths_buddy));
  TIMED(RUN(spares_damaged_all_dl));
  TIMED(RUN(spares_damaged_all_buddy));
  TIMED(RUN(spares_bad_count_stats_dl));
  TIMED(RUN(spares_bad_count_stats_buddy));
  TIMED(RUN_FORKED(shared_threads_dl));
  TIMED(RUN_FORKED(shared_threads_buddy));
  TIMED(RUN_FORKED(own_arena_per_thread));
  TIMED(RUN_FORKED(damage_dl_free_fd));
  TIMED(RUN_FORKED(damage_dl_free_bk_unlink));
  TIMED(RUN_FORKED(damage_dl_overflow_into_next_head));
  TIMED(RUN_FORKED(damage_dl_prev_foot));
  TIMED(RUN_FORKED(damage_dl_check_free_size));
  TIMED(RUN_FORKED(damage_dl_inuse_head_huge));
  TIMED(RUN_FORKED(damage_dl_tree));
  TIMED(RUN_FORKED(damage_dl_with_spares));
  TIMED(RUN_FORKED(damage_buddy_free_links));
  TIMED(RUN_FORKED(damage_dl_wrapping_pointer));
  TIMED(RUN_FORKED(damage_scribbles_dl));
  TIMED(RUN_FORKED(damage_scribbles_buddy));
  TIMED(RUN(capacity_900_of_1g));
  TIMED(RUN(capacity_900_of_1g_spares));
  TIMED(RUN(capacity_800_after_fragmentation));
  return test_summary("arena_core");
}
