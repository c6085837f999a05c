/*
 * offheap — the 53 test expectations of section 7 of
 * shared/reference/dlmalloc-spec.md, one TEST per number (some numbers have
 * two), against csrc/dlmalloc.c built with -DUSE_DL_PREFIX -DMSPACES
 * -DMALLOC_INSPECT_ALL -DNO_MALLOC_STATS=0 and FOOTERS=0 (the FOOTERS cases,
 * #40's foreign pointer and #50, are in test_dl_footers.c; #51 is in
 * test_dl_threads.c).
 *
 * Conventions of section 7: 64-bit, page 4096, G = 64 KiB unless a test sets
 * 2 MiB with mallopt first, direct mapping off (the test port's
 * custom_direct_mmap returns PORT_MFAIL) unless a test turns it on.
 * Tests marked [L] pin the exact layout measured on the fork; we keep them
 * because offheap promises byte-exact compatibility with it.
 *
 * Every test runs in its own forked child (RUN_FORKED): most of them need a
 * fresh process (first-allocation hook counts, exact offsets, process-global
 * mallopt settings, mmap placement modes), and an abort kills the heap it
 * happened in. The parent never touches the allocator.
 *
 * PORTABLE builds never set errno, so the errno parts of section 7 are not
 * checked.
 *
 * Also here: the deliberate differences of offheap from the fork (safer):
 * free(stack address) and free(interior pointer into zeroed memory) reach
 * custom_abort instead of being silently ignored.
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

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define G64 (64 * KiB)
#define G2M (2 * MiB)

static const char USAGE_MSG[] = "Usage Error Detected!";

/* The nth (0-based) successful call of kind k ('m', 'd') in the port log. */
static char* logged_map(char kind, int nth) {
  for (int i = 0; i < port_state.n_log; i++) {
    const port_call* c = &port_state.log[i];
    if (c->kind == kind && c->ptr != PORT_MFAIL && nth-- == 0) return (char*)c->ptr;
  }
  return NULL;
}

/* Number of logged calls of kind k. */
static int count_log(char kind) {
  int n = 0;
  for (int i = 0; i < port_state.n_log; i++) n += port_state.log[i].kind == kind;
  return n;
}

/* The nth (0-based) logged custom_munmap call, or NULL. */
static const port_call* logged_unmap(int nth) {
  for (int i = 0; i < port_state.n_log; i++) {
    const port_call* c = &port_state.log[i];
    if (c->kind == 'u' && nth-- == 0) return c;
  }
  return NULL;
}


static int aligned(const void* p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static void fill(void* p, size_t n, unsigned char seed) {
  unsigned char* b = p;
  for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(seed + i * 7);
}
static int filled(const void* p, size_t n, unsigned char seed) {
  const unsigned char* b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != (unsigned char)(seed + i * 7)) return 0;
  return 1;
}
static int all_bytes(const void* p, size_t n, unsigned char v) {
  const unsigned char* b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != v) return 0;
  return 1;
}

/* ---- 2.1 core allocation ----------------------------------------------------- */

