/*
 * offheap — the buddy allocator's "committed" figures (buddy_stats):
 * committed_bytes = region_bytes - zero_known_bytes (the bytes that may be
 * backed by memory) and peak_committed_bytes, its exact high-water mark,
 * both from a running count of known-zero pages that buddy_check verifies
 * against the zero bitmap (I6 in csrc/buddy.c).
 *
 * Exact values on fresh regions, growth as blocks are handed out, the drop
 * after buddy_trim and after a clean buddy_pages_free, the peak keeping the
 * maximum (also across buddy_reset), no tracking meaning committed == region,
 * residency (mincore) never above committed, check() catching a damaged
 * counter or a zero bit set behind its back, and a random mix of every
 * operation with the properties checked after each one.
 *
 * Reproduce the random run: OFFHEAP_SEED=0x... (printed on failure).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "port_test.h"
#include "test_buddy_fixture.h"

#define PAGE 4096u
#define KIB(n) ((size_t)(n) << 10)
#define MIB(n) ((size_t)(n) << 20)

/* An instance over a fresh anonymous mapping (reads as zeros), its base
 * aligned to the largest power of two <= size, huge pages off so that
 * residency is counted in 4 KiB pages. */
typedef struct {
  buddy_t* b;
  unsigned char* base;
  size_t size;
  unsigned char* map;
  size_t map_size;
  unsigned char* meta;
  size_t meta_size;
  int nohuge; /* MADV_NOHUGEPAGE took */
} cfix;

static int cfix_open(cfix* f, size_t size, size_t min_block, unsigned flags) {
  memset(f, 0, sizeof *f);
  size_t align = 1;
  while (align <= size / 2) align *= 2;
  f->map_size = size + align;
  f->map = mmap(NULL, f->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                -1, 0);
  if (f->map == MAP_FAILED) return -1;
#ifdef MADV_NOHUGEPAGE
  f->nohuge = madvise(f->map, f->map_size, MADV_NOHUGEPAGE) == 0;
#endif
  f->base = (unsigned char*)(((uintptr_t)f->map + align - 1) & ~(uintptr_t)(align - 1));
  f->size = size;
  f->meta_size = buddy_meta_size(size, min_block);
  f->meta = aligned_alloc(16, (f->meta_size + 15) & ~(size_t)15);
  buddy_config c = bcfg(min_block, flags);
  return buddy_init(&f->b, f->meta, f->meta_size, f->base, size, &c);
}

static void cfix_close(cfix* f) {
  buddy_destroy(f->b);
  free(f->meta);
  munmap(f->map, f->map_size);
}

static int madvise_release(void* p, size_t n, void* arg) {
  if (arg) *(size_t*)arg += n;
  return madvise(p, n, MADV_DONTNEED);
}

static size_t committed(buddy_t* b) { return bstats(b).committed_bytes; }
static size_t peak(buddy_t* b) { return bstats(b).peak_committed_bytes; }

/* buddy_largest_free_committed, or SIZE_MAX when it refuses. */
static size_t largest_committed(buddy_t* b) {
  size_t n = 0;
  return buddy_largest_free_committed(b, &n) == BUDDY_OK ? n : SIZE_MAX;
}

/* The relations that hold in every state. The largest free block wholly in
 * committed memory lies in committed - used (the free bytes not known zero),
 * is at most the largest free block, and is 0 or a block size. */
static int stats_consistent(buddy_t* b) {
  buddy_stats_t s = bstats(b);
  size_t lc = largest_committed(b);
  return s.committed_bytes + s.zero_known_bytes == s.region_bytes &&
         s.used_bytes <= s.committed_bytes && s.committed_bytes <= s.peak_committed_bytes &&
         s.peak_committed_bytes <= s.region_bytes && lc <= s.committed_bytes - s.used_bytes &&
         lc <= s.largest_free && (lc == 0 || (lc >= s.min_block && (lc & (lc - 1)) == 0));
}

/* Bytes of [p, p + n) resident in memory (mincore), or SIZE_MAX when unknown. */
static size_t resident_bytes(const void* p, size_t n) {
  size_t pages = n / PAGE;
  unsigned char* vec = malloc(pages ? pages : 1);
  if (!vec || mincore((void*)p, n, vec) != 0) {
    free(vec);
    return SIZE_MAX;
  }
  size_t r = 0;
  for (size_t i = 0; i < pages; i++) r += (vec[i] & 1) ? PAGE : 0;
  free(vec);
  return r;
}

/* After a trim that accepted everything (cache flushed, base page-aligned):
 * every free block of two tracking pages (max(4 KiB, min_block)) or more is
 * known zero but for its first page (its links); smaller free blocks and
 * live blocks have no known-zero page. Returns the zero-known bytes that
 * implies. */
