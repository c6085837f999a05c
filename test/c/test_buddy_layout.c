/*
 * offheap — buddy allocator: where blocks go. Full coalescing after freeing
 * in any order, absolute alignment of every block, regions that are not a
 * power of two or whose base is only aligned to the minimum block, a region
 * of 2^40 bytes, and exhaustion followed by recovery.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "port_test.h"
#include "test_buddy_fixture.h"

/* The instance is back to its initial decomposition: one free block per root
 * of the region, nothing live or cached. */
static int is_fully_coalesced(const bfix* f, size_t min) {
  size_t expect[130];
  size_t n = bexpected_roots((uintptr_t)f->base, f->size, min, expect, 130);
  bblocks l = bblocks_of(f->b);
  if (l.n != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (l.size[i] != expect[i] || l.state[i] != BUDDY_BLOCK_FREE) return 0;
  return buddy_check(f->b) == BUDDY_OK;
}

static void shuffle(void** v, size_t n, test_rng* r) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)test_rng_below(r, i);
    void* t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

/* ---- coalescing -------------------------------------------------------------- */

TEST(every_free_order_of_four_blocks_coalesces) {
  static const int perms[24][4] = {
      {0, 1, 2, 3}, {0, 1, 3, 2}, {0, 2, 1, 3}, {0, 2, 3, 1}, {0, 3, 1, 2}, {0, 3, 2, 1},
      {1, 0, 2, 3}, {1, 0, 3, 2}, {1, 2, 0, 3}, {1, 2, 3, 0}, {1, 3, 0, 2}, {1, 3, 2, 0},
      {2, 0, 1, 3}, {2, 0, 3, 1}, {2, 1, 0, 3}, {2, 1, 3, 0}, {2, 3, 0, 1}, {2, 3, 1, 0},
      {3, 0, 1, 2}, {3, 0, 2, 1}, {3, 1, 0, 2}, {3, 1, 2, 0}, {3, 2, 0, 1}, {3, 2, 1, 0}};
  for (int cached = 0; cached < 2; cached++) {
    for (int p = 0; p < 24; p++) {
      bfix f;
      buddy_config c = bcfg(16, cached ? 0 : BUDDY_NO_CACHE);
      CHECK_EQ_SZ(bfix_open(&f, 256, 256, 0, &c), BUDDY_OK);
      void* blk[4];
      for (int i = 0; i < 4; i++) {
        blk[i] = buddy_malloc(f.b, 64);
        CHECK(blk[i] != NULL);
      }
      CHECK(buddy_malloc(f.b, 1) == NULL);
      for (int i = 0; i < 4; i++) {
        CHECK_EQ_SZ(buddy_free(f.b, blk[perms[p][i]]), BUDDY_OK);
        CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
      }
      if (cached) CHECK_EQ_SZ(buddy_flush(f.b), BUDDY_OK);
      CHECK(is_fully_coalesced(&f, 16));
      CHECK(buddy_malloc(f.b, 256) == f.base);
      bfix_close(&f);
    }
  }
}

TEST(minimum_blocks_coalesce_in_any_order) {
  const size_t n = 256; /* a 4 KiB region of 16-byte blocks */
  void* blk[256];
  test_rng r = {0x1234567};
  for (int pattern = 0; pattern < 5; pattern++) {
    bfix f;
    CHECK_EQ_SZ(bfix_open(&f, 4096, 4096, 0, NULL), BUDDY_OK);
    for (size_t i = 0; i < n; i++) blk[i] = buddy_malloc(f.b, 16);
    CHECK(buddy_malloc(f.b, 16) == NULL);
    void* order[256];
    for (size_t i = 0; i < n; i++) {
      switch (pattern) {
        case 0: order[i] = blk[i]; break;                                 /* ascending */
        case 1: order[i] = blk[n - 1 - i]; break;                         /* descending */
        case 2: order[i] = blk[i < n / 2 ? 2 * i : 2 * (i - n / 2) + 1]; break; /* even, odd */
        default: order[i] = blk[i]; break;
      }
    }
    if (pattern >= 3) shuffle(order, n, &r);
    for (size_t i = 0; i < n; i++) CHECK_EQ_SZ(buddy_free(f.b, order[i]), BUDDY_OK);
    CHECK_EQ_SZ(buddy_flush(f.b), BUDDY_OK);
    CHECK(is_fully_coalesced(&f, 16));
    buddy_stats_t st = bstats(f.b);
    CHECK_EQ_SZ(st.largest_free, 4096);
    CHECK_EQ_SZ(st.free_blocks[8], 1);
    CHECK(buddy_malloc(f.b, 4096) == f.base);
    bfix_close(&f);
  }
}

