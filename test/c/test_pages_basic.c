/*
 * offheap — page-run allocator (csrc/pages.h): the API one call at a time.
 * Init arguments and metadata size, exact low/high placement, runs of any
 * length, the usable capacity a 1 GiB region keeps beside a small or a
 * fragmented heap, frees by range, refused calls that change nothing, zero
 * tracking (PAGES_ZEROED, PAGES_CLEAN, trim), statistics, untouched
 * zero-reading metadata for huge regions, and damaged metadata.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../csrc/pages.h"
#include "testhelper.h"

#define PG PAGES_PAGE
#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)

/* ---- fixture ----------------------------------------------------------------- */

typedef struct {
  pages_t* p;
  unsigned char* base;
  size_t size;
  unsigned char* meta;
  size_t meta_size;
} pfix;

static void* map_noreserve(size_t len, int prot) {
  void* a = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return a == MAP_FAILED ? NULL : a;
}

/* A fresh anonymous region (reads as zeros) and metadata mapping. */
static int pfix_open(pfix* f, size_t size, unsigned flags) {
  memset(f, 0, sizeof *f);
  f->size = size;
  f->base = map_noreserve(size, PROT_READ | PROT_WRITE);
  f->meta_size = pages_meta_size(size);
  f->meta = map_noreserve(f->meta_size, PROT_READ | PROT_WRITE);
  if (!f->base || !f->meta) return -1;
  return pages_init(&f->p, f->meta, f->meta_size, f->base, size, flags);
}

static void pfix_close(pfix* f) {
  if (f->base) munmap(f->base, f->size);
  if (f->meta) munmap(f->meta, f->meta_size);
  memset(f, 0, sizeof *f);
}

/* Page index of an address in the region (SIZE_MAX for NULL). */
static size_t pidx(const pfix* f, const void* q) {
  return q ? (size_t)((const unsigned char*)q - f->base) / PG : SIZE_MAX;
}
static void* at(const pfix* f, size_t page) { return f->base + page * PG; }

static pages_stats_t stats_of(pfix* f) {
  pages_stats_t s;
  memset(&s, 0xEE, sizeof s);
  CHECK_EQ_SZ(pages_stats(f->p, &s), PAGES_OK);
  return s;
}

/* Stats that must hold in every state. */
static void check_stats_consistent(pfix* f) {
  pages_stats_t s = stats_of(f);
  CHECK_EQ_SZ(s.region_bytes, f->size);
  CHECK_EQ_SZ(s.used_bytes + s.free_bytes, s.region_bytes);
  CHECK_EQ_SZ(s.committed_bytes, s.region_bytes - s.zero_known_bytes);
  CHECK(s.zero_known_bytes <= s.free_bytes);
  CHECK(s.peak_committed_bytes >= s.committed_bytes);
  CHECK(s.largest_free <= s.free_bytes);
  CHECK((s.free_runs == 0) == (s.free_bytes == 0));
  CHECK_EQ_SZ(pages_check(f->p), PAGES_OK);
}

/* ---- init -------------------------------------------------------------------- */

TEST(init_rejects_each_bad_argument) {
  pfix f;
  CHECK_EQ_SZ(pfix_open(&f, 16 * PG, 0), PAGES_OK);
  size_t need = pages_meta_size(16 * PG);
  pages_t* p = (pages_t*)1;
  CHECK_EQ_SZ(pages_init(NULL, f.meta, need, f.base, 16 * PG, 0), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_init(&p, f.meta, need, f.base, 16 * PG, 0x4), PAGES_E_INVALID);
  CHECK(p == NULL); /* *out cleared on failure */
  CHECK_EQ_SZ(pages_init(&p, f.meta, need, NULL, 16 * PG, 0), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_init(&p, f.meta, need, f.base + 8, 15 * PG, 0), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_init(&p, f.meta, need, f.base, 0, 0), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_init(&p, f.meta, need, f.base, 4095, 0), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_init(&p, f.meta, need, f.base, 4097, 0), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_init(&p, f.meta, need, (void*)(UINTPTR_MAX - 4095), 8192, 0),
              PAGES_E_INVALID); /* the region wraps */
  CHECK_EQ_SZ(pages_init(&p, NULL, need, f.base, 16 * PG, 0), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_init(&p, f.meta + 8, need, f.base, 16 * PG, 0), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_init(&p, f.meta, need - 1, f.base, 16 * PG, 0), PAGES_E_INVALID);
  /* metadata inside the region: the heap's writes could reach it */
  CHECK_EQ_SZ(pages_init(&p, f.base + 8 * PG, need, f.base, 16 * PG, 0), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_init(&p, f.base + 8 * PG, need, f.base, 8 * PG, 0), PAGES_OK);
  CHECK(p != NULL);
  CHECK(p == NULL || pages_check(p) == PAGES_OK);
  /* the size pages_meta_size gives works, and nothing past it is written */
  memset(f.meta, 0x5C, f.meta_size);
  CHECK_EQ_SZ(pages_init(&p, f.meta, need, f.base, 16 * PG, 0), PAGES_OK);
  CHECK_EQ_SZ(pages_check(p), PAGES_OK);
  for (size_t i = need; i < f.meta_size; i++)
    if (f.meta[i] != 0x5C) {
      CHECK(!"init wrote past pages_meta_size");
      break;
    }
  CHECK_STREQ(pages_check_message(p), "");
  pfix_close(&f);
}

