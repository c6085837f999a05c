/*
 * offheap — the statistics of an arena (csrc/addon/core/stats.h), for both
 * kinds, without Node:
 *
 *   - the relations stats.h states, in every state a random mix of
 *     operations reaches (fast arenas with spares held included), and oh_check
 *     agreeing with them;
 *   - largestFree is exact: alloc(largestFree) succeeds, alloc(largestFree +
 *     1) fails; largestFreeCommitted is what committed memory serves
 *     (dlmalloc: alloc of it leaves committed as it is, one more byte needs new
 *     pages or fails; buddy: a free block wholly in committed memory, 0 when
 *     trim left none);
 *   - buddy fragmentation: 0 fresh, 0 with a few blocks, high with every
 *     other block of a full arena free, 0 again once all are free;
 *   - oh_check refusing an arena whose figures disagree (a page run taken
 *     behind the heap's back).
 *
 * Reproduce a random run: OFFHEAP_SEED=0x... (printed on failure).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/addon/core/arena.h"
#include "testhelper.h"
#include "arena_fixture.h"

static oh_arena* make_arena_ex(int kind, size_t capacity, size_t min_block, int spares) {
  return fixture_arena(kind, capacity, min_block, spares, 0, 0);
}

static oh_arena_stats stats_of(oh_arena* a) {
  oh_arena_stats s;
  if (oh_stats(a, &s) != OH_OK) memset(&s, 0, sizeof s);
  return s;
}

static int is_pow2(double d) {
  size_t x = (size_t)d;
  return (double)x == d && x != 0 && (x & (x - 1)) == 0;
}

/* The relations of stats.h; prints each one that fails. */
static int relations(oh_arena* a, const oh_arena_stats* s, const char* where) {
  int bad = 0;
#define REL(cond)                                                                                \
  if (!(cond)) {                                                                                 \
    fprintf(stderr, "  %s (%s): %s fails: inUse %.0f free %.0f committed %.0f capacity %.0f "       \
                    "largestFree %.0f largestFreeCommitted %.0f peak %.0f live %.0f\n",             \
            where, kind_name(a->kind), #cond, s->inUse, s->free, s->committed, s->capacity,        \
            s->largestFree, s->largestFreeCommitted, s->peakCommitted, s->liveAllocations);       \
    bad++;                                                                                       \
  }
  REL(s->inUse + s->free == s->committed);
  REL(s->committed <= s->capacity);
  REL(s->committed <= s->peakCommitted);
  REL(s->largestFreeCommitted <= s->free);
  REL(s->largestFreeCommitted <= s->largestFree);
  REL(s->largestFree <= s->capacity - s->inUse);
  REL(s->inUse > 0 || s->liveAllocations == 0);
  REL(s->corrupted == 0);
  if (a->kind == OH_KIND_DLMALLOC) {
    REL(s->committed == s->capacity - s->detail.dl.pagesKnownZero);
    REL(s->committed >= s->detail.dl.pagesUsed);
    REL(s->detail.dl.heapBytes + s->detail.dl.directMappedBytes == s->detail.dl.pagesUsed);
    REL(s->detail.dl.pagesUsed + s->detail.dl.pagesFree == s->capacity);
  } else {
    REL((s->liveAllocations == 0) == (s->inUse == 0));
    REL(s->liveAllocations == s->detail.buddy.liveBlocks);
    REL(s->inUse >= s->liveAllocations * s->detail.buddy.minBlock);
    REL(s->detail.buddy.cachedBytes == 0);
    REL(s->detail.buddy.knownZeroBytes == s->detail.buddy.freeBlockBytes - s->free);
    REL(s->largestFree == 0 || is_pow2(s->largestFree));
    REL(s->largestFreeCommitted == 0 || is_pow2(s->largestFreeCommitted));
    REL(s->detail.buddy.fragmentation >= 0 && s->detail.buddy.fragmentation < 1);
  }
#undef REL
  return bad;
}

/* largestFree and largestFreeCommitted are what they say, now. The probes
 * are freed again; the arena's other blocks are untouched. */