typedef struct {
  size_t page, zero;
} trim_sum;
static int sum_zero_after_trim(void* start, size_t size, int state, void* arg) {
  trim_sum* t = (trim_sum*)arg;
  (void)start;
  if (state == BUDDY_BLOCK_FREE && size >= 2 * t->page) t->zero += size - t->page;
  return 0;
}
static size_t zero_after_trim(buddy_t* b, size_t min_block) {
  trim_sum t = {min_block > PAGE ? min_block : PAGE, 0};
  buddy_walk(b, sum_zero_after_trim, &t);
  return t.zero;
}

/* The largest free (or cached) block of at most `most` bytes, by a walk. */
typedef struct {
  size_t most, best;
} largest_upto;
static int visit_largest_upto(void* start, size_t size, int state, void* arg) {
  largest_upto* l = (largest_upto*)arg;
  (void)start;
  if (state != BUDDY_BLOCK_LIVE && size <= l->most && size > l->best) l->best = size;
  return 0;
}
static size_t largest_free_upto(buddy_t* b, size_t most) {
  largest_upto l = {most, 0};
  buddy_walk(b, visit_largest_upto, &l);
  return l.best;
}

/* ---- exact values ------------------------------------------------------------------- */

TEST(a_fresh_zeroed_region_commits_only_the_link_pages) {
  cfix f;
  CHECK_EQ_SZ(cfix_open(&f, MIB(16), 16, BUDDY_REGION_ZEROED), BUDDY_OK);
  buddy_stats_t s = bstats(f.b);
  CHECK_EQ_SZ(s.region_bytes, MIB(16));
  CHECK_EQ_SZ(s.committed_bytes, PAGE); /* one root, its links on its first page */
  CHECK_EQ_SZ(s.peak_committed_bytes, PAGE);
  CHECK_EQ_SZ(s.used_bytes, 0);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  cfix_close(&f);
  /* a base not aligned to the region size: several roots, one link page each */
  bfix g;
  buddy_config c = bcfg(16, BUDDY_REGION_ZEROED);
  CHECK_EQ_SZ(bfix_open(&g, 3 * PAGE * 4, PAGE, 0, &c), BUDDY_OK); /* 48 KiB: 32 + 16 KiB */
  size_t roots[8];
  size_t n = bexpected_roots((uintptr_t)g.base, g.size, 16, roots, 8);
  CHECK_EQ_SZ(committed(g.b), n * PAGE);
  CHECK_EQ_SZ(buddy_check(g.b), BUDDY_OK);
  bfix_close(&g);
}

/* buddy_largest_free_committed: the largest free block none of whose pages
 * is known zero. */
TEST(largest_free_committed_is_the_largest_block_with_no_zero_page) {
  cfix f;
  CHECK_EQ_SZ(cfix_open(&f, MIB(16), 16, BUDDY_REGION_ZEROED), BUDDY_OK);
  /* fresh: one root, known zero but for its link page */
  CHECK_EQ_SZ(largest_committed(f.b), 0);
  /* two 64 KiB blocks side by side, then the first freed (and merged, the
   * cache flushed): a free 64 KiB block whose pages were all handed out */
  unsigned char* x = buddy_malloc(f.b, KIB(64));
  unsigned char* y = buddy_malloc(f.b, KIB(64));
  CHECK(x == f.base && y == f.base + KIB(64));
  /* the right halves pushed while splitting (64 KiB and up) hold links on
   * their first page only: none is wholly committed */
  CHECK_EQ_SZ(largest_committed(f.b), 0);
  CHECK_EQ_SZ(buddy_free(f.b, x), BUDDY_OK);
  CHECK_EQ_SZ(largest_committed(f.b), KIB(64)); /* cached: it was live */
  CHECK_EQ_SZ(buddy_flush(f.b), BUDDY_OK);
  CHECK_EQ_SZ(largest_committed(f.b), KIB(64)); /* on the free list: no page known zero */
  CHECK(stats_consistent(f.b));
  /* trim makes all but its first page known zero: no free block is wholly
   * committed any more but those of one page or less, and there are none */
  size_t released = 0;
  CHECK_EQ_SZ(buddy_trim(f.b, madvise_release, NULL, &released), BUDDY_OK);
  CHECK_EQ_SZ(released, KIB(64) - PAGE);
  CHECK_EQ_SZ(largest_committed(f.b), 0);
  /* a small block splits the 64 KiB block down: the right halves of a page
   * or less hold their links in their only page (the 4 KiB one made its
   * known-zero page dirty so), the larger ones are zero but for the first */
  unsigned char* z = buddy_malloc(f.b, 16);
  CHECK(z == f.base);
  CHECK_EQ_SZ(largest_committed(f.b), PAGE);
  CHECK_EQ_SZ(largest_committed(f.b), largest_free_upto(f.b, PAGE));
  CHECK(stats_consistent(f.b));
  CHECK_EQ_SZ(buddy_free(f.b, y), BUDDY_OK);
  CHECK_EQ_SZ(buddy_free(f.b, z), BUDDY_OK);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  cfix_close(&f);
  /* without zero tracking no page is known zero: the largest free block */
  cfix g;
  CHECK_EQ_SZ(cfix_open(&g, MIB(1), 16, 0), BUDDY_OK);
  CHECK_EQ_SZ(largest_committed(g.b), MIB(1));
  void* p = buddy_malloc(g.b, 100);
  CHECK_EQ_SZ(largest_committed(g.b), KIB(512));
  CHECK_EQ_SZ(buddy_free(g.b, p), BUDDY_OK);
  cfix_close(&g);
  /* refused: no out pointer, not an instance */
  size_t out = 1;
  CHECK_EQ_SZ(buddy_largest_free_committed(NULL, &out), BUDDY_E_INVALID);
  CHECK_EQ_SZ(out, 0);
}

