/*
 * offheap — mspace_largest_requests (csrc/dlmalloc.h): the largest request
 * mspace_malloc serves now, from the heap's free chunks alone (in_heap) and
 * at all (any), for a heap whose mapping hooks a page-run provider
 * (csrc/pages.h) serves over one region, as in a dlmalloc arena: segments
 * from the bottom, direct maps from the top.
 *
 * Both figures are exact, and that is what is checked, in many states (fresh,
 * after small and large blocks, a full region, fragmented, emptied, trimmed,
 * with the tuning parameters changed): mspace_malloc(any) succeeds and
 * mspace_malloc(any + 1) fails; mspace_malloc(in_heap) succeeds without the
 * footprint changing and mspace_malloc(in_heap + 1) fails or takes new
 * memory. Built with FOOTERS=0 and FOOTERS=1 (suites dl_room and
 * dl_room_footers), whose chunk overheads differ.
 *
 * Reproduce a random run: OFFHEAP_SEED=0x... (printed on failure).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../csrc/dlmalloc.h"
#include "../../csrc/pages.h"
#include "port_test.h"
#include "testhelper.h"

#define KIB(n) ((size_t)(n) << 10)
#define MIB(n) ((size_t)(n) << 20)

/* ---- a heap over a region, its hooks served by a page-run provider -------- */

static void* prov_alloc(void* p, size_t length, int zeroed) {
  return pages_alloc((pages_t*)p, length, zeroed ? (PAGES_HIGH | PAGES_ZEROED) : PAGES_LOW);
}
static int prov_validate(void* p, const void* ptr, size_t length) {
  return pages_validate((pages_t*)p, ptr, length);
}
static int prov_release(void* p, void* ptr, size_t length, int clean) {
  return pages_free((pages_t*)p, ptr, length, clean ? PAGES_CLEAN : 0);
}

typedef struct {
  unsigned char* region;
  size_t size;
  void* pages_meta;
  pages_t* pages;
  void* state;
  unsigned char* livemap;
  mspace msp;
} heap_fix;

/* tuning: {param, value} pairs (M_GRANULARITY, M_MMAP_THRESHOLD, ...), n of them. */
static int heap_open(heap_fix* h, size_t size, const int (*tuning)[2], int n) {
  memset(h, 0, sizeof *h);
  h->size = size;
  h->region = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (h->region == MAP_FAILED) return -1;
  size_t ml = (pages_meta_size(size) + 15) & ~(size_t)15;
  h->pages_meta = aligned_alloc(16, ml);
  if (!h->pages_meta ||
      pages_init(&h->pages, h->pages_meta, ml, h->region, size, PAGES_REGION_ZEROED) != PAGES_OK)
    return -1;
  port_reset();
  port_state.direct_enabled = 1;
  port_pages pp = {h->pages, prov_alloc, prov_validate, prov_release};
  port_attach_pages(&pp);
  size_t ss = (mspace_state_size() + 63) & ~(size_t)63;
  h->state = aligned_alloc(64, ss);
  h->livemap = calloc(1, mspace_livemap_bytes(size));
  h->msp = create_mspace_with_state(h->state, mspace_state_size(), 0);
  if (!h->msp) return -1;
  for (int i = 0; i < n; i++)
    if (mspace_set_param(h->msp, tuning[i][0], tuning[i][1]) != 1) return -1;
  return mspace_set_bounds(h->msp, h->region, size, h->livemap, mspace_livemap_bytes(size)) == DL_OK ? 0 : -1;
}

static void heap_close(heap_fix* h) {
  if (h->msp) destroy_mspace(h->msp);
  port_attach_pages(NULL);
  free(h->state);
  free(h->livemap);
  free(h->pages_meta);
  if (h->region && h->region != MAP_FAILED) munmap(h->region, h->size);
}

/* What the arena core passes: the longest free run, and the whole region once
 * the heap gave its memory back when the heap's pages are all that is used. */
static mspace_room room_of(heap_fix* h) {
  pages_stats_t ps;
  mspace_room r = {0, 0};
  pages_stats(h->pages, &ps);
  size_t empty = ps.used_bytes == mspace_footprint(h->msp) ? ps.region_bytes : ps.largest_free;
  int st = mspace_largest_requests(h->msp, ps.largest_free, empty, &r);
  if (st != DL_OK) fprintf(stderr, "  mspace_largest_requests: %s\n", dl_status_name(st));
  return r;
}

/* The exactness of both figures, now; leaves the heap holding what it held
 * (the probes are freed). 0 when it holds, else what failed is printed. */