static int exact(oh_arena* a, const char* where) {
  int bad = 0;
  oh_arena_stats s = stats_of(a);
  bad += relations(a, &s, where);
  size_t lf = (size_t)s.largestFree, off;
  if (oh_alloc(a, lf + 1, &off) != OH_OOM) {
    fprintf(stderr, "  %s (%s): alloc(largestFree + 1 = %zu) did not fail\n", where, kind_name(a->kind), lf + 1);
    oh_free(a, off);
    bad++;
  }
  s = stats_of(a);
  if ((size_t)s.largestFree != lf) {
    fprintf(stderr, "  %s: largestFree %zu became %.0f after a refused request\n", where, lf, s.largestFree);
    bad++;
  }
  if (lf > 0) {
    if (oh_alloc(a, lf, &off) != OH_OK) {
      fprintf(stderr, "  %s (%s): alloc(largestFree = %zu) failed\n", where, kind_name(a->kind), lf);
      bad++;
    } else {
      oh_free(a, off);
    }
  }
  s = stats_of(a);
  size_t lfc = (size_t)s.largestFreeCommitted;
  double committed = s.committed;
  if (lfc > 0) {
    if (oh_alloc(a, lfc, &off) != OH_OK) {
      fprintf(stderr, "  %s (%s): alloc(largestFreeCommitted = %zu) failed\n", where, kind_name(a->kind), lfc);
      bad++;
    } else {
      oh_arena_stats t = stats_of(a);
      if (a->kind == OH_KIND_DLMALLOC && t.committed != committed) {
        fprintf(stderr, "  %s: alloc(largestFreeCommitted = %zu) committed %.0f -> %.0f\n", where, lfc,
                committed, t.committed);
        bad++;
      }
      oh_free(a, off);
    }
  }
  if (a->kind == OH_KIND_DLMALLOC) {
    s = stats_of(a);
    lfc = (size_t)s.largestFreeCommitted;
    committed = s.committed;
    if (oh_alloc(a, lfc + 1, &off) == OH_OK) {
      if (stats_of(a).committed <= committed) {
        fprintf(stderr, "  %s: alloc(largestFreeCommitted + 1 = %zu) took no new pages\n", where, lfc + 1);
        bad++;
      }
      oh_free(a, off);
    }
  }
  if (oh_check(a) != OH_OK) {
    fprintf(stderr, "  %s (%s): oh_check refused\n", where, kind_name(a->kind));
    bad++;
  }
  return bad;
}

/* ---- fresh arenas ------------------------------------------------------------ */

/* Values first, on arenas no probe has touched (a probe of largestFree takes
 * and frees nearly the whole region, which changes what is committed), then
 * the probes. */
TEST(fresh_dlmalloc) {
  oh_arena* a = make_arena_ex(OH_KIND_DLMALLOC, 64 * MiB, 16, 0);
  CHECK(a != NULL);
  if (!a) return;
  oh_arena_stats s = stats_of(a);
  /* no heap yet: nothing committed, nothing free in committed memory, and
   * one request of nearly the whole region (less a segment's padding) */
  CHECK(s.committed == 0 && s.inUse == 0 && s.free == 0);
  CHECK(s.largestFreeCommitted == 0);
  CHECK(s.largestFree > 64.0 * MiB - 4096 && s.largestFree < 64.0 * MiB);
  CHECK_EQ_SZ(relations(a, &s, "fresh"), 0);
  /* two small blocks: a 64 KiB segment, whose top is what committed memory
   * serves; the rest of the region as a large chunk's own run */
  size_t x, y;
  CHECK(oh_alloc(a, 10, &x) == OH_OK && oh_alloc(a, 10, &y) == OH_OK);
  s = stats_of(a);
  CHECK(s.committed == 64.0 * KiB);
  CHECK(s.largestFreeCommitted > 60.0 * KiB && s.largestFreeCommitted < s.free);
  CHECK(s.largestFree > 64.0 * MiB - 68.0 * KiB && s.largestFree < 64.0 * MiB - 64.0 * KiB);
  CHECK_EQ_SZ(exact(a, "two blocks"), 0);
  CHECK(oh_free(a, x) == OH_OK && oh_free(a, y) == OH_OK);
  /* empty again: the heap would give its segment back for a larger request */
  s = stats_of(a);
  CHECK(s.largestFree > 64.0 * MiB - 4096);
  CHECK_EQ_SZ(exact(a, "emptied"), 0);
  oh_arena_delete(a);
  a = make_arena_ex(OH_KIND_DLMALLOC, 64 * MiB, 16, 0);
  CHECK(a != NULL);
  if (!a) return;
  CHECK_EQ_SZ(exact(a, "fresh"), 0);
  oh_arena_delete(a);
}