TEST(committed_grows_as_blocks_are_handed_out) {
  cfix f;
  CHECK_EQ_SZ(cfix_open(&f, MIB(16), 16, BUDDY_REGION_ZEROED), BUDDY_OK);
  /* 1 MiB out of the 16 MiB root: the block's 256 pages, plus the link page
   * of each right half pushed on the way down (8, 4, 2 and 1 MiB) */
  unsigned char* p = buddy_malloc(f.b, MIB(1));
  CHECK(p == f.base);
  CHECK_EQ_SZ(committed(f.b), MIB(1) + 4 * PAGE);
  CHECK_EQ_SZ(peak(f.b), MIB(1) + 4 * PAGE);
  CHECK(stats_consistent(f.b));
  /* a small block from the 1 MiB right half: splits down to 16 bytes (16
   * right halves, 12 of them on the first page of the right half, so only
   * the page-sized and larger halves add link pages: 512K..4K = 8) plus the
   * block's own page, which already holds links */
  size_t before = committed(f.b);
  unsigned char* q = buddy_malloc(f.b, 16);
  CHECK(q == f.base + MIB(1));
  CHECK_EQ_SZ(committed(f.b) - before, 8 * PAGE);
  /* touching memory is the user's business: a block handed out counts whole */
  memset(p, 0x5A, MIB(1));
  CHECK_EQ_SZ(committed(f.b) - before, 8 * PAGE);
  CHECK(stats_consistent(f.b));
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  /* freeing changes no page's contents: committed stays, used drops */
  size_t busy = committed(f.b);
  CHECK_EQ_SZ(buddy_free(f.b, p), BUDDY_OK);
  CHECK_EQ_SZ(buddy_free(f.b, q), BUDDY_OK);
  CHECK_EQ_SZ(committed(f.b), busy);
  CHECK_EQ_SZ(buddy_flush(f.b), BUDDY_OK);
  CHECK_EQ_SZ(committed(f.b), busy);
  CHECK_EQ_SZ(bstats(f.b).used_bytes, 0);
  CHECK(stats_consistent(f.b));
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  cfix_close(&f);
}

TEST(trim_drops_committed_and_the_peak_keeps_the_maximum) {
  cfix f;
  CHECK_EQ_SZ(cfix_open(&f, MIB(16), 16, BUDDY_REGION_ZEROED), BUDDY_OK);
  unsigned char* p = buddy_malloc(f.b, MIB(2));
  memset(p, 0x11, MIB(2));
  CHECK_EQ_SZ(buddy_free(f.b, p), BUDDY_OK);
  size_t high = committed(f.b);
  CHECK_EQ_SZ(high, MIB(2) + 3 * PAGE);
  size_t offered = 0, released = 0;
  CHECK_EQ_SZ(buddy_trim(f.b, madvise_release, &offered, &released), BUDDY_OK);
  CHECK_EQ_SZ(released, offered);
  CHECK_EQ_SZ(released, high - PAGE); /* all but the root's link page */
  CHECK_EQ_SZ(committed(f.b), PAGE);
  CHECK_EQ_SZ(peak(f.b), high);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  /* less than the peak again: the peak stays */
  unsigned char* s = buddy_malloc(f.b, KIB(256));
  CHECK(committed(f.b) < high);
  CHECK_EQ_SZ(peak(f.b), high);
  /* more than the peak: it follows exactly */
  unsigned char* t = buddy_malloc(f.b, MIB(4));
  CHECK(committed(f.b) > high);
  CHECK_EQ_SZ(peak(f.b), committed(f.b));
  size_t top = peak(f.b);
  CHECK_EQ_SZ(buddy_free(f.b, s), BUDDY_OK);
  CHECK_EQ_SZ(buddy_free(f.b, t), BUDDY_OK);
  CHECK_EQ_SZ(buddy_trim(f.b, madvise_release, NULL, &released), BUDDY_OK);
  CHECK_EQ_SZ(committed(f.b), PAGE);
  CHECK_EQ_SZ(peak(f.b), top);
  CHECK(stats_consistent(f.b));
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  cfix_close(&f);
}