TEST(mixed_sizes_coalesce_in_random_orders_on_a_forest) {
  test_rng r = {42};
  static void* live[4096];
  for (int round = 0; round < 20; round++) {
    bfix f;
    size_t offset = 16 * (size_t)test_rng_below(&r, 64); /* base aligned only to 16 */
    size_t size = ((size_t)1 << 20) + 16 * (size_t)test_rng_below(&r, 4096);
    buddy_config c = bcfg(16, round % 2 ? BUDDY_NO_CACHE : 0);
    CHECK_EQ_SZ(bfix_open(&f, size, 1 << 21, offset, &c), BUDDY_OK);
    size_t n = 0;
    while (n < 4096) {
      size_t want = 1 + (size_t)test_rng_below(&r, (size_t)1 << (4 + test_rng_below(&r, 12)));
      void* p = buddy_malloc(f.b, want);
      if (!p) break;
      live[n++] = p;
    }
    CHECK(n > 100);
    shuffle(live, n, &r);
    for (size_t i = 0; i < n; i++) {
      CHECK_EQ_SZ(buddy_free(f.b, live[i]), BUDDY_OK);
      if (i % 512 == 0) CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
    }
    CHECK_EQ_SZ(buddy_flush(f.b), BUDDY_OK);
    CHECK(is_fully_coalesced(&f, 16));
    bfix_close(&f);
  }
}

/* ---- alignment ------------------------------------------------------------------ */

TEST(every_block_is_aligned_to_its_size_in_absolute_addresses) {
  bfix f;
  /* base 16 bytes past a 1 MiB boundary: relative and absolute alignment differ */
  CHECK_EQ_SZ(bfix_open(&f, (size_t)3 << 20, 1 << 20, 16, NULL), BUDDY_OK);
  size_t bad = 0, checked = 0;
  for (size_t size = 1; size <= 8192; size += (size < 300 ? 1 : 37)) {
    for (size_t align = 1; align <= 4096; align *= 2) {
      unsigned char* p = buddy_aligned_alloc(f.b, align, size);
      if (!p) {
        bad++;
        continue;
      }
      size_t block = buddy_usable_size(f.b, p);
      size_t need = size > align ? size : align;
      checked++;
      if ((uintptr_t)p % block != 0 || (uintptr_t)p % (align > 16 ? align : 16) != 0) bad++;
      if (block < need || block >= 2 * (need > 16 ? need : 16)) bad++;
      if (p < f.base || p + block > f.base + f.size) bad++;
      p[0] = 1;
      p[block - 1] = 2;
      CHECK_EQ_SZ(buddy_free(f.b, p), BUDDY_OK);
    }
  }
  CHECK(checked > 5000);
  CHECK_EQ_SZ(bad, 0);
  /* aligned allocations also keep their alignment when held together */
  void* held[64];
  for (int i = 0; i < 64; i++) {
    held[i] = buddy_aligned_alloc(f.b, (size_t)4096 << (i % 6), 100);
    CHECK(held[i] && (uintptr_t)held[i] % ((size_t)4096 << (i % 6)) == 0);
  }
  for (int i = 0; i < 64; i++) CHECK_EQ_SZ(buddy_free(f.b, held[i]), BUDDY_OK);
  CHECK_EQ_SZ(buddy_flush(f.b), BUDDY_OK);
  CHECK(is_fully_coalesced(&f, 16));
  bfix_close(&f);
}

/* ---- regions that are not a power of two ------------------------------------------ */