TEST(meta_size_is_a_few_bytes_per_64_pages) {
  CHECK_EQ_SZ(pages_meta_size(0), 0);
  CHECK_EQ_SZ(pages_meta_size(1), 0);
  CHECK_EQ_SZ(pages_meta_size(4095), 0);
  CHECK_EQ_SZ(pages_meta_size(4097), 0);
  CHECK(pages_meta_size(4096) > 0);
  size_t prev = 0;
  for (size_t n = 1; n <= 600; n++) {
    size_t m = pages_meta_size(n * PG);
    CHECK(m >= prev && m % 16 == 0);
    prev = m;
  }
  /* two bitmaps (16 bytes per 64 pages) and a tree of ~1 node of 12 bytes per 64 pages */
  size_t g = pages_meta_size(GIB), words = GIB / PG / 64;
  CHECK(g >= 16 * words && g <= 28 * words + 1024);
  size_t huge = pages_meta_size((size_t)1 << 47);
  CHECK(huge >= 16 * ((size_t)1 << 29) && huge <= 28 * ((size_t)1 << 29) + 4096);
  printf("  metadata: %zu bytes for 1 GiB, %zu bytes for 2^47 bytes\n", g, huge);
}

TEST(a_handle_that_is_not_a_live_instance_is_refused) {
  static _Alignas(16) unsigned char zeroed[4096];
  pages_t* z = (pages_t*)zeroed;
  pages_stats_t st;
  CHECK(pages_alloc(z, PG, PAGES_LOW) == NULL);
  CHECK(pages_alloc(NULL, PG, PAGES_LOW) == NULL);
  CHECK_EQ_SZ(pages_free(z, zeroed, PG, 0), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_free(NULL, NULL, 0, 0), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_validate(z, zeroed, PG), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_stats(z, &st), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_check(z), PAGES_E_INVALID);
  CHECK_EQ_SZ(pages_trim(z, NULL, NULL, NULL), PAGES_E_INVALID);
  CHECK_STREQ(pages_check_message(z), "not a live pages instance");
  for (size_t i = 0; i < sizeof zeroed; i++)
    if (zeroed[i]) {
      CHECK(!"a call on a zeroed handle wrote into it");
      break;
    }
  CHECK_STREQ(pages_status_name(PAGES_OK), "PAGES_OK");
  CHECK_STREQ(pages_status_name(PAGES_E_FOREIGN), "PAGES_E_FOREIGN");
  CHECK_STREQ(pages_status_name(PAGES_E_NOT_ALLOCATED), "PAGES_E_NOT_ALLOCATED");
  CHECK_STREQ(pages_status_name(PAGES_E_NOMEM), "PAGES_E_NOMEM");
  CHECK_STREQ(pages_status_name(PAGES_E_INVALID), "PAGES_E_INVALID");
  CHECK_STREQ(pages_status_name(PAGES_E_CORRUPTED), "PAGES_E_CORRUPTED");
  CHECK_STREQ(pages_status_name(99), "PAGES_E_UNKNOWN");
}

/* ---- placement ----------------------------------------------------------------- */

TEST(low_and_high_place_exactly) {
  pfix f;
  CHECK_EQ_SZ(pfix_open(&f, 64 * PG, 0), PAGES_OK);
  pages_t* p = f.p;
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, 1 * PG, PAGES_LOW)), 0);
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, 3 * PG, PAGES_LOW)), 1);   /* [1,4) */
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, 2 * PG, PAGES_HIGH)), 62); /* [62,64) */
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, 5 * PG, PAGES_HIGH)), 57); /* [57,62) */
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, 2 * PG, PAGES_LOW)), 4);   /* [4,6) */
  CHECK_EQ_SZ(pages_free(p, at(&f, 1), 3 * PG, 0), PAGES_OK);    /* hole [1,4) */
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, 2 * PG, PAGES_LOW)), 1);   /* [1,3), hole [3,4) */
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, 2 * PG, PAGES_LOW)), 6);   /* [3,4) too short */
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, 1 * PG, PAGES_HIGH)), 56); /* highest free page */
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, 1 * PG, PAGES_LOW)), 3);   /* the hole */
  /* free [8,56): 48 pages; exactly 48 fits, 49 does not */
  CHECK(pages_alloc(p, 49 * PG, PAGES_LOW) == NULL);
  CHECK(pages_alloc(p, 49 * PG, PAGES_HIGH) == NULL);
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, 48 * PG, PAGES_HIGH)), 8);
  CHECK(pages_alloc(p, PG, PAGES_LOW) == NULL);
  CHECK(pages_alloc(p, PG, PAGES_HIGH) == NULL);
  pages_stats_t s = stats_of(&f);
  CHECK_EQ_SZ(s.used_bytes, 64 * PG);
  CHECK_EQ_SZ(s.free_runs, 0);
  CHECK_EQ_SZ(s.largest_free, 0);
  check_stats_consistent(&f);
  pfix_close(&f);
}

TEST(runs_of_any_length_stack_from_both_ends_across_words) {
  /* 777 pages: 13 words, the last one partly padding, not a power of two */
  pfix f;
  CHECK_EQ_SZ(pfix_open(&f, 777 * PG, 0), PAGES_OK);
  pages_t* p = f.p;
  CHECK(pages_alloc(p, 778 * PG, PAGES_LOW) == NULL);
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, 777 * PG, PAGES_HIGH)), 0);
  CHECK_EQ_SZ(pages_free(p, f.base, 777 * PG, 0), PAGES_OK);
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, 777 * PG, PAGES_LOW)), 0);
  CHECK_EQ_SZ(pages_free(p, f.base, 777 * PG, 0), PAGES_OK);
  static const size_t lens[] = {3, 5, 7, 100, 129, 1, 63, 64, 65};
  size_t low = 0, high = 777;
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    CHECK_EQ_SZ(pidx(&f, pages_alloc(p, lens[i] * PG, PAGES_LOW)), low);
    low += lens[i];
    size_t hl = lens[sizeof lens / sizeof lens[0] - 1 - i] % 40 + 1;
    high -= hl;
    CHECK_EQ_SZ(pidx(&f, pages_alloc(p, hl * PG, PAGES_HIGH)), high);
  }
  pages_stats_t s = stats_of(&f);
  CHECK_EQ_SZ(s.largest_free, (high - low) * PG);
  CHECK_EQ_SZ(s.free_runs, 1);
  CHECK(pages_alloc(p, (high - low + 1) * PG, PAGES_LOW) == NULL);
  CHECK_EQ_SZ(pidx(&f, pages_alloc(p, (high - low) * PG, PAGES_LOW)), low);
  check_stats_consistent(&f);
  pfix_close(&f);
}