TEST(fresh_buddy) {
  oh_arena* a = make_arena_ex(OH_KIND_BUDDY, 64 * MiB, 16, 0);
  CHECK(a != NULL);
  if (!a) return;
  oh_arena_stats s = stats_of(a);
  /* one root, known zero but for the page of its links */
  CHECK(s.largestFree == 64.0 * MiB);
  CHECK(s.committed == 4096 && s.free == 4096 && s.inUse == 0);
  CHECK(s.largestFreeCommitted == 0);
  CHECK(s.detail.buddy.fragmentation == 0);
  CHECK_EQ_SZ(relations(a, &s, "fresh"), 0);
  size_t x, y;
  CHECK(oh_alloc(a, 10, &x) == OH_OK && oh_alloc(a, 10, &y) == OH_OK);
  s = stats_of(a);
  CHECK(s.largestFree == 32.0 * MiB);
  /* the halves of a page or less hold their links in their only page */
  CHECK(s.largestFreeCommitted == 4096);
  CHECK(s.detail.buddy.fragmentation == 0); /* splitting the root is not fragmentation */
  CHECK_EQ_SZ(exact(a, "two blocks"), 0);
  CHECK(oh_free(a, x) == OH_OK && oh_free(a, y) == OH_OK);
  s = stats_of(a);
  CHECK(s.largestFree == 64.0 * MiB && s.inUse == 0 && s.detail.buddy.fragmentation == 0);
  CHECK_EQ_SZ(exact(a, "emptied"), 0);
  oh_arena_delete(a);
  a = make_arena_ex(OH_KIND_BUDDY, 64 * MiB, 16, 0);
  CHECK(a != NULL);
  if (!a) return;
  CHECK_EQ_SZ(exact(a, "fresh"), 0);
  oh_arena_delete(a);
}

/* buddy: a free block whose pages were all handed out is wholly committed
 * until trim gives its pages back. */
TEST(buddy_largest_free_committed_and_trim) {
  oh_arena* a = make_arena_ex(OH_KIND_BUDDY, 16 * MiB, 16, 0);
  CHECK(a != NULL);
  if (!a) return;
  size_t x, y;
  CHECK(oh_alloc(a, MiB, &x) == OH_OK && oh_alloc(a, MiB, &y) == OH_OK);
  CHECK_EQ_SZ(x, 0);
  CHECK(oh_free(a, x) == OH_OK);
  oh_arena_stats s = stats_of(a);
  CHECK(s.largestFreeCommitted == (double)MiB);
  CHECK(s.largestFree == 8.0 * MiB);
  size_t released = 0;
  CHECK(oh_trim(a, &released) == OH_OK);
  CHECK_EQ_SZ(released, MiB - 4096);
  s = stats_of(a);
  CHECK(s.largestFreeCommitted == 0); /* every free block is known zero past its first page */
  CHECK_EQ_SZ(relations(a, &s, "trimmed"), 0);
  CHECK(oh_free(a, y) == OH_OK);
  CHECK(oh_check(a) == OH_OK);
  oh_arena_delete(a);
}

/* ---- fragmentation (buddy) ------------------------------------------------------ */