/* #1 malloc(0) is a unique minimum chunk. */
TEST(t01_malloc_zero) {
  port_reset();
  char* p = dlmalloc(0);
  char* q = dlmalloc(0);
  CHECK(p != NULL && q != NULL);
  if (!p || !q) return;
  CHECK(p != q);
  CHECK(aligned(p, 16) && aligned(q, 16));
  CHECK_EQ_SZ(dlmalloc_usable_size(p), 24);
  CHECK_EQ_SZ(dlmalloc_usable_size(q), 24);
  CHECK_EQ_SZ(q - p, 32); /* [L] fresh heap */
  dlfree(p);
  dlfree(q);
  CHECK_EQ_SZ(port_state.n_abort, 0);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

static void check_no_hook_calls(void) {
  CHECK_EQ_SZ(port_state.n_mmap, 0);
  CHECK_EQ_SZ(port_state.n_direct, 0);
  CHECK_EQ_SZ(port_state.n_munmap, 0);
  CHECK_EQ_SZ(port_state.n_init_lock, 0);
  CHECK_EQ_SZ(port_state.n_final_lock, 0);
  CHECK_EQ_SZ(port_state.n_acquire, 0);
  CHECK_EQ_SZ(port_state.n_release, 0);
  CHECK_EQ_SZ(port_state.n_abort, 0);
}

/* #2 free(NULL): nothing, not even a lock, on a fresh and on a live heap. */
TEST(t02_free_null) {
  port_reset();
  dlfree(NULL);
  check_no_hook_calls();
  void* p = dlmalloc(1);
  CHECK(p != NULL);
  port_reset_counters();
  dlfree(NULL);
  check_no_hook_calls();
  dlfree(p);
}

/* #3 usable sizes follow max(32, roundup16(n + 8)) - 8. */
TEST(t03_usable_sizes) {
  port_reset();
  static const size_t n[] = {1, 24, 25, 41, 100, 232, 233, 256, 1000, 4096};
  static const size_t u[] = {24, 24, 40, 56, 104, 232, 248, 264, 1000, 4104};
  for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
    void* p = dlmalloc(n[i]);
    CHECK(p != NULL);
    CHECK_EQ_SZ(dlmalloc_usable_size(p), u[i]);
    dlfree(p);
  }
  CHECK_EQ_SZ(dlmalloc_usable_size(NULL), 0);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #4 every pointer is 16-aligned; [L] the first block of a fresh heap is
 * region base + 16, hence not 32-aligned. */
TEST(t04_alignment) {
  port_reset();
  char* first = dlmalloc(1);
  char* base = logged_map('m', 0);
  CHECK(first != NULL && base != NULL);
  CHECK(first == base + 16);
  CHECK(((uintptr_t)first & 31) == 16);
  test_rng r = {0x1234567};
  void* live[64] = {0};
  for (int i = 0; i < 2000; i++) {
    int k = (int)test_rng_below(&r, 64);
    size_t n = (size_t)test_rng_below(&r, 3000);
    switch (test_rng_below(&r, 3)) {
      case 0:
        dlfree(live[k]);
        live[k] = dlmalloc(n);
        break;
      case 1:
        dlfree(live[k]);
        live[k] = dlcalloc(1 + test_rng_below(&r, 20), n / 20);
        break;
      default:
        live[k] = dlrealloc(live[k], n);
        break;
    }
    CHECK(live[k] != NULL && aligned(live[k], 16));
  }
  for (int k = 0; k < 64; k++) dlfree(live[k]);
  dlfree(first);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #5 realloc(NULL, n) is malloc(n). */
TEST(t05_realloc_null) {
  port_reset();
  void* p = dlrealloc(NULL, 10);
  CHECK(p != NULL);
  CHECK_EQ_SZ(dlmalloc_usable_size(p), 24);
  dlfree(p);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #6 realloc(p, 0) keeps p, shrunk to the minimum chunk; it does not free. */
TEST(t06_realloc_zero) {
  port_reset();
  char* p = dlmalloc(500);
  void* guard = dlmalloc(16);
  CHECK(p && guard);
  fill(p, 500, 3);
  char* r = dlrealloc(p, 0);
  CHECK(r == p);
  CHECK_EQ_SZ(dlmalloc_usable_size(r), 24);
  CHECK(filled(r, 24, 3));
  CHECK_EQ_SZ(dlmalloc_validate(r), DL_OK);
  dlfree(r);
  dlfree(guard);
  CHECK_EQ_SZ(port_state.n_abort, 0);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #7 calloc overflow gives NULL. */
TEST(t07_calloc_overflow) {
  port_reset();
  CHECK(dlcalloc(SIZE_MAX / 2 + 1, 2) == NULL);
  CHECK(dlcalloc((size_t)1 << 33, (size_t)1 << 33) == NULL);
  void* p = dlcalloc(4, 4);
  CHECK(p != NULL);
  dlfree(p);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #8 calloc(0, x) is a minimum chunk. */
TEST(t08_calloc_zero) {
  port_reset();
  void* p = dlcalloc(0, 5);
  CHECK(p != NULL);
  CHECK_EQ_SZ(dlmalloc_usable_size(p), 24);
  dlfree(p);
}

/* #9 calloc zeroes reused memory. */
TEST(t09_calloc_reuse_zeroed) {
  port_reset();
  char* a = dlmalloc(200);
  void* guard = dlmalloc(16);
  CHECK(a && guard);
  memset(a, 0x55, 200);
  dlfree(a);
  char* b = dlcalloc(1, 200);
  CHECK(b == a);
  CHECK(b && all_bytes(b, 200, 0));
  dlfree(b);
  dlfree(guard);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #10 impossible sizes give NULL and leave the heap usable. */
TEST(t10_huge_requests) {
  port_reset();
  char* a = dlmalloc(100);
  CHECK(a != NULL);
  fill(a, 100, 9);
  CHECK(dlmalloc(SIZE_MAX) == NULL);
  CHECK(dlmalloc(SIZE_MAX - 127) == NULL);
  CHECK(dlmalloc(SIZE_MAX - 128) == NULL);
  CHECK(dlmalloc((size_t)1 << 62) == NULL);
  CHECK(dlrealloc(a, SIZE_MAX - 64) == NULL); /* realloc failure keeps a */
  CHECK(filled(a, 100, 9));
  void* b = dlmalloc(100);
  CHECK(b != NULL);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  dlfree(a);
  dlfree(b);
  CHECK_EQ_SZ(port_state.n_abort, 0);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #11 memalign with a <= 16 is plain malloc. */
TEST(t11_memalign_small) {
  port_reset();
  static const size_t a[] = {0, 1, 8, 16};
  for (size_t i = 0; i < 4; i++) {
    void* p = dlmemalign(a[i], 100);
    CHECK(p != NULL && aligned(p, 16));
    CHECK(dlmalloc_usable_size(p) >= 100);
    dlfree(p);
  }
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #12 other alignments are raised to a power of two >= 32. */
TEST(t12_memalign_rounding) {
  port_reset();
  static const size_t a[] = {17, 24, 32, 48, 100, 1000, 65536};
  static const size_t want[] = {32, 32, 32, 64, 128, 1024, 65536};
  void* keep[7];
  for (size_t i = 0; i < 7; i++) {
    keep[i] = dlmemalign(a[i], 100);
    CHECK(keep[i] != NULL);
    CHECK(aligned(keep[i], want[i]));
    CHECK(dlmalloc_usable_size(keep[i]) >= 100);
    if (keep[i]) memset(keep[i], 0xA5, 100);
  }
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  for (size_t i = 0; i < 7; i++) dlfree(keep[i]);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #13 posix_memalign rejects alignments that are not pointer-size powers of
 * two with EINVAL and leaves *pp alone. */
TEST(t13_posix_memalign_einval) {
  port_reset();
  static const size_t a[] = {0, 4, 24, 48};
  for (size_t i = 0; i < 4; i++) {
    void* p = (void*)(uintptr_t)0x1234;
    CHECK_EQ_SZ(dlposix_memalign(&p, a[i], 10), 22);
    CHECK(p == (void*)(uintptr_t)0x1234);
  }
}

/* #14 valid alignments; [L] a = 8 is accepted and served 32-aligned. */
TEST(t14_posix_memalign_ok) {
  port_reset();
  static const size_t a[] = {8, 16, 32, 64, 4096};
  for (size_t i = 0; i < 5; i++) {
    void* p = NULL;
    CHECK_EQ_SZ(dlposix_memalign(&p, a[i], 10), 0);
    CHECK(p != NULL);
    CHECK(aligned(p, a[i] < 16 ? 16 : a[i]));
    if (a[i] == 8) CHECK(aligned(p, 32));
    CHECK(dlmalloc_usable_size(p) >= 10);
    dlfree(p);
  }
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #15 posix_memalign of an impossible size is ENOMEM, *pp untouched. */
TEST(t15_posix_memalign_enomem) {
  port_reset();
  void* p = (void*)(uintptr_t)0x5678;
  CHECK_EQ_SZ(dlposix_memalign(&p, 64, SIZE_MAX - 10), 12);
  CHECK(p == (void*)(uintptr_t)0x5678);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #16 valloc is page-aligned. */
TEST(t16_valloc) {
  port_reset();
  void* p = dlvalloc(1);
  CHECK(p != NULL && aligned(p, 4096));
  CHECK_EQ_SZ(dlmalloc_usable_size(p), 24);
  dlfree(p);
}

/* #17 pvalloc rounds the size up to pages. */
TEST(t17_pvalloc) {
  port_reset();
  void* p = dlpvalloc(12345);
  CHECK(p != NULL && aligned(p, 4096));
  CHECK(dlmalloc_usable_size(p) >= 16384);
  CHECK_EQ_SZ(dlmalloc_usable_size(p), 16392); /* [L] */
  dlfree(p);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #18 pvalloc(0) is a page-aligned minimum chunk. */
TEST(t18_pvalloc_zero) {
  port_reset();
  void* p = dlpvalloc(0);
  CHECK(p != NULL && aligned(p, 4096));
  CHECK_EQ_SZ(dlmalloc_usable_size(p), 24);
  dlfree(p);
}

/* #19 [L] two pvalloc(4096) on a fresh heap are 8192 apart. */
TEST(t19_pvalloc_pair) {
  port_reset();
  char* p = dlpvalloc(4096);
  char* q = dlpvalloc(4096);
  CHECK(p && q);
  CHECK(aligned(p, 4096) && aligned(q, 4096));
  CHECK_EQ_SZ(q - p, 8192);
  CHECK_EQ_SZ(dlmalloc_usable_size(p), 4104);
  CHECK_EQ_SZ(dlmalloc_usable_size(q), 4104);
  dlfree(p);
  dlfree(q);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* ---- 2.2 tuning and statistics ------------------------------------------------ */

/* #20 mallopt accepts only power-of-two granularities >= the page; section 5:
 * it takes no lock once the parameters are initialised. */
TEST(t20_mallopt) {
  port_reset();
  CHECK_EQ_SZ(dlmallopt(M_GRANULARITY, 1000), 0);
  CHECK_EQ_SZ(dlmallopt(M_GRANULARITY, 2048), 0);
  CHECK_EQ_SZ(dlmallopt(M_GRANULARITY, 0), 0);
  CHECK_EQ_SZ(dlmallopt(M_GRANULARITY, -1), 0);
  port_reset_counters();
  CHECK_EQ_SZ(dlmallopt(M_GRANULARITY, 8192), 1);
  CHECK_EQ_SZ(dlmallopt(1, 5), 0);
  CHECK_EQ_SZ(dlmallopt(M_TRIM_THRESHOLD, 1 << 21), 1);
  CHECK_EQ_SZ(dlmallopt(M_MMAP_THRESHOLD, 1 << 18), 1);
  CHECK_EQ_SZ(port_state.n_acquire, 0);
  /* The new granularity is the unit of the first system request. */
  void* p = dlmalloc(1);
  CHECK(p != NULL);
  CHECK_EQ_SZ(count_log('m'), 1);
  CHECK_EQ_SZ(port_state.log[0].length, 8192);
  CHECK_EQ_SZ(dlmalloc_footprint(), 8192);
  dlfree(p);
}

/* #21 the first malloc: one custom_mmap(G), one init_lock, two acquires. */
TEST(t21_first_malloc_hooks) {
  port_reset();
  void* p = dlmalloc(1);
  CHECK(p != NULL);
  CHECK_EQ_SZ(port_state.n_mmap, 1);
  CHECK_EQ_SZ(port_state.n_direct, 0);
  CHECK_EQ_SZ(port_state.n_log, 1);
  CHECK(port_state.log[0].kind == 'm');
  CHECK_EQ_SZ(port_state.log[0].length, G64);
  CHECK_EQ_SZ(dlmalloc_footprint(), G64);
  CHECK_EQ_SZ(port_state.n_init_lock, 1);
  CHECK_EQ_SZ(port_state.n_acquire, 2);
  CHECK_EQ_SZ(port_state.n_release, 2);
}

/* #22 the first allocation never direct-maps, even when large. */
TEST(t22_first_malloc_no_direct) {
  port_reset();
  port_state.direct_enabled = 1;
  void* p = dlmalloc(300000);
  CHECK(p != NULL);
  CHECK_EQ_SZ(port_state.n_direct, 0);
  CHECK_EQ_SZ(port_state.n_mmap, 1);
  CHECK_EQ_SZ(port_state.log[0].length, 0x50000);
  CHECK_EQ_SZ(dlmalloc_footprint(), 0x50000);
  dlfree(p);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* Setup of #23/#24: a warm heap, then a 3 MiB direct-mapped block. */
static char* direct_3m(void) {
  port_reset();
  port_state.direct_enabled = 1;
  void* a = dlmalloc(100);
  CHECK(a != NULL);
  port_reset_counters();
  char* b = dlmalloc((size_t)3 << 20);
  CHECK(b != NULL);
  CHECK_EQ_SZ(port_state.n_direct, 1);
  CHECK_EQ_SZ(count_log('m'), 0);
  CHECK(logged_map('d', 0) != NULL);
  CHECK_EQ_SZ(port_state.log[0].length, 0x301000);
  return b;
}

/* #23 a direct-mapped block: size, placement, mallinfo, unmap on free. */
TEST(t23_direct_map) {
  char* b = direct_3m();
  if (!b) return;
  CHECK_EQ_SZ(dlmalloc_usable_size(b), 3149776);
  CHECK_EQ_SZ((uintptr_t)b % 4096, 16);
  CHECK(b == logged_map('d', 0) + 16);
  struct mallinfo mi = dlmallinfo();
  CHECK_EQ_SZ(mi.hblkhd, 0x301000);
  CHECK_EQ_SZ(mi.hblks, 0);
  CHECK_EQ_SZ(dlmalloc_footprint(), G64 + 0x301000);
  CHECK_EQ_SZ(dlmalloc_validate(b), DL_OK);
  memset(b, 0x77, 3 << 20);
  port_reset_counters();
  dlfree(b);
  CHECK_EQ_SZ(port_state.n_munmap, 1);
  const port_call* u = logged_unmap(0);
  CHECK(u != NULL);
  if (u) {
    CHECK(u->ptr == b - 16);
    CHECK_EQ_SZ(u->length, 0x301000);
    CHECK_EQ_SZ(u->result, 0);
  }
  CHECK_EQ_SZ(dlmalloc_footprint(), G64);
  CHECK_EQ_SZ(dlmallinfo().hblkhd, 0);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #24 a direct-mapped block shrinks in place only by at most 2G and never to
 * a small size. */
TEST(t24_direct_realloc_in_place) {
  char* b = direct_3m();
  if (!b) return;
  fill(b, 4096, 1);
  CHECK(dlrealloc_in_place(b, ((size_t)3 << 20) - 100000) == b);
  CHECK(dlrealloc_in_place(b, 100) == NULL);
  CHECK_EQ_SZ(dlmalloc_usable_size(b), 3149776);
  CHECK(filled(b, 4096, 1));
  CHECK_EQ_SZ(dlmalloc_validate(b), DL_OK);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  port_reset_counters();
  dlfree(b);
  CHECK_EQ_SZ(port_state.n_munmap, 1);
  CHECK_EQ_SZ(dlmalloc_footprint(), G64);
}

/* #25 with G = 2 MiB, 300000 bytes come from top, not a direct map. */
TEST(t25_large_from_top) {
  port_reset();
  CHECK_EQ_SZ(dlmallopt(M_GRANULARITY, 2 << 20), 1);
  port_state.direct_enabled = 1;
  void* w = dlmalloc(100);
  CHECK(w != NULL);
  char* base = logged_map('m', 0);
  CHECK_EQ_SZ(port_state.log[0].length, G2M);
  port_reset_counters();
  char* p = dlmalloc(300000);
  CHECK(p != NULL);
  CHECK_EQ_SZ(port_state.n_direct, 0);
  CHECK_EQ_SZ(port_state.n_mmap, 0);
  CHECK(p > base && p + 300000 <= base + G2M);
  CHECK_EQ_SZ(dlmalloc_footprint(), G2M);
  dlfree(p);
  dlfree(w);
}

/* #26 mallinfo after one malloc(100) on a fresh heap. */
TEST(t26_mallinfo_fresh) {
  port_reset();
  void* p = dlmalloc(100);
  CHECK(p != NULL);
  struct mallinfo mi = dlmallinfo();
  CHECK_EQ_SZ(mi.arena, G64);
  CHECK_EQ_SZ(mi.ordblks, 1);
  CHECK_EQ_SZ(mi.uordblks, 112);
  CHECK_EQ_SZ(mi.fordblks, G64 - 112);
  CHECK_EQ_SZ(mi.keepcost, G64 - 192);
  CHECK_EQ_SZ(mi.usmblks, G64);
  CHECK_EQ_SZ(mi.smblks, 0);
  CHECK_EQ_SZ(mi.hblks, 0);
  CHECK_EQ_SZ(mi.hblkhd, 0);
  CHECK_EQ_SZ(mi.fsmblks, 0);
  CHECK_EQ_SZ(mi.uordblks + mi.fordblks, dlmalloc_footprint());
  dlfree(p);
}

/* #27 statistics before any allocation are zero. */
TEST(t27_mallinfo_before_init) {
  port_reset();
  struct mallinfo mi = dlmallinfo();
  CHECK_EQ_SZ(mi.arena, 0);
  CHECK_EQ_SZ(mi.ordblks, 0);
  CHECK_EQ_SZ(mi.smblks, 0);
  CHECK_EQ_SZ(mi.hblks, 0);
  CHECK_EQ_SZ(mi.hblkhd, 0);
  CHECK_EQ_SZ(mi.usmblks, 0);
  CHECK_EQ_SZ(mi.fsmblks, 0);
  CHECK_EQ_SZ(mi.uordblks, 0);
  CHECK_EQ_SZ(mi.fordblks, 0);
  CHECK_EQ_SZ(mi.keepcost, 0);
  CHECK_EQ_SZ(dlmalloc_footprint(), 0);
  CHECK_EQ_SZ(dlmalloc_max_footprint(), 0);
  CHECK_EQ_SZ(port_state.n_mmap, 0);
}

/* #28 no footprint limit initially. */
TEST(t28_footprint_limit_initial) {
  port_reset();
  CHECK_EQ_SZ(dlmalloc_footprint_limit(), SIZE_MAX);
}

/* #29 set_footprint_limit rounds to G; SIZE_MAX means unlimited. */
TEST(t29_set_footprint_limit) {
  port_reset();
  void* p = dlmalloc(1);
  CHECK(p != NULL);
  CHECK_EQ_SZ(dlmalloc_set_footprint_limit(1), G64);
  CHECK_EQ_SZ(dlmalloc_footprint_limit(), G64);
  CHECK_EQ_SZ(dlmalloc_set_footprint_limit(G64 + 1), 2 * G64);
  CHECK_EQ_SZ(dlmalloc_footprint_limit(), 2 * G64);
  CHECK_EQ_SZ(dlmalloc_set_footprint_limit(SIZE_MAX), 0);
  CHECK_EQ_SZ(dlmalloc_footprint_limit(), SIZE_MAX);
  dlfree(p);
}

/* #29 [L] differs on purpose: the fork's quirks (spec 1.6 B9) are fixed.
 * A call before the first allocation sets a real limit (the parameters are
 * initialised first), and set_footprint_limit(0) asks for the smallest limit,
 * one granularity unit, instead of silently meaning "unlimited". */
TEST(t29L_footprint_limit_quirks_fixed) {
  port_reset();
  CHECK_EQ_SZ(dlmalloc_set_footprint_limit(100000), 2 * G64); /* before any allocation */
  CHECK_EQ_SZ(dlmalloc_footprint_limit(), 2 * G64);
  void* p = dlmalloc(1);
  CHECK(p != NULL);
  CHECK_EQ_SZ(dlmalloc_set_footprint_limit(0), G64); /* the smallest limit */
  CHECK_EQ_SZ(dlmalloc_footprint_limit(), G64);
  CHECK(dlmalloc(2 * G64) == NULL); /* would need a second unit */
  CHECK_EQ_SZ(dlmalloc_set_footprint_limit(SIZE_MAX), 0);
  CHECK_EQ_SZ(dlmalloc_footprint_limit(), SIZE_MAX);
  dlfree(p);
}

/* #30 at the limit, only requests that fit in top succeed; no mmap. */
TEST(t30_footprint_limit_enforced) {
  port_reset();
  void* p = dlmalloc(1);
  CHECK(p != NULL);
  size_t fp = dlmalloc_footprint();
  CHECK_EQ_SZ(dlmalloc_set_footprint_limit(fp), fp);
  port_reset_counters();
  CHECK(dlmalloc(fp) == NULL);
  void* q = dlmalloc(1000);
  CHECK(q != NULL);
  CHECK_EQ_SZ(port_state.n_mmap, 0);
  CHECK_EQ_SZ(dlmalloc_footprint(), fp);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  dlfree(q);
  dlfree(p);
}

/* #31 realloc grows into top in place. */
TEST(t31_realloc_into_top) {
  port_reset();
  char* a = dlmalloc(100);
  CHECK(a != NULL);
  fill(a, 100, 5);
  char* b = dlrealloc(a, 1000);
  CHECK(b == a);
  CHECK(b && filled(b, 100, 5));
  CHECK(dlmalloc_usable_size(b) >= 1000);
  dlfree(b);
}

/* #32 an in-use neighbour blocks in-place growth; realloc then moves. */
TEST(t32_realloc_moves) {
  port_reset();
  char* b = dlmalloc(1000);
  void* c = dlmalloc(100);
  CHECK(b && c);
  fill(b, 1000, 11);
  CHECK(dlrealloc_in_place(b, 5000) == NULL);
  CHECK(filled(b, 1000, 11));
  CHECK_EQ_SZ(dlmalloc_validate(b), DL_OK);
  char* r = dlrealloc(b, 5000);
  CHECK(r != NULL && r != b);
  CHECK(r && filled(r, 1000, 11));
  CHECK_EQ_SZ(dlmalloc_validate(b), DL_E_NOT_ALLOCATED);
  dlfree(r);
  dlfree(c);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #33 in-place growth absorbs a free neighbour; shrinking always works. */
TEST(t33_realloc_in_place_absorbs) {
  port_reset();
  char* g = dlmalloc(100);
  void* h = dlmalloc(300);
  void* i = dlmalloc(16);
  CHECK(g && h && i);
  fill(g, 100, 21);
  dlfree(h);
  CHECK(dlrealloc_in_place(g, 350) == g);
  CHECK_EQ_SZ(dlmalloc_usable_size(g), 360);
  CHECK(filled(g, 100, 21));
  CHECK(dlrealloc_in_place(g, 10) == g);
  CHECK_EQ_SZ(dlmalloc_usable_size(g), 24);
  CHECK(filled(g, 10, 21));
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  dlfree(g);
  dlfree(i);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #34 realloc_in_place(NULL) does not allocate. */
TEST(t34_realloc_in_place_null) {
  port_reset();
  CHECK(dlrealloc_in_place(NULL, 10) == NULL);
  CHECK_EQ_SZ(port_state.n_mmap, 0);
}

/* ---- 3.4–3.6 bin policy ---------------------------------------------------------- */

/* #35 small bins are LIFO. */
TEST(t35_smallbin_lifo) {
  port_reset();
  void* a = dlmalloc(40);
  void* g1 = dlmalloc(16);
  void* b = dlmalloc(40);
  void* g2 = dlmalloc(16);
  void* c = dlmalloc(40);
  void* g3 = dlmalloc(16);
  CHECK(a && b && c && g1 && g2 && g3);
  dlfree(a);
  dlfree(b);
  dlfree(c);
  void* x = dlmalloc(40);
  void* y = dlmalloc(40);
  void* z = dlmalloc(40);
  CHECK(x == c);
  CHECK(y == b);
  CHECK(z == a);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #36 tree bins: best fit. */
TEST(t36_treebin_best_fit) {
  port_reset();
  void* p1000 = dlmalloc(1000);
  void* g1 = dlmalloc(16);
  void* p600 = dlmalloc(600);
  void* g2 = dlmalloc(16);
  void* p800 = dlmalloc(800);
  void* g3 = dlmalloc(16);
  CHECK(p1000 && p600 && p800 && g1 && g2 && g3);
  dlfree(p1000);
  dlfree(p600);
  dlfree(p800);
  CHECK(dlmalloc(590) == p600);
  CHECK(dlmalloc(700) == p800);
  CHECK(dlmalloc(300) == p1000);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #36 tree bins: equal sizes are reused FIFO. */
TEST(t36_treebin_fifo) {
  port_reset();
  void* a = dlmalloc(1000);
  void* g1 = dlmalloc(16);
  void* b = dlmalloc(1000);
  void* g2 = dlmalloc(16);
  void* c = dlmalloc(1000);
  void* g3 = dlmalloc(16);
  CHECK(a && b && c && g1 && g2 && g3);
  dlfree(a);
  dlfree(b);
  dlfree(c);
  CHECK(dlmalloc(1000) == a);
  CHECK(dlmalloc(1000) == b);
  CHECK(dlmalloc(1000) == c);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #37 small requests are carved from the designated victim, adjacently. */
TEST(t37_dv_locality) {
  port_reset();
  char* x = dlmalloc(600);
  void* g = dlmalloc(16);
  CHECK(x && g);
  dlfree(x);
  char* m1 = dlmalloc(50);
  char* m2 = dlmalloc(50);
  char* m3 = dlmalloc(50);
  CHECK(m1 == x);
  CHECK(m2 == x + 64);
  CHECK(m3 == x + 128);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* ---- 2.3 batch operations ---------------------------------------------------------- */

/* #38 independent_calloc: one aggregate, zeroed, each piece freeable. */
TEST(t38_independent_calloc) {
  port_reset();
  /* Dirty the memory the aggregate will be carved from, so that "zeroed" is
   * the allocator's doing and not the fresh mapping's. */
  void* dirty = dlmalloc(512);
  CHECK(dirty != NULL);
  memset(dirty, 0xAA, 512);
  dlfree(dirty);
  void** A = dlindependent_calloc(3, 10, NULL);
  CHECK(A != NULL);
  if (!A) return;
  CHECK((char*)A[1] - (char*)A[0] == 32);
  CHECK((char*)A[2] - (char*)A[1] == 32);
  CHECK((char*)A == (char*)A[2] + 32);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_SZ(dlmalloc_usable_size(A[i]), 24);
    CHECK(all_bytes(A[i], 24, 0));
    CHECK_EQ_SZ(dlmalloc_validate(A[i]), DL_OK);
  }
  CHECK_EQ_SZ(dlmalloc_usable_size(A), 24);
  CHECK_EQ_SZ(dlmalloc_validate(A), DL_OK);
  for (int i = 0; i < 3; i++) dlfree(A[i]);
  dlfree(A);
  CHECK_EQ_SZ(port_state.n_abort, 0);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);

  void** z = dlindependent_calloc(0, 10, NULL);
  CHECK(z != NULL);
  CHECK_EQ_SZ(dlmalloc_usable_size(z), 24);
  dlfree(z);
  void* arr[1];
  CHECK(dlindependent_calloc(0, 10, arr) == arr);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #39 independent_comalloc: per-element sizes, caller's array, not zeroed. */
TEST(t39_independent_comalloc) {
  port_reset();
  unsigned char* dirty = dlmalloc(2000);
  CHECK(dirty != NULL);
  memset(dirty, 0xAA, 2000);
  dlfree(dirty);
  size_t sizes[3] = {8, 100, 1000};
  void* chunks[3];
  void** r = dlindependent_comalloc(3, sizes, chunks);
  CHECK(r == chunks);
  if (r != chunks) return;
  CHECK((char*)chunks[1] - (char*)chunks[0] == 32);
  CHECK((char*)chunks[2] - (char*)chunks[1] == 112);
  CHECK_EQ_SZ(dlmalloc_usable_size(chunks[2]), 1000);
  /* [L] carved where the dirty block was, and not zeroed. */
  CHECK((void*)chunks[0] == (void*)dirty);
  CHECK(all_bytes(chunks[2], 1000, 0xAA));
  for (int i = 0; i < 3; i++) {
    CHECK(dlmalloc_usable_size(chunks[i]) >= sizes[i]);
    memset(chunks[i], 0x11, sizes[i]);
  }
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  for (int i = 0; i < 3; i++) dlfree(chunks[i]);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #40 bulk_free frees everything and clears the entries (the FOOTERS half of
 * #40 is in test_dl_footers.c). */
TEST(t40_bulk_free) {
  port_reset();
  void* keep = dlmalloc(64);
  struct mallinfo before = dlmallinfo();
  void* arr[5];
  arr[0] = dlmalloc(100);
  arr[1] = dlmalloc(100); /* physically after arr[0]: the merge path */
  arr[2] = NULL;          /* NULL entries are skipped */
  arr[3] = dlmalloc(3000);
  arr[4] = dlmalloc(40);
  CHECK(keep && arr[0] && arr[1] && arr[3] && arr[4]);
  CHECK_EQ_SZ(dlbulk_free(arr, 5), 0);
  for (int i = 0; i < 5; i++) CHECK(arr[i] == NULL);
  CHECK_EQ_SZ(dlmallinfo().uordblks, before.uordblks);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  void* three[3] = {dlmalloc(10), dlmalloc(20), dlmalloc(30)};
  CHECK_EQ_SZ(dlbulk_free(three, 3), 0);
  CHECK(three[0] == NULL && three[1] == NULL && three[2] == NULL);
  CHECK_EQ_SZ(port_state.n_abort, 0);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  dlfree(keep);
}

/* ---- 3.10 trimming ------------------------------------------------------------------ */

/* #41 bottom-up mappings are appended; the auto-trim unmaps a range that
 * crosses two original mappings. */
TEST(t41_trim_bottom_up) {
  port_reset();
  port_state.mmap_mode = PORT_MMAP_BOTTOM_UP;
  void* a = dlmalloc(100);
  void* b = dlmalloc(1 << 20);
  void* c = dlmalloc(3 << 20);
  CHECK(a && b && c);
  char* m0 = logged_map('m', 0);
  char* m1 = logged_map('m', 1);
  char* m2 = logged_map('m', 2);
  CHECK(m0 && m1 && m2);
  CHECK_EQ_SZ(count_log('m'), 3);
  if (!m0 || !m1 || !m2) return;
  CHECK(m1 == m0 + 0x10000);
  CHECK(m2 == m0 + 0x120000);
  CHECK_EQ_SZ(dlmalloc_footprint(), 0x430000);
  port_reset_counters();
  dlfree(c);
  CHECK_EQ_SZ(port_state.n_munmap, 1);
  const port_call* u = logged_unmap(0);
  CHECK(u != NULL);
  if (u) {
    CHECK((char*)u->ptr == m0 + 0x110000);
    CHECK_EQ_SZ(u->length, 0x320000);
    CHECK_EQ_SZ(u->result, 0);
    /* starts inside the 2nd mapping, ends at the end of the 3rd */
    CHECK((char*)u->ptr > m1 && (char*)u->ptr < m2);
    CHECK((char*)u->ptr + u->length == m2 + 0x310000);
  }
  CHECK_EQ_SZ(dlmalloc_footprint(), 0x110000);
  port_reset_counters();
  dlfree(b);
  CHECK_EQ_SZ(port_state.n_munmap, 0);
  CHECK_EQ_SZ(dlmalloc_footprint(), 0x110000);
  CHECK_EQ_SZ(dlmalloc_trim(0), 1);
  CHECK_EQ_SZ(dlmalloc_footprint(), 0x10000);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  memset(a, 1, 100);
  dlfree(a);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #42 top-down mappings are prepended into one segment; memory below a live
 * block is pinned until it is freed. */
TEST(t42_trim_top_down) {
  port_reset();
  port_state.mmap_mode = PORT_MMAP_TOP_DOWN;
  CHECK_EQ_SZ(dlmallopt(M_GRANULARITY, 2 << 20), 1);
  void* a = dlmalloc(100);
  void* big[8];
  for (int i = 0; i < 8; i++) {
    big[i] = dlmalloc(1 << 20);
    CHECK(big[i] != NULL);
  }
  CHECK(a != NULL);
  CHECK_EQ_SZ(dlmalloc_footprint(), 16 * MiB);
  CHECK_EQ_SZ(count_log('m'), 8);
  char* lowest = logged_map('m', 7);
  for (int i = 0; i < 8; i++) dlfree(big[i]);
  CHECK_EQ_SZ(dlmalloc_footprint(), 16 * MiB);
  port_reset_counters();
  CHECK_EQ_SZ(dlmalloc_trim(0), 0);
  for (int i = 0; i < port_state.n_log; i++)
    if (port_state.log[i].kind == 'u') CHECK_EQ_SZ(port_state.log[i].length, 0);
  CHECK_EQ_SZ(dlmalloc_footprint(), 16 * MiB);
  port_reset_counters();
  dlfree(a);
  int nonzero = 0;
  for (int i = 0; i < port_state.n_log; i++) {
    const port_call* c = &port_state.log[i];
    if (c->kind != 'u' || c->length == 0) continue;
    nonzero++;
    CHECK_EQ_SZ(c->length, 14 * MiB);
    CHECK((char*)c->ptr == lowest + 2 * MiB);
    CHECK_EQ_SZ(c->result, 0);
  }
  CHECK_EQ_SZ(nonzero, 1);
  CHECK_EQ_SZ(dlmalloc_footprint(), 2 * MiB);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  void* again = dlmalloc(100);
  CHECK(again != NULL);
  dlfree(again);
}

/* ---- 4 safety checks ------------------------------------------------------------------ */

/* #43 double free aborts with the usage-error message. */
TEST(t43_double_free) {
  port_reset();
  void* a = dlmalloc(40);
  void* guard = dlmalloc(16);
  CHECK(a && guard);
  dlfree(a);
  TRY_ABORT(dlfree(a));
  CHECK_EQ_SZ(port_state.n_abort, 1);
  CHECK_STREQ(port_state.last_abort, USAGE_MSG);
}

/* #44 free of a pointer into a static array aborts (usage error). */
TEST(t44_free_static) {
  static long static_array[64];
  port_reset();
  void* a = dlmalloc(100);
  CHECK(a != NULL);
  TRY_ABORT(dlfree(&static_array[8]));
  CHECK_EQ_SZ(port_state.n_abort, 1);
  CHECK_STREQ(port_state.last_abort, USAGE_MSG);
  CHECK(all_bytes(static_array, sizeof static_array, 0)); /* never written */
}

/* #45 an overflow that clears the next chunk's in-use bit makes free of that
 * chunk a usage error. */
TEST(t45_overflow_into_head) {
  port_reset();
  char* a = dlmalloc(100);
  char* b = dlmalloc(100);
  CHECK(a && b);
  CHECK(b == a + 112);
  memset(a, 0x41, 120); /* a's 104 usable bytes, b's head, 8 bytes of b */
  TRY_ABORT(dlfree(b));
  CHECK_EQ_SZ(port_state.n_abort, 1);
  CHECK_STREQ(port_state.last_abort, USAGE_MSG);
}

/* ---- 2.4 mspaces ------------------------------------------------------------------------ */

/* #46 create_mspace(0, 0) on a fresh process. */
TEST(t46_create_mspace) {
  port_reset();
  mspace ms = create_mspace(0, 0);
  CHECK(ms != NULL);
  if (!ms) return;
  CHECK_EQ_SZ(port_state.n_mmap, 1);
  CHECK_EQ_SZ(port_state.log[0].length, G64);
  char* base = logged_map('m', 0);
  CHECK(base != NULL);
  CHECK_EQ_SZ(mspace_footprint(ms), G64);
  CHECK_EQ_SZ(port_state.n_init_lock, 2);
  char* p = mspace_malloc(ms, 10);
  CHECK(p != NULL);
  CHECK(p >= base && p < base + G64);
  CHECK(p == base + 976); /* [L] */
  CHECK_EQ_SZ(mspace_check(ms), DL_OK);
  port_reset_counters();
  CHECK_EQ_SZ(destroy_mspace(ms), G64);
  CHECK_EQ_SZ(port_state.n_final_lock, 1);
  const port_call* u = logged_unmap(0);
  CHECK(u && (char*)u->ptr == base && u->length == G64);
}

/* #47 create_mspace(100000, 1) maps granularity_align(cap + 80 + 960). */
TEST(t47_create_mspace_capacity) {
  port_reset();
  mspace ms = create_mspace(100000, 1);
  CHECK(ms != NULL);
  CHECK_EQ_SZ(port_state.n_mmap, 1);
  CHECK_EQ_SZ(port_state.log[0].length, 0x20000);
  if (!ms) return;
  CHECK_EQ_SZ(mspace_footprint(ms), 0x20000);
  void* p = mspace_malloc(ms, 90000);
  CHECK(p != NULL);
  CHECK_EQ_SZ(port_state.n_mmap, 1); /* fits the initial mapping */
  mspace_free(ms, p);
  CHECK_EQ_SZ(mspace_check(ms), DL_OK);
  CHECK_EQ_SZ(destroy_mspace(ms), 0x20000);
}

/* #48 create_mspace_with_base: the minimum capacity, and caller memory is
 * used first but never unmapped. */
TEST(t48_create_mspace_with_base) {
  static _Alignas(4096) unsigned char tiny1[2048];
  static _Alignas(4096) unsigned char tiny2[2048];
  static _Alignas(4096) unsigned char buf[4096];
  port_reset();
  CHECK(create_mspace_with_base(tiny1, 1040, 0) == NULL); /* [L] */
  mspace t = create_mspace_with_base(tiny2, 1041, 0);   /* [L] */
  CHECK(t != NULL);
  if (t) CHECK_EQ_SZ(destroy_mspace(t), 0);

  mspace ms = create_mspace_with_base(buf, sizeof buf, 0);
  CHECK(ms != NULL);
  if (!ms) return;
  unsigned char* p = mspace_malloc(ms, 10);
  CHECK(p != NULL && p >= buf && p + 10 <= buf + sizeof buf);
  port_reset_counters();
  unsigned char* q = mspace_malloc(ms, 8000);
  CHECK(q != NULL);
  CHECK(q + 8000 <= buf || q >= buf + sizeof buf);
  CHECK_EQ_SZ(port_state.n_mmap, 1);
  CHECK_EQ_SZ(port_state.log[0].length, G64);
  CHECK_EQ_SZ(mspace_check(ms), DL_OK);
  port_reset_counters();
  CHECK_EQ_SZ(destroy_mspace(ms), G64);
  for (int i = 0; i < port_state.n_log; i++) {
    const port_call* c = &port_state.log[i];
    if (c->kind != 'u') continue;
    unsigned char* lo = c->ptr;
    CHECK(lo + c->length <= buf || lo >= buf + sizeof buf);
  }
  CHECK_EQ_SZ(port_state.n_munmap, 1);
  buf[0] = 1; /* still ours and mapped */
}

/* #49 track_large_chunks returns the previous state. */
TEST(t49_track_large_chunks) {
  port_reset();
  mspace ms = create_mspace(0, 0);
  CHECK(ms != NULL);
  if (!ms) return;
  CHECK_EQ_SZ(mspace_track_large_chunks(ms, 1), 0);
  CHECK_EQ_SZ(mspace_track_large_chunks(ms, 1), 1);
  CHECK_EQ_SZ(mspace_track_large_chunks(ms, 0), 1);
  CHECK_EQ_SZ(mspace_track_large_chunks(ms, 0), 0);
  destroy_mspace(ms);
}

/* #52 realloc does not keep memalign's alignment when it moves. */
TEST(t52_realloc_loses_alignment) {
  port_reset();
  char* p = dlmemalign(4096, 100);
  void* g = dlmalloc(9000);
  CHECK(p && g && aligned(p, 4096));
  fill(p, 100, 77);
  char* q = dlrealloc(p, 5000);
  CHECK(q != NULL && q != p);
  CHECK(q && aligned(q, 16));
  CHECK(q && filled(q, 100, 77));
  dlfree(q);
  dlfree(g);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* #53 custom_mmap failing on the first call: NULL, a valid heap, and success
 * once the hook succeeds again. */
TEST(t53_mmap_failure) {
  port_reset();
  port_state.fail_next_mmaps = 1;
  CHECK(dlmalloc(1) == NULL);
  CHECK_EQ_SZ(port_state.n_mmap, 1);
  CHECK_EQ_SZ(dlmalloc_footprint(), 0);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  void* p = dlmalloc(1);
  CHECK(p != NULL);
  CHECK_EQ_SZ(port_state.n_mmap, 2);
  CHECK_EQ_SZ(dlmalloc_footprint(), G64);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  dlfree(p);
  CHECK_EQ_SZ(port_state.n_abort, 0);
}

/* #53 for create_mspace: NULL while the hook fails, a working space after. */
TEST(t53_mmap_failure_mspace) {
  port_reset();
  port_state.fail_next_mmaps = 1;
  CHECK(create_mspace(0, 1) == NULL);
  mspace ms = create_mspace(0, 1);
  CHECK(ms != NULL);
  if (!ms) return;
  void* p = mspace_malloc(ms, 100);
  CHECK(p != NULL);
  CHECK_EQ_SZ(mspace_check(ms), DL_OK);
  destroy_mspace(ms);
}

/* ---- deliberate differences from the fork (offheap is safer) ------------------------- */

/* free(stack address): the fork lets it pass (it is above least_addr);
 * offheap reports a usage error. */
TEST(diff_free_stack_address) {
  port_reset();
  void* a = dlmalloc(100);
  CHECK(a != NULL);
  _Alignas(16) unsigned char stackbuf[256];
  memset(stackbuf, 0x5A, sizeof stackbuf);
  TRY_ABORT(dlfree(stackbuf + 32));
  CHECK_EQ_SZ(port_state.n_abort, 1);
  CHECK_STREQ(port_state.last_abort, USAGE_MSG);
  CHECK(all_bytes(stackbuf, sizeof stackbuf, 0x5A));
}

/* free(interior pointer into zeroed memory): the fork takes the zero header
 * for a direct-mapped chunk and calls munmap with bogus arguments; offheap
 * reports a usage error and calls no hook. */
TEST(diff_free_interior_zeroed) {
  port_reset();
  char* p = dlcalloc(1, 4096);
  void* guard = dlmalloc(16);
  CHECK(p && guard);
  port_reset_counters();
  TRY_ABORT(dlfree(p + 256));
  CHECK_EQ_SZ(port_state.n_abort, 1);
  CHECK_STREQ(port_state.last_abort, USAGE_MSG);
  CHECK_EQ_SZ(port_state.n_munmap, 0);
}

/* Beyond the spec: a segment added while top was smaller than a chunk keeps
 * its record right after the old top. Once everything in it is free it must
 * still be released (the original pins it forever). Bottom-up mappings with
 * a gap force add_segment. */
TEST(segment_added_after_tiny_top_is_released) {
  static _Alignas(16) unsigned char state[4096];
  port_reset();
  port_state.mmap_mode = PORT_MMAP_BOTTOM_UP;
  CHECK(mspace_state_size() <= sizeof state);
  mspace ms = create_mspace_with_state(state, sizeof state, 0); /* state outside the heap */
  CHECK(ms != NULL);
  void* first = mspace_malloc(ms, 100);
  CHECK(first != NULL);
  mspace_free(ms, first);
  size_t topsize = mspace_mallinfo(ms).keepcost;
  /* Leave 16 bytes of top: a chunk of topsize - 16 (request minus overhead). */
  void* big = mspace_malloc(ms, topsize - 16 - 8);
  CHECK(big != NULL);
  CHECK_EQ_SZ(mspace_mallinfo(ms).keepcost, 16);
  /* A mapping in between, so the next segment is not adjacent. */
  void* gap = custom_mmap(4096);
  CHECK(gap != PORT_MFAIL);
  void* next = mspace_malloc(ms, 1000);
  CHECK(next != NULL);
  CHECK_EQ_SZ(mspace_footprint(ms), 2 * G64);
  /* Fenceposts closing the first segment count in arena, not in hblkhd. */
  CHECK_EQ_SZ(mspace_mallinfo(ms).arena, 2 * G64);
  CHECK_EQ_SZ(mspace_mallinfo(ms).hblkhd, 0);
  /* The first segment now holds only big and its record: free big, trim. */
  mspace_free(ms, big);
  CHECK_EQ_SZ(mspace_check(ms), DL_OK);
  CHECK_EQ_SZ(mspace_trim(ms, 0), 1);
  CHECK_EQ_SZ(mspace_footprint(ms), G64);
  CHECK_EQ_SZ(mspace_check(ms), DL_OK);
  mspace_free(ms, next);
  CHECK_EQ_SZ(mspace_check(ms), DL_OK);
  CHECK_EQ_SZ(destroy_mspace(ms), G64);
}

/* Beyond the spec: mspaces whose state the caller owns have parameters of
 * their own (mspace_set_param); the process-wide ones stay untouched. */
TEST(caller_state_mspaces_have_their_own_parameters) {
  static _Alignas(16) unsigned char sa[4096], sb[4096];
  port_reset();
  port_state.direct_enabled = 1;
  CHECK(mspace_state_size() <= sizeof sa);
  mspace a = create_mspace_with_state(sa, sizeof sa, 0);
  mspace b = create_mspace_with_state(sb, sizeof sb, 0);
  CHECK(a != NULL && b != NULL);
  CHECK_EQ_SZ(mspace_set_param(b, M_GRANULARITY, 256 * 1024), 1);
  CHECK_EQ_SZ(mspace_set_param(b, M_MMAP_THRESHOLD, -1), 1); /* no direct maps in b */
  CHECK_EQ_SZ(mspace_set_param(b, M_GRANULARITY, 1000), 0);  /* not a power of two */
  CHECK_EQ_SZ(mspace_set_param(b, 12345, 1), 0);             /* unknown parameter */
  void* pa = mspace_malloc(a, 100);
  void* pb = mspace_malloc(b, 100);
  CHECK(pa != NULL && pb != NULL);
  CHECK_EQ_SZ(mspace_footprint(a), G64);        /* the process-wide granularity */
  CHECK_EQ_SZ(mspace_footprint(b), 256 * 1024); /* b's own */
  port_reset_counters();
  void* la = mspace_malloc(a, 300000); /* over the default threshold: its own mapping */
  void* lb = mspace_malloc(b, 300000); /* b maps no chunk on its own */
  CHECK(la != NULL && lb != NULL);
  CHECK_EQ_SZ(port_state.n_direct, 1);
  CHECK_EQ_SZ(mspace_check(a), DL_OK);
  CHECK_EQ_SZ(mspace_check(b), DL_OK);
  /* Only these mspaces have parameters of their own. */
  mspace plain = create_mspace(0, 0);
  CHECK(plain != NULL);
  CHECK_EQ_SZ(mspace_set_param(plain, M_GRANULARITY, 256 * 1024), 0);
  /* ... and the process-wide granularity is still the default. */
  void* pp = mspace_malloc(plain, 100000);
  CHECK(pp != NULL);
  CHECK_EQ_SZ(mspace_footprint(plain) % G64, 0);
  CHECK(mspace_footprint(plain) < 256 * 1024);
  destroy_mspace(plain);
  destroy_mspace(a);
  destroy_mspace(b);
}

/* Beyond the spec: M_MMAP_DYNAMIC (off by default) keeps a large size that
 * was freed once in the heap from then on, up to DYNAMIC_MMAP_THRESHOLD_MAX;
 * an explicit threshold turns it off. */
TEST(dynamic_mmap_threshold) {
  static _Alignas(16) unsigned char sa[4096];
  port_reset();
  port_state.direct_enabled = 1;
  mspace a = create_mspace_with_state(sa, sizeof sa, 0);
  CHECK(a != NULL);
  CHECK(mspace_malloc(a, 100) != NULL); /* a heap with a top: large requests map on their own */
  port_reset_counters();
  for (int i = 0; i < 3; i++) {
    void* p = mspace_malloc(a, 1 << 20);
    CHECK(p != NULL);
    mspace_free(a, p);
  }
  CHECK_EQ_SZ(port_state.n_direct, 3); /* off: a mapping each time */
  CHECK_EQ_SZ(mspace_set_param(a, M_MMAP_DYNAMIC, 2), 0);
  CHECK_EQ_SZ(mspace_set_param(a, M_MMAP_DYNAMIC, 1), 1);
  port_reset_counters();
  for (int i = 0; i < 5; i++) {
    void* p = mspace_malloc(a, 1 << 20);
    CHECK(p != NULL);
    memset(p, i, 1 << 20);
    mspace_free(a, p);
    CHECK_EQ_SZ(mspace_check(a), DL_OK);
  }
  CHECK_EQ_SZ(port_state.n_direct, 1); /* only the first: its free raised the threshold */
  CHECK_EQ_SZ(port_state.n_munmap, 1); /* and the top keeps the memory (trim threshold 2x) */
  CHECK_EQ_SZ(mspace_mallinfo(a).hblkhd, 0);
  CHECK(mspace_footprint(a) >= (size_t)1 << 20);
  /* Smaller large sizes stay in the heap too; beyond the cap, every request maps. */
  port_reset_counters();
  void* q = mspace_malloc(a, 700000);
  CHECK(q != NULL);
  mspace_free(a, q);
  CHECK_EQ_SZ(port_state.n_direct, 0);
  for (int i = 0; i < 2; i++) {
    void* p = mspace_malloc(a, DYNAMIC_MMAP_THRESHOLD_MAX + 4096);
    CHECK(p != NULL);
    mspace_free(a, p);
  }
  CHECK_EQ_SZ(port_state.n_direct, 2);
  /* An explicit threshold is the caller's choice from then on. */
  CHECK_EQ_SZ(mspace_set_param(a, M_MMAP_THRESHOLD, 256 * 1024), 1);
  port_reset_counters();
  for (int i = 0; i < 2; i++) {
    void* p = mspace_malloc(a, 2 << 20);
    CHECK(p != NULL);
    mspace_free(a, p);
  }
  CHECK_EQ_SZ(port_state.n_direct, 2);
  CHECK_EQ_SZ(mspace_check(a), DL_OK);
  destroy_mspace(a);
}

int main(void) {
  RUN_FORKED(t01_malloc_zero);
  RUN_FORKED(t02_free_null);
  RUN_FORKED(t03_usable_sizes);
  RUN_FORKED(t04_alignment);
  RUN_FORKED(t05_realloc_null);
  RUN_FORKED(t06_realloc_zero);
  RUN_FORKED(t07_calloc_overflow);
  RUN_FORKED(t08_calloc_zero);
  RUN_FORKED(t09_calloc_reuse_zeroed);
  RUN_FORKED(t10_huge_requests);
  RUN_FORKED(t11_memalign_small);
  RUN_FORKED(t12_memalign_rounding);
  RUN_FORKED(t13_posix_memalign_einval);
  RUN_FORKED(t14_posix_memalign_ok);
  RUN_FORKED(t15_posix_memalign_enomem);
  RUN_FORKED(t16_valloc);
  RUN_FORKED(t17_pvalloc);
  RUN_FORKED(t18_pvalloc_zero);
  RUN_FORKED(t19_pvalloc_pair);
  RUN_FORKED(t20_mallopt);
  RUN_FORKED(t21_first_malloc_hooks);
  RUN_FORKED(t22_first_malloc_no_direct);
  RUN_FORKED(t23_direct_map);
  RUN_FORKED(t24_direct_realloc_in_place);
  RUN_FORKED(t25_large_from_top);
  RUN_FORKED(t26_mallinfo_fresh);
  RUN_FORKED(t27_mallinfo_before_init);
  RUN_FORKED(t28_footprint_limit_initial);
  RUN_FORKED(t29_set_footprint_limit);
  RUN_FORKED(t29L_footprint_limit_quirks_fixed);
  RUN_FORKED(t30_footprint_limit_enforced);
  RUN_FORKED(t31_realloc_into_top);
  RUN_FORKED(t32_realloc_moves);
  RUN_FORKED(t33_realloc_in_place_absorbs);
  RUN_FORKED(t34_realloc_in_place_null);
  RUN_FORKED(t35_smallbin_lifo);
  RUN_FORKED(t36_treebin_best_fit);
  RUN_FORKED(t36_treebin_fifo);
  RUN_FORKED(t37_dv_locality);
  RUN_FORKED(t38_independent_calloc);
  RUN_FORKED(t39_independent_comalloc);
  RUN_FORKED(t40_bulk_free);
  RUN_FORKED(t41_trim_bottom_up);
  RUN_FORKED(t42_trim_top_down);
  RUN_FORKED(t43_double_free);
  RUN_FORKED(t44_free_static);
  RUN_FORKED(t45_overflow_into_head);
  RUN_FORKED(t46_create_mspace);
  RUN_FORKED(t47_create_mspace_capacity);
  RUN_FORKED(t48_create_mspace_with_base);
  RUN_FORKED(t49_track_large_chunks);
  RUN_FORKED(t52_realloc_loses_alignment);
  RUN_FORKED(t53_mmap_failure);
  RUN_FORKED(t53_mmap_failure_mspace);
  RUN_FORKED(segment_added_after_tiny_top_is_released);
  RUN_FORKED(caller_state_mspaces_have_their_own_parameters);
  RUN_FORKED(dynamic_mmap_threshold);
  RUN_FORKED(diff_free_stack_address);
  RUN_FORKED(diff_free_interior_zeroed);
  return test_summary("dl_spec");
}
