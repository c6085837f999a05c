/*
 * offheap arena core — oh_reset in time of what was used since the last one
 * (arena.h): after a reset the arena is a fresh one to every entry point
 * (statistics, check, what fits), for both allocators, with and without
 * spares; up to `retain` bytes of written pages stay committed and are known
 * not to be zero (calloc over them returns zeros); committed and resident
 * memory after a reset is at most `retain` plus metadata; and the work a
 * reset does (oh_reset_work, counted by the core) follows the usage, not the
 * capacity. Nothing here measures time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define TEST_FORK_TIMEOUT_S 120
#include "../../csrc/addon/core/arena.h"
#include "../../csrc/addon/core/internal.h"
#include "testhelper.h"
#include "arena_fixture.h"

static oh_arena* make(int kind, size_t capacity, int spares, size_t retain) {
  return fixture_arena(kind, capacity, 16, spares, 0, retain);
}

static unsigned char* at(oh_arena* a, size_t off) { return a->base + off; }

static int all_bytes(const unsigned char* p, size_t n, unsigned char v) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != v) return 0;
  return 1;
}

static oh_arena_stats stats_of(oh_arena* a) {
  oh_arena_stats s;
  CHECK_ST(oh_stats(a, &s), OH_OK);
  return s;
}

/* Resident pages of [p, p + n) (mincore). */
static size_t resident(const void* p, size_t n) {
  size_t pages = n / 4096;
  unsigned char* v = (unsigned char*)malloc(pages);
  if (!v || mincore((void*)p, n, v) != 0) {
    free(v);
    return (size_t)-1;
  }
  size_t r = 0;
  for (size_t i = 0; i < pages; i++) r += v[i] & 1;
  free(v);
  return r;
}

/* ---- usage patterns ---------------------------------------------------------- */

enum { P_NONE, P_SMALL, P_MIXED, P_CHURN, P_LARGE, P_SPARES, P_COUNT };
static const char* pattern_name[P_COUNT] = {"none", "small", "mixed", "churn", "large", "spares"};

/* Uses the arena in pattern p, writing 0xAA over every byte it is given. */
static void use(oh_arena* a, int p, unsigned seed) {
  size_t off[512];
  size_t n = 0;
  switch (p) {
    case P_NONE: break;
    case P_SMALL:
      for (int i = 0; i < 200; i++)
        if (oh_alloc(a, 16 + (size_t)(i * 37 + seed) % 500, &off[n]) == OH_OK) n++;
      break;
    case P_MIXED:
      for (int i = 0; i < 120; i++)
        if (oh_alloc(a, 1 + ((size_t)(i * 7919 + seed) % 300000), &off[n]) == OH_OK) n++;
      break;
    case P_CHURN:
      for (int i = 0; i < 400; i++) {
        size_t o;
        if (oh_alloc(a, 16 + (size_t)(i * 131 + seed) % 4000, &o) != OH_OK) continue;
        memset(at(a, o), 0xAA, 16);
        if (i % 3) oh_free(a, o);
        else if (n < 512) off[n++] = o;
      }
      break;
    case P_LARGE:
      if (oh_alloc(a, 3 * MiB, &off[n]) == OH_OK) n++;
      if (oh_alloc(a, 600 * KiB, &off[n]) == OH_OK) n++;
      if (oh_alloc(a, 100, &off[n]) == OH_OK) n++;
      break;
    case P_SPARES:
      if (a->sp.tags) {
        for (unsigned c = 1; c <= 30; c++) {
          size_t o = js_take(a, c);
          if (o != SIZE_MAX) memset(at(a, o), 0xAA, 16);
          if (o != SIZE_MAX && c % 2) js_put(a, o);
        }
      }
      for (int i = 0; i < 40; i++)
        if (oh_alloc(a, 64 * (size_t)(i + 1), &off[n]) == OH_OK) n++;
      break;
  }
  for (size_t i = 0; i < n; i++) {
    size_t u = 0;
    if (oh_usable(a, off[i], &u) == OH_OK) memset(at(a, off[i]), 0xAA, u);
  }
}

