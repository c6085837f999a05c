/*
 * offheap — dlmalloc (csrc/dlmalloc.c) running on the buddy page provider:
 * an mspace whose custom_mmap / custom_direct_mmap / custom_munmap are served
 * by a buddy instance over one big mmap'd region (the test port with
 * port_attach_buddy, port_test.h), the way the Node glue composes a dlmalloc
 * arena. The randomised shadow model of shadow.h drives dlmalloc, and at
 * every check both allocators' invariant walks must pass and the pages the
 * buddy has handed out must equal dlmalloc's footprint exactly: every mapping
 * dlmalloc holds is live in the buddy and nothing else is, through segment
 * growth, tails cut by sys_trim, releases spanning merged segments, length-0
 * unmaps and direct maps. No unmap may be refused. At the end: drain, trim,
 * destroy the mspace, and the provider region is one free block again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../csrc/buddy.h"
#include "../../csrc/dlmalloc.h"
#include "port_test.h"
#include "shadow.h"
#include "testhelper.h"

typedef struct {
  mspace msp;
  buddy_t* pages;
  long refused_mark;
} dlb_ctx;

#define CTX(c) ((dlb_ctx*)(c))

/* Fresh counters, direct maps served (zeroed pages from the provider), and
 * every mapping hook served by `pages`. */
static void use_provider(buddy_t* pages) {
  port_reset();
  port_state.direct_enabled = 1;
  port_attach_buddy(pages);
}

static void* d_malloc(void* c, size_t n) { return mspace_malloc(CTX(c)->msp, n); }
static void d_free(void* c, void* p) { mspace_free(CTX(c)->msp, p); }
static size_t d_usable(void* c, const void* p) {
  (void)c;
  return mspace_usable_size(p);
}
static void* d_calloc(void* c, size_t n, size_t s) { return mspace_calloc(CTX(c)->msp, n, s); }
static void* d_realloc(void* c, void* p, size_t n) { return mspace_realloc(CTX(c)->msp, p, n); }
static void* d_rip(void* c, void* p, size_t n) { return mspace_realloc_in_place(CTX(c)->msp, p, n); }
static void* d_memalign(void* c, size_t a, size_t n) { return mspace_memalign(CTX(c)->msp, a, n); }
static size_t d_bulk_free(void* c, void** a, size_t n) { return mspace_bulk_free(CTX(c)->msp, a, n); }
static int d_trim(void* c, size_t pad) { return mspace_trim(CTX(c)->msp, pad); }
static size_t d_footprint(void* c) { return mspace_footprint(CTX(c)->msp); }
static int d_validate(void* c, const void* p) { return mspace_validate(CTX(c)->msp, p); }

/* Both allocators sound, and buddy pages in use == dlmalloc's footprint. */
static int d_check(void* c, size_t live_bytes, char* msg, size_t len) {
  dlb_ctx* d = CTX(c);
  int st = mspace_check(d->msp);
  if (st != DL_OK) {
    snprintf(msg, len, "mspace_check = %s (%s)", dl_status_name(st), mspace_check_message(d->msp));
    return 1;
  }
  st = buddy_check(d->pages);
  if (st != BUDDY_OK) {
    snprintf(msg, len, "buddy_check = %s (%s)", buddy_status_name(st), buddy_check_message(d->pages));
    return 1;
  }
  buddy_stats_t bs;
  buddy_stats(d->pages, &bs);
  size_t fp = mspace_footprint(d->msp);
  if (bs.used_bytes != fp) {
    snprintf(msg, len, "buddy pages in use %zu != dlmalloc footprint %zu", bs.used_bytes, fp);
    return 1;
  }
  struct mallinfo mi = mspace_mallinfo(d->msp);
  if (live_bytes > fp - mi.fordblks) {
    snprintf(msg, len, "live usable bytes %zu > footprint %zu - free %zu", live_bytes, fp,
             mi.fordblks);
    return 1;
  }
  if (port_state.n_munmap_refused) {
    snprintf(msg, len, "%d unmaps refused, last %s", port_state.n_munmap_refused,
             buddy_status_name(port_state.last_munmap_status));
    return 1;
  }
  return 0;
}

/* A NULL is legitimate only when the provider refused a mapping meanwhile. */
static void d_before_alloc(void* c) { CTX(c)->refused_mark = port_state.n_mmap_refused; }
static int d_null_ok(void* c) { return port_state.n_mmap_refused > CTX(c)->refused_mark; }