static int room_exact(heap_fix* h, const char* where) {
  int bad = 0;
  mspace_room r = room_of(h);
  if (r.in_heap > r.any) {
    fprintf(stderr, "  %s: in_heap %zu > any %zu\n", where, r.in_heap, r.any);
    bad++;
  }
  /* one more than any fails (a failed request may give an empty heap's
   * segment back, which changes nothing the figures say) */
  void* p = mspace_malloc(h->msp, r.any + 1);
  if (p) {
    fprintf(stderr, "  %s: malloc(any + 1 = %zu) succeeded\n", where, r.any + 1);
    mspace_free(h->msp, p);
    bad++;
  }
  mspace_room again = room_of(h);
  if (again.any != r.any) {
    fprintf(stderr, "  %s: any %zu became %zu after a failed request\n", where, r.any, again.any);
    bad++;
  }
  r = again;
  if (r.any > 0) {
    p = mspace_malloc(h->msp, r.any);
    if (!p) {
      fprintf(stderr, "  %s: malloc(any = %zu) failed\n", where, r.any);
      bad++;
    }
    mspace_free(h->msp, p);
  }
  /* in_heap: served without new memory; one more needs new memory or fails */
  r = room_of(h);
  size_t fp = mspace_footprint(h->msp);
  if (r.in_heap > 0) {
    p = mspace_malloc(h->msp, r.in_heap);
    if (!p || mspace_footprint(h->msp) != fp) {
      fprintf(stderr, "  %s: malloc(in_heap = %zu): %p, footprint %zu -> %zu\n", where, r.in_heap, p, fp,
              mspace_footprint(h->msp));
      bad++;
    }
    mspace_free(h->msp, p);
  }
  r = room_of(h);
  fp = mspace_footprint(h->msp);
  p = mspace_malloc(h->msp, r.in_heap + 1);
  if (p && mspace_footprint(h->msp) <= fp) {
    fprintf(stderr, "  %s: malloc(in_heap + 1 = %zu) took no new memory (footprint %zu)\n", where,
            r.in_heap + 1, fp);
    bad++;
  }
  mspace_free(h->msp, p);
  if (mspace_check(h->msp) != DL_OK) {
    fprintf(stderr, "  %s: check: %s\n", where, mspace_check_message(h->msp));
    bad++;
  }
  return bad;
}

/* ---- the paths, one at a time ---------------------------------------------- */

TEST(fresh_heap_a_first_segment_of_the_whole_region) {
  heap_fix h;
  CHECK(heap_open(&h, MIB(4), NULL, 0) == 0);
  mspace_room r = room_of(&h);
  CHECK_EQ_SZ(r.in_heap, 0); /* no heap yet */
  CHECK(r.any > MIB(4) - KIB(1) && r.any < MIB(4));
  CHECK_EQ_SZ(room_exact(&h, "fresh"), 0);
  heap_close(&h);
}

TEST(small_blocks_then_a_direct_map_or_a_segment) {
  /* default tuning: a request past the mmap threshold may get a run of its own */
  heap_fix h;
  CHECK(heap_open(&h, MIB(4), NULL, 0) == 0);
  void* a = mspace_malloc(h.msp, 100);
  void* b = mspace_malloc(h.msp, 5000);
  CHECK(a && b);
  mspace_room r = room_of(&h);
  CHECK(r.in_heap > 0 && r.in_heap < KIB(64)); /* top of the first 64 KiB segment */
  CHECK(r.any > MIB(4) - KIB(65) && r.any < MIB(4) - KIB(64));
  CHECK_EQ_SZ(room_exact(&h, "small blocks"), 0);
  mspace_free(h.msp, a);
  mspace_free(h.msp, b);
  heap_close(&h);
  /* no direct maps (threshold past the region): only segments, granularity-rounded */
  static const int no_direct[2][2] = {{M_MMAP_THRESHOLD, -1}, {M_GRANULARITY, 1 << 20}};
  CHECK(heap_open(&h, MIB(4) + KIB(512), no_direct, 2) == 0);
  a = mspace_malloc(h.msp, 100);
  r = room_of(&h);
  /* a 1 MiB segment at the bottom; the rest, 3.5 MiB, holds 3 MiB of new segment */
  CHECK(r.any > MIB(3) - KIB(1) && r.any < MIB(3));
  CHECK_EQ_SZ(room_exact(&h, "no direct maps"), 0);
  mspace_free(h.msp, a);
  heap_close(&h);
}

TEST(an_empty_heap_counts_the_region_it_would_give_back) {
  heap_fix h;
  CHECK(heap_open(&h, MIB(4), NULL, 0) == 0);
  void* a = mspace_malloc(h.msp, 1000);
  mspace_free(h.msp, a);
  mspace_room r = room_of(&h);
  /* the heap holds its first segment, all of it top: a request the free runs
   * cannot serve makes it give the segment back and ask again */
  CHECK(r.any > MIB(4) - KIB(1));
  CHECK_EQ_SZ(room_exact(&h, "empty heap"), 0);
  heap_close(&h);
}