static int refuse(void* p, size_t n, void* arg) {
  (void)p, (void)n, (void)arg;
  return -1;
}

TEST(a_refused_release_and_a_reset_keep_pages_committed) {
  cfix f;
  CHECK_EQ_SZ(cfix_open(&f, MIB(4), 16, BUDDY_REGION_ZEROED), BUDDY_OK);
  unsigned char* p = buddy_malloc(f.b, MIB(1));
  memset(p, 0x22, MIB(1));
  size_t high = committed(f.b);
  size_t released = 1;
  CHECK_EQ_SZ(buddy_trim(f.b, refuse, NULL, &released), BUDDY_OK);
  CHECK_EQ_SZ(released, 0);
  CHECK_EQ_SZ(committed(f.b), high); /* the live block's pages are never offered */
  CHECK_EQ_SZ(buddy_free(f.b, p), BUDDY_OK);
  CHECK_EQ_SZ(buddy_trim(f.b, refuse, NULL, &released), BUDDY_OK);
  CHECK_EQ_SZ(committed(f.b), high);
  /* reset frees everything but changes no page: committed and the peak stay
   * (the peak is kept across reset, like peak_used_bytes) */
  CHECK_EQ_SZ(buddy_reset(f.b), BUDDY_OK);
  CHECK_EQ_SZ(committed(f.b), high);
  CHECK_EQ_SZ(peak(f.b), high);
  CHECK_EQ_SZ(bstats(f.b).peak_used_bytes, MIB(1));
  CHECK_EQ_SZ(buddy_trim(f.b, madvise_release, NULL, &released), BUDDY_OK);
  CHECK_EQ_SZ(committed(f.b), PAGE);
  CHECK_EQ_SZ(peak(f.b), high);
  CHECK_EQ_SZ(buddy_reset(f.b), BUDDY_OK);
  CHECK_EQ_SZ(committed(f.b), PAGE);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  cfix_close(&f);
}

TEST(a_clean_page_free_drops_committed) {
  cfix f;
  CHECK_EQ_SZ(cfix_open(&f, MIB(8), PAGE, BUDDY_REGION_ZEROED), BUDDY_OK);
  unsigned char* p = buddy_pages_alloc(f.b, KIB(68), BUDDY_PAGES_ZEROED);
  CHECK(p != NULL);
  memset(p, 0x33, KIB(68));
  size_t busy = committed(f.b);
  CHECK(busy >= KIB(68));
  CHECK(stats_consistent(f.b));
  /* the port's way: validate, madvise, free CLEAN */
  CHECK_EQ_SZ(buddy_pages_validate(f.b, p, KIB(64)), BUDDY_OK);
  CHECK(madvise(p, KIB(64), MADV_DONTNEED) == 0);
  CHECK_EQ_SZ(buddy_pages_free(f.b, p, KIB(64), BUDDY_PAGES_CLEAN), BUDDY_OK);
  /* the 64 KiB block merges with nothing (its buddy is split): all of it is
   * known zero but its first page, which now holds its links */
  CHECK_EQ_SZ(busy - committed(f.b), KIB(64) - PAGE);
  CHECK_EQ_SZ(peak(f.b), busy);
  CHECK(stats_consistent(f.b));
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  /* the rest without CLEAN: committed stays */
  size_t c = committed(f.b);
  CHECK_EQ_SZ(buddy_pages_free(f.b, p + KIB(64), KIB(4), 0), BUDDY_OK);
  CHECK_EQ_SZ(committed(f.b), c);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  cfix_close(&f);
}