typedef struct {
  const char* name;
  size_t region;     /* provider bytes */
  unsigned flags;    /* provider flags */
  size_t live_cap;   /* model: prefer frees above this many live bytes */
  unsigned large_per_100k;
} run_config;

static const run_config runs[] = {
    /* roomy: growth, trims and direct maps, no shortage */
    {"roomy", (size_t)256 << 20, BUDDY_LOCKED | BUDDY_REGION_ZEROED, (size_t)48 << 20, 50},
    /* tight: the provider runs out now and then; dlmalloc must cope */
    {"tight", (size_t)24 << 20, BUDDY_TRACK_ZERO, (size_t)20 << 20, 200},
};

static long ops_per_run = 400000;
static uint64_t base_seed = 0xD1B0DD1EULL;

static void one_run(const run_config* rc, uint64_t seed) {
  size_t map_size = 2 * rc->region;
  unsigned char* map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  CHECK(map != MAP_FAILED);
  if (map == MAP_FAILED) return;
  size_t align = 1;
  while (align <= rc->region / 2) align *= 2;
  unsigned char* base = (unsigned char*)(((uintptr_t)map + align - 1) & ~(uintptr_t)(align - 1));
  size_t msize = buddy_meta_size(rc->region, 4096);
  void* meta = aligned_alloc(16, (msize + 15) & ~(size_t)15);
  buddy_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.min_block = 4096;
  cfg.flags = rc->flags;
  dlb_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  CHECK_EQ_SZ(buddy_init(&ctx.pages, meta, msize, base, rc->region, &cfg), BUDDY_OK);
  use_provider(ctx.pages);
  ctx.msp = create_mspace(0, 1);
  CHECK(ctx.msp != NULL);
  if (!ctx.msp) return;

  shadow_alloc a;
  memset(&a, 0, sizeof a);
  a.name = rc->name;
  a.ctx = &ctx;
  a.min_align = 16;
  a.malloc_fn = d_malloc;
  a.free_fn = d_free;
  a.usable_fn = d_usable;
  a.calloc_fn = d_calloc;
  a.realloc_fn = d_realloc;
  a.realloc_in_place_fn = d_rip;
  a.memalign_fn = d_memalign;
  a.bulk_free_fn = d_bulk_free;
  a.trim_fn = d_trim;
  a.footprint_fn = d_footprint;
  a.check_fn = d_check;
  a.validate_fn = d_validate;
  a.validate_ok = DL_OK;
  a.validate_not_allocated = DL_E_NOT_ALLOCATED;
  a.validate_foreign = DL_E_FOREIGN;
  a.before_alloc_fn = d_before_alloc;
  a.null_ok_fn = d_null_ok;
  a.realloc_keeps_usable = 1;
  a.memalign_rounds_up = 1;
  a.max_slack = ((size_t)256 << 10) + 8192;

  shadow_config sc = shadow_default_config(seed, ops_per_run);
  sc.live_cap = rc->live_cap;
  sc.large_per_100k = rc->large_per_100k;
  sc.check_every = 2048;
  sc.trim_per_100k = 50;
  shadow_stats st;
  int bad = shadow_run(&a, &sc, &st);
  CHECK(!bad);

  /* drained: trimmed back to its first segment, pages == footprint */
  mspace_trim(ctx.msp, 0);
  buddy_stats_t bs;
  buddy_stats(ctx.pages, &bs);
  size_t fp = mspace_footprint(ctx.msp);
  CHECK_EQ_SZ(bs.used_bytes, fp);
  size_t released = destroy_mspace(ctx.msp);
  CHECK_EQ_SZ(released, fp);
  buddy_stats(ctx.pages, &bs);
  CHECK_EQ_SZ(bs.used_bytes, 0);
  CHECK_EQ_SZ(bs.largest_free, align); /* the first root: the region is one free forest again */
  CHECK_EQ_SZ(bs.free_bytes, rc->region);
  CHECK_EQ_SZ(buddy_check(ctx.pages), BUDDY_OK);
  CHECK_EQ_SZ(port_state.n_munmap_refused, 0);
  printf("  %-6s seed=0x%016llx ops=%ld %.2fs peak live %zu KiB, %d mmaps + %d direct "
         "(%d refused), %d munmaps, %ld OOM, footprint after trim %zu KiB, zero-filled %zu KiB\n",
         rc->name, (unsigned long long)seed, st.ops, st.seconds, st.peak_live_bytes >> 10,
         port_state.n_mmap, port_state.n_direct, port_state.n_mmap_refused, port_state.n_munmap,
         st.n_oom, fp >> 10, bs.zero_filled_bytes >> 10);
  port_attach_buddy(NULL);
  buddy_destroy(ctx.pages);
  free(meta);
  munmap(map, map_size);
}