TEST(buddy_fragmentation) {
  oh_arena* a = make_arena_ex(OH_KIND_BUDDY, MiB, 16, 0);
  CHECK(a != NULL);
  if (!a) return;
  CHECK(stats_of(a).detail.buddy.fragmentation == 0);
  /* a few small blocks: the root is split, half of it stays one free block */
  size_t few[5];
  for (int i = 0; i < 5; i++) CHECK(oh_alloc(a, 16 << i, &few[i]) == OH_OK);
  oh_arena_stats s = stats_of(a);
  CHECK(s.detail.buddy.fragmentation == 0);
  CHECK(s.largestFree == (double)(MiB / 2));
  for (int i = 0; i < 5; i++) CHECK(oh_free(a, few[i]) == OH_OK);
  /* the whole arena in 512-byte blocks, then every other one freed: 512 KiB
   * free that packed would be one block, here none larger than 512 bytes */
  enum { N = MiB / 512 };
  static size_t off[N];
  for (size_t i = 0; i < N; i++) CHECK(oh_alloc(a, 512, &off[i]) == OH_OK);
  s = stats_of(a);
  CHECK(s.largestFree == 0 && s.detail.buddy.fragmentation == 0); /* nothing free */
  for (size_t i = 0; i < N; i += 2) CHECK(oh_free(a, off[i]) == OH_OK);
  s = stats_of(a);
  CHECK(s.largestFree == 512);
  CHECK(s.detail.buddy.fragmentation == 1.0 - 512.0 / (512.0 * KiB));
  CHECK_EQ_SZ(relations(a, &s, "every other freed"), 0);
  for (size_t i = 1; i < N; i += 2) CHECK(oh_free(a, off[i]) == OH_OK);
  s = stats_of(a);
  CHECK(s.detail.buddy.fragmentation == 0);
  CHECK(s.largestFree == (double)MiB);
  CHECK(oh_check(a) == OH_OK);
  oh_arena_delete(a);
}

/* ---- random mixes ------------------------------------------------------------------ */

static uint64_t seed_from_env(uint64_t def) {
  const char* s = getenv("OFFHEAP_SEED");
  return s ? strtoull(s, NULL, 0) : def;
}

/* alloc / calloc / memalign / realloc / free of mixed sizes (a tenth of them
 * large), trims and resets; with spares, JavaScript's take and put as well,
 * so that stats and check meet spares held. Every 100 steps: the relations,
 * the exactness of both request sizes, and oh_check. */
