/*
 * offheap — buddy allocator under the randomised shadow model (shadow.h):
 * over two million mixed operations (malloc, calloc, realloc, aligned alloc,
 * free, trim) in several configurations, with every block's bytes patterned
 * and verified, no overlap, buddy_check() every 2048 operations, and the
 * buddy-specific promises checked on every result:
 *   - each block is aligned to its own size in absolute addresses;
 *   - used_bytes equals the model's live bytes exactly (no leak, cached
 *     blocks count as free);
 *   - a NULL only when no free block of the needed size exists (after the
 *     cache was flushed by the failing call);
 *   - every free is accepted (BUDDY_OK) and freed/interior addresses are
 *     rejected by buddy_validate.
 * The region is a fresh anonymous mapping and trim releases pages with
 * madvise(MADV_DONTNEED), so calloc also tests the known-zero page tracking.
 *
 * Reproduce one run: OFFHEAP_SEED=0x... (printed) and OFFHEAP_OPS=n.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../csrc/buddy.h"
#include "port_test.h"
#include "shadow.h"

typedef struct {
  buddy_t* b;
  unsigned char* region;
  size_t region_size;
  size_t need; /* block size the last allocating call needed */
  long bad_free, bad_alignment, bad_realloc;
  char first_error[160];
} buddy_ctx;

static size_t block_for(size_t n, size_t align) {
  size_t need = n > align ? n : align;
  size_t s = 16;
  while (s < need && s <= SIZE_MAX / 2) s <<= 1;
  return s < need ? SIZE_MAX : s;
}

static void note(buddy_ctx* c, const char* what, const void* p, int status) {
  if (!c->first_error[0])
    snprintf(c->first_error, sizeof c->first_error, "%s(%p) -> %s", what, p,
             buddy_status_name(status));
}

/* Every result must be aligned to its block size, absolutely. */
static void* checked(buddy_ctx* c, void* p) {
  if (p) {
    size_t u = buddy_usable_size(c->b, p);
    if (u == 0 || (uintptr_t)p % u != 0) {
      c->bad_alignment++;
      note(c, "alignment", p, 0);
    }
  }
  return p;
}

static void* a_malloc(void* ctx, size_t n) {
  buddy_ctx* c = ctx;
  c->need = block_for(n, 1);
  return checked(c, buddy_malloc(c->b, n));
}
static void a_free(void* ctx, void* p) {
  buddy_ctx* c = ctx;
  int r = buddy_free(c->b, p);
  if (r != BUDDY_OK) {
    c->bad_free++;
    note(c, "free", p, r);
  }
}
static size_t a_usable(void* ctx, const void* p) { return buddy_usable_size(((buddy_ctx*)ctx)->b, p); }
static void* a_calloc(void* ctx, size_t n, size_t size) {
  buddy_ctx* c = ctx;
  c->need = n && size > SIZE_MAX / n ? SIZE_MAX : block_for(n * size, 1);
  return checked(c, buddy_calloc(c->b, n, size));
}
static void* a_realloc(void* ctx, void* p, size_t n) {
  buddy_ctx* c = ctx;
  c->need = block_for(n, 1);
  void* out = NULL;
  int r = buddy_realloc(c->b, p, n, &out);
  if (r != BUDDY_OK && r != BUDDY_E_NOMEM) {
    c->bad_realloc++;
    note(c, "realloc", p, r);
  }
  return checked(c, out);
}
static void* a_memalign(void* ctx, size_t align, size_t n) {
  buddy_ctx* c = ctx;
  c->need = block_for(n, align);
  return checked(c, buddy_aligned_alloc(c->b, align, n));
}

static int release_pages(void* ptr, size_t length, void* arg) {
  (void)arg;
  return madvise(ptr, length, MADV_DONTNEED);
}
static int a_trim(void* ctx, size_t pad) {
  (void)pad;
  size_t released = 0;
  buddy_ctx* c = ctx;
  int r = buddy_trim(c->b, release_pages, NULL, &released);
  if (r != BUDDY_OK) note(c, "trim", NULL, r);
  return released > 0;
}

static int a_check(void* ctx, size_t live_bytes, char* msg, size_t len) {
  buddy_ctx* c = ctx;
  int r = buddy_check(c->b);
  if (r != BUDDY_OK) {
    snprintf(msg, len, "buddy_check: %s", buddy_check_message(c->b));
    return 1;
  }
  buddy_stats_t st;
  buddy_stats(c->b, &st);
  if (st.used_bytes != live_bytes) {
    snprintf(msg, len, "used_bytes %zu != model live bytes %zu", st.used_bytes, live_bytes);
    return 1;
  }
  if (st.free_bytes + st.used_bytes != st.region_bytes) {
    snprintf(msg, len, "free + used != region");
    return 1;
  }
  if (c->bad_free || c->bad_alignment || c->bad_realloc) {
    snprintf(msg, len, "%ld bad frees, %ld misaligned, %ld bad reallocs; first: %s", c->bad_free,
             c->bad_alignment, c->bad_realloc, c->first_error);
    return 1;
  }
  return 0;
}

