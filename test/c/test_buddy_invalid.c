/*
 * offheap — buddy allocator: what it refuses. Double, interior, stale and
 * foreign frees each get their own status and leave metadata and region
 * byte-identical; impossible requests fail with no state change; a free-list
 * link scribbled after free is reported as corruption and never followed;
 * check() notices any single damaged bit of the bitmaps.
 */
#include <stdint.h>
#include <string.h>

#include "port_test.h"
#include "test_buddy_fixture.h"

/* free(p) returns `status`, and so do validate and realloc; usable_size is 0;
 * nothing changes. */
static void expect_rejected(bfix* f, void* p, int status) {
  bsnap s;
  bsnap_take(&s, f);
  CHECK_EQ_SZ(buddy_free(f->b, p), status);
  CHECK_EQ_SZ(buddy_validate(f->b, p), status);
  void* out = (void*)1;
  CHECK_EQ_SZ(buddy_realloc(f->b, p, 16, &out), status);
  CHECK(out == NULL);
  CHECK_EQ_SZ(buddy_usable_size(f->b, p), 0);
  CHECK(bsnap_same(&s, f));
  bsnap_free(&s);
}

static void open_small(bfix* f, unsigned flags) {
  buddy_config c = bcfg(16, flags);
  CHECK_EQ_SZ(bfix_open(f, 256, 256, 0, &c), BUDDY_OK);
}

TEST(double_free_of_a_right_child) {
  bfix f;
  open_small(&f, BUDDY_NO_CACHE);
  unsigned char* l = buddy_malloc(f.b, 16);
  unsigned char* r = buddy_malloc(f.b, 16);
  CHECK(r == l + 16);
  CHECK_EQ_SZ(buddy_free(f.b, r), BUDDY_OK);
  expect_rejected(&f, r, BUDDY_E_DOUBLE_FREE);
  CHECK_EQ_SZ(buddy_validate(f.b, l), BUDDY_OK);
  bfix_close(&f);
}

TEST(double_free_of_a_left_child_whose_parent_is_partly_used) {
  bfix f;
  open_small(&f, BUDDY_NO_CACHE);
  unsigned char* l = buddy_malloc(f.b, 16);
  unsigned char* r = buddy_malloc(f.b, 16);
  CHECK_EQ_SZ(buddy_free(f.b, l), BUDDY_OK);
  expect_rejected(&f, l, BUDDY_E_DOUBLE_FREE);
  CHECK_EQ_SZ(buddy_validate(f.b, r), BUDDY_OK);
  bfix_close(&f);
}

TEST(double_free_after_the_parent_coalesced) {
  bfix f;
  open_small(&f, BUDDY_NO_CACHE);
  unsigned char* l = buddy_malloc(f.b, 16);
  unsigned char* r = buddy_malloc(f.b, 16);
  CHECK_EQ_SZ(buddy_free(f.b, l), BUDDY_OK);
  CHECK_EQ_SZ(buddy_free(f.b, r), BUDDY_OK); /* everything merged back to 256 */
  expect_rejected(&f, r, BUDDY_E_STALE);       /* inside the free 256 block */
  expect_rejected(&f, l, BUDDY_E_DOUBLE_FREE); /* its start */
  bfix_close(&f);
}

TEST(double_free_of_a_cached_block) {
  bfix f;
  open_small(&f, 0);
  unsigned char* l = buddy_malloc(f.b, 16);
  unsigned char* r = buddy_malloc(f.b, 16);
  CHECK_EQ_SZ(buddy_free(f.b, l), BUDDY_OK);
  CHECK_EQ_SZ(buddy_free(f.b, r), BUDDY_OK); /* both cached, unmerged */
  expect_rejected(&f, r, BUDDY_E_DOUBLE_FREE);
  expect_rejected(&f, l, BUDDY_E_DOUBLE_FREE);
  expect_rejected(&f, l + 4, BUDDY_E_STALE);
  bfix_close(&f);
}

