/*
 * offheap — the dlmalloc core built with -DFOOTERS=1: every in-use chunk
 * records its owner in the word after it, so frees find their mspace
 * whatever mspace argument they are given (spec 1.3, 2.4, 4.2; section 7
 * tests #40 (the foreign-pointer half) and #50).
 *
 * The original design dereferences the owner read from the footer before it
 * can check it, so double frees, interior frees and damaged footers crashed
 * it (spec 4.4, "SIGSEGV" column). offheap must report them through
 * custom_abort instead: each such case runs in a forked child and a signal
 * fails the test.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include "../../csrc/dlmalloc.h"
#include "port_test.h"
#include "testhelper.h"

#if !defined(FOOTERS) || FOOTERS != 1
#error "test_dl_footers.c must be built with -DFOOTERS=1"
#endif

#define GARBAGE ((size_t)0x4141414141414141ULL)

static const char USAGE_MSG[] = "Usage Error Detected!";
static const char CORRUPT_MSG[] = "Corruption Detected!";


static int detected_msg(const char* m) {
  return m && (strcmp(m, USAGE_MSG) == 0 || strcmp(m, CORRUPT_MSG) == 0);
}
#define CHECK_DETECTED()                        \
  do {                                          \
    CHECK_EQ_SZ(port_state.n_abort, 1);         \
    CHECK(detected_msg(port_state.last_abort)); \
  } while (0)

/* The footer of an in-use chunk: the prev_foot word of the next chunk, right
 * after the usable bytes (usable = chunk size - 16 with FOOTERS). */
#define FOOTER(mem, usable) (*(size_t*)((char*)(mem) + (usable)))

/* Usable sizes with a 16-byte overhead: max(32, roundup16(n + 16)) - 16. */
TEST(footers_usable_sizes) {
  port_reset();
  static const size_t n[] = {0, 15, 16, 17, 100, 224, 225, 1000};
  static const size_t u[] = {16, 16, 16, 32, 112, 224, 240, 1008};
  for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
    void* p = dlmalloc(n[i]);
    CHECK(p != NULL && ((uintptr_t)p & 15) == 0);
    CHECK_EQ_SZ(dlmalloc_usable_size(p), u[i]);
    dlfree(p);
  }
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #40: bulk_free leaves (and counts) the entries another mspace owns. */
TEST(t40_bulk_free_foreign) {
  port_reset();
  mspace m1 = create_mspace(0, 1);
  mspace m2 = create_mspace(0, 1);
  CHECK(m1 && m2);
  if (!m1 || !m2) return;
  void* p2 = mspace_malloc(m2, 100);
  void* arr[3] = {mspace_malloc(m1, 100), p2, mspace_malloc(m1, 200)};
  CHECK(arr[0] && arr[1] && arr[2]);
  CHECK_EQ_SZ(mspace_bulk_free(m1, arr, 3), 1);
  CHECK(arr[0] == NULL);
  CHECK(arr[1] == p2);
  CHECK(arr[2] == NULL);
  CHECK_EQ_SZ(mspace_validate(m2, p2), DL_OK);
  CHECK_EQ_SZ(mspace_check(m1), DL_OK);
  CHECK_EQ_SZ(mspace_check(m2), DL_OK);
  /* the same through the global heap's bulk_free */
  void* g[2] = {dlmalloc(50), p2};
  CHECK_EQ_SZ(dlbulk_free(g, 2), 1);
  CHECK(g[0] == NULL && g[1] == p2);
  CHECK_EQ_SZ(mspace_validate(m2, p2), DL_OK);
  mspace_free(m2, p2);
  CHECK_EQ_SZ(mspace_check(m2), DL_OK);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  CHECK_EQ_SZ(port_state.n_abort, 0);
}