TEST(without_tracking_committed_is_the_region) {
  cfix f;
  CHECK_EQ_SZ(cfix_open(&f, MIB(4), 16, 0), BUDDY_OK);
  buddy_stats_t s = bstats(f.b);
  CHECK_EQ_SZ(s.committed_bytes, MIB(4));
  CHECK_EQ_SZ(s.peak_committed_bytes, MIB(4));
  CHECK_EQ_SZ(s.zero_known_bytes, 0);
  void* p = buddy_malloc(f.b, MIB(1));
  CHECK_EQ_SZ(buddy_free(f.b, p), BUDDY_OK);
  size_t released = 0;
  CHECK_EQ_SZ(buddy_trim(f.b, madvise_release, NULL, &released), BUDDY_OK);
  CHECK(released > 0); /* offered and released, but not remembered */
  s = bstats(f.b);
  CHECK_EQ_SZ(s.committed_bytes, MIB(4));
  CHECK_EQ_SZ(s.peak_committed_bytes, MIB(4));
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  cfix_close(&f);
  /* tracking without a zeroed region: nothing is known zero until a trim */
  CHECK_EQ_SZ(cfix_open(&f, MIB(4), 16, BUDDY_TRACK_ZERO), BUDDY_OK);
  CHECK_EQ_SZ(committed(f.b), MIB(4));
  CHECK_EQ_SZ(buddy_trim(f.b, madvise_release, NULL, &released), BUDDY_OK);
  CHECK_EQ_SZ(committed(f.b), PAGE);
  CHECK_EQ_SZ(peak(f.b), MIB(4));
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  cfix_close(&f);
}

TEST(resident_memory_never_exceeds_committed) {
  cfix f;
  CHECK_EQ_SZ(cfix_open(&f, MIB(8), 16, BUDDY_REGION_ZEROED), BUDDY_OK);
  if (!f.nohuge || resident_bytes(f.base, f.size) == SIZE_MAX) {
    fprintf(stderr, "  (resident_memory_never_exceeds_committed: no mincore/NOHUGEPAGE, skipped)\n");
    cfix_close(&f);
    return;
  }
  CHECK(resident_bytes(f.base, f.size) <= committed(f.b));
  void* ps[64];
  for (int i = 0; i < 64; i++) {
    ps[i] = buddy_calloc(f.b, 1, (size_t)(i * 1000 + 1));
    if (ps[i]) memset(ps[i], 0x44, (size_t)(i * 1000 + 1));
  }
  CHECK(resident_bytes(f.base, f.size) <= committed(f.b));
  for (int i = 0; i < 64; i += 2) buddy_free(f.b, ps[i]);
  size_t released = 0;
  CHECK_EQ_SZ(buddy_trim(f.b, madvise_release, NULL, &released), BUDDY_OK);
  CHECK(resident_bytes(f.base, f.size) <= committed(f.b));
  for (int i = 1; i < 64; i += 2) buddy_free(f.b, ps[i]);
  CHECK_EQ_SZ(buddy_trim(f.b, madvise_release, NULL, &released), BUDDY_OK);
  CHECK(resident_bytes(f.base, f.size) <= committed(f.b));
  CHECK_EQ_SZ(committed(f.b), PAGE);
  cfix_close(&f);
}

/* ---- check() -------------------------------------------------------------------------- */

/* The offsets of the 8-aligned words of meta[0, n) holding v. */
static size_t words_equal(const unsigned char* meta, size_t n, size_t v, size_t* out, size_t cap) {
  size_t k = 0;
  for (size_t o = 0; o + sizeof(size_t) <= n; o += sizeof(size_t)) {
    size_t w;
    memcpy(&w, meta + o, sizeof w);
    if (w == v) {
      if (k < cap) out[k] = o;
      k++;
    }
  }
  return k;
}

/* Keeps the offsets of cand[0, *n) whose word holds v. */
static void words_keep(const unsigned char* meta, size_t v, size_t* cand, size_t* n) {
  size_t k = 0;
  for (size_t i = 0; i < *n; i++) {
    size_t w;
    memcpy(&w, meta + cand[i], sizeof w);
    if (w == v) cand[k++] = cand[i];
  }
  *n = k;
}