TEST(dlmalloc_on_the_page_provider_passes_the_shadow_model) {
  for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
    one_run(&runs[i], base_seed ^ ((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL));
}

/* An empty heap must not keep the provider's region split: after a small
 * allocation is freed (the heap keeps its first segment, which sits at the
 * start of the region and splits the largest free block), a request for
 * nearly the whole region must still succeed, and the page accounting must
 * still match. Mirrors "free everything, and the full capacity is usable
 * again" of an arena. */
TEST(an_empty_heap_gives_its_segment_back_for_a_request_that_needs_it) {
  const size_t region = (size_t)8 << 20;
  unsigned char* map = mmap(NULL, 2 * region, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  CHECK(map != MAP_FAILED);
  if (map == MAP_FAILED) return;
  unsigned char* base = (unsigned char*)(((uintptr_t)map + region - 1) & ~(uintptr_t)(region - 1));
  size_t msize = buddy_meta_size(region, 4096);
  void* meta = aligned_alloc(16, (msize + 15) & ~(size_t)15);
  static _Alignas(16) unsigned char state[4096];
  static unsigned char live[(8 << 20) / 128];
  buddy_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.min_block = 4096;
  cfg.flags = BUDDY_REGION_ZEROED;
  buddy_t* pages;
  CHECK_EQ_SZ(buddy_init(&pages, meta, msize, base, region, &cfg), BUDDY_OK);
  use_provider(pages);
  mspace ms = create_mspace_with_state(state, sizeof state, 1);
  CHECK(ms != NULL);
  CHECK_EQ_SZ(mspace_set_bounds(ms, base, region, live, sizeof live), DL_OK);

  void* small = mspace_malloc(ms, 100);
  CHECK(small != NULL);
  mspace_free(ms, small);
  mspace_trim(ms, 0);
  /* Everything but the first segment's pages is free, in halves that no
   * single run can cover. */
  size_t big = region - ((size_t)128 << 10);
  void* p = mspace_malloc(ms, big);
  CHECK(p != NULL);
  CHECK_EQ_SZ(mspace_check(ms), DL_OK);
  CHECK_EQ_SZ(mspace_validate(ms, p), DL_OK);
  buddy_stats_t bs;
  buddy_stats(pages, &bs);
  CHECK_EQ_SZ(bs.used_bytes, mspace_footprint(ms));
  mspace_free(ms, p);
  CHECK_EQ_SZ(mspace_check(ms), DL_OK);
  /* With a live allocation the segment stays: a request that cannot fit fails. */
  small = mspace_malloc(ms, 100);
  CHECK(small != NULL);
  CHECK(mspace_malloc(ms, big) == NULL);
  CHECK_EQ_SZ(mspace_validate(ms, small), DL_OK);
  mspace_free(ms, small);
  size_t fp = mspace_footprint(ms);
  CHECK_EQ_SZ(destroy_mspace(ms), fp);
  buddy_stats(pages, &bs);
  CHECK_EQ_SZ(bs.used_bytes, 0);
  CHECK_EQ_SZ(port_state.n_munmap_refused, 0);
  port_attach_buddy(NULL);
  buddy_destroy(pages);
  free(meta);
  munmap(map, 2 * region);
}

int main(void) {
  const char* e = getenv("OFFHEAP_SEED");
  if (e && *e) base_seed = strtoull(e, NULL, 0);
  e = getenv("OFFHEAP_OPS");
  if (e && *e) ops_per_run = strtol(e, NULL, 0);
  RUN(dlmalloc_on_the_page_provider_passes_the_shadow_model);
  RUN(an_empty_heap_gives_its_segment_back_for_a_request_that_needs_it);
  return test_summary("buddy_dlmalloc");
}