/* What the design can and cannot tell apart about a stale pointer, pinned:
 * l and r (16 bytes each) are freed and merged, then the memory is split
 * again differently. */
TEST(stale_pointers_after_merge_and_resplit_at_the_same_address) {
  bfix f;
  open_small(&f, BUDDY_NO_CACHE);
  unsigned char* l = buddy_malloc(f.b, 16);
  unsigned char* r = buddy_malloc(f.b, 16);
  buddy_free(f.b, l);
  buddy_free(f.b, r);
  /* re-split as one 32-byte block at l's address */
  unsigned char* m = buddy_malloc(f.b, 32);
  CHECK(m == l);
  expect_rejected(&f, r, BUDDY_E_INTERIOR); /* r now points inside live m */
  /* cannot be told apart: l equals the start of live m, so it IS m */
  CHECK_EQ_SZ(buddy_validate(f.b, l), BUDDY_OK);
  CHECK_EQ_SZ(buddy_free(f.b, l), BUDDY_OK);
  CHECK_EQ_SZ(buddy_validate(f.b, m), BUDDY_E_DOUBLE_FREE); /* m is gone with it */
  /* re-split as a live 16 at l and a free 16 at r */
  unsigned char* n = buddy_malloc(f.b, 16);
  CHECK(n == l);
  expect_rejected(&f, r, BUDDY_E_DOUBLE_FREE); /* r is the start of a free block again */
  expect_rejected(&f, r + 8, BUDDY_E_STALE);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  bfix_close(&f);
}

TEST(foreign_and_interior_pointers) {
  bfix f;
  buddy_config c = bcfg(16, BUDDY_NO_CACHE);
  CHECK_EQ_SZ(bfix_open(&f, 3000, 4096, 0, &c), BUDDY_OK); /* managed: 2992 bytes */
  unsigned char* p = buddy_malloc(f.b, 64);
  unsigned char* q = buddy_malloc(f.b, 64);
  CHECK(p && q);
  int on_stack = 0;
  expect_rejected(&f, f.base - 16, BUDDY_E_FOREIGN);
  expect_rejected(&f, f.base - 1, BUDDY_E_FOREIGN);
  expect_rejected(&f, f.base + 2992, BUDDY_E_FOREIGN); /* the rounded-off tail */
  expect_rejected(&f, f.base + 3000, BUDDY_E_FOREIGN);
  expect_rejected(&f, f.base + 3016, BUDDY_E_FOREIGN);
  expect_rejected(&f, &on_stack, BUDDY_E_FOREIGN);
  expect_rejected(&f, f.meta + 64, BUDDY_E_FOREIGN); /* into the metadata */
  expect_rejected(&f, (void*)(uintptr_t)16, BUDDY_E_FOREIGN);
  expect_rejected(&f, (void*)UINTPTR_MAX, BUDDY_E_FOREIGN);
  expect_rejected(&f, p + 1, BUDDY_E_INTERIOR);
  expect_rejected(&f, p + 16, BUDDY_E_INTERIOR);
  expect_rejected(&f, p + 63, BUDDY_E_INTERIOR);
  expect_rejected(&f, f.base + 2000 + 8, BUDDY_E_STALE); /* free memory, misaligned */
  CHECK_EQ_SZ(buddy_validate(f.b, NULL), BUDDY_E_FOREIGN);
  CHECK_EQ_SZ(buddy_free(f.b, NULL), BUDDY_OK);
  CHECK_EQ_SZ(buddy_free(f.b, p), BUDDY_OK);
  CHECK_EQ_SZ(buddy_free(f.b, q), BUDDY_OK);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  bfix_close(&f);
}