/* The statistics a fresh arena and a reset one must agree on: everything
 * except what zero tracking says about retained pages and the peak. */
static void same_as_fresh(oh_arena* a, oh_arena* fresh) {
  oh_arena_stats s = stats_of(a), f = stats_of(fresh);
  CHECK(s.liveAllocations == 0);
  CHECK(s.inUse == f.inUse);
  CHECK(s.largestFree == f.largestFree);
  CHECK(s.capacity == f.capacity);
  CHECK(s.corrupted == 0);
  if (a->kind == OH_KIND_DLMALLOC) {
    /* committed and free: the fresh arena's, and the retained pages */
    double retained = f.detail.dl.pagesKnownZero - s.detail.dl.pagesKnownZero;
    CHECK(s.committed == f.committed + retained);
    CHECK(s.free == f.free + retained);
    CHECK(s.largestFreeCommitted == f.largestFreeCommitted);
    CHECK(s.detail.dl.heapBytes == f.detail.dl.heapBytes);
    CHECK(s.detail.dl.freeChunks == f.detail.dl.freeChunks);
    CHECK(s.detail.dl.pagesUsed == f.detail.dl.pagesUsed);
    CHECK(s.detail.dl.pagesFree == f.detail.dl.pagesFree);
    CHECK(s.detail.dl.pagesFreeRuns == f.detail.dl.pagesFreeRuns);
    CHECK(s.detail.dl.pagesLargestFree == f.detail.dl.pagesLargestFree);
    /* retained pages are exactly the ones not known zero */
    CHECK(f.detail.dl.pagesKnownZero - s.detail.dl.pagesKnownZero <= (double)a->retain);
  } else {
    CHECK(s.detail.buddy.liveBlocks == 0);
    CHECK(s.detail.buddy.freeBlockBytes == f.detail.buddy.freeBlockBytes);
    CHECK(s.detail.buddy.cachedBytes == 0);
    CHECK(s.detail.buddy.peakInUse == f.detail.buddy.peakInUse);
    CHECK(s.detail.buddy.fragmentation == f.detail.buddy.fragmentation);
    for (int k = 0; k < OH_MAX_ORDERS; k++)
      CHECK(s.detail.buddy.freeBlocksPerOrder[k] == f.detail.buddy.freeBlocksPerOrder[k]);
    /* committed: the retained pages, what the same spares carved commit in
     * a fresh arena, and the root's links page at most */
    CHECK(s.committed <= (double)a->retain + f.committed + 4096 * 2);
  }
  CHECK_ST(oh_check(a), OH_OK);
}

/* Every power-of-two size up to the largest, then the largest itself, fits
 * and frees; calloc'd memory reads as zeros everywhere. */
static void fits_everything(oh_arena* a) {
  size_t largest = oh_largest_free(a);
  for (size_t n = 16; n <= largest; n *= 2) {
    size_t o;
    CHECK_ST(oh_calloc(a, n, &o), OH_OK);
    CHECK(all_bytes(at(a, o), n < 65536 ? n : 65536, 0));
    CHECK_ST(oh_free(a, o), OH_OK);
  }
  size_t o;
  CHECK_ST(oh_alloc(a, largest, &o), OH_OK);
  CHECK_ST(oh_free(a, o), OH_OK);
  CHECK_ST(oh_check(a), OH_OK);
}

/* A reset leaves the arena fresh, then carves again the spares its classes'
 * demand asks for (within `retain`): the same as a fresh arena given those
 * spares. Resets `a` and checks that. */