/* #50: mspace_free(m2, p) with p from m1 returns p to m1. */
TEST(t50_cross_mspace_free) {
  port_reset();
  mspace m1 = create_mspace(0, 1);
  mspace m2 = create_mspace(0, 1);
  CHECK(m1 && m2);
  if (!m1 || !m2) return;
  void* p = mspace_malloc(m1, 100);
  void* guard = mspace_malloc(m1, 16);
  void* q = mspace_malloc(m2, 100);
  CHECK(p && guard && q);
  size_t used2 = mspace_mallinfo(m2).uordblks;
  mspace_free(m2, p);
  CHECK_EQ_SZ(mspace_validate(m1, p), DL_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(mspace_mallinfo(m2).uordblks, used2);
  CHECK(mspace_malloc(m1, 100) == p);
  CHECK_EQ_SZ(mspace_check(m1), DL_OK);
  CHECK_EQ_SZ(mspace_check(m2), DL_OK);
  CHECK_EQ_SZ(port_state.n_abort, 0);
}

/* Plain free works for any space, and mspace_free for the global heap. */
TEST(footers_free_routes_to_owner) {
  port_reset();
  mspace m1 = create_mspace(0, 1);
  CHECK(m1 != NULL);
  if (!m1) return;
  void* p = mspace_malloc(m1, 100);
  void* guard = mspace_malloc(m1, 16);
  void* g = dlmalloc(100);
  void* gguard = dlmalloc(16);
  CHECK(p && guard && g && gguard);
  dlfree(p);
  CHECK(mspace_malloc(m1, 100) == p);
  mspace_free(m1, g);
  CHECK_EQ_SZ(dlmalloc_validate(g), DL_E_NOT_ALLOCATED);
  CHECK(dlmalloc(100) == g);
  CHECK_EQ_SZ(mspace_check(m1), DL_OK);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* realloc through the wrong mspace still grows the block in its owner. */
TEST(footers_realloc_routes_to_owner) {
  port_reset();
  mspace m1 = create_mspace(0, 1);
  mspace m2 = create_mspace(0, 1);
  CHECK(m1 && m2);
  if (!m1 || !m2) return;
  unsigned char* p = mspace_malloc(m1, 100);
  void* guard = mspace_malloc(m1, 16);
  CHECK(p && guard);
  memset(p, 0x3C, 100);
  unsigned char* q = mspace_realloc(m2, p, 5000);
  CHECK(q != NULL);
  if (!q) return;
  CHECK_EQ_SZ(mspace_validate(m1, q), DL_OK);
  CHECK_EQ_SZ(mspace_validate(m2, q), DL_E_FOREIGN);
  for (int i = 0; i < 100; i++) CHECK(q[i] == 0x3C);
  CHECK(mspace_realloc_in_place(m2, q, 10) == q);
  CHECK_EQ_SZ(mspace_check(m1), DL_OK);
  CHECK_EQ_SZ(mspace_check(m2), DL_OK);
}

/* Random operations on two spaces with frees through either: both stay
 * sound. */
TEST(footers_random_mixed) {
  port_reset();
  mspace ms[2] = {create_mspace(0, 1), create_mspace(0, 0)};
  CHECK(ms[0] && ms[1]);
  if (!ms[0] || !ms[1]) return;
  void* live[64] = {0};
  int owner[64] = {0};
  test_rng r = {77};
  for (int op = 0; op < 4000; op++) {
    int k = (int)test_rng_below(&r, 64);
    if (live[k]) {
      mspace_free(ms[test_rng_below(&r, 2)], live[k]); /* either space */
      live[k] = NULL;
    } else {
      owner[k] = (int)test_rng_below(&r, 2);
      live[k] = mspace_malloc(ms[owner[k]], 1 + (size_t)test_rng_below(&r, 3000));
      CHECK(live[k] != NULL);
    }
    if (op % 100 == 0) {
      CHECK_EQ_SZ(mspace_check(ms[0]), DL_OK);
      CHECK_EQ_SZ(mspace_check(ms[1]), DL_OK);
    }
  }
  for (int k = 0; k < 64; k++)
    if (live[k]) CHECK_EQ_SZ(mspace_validate(ms[owner[k]], live[k]), DL_OK);
  CHECK_EQ_SZ(mspace_check(ms[0]), DL_OK);
  CHECK_EQ_SZ(mspace_check(ms[1]), DL_OK);
  CHECK_EQ_SZ(port_state.n_abort, 0);
}

/* ---- misuse that crashed the original with FOOTERS (spec 4.4) ---------------- */

TEST(footers_double_free) {
  port_reset();
  mspace m = create_mspace(0, 1);
  CHECK(m != NULL);
  void* a = mspace_malloc(m, 40);
  void* g = mspace_malloc(m, 16);
  CHECK(a && g);
  mspace_free(m, a);
  TRY_ABORT(mspace_free(m, a));
  CHECK_DETECTED();
}

TEST(footers_double_free_top) {
  port_reset();
  void* keep = dlmalloc(32);
  void* a = dlmalloc(100);
  CHECK(keep && a);
  dlfree(a);
  TRY_ABORT(dlfree(a));
  CHECK_DETECTED();
}

TEST(footers_free_static) {
  static long static_array[32];
  port_reset();
  void* a = dlmalloc(100);
  CHECK(a != NULL);
  TRY_ABORT(dlfree(&static_array[4]));
  CHECK_DETECTED();
}

TEST(footers_free_stack) {
  port_reset();
  void* a = dlmalloc(100);
  CHECK(a != NULL);
  _Alignas(16) unsigned char buf[256];
  memset(buf, 0x41, sizeof buf); /* the "footer" it finds is garbage */
  TRY_ABORT(dlfree(buf + 64));
  CHECK_DETECTED();
}

TEST(footers_free_interior) {
  port_reset();
  mspace m = create_mspace(0, 1);
  CHECK(m != NULL);
  unsigned char* p = mspace_malloc(m, 1000);
  void* g = mspace_malloc(m, 16);
  CHECK(p && g);
  if (!p) return;
  memset(p, 0x41, 1000);
  TRY_ABORT(mspace_free(m, p + 32));
  CHECK_DETECTED();
}

TEST(footers_realloc_freed) {
  port_reset();
  void* a = dlmalloc(40);
  void* g = dlmalloc(16);
  CHECK(a && g);
  dlfree(a);
  TRY_ABORT((void)dlrealloc(a, 400));
  CHECK_DETECTED();
}

/* A damaged footer: the owner it names is garbage. */
TEST(footers_corrupt_footer) {
  port_reset();
  mspace m = create_mspace(0, 1);
  CHECK(m != NULL);
  unsigned char* p = mspace_malloc(m, 100);
  void* g = mspace_malloc(m, 100);
  CHECK(p && g);
  if (!p) return;
  size_t u = mspace_usable_size(p);
  CHECK_EQ_SZ(u, 112);
  FOOTER(p, u) = GARBAGE;
  TRY_ABORT(mspace_free(m, p));
  CHECK_DETECTED();
}

/* A footer that names a real, different mspace: the chunk is not in that
 * space's memory, so the free must be refused, not performed there. */
TEST(footers_footer_names_other_space) {
  port_reset();
  mspace m1 = create_mspace(0, 1);
  mspace m2 = create_mspace(0, 1);
  CHECK(m1 && m2);
  if (!m1 || !m2) return;
  unsigned char* p1 = mspace_malloc(m1, 100);
  void* g1 = mspace_malloc(m1, 100);
  unsigned char* p2 = mspace_malloc(m2, 100);
  void* g2 = mspace_malloc(m2, 100);
  CHECK(p1 && g1 && p2 && g2);
  if (!p1 || !p2) return;
  size_t u = mspace_usable_size(p1);
  FOOTER(p1, u) = FOOTER(p2, u); /* both 100-byte chunks: same footer offset */
  TRY_ABORT(mspace_free(m1, p1));
  CHECK_DETECTED();
  CHECK_EQ_SZ(mspace_check(m2), DL_OK);
}

/* mspace_check notices a damaged footer without aborting. */
TEST(footers_check_finds_bad_footer) {
  port_reset();
  mspace m = create_mspace(0, 1);
  CHECK(m != NULL);
  unsigned char* p = mspace_malloc(m, 100);
  void* g = mspace_malloc(m, 100);
  CHECK(p && g);
  if (!p) return;
  CHECK_EQ_SZ(mspace_check(m), DL_OK);
  FOOTER(p, mspace_usable_size(p)) = GARBAGE;
  volatile int st = DL_OK;
  TRY_ABORT(st = mspace_check(m));
  CHECK_EQ_SZ(port_state.n_abort, 0);
  CHECK_EQ_SZ(st, DL_E_CORRUPTED);
}

int main(void) {
  RUN_FORKED(footers_usable_sizes);
  RUN_FORKED(t40_bulk_free_foreign);
  RUN_FORKED(t50_cross_mspace_free);
  RUN_FORKED(footers_free_routes_to_owner);
  RUN_FORKED(footers_realloc_routes_to_owner);
  RUN_FORKED(footers_random_mixed);
  RUN_FORKED(footers_double_free);
  RUN_FORKED(footers_double_free_top);
  RUN_FORKED(footers_free_static);
  RUN_FORKED(footers_free_stack);
  RUN_FORKED(footers_free_interior);
  RUN_FORKED(footers_realloc_freed);
  RUN_FORKED(footers_corrupt_footer);
  RUN_FORKED(footers_footer_names_other_space);
  RUN_FORKED(footers_check_finds_bad_footer);
  return test_summary("dl_footers");
}
