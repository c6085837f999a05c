/*
 * offheap — the buddy allocator (csrc/buddy.c) as contestants of the native
 * benchmark (bench/native/bench.c). Not compiled on its own: bench.c
 * includes it. Wiring, for the benchmark's owner:
 *   1. in bench.c, after the dl-global wrappers:  #include "bench_buddy_entry.c"
 *   2. in all_contestants[], at the BUDDY marker:  BENCH_BUDDY_CONTESTANTS
 *   3. in run.sh, compile csrc/buddy.c like csrc/dlmalloc.c and link it.
 * The lock hooks come from the port (test/c/port_test.c), as for dlmalloc.
 *
 * Each heap is a fresh buddy instance (16-byte minimum block, default lazy
 * cache) over a 256 MiB anonymous MAP_NORESERVE region aligned to its size,
 * with its metadata (about 4 MiB, faulted in by the setup, so it lands in the
 * footprint baseline) in a separate mapping. The churn's 32 MiB live set
 * needs at most twice that after power-of-two rounding.
 *
 *   buddy       unlocked instance (threaded rows: one instance per thread)
 *   buddy+lock  BUDDY_LOCKED: every call takes the port's lock hooks
 *               (threaded rows: one instance shared by all threads)
 *
 * max_footprint reports buddy_stats().peak_used_bytes: the peak of the bytes
 * in live blocks, power-of-two rounding included.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "buddy.h"

#define BENCH_BUDDY_REGION ((size_t)256 << 20)

typedef struct {
  buddy_t* b;
  void* map;
  size_t map_size;
  void* meta;
  size_t meta_size;
} bench_buddy;

static int buddy_setup_flags(void** ctx, unsigned flags) {
  bench_buddy* h = mmap(NULL, sizeof *h, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (h == MAP_FAILED) return -1;
  h->map_size = 2 * BENCH_BUDDY_REGION;
  h->map = mmap(NULL, h->map_size, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  h->meta_size = buddy_meta_size(BENCH_BUDDY_REGION, 16);
  h->meta = mmap(NULL, h->meta_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (h->map == MAP_FAILED || h->meta == MAP_FAILED) return -1;
  void* base = (void*)(((uintptr_t)h->map + BENCH_BUDDY_REGION - 1) &
                       ~(uintptr_t)(BENCH_BUDDY_REGION - 1));
  buddy_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.flags = flags;
  if (buddy_init(&h->b, h->meta, h->meta_size, base, BENCH_BUDDY_REGION, &cfg) != BUDDY_OK)
    return -1;
  *ctx = h;
  return 0;
}
static int buddy_setup_nolock(void** ctx) { return buddy_setup_flags(ctx, 0); }
static int buddy_setup_lock(void** ctx) { return buddy_setup_flags(ctx, BUDDY_LOCKED); }

static void buddy_teardown(void* ctx) {
  bench_buddy* h = (bench_buddy*)ctx;
  buddy_destroy(h->b);
  munmap(h->map, h->map_size);
  munmap(h->meta, h->meta_size);
  munmap(h, sizeof *h);
}

static void* buddy_w_malloc(void* ctx, size_t n) { return buddy_malloc(((bench_buddy*)ctx)->b, n); }
static void buddy_w_free(void* ctx, void* p) { buddy_free(((bench_buddy*)ctx)->b, p); }
static void* buddy_w_realloc(void* ctx, void* p, size_t n) {
  void* out = NULL;
  buddy_realloc(((bench_buddy*)ctx)->b, p, n, &out);
  return out;
}
static size_t buddy_max_footprint(void* ctx) {
  buddy_stats_t st;
  buddy_stats(((bench_buddy*)ctx)->b, &st);
  return st.peak_used_bytes;
}
static int buddy_w_check(void* ctx) {
  buddy_t* b = ((bench_buddy*)ctx)->b;
  int st = buddy_check(b);
  if (st == BUDDY_OK) return 0;
  fprintf(stderr, "bench: buddy_check: %s: %s\n", buddy_status_name(st), buddy_check_message(b));
  return -1;
}

/* The version line carries the metadata cost, the figure buddy users size
 * regions by: bytes of out-of-band metadata per MiB of region, for 16-byte
 * blocks (general use) and 4 KiB blocks (the page provider). */
static const char* buddy_w_version(void) {
  static char v[160];
  size_t mib = BENCH_BUDDY_REGION >> 20;
  snprintf(v, sizeof v, "offheap buddy; metadata %zu B/MiB (16 B blocks), %zu B/MiB (4 KiB blocks)",
           buddy_meta_size(BENCH_BUDDY_REGION, 16) / mib, buddy_meta_size(BENCH_BUDDY_REGION, 4096) / mib);
  return v;
}

#define BENCH_BUDDY_CONTESTANTS                                                                  \
  {"buddy", "offheap buddy, unlocked, 16 B blocks, lazy cache (256 MiB region); threaded rows: "  \
   "one per thread", buddy_w_malloc, buddy_w_free, buddy_w_realloc, buddy_setup_nolock,           \
   buddy_teardown, buddy_max_footprint, buddy_w_check, NULL, buddy_w_version, HEAP_PER_THREAD},   \
  {"buddy+lock", "offheap buddy, BUDDY_LOCKED (port lock hooks), same heap; threaded rows: one "  \
   "shared by all threads", buddy_w_malloc, buddy_w_free, buddy_w_realloc, buddy_setup_lock,      \
   buddy_teardown, buddy_max_footprint, buddy_w_check, NULL, buddy_w_version, HEAP_SHARED},