static void reset_and_compare(oh_arena* a, int kind, int spares, int pattern) {
  uint32_t demand[OH_SPARE_CLASSES + 1], want[OH_SPARE_CLASSES + 1];
  oh_spares_demand(a, demand, want);
  CHECK_ST(oh_reset(a), OH_OK);
  if (a->last_reset.full) fprintf(stderr, "    %s: full reset\n", pattern_name[pattern]);
  CHECK_EQ_SZ(a->last_reset.full, 0);
  CHECK_EQ_SZ(a->live, oh_spares_held(a));
  /* (stats, below, give every spare back first) */
  if (spares) {
    for (unsigned c = 1; c <= OH_SPARE_CLASSES; c++) {
      CHECK((uint32_t)a->sp.count[c] <= want[c]);
      CHECK_EQ_SZ(a->sp.demand[c], demand[c]);
    }
    /* the period took spares: the next one finds them on the stacks */
    if (pattern == P_SPARES) CHECK(oh_spares_held(a) > 0);
  } else {
    CHECK_EQ_SZ(a->live, 0);
  }
  oh_arena* warmed = make(kind, 32 * MiB, spares, 2 * MiB);
  CHECK(warmed != NULL);
  if (!warmed) return;
  /* a fresh arena whose period took the same: its reset carves them */
  for (unsigned c = 1; spares && c <= OH_SPARE_CLASSES; c++) warmed->sp.supplied[c] = want[c];
  CHECK_ST(oh_reset(warmed), OH_OK);
  for (unsigned c = 1; spares && c <= OH_SPARE_CLASSES; c++) CHECK_EQ_SZ(a->sp.count[c], warmed->sp.count[c]);
  same_as_fresh(a, warmed);
  oh_arena_delete(warmed);
}

static void reset_is_fresh(int kind) {
  for (int spares = 0; spares < 2; spares++)
    for (int p = 0; p < P_COUNT; p++) {
      oh_arena* a = make(kind, 32 * MiB, spares, 2 * MiB);
      oh_arena* fresh = make(kind, 32 * MiB, spares, 2 * MiB);
      CHECK(a && fresh);
      if (!a || !fresh) continue;
      for (unsigned round = 0; round < 3; round++) {
        use(a, p, round);
        reset_and_compare(a, kind, spares, p);
      }
      fits_everything(a);
      reset_and_compare(a, kind, spares, p);
      /* with no demand left, a reset arena is a fresh one */
      for (unsigned c = 1; c <= OH_SPARE_CLASSES && a->sp.tags; c++) a->sp.demand[c] = 0;
      CHECK_ST(oh_reset(a), OH_OK);
      same_as_fresh(a, fresh);
      oh_arena_delete(fresh);
      oh_arena_delete(a);
    }
}

/* Classes whose blocks are the same size to the allocator (buddy: 272..512
 * bytes all take 512-byte blocks) are warmed again in one run and shared
 * out: each class gets what it took, every block distinct, large enough,
 * tagged as its class's spare; then the user takes them as usual. */
static void warm_shares_runs(int kind) {
  const oh_spare_table* t = oh_spare_table_get();
  oh_arena* a = make(kind, 32 * MiB, 1, 2 * MiB);
  CHECK(a != NULL);
  if (!a) return;
  unsigned took[OH_SPARE_CLASSES + 1] = {0};
  for (unsigned c = 1; c <= 40; c++) {
    took[c] = 1 + c % 5;
    for (unsigned i = 0; i < took[c]; i++) CHECK(js_take(a, c) != SIZE_MAX);
  }
  CHECK_ST(oh_reset(a), OH_OK);
  CHECK_ST(oh_check(a), OH_OK);
  enum { MAXB = 40 * 5 };
  size_t offs[MAXB];
  size_t n = 0;
  for (unsigned c = 1; c <= 40; c++) {
    CHECK_EQ_SZ(a->sp.count[c], took[c]);
    for (int32_t j = 0; j < a->sp.count[c] && n < MAXB; j++) {
      size_t off = (size_t)a->sp.stack[t->base[c] + (uint32_t)j];
      CHECK_EQ_SZ(*tag_at(a, off), c | OH_TAG_SPARE | high_of(a, off));
      CHECK(oh_core_usable(a, off) >= t->bytes[c]);
      for (size_t i = 0; i < n; i++) CHECK(offs[i] != off);
      offs[n++] = off;
    }
  }
  CHECK_EQ_SZ(oh_spares_held(a), n);
  for (unsigned c = 1; c <= 40; c++)
    for (unsigned i = 0; i < took[c]; i++) {
      size_t off = js_take(a, c);
      CHECK(off != SIZE_MAX);
      if (off != SIZE_MAX) memset(at(a, off), (int)c, t->bytes[c]);
    }
  CHECK_ST(oh_check(a), OH_OK);
  oh_arena_delete(a);
}