static void churn(int kind, size_t capacity, size_t min_block, int spares, uint64_t seed) {
  oh_arena* a = make_arena_ex(kind, capacity, min_block, spares);
  CHECK(a != NULL);
  if (!a) return;
  test_rng r = {seed};
  enum { N = 1500 };
  static size_t off[N];
  static int spare_block[N];
  size_t n = 0;
  int bad = 0;
  char where[80];
  for (int step = 0; step < 4000 && bad == 0; step++) {
    uint64_t op = test_rng_below(&r, 100);
    size_t len = test_rng_below(&r, 10) == 0 ? 1 + (size_t)test_rng_below(&r, capacity / 6)
                                             : 1 + (size_t)test_rng_below(&r, 3000);
    if (op < 50 && n < N) {
      size_t o;
      int st = OH_OOM, sp = 0;
      if (spares && len <= OH_SPARE_MAX_BYTES && test_rng_below(&r, 2)) {
        o = js_take(a, oh_spare_table_get()->class_of_16[oh_spare_class_map(a->kind)][(len + 15) >> 4]);
        if (o != SIZE_MAX) st = OH_OK, sp = 1;
      } else if (op < 40) {
        st = oh_alloc(a, len, &o);
      } else if (op < 45) {
        st = oh_calloc(a, len, &o);
      } else {
        st = oh_memalign(a, (size_t)1 << (4 + test_rng_below(&r, 9)), len, &o);
      }
      if (st == OH_OK) {
        off[n] = o;
        spare_block[n++] = sp;
      }
    } else if (op < 90 && n > 0) {
      size_t i = (size_t)test_rng_below(&r, n);
      if (!(spare_block[i] && js_put(a, off[i]) == 1)) CHECK(oh_free(a, off[i]) == OH_OK);
      off[i] = off[--n];
      spare_block[i] = spare_block[n];
    } else if (op < 95 && n > 0) {
      size_t i = (size_t)test_rng_below(&r, n), o;
      if (!spare_block[i] && oh_realloc(a, off[i], len, &o) == OH_OK) off[i] = o;
    } else if (op < 99) {
      size_t rel;
      CHECK(oh_trim(a, &rel) == OH_OK);
    } else {
      CHECK(oh_reset(a) == OH_OK);
      n = 0;
    }
    if (step % 100 == 0) {
      /* check first: it reads the arena as it is, spares held included */
      if (oh_check(a) != OH_OK) {
        fprintf(stderr, "  step %d: oh_check refused with %zu spares held\n", step, spares_held(a));
        bad++;
      }
      snprintf(where, sizeof where, "%s%s step %d (%zu live)", kind_name(kind), spares ? " spares" : "", step, n);
      oh_arena_stats s = stats_of(a);
      bad += relations(a, &s, where);
      if ((size_t)s.liveAllocations != n) {
        fprintf(stderr, "  %s: liveAllocations %.0f\n", where, s.liveAllocations);
        bad++;
      }
      bad += exact(a, where);
    }
  }
  while (n > 0) {
    n--;
    if (!(spare_block[n] && js_put(a, off[n]) == 1)) CHECK(oh_free(a, off[n]) == OH_OK);
  }
  bad += exact(a, "all freed");
  oh_arena_stats s = stats_of(a);
  CHECK(s.liveAllocations == 0);
  if (kind == OH_KIND_BUDDY) CHECK(s.inUse == 0 && s.detail.buddy.fragmentation == 0);
  if (bad) fprintf(stderr, "  %s seed 0x%llx failed\n", kind_name(kind), (unsigned long long)seed);
  CHECK_EQ_SZ(bad, 0);
  oh_arena_delete(a);
}

TEST(churn_dlmalloc) {
  uint64_t seed = seed_from_env(0x0ff4ea95747a75ull);
  churn(OH_KIND_DLMALLOC, 8 * MiB, 16, 0, seed);
  churn(OH_KIND_DLMALLOC, 8 * MiB + 12 * KiB, 16, 1, seed ^ 1);
}

TEST(churn_buddy) {
  uint64_t seed = seed_from_env(0x0ff4ea95747a75ull);
  churn(OH_KIND_BUDDY, 8 * MiB, 16, 0, seed ^ 2);
  churn(OH_KIND_BUDDY, 8 * MiB, 16, 1, seed ^ 3);
  churn(OH_KIND_BUDDY, 12 * MiB, 64, 0, seed ^ 4);   /* two roots: 8 and 4 MiB */
  churn(OH_KIND_BUDDY, 8 * MiB, 8192, 0, seed ^ 5);  /* blocks of two pages and more */
}

/* ---- oh_check and the figures ------------------------------------------------------ */

/* dlmalloc: the heap's footprint is every page run the provider handed out;
 * a run the heap does not know of breaks that, and oh_check says so. */
TEST(check_refuses_a_page_run_behind_the_heaps_back) {
  oh_arena* a = make_arena_ex(OH_KIND_DLMALLOC, 4 * MiB, 16, 0);
  CHECK(a != NULL);
  if (!a) return;
  size_t x;
  CHECK(oh_alloc(a, 100, &x) == OH_OK);
  CHECK(oh_check(a) == OH_OK);
  CHECK(pages_alloc(a->pages, 4096, PAGES_HIGH) != NULL);
  CHECK(oh_check(a) == OH_CORRUPTED);
  oh_arena_delete(a);
}

int main(void) {
  RUN(fresh_dlmalloc);
  RUN(fresh_buddy);
  RUN(buddy_largest_free_committed_and_trim);
  RUN(buddy_fragmentation);
  RUN(churn_dlmalloc);
  RUN(churn_buddy);
  RUN(check_refuses_a_page_run_behind_the_heaps_back);
  return test_summary("arena_stats");
}
