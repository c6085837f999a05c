/*
 * offheap — metadata that already reads as zeros is not cleared again:
 * buddy_init(..., BUDDY_META_ZEROED) and mspace_set_bounds_zeroed. Over a
 * fresh anonymous mapping both must behave exactly like their clearing
 * counterparts (same answers, check() passes), while leaving the parts of
 * the metadata no allocation reaches untouched: not resident (mincore; a
 * read maps the shared zero page, which mincore counts, so residency is
 * measured before the checks that read everything).
 * That is what keeps a large arena's creation and reset cheap.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../csrc/buddy.h"
#include "../../csrc/dlmalloc.h"
#include "port_test.h"
#include "testhelper.h"

#define MIB(n) ((size_t)(n) << 20)

static void* map_fresh(size_t n) {
  void* p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return NULL;
  madvise(p, n, MADV_NOHUGEPAGE);
  return p;
}

/* Resident 4 KiB pages of [p, p + n). */
static size_t resident_pages(void* p, size_t n) {
  size_t pages = (n + 4095) / 4096;
  unsigned char* v = malloc(pages);
  if (!v || mincore(p, n, v) != 0) {
    free(v);
    return (size_t)-1;
  }
  size_t r = 0;
  for (size_t i = 0; i < pages; i++) r += v[i] & 1;
  free(v);
  return r;
}

/* A 256 MiB region with 16-byte blocks: its bitmaps are several MiB. Two
 * instances over two regions, one told its metadata is zeroed, one not,
 * must give the same answers (offsets from their bases). */
TEST(buddy_meta_zeroed_leaves_untouched_metadata_unwritten) {
  size_t region = MIB(256);
  unsigned char* map_z = map_fresh(2 * region);
  unsigned char* map_c = map_fresh(2 * region);
  CHECK(map_z && map_c);
  /* aligned to the region size, so both have the same layout */
  unsigned char* base_z = (unsigned char*)(((uintptr_t)map_z + region - 1) & ~(uintptr_t)(region - 1));
  unsigned char* base_c = (unsigned char*)(((uintptr_t)map_c + region - 1) & ~(uintptr_t)(region - 1));
  size_t meta_len = buddy_meta_size(region, 16);
  CHECK(meta_len > MIB(4));
  unsigned char* meta_z = map_fresh(meta_len);
  unsigned char* meta_c = map_fresh(meta_len);
  CHECK(meta_z && meta_c);
  buddy_config cz = {16, BUDDY_TRACK_ZERO | BUDDY_REGION_ZEROED | BUDDY_META_ZEROED, 0, 0};
  buddy_config cc = {16, BUDDY_TRACK_ZERO | BUDDY_REGION_ZEROED, 0, 0};
  buddy_t *bz = NULL, *bc = NULL;
  CHECK_EQ_SZ(buddy_init(&bz, meta_z, meta_len, base_z, region, &cz), BUDDY_OK);
  CHECK(resident_pages(meta_z, meta_len) < meta_len / 4096 / 4);
  CHECK_EQ_SZ(buddy_init(&bc, meta_c, meta_len, base_c, region, &cc), BUDDY_OK);
  CHECK(resident_pages(meta_c, meta_len) >= meta_len / 4096 / 2); /* cleared: written */
  for (int i = 0; i < 2000; i++) {
    size_t n = (size_t)16 << (i % 12);
    unsigned char* pz = buddy_malloc(bz, n);
    unsigned char* pc = buddy_malloc(bc, n);
    CHECK(pz != NULL && pc != NULL);
    CHECK_EQ_SZ((size_t)(pz - base_z), (size_t)(pc - base_c));
    if (i % 3 == 0) {
      CHECK_EQ_SZ(buddy_free(bz, pz), BUDDY_OK);
      CHECK_EQ_SZ(buddy_free(bc, pc), BUDDY_OK);
    }
  }
  CHECK_EQ_SZ(buddy_check(bz), BUDDY_OK);
  buddy_stats_t sz, sc;
  CHECK_EQ_SZ(buddy_stats(bz, &sz), BUDDY_OK);
  CHECK_EQ_SZ(buddy_stats(bc, &sc), BUDDY_OK);
  CHECK_EQ_SZ(sz.used_bytes, sc.used_bytes);
  CHECK_EQ_SZ(sz.largest_free, sc.largest_free);
  /* An unknown flag is still refused. */
  buddy_config bad = {16, 0x100, 0, 0};
  buddy_t* bb = NULL;
  CHECK_EQ_SZ(buddy_init(&bb, meta_c, meta_len, base_c, region, &bad), BUDDY_E_INVALID);
}

/* A bounded mspace over a 1 GiB range: its live map is 8 MiB. */
TEST(mspace_set_bounds_zeroed_leaves_the_live_map_unwritten) {
  static _Alignas(64) unsigned char state[8192];
  port_reset();
  /* The test port's bump area (1 GiB): custom_mmap serves from it. */
  port_state.mmap_mode = PORT_MMAP_BOTTOM_UP;
  void* t = custom_mmap(4096);
  CHECK(t != PORT_MFAIL);
  custom_munmap(t, 4096);
  char* lo = (char*)port_bump_area();
  size_t len = MIB(1024);
  CHECK(lo != NULL);
  size_t lm_len = mspace_livemap_bytes(len);
  unsigned char* lm = map_fresh(lm_len);
  CHECK(lm != NULL);
  CHECK(mspace_state_size() <= sizeof state);
  mspace ms = create_mspace_with_state(state, sizeof state, 0);
  CHECK(ms != NULL);
  CHECK_EQ_SZ(mspace_set_bounds_zeroed(ms, lo, len, lm, lm_len), DL_OK);
  CHECK_EQ_SZ(resident_pages(lm, lm_len), 0);
  void* ps[64];
  for (int i = 0; i < 64; i++) {
    ps[i] = mspace_malloc(ms, 100 + i);
    CHECK(ps[i] != NULL);
    CHECK_EQ_SZ(mspace_validate(ms, ps[i]), DL_OK);
  }
  CHECK_EQ_SZ(mspace_validate(ms, (char*)ps[3] + 16), DL_E_NOT_ALLOCATED);
  for (int i = 0; i < 64; i += 2) mspace_free(ms, ps[i]);
  CHECK_EQ_SZ(mspace_validate(ms, ps[0]), DL_E_NOT_ALLOCATED);
  /* (before mspace_check, which reads the whole map: read faults map the zero page) */
  size_t lm_pages = lm_len / 4096;
  size_t lm_resident = resident_pages(lm, lm_len);
  if (lm_resident > 8) fprintf(stderr, "  live map: %zu of %zu pages resident\n", lm_resident, lm_pages);
  CHECK(lm_resident <= 8); /* only the map of the heap's first pages */
  CHECK_EQ_SZ(mspace_check(ms), DL_OK);
  /* Refused like mspace_set_bounds once the heap is in use. */
  CHECK_EQ_SZ(mspace_set_bounds_zeroed(ms, lo, len, lm, lm_len), DL_E_INVALID);
}

int main(void) {
  RUN_FORKED(buddy_meta_zeroed_leaves_untouched_metadata_unwritten);
  RUN_FORKED(mspace_set_bounds_zeroed_leaves_the_live_map_unwritten);
  return test_summary("zeroed_maps");
}