/* The demand of a class fades slowly: a class one period used keeps blocks
 * warm for several resets (a request mix that uses it now and then finds
 * them), then none; what a period takes is carved again in full. */
static void demand_fades_slowly(int kind) {
  const oh_spare_table* t = oh_spare_table_get();
  oh_arena* a = make(kind, 32 * MiB, 1, 2 * MiB);
  CHECK(a != NULL);
  if (!a) return;
  unsigned c = 9, big = 45;
  for (int i = 0; i < 3; i++) CHECK(js_take(a, c) != SIZE_MAX);
  uint32_t full = t->depth[big];
  for (uint32_t i = 0; i < full + 5; i++) CHECK(js_take(a, big) != SIZE_MAX);
  CHECK_ST(oh_reset(a), OH_OK);
  CHECK_EQ_SZ(a->sp.count[c], 3);
  CHECK_EQ_SZ(a->sp.count[big], full); /* at most the depth */
  int resets = 0, warm_c = 0, warm_big = 0;
  uint32_t last_c = 3, last_big = full;
  while ((a->sp.count[c] > 0 || a->sp.count[big] > 0) && resets < 200) {
    CHECK_ST(oh_reset(a), OH_OK);
    resets++;
    /* never more than before (nothing was taken), and never a jump down of
     * more than an eighth of a stack plus one block */
    CHECK((uint32_t)a->sp.count[c] <= last_c);
    CHECK((uint32_t)a->sp.count[big] <= last_big);
    CHECK(last_big - (uint32_t)a->sp.count[big] <= full / 8 + 1);
    last_c = (uint32_t)a->sp.count[c];
    last_big = (uint32_t)a->sp.count[big];
    if (a->sp.count[c] > 0) warm_c = resets;
    if (a->sp.count[big] > 0) warm_big = resets;
  }
  CHECK(warm_c >= 8);   /* three blocks stay warm at least eight resets */
  CHECK(warm_c <= 64);  /* and fade out */
  CHECK(warm_big <= 120);
  CHECK(resets < 200);
  /* a period that takes one block of c again: the next reset carves it */
  CHECK(js_take(a, c) != SIZE_MAX);
  CHECK_ST(oh_reset(a), OH_OK);
  CHECK_EQ_SZ(a->sp.count[c], 1);
  CHECK_ST(oh_check(a), OH_OK);
  oh_arena_delete(a);
}

/* Every byte written 0xAA, then reset with a retain larger than the usage:
 * the same allocations come back over dirty pages, and calloc returns zeros. */
static void calloc_over_retained(int kind) {
  for (int spares = 0; spares < 2; spares++) {
    oh_arena* a = make(kind, 64 * MiB, spares, 16 * MiB);
    CHECK(a != NULL);
    if (!a) continue;
    size_t off[300], sz[300];
    for (int i = 0; i < 300; i++) {
      sz[i] = 16 + (size_t)(i * 997) % 40000;
      CHECK_ST(oh_alloc(a, sz[i], &off[i]), OH_OK);
      memset(at(a, off[i]), 0xAA, sz[i]);
    }
    size_t big; /* a large block: its own page run (dlmalloc), zeroed on demand */
    CHECK_ST(oh_alloc(a, 1 * MiB, &big), OH_OK);
    memset(at(a, big), 0xAA, 1 * MiB);
    oh_arena_stats before = stats_of(a);
    CHECK_ST(oh_reset(a), OH_OK);
    oh_arena_stats after = stats_of(a);
    if (kind == OH_KIND_BUDDY) CHECK(after.committed > 0); /* dirty pages kept */
    else CHECK(after.detail.dl.pagesKnownZero < after.capacity);
    (void)before;
    size_t reused = 0;
    for (int i = 0; i < 300; i++) {
      size_t o;
      CHECK_ST(oh_calloc(a, sz[i], &o), OH_OK);
      CHECK(all_bytes(at(a, o), sz[i], 0));
      for (int j = 0; j < 300; j++)
        if (o == off[j]) reused++;
    }
    CHECK(reused > 0); /* the dirty pages did come back */
    size_t o;
    CHECK_ST(oh_calloc(a, 1 * MiB, &o), OH_OK);
    CHECK(all_bytes(at(a, o), 1 * MiB, 0));
    CHECK_ST(oh_check(a), OH_OK);
    oh_arena_delete(a);
  }
}

