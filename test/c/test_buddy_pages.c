/*
 * offheap — buddy allocator as a page provider, driven the way dlmalloc's
 * custom_mmap / custom_munmap / custom_direct_mmap drive it: exact page
 * counts, tails cut off by sys_trim, ranges spanning two earlier mappings,
 * length-0 unmaps, bogus arguments, zeroed pages (with and without known-zero
 * tracking), and a long random replay checked page by page against a model.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "port_test.h"
#include "test_buddy_fixture.h"

#define PAGE 4096u
#define KIB(n) ((size_t)(n) << 10)

/* A page-provider instance over a fresh anonymous mapping (reads as zeros). */
typedef struct {
  buddy_t* b;
  unsigned char* base;
  size_t size;
  unsigned char* map;
  size_t map_size;
  unsigned char* meta;
  size_t meta_size;
} pages_fix;

/* The base is aligned to the largest power of two <= size, so that a
 * power-of-two region is one root (one free block when empty). */
static int pages_open(pages_fix* f, size_t size, size_t min_block, unsigned flags) {
  memset(f, 0, sizeof *f);
  size_t align = 1;
  while (align <= size / 2) align *= 2;
  f->map_size = size + align;
  f->map = mmap(NULL, f->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                -1, 0);
  if (f->map == MAP_FAILED) return -1;
  f->base = (unsigned char*)(((uintptr_t)f->map + align - 1) & ~(uintptr_t)(align - 1));
  f->size = size;
  f->meta_size = buddy_meta_size(size, min_block);
  f->meta = aligned_alloc(16, (f->meta_size + 15) & ~(size_t)15);
  buddy_config c = bcfg(min_block, flags);
  return buddy_init(&f->b, f->meta, f->meta_size, f->base, size, &c);
}

static void pages_close(pages_fix* f) {
  buddy_destroy(f->b);
  free(f->meta);
  munmap(f->map, f->map_size);
}

static size_t used(buddy_t* b) { return bstats(b).used_bytes; }