static void odd_region(size_t size, size_t align, size_t offset, size_t min) {
  bfix f;
  buddy_config c = bcfg(min, 0);
  CHECK_EQ_SZ(bfix_open(&f, size, align, offset, &c), BUDDY_OK);
  size_t usable = size & ~(min - 1);
  buddy_stats_t st = bstats(f.b);
  CHECK_EQ_SZ(st.region_bytes, usable);
  CHECK_EQ_SZ(st.free_bytes, usable);
  size_t roots[130];
  size_t nroots = bexpected_roots((uintptr_t)f.base, size, min, roots, 130);
  size_t largest = 0;
  for (size_t i = 0; i < nroots; i++) largest = roots[i] > largest ? roots[i] : largest;
  CHECK(is_fully_coalesced(&f, min));
  CHECK_EQ_SZ(st.largest_free, largest);
  /* the largest root is allocatable, anything bigger is not */
  void* big = buddy_malloc(f.b, largest);
  CHECK(big != NULL);
  CHECK(buddy_malloc(f.b, largest + 1) == NULL);
  CHECK_EQ_SZ(buddy_free(f.b, big), BUDDY_OK);
  /* fill with minimum blocks: exactly usable / min of them, all inside */
  size_t n = 0, outside = 0;
  static unsigned char* blocks[(3 << 20) / 16];
  for (;;) {
    unsigned char* p = buddy_malloc(f.b, min);
    if (!p) break;
    if (p < f.base || p + min > f.base + usable) outside++;
    blocks[n++] = p;
  }
  CHECK_EQ_SZ(n, usable / min);
  CHECK_EQ_SZ(outside, 0);
  CHECK_EQ_SZ(bstats(f.b).free_bytes, 0);
  for (size_t i = 0; i < n; i++) buddy_free(f.b, blocks[n - 1 - i]);
  CHECK_EQ_SZ(buddy_flush(f.b), BUDDY_OK);
  CHECK(is_fully_coalesced(&f, min));
  bfix_close(&f);
}

TEST(region_of_3000_bytes) {
  odd_region(3000, 4096, 0, 16);
  odd_region(3000, 4096, 48, 16);
}
TEST(region_of_one_and_a_half_mib) {
  odd_region((size_t)3 << 19, 1 << 20, 0, 16);
  odd_region((size_t)3 << 19, 1 << 20, 4096 + 32, 16);
  odd_region((size_t)3 << 19, 1 << 20, 4096, 4096);
}
TEST(region_of_4_kib_plus_16) {
  odd_region(4096 + 16, 4096, 0, 16);
  odd_region(4096 + 16, 4096, 16, 16);
}

TEST(a_forest_base_gives_the_documented_roots) {
  /* base 0x10 past a 64 KiB boundary, 0x2800 bytes (the example of buddy.h):
   * 0x10, 0x20, ..., 0x800 rising to the first 4 KiB boundary, then 0x1000,
   * 0x800 and 0x10 */
  bfix f;
  CHECK_EQ_SZ(bfix_open(&f, 0x2800, 0x10000, 0x10, NULL), BUDDY_OK);
  bblocks l = bblocks_of(f.b);
  size_t expect[] = {0x10,  0x20,  0x40,  0x80,   0x100, 0x200,
                     0x400, 0x800, 0x1000, 0x800, 0x10};
  CHECK_EQ_SZ(l.n, sizeof expect / sizeof expect[0]);
  for (size_t i = 0; i < l.n && i < sizeof expect / sizeof expect[0]; i++) {
    CHECK_EQ_SZ(l.size[i], expect[i]);
    CHECK_EQ_SZ(l.start[i] % l.size[i], 0);
  }
  CHECK_EQ_SZ(bstats(f.b).largest_free, 0x1000);
  bfix_close(&f);
}

/* ---- a region of 2^40 bytes -------------------------------------------------------- */