TEST(impossible_requests_fail_and_change_nothing) {
  bfix f;
  buddy_config c = bcfg(16, 0);
  CHECK_EQ_SZ(bfix_open(&f, 4096, 4096, 0, &c), BUDDY_OK);
  unsigned char* p = buddy_malloc(f.b, 100);
  bsnap s;
  bsnap_take(&s, &f);
  CHECK(buddy_malloc(f.b, SIZE_MAX) == NULL);
  CHECK(buddy_malloc(f.b, SIZE_MAX - 7) == NULL);
  CHECK(buddy_malloc(f.b, SIZE_MAX / 2 + 2) == NULL);
  CHECK(buddy_malloc(f.b, 4097) == NULL);
  CHECK(buddy_aligned_alloc(f.b, (size_t)1 << 63, 16) == NULL);
  CHECK(buddy_aligned_alloc(f.b, (size_t)1 << 63, (size_t)1 << 63) == NULL);
  CHECK(buddy_aligned_alloc(f.b, 8192, 1) == NULL);
  CHECK(buddy_aligned_alloc(f.b, 3, 16) == NULL);
  CHECK(buddy_aligned_alloc(f.b, SIZE_MAX, 16) == NULL);
  CHECK(buddy_calloc(f.b, SIZE_MAX / 2 + 1, 2) == NULL);
  CHECK(buddy_calloc(f.b, SIZE_MAX, SIZE_MAX) == NULL);
  CHECK(buddy_pages_alloc(f.b, SIZE_MAX, 0) == NULL);
  CHECK(buddy_pages_alloc(f.b, SIZE_MAX - 15, 0) == NULL);
  CHECK(buddy_pages_alloc(f.b, 0, 0) == NULL);
  CHECK(buddy_pages_alloc(f.b, 16, 0x80) == NULL); /* unknown flag */
  void* out = (void*)1;
  CHECK_EQ_SZ(buddy_realloc(f.b, p, SIZE_MAX, &out), BUDDY_E_NOMEM);
  CHECK(out == NULL);
  CHECK_EQ_SZ(buddy_pages_free(f.b, p, 16, 0x80), BUDDY_E_INVALID);
  CHECK(bsnap_same(&s, &f));
  bsnap_free(&s);
  CHECK_EQ_SZ(buddy_validate(f.b, p), BUDDY_OK);
  bfix_close(&f);
}

/* ---- free-list links scribbled after free ---------------------------------------- */

/* Region 4 KiB, no cache: a0..a3 are four 64-byte blocks, a1 and a3 freed, so
 * list 2 is a3 -> a1 (a3 the head). The test overwrites the links of one of
 * them, then makes the allocator read them: `via_free` frees that block's
 * buddy (merge -> unlink), otherwise a malloc(64) pops the list head. */
static unsigned char canary[4096];

static void scribbled_link(int victim_is_head, int via_free, uintptr_t next, uintptr_t prev) {
  bfix f;
  buddy_config c = bcfg(16, BUDDY_NO_CACHE);
  CHECK_EQ_SZ(bfix_open(&f, 4096, 4096, 0, &c), BUDDY_OK);
  unsigned char* a[4];
  for (int i = 0; i < 4; i++) a[i] = buddy_malloc(f.b, 64);
  CHECK(a[1] == a[0] + 64 && a[3] == a[2] + 64);
  buddy_free(f.b, a[1]);
  buddy_free(f.b, a[3]);
  memset(canary, 0xC3, sizeof canary);
  unsigned char* victim = victim_is_head ? a[3] : a[1];
  memcpy(victim, &next, sizeof next);
  memcpy(victim + sizeof next, &prev, sizeof prev);
  if (via_free) {
    CHECK_EQ_SZ(buddy_free(f.b, victim_is_head ? a[2] : a[0]), BUDDY_E_CORRUPTED);
  } else {
    /* a malloc pops the head; the tail's links are read when the head is
     * unlinked (its back-link) or, at the latest, when the tail is popped */
    void* got = buddy_malloc(f.b, 64);
    if (!victim_is_head && got == a[3]) got = buddy_malloc(f.b, 64);
    CHECK(got == NULL);
  }
  /* refused from now on; the scribbled values were never written through */
  CHECK(buddy_malloc(f.b, 16) == NULL);
  CHECK_EQ_SZ(buddy_free(f.b, a[0]), BUDDY_E_CORRUPTED);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_E_CORRUPTED);
  CHECK(strlen(buddy_check_message(f.b)) > 0);
  buddy_stats_t st;
  CHECK_EQ_SZ(buddy_stats(f.b, &st), BUDDY_OK);
  size_t intact = 0;
  for (size_t i = 0; i < sizeof canary; i++) intact += canary[i] == 0xC3;
  CHECK_EQ_SZ(intact, sizeof canary);
  bfix_close(&f);
}