TEST(bad_alloc_arguments_return_null) {
  pfix f;
  CHECK_EQ_SZ(pfix_open(&f, 8 * PG, 0), PAGES_OK);
  CHECK(pages_alloc(f.p, PG, 0) == NULL);
  CHECK(pages_alloc(f.p, PG, PAGES_ZEROED) == NULL);
  CHECK(pages_alloc(f.p, PG, PAGES_LOW | PAGES_HIGH) == NULL);
  CHECK(pages_alloc(f.p, PG, PAGES_LOW | 0x8) == NULL);
  CHECK(pages_alloc(f.p, 0, PAGES_LOW) == NULL);
  CHECK(pages_alloc(f.p, 100, PAGES_LOW) == NULL);
  CHECK(pages_alloc(f.p, PG + 1, PAGES_HIGH) == NULL);
  CHECK(pages_alloc(f.p, SIZE_MAX & ~(PG - 1), PAGES_HIGH) == NULL);
  CHECK(pages_alloc(f.p, 9 * PG, PAGES_HIGH) == NULL);
  CHECK_EQ_SZ(stats_of(&f).used_bytes, 0);
  CHECK_EQ_SZ(pidx(&f, pages_alloc(f.p, 8 * PG, PAGES_HIGH | PAGES_ZEROED)), 0);
  check_stats_consistent(&f);
  pfix_close(&f);
}

/* ---- capacity ---------------------------------------------------------------------- */

TEST(a_small_heap_leaves_900_mib_in_one_run_of_1_gib) {
  pfix f;
  CHECK_EQ_SZ(pfix_open(&f, GIB, PAGES_REGION_ZEROED | PAGES_META_ZEROED), PAGES_OK);
  void* heap = pages_alloc(f.p, 64 * KIB, PAGES_LOW);
  CHECK(heap == f.base);
  CHECK_EQ_SZ(stats_of(&f).largest_free, GIB - 64 * KIB);
  void* big = pages_alloc(f.p, 900 * MIB, PAGES_HIGH | PAGES_ZEROED);
  CHECK(big == f.base + GIB - 900 * MIB);
  CHECK_EQ_SZ(stats_of(&f).zero_filled_bytes, 0); /* known zero: nothing cleared */
  CHECK_EQ_SZ(pages_free(f.p, big, 900 * MIB, 0), PAGES_OK);
  /* the whole rest, too */
  CHECK(pages_alloc(f.p, GIB - 64 * KIB, PAGES_HIGH) == f.base + 64 * KIB);
  check_stats_consistent(&f);
  pfix_close(&f);
}

TEST(a_fragmented_100_mib_heap_leaves_800_mib_in_one_run) {
  pfix f;
  CHECK_EQ_SZ(pfix_open(&f, GIB, PAGES_REGION_ZEROED | PAGES_META_ZEROED), PAGES_OK);
  test_rng r = {0x5EED0F00DULL};
  enum { MAXR = 8192 };
  static void* runs[MAXR];
  static size_t lens[MAXR];
  size_t n = 0, total = 0, expect = 0;
  while (total < 100 * MIB && n < MAXR) {
    size_t len = (1 + test_rng_below(&r, 64)) * PG;
    runs[n] = pages_alloc(f.p, len, PAGES_LOW);
    CHECK(runs[n] == f.base + expect); /* the heap grows as one run */
    expect += len;
    lens[n++] = len;
    total += len;
  }
  size_t freed = 0, live_end = 0;
  for (size_t i = 0; i < n; i++)
    if (test_rng_below(&r, 2)) {
      CHECK_EQ_SZ(pages_free(f.p, runs[i], lens[i], 0), PAGES_OK);
      freed++;
    } else {
      live_end = (size_t)((unsigned char*)runs[i] - f.base) + lens[i];
    }
  pages_stats_t s = stats_of(&f);
  CHECK(s.free_runs > 100);
  CHECK(s.largest_free >= GIB - total);
  void* big = pages_alloc(f.p, 800 * MIB, PAGES_HIGH | PAGES_ZEROED);
  CHECK(big == f.base + GIB - 800 * MIB);
  /* the gap between the heap's last live run and the big one: one run, lowest fit */
  void* mid = pages_alloc(f.p, GIB - 800 * MIB - live_end, PAGES_LOW);
  CHECK(mid == f.base + live_end);
  CHECK_EQ_SZ(stats_of(&f).zero_filled_bytes, 0);
  printf("  %zu runs, %zu freed, heap %zu MiB\n", n, freed, total / MIB);
  check_stats_consistent(&f);
  pfix_close(&f);
}

/* ---- frees by range --------------------------------------------------------------------- */