TEST(a_region_of_a_tebibyte_serves_blocks_up_to_its_size) {
  const size_t tib = (size_t)1 << 40;
  void* map = mmap(NULL, 2 * tib, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
  CHECK(map != MAP_FAILED);
  if (map == MAP_FAILED) return;
  unsigned char* base = (unsigned char*)(((uintptr_t)map + tib - 1) & ~(uintptr_t)(tib - 1));
  size_t min = (size_t)1 << 16;
  size_t msize = buddy_meta_size(tib, min);
  unsigned char* meta = aligned_alloc(16, (msize + 15) & ~(size_t)15);
  buddy_t* b = NULL;
  buddy_config c = bcfg(min, 0);
  CHECK_EQ_SZ(buddy_init(&b, meta, msize, base, tib, &c), BUDDY_OK);
  buddy_stats_t st = bstats(b);
  CHECK_EQ_SZ(st.largest_free, tib);
  CHECK_EQ_SZ(st.orders, 25);
  void* whole = buddy_malloc(b, tib);
  CHECK(whole == base);
  CHECK(buddy_malloc(b, 1) == NULL);
  CHECK_EQ_SZ(buddy_usable_size(b, whole), tib);
  CHECK_EQ_SZ(buddy_free(b, whole), BUDDY_OK);
  CHECK(buddy_malloc(b, tib + 1) == NULL);
  void* half = buddy_aligned_alloc(b, tib / 2, 1);
  CHECK(half != NULL && (uintptr_t)half % (tib / 2) == 0);
  unsigned char* exact = buddy_pages_alloc(b, tib / 4 + min, 0); /* 2^38 + 64 KiB exactly */
  CHECK(exact != NULL);
  CHECK_EQ_SZ(bstats(b).used_bytes, tib / 2 + tib / 4 + min);
  CHECK_EQ_SZ(buddy_pages_free(b, exact, tib / 4 + min, 0), BUDDY_OK);
  CHECK_EQ_SZ(buddy_free(b, half), BUDDY_OK);
  CHECK_EQ_SZ(buddy_flush(b), BUDDY_OK);
  CHECK_EQ_SZ(bstats(b).largest_free, tib);
  CHECK_EQ_SZ(buddy_check(b), BUDDY_OK);
  buddy_destroy(b);
  free(meta);
  munmap(map, 2 * tib);
}

/* ---- exhaustion ---------------------------------------------------------------------- */

TEST(exhaustion_then_recovery) {
  bfix f;
  CHECK_EQ_SZ(bfix_open(&f, 4096, 4096, 0, NULL), BUDDY_OK);
  void* blk[256];
  size_t n = 0;
  while (n < 256 && (blk[n] = buddy_malloc(f.b, 1)) != NULL) n++;
  CHECK_EQ_SZ(n, 256);
  CHECK(buddy_malloc(f.b, 1) == NULL);
  CHECK(buddy_calloc(f.b, 1, 1) == NULL);
  CHECK(buddy_pages_alloc(f.b, 16, 0) == NULL);
  CHECK_EQ_SZ(buddy_free(f.b, blk[77]), BUDDY_OK);
  CHECK(buddy_malloc(f.b, 1) == blk[77]);
  for (size_t i = 0; i < n; i++) CHECK_EQ_SZ(buddy_free(f.b, blk[i]), BUDDY_OK);
  CHECK(buddy_malloc(f.b, 4096) == f.base); /* flushes the cache on the way */
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  CHECK_EQ_SZ(buddy_reset(f.b), BUDDY_OK); /* reset frees the live 4 KiB block too */
  CHECK(is_fully_coalesced(&f, 16));
  bfix_close(&f);
}

int main(void) {
  RUN(every_free_order_of_four_blocks_coalesces);
  RUN(minimum_blocks_coalesce_in_any_order);
  RUN(mixed_sizes_coalesce_in_random_orders_on_a_forest);
  RUN(every_block_is_aligned_to_its_size_in_absolute_addresses);
  RUN(region_of_3000_bytes);
  RUN(region_of_one_and_a_half_mib);
  RUN(region_of_4_kib_plus_16);
  RUN(a_forest_base_gives_the_documented_roots);
  RUN(a_region_of_a_tebibyte_serves_blocks_up_to_its_size);
  RUN(exhaustion_then_recovery);
  return test_summary("buddy_layout");
}