TEST(scribbled_free_list_links_are_reported_not_followed) {
  uintptr_t garbage = (uintptr_t)0xDEADBEEFCAFEF00Dull;
  uintptr_t far = (uintptr_t)(canary + 1024);
  for (int head = 0; head < 2; head++) {
    for (int via_free = 0; via_free < 2; via_free++) {
      scribbled_link(head, via_free, garbage, garbage);
      scribbled_link(head, via_free, far, far);        /* outside the region */
      scribbled_link(head, via_free, 0, 0);            /* plausible-looking ends */
      scribbled_link(head, via_free, 8, 8);
      scribbled_link(head, via_free, UINTPTR_MAX, 0);
    }
  }
}

/* Links that point into the region: at the block itself, at a live block, at
 * a misaligned address, at the other free block but without the back-link. */
TEST(links_into_the_region_that_do_not_link_back_are_corruption) {
  for (int head = 0; head < 2; head++) {
    for (int via_free = 0; via_free < 2; via_free++) {
      for (int pattern = 0; pattern < 4; pattern++) {
        bfix f;
        buddy_config c = bcfg(16, BUDDY_NO_CACHE);
        CHECK_EQ_SZ(bfix_open(&f, 4096, 4096, 0, &c), BUDDY_OK);
        unsigned char* a[4];
        for (int i = 0; i < 4; i++) a[i] = buddy_malloc(f.b, 64);
        buddy_free(f.b, a[1]);
        buddy_free(f.b, a[3]);
        unsigned char* victim = head ? a[3] : a[1];
        uintptr_t v = 0;
        switch (pattern) {
          case 0: v = (uintptr_t)victim; break;        /* itself */
          case 1: v = (uintptr_t)a[0]; break;          /* a live block */
          case 2: v = (uintptr_t)(a[1] + 8); break;    /* misaligned */
          default: v = (uintptr_t)(f.base + 1024); break; /* a free block of another order */
        }
        memcpy(victim, &v, sizeof v);
        memcpy(victim + sizeof v, &v, sizeof v);
        bsnap s;
        bsnap_take(&s, &f);
        int r;
        if (via_free) {
          r = buddy_free(f.b, head ? a[2] : a[0]);
        } else {
          void* got = buddy_malloc(f.b, 64);
          if (!head && got == a[3]) got = buddy_malloc(f.b, 64);
          r = got ? BUDDY_OK : BUDDY_E_CORRUPTED;
        }
        CHECK_EQ_SZ(r, BUDDY_E_CORRUPTED);
        CHECK_EQ_SZ(buddy_check(f.b), BUDDY_E_CORRUPTED);
        /* the live block a link pointed at was not written */
        if (pattern == 1) CHECK(memcmp(a[0], s.region + (a[0] - f.base), 64) == 0);
        bsnap_free(&s);
        bfix_close(&f);
      }
    }
  }
}

/* A forged chain that does link back but goes through memory that is not a
 * free block of the list's order: a user who can write freed memory can
 * write both ends. */