/* A heap filled to the top of a small arena, every byte 0xAA, reset with
 * everything retained: a large calloc then gets a page run over dirty
 * retained pages (dlmalloc: the run's zeroing must see them dirty; buddy:
 * its known-zero bits must say so) and reads as zeros. */
static void calloc_large_over_retained(int kind) {
  oh_arena* a = make(kind, 4 * MiB, 0, 4 * MiB);
  CHECK(a != NULL);
  if (!a) return;
  size_t o, n = 0;
  while (oh_alloc(a, 2000, &o) == OH_OK) {
    memset(at(a, o), 0xAA, 2000);
    n++;
  }
  CHECK(n > 1000);
  CHECK_ST(oh_reset(a), OH_OK);
  CHECK_EQ_SZ(a->last_reset.released_bytes, 0);
  size_t big = 3 * MiB;
  CHECK_ST(oh_calloc(a, big, &o), OH_OK);
  CHECK(all_bytes(at(a, o), big, 0));
  size_t o2;
  if (oh_calloc(a, 512 * KiB, &o2) == OH_OK) CHECK(all_bytes(at(a, o2), 512 * KiB, 0));
  CHECK_ST(oh_check(a), OH_OK);
  oh_arena_delete(a);
}

/* After a reset, committed (stats) and resident (mincore) memory of the
 * region is at most `retain` plus a page of links; 0 retain gives all back. */
static void committed_after_reset(int kind) {
  size_t retains[3] = {0, 256 * KiB, 2 * MiB};
  for (int r = 0; r < 3; r++) {
    oh_arena* a = make(kind, 64 * MiB, 1, retains[r]);
    CHECK(a != NULL);
    if (!a) continue;
    for (int p = 1; p < P_COUNT; p++) use(a, p, 7);
    size_t o;
    CHECK_ST(oh_alloc(a, 8 * MiB, &o), OH_OK);
    memset(at(a, o), 0xAA, 8 * MiB);
    CHECK(resident(a->base, a->capacity) >= 8 * MiB / 4096);
    CHECK_ST(oh_reset(a), OH_OK);
    oh_arena_stats s = stats_of(a);
    /* The spares carved again after the reset take at most `retain` bytes
     * more, on pages that may be other than the retained ones; with
     * retain 0 nothing stays and nothing is carved. */
    size_t slack = 2 * 4096, carved = retains[r];
    if (kind == OH_KIND_BUDDY) {
      CHECK(s.committed <= (double)(retains[r] + carved + slack));
    } else {
      CHECK(s.committed <= (double)(carved ? carved + 64 * KiB : 0));
      CHECK(s.capacity - s.detail.dl.pagesKnownZero <= (double)(retains[r] + carved + 64 * KiB));
    }
    size_t res = resident(a->base, a->capacity);
    if (res * 4096 > retains[r] + carved + slack) fprintf(stderr, "    resident %zu pages, retain %zu\n", res, retains[r]);
    CHECK(res * 4096 <= retains[r] + carved + slack);
    CHECK(a->last_reset.released_bytes >= 8 * MiB - retains[r]);
    CHECK_ST(oh_check(a), OH_OK);
    oh_arena_delete(a);
  }
}

/* The same usage (64 KiB written in small and page-sized blocks) in arenas
 * of 64 MiB, 1 GiB and 16 GiB: the reset's work is the same within the tree
 * depths (a few words per level), nowhere near the capacity. */