static int all_zero(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

/* The snapshot helpers of the fixture work on a bfix; build a view. */
static bfix as_bfix(const pages_fix* f) {
  bfix v;
  memset(&v, 0, sizeof v);
  v.b = f->b;
  v.base = f->base;
  v.size = f->size;
  v.meta = f->meta;
  v.meta_size = f->meta_size;
  return v;
}

/* ---- exact sizes ------------------------------------------------------------------ */

TEST(allocations_cost_exactly_their_pages) {
  pages_fix f;
  CHECK_EQ_SZ(pages_open(&f, (size_t)64 << 20, PAGE, 0), BUDDY_OK);
  unsigned char* a = buddy_pages_alloc(f.b, KIB(68), 0);
  CHECK(a != NULL && (uintptr_t)a % KIB(128) == 0);
  CHECK_EQ_SZ(used(f.b), KIB(68));
  /* live: 64 KiB + 4 KiB; the rest of the 128 KiB went back as 4, 8, 16, 32 */
  buddy_stats_t st = bstats(f.b);
  CHECK_EQ_SZ(st.live_blocks, 2);
  CHECK(st.free_blocks[0] >= 1 && st.free_blocks[1] >= 1 && st.free_blocks[2] >= 1 &&
        st.free_blocks[3] >= 1);
  unsigned char* b = buddy_pages_alloc(f.b, 3 * PAGE, 0);
  CHECK(b != NULL && (uintptr_t)b % KIB(16) == 0);
  CHECK_EQ_SZ(used(f.b), KIB(80));
  unsigned char* c = buddy_pages_alloc(f.b, 1, 0); /* rounded up to one page */
  CHECK(c != NULL);
  CHECK_EQ_SZ(used(f.b), KIB(84));
  memset(a, 1, KIB(68));
  memset(b, 2, 3 * PAGE);
  memset(c, 3, PAGE);
  CHECK_EQ_SZ(buddy_pages_free(f.b, a, KIB(68), 0), BUDDY_OK);
  CHECK_EQ_SZ(buddy_pages_free(f.b, b, 3 * PAGE, 0), BUDDY_OK);
  CHECK_EQ_SZ(buddy_pages_free(f.b, c, PAGE, 0), BUDDY_OK);
  CHECK_EQ_SZ(used(f.b), 0);
  CHECK_EQ_SZ(bstats(f.b).largest_free, (size_t)64 << 20);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  pages_close(&f);
}

TEST(a_small_block_instance_serves_pages_too) {
  pages_fix f;
  CHECK_EQ_SZ(pages_open(&f, (size_t)4 << 20, 16, 0), BUDDY_OK);
  unsigned char* small = buddy_malloc(f.b, 24);
  unsigned char* p = buddy_pages_alloc(f.b, 3 * PAGE, 0);
  CHECK(p != NULL && (uintptr_t)p % KIB(16) == 0);
  CHECK_EQ_SZ(used(f.b), 3 * PAGE + 32);
  CHECK_EQ_SZ(buddy_pages_free(f.b, p + PAGE, 2 * PAGE, 0), BUDDY_OK);
  CHECK_EQ_SZ(buddy_pages_free(f.b, p, PAGE, 0), BUDDY_OK);
  CHECK_EQ_SZ(buddy_free(f.b, small), BUDDY_OK);
  CHECK_EQ_SZ(buddy_flush(f.b), BUDDY_OK);
  CHECK_EQ_SZ(bstats(f.b).largest_free, (size_t)4 << 20);
  pages_close(&f);
}

/* ---- the ranges dlmalloc unmaps -------------------------------------------------- */

TEST(sys_trim_cuts_the_tail_of_a_segment) {
  pages_fix f;
  CHECK_EQ_SZ(pages_open(&f, (size_t)16 << 20, PAGE, 0), BUDDY_OK);
  unsigned char* seg = buddy_pages_alloc(f.b, KIB(64), 0);
  memset(seg, 0x5A, KIB(64));
  CHECK_EQ_SZ(buddy_pages_free(f.b, seg + KIB(16), KIB(48), 0), BUDDY_OK);
  CHECK_EQ_SZ(used(f.b), KIB(16));
  CHECK(seg[0] == 0x5A && seg[KIB(16) - 1] == 0x5A);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  /* a tail that does not start on a block boundary of the allocation */
  unsigned char* odd = buddy_pages_alloc(f.b, KIB(68), 0);
  memset(odd, 0x6B, KIB(68));
  CHECK_EQ_SZ(buddy_pages_free(f.b, odd + KIB(20), KIB(48), 0), BUDDY_OK);
  CHECK_EQ_SZ(used(f.b), KIB(16) + KIB(20));
  CHECK(odd[0] == 0x6B && odd[KIB(20) - 1] == 0x6B);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  /* and the remaining heads, whole */
  CHECK_EQ_SZ(buddy_pages_free(f.b, seg, KIB(16), 0), BUDDY_OK);
  CHECK_EQ_SZ(buddy_pages_free(f.b, odd, KIB(20), 0), BUDDY_OK);
  CHECK_EQ_SZ(used(f.b), 0);
  CHECK_EQ_SZ(bstats(f.b).largest_free, (size_t)16 << 20);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  pages_close(&f);
}

TEST(one_unmap_may_span_adjacent_mappings) {
  pages_fix f;
  CHECK_EQ_SZ(pages_open(&f, (size_t)16 << 20, PAGE, 0), BUDDY_OK);
  /* two adjacent segments that dlmalloc merged, then released the top of */
  unsigned char* a = buddy_pages_alloc(f.b, KIB(64), 0);
  unsigned char* b = buddy_pages_alloc(f.b, KIB(64), 0);
  CHECK(b == a + KIB(64)); /* adjacent: placement is lowest-first from a fresh split */
  memset(a, 1, KIB(128));
  CHECK_EQ_SZ(buddy_pages_free(f.b, a + KIB(48), KIB(80), 0), BUDDY_OK);
  CHECK_EQ_SZ(used(f.b), KIB(48));
  CHECK(a[KIB(48) - 1] == 1);
  CHECK_EQ_SZ(buddy_pages_free(f.b, a, KIB(48), 0), BUDDY_OK);
  CHECK_EQ_SZ(bstats(f.b).largest_free, (size_t)16 << 20);
  /* three mappings; one range from inside the first to inside the third */
  a = buddy_pages_alloc(f.b, KIB(64), 0);
  b = buddy_pages_alloc(f.b, KIB(64), 0);
  unsigned char* c = buddy_pages_alloc(f.b, KIB(128), 0);
  CHECK(b == a + KIB(64) && c == b + KIB(64));
  memset(a, 2, KIB(256));
  CHECK_EQ_SZ(buddy_pages_free(f.b, a + KIB(4), KIB(184), 0), BUDDY_OK);
  CHECK_EQ_SZ(used(f.b), KIB(4) + KIB(68));
  CHECK(a[0] == 2 && a[KIB(4) - 1] == 2 && c[KIB(60)] == 2 && c[KIB(128) - 1] == 2);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  CHECK_EQ_SZ(buddy_pages_free(f.b, a, KIB(4), 0), BUDDY_OK);
  CHECK_EQ_SZ(buddy_pages_free(f.b, c + KIB(60), KIB(68), 0), BUDDY_OK);
  CHECK_EQ_SZ(used(f.b), 0);
  CHECK_EQ_SZ(bstats(f.b).largest_free, (size_t)16 << 20);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  pages_close(&f);
}

TEST(a_hole_in_the_middle_of_one_mapping) {
  pages_fix f;
  CHECK_EQ_SZ(pages_open(&f, (size_t)16 << 20, PAGE, 0), BUDDY_OK);
  unsigned char* x = buddy_pages_alloc(f.b, KIB(256), 0);
  memset(x, 7, KIB(256));
  CHECK_EQ_SZ(buddy_pages_free(f.b, x + KIB(68), KIB(72), 0), BUDDY_OK);
  CHECK_EQ_SZ(used(f.b), KIB(256) - KIB(72));
  CHECK(x[KIB(68) - 1] == 7 && x[KIB(140)] == 7);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  /* freeing into the hole again is refused */
  CHECK_EQ_SZ(buddy_pages_free(f.b, x + KIB(64), KIB(8), 0), BUDDY_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(buddy_pages_free(f.b, x, KIB(68), 0), BUDDY_OK);
  CHECK_EQ_SZ(buddy_pages_free(f.b, x + KIB(140), KIB(116), 0), BUDDY_OK);
  CHECK_EQ_SZ(used(f.b), 0);
  CHECK_EQ_SZ(bstats(f.b).largest_free, (size_t)16 << 20);
  pages_close(&f);
}

TEST(length_zero_and_bogus_unmaps_change_nothing) {
  pages_fix f;
  CHECK_EQ_SZ(pages_open(&f, (size_t)4 << 20, PAGE, 0), BUDDY_OK);
  unsigned char* a = buddy_pages_alloc(f.b, KIB(64), 0);
  unsigned char* b = buddy_pages_alloc(f.b, KIB(32), 0);
  CHECK(a && b);
  bfix v = as_bfix(&f);
  bsnap s;
  bsnap_take(&s, &v);
  /* sys_trim's custom_munmap(segment end, 0) */
  CHECK_EQ_SZ(buddy_pages_free(f.b, a + KIB(64), 0, 0), BUDDY_OK);
  CHECK_EQ_SZ(buddy_pages_free(f.b, f.base + f.size, 0, 0), BUDDY_OK);
  CHECK_EQ_SZ(buddy_pages_free(f.b, NULL, 0, 0), BUDDY_OK);
  /* an invalid dlfree of an interior pointer: munmap(unaligned, 32) */
  CHECK_EQ_SZ(buddy_pages_free(f.b, a + 48, 32, 0), BUDDY_E_INVALID);
  CHECK_EQ_SZ(buddy_pages_free(f.b, a, PAGE + 16, 0), BUDDY_E_INVALID);
  CHECK_EQ_SZ(buddy_pages_free(f.b, a, PAGE, 0x10), BUDDY_E_INVALID); /* unknown flag */
  CHECK_EQ_SZ(buddy_pages_free(f.b, f.base - PAGE, 2 * PAGE, 0), BUDDY_E_FOREIGN);
  CHECK_EQ_SZ(buddy_pages_free(f.b, f.base + f.size - PAGE, 2 * PAGE, 0), BUDDY_E_FOREIGN);
  CHECK_EQ_SZ(buddy_pages_free(f.b, f.base + f.size, PAGE, 0), BUDDY_E_FOREIGN);
  CHECK_EQ_SZ(buddy_pages_free(f.b, a, SIZE_MAX - PAGE + 1, 0), BUDDY_E_FOREIGN);
  /* live, then free pages: nothing is freed at all */
  CHECK_EQ_SZ(buddy_pages_free(f.b, a, KIB(64) + KIB(32) + PAGE, 0), BUDDY_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(buddy_pages_free(f.b, b + KIB(32), PAGE, 0), BUDDY_E_NOT_ALLOCATED);
  /* validate answers what free would, and changes nothing either */
  CHECK_EQ_SZ(buddy_pages_validate(f.b, a, KIB(96)), BUDDY_OK);
  CHECK_EQ_SZ(buddy_pages_validate(f.b, a + KIB(64), 0), BUDDY_OK);
  CHECK_EQ_SZ(buddy_pages_validate(f.b, a + 48, 32), BUDDY_E_INVALID);
  CHECK_EQ_SZ(buddy_pages_validate(f.b, f.base - PAGE, 2 * PAGE), BUDDY_E_FOREIGN);
  CHECK_EQ_SZ(buddy_pages_validate(f.b, a, KIB(100)), BUDDY_E_NOT_ALLOCATED);
  CHECK(bsnap_same(&s, &v));
  bsnap_free(&s);
  CHECK_EQ_SZ(buddy_pages_free(f.b, a, KIB(96), 0), BUDDY_OK); /* both, as one range */
  CHECK_EQ_SZ(buddy_pages_validate(f.b, a, PAGE), BUDDY_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(used(f.b), 0);
  pages_close(&f);
}

TEST(cached_blocks_are_not_live_pages) {
  pages_fix f;
  CHECK_EQ_SZ(pages_open(&f, (size_t)1 << 20, PAGE, 0), BUDDY_OK);
  unsigned char* p = buddy_malloc(f.b, PAGE);
  CHECK_EQ_SZ(buddy_free(f.b, p), BUDDY_OK); /* now in the cache */
  CHECK_EQ_SZ(buddy_pages_free(f.b, p, PAGE, 0), BUDDY_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  pages_close(&f);
}

/* ---- zeroed pages --------------------------------------------------------------------- */

TEST(zeroed_pages_read_as_zero_after_reuse) {
  pages_fix f;
  CHECK_EQ_SZ(pages_open(&f, (size_t)4 << 20, PAGE, 0), BUDDY_OK); /* no tracking */
  unsigned char* p = buddy_pages_alloc(f.b, KIB(260), 0);
  memset(p, 0xFF, KIB(260));
  CHECK_EQ_SZ(buddy_pages_free(f.b, p, KIB(260), 0), BUDDY_OK);
  size_t before = bstats(f.b).zero_filled_bytes;
  unsigned char* z = buddy_pages_alloc(f.b, KIB(260), BUDDY_PAGES_ZEROED);
  CHECK(z == p);
  CHECK(all_zero(z, KIB(260)));
  CHECK_EQ_SZ(bstats(f.b).zero_filled_bytes - before, KIB(260)); /* zeroed on request */
  CHECK(buddy_pages_alloc(f.b, KIB(4), 0x4) == NULL);            /* unknown flag */
  pages_close(&f);
}

TEST(known_zero_pages_are_not_cleared_again) {
  pages_fix f;
  CHECK_EQ_SZ(pages_open(&f, (size_t)16 << 20, PAGE, BUDDY_REGION_ZEROED), BUDDY_OK);
  buddy_stats_t st = bstats(f.b);
  CHECK(st.zero_known_bytes >= ((size_t)16 << 20) - PAGE); /* all but the root's link page */
  /* a fresh region: only the pages holding free-list links need clearing */
  unsigned char* z = buddy_pages_alloc(f.b, (size_t)1 << 20, BUDDY_PAGES_ZEROED);
  CHECK(all_zero(z, (size_t)1 << 20));
  CHECK(bstats(f.b).zero_filled_bytes <= PAGE);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  /* dirty it, clean it as the port would (madvise before the unmap), free CLEAN */
  memset(z, 0xAB, (size_t)1 << 20);
  CHECK(madvise(z, (size_t)1 << 20, MADV_DONTNEED) == 0);
  CHECK_EQ_SZ(buddy_pages_free(f.b, z, (size_t)1 << 20, BUDDY_PAGES_CLEAN), BUDDY_OK);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  size_t before = bstats(f.b).zero_filled_bytes;
  z = buddy_pages_alloc(f.b, (size_t)1 << 20, BUDDY_PAGES_ZEROED);
  CHECK(all_zero(z, (size_t)1 << 20));
  CHECK(bstats(f.b).zero_filled_bytes - before <= 2 * PAGE);
  /* dirty, free without CLEAN: a zeroed request clears it all */
  memset(z, 0xCD, (size_t)1 << 20);
  CHECK_EQ_SZ(buddy_pages_free(f.b, z, (size_t)1 << 20, 0), BUDDY_OK);
  before = bstats(f.b).zero_filled_bytes;
  z = buddy_pages_alloc(f.b, (size_t)1 << 20, BUDDY_PAGES_ZEROED);
  CHECK(all_zero(z, (size_t)1 << 20));
  CHECK_EQ_SZ(bstats(f.b).zero_filled_bytes - before, (size_t)1 << 20);
  /* calloc uses the tracking as well */
  CHECK_EQ_SZ(buddy_pages_free(f.b, z, (size_t)1 << 20, 0), BUDDY_OK);
  pages_close(&f);
}

static int madvise_release(void* p, size_t n, void* arg) {
  *(size_t*)arg += n;
  return madvise(p, n, MADV_DONTNEED);
}

TEST(trim_releases_free_pages_once_and_remembers_them) {
  pages_fix f;
  CHECK_EQ_SZ(pages_open(&f, (size_t)8 << 20, PAGE, BUDDY_TRACK_ZERO), BUDDY_OK);
  unsigned char* p = buddy_pages_alloc(f.b, (size_t)2 << 20, 0);
  memset(p, 0x77, (size_t)2 << 20);
  CHECK_EQ_SZ(buddy_pages_free(f.b, p, (size_t)2 << 20, 0), BUDDY_OK);
  size_t offered = 0, released = 0;
  CHECK_EQ_SZ(buddy_trim(f.b, madvise_release, &offered, &released), BUDDY_OK);
  CHECK_EQ_SZ(offered, released);
  /* everything except the first page of each free block (its links) */
  CHECK(released >= ((size_t)8 << 20) - 32 * PAGE);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  offered = 0;
  CHECK_EQ_SZ(buddy_trim(f.b, madvise_release, &offered, &released), BUDDY_OK);
  CHECK_EQ_SZ(released, 0); /* nothing new to release */
  size_t before = bstats(f.b).zero_filled_bytes;
  unsigned char* c = buddy_calloc(f.b, 1, (size_t)2 << 20);
  CHECK(c != NULL && all_zero(c, (size_t)2 << 20));
  CHECK(bstats(f.b).zero_filled_bytes - before <= 32 * PAGE);
  CHECK_EQ_SZ(buddy_trim(f.b, NULL, NULL, &released), BUDDY_E_INVALID);
  pages_close(&f);
}

/* ---- a dlmalloc-shaped script ------------------------------------------------------------ */

/* The calls a dlmalloc heap makes over its life, in order: a first segment,
 * an adjacent one (dlmalloc merges them into one segment), a third one
 * elsewhere, a direct-mapped chunk (zeroed) and its release, trims (length 0,
 * then a tail), a release spanning the seam of the merged segments, and the
 * final release of what is left. */
TEST(replays_the_call_pattern_of_a_dlmalloc_heap) {
  pages_fix f;
  CHECK_EQ_SZ(pages_open(&f, (size_t)32 << 20, PAGE, BUDDY_REGION_ZEROED), BUDDY_OK);
  unsigned char* seg1 = buddy_pages_alloc(f.b, 0x10000, 0); /* custom_mmap(64 KiB) */
  unsigned char* seg2 = buddy_pages_alloc(f.b, 0x10000, 0); /* grows: adjacent */
  unsigned char* seg3 = buddy_pages_alloc(f.b, 0x30000, 0); /* custom_mmap(192 KiB) */
  CHECK(seg1 && seg2 == seg1 + 0x10000 && seg3);
  memset(seg1, 0x11, 0x20000);
  memset(seg3, 0x22, 0x30000);
  unsigned char* direct = buddy_pages_alloc(f.b, 0x41000, BUDDY_PAGES_ZEROED); /* direct mmap */
  CHECK(direct != NULL && all_zero(direct, 0x41000));
  CHECK_EQ_SZ(used(f.b), 0x20000 + 0x30000 + 0x41000);
  memset(direct, 0x33, 0x41000);
  CHECK_EQ_SZ(buddy_pages_free(f.b, direct, 0x41000, 0), BUDDY_OK);   /* the direct chunk */
  CHECK_EQ_SZ(buddy_pages_free(f.b, seg3 + 0x30000, 0, 0), BUDDY_OK); /* trim, extra = 0 */
  CHECK_EQ_SZ(buddy_pages_free(f.b, seg3 + 0x20000, 0x10000, 0), BUDDY_OK); /* trim a tail */
  CHECK_EQ_SZ(used(f.b), 0x20000 + 0x20000);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  /* the merged segment [seg1, seg1 + 128 KiB) releases its top 96 KiB */
  CHECK_EQ_SZ(buddy_pages_free(f.b, seg1 + 0x8000, 0x18000, 0), BUDDY_OK);
  CHECK_EQ_SZ(used(f.b), 0x8000 + 0x20000);
  CHECK(seg1[0] == 0x11 && seg1[0x7FFF] == 0x11 && seg3[0x1FFFF] == 0x22);
  CHECK_EQ_SZ(buddy_pages_free(f.b, seg1, 0x8000, 0), BUDDY_OK);
  CHECK_EQ_SZ(buddy_pages_free(f.b, seg3, 0x20000, 0), BUDDY_OK);
  CHECK_EQ_SZ(used(f.b), 0);
  CHECK_EQ_SZ(bstats(f.b).largest_free, (size_t)32 << 20);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  pages_close(&f);
}

/* ---- random replay against a page model ------------------------------------------------- */

#define MODEL_PAGES 4096 /* 16 MiB of 4 KiB pages */

/* The model: which pages are mapped, and the stamp each mapped page holds in
 * its first and last word. Mappings are remembered as ranges so that unmaps
 * can pick tails, heads, holes and spans over neighbours. */
static unsigned char mapped[MODEL_PAGES];
static uint64_t stamp_of[MODEL_PAGES];

static int page_ok(const pages_fix* f, size_t i) {
  uint64_t a, z;
  memcpy(&a, f->base + i * PAGE, 8);
  memcpy(&z, f->base + i * PAGE + PAGE - 8, 8);
  return a == stamp_of[i] && z == ~stamp_of[i];
}

TEST(random_maps_and_unmaps_match_a_page_model) {
  pages_fix f;
  CHECK_EQ_SZ(pages_open(&f, (size_t)MODEL_PAGES * PAGE, PAGE, BUDDY_REGION_ZEROED), BUDDY_OK);
  memset(mapped, 0, sizeof mapped);
  test_rng r = {0xFACADE};
  size_t mapped_pages = 0;
  long refused = 0, spans = 0, oom = 0;
  for (long op = 0; op < 40000; op++) {
    uint64_t kind = test_rng_below(&r, 100);
    if (kind < 45) { /* map n pages, zeroed one time in three */
      size_t n = 1 + (size_t)test_rng_below(&r, (size_t)1 << test_rng_below(&r, 8));
      unsigned zero = test_rng_below(&r, 3) == 0 ? BUDDY_PAGES_ZEROED : 0;
      unsigned char* p = buddy_pages_alloc(f.b, n * PAGE, zero);
      if (!p) {
        oom++;
        CHECK(bstats(f.b).largest_free < n * PAGE); /* a real shortage */
        continue;
      }
      size_t first = (size_t)(p - f.base) / PAGE;
      int clash = 0, dirty = 0;
      for (size_t i = first; i < first + n; i++) {
        clash |= mapped[i];
        if (zero) dirty |= !all_zero(f.base + i * PAGE, PAGE);
        mapped[i] = 1;
        stamp_of[i] = test_rng_next(&r);
        memcpy(f.base + i * PAGE, &stamp_of[i], 8);
        uint64_t inv = ~stamp_of[i];
        memcpy(f.base + i * PAGE + PAGE - 8, &inv, 8);
      }
      CHECK(!clash);
      CHECK(!dirty);
      mapped_pages += n;
    } else if (kind < 95) { /* unmap a range around a mapped page */
      size_t at = (size_t)test_rng_below(&r, MODEL_PAGES);
      if (!mapped[at]) continue;
      size_t lo = at, hi = at + 1;
      /* grow to a random extent, sometimes past a gap (then it must fail) */
      size_t grow_lo = (size_t)test_rng_below(&r, 64), grow_hi = (size_t)test_rng_below(&r, 64);
      while (grow_lo-- && lo > 0 && (mapped[lo - 1] || test_rng_below(&r, 50) == 0)) lo--;
      while (grow_hi-- && hi < MODEL_PAGES && (mapped[hi] || test_rng_below(&r, 50) == 0)) hi++;
      int all_mapped = 1;
      for (size_t i = lo; i < hi; i++) all_mapped &= mapped[i];
      int status = buddy_pages_free(f.b, f.base + lo * PAGE, (hi - lo) * PAGE, 0);
      if (all_mapped) {
        CHECK_EQ_SZ(status, BUDDY_OK);
        for (size_t i = lo; i < hi; i++) mapped[i] = 0;
        mapped_pages -= hi - lo;
        spans += hi - lo > 16;
      } else {
        CHECK_EQ_SZ(status, BUDDY_E_NOT_ALLOCATED);
        refused++;
      }
    } else { /* length-0 unmaps anywhere */
      CHECK_EQ_SZ(buddy_pages_free(f.b, f.base + test_rng_below(&r, MODEL_PAGES) * PAGE, 0, 0),
                  BUDDY_OK);
    }
    if (op % 500 == 0) {
      CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
      CHECK_EQ_SZ(used(f.b), mapped_pages * PAGE);
      size_t damaged = 0;
      for (size_t i = 0; i < MODEL_PAGES; i++) damaged += mapped[i] && !page_ok(&f, i);
      CHECK_EQ_SZ(damaged, 0);
    }
  }
  CHECK(refused > 100 && spans > 100);
  printf("  40000 ops: %ld refused ranges, %ld long unmaps, %ld out of memory\n", refused, spans, oom);
  for (size_t i = 0; i < MODEL_PAGES; i++)
    if (mapped[i]) CHECK_EQ_SZ(buddy_pages_free(f.b, f.base + i * PAGE, PAGE, 0), BUDDY_OK);
  CHECK_EQ_SZ(used(f.b), 0);
  CHECK_EQ_SZ(bstats(f.b).largest_free, (size_t)MODEL_PAGES * PAGE);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  pages_close(&f);
}

int main(void) {
  RUN(allocations_cost_exactly_their_pages);
  RUN(a_small_block_instance_serves_pages_too);
  RUN(sys_trim_cuts_the_tail_of_a_segment);
  RUN(one_unmap_may_span_adjacent_mappings);
  RUN(a_hole_in_the_middle_of_one_mapping);
  RUN(length_zero_and_bogus_unmaps_change_nothing);
  RUN(cached_blocks_are_not_live_pages);
  RUN(zeroed_pages_read_as_zero_after_reuse);
  RUN(known_zero_pages_are_not_cleared_again);
  RUN(trim_releases_free_pages_once_and_remembers_them);
  RUN(replays_the_call_pattern_of_a_dlmalloc_heap);
  RUN(random_maps_and_unmaps_match_a_page_model);
  return test_summary("buddy_pages");
}