TEST(check_catches_a_damaged_counter) {
  cfix f;
  CHECK_EQ_SZ(cfix_open(&f, MIB(16), 16, BUDDY_REGION_ZEROED | BUDDY_NO_CACHE), BUDDY_OK);
  size_t meta_bytes = bstats(f.b).meta_bytes;
  /* The counter and its minimum are private header fields: find them by
   * their values through three states (count, min): (c1, c1), (c2, c2) with
   * c2 < c1, (c3, c2) with c3 > c2. */
  size_t c1 = bstats(f.b).zero_known_bytes / PAGE;
  size_t cnt[64], mn[64];
  size_t ncnt = words_equal(f.meta, meta_bytes, c1, cnt, 64);
  size_t nmn = words_equal(f.meta, meta_bytes, c1, mn, 64);
  CHECK(ncnt <= 64 && nmn <= 64);
  if (ncnt > 64) ncnt = 64;
  if (nmn > 64) nmn = 64;
  unsigned char* p = buddy_malloc(f.b, MIB(1));
  size_t c2 = bstats(f.b).zero_known_bytes / PAGE;
  words_keep(f.meta, c2, cnt, &ncnt);
  words_keep(f.meta, c2, mn, &nmn);
  CHECK_EQ_SZ(buddy_free(f.b, p), BUDDY_OK);
  size_t released;
  CHECK_EQ_SZ(buddy_trim(f.b, madvise_release, NULL, &released), BUDDY_OK);
  size_t c3 = bstats(f.b).zero_known_bytes / PAGE;
  CHECK(c2 < c1 && c3 > c2);
  words_keep(f.meta, c3, cnt, &ncnt);
  words_keep(f.meta, c2, mn, &nmn);
  CHECK_EQ_SZ(ncnt, 1);
  CHECK_EQ_SZ(nmn, 1);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  unsigned char* saved = malloc(meta_bytes);
  memcpy(saved, f.meta, meta_bytes);
  if (ncnt == 1 && nmn == 1) {
    /* the count off by one either way */
    for (int d = -1; d <= 1; d += 2) {
      size_t w = c3 + (size_t)d;
      memcpy(f.meta + cnt[0], &w, sizeof w);
      CHECK_EQ_SZ(buddy_check(f.b), BUDDY_E_CORRUPTED);
      CHECK_STREQ(buddy_check_message(f.b), "I6: zero_known disagrees with the zero bitmap");
      memcpy(f.meta, saved, meta_bytes); /* also clears the corrupted flag */
    }
    /* the minimum above the count */
    size_t w = c3 + 1;
    memcpy(f.meta + mn[0], &w, sizeof w);
    CHECK_EQ_SZ(buddy_check(f.b), BUDDY_E_CORRUPTED);
    CHECK_STREQ(buddy_check_message(f.b), "I6: zero_known_min is above zero_known");
    memcpy(f.meta, saved, meta_bytes);
    CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  }
  /* A zero bit set behind the counter's back, on a page where I6 alone
   * would allow it (inside a free block, not its first page): the zero
   * bitmap is the last words of the metadata, one bit per page here. */
  p = buddy_malloc(f.b, MIB(1)); /* dirties pages 0 .. 255 */
  CHECK(p == f.base);
  CHECK_EQ_SZ(buddy_free(f.b, p), BUDDY_OK); /* free again, pages stay dirty */
  memcpy(saved, f.meta, meta_bytes);
  size_t zero_words = (MIB(16) / PAGE + 63) / 64;
  unsigned char* zero_bits = f.meta + meta_bytes - 8 * zero_words;
  CHECK_EQ_SZ(zero_bits[0] & 2, 0);
  zero_bits[0] |= 2; /* page 1 */
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_E_CORRUPTED);
  CHECK_STREQ(buddy_check_message(f.b), "I6: zero_known disagrees with the zero bitmap");
  memcpy(f.meta, saved, meta_bytes);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  free(saved);
  cfix_close(&f);
}

/* ---- random operations ------------------------------------------------------------------- */

typedef struct {
  unsigned char* p;
  size_t n;
  int pages; /* from buddy_pages_alloc: freed with buddy_pages_free */
} rblock;

/* I8: touched_hi (a private header field, found by its values as the
 * allocations rise) below a live block is damage check reports; and
 * buddy_restart, which clears the bitmaps only up to it, leaves a tree that
 * passes check and hands out the same blocks again. */
TEST(check_catches_a_lowered_touched_mark) {
  cfix f;
  CHECK_EQ_SZ(cfix_open(&f, MIB(16), 16, BUDDY_NO_CACHE), BUDDY_OK);
  size_t meta_bytes = bstats(f.b).meta_bytes;
  unsigned char* p[4];
  size_t cand[64], n = 0;
  for (int i = 0; i < 4; i++) {
    p[i] = buddy_malloc(f.b, 4096);
    CHECK(p[i] == f.base + 4096 * (size_t)i);
    if (i == 1) n = words_equal(f.meta, meta_bytes, (size_t)p[i], cand, 64);
    if (i > 1) words_keep(f.meta, (size_t)p[i], cand, &n);
  }
  CHECK_EQ_SZ(n, 1);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  if (n == 1) {
    unsigned char* saved = malloc(meta_bytes);
    memcpy(saved, f.meta, meta_bytes);
    size_t w = (size_t)p[2];
    memcpy(f.meta + cand[0], &w, sizeof w);
    CHECK_EQ_SZ(buddy_check(f.b), BUDDY_E_CORRUPTED);
    CHECK_STREQ(buddy_check_message(f.b), "I8: a split or allocated node starts above touched_hi");
    memcpy(f.meta, saved, meta_bytes);
    free(saved);
  }
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  /* a block high in the region, then restart: everything is free again */
  unsigned char* high = buddy_malloc(f.b, MIB(4));
  CHECK(high != NULL);
  CHECK_EQ_SZ(buddy_restart(f.b, 0, NULL, NULL, NULL), BUDDY_OK);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  CHECK_EQ_SZ(bstats(f.b).live_blocks, 0);
  CHECK(buddy_malloc(f.b, 4096) == f.base);
  CHECK(buddy_malloc(f.b, MIB(8)) == f.base + MIB(8));
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  cfix_close(&f);
}