static void work_independent_of_capacity(int kind) {
  size_t caps[3] = {64 * MiB, 1 * GiB, 16 * GiB};
  oh_reset_work w[3];
  for (int c = 0; c < 3; c++) {
    memset(&w[c], 0, sizeof w[c]);
    oh_arena* a = make(kind, caps[c], 1, 0);
    CHECK(a != NULL);
    if (!a) continue;
    for (int round = 0; round < 3; round++) {
      for (int i = 0; i < 16; i++) {
        size_t o;
        CHECK_ST(oh_alloc(a, 4096, &o), OH_OK);
        memset(at(a, o), 0xAA, 4096);
      }
      for (unsigned k = 1; k <= 8; k++) js_take(a, k);
      CHECK_ST(oh_reset(a), OH_OK);
    }
    w[c] = a->last_reset;
    CHECK_EQ_SZ(w[c].full, 0);
    CHECK_ST(oh_check(a), OH_OK);
    oh_arena_delete(a);
  }
  for (int c = 0; c < 3; c++) {
    if (getenv("OFFHEAP_TEST_VERBOSE"))
      fprintf(stderr, "    %zu MiB: released %zu, meta words %zu, map bytes %zu\n", caps[c] / MiB,
              w[c].released_bytes, w[c].meta_words, w[c].map_bytes);
    /* released: what was written (64 KiB and the spares, a few pages of links) */
    CHECK(w[c].released_bytes <= 512 * KiB);
    CHECK(w[c].released_bytes == w[0].released_bytes || kind == OH_KIND_BUDDY);
    /* metadata: one tree level more per doubling at most, nothing per byte of capacity */
    CHECK(w[c].meta_words <= w[0].meta_words + 4 * 8 * (size_t)(c * 4));
    CHECK(w[c].meta_words < 4096);
    CHECK(w[c].map_bytes <= 64 * KiB);
    CHECK(w[c].map_bytes == w[0].map_bytes);
  }
}

/* A reset that follows damage found by the allocator is refused (as before);
 * one after destroy too; a released arena (never here) takes the full path. */
static void reset_refusals(int kind) {
  oh_arena* a = make(kind, 4 * MiB, 0, MiB);
  CHECK(a != NULL);
  if (!a) return;
  use(a, P_MIXED, 1);
  oh_destroy(a);
  CHECK_ST(oh_reset(a), OH_DESTROYED);
  oh_arena_delete(a);
  oh_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.kind = kind;
  cfg.capacity = 4 * MiB;
  cfg.min_block = 16;
  cfg.retain = 4 * MiB + 1;
  CHECK_ST(oh_arena_create(&cfg, &a), OH_INVALID);
  cfg.retain = 4 * MiB;
  CHECK_ST(oh_arena_create(&cfg, &a), OH_OK);
  if (a) {
    use(a, P_LARGE, 2);
    CHECK_ST(oh_reset(a), OH_OK);
    CHECK_ST(oh_check(a), OH_OK);
    oh_arena_delete(a);
  }
}

#define BOTH(fn)                          \
  TEST(fn##_dl) { fn(OH_KIND_DLMALLOC); } \
  TEST(fn##_buddy) { fn(OH_KIND_BUDDY); }

BOTH(reset_is_fresh)
BOTH(demand_fades_slowly)
BOTH(warm_shares_runs)
BOTH(calloc_over_retained)
BOTH(calloc_large_over_retained)
BOTH(committed_after_reset)
BOTH(work_independent_of_capacity)
BOTH(reset_refusals)

int main(void) {
  RUN_FORKED(reset_is_fresh_dl);
  RUN_FORKED(reset_is_fresh_buddy);
  RUN_FORKED(demand_fades_slowly_dl);
  RUN_FORKED(demand_fades_slowly_buddy);
  RUN_FORKED(warm_shares_runs_dl);
  RUN_FORKED(warm_shares_runs_buddy);
  RUN_FORKED(calloc_over_retained_dl);
  RUN_FORKED(calloc_over_retained_buddy);
  RUN_FORKED(calloc_large_over_retained_dl);
  RUN_FORKED(calloc_large_over_retained_buddy);
  RUN_FORKED(committed_after_reset_dl);
  RUN_FORKED(committed_after_reset_buddy);
  RUN_FORKED(work_independent_of_capacity_dl);
  RUN_FORKED(work_independent_of_capacity_buddy);
  RUN_FORKED(reset_refusals_dl);
  RUN_FORKED(reset_refusals_buddy);
  return test_summary("arena_reset");
}