TEST(frees_cover_run_tails_and_adjacent_runs) {
  pfix f;
  CHECK_EQ_SZ(pfix_open(&f, 200 * PG, 0), PAGES_OK);
  pages_t* p = f.p;
  CHECK(pages_alloc(p, 100 * PG, PAGES_LOW) == at(&f, 0));  /* A [0,100) */
  CHECK(pages_alloc(p, 50 * PG, PAGES_LOW) == at(&f, 100)); /* B [100,150) */
  CHECK_EQ_SZ(pages_free(p, at(&f, 90), 10 * PG, 0), PAGES_OK); /* tail of A */
  CHECK_EQ_SZ(stats_of(&f).free_runs, 2);
  CHECK_EQ_SZ(pages_free(p, at(&f, 60), 50 * PG, 0), PAGES_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(pages_free(p, at(&f, 80), 30 * PG, 0), PAGES_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(pages_validate(p, at(&f, 0), 90 * PG), PAGES_OK);
  CHECK_EQ_SZ(pages_validate(p, at(&f, 89), 2 * PG), PAGES_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(pages_validate(p, at(&f, 100), 50 * PG), PAGES_OK);
  /* the middle of A up to the end of A's live part, then a span over B's head */
  CHECK_EQ_SZ(pages_free(p, at(&f, 40), 20 * PG, 0), PAGES_OK); /* hole [40,60) */
  CHECK_EQ_SZ(stats_of(&f).free_runs, 3);
  CHECK(pages_alloc(p, 10 * PG, PAGES_LOW) == at(&f, 40)); /* refill part of the hole */
  CHECK_EQ_SZ(pages_free(p, at(&f, 40), 10 * PG, 0), PAGES_OK);
  /* re-take [90,100) so A and B are adjacent again, then free a span over both */
  CHECK(pages_alloc(p, 10 * PG, PAGES_HIGH) == at(&f, 190));
  CHECK(pages_alloc(p, 40 * PG, PAGES_HIGH) == at(&f, 150));
  CHECK(pages_alloc(p, 10 * PG, PAGES_HIGH) == at(&f, 90));
  CHECK_EQ_SZ(pages_free(p, at(&f, 70), 60 * PG, 0), PAGES_OK); /* [70,130) across A|B */
  pages_stats_t s = stats_of(&f);
  CHECK_EQ_SZ(s.used_bytes, (40 + 10 + 20 + 50) * PG);
  CHECK_EQ_SZ(s.free_runs, 2);
  CHECK_EQ_SZ(s.largest_free, 60 * PG);
  /* a freed range merges with free neighbours on both sides */
  CHECK_EQ_SZ(pages_free(p, at(&f, 60), 10 * PG, 0), PAGES_OK);
  CHECK_EQ_SZ(stats_of(&f).free_runs, 1);
  CHECK_EQ_SZ(stats_of(&f).largest_free, 90 * PG);
  CHECK_EQ_SZ(pages_free(p, at(&f, 0), 0, 0), PAGES_OK); /* length 0: nothing */
  CHECK_EQ_SZ(pages_validate(p, at(&f, 40), 0), PAGES_OK);
  check_stats_consistent(&f);
  /* everything back */
  CHECK_EQ_SZ(pages_free(p, at(&f, 0), 40 * PG, 0), PAGES_OK);
  CHECK_EQ_SZ(pages_free(p, at(&f, 130), 70 * PG, 0), PAGES_OK);
  s = stats_of(&f);
  CHECK_EQ_SZ(s.used_bytes, 0);
  CHECK_EQ_SZ(s.free_runs, 1);
  CHECK_EQ_SZ(s.largest_free, 200 * PG);
  check_stats_consistent(&f);
  pfix_close(&f);
}

TEST(refused_frees_change_nothing) {
  pfix f;
  CHECK_EQ_SZ(pfix_open(&f, 300 * PG, PAGES_REGION_ZEROED), PAGES_OK);
  pages_t* p = f.p;
  CHECK(pages_alloc(p, 70 * PG, PAGES_LOW) == at(&f, 0));
  CHECK(pages_alloc(p, 70 * PG, PAGES_LOW) == at(&f, 70));
  CHECK(pages_alloc(p, 30 * PG, PAGES_HIGH) == at(&f, 270));
  CHECK_EQ_SZ(pages_free(p, at(&f, 10), 20 * PG, 0), PAGES_OK);
  size_t mb = stats_of(&f).meta_bytes;
  unsigned char* snap = malloc(mb);
  memcpy(snap, f.meta, mb);
  unsigned char* base = f.base;
  struct {
    void* ptr;
    size_t len;
    unsigned flags;
    int want;
  } bad[] = {
      {at(&f, 10), 20 * PG, 0, PAGES_E_NOT_ALLOCATED},  /* double free */
      {at(&f, 5), 10 * PG, 0, PAGES_E_NOT_ALLOCATED},   /* partly free */
      {at(&f, 29), 2 * PG, 0, PAGES_E_NOT_ALLOCATED},   /* partly free, other end */
      {at(&f, 139), 2 * PG, 0, PAGES_E_NOT_ALLOCATED},  /* runs past the heap's end */
      {at(&f, 200), PG, 0, PAGES_E_NOT_ALLOCATED},      /* never allocated */
      {at(&f, 269), 31 * PG, 0, PAGES_E_NOT_ALLOCATED}, /* one free page before */
      {base - PG, PG, 0, PAGES_E_FOREIGN},
      {base - PG, 2 * PG, 0, PAGES_E_FOREIGN},          /* straddles the start */
      {at(&f, 299), 2 * PG, 0, PAGES_E_FOREIGN},        /* straddles the end */
      {at(&f, 300), PG, 0, PAGES_E_FOREIGN},
      {(void*)(uintptr_t)PG, PG, 0, PAGES_E_FOREIGN},
      {base + 8, PG, 0, PAGES_E_INVALID},                /* misaligned pointer */
      {base, PG + 8, 0, PAGES_E_INVALID},                /* misaligned length */
      {base, 100, 0, PAGES_E_INVALID},
      {base, SIZE_MAX & ~(PG - 1), 0, PAGES_E_INVALID},  /* wraps */
      {base, PG, 0x2, PAGES_E_INVALID},                  /* flags */
      {base, PG, PAGES_CLEAN | 0x80, PAGES_E_INVALID},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int r = pages_free(p, bad[i].ptr, bad[i].len, bad[i].flags);
    if (r != bad[i].want) fprintf(stderr, "  case %zu: %s\n", i, pages_status_name(r));
    CHECK_EQ_SZ(r, bad[i].want);
    if (bad[i].flags == 0) CHECK_EQ_SZ(pages_validate(p, bad[i].ptr, bad[i].len), bad[i].want);
    CHECK(memcmp(snap, f.meta, mb) == 0);
  }
  /* refused allocations change nothing either */
  CHECK(pages_alloc(p, 131 * PG, PAGES_LOW) == NULL);
  CHECK(pages_alloc(p, 131 * PG, PAGES_HIGH | PAGES_ZEROED) == NULL);
  CHECK(pages_alloc(p, PG, 0) == NULL);
  CHECK(memcmp(snap, f.meta, mb) == 0);
  size_t rel = 1;
  CHECK_EQ_SZ(pages_trim(p, NULL, NULL, &rel), PAGES_E_INVALID);
  CHECK_EQ_SZ(rel, 0);
  CHECK(memcmp(snap, f.meta, mb) == 0);
  check_stats_consistent(&f);
  free(snap);
  pfix_close(&f);
}

/* ---- zero tracking --------------------------------------------------------------------- */

static int page_is_zero(const unsigned char* q) {
  for (size_t i = 0; i < PG; i++)
    if (q[i]) return 0;
  return 1;
}

TEST(zeroed_runs_read_as_zeros_and_known_zero_pages_are_not_rewritten) {
  pfix f;
  CHECK_EQ_SZ(pfix_open(&f, 64 * PG, 0), PAGES_OK);
  /* Claim the region reads as zeros, though page 5 does not: a zeroed request
   * over it must leave it alone, proving known-zero pages are not cleared. */
  memset(at(&f, 5), 0x11, PG);
  CHECK_EQ_SZ(pages_init(&f.p, f.meta, f.meta_size, f.base, 64 * PG, PAGES_REGION_ZEROED),
              PAGES_OK);
  pages_t* p = f.p;
  unsigned char* a = pages_alloc(p, 8 * PG, PAGES_LOW | PAGES_ZEROED);
  CHECK(a == f.base);
  CHECK_EQ_SZ(stats_of(&f).zero_filled_bytes, 0);
  CHECK(((unsigned char*)at(&f, 5))[100] == 0x11);
  memset(a, 0xAB, 8 * PG);
  CHECK_EQ_SZ(pages_free(p, a, 8 * PG, 0), PAGES_OK); /* dirty */
  pages_stats_t s = stats_of(&f);
  CHECK_EQ_SZ(s.zero_known_bytes, 56 * PG);
  CHECK_EQ_SZ(s.committed_bytes, 8 * PG);
  CHECK_EQ_SZ(s.peak_committed_bytes, 8 * PG);
  /* 16 pages: the 8 dirty ones are cleared, the 8 known zero ones are not */
  unsigned char* b = pages_alloc(p, 16 * PG, PAGES_LOW | PAGES_ZEROED);
  CHECK(b == f.base);
  for (size_t i = 0; i < 16; i++) CHECK(page_is_zero(b + i * PG));
  s = stats_of(&f);
  CHECK_EQ_SZ(s.zero_filled_bytes, 8 * PG);
  CHECK_EQ_SZ(s.committed_bytes, 16 * PG);
  CHECK_EQ_SZ(s.peak_committed_bytes, 16 * PG);
  /* freed with CLEAN: known zero again, no clearing next time */
  memset(b + 3 * PG, 0x22, PG);
  madvise(b, 16 * PG, MADV_DONTNEED);
  CHECK_EQ_SZ(pages_free(p, b, 16 * PG, PAGES_CLEAN), PAGES_OK);
  s = stats_of(&f);
  CHECK_EQ_SZ(s.zero_known_bytes, 64 * PG);
  CHECK_EQ_SZ(s.committed_bytes, 0);
  CHECK_EQ_SZ(s.peak_committed_bytes, 16 * PG); /* the peak stays */
  unsigned char* c = pages_alloc(p, 64 * PG, PAGES_HIGH | PAGES_ZEROED);
  CHECK(c == f.base);
  CHECK_EQ_SZ(stats_of(&f).zero_filled_bytes, 8 * PG);
  for (size_t i = 0; i < 64; i++) CHECK(page_is_zero(c + i * PG));
  /* a non-zeroed request may return dirty pages: nothing is cleared */
  memset(c, 0x33, 64 * PG);
  CHECK_EQ_SZ(pages_free(p, c, 64 * PG, 0), PAGES_OK);
  unsigned char* d = pages_alloc(p, 4 * PG, PAGES_LOW);
  CHECK(d == f.base && d[0] == 0x33);
  CHECK_EQ_SZ(stats_of(&f).zero_filled_bytes, 8 * PG);
  CHECK_EQ_SZ(stats_of(&f).peak_committed_bytes, 64 * PG);
  check_stats_consistent(&f);
  pfix_close(&f);
}

TEST(without_region_zeroed_every_zeroed_request_is_cleared) {
  pfix f;
  CHECK_EQ_SZ(pfix_open(&f, 10 * PG, 0), PAGES_OK);
  pages_stats_t s = stats_of(&f);
  CHECK_EQ_SZ(s.zero_known_bytes, 0);
  CHECK_EQ_SZ(s.committed_bytes, 10 * PG);
  CHECK_EQ_SZ(s.peak_committed_bytes, 10 * PG);
  memset(f.base, 0x44, 10 * PG);
  unsigned char* a = pages_alloc(f.p, 3 * PG, PAGES_HIGH | PAGES_ZEROED);
  CHECK(a == at(&f, 7));
  for (size_t i = 0; i < 3; i++) CHECK(page_is_zero(a + i * PG));
  CHECK(((unsigned char*)at(&f, 6))[0] == 0x44); /* nothing outside the run */
  CHECK_EQ_SZ(stats_of(&f).zero_filled_bytes, 3 * PG);
  check_stats_consistent(&f);
  pfix_close(&f);
}

typedef struct {
  size_t n;
  size_t start[16], len[16];
  size_t refuse_at; /* 1-based call number to refuse, 0 for none */
  size_t calls;
  unsigned char* base;
} trim_log;

static int record_release(void* ptr, size_t length, void* arg) {
  trim_log* t = arg;
  t->calls++;
  if (t->calls == t->refuse_at) return 1;
  if (t->n < 16) {
    t->start[t->n] = (size_t)((unsigned char*)ptr - t->base) / PG;
    t->len[t->n] = length / PG;
    t->n++;
  }
  memset(ptr, 0, length); /* what madvise(MADV_DONTNEED) makes it read as */
  return 0;
}

TEST(trim_releases_exactly_the_free_runs_not_known_zero) {
  pfix f;
  CHECK_EQ_SZ(pfix_open(&f, 300 * PG, 0), PAGES_OK); /* nothing known zero */
  pages_t* p = f.p;
  trim_log t;
  memset(&t, 0, sizeof t);
  t.base = f.base;
  size_t rel = 0;
  CHECK_EQ_SZ(pages_trim(p, record_release, &t, &rel), PAGES_OK);
  CHECK_EQ_SZ(t.n, 1);
  CHECK_EQ_SZ(t.start[0], 0);
  CHECK_EQ_SZ(t.len[0], 300);
  CHECK_EQ_SZ(rel, 300 * PG);
  CHECK_EQ_SZ(stats_of(&f).committed_bytes, 0);
  CHECK_EQ_SZ(stats_of(&f).peak_committed_bytes, 300 * PG);
  /* nothing left to release */
  memset(&t, 0, sizeof t);
  t.base = f.base;
  CHECK_EQ_SZ(pages_trim(p, record_release, &t, &rel), PAGES_OK);
  CHECK_EQ_SZ(t.calls, 0);
  CHECK_EQ_SZ(rel, 0);
  /* used [0,130) and [200,300); dirty free: [2,5), [60,128) (across words)
   * and [290,291); [128,130) freed clean; known zero [130,200) */
  CHECK(pages_alloc(p, 130 * PG, PAGES_LOW) == at(&f, 0));
  CHECK(pages_alloc(p, 100 * PG, PAGES_HIGH) == at(&f, 200));
  CHECK_EQ_SZ(pages_free(p, at(&f, 2), 3 * PG, 0), PAGES_OK);
  CHECK_EQ_SZ(pages_free(p, at(&f, 60), 68 * PG, 0), PAGES_OK);
  CHECK_EQ_SZ(pages_free(p, at(&f, 128), 2 * PG, PAGES_CLEAN), PAGES_OK);
  CHECK_EQ_SZ(pages_free(p, at(&f, 290), PG, 0), PAGES_OK);
  pages_stats_t s = stats_of(&f);
  CHECK_EQ_SZ(s.zero_known_bytes, 72 * PG);
  CHECK_EQ_SZ(s.free_runs, 3);
  memset(&t, 0, sizeof t);
  t.base = f.base;
  t.refuse_at = 2; /* the [60,128) run is refused: it stays dirty */
  CHECK_EQ_SZ(pages_trim(p, record_release, &t, &rel), PAGES_OK);
  CHECK_EQ_SZ(t.calls, 3);
  CHECK_EQ_SZ(t.n, 2);
  CHECK_EQ_SZ(t.start[0], 2);
  CHECK_EQ_SZ(t.len[0], 3);
  CHECK_EQ_SZ(t.start[1], 290);
  CHECK_EQ_SZ(t.len[1], 1);
  CHECK_EQ_SZ(rel, 4 * PG);
  CHECK_EQ_SZ(stats_of(&f).zero_known_bytes, 76 * PG);
  memset(&t, 0, sizeof t);
  t.base = f.base;
  CHECK_EQ_SZ(pages_trim(p, record_release, &t, NULL), PAGES_OK);
  CHECK_EQ_SZ(t.n, 1);
  CHECK_EQ_SZ(t.start[0], 60);
  CHECK_EQ_SZ(t.len[0], 68);
  s = stats_of(&f);
  CHECK_EQ_SZ(s.zero_known_bytes, s.free_bytes);
  CHECK_EQ_SZ(s.committed_bytes, s.used_bytes);
  /* the trimmed pages are known zero now: a zeroed request clears nothing */
  size_t filled = s.zero_filled_bytes;
  CHECK(pages_alloc(p, 68 * PG, PAGES_LOW | PAGES_ZEROED) == at(&f, 60));
  CHECK_EQ_SZ(stats_of(&f).zero_filled_bytes, filled);
  check_stats_consistent(&f);
  pfix_close(&f);
}

/* ---- huge regions over zero-reading metadata ------------------------------------------------ */

/* Resident pages of a mapping (mincore counts the shared zero page too, so
 * pages only read count as well). */
static size_t resident_pages(void* addr, size_t len) {
  size_t n = (len + PG - 1) / PG, count = 0;
  unsigned char* vec = malloc(n);
  if (!vec || mincore(addr, len, vec) != 0) {
    free(vec);
    return SIZE_MAX;
  }
  for (size_t i = 0; i < n; i++) count += vec[i] & 1;
  free(vec);
  return count;
}

static void huge_region(size_t size, size_t max_resident) {
  size_t ms = pages_meta_size(size);
  void* region = map_noreserve(size, PROT_NONE); /* never touched */
  void* meta = map_noreserve(ms, PROT_READ | PROT_WRITE);
  if (!region || !meta) {
    printf("  skipped a %zu GiB region: no address space (%s)\n", size / GIB,
           region ? "metadata" : "region");
    if (region) munmap(region, size);
    if (meta) munmap(meta, ms);
    return;
  }
  madvise(meta, ms, MADV_NOHUGEPAGE); /* count 4 KiB pages, not 2 MiB ones */
  pages_t* p = NULL;
  CHECK_EQ_SZ(pages_init(&p, meta, ms, region, size, PAGES_REGION_ZEROED | PAGES_META_ZEROED),
              PAGES_OK);
  size_t after_init = resident_pages(meta, ms);
  CHECK(after_init <= 4);
  unsigned char* b = region;
  void* heap = pages_alloc(p, 64 * KIB, PAGES_LOW);
  CHECK(heap == region);
  void* big = pages_alloc(p, GIB, PAGES_HIGH | PAGES_ZEROED);
  CHECK(big == b + size - GIB);
  void* seg = pages_alloc(p, 3 * MIB, PAGES_LOW);
  CHECK(seg == b + 64 * KIB);
  pages_stats_t s;
  CHECK_EQ_SZ(pages_stats(p, &s), PAGES_OK);
  CHECK_EQ_SZ(s.largest_free, size - GIB - 64 * KIB - 3 * MIB);
  CHECK_EQ_SZ(s.zero_filled_bytes, 0);
  CHECK_EQ_SZ(s.committed_bytes, GIB + 64 * KIB + 3 * MIB);
  CHECK_EQ_SZ(pages_free(p, big, GIB, PAGES_CLEAN), PAGES_OK);
  CHECK_EQ_SZ(pages_free(p, seg, 3 * MIB, 0), PAGES_OK);
  CHECK_EQ_SZ(pages_validate(p, heap, 64 * KIB), PAGES_OK);
  /* the rest is one run again, reachable from either end */
  CHECK_EQ_SZ(pages_stats(p, &s), PAGES_OK);
  CHECK_EQ_SZ(s.largest_free, size - 64 * KIB);
  CHECK_EQ_SZ(s.free_runs, 1);
  CHECK(pages_alloc(p, PG, PAGES_LOW) == b + 64 * KIB);
  CHECK(pages_alloc(p, PG, PAGES_HIGH) == b + size - PG);
  CHECK(pages_alloc(p, size - 64 * KIB - PG, PAGES_LOW) == NULL);
  CHECK_EQ_SZ(pages_stats(p, &s), PAGES_OK);
  CHECK_EQ_SZ(s.largest_free, size - 64 * KIB - 2 * PG);
  CHECK_EQ_SZ(s.free_runs, 1);
  size_t after = resident_pages(meta, ms);
  CHECK(after <= max_resident);
  printf("  %zu GiB region: %zu MiB metadata, %zu pages of it resident after init, %zu at the end\n",
         size / GIB, ms / MIB, after_init, after);
  munmap(region, size);
  munmap(meta, ms);
}

TEST(zero_reading_metadata_of_a_huge_region_stays_untouched) {
  /* 1 TiB: 112 MiB of metadata. The allocations touch the bitmaps and the
   * tree only along their ranges and the paths above them. */
  huge_region((size_t)1 << 40, 256);
}

TEST(a_16_tib_region_uses_the_wide_tree_levels) {
  /* 2^32 pages: the top levels store 64-bit fields. */
  huge_region((size_t)1 << 44, 256);
}

/* ---- damaged metadata ------------------------------------------------------------------------ */

/* pages_reset: the instance is as after pages_init (stats, check), the
 * lowest keep_bytes of dirty bottom pages stay dirty, everything else
 * written is released and known zero; only the touched parts are visited
 * (pages_touched). */
static int count_release(void* ptr, size_t length, void* arg) {
  madvise(ptr, length, MADV_DONTNEED);
  *(size_t*)arg += length;
  return 0;
}

TEST(reset_frees_all_keeping_the_lowest_dirty_pages) {
  pfix f;
  size_t size = 256 * MIB;
  CHECK_EQ_SZ(pfix_open(&f, size, PAGES_REGION_ZEROED | PAGES_META_ZEROED), PAGES_OK);
  pages_stats_t fresh;
  pages_stats(f.p, &fresh);
  for (int round = 0; round < 3; round++) {
    void* lo = pages_alloc(f.p, 40 * PG, PAGES_LOW);
    void* lo2 = pages_alloc(f.p, 30 * PG, PAGES_LOW);
    void* hi = pages_alloc(f.p, 50 * PG, PAGES_HIGH | PAGES_ZEROED);
    CHECK(lo && lo2 && hi);
    memset(lo, 0xAA, 40 * PG);
    memset(lo2, 0xAA, 30 * PG);
    memset(hi, 0xAA, 50 * PG);
    CHECK_EQ_SZ(pages_free(f.p, lo2, 30 * PG, 0), PAGES_OK); /* free, dirty */
    size_t lo_end, hi_start;
    CHECK_EQ_SZ(pages_touched(f.p, &lo_end, &hi_start), PAGES_OK);
    CHECK(lo_end >= 70 * PG && lo_end <= 80 * PG);
    CHECK_EQ_SZ(hi_start, size - 50 * PG);
    size_t released = 0;
    pages_reset_work w;
    CHECK_EQ_SZ(pages_reset(f.p, 50 * PG, count_release, &released, &w), PAGES_OK);
    CHECK_EQ_SZ(released, w.released_bytes);
    CHECK_EQ_SZ(released, (70 - 50 + 50) * PG); /* 20 bottom pages past the budget, the top run */
    CHECK(w.meta_words < 64);
    pages_stats_t s;
    pages_stats(f.p, &s);
    CHECK_EQ_SZ(s.used_bytes, 0);
    CHECK_EQ_SZ(s.free_runs, 1);
    CHECK_EQ_SZ(s.largest_free, fresh.largest_free);
    CHECK_EQ_SZ(s.zero_known_bytes, size - 50 * PG);
    CHECK_EQ_SZ(s.peak_committed_bytes, 50 * PG);
    CHECK_EQ_SZ(pages_check(f.p), PAGES_OK);
    CHECK_EQ_SZ(pages_touched(f.p, &lo_end, &hi_start), PAGES_OK);
    CHECK_EQ_SZ(lo_end, 50 * PG);
    CHECK_EQ_SZ(hi_start, size);
    /* the kept pages are dirty: a zeroed run over them is cleared */
    void* z = pages_alloc(f.p, 60 * PG, PAGES_LOW | PAGES_ZEROED);
    CHECK(z == f.base);
    const unsigned char* b = z;
    int zero = 1;
    for (size_t i = 0; i < 60 * PG; i++) zero &= b[i] == 0;
    CHECK(zero);
    CHECK_EQ_SZ(pages_reset(f.p, 0, count_release, &released, NULL), PAGES_OK);
  }
  /* a high run of nearly the whole region and a low one under it: the two
   * touched parts meet, and every page handed out counts as written */
  void* top = pages_alloc(f.p, size - 8 * PG, PAGES_HIGH);
  CHECK(top != NULL);
  void* low = pages_alloc(f.p, 4 * PG, PAGES_LOW);
  CHECK(low == f.base);
  CHECK_EQ_SZ(pages_free(f.p, top, size - 8 * PG, 0), PAGES_OK);
  CHECK_EQ_SZ(pages_check(f.p), PAGES_OK);
  size_t released = 0;
  CHECK_EQ_SZ(pages_reset(f.p, 0, count_release, &released, NULL), PAGES_OK);
  CHECK_EQ_SZ(released, size - 4 * PG);
  pages_stats_t s;
  pages_stats(f.p, &s);
  CHECK_EQ_SZ(s.zero_known_bytes, size);
  CHECK_EQ_SZ(pages_check(f.p), PAGES_OK);
  pfix_close(&f);
}

TEST(damaged_metadata_is_found_and_then_every_call_refuses) {
  pfix f;
  CHECK_EQ_SZ(pfix_open(&f, 4096 * PG, 0), PAGES_OK);
  size_t mb = stats_of(&f).meta_bytes;
  unsigned char* before = malloc(mb);
  unsigned char* after = malloc(mb);
  /* A state and the byte changes one allocation makes from it: each of them,
   * undone alone, breaks some invariant. */
  CHECK(pages_alloc(f.p, 100 * PG, PAGES_LOW) != NULL);
  CHECK(pages_alloc(f.p, 50 * PG, PAGES_HIGH) != NULL);
  memcpy(before, f.meta, mb);
  CHECK(pages_alloc(f.p, 4096 * PG - 150 * PG, PAGES_LOW) != NULL); /* now full */
  memcpy(after, f.meta, mb);
  size_t diffs = 0, found_by_alloc = 0;
  for (size_t i = 0; i < mb; i++) {
    if (before[i] == after[i]) continue;
    diffs++;
    memcpy(f.meta, after, mb);
    f.meta[i] = before[i];
    /* a node that now promises free pages is caught by the allocation itself */
    if (pages_alloc(f.p, PG, PAGES_LOW) == NULL && pages_check_message(f.p)[0] != '\0') {
      found_by_alloc++;
      CHECK_EQ_SZ(pages_free(f.p, f.base, PG, 0), PAGES_E_CORRUPTED);
    }
    memcpy(f.meta, after, mb);
    f.meta[i] = before[i];
    int r = pages_check(f.p);
    CHECK_EQ_SZ(r, PAGES_E_CORRUPTED);
    if (r != PAGES_E_CORRUPTED) fprintf(stderr, "  byte %zu undone went unnoticed\n", i);
    CHECK(pages_check_message(f.p)[0] != '\0');
    CHECK(pages_alloc(f.p, PG, PAGES_HIGH) == NULL);
    CHECK_EQ_SZ(pages_free(f.p, f.base, PG, 0), PAGES_E_CORRUPTED);
    CHECK_EQ_SZ(pages_validate(f.p, f.base, PG), PAGES_E_CORRUPTED);
    CHECK_EQ_SZ(pages_trim(f.p, record_release, NULL, NULL), PAGES_E_CORRUPTED);
    pages_stats_t s;
    CHECK_EQ_SZ(pages_stats(f.p, &s), PAGES_OK); /* still works */
    CHECK_EQ_SZ(pages_check(f.p), PAGES_E_CORRUPTED);
  }
  printf("  %zu changed bytes, each noticed by pages_check; %zu also by pages_alloc\n", diffs,
         found_by_alloc);
  CHECK(diffs > 20);
  CHECK(found_by_alloc > 0);
  /* an intact copy is fine again */
  memcpy(f.meta, after, mb);
  CHECK_EQ_SZ(pages_check(f.p), PAGES_OK);
  /* a scribble over the bitmaps */
  memset(f.meta + mb / 2, 0xA5, 64);
  CHECK_EQ_SZ(pages_check(f.p), PAGES_E_CORRUPTED);
  printf("  scribbled: %s\n", pages_check_message(f.p));
  CHECK(pages_alloc(f.p, PG, PAGES_LOW) == NULL);
  free(before);
  free(after);
  pfix_close(&f);
}

int main(void) {
  RUN(init_rejects_each_bad_argument);
  RUN(meta_size_is_a_few_bytes_per_64_pages);
  RUN(a_handle_that_is_not_a_live_instance_is_refused);
  RUN(low_and_high_place_exactly);
  RUN(runs_of_any_length_stack_from_both_ends_across_words);
  RUN(bad_alloc_arguments_return_null);
  RUN(a_small_heap_leaves_900_mib_in_one_run_of_1_gib);
  RUN(a_fragmented_100_mib_heap_leaves_800_mib_in_one_run);
  RUN(frees_cover_run_tails_and_adjacent_runs);
  RUN(refused_frees_change_nothing);
  RUN(zeroed_runs_read_as_zeros_and_known_zero_pages_are_not_rewritten);
  RUN(without_region_zeroed_every_zeroed_request_is_cleared);
  RUN(trim_releases_exactly_the_free_runs_not_known_zero);
  RUN_FORKED(zero_reading_metadata_of_a_huge_region_stays_untouched);
  RUN_FORKED(a_16_tib_region_uses_the_wide_tree_levels);
  RUN(reset_frees_all_keeping_the_lowest_dirty_pages);
  RUN(damaged_metadata_is_found_and_then_every_call_refuses);
  return test_summary("pages_basic");
}