static int all_zero(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

/* Ops that can only dirty pages (committed never drops) or only clean them
 * (committed never grows); after a trim that accepted everything, committed
 * is exactly what the free blocks imply; check() every 64 operations. */
#define FAILED(what)                                      \
  do {                                                    \
    fprintf(stderr, "  op %ld: %s\n", i, what);            \
    bad++;                                                \
  } while (0)

static void random_run(size_t region, size_t min_block, unsigned flags, uint64_t seed, long ops) {
  int tracking = (flags & (BUDDY_TRACK_ZERO | BUDDY_REGION_ZEROED)) != 0;
  cfix f;
  CHECK_EQ_SZ(cfix_open(&f, region, min_block, flags), BUDDY_OK);
  test_rng r = {seed};
  enum { MAXB = 512 };
  rblock live[MAXB];
  size_t nlive = 0;
  size_t prev_peak = peak(f.b), max_seen = committed(f.b);
  long bad = 0;
  for (long i = 0; i < ops && bad == 0; i++) {
    size_t before = committed(f.b);
    int cleaning = 0, dirtying = 0;
    uint64_t op = test_rng_below(&r, 100);
    size_t n = 1 + (size_t)test_rng_below(&r, test_rng_below(&r, 4) == 0 ? region / 8 : KIB(20));
    if ((op < 45 && nlive < MAXB) || nlive == 0) { /* allocate */
      unsigned char* p = NULL;
      int pages = 0;
      uint64_t how = test_rng_below(&r, 4);
      if (how == 0) {
        p = buddy_malloc(f.b, n);
      } else if (how == 1) {
        p = buddy_calloc(f.b, 1, n);
        if (p && !all_zero(p, n)) FAILED("calloc memory does not read as zeros");
      } else if (how == 2) {
        p = buddy_aligned_alloc(f.b, (size_t)1 << test_rng_below(&r, 14), n);
      } else {
        pages = 1;
        if (test_rng_below(&r, 2)) n = (n + PAGE - 1) & ~(size_t)(PAGE - 1); /* CLEAN-able */
        int zeroed = (int)test_rng_below(&r, 2);
        p = buddy_pages_alloc(f.b, n, zeroed ? BUDDY_PAGES_ZEROED : 0);
        if (p && zeroed && !all_zero(p, n)) FAILED("zeroed pages do not read as zeros");
        n = (n + min_block - 1) & ~(min_block - 1);
      }
      dirtying = 1;
      if (p) {
        memset(p, 0x5A, n);
        live[nlive].p = p;
        live[nlive].n = n;
        live[nlive].pages = pages;
        nlive++;
      }
    } else if (op < 85) { /* free one */
      size_t k = (size_t)test_rng_below(&r, nlive);
      rblock x = live[k];
      live[k] = live[--nlive];
      if (x.pages && x.n > min_block && test_rng_below(&r, 3) == 0) {
        /* give back the tail only (a partial release, as dlmalloc's trim does) */
        size_t keep = min_block * (1 + (size_t)test_rng_below(&r, x.n / min_block - 1));
        live[nlive++] = (rblock){x.p, keep, 1};
        x.p += keep;
        x.n -= keep;
      }
      if (x.pages) {
        int clean = test_rng_below(&r, 2) && x.n % PAGE == 0 && (uintptr_t)x.p % PAGE == 0;
        if (clean && madvise(x.p, x.n, MADV_DONTNEED) != 0) clean = 0;
        if (buddy_pages_free(f.b, x.p, x.n, clean ? BUDDY_PAGES_CLEAN : 0) != BUDDY_OK)
          FAILED("pages_free refused");
        if (clean)
          cleaning = 1;
        else
          dirtying = 1;
      } else {
        if (buddy_free(f.b, x.p) != BUDDY_OK) FAILED("free refused");
        dirtying = 1;
      }
    } else if (op < 92 && nlive > 0) { /* realloc a malloc'd block */
      size_t k = (size_t)test_rng_below(&r, nlive);
      if (!live[k].pages) {
        void* q;
        if (buddy_realloc(f.b, live[k].p, n, &q) == BUDDY_OK) {
          memset(q, 0x6B, n);
          live[k].p = q;
          live[k].n = n;
        }
      }
      dirtying = 1;
    } else if (op < 99) { /* trim */
      size_t released;
      if (buddy_trim(f.b, madvise_release, NULL, &released) != BUDDY_OK) FAILED("trim failed");
      cleaning = 1;
      if (tracking &&
          committed(f.b) != region - zero_after_trim(f.b, min_block)) {
        fprintf(stderr, "  op %ld: after trim committed %zu, free blocks imply %zu\n", i,
                committed(f.b), region - zero_after_trim(f.b, min_block));
        bad++;
      }
      /* and the only free blocks wholly committed are those of one tracking page or less */
      size_t tp = min_block > PAGE ? min_block : PAGE;
      if (tracking && largest_committed(f.b) != largest_free_upto(f.b, tp)) {
        fprintf(stderr, "  op %ld: after trim largest committed %zu, free blocks imply %zu\n", i,
                largest_committed(f.b), largest_free_upto(f.b, tp));
        bad++;
      }
    } else { /* reset */
      if (buddy_reset(f.b) != BUDDY_OK) FAILED("reset failed");
      nlive = 0;
      dirtying = 1;
    }
    size_t after = committed(f.b);
    if ((dirtying && after < before) || (cleaning && after > before)) {
      fprintf(stderr, "  op %ld (%llu): committed %zu -> %zu\n", i, (unsigned long long)op,
              before, after);
      bad++;
    }
    if (!stats_consistent(f.b)) {
      fprintf(stderr, "  op %ld: stats inconsistent\n", i);
      bad++;
    }
    if (after > max_seen) max_seen = after;
    size_t pk = peak(f.b);
    if (pk < prev_peak || pk < max_seen) {
      fprintf(stderr, "  op %ld: peak %zu (was %zu, max seen %zu)\n", i, pk, prev_peak, max_seen);
      bad++;
    }
    prev_peak = pk;
    if (!tracking && (after != region || pk != region))
      FAILED("committed is not the region without tracking");
    if (!tracking && largest_committed(f.b) != bstats(f.b).largest_free)
      FAILED("largest committed is not the largest free block without tracking");
    if (i % 64 == 0 && buddy_check(f.b) != BUDDY_OK) {
      fprintf(stderr, "  op %ld: check: %s\n", i, buddy_check_message(f.b));
      bad++;
    }
  }
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  if (bad) fprintf(stderr, "  seed 0x%llx failed\n", (unsigned long long)seed);
  CHECK_EQ_SZ(bad, 0);
  cfix_close(&f);
}

static uint64_t seed_from_env(uint64_t def) {
  const char* s = getenv("OFFHEAP_SEED");
  return s ? strtoull(s, NULL, 0) : def;
}

TEST(random_operations_keep_the_counter_exact) {
  uint64_t seed = seed_from_env(0x9E3779B97F4A7C15ull);
  random_run(MIB(8), 16, BUDDY_REGION_ZEROED, seed, 6000);
  random_run(MIB(8), PAGE, BUDDY_REGION_ZEROED | BUDDY_LOCKED, seed ^ 1, 6000);
  random_run(MIB(8), 16, BUDDY_TRACK_ZERO | BUDDY_NO_CACHE, seed ^ 2, 6000);
  random_run(MIB(8), 64 * 1024, BUDDY_REGION_ZEROED, seed ^ 3, 3000);
  random_run(MIB(4), 16, 0, seed ^ 4, 3000);
}

int main(void) {
  RUN(a_fresh_zeroed_region_commits_only_the_link_pages);
  RUN(largest_free_committed_is_the_largest_block_with_no_zero_page);
  RUN(committed_grows_as_blocks_are_handed_out);
  RUN(trim_drops_committed_and_the_peak_keeps_the_maximum);
  RUN(a_refused_release_and_a_reset_keep_pages_committed);
  RUN(a_clean_page_free_drops_committed);
  RUN(without_tracking_committed_is_the_region);
  RUN(resident_memory_never_exceeds_committed);
  RUN(check_catches_a_damaged_counter);
  RUN(check_catches_a_lowered_touched_mark);
  RUN(random_operations_keep_the_counter_exact);
  return test_summary("buddy_committed");
}