TEST(a_full_region_leaves_the_free_chunks) {
  heap_fix h;
  static const int no_direct[1][2] = {{M_MMAP_THRESHOLD, -1}};
  CHECK(heap_open(&h, MIB(2), no_direct, 1) == 0);
  enum { N = 4096 };
  static void* p[N];
  size_t n = 0;
  while (n < N && (p[n] = mspace_malloc(h.msp, 3000)) != NULL) n++;
  while (n < N && (p[n] = mspace_malloc(h.msp, 100)) != NULL) n++;
  CHECK(n > 600 && n < N);
  CHECK_EQ_SZ(room_exact(&h, "full"), 0);
  /* three neighbours freed: one free chunk of about 9000 bytes, the largest */
  mspace_free(h.msp, p[100]);
  mspace_free(h.msp, p[101]);
  mspace_free(h.msp, p[102]);
  p[100] = p[101] = p[102] = NULL;
  mspace_room r = room_of(&h);
  CHECK_EQ_SZ(r.in_heap, r.any);
  CHECK(r.any >= 9000 && r.any < 9200);
  CHECK_EQ_SZ(room_exact(&h, "full, one hole"), 0);
  for (size_t i = 0; i < n; i++) mspace_free(h.msp, p[i]);
  CHECK_EQ_SZ(room_exact(&h, "emptied"), 0);
  heap_close(&h);
}

TEST(refused_arguments) {
  mspace_room r = {1, 1};
  CHECK_EQ_SZ(mspace_largest_requests(NULL, 0, 0, &r), DL_E_INVALID);
  CHECK(r.in_heap == 0 && r.any == 0);
  heap_fix h;
  CHECK(heap_open(&h, MIB(1), NULL, 0) == 0);
  CHECK_EQ_SZ(mspace_largest_requests(h.msp, MIB(1), MIB(1), NULL), DL_E_INVALID);
  /* a port with no room: only the heap's own free chunks count */
  void* a = mspace_malloc(h.msp, 10);
  CHECK_EQ_SZ(mspace_largest_requests(h.msp, 0, 0, &r), DL_OK);
  CHECK_EQ_SZ(r.any, r.in_heap);
  CHECK(r.in_heap > 0);
  mspace_free(h.msp, a);
  heap_close(&h);
}

/* ---- random churn, every path -------------------------------------------------- */

static uint64_t seed_from_env(uint64_t def) {
  const char* s = getenv("OFFHEAP_SEED");
  return s ? strtoull(s, NULL, 0) : def;
}

static void churn(size_t size, const int (*tuning)[2], int nt, uint64_t seed, int steps) {
  heap_fix h;
  CHECK(heap_open(&h, size, tuning, nt) == 0);
  test_rng r = {seed};
  enum { N = 2048 };
  static void* p[N];
  size_t n = 0;
  int bad = 0;
  char where[64];
  for (int step = 0; step < steps && bad == 0; step++) {
    uint64_t op = test_rng_below(&r, 100);
    if (op < 55 && n < N) {
      uint64_t kind = test_rng_below(&r, 10);
      size_t len = kind < 6   ? 1 + (size_t)test_rng_below(&r, 512)
                   : kind < 9 ? 1 + (size_t)test_rng_below(&r, KIB(40))
                              : 1 + (size_t)test_rng_below(&r, size / 4);
      void* q = mspace_malloc(h.msp, len);
      if (q) p[n++] = q;
    } else if (op < 97 && n > 0) {
      size_t i = (size_t)test_rng_below(&r, n);
      mspace_free(h.msp, p[i]);
      p[i] = p[--n];
    } else if (op < 98) {
      mspace_trim(h.msp, 0);
    } else {
      while (n > 0) mspace_free(h.msp, p[--n]);
    }
    if (step % 50 == 0) {
      snprintf(where, sizeof where, "step %d (%zu live)", step, n);
      bad += room_exact(&h, where);
    }
  }
  while (n > 0) mspace_free(h.msp, p[--n]);
  bad += room_exact(&h, "all freed");
  if (bad) fprintf(stderr, "  seed 0x%llx failed\n", (unsigned long long)seed);
  CHECK_EQ_SZ(bad, 0);
  heap_close(&h);
}

TEST(random_churn_every_figure_exact) {
  uint64_t seed = seed_from_env(0x5eed0f5a11ec0de5ull);
  churn(MIB(4), NULL, 0, seed, 3000);
  static const int low_threshold[1][2] = {{M_MMAP_THRESHOLD, 16384}};
  churn(MIB(4), low_threshold, 1, seed ^ 1, 3000);
  static const int coarse[2][2] = {{M_GRANULARITY, 1 << 20}, {M_TRIM_THRESHOLD, 1 << 18}};
  churn(MIB(8) + KIB(12), coarse, 2, seed ^ 2, 3000);
  static const int no_direct[1][2] = {{M_MMAP_THRESHOLD, -1}};
  churn(MIB(2), no_direct, 1, seed ^ 3, 3000);
}

int main(void) {
  RUN(fresh_heap_a_first_segment_of_the_whole_region);
  RUN(small_blocks_then_a_direct_map_or_a_segment);
  RUN(an_empty_heap_counts_the_region_it_would_give_back);
  RUN(a_full_region_leaves_the_free_chunks);
  RUN(refused_arguments);
  RUN(random_churn_every_figure_exact);
  return test_summary("dl_room");
}