TEST(forged_links_that_link_back_are_still_corruption) {
  for (int forge = 0; forge < 2; forge++) {
    bfix f;
    buddy_config c = bcfg(16, BUDDY_NO_CACHE);
    CHECK_EQ_SZ(bfix_open(&f, 4096, 4096, 0, &c), BUDDY_OK);
    /* three free 64-byte blocks in list 2: x (head), y, z (tail) */
    unsigned char* a[8];
    for (int i = 0; i < 8; i++) a[i] = buddy_malloc(f.b, 64);
    CHECK(a[7] == f.base + 448);
    buddy_free(f.b, a[5]);
    buddy_free(f.b, a[3]);
    buddy_free(f.b, a[1]); /* list 2: a1 -> a3 -> a5 */
    unsigned char* z = a[5];
    uintptr_t v;
    if (forge == 0) {
      /* z.next = a granule inside the free 2 KiB block, whose "prev" is
       * forged to z: aligned, unsplit, unallocated, but not a node */
      unsigned char* inner = f.base + 2048 + 64;
      v = (uintptr_t)inner;
      memcpy(z, &v, sizeof v);
      v = (uintptr_t)z;
      memcpy(inner + sizeof v, &v, sizeof v);
    } else {
      /* z.prev = a1, a real free block of the same order, whose next is a3 */
      v = (uintptr_t)a[1];
      memcpy(z + sizeof v, &v, sizeof v);
    }
    CHECK_EQ_SZ(buddy_free(f.b, a[4]), BUDDY_E_CORRUPTED); /* merging unlinks z */
    CHECK_EQ_SZ(buddy_check(f.b), BUDDY_E_CORRUPTED);
    bfix_close(&f);
  }
}

/* ---- check() finds damage ---------------------------------------------------------- */

TEST(check_detects_every_single_bit_flip_in_the_bitmaps) {
  bfix f;
  buddy_config c = bcfg(16, BUDDY_NO_CACHE);
  CHECK_EQ_SZ(bfix_open(&f, 4096, 4096, 0, &c), BUDDY_OK);
  /* a mixed state: live, free and split nodes at several orders */
  void* p[6] = {buddy_malloc(f.b, 16), buddy_malloc(f.b, 100), buddy_malloc(f.b, 16),
                buddy_malloc(f.b, 500), buddy_malloc(f.b, 64),  buddy_malloc(f.b, 1000)};
  buddy_free(f.b, p[2]);
  buddy_free(f.b, p[4]);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  size_t meta_bytes = bstats(f.b).meta_bytes;
  /* The bitmaps are the last words of the metadata: split bits in groups of
   * six orders (orders 1-6: one word per 64 granules, 4 words; orders 7-8:
   * 1 word), alloc bits (256 granules, 4 words), zero pages (1 page, 1 word). */
  size_t bitmap_bytes = 8 * (4 + 1 + 4 + 1);
  unsigned char* saved = malloc(meta_bytes);
  memcpy(saved, f.meta, meta_bytes);
  size_t missed = 0;
  for (size_t byte = meta_bytes - bitmap_bytes; byte < meta_bytes; byte++) {
    for (int bit = 0; bit < 8; bit++) {
      f.meta[byte] ^= (unsigned char)(1u << bit);
      if (buddy_check(f.b) != BUDDY_E_CORRUPTED) missed++;
      memcpy(f.meta, saved, meta_bytes); /* also clears the corrupted flag */
    }
  }
  CHECK_EQ_SZ(missed, 0);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  free(saved);
  bfix_close(&f);
}

int main(void) {
  RUN(double_free_of_a_right_child);
  RUN(double_free_of_a_left_child_whose_parent_is_partly_used);
  RUN(double_free_after_the_parent_coalesced);
  RUN(double_free_of_a_cached_block);
  RUN(stale_pointers_after_merge_and_resplit_at_the_same_address);
  RUN(foreign_and_interior_pointers);
  RUN(impossible_requests_fail_and_change_nothing);
  RUN(scribbled_free_list_links_are_reported_not_followed);
  RUN(links_into_the_region_that_do_not_link_back_are_corruption);
  RUN(forged_links_that_link_back_are_still_corruption);
  RUN(check_detects_every_single_bit_flip_in_the_bitmaps);
  return test_summary("buddy_invalid");
}