static int a_validate(void* ctx, const void* p) {
  int r = buddy_validate(((buddy_ctx*)ctx)->b, p);
  if (r == BUDDY_OK) return 0;
  if (r == BUDDY_E_FOREIGN) return 1;
  if (r == BUDDY_E_DOUBLE_FREE || r == BUDDY_E_INTERIOR || r == BUDDY_E_STALE) return 2;
  return 3;
}

/* A NULL is a real out-of-memory only if no free block is large enough now
 * (the failing call has flushed the cache, so largest_free is exact). */
static int a_null_ok(void* ctx) {
  buddy_ctx* c = ctx;
  buddy_stats_t st;
  buddy_stats(c->b, &st);
  return st.largest_free < c->need && st.cached_bytes == 0;
}

typedef struct {
  const char* name;
  size_t min_block;
  unsigned flags;
  size_t region; /* bytes */
  size_t offset; /* base offset past a 2 MiB boundary */
} run_config;

static const run_config runs[] = {
    {"cached-forest", 16, 0, (size_t)48 << 20, 4096 + 16},
    {"no-cache", 16, BUDDY_NO_CACHE, (size_t)48 << 20, 0},
    {"zero-tracking", 64, BUDDY_REGION_ZEROED, ((size_t)40 << 20) + 4096, 4096},
    {"locked", 16, BUDDY_LOCKED, (size_t)32 << 20, 16},
};

static int one_run(const run_config* rc, uint64_t seed, long ops) {
  size_t map_size = rc->region + ((size_t)4 << 20);
  unsigned char* map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  CHECK(map != MAP_FAILED);
  if (map == MAP_FAILED) return 1;
  buddy_ctx c;
  memset(&c, 0, sizeof c);
  c.region = (unsigned char*)(((uintptr_t)map + ((size_t)2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1)) +
             rc->offset;
  c.region_size = rc->region;
  size_t msize = buddy_meta_size(rc->region, rc->min_block);
  void* meta = aligned_alloc(16, (msize + 15) & ~(size_t)15);
  buddy_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.min_block = rc->min_block;
  cfg.flags = rc->flags;
  CHECK_EQ_SZ(buddy_init(&c.b, meta, msize, c.region, rc->region, &cfg), BUDDY_OK);

  shadow_alloc a;
  memset(&a, 0, sizeof a);
  a.name = rc->name;
  a.ctx = &c;
  a.min_align = rc->min_block;
  a.malloc_fn = a_malloc;
  a.free_fn = a_free;
  a.usable_fn = a_usable;
  a.calloc_fn = a_calloc;
  a.realloc_fn = a_realloc;
  a.memalign_fn = a_memalign;
  a.trim_fn = a_trim;
  a.check_fn = a_check;
  a.validate_fn = a_validate;
  a.validate_ok = 0;
  a.validate_foreign = 1;
  a.validate_not_allocated = 2;
  a.null_ok_fn = a_null_ok;
  a.realloc_keeps_usable = 1; /* the whole old block is copied */
  a.max_slack = (size_t)4 << 20; /* power-of-two rounding: up to the request again */

  shadow_config sc = shadow_default_config(seed, ops);
  sc.live_cap = rc->region / 2;
  sc.max_size = (size_t)2 << 20;
  sc.check_every = 2048;
  sc.trim_per_100k = 20;
  static const size_t edges[] = {0, 1, 15, 16, 17, 31, 32, 33, 4095, 4096, 4097, 65536, 65537};
  sc.edge_sizes = edges;
  sc.n_edge_sizes = sizeof edges / sizeof edges[0];
  shadow_stats st;
  int bad = shadow_run(&a, &sc, &st);
  CHECK(!bad);
  /* drained: everything is free again and merges back into the roots */
  CHECK_EQ_SZ(buddy_flush(c.b), BUDDY_OK);
  buddy_stats_t bs;
  buddy_stats(c.b, &bs);
  CHECK_EQ_SZ(bs.used_bytes, 0);
  CHECK_EQ_SZ(bs.live_blocks, 0);
  CHECK_EQ_SZ(buddy_check(c.b), BUDDY_OK);
  printf("  %-14s seed=0x%016llx ops=%ld %.2fs peak live %zu KiB in %zu blocks, %ld OOM, "
         "%ld trims, zero-filled %zu KiB\n",
         rc->name, (unsigned long long)seed, st.ops, st.seconds, st.peak_live_bytes >> 10,
         st.peak_live_blocks, st.n_oom, st.n_trim, bs.zero_filled_bytes >> 10);
  buddy_destroy(c.b);
  free(meta);
  munmap(map, map_size);
  return bad;
}

static uint64_t base_seed = 0xB0DD1E5EEDULL;
static long ops_per_run = 600000;

TEST(shadow_model_holds_over_millions_of_operations) {
  long total = 0;
  for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
    uint64_t seed = base_seed ^ ((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL);
    if (one_run(&runs[i], seed, ops_per_run) == 0) total += ops_per_run;
  }
  printf("  %ld operations in total\n", total);
  CHECK(total >= 2000000 || ops_per_run < 500000);
}

int main(void) {
  const char* e = getenv("OFFHEAP_SEED");
  if (e && *e) base_seed = strtoull(e, NULL, 0);
  e = getenv("OFFHEAP_OPS");
  if (e && *e) ops_per_run = strtol(e, NULL, 0);
  RUN(shadow_model_holds_over_millions_of_operations);
  return test_summary("buddy_shadow");
}
