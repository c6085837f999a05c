/*
 * offheap — native allocator benchmark.
 *
 * Compares, in one process run, offheap's dlmalloc-design core (csrc/dlmalloc.c)
 * without and with its lock hooks against glibc malloc and, when they were
 * found at build time, mimalloc and jemalloc (loaded with dlopen(RTLD_LOCAL)
 * so that their exported malloc/free never replace glibc's in this process).
 *
 * Built and run by bench/native/run.sh; see bench/native/README.md for what
 * the workloads measure and how to read the output.
 *
 *   native-bench [--quick | --selftest] [--json PATH] [--samples N] [--seed N]
 *                [--only NAME[,NAME...]] [--cc-version STR] [--cflags STR]
 *
 * The unit everywhere is nanoseconds per malloc+free pair (for the ws64 and
 * churn workloads: per step, which is one malloc and one free).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "dlmalloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_MIMALLOC
#include <mimalloc.h>
#endif
#ifdef HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

/* ========================================================================== */
/* Helpers                                                                     */
/* ========================================================================== */

static void die(const char* fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bench: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

/* Harness memory comes straight from mmap, never from any contestant (glibc
 * included), so the harness does not disturb the heaps it measures. */
static void* harness_alloc(size_t bytes) {
  if (bytes == 0) bytes = 1;
  void* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("harness mmap(%zu) failed: %s", bytes, strerror(errno));
  return p;
}

static inline uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static inline uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

/* A sample is timed with both clocks. The reported figure is the thread's CPU
 * time (user + system, so page faults and mmap/munmap count): on a shared or
 * virtual machine it leaves out the time the thread was not running, which
 * is what makes wall-clock samples of a busy machine useless. Wall-clock
 * samples are kept in the JSON alongside. */
typedef struct tstamp {
  uint64_t cpu, wall;
} tstamp;
static inline tstamp stamp(void) {
  tstamp t;
  t.wall = clock_ns(CLOCK_MONOTONIC);
  t.cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  return t;
}
static uint64_t last_wall_ns; /* wall-clock time of the last timed loop */
static inline uint64_t elapsed_cpu(tstamp t0) {
  tstamp t1;
  t1.cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  t1.wall = clock_ns(CLOCK_MONOTONIC);
  last_wall_ns = t1.wall - t0.wall;
  return t1.cpu - t0.cpu;
}

/* splitmix64: the one PRNG of the harness; every random sequence is generated
 * from --seed before any contestant runs. */
static uint64_t rng_state;
static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double rng_unit(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }
static uint32_t rng_below(uint32_t n) { return (uint32_t)(((rng_next() >> 32) * (uint64_t)n) >> 32); }

/* Log-uniform size in [lo, hi]. */
static uint32_t rng_logsize(uint32_t lo, uint32_t hi) {
  double l = log((double)lo), h = log((double)hi + 1.0);
  double v = exp(l + (h - l) * rng_unit());
  uint32_t s = (uint32_t)v;
  if (s < lo) s = lo;
  if (s > hi) s = hi;
  return s;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

/* ========================================================================== */
/* Contestants                                                                 */
/* ========================================================================== */

/*
 * One allocator under test. Every operation takes the context `setup` made
 * (NULL when it needs none), so every contestant pays the same call overhead:
 * one indirect call into a thin wrapper that tail-calls the allocator.
 */
typedef struct contestant {
  const char* name;        /* column header and JSON key */
  const char* description; /* one line for the JSON and --list */
  void* (*malloc_fn)(void* ctx, size_t n);
  void (*free_fn)(void* ctx, void* p);
  void* (*realloc_fn)(void* ctx, void* p, size_t n);
  int (*setup)(void** ctx);     /* fresh heap; 0 on success. NULL: nothing to do */
  void (*teardown)(void* ctx);  /* release the heap. NULL: nothing to do */
  /* Optional (NULL when absent): */
  size_t (*max_footprint)(void* ctx); /* allocator's own peak committed bytes */
  int (*check)(void* ctx);            /* full heap invariant check, 0 = OK */
  int (*load)(void);                  /* runtime availability (dlopen); 0 = usable */
  const char* (*version)(void);
} contestant;

/* ---- offheap dlmalloc: mspace without locks -------------------------------- */
static void* dl_malloc(void* ctx, size_t n) { return mspace_malloc((mspace)ctx, n); }
static void dl_free(void* ctx, void* p) { mspace_free((mspace)ctx, p); }
static void* dl_realloc(void* ctx, void* p, size_t n) { return mspace_realloc((mspace)ctx, p, n); }
static int dl_setup_nolock(void** ctx) { return (*ctx = create_mspace(0, 0)) ? 0 : -1; }
static int dl_setup_lock(void** ctx) { return (*ctx = create_mspace(0, 1)) ? 0 : -1; }
static void dl_teardown(void* ctx) { destroy_mspace((mspace)ctx); }
static size_t dl_max_footprint(void* ctx) { return mspace_max_footprint((mspace)ctx); }
static int dl_check(void* ctx) {
  int st = mspace_check((mspace)ctx);
  if (st == DL_OK) return 0;
  fprintf(stderr, "bench: mspace_check: %s: %s\n", dl_status_name(st),
          mspace_check_message((mspace)ctx));
  return -1;
}

/* ---- offheap dlmalloc: the global heap (always locked with USE_LOCKS) ------- */
static void* dlg_malloc(void* ctx, size_t n) { (void)ctx; return dlmalloc(n); }
static void dlg_free(void* ctx, void* p) { (void)ctx; dlfree(p); }
static void* dlg_realloc(void* ctx, void* p, size_t n) { (void)ctx; return dlrealloc(p, n); }
static size_t dlg_max_footprint(void* ctx) { (void)ctx; return dlmalloc_max_footprint(); }
static int dlg_check(void* ctx) {
  (void)ctx;
  int st = dlmalloc_check();
  if (st == DL_OK) return 0;
  fprintf(stderr, "bench: dlmalloc_check: %s: %s\n", dl_status_name(st), dlmalloc_check_message());
  return -1;
}

/* The buddy allocator (csrc/buddy.c): contestants "buddy" and "buddy+lock". */
#include "bench_buddy_entry.c"

/* ---- glibc ----------------------------------------------------------------- */
static void* glibc_malloc(void* ctx, size_t n) { (void)ctx; return malloc(n); }
static void glibc_free(void* ctx, void* p) { (void)ctx; free(p); }
static void* glibc_realloc(void* ctx, void* p, size_t n) { (void)ctx; return realloc(p, n); }
static const char* glibc_version(void) {
  static char v[64];
  snprintf(v, sizeof v, "glibc %s", gnu_get_libc_version());
  return v;
}

/* ---- mimalloc (dlopen'd, RTLD_LOCAL) ---------------------------------------- */
#ifdef HAVE_MIMALLOC
static __typeof__(mi_malloc)* p_mi_malloc;
static __typeof__(mi_free)* p_mi_free;
static __typeof__(mi_realloc)* p_mi_realloc;
static __typeof__(mi_version)* p_mi_version;
static void* mi_w_malloc(void* ctx, size_t n) { (void)ctx; return p_mi_malloc(n); }
static void mi_w_free(void* ctx, void* p) { (void)ctx; p_mi_free(p); }
static void* mi_w_realloc(void* ctx, void* p, size_t n) { (void)ctx; return p_mi_realloc(p, n); }
static int mi_load(void) {
  void* h = dlopen(MIMALLOC_LIB, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "bench: mimalloc skipped: %s\n", dlerror());
    return -1;
  }
  p_mi_malloc = (__typeof__(mi_malloc)*)dlsym(h, "mi_malloc");
  p_mi_free = (__typeof__(mi_free)*)dlsym(h, "mi_free");
  p_mi_realloc = (__typeof__(mi_realloc)*)dlsym(h, "mi_realloc");
  p_mi_version = (__typeof__(mi_version)*)dlsym(h, "mi_version");
  if (!p_mi_malloc || !p_mi_free || !p_mi_realloc) {
    fprintf(stderr, "bench: mimalloc skipped: missing symbols in %s\n", MIMALLOC_LIB);
    return -1;
  }
  return 0;
}
static const char* mi_w_version(void) {
  static char v[64];
  int n = p_mi_version ? p_mi_version() : 0;
  snprintf(v, sizeof v, "mimalloc %d.%d.%d", n / 100, (n / 10) % 10, n % 10);
  return v;
}
#endif

/* ---- jemalloc (dlopen'd, RTLD_LOCAL; Debian's build has no je_ prefix, so
 *      its non-standard API mallocx/dallocx/rallocx is used) ---------------- */
#ifdef HAVE_JEMALLOC
static __typeof__(mallocx)* p_je_mallocx;
static __typeof__(dallocx)* p_je_dallocx;
static __typeof__(rallocx)* p_je_rallocx;
static __typeof__(mallctl)* p_je_mallctl;
static void* je_w_malloc(void* ctx, size_t n) { (void)ctx; return p_je_mallocx(n, 0); }
static void je_w_free(void* ctx, void* p) { (void)ctx; p_je_dallocx(p, 0); }
static void* je_w_realloc(void* ctx, void* p, size_t n) {
  (void)ctx;
  if (!p) return p_je_mallocx(n, 0);
  return p_je_rallocx(p, n, 0);
}
static int je_load(void) {
  void* h = dlopen(JEMALLOC_LIB, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr,
            "bench: jemalloc skipped: %s\n"
            "       (a dlopen'd jemalloc needs static TLS room: run with\n"
            "        GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384, as run.sh does)\n",
            dlerror());
    return -1;
  }
  p_je_mallocx = (__typeof__(mallocx)*)dlsym(h, "mallocx");
  p_je_dallocx = (__typeof__(dallocx)*)dlsym(h, "dallocx");
  p_je_rallocx = (__typeof__(rallocx)*)dlsym(h, "rallocx");
  p_je_mallctl = (__typeof__(mallctl)*)dlsym(h, "mallctl");
  if (!p_je_mallocx || !p_je_dallocx || !p_je_rallocx) {
    fprintf(stderr, "bench: jemalloc skipped: missing symbols in %s\n", JEMALLOC_LIB);
    return -1;
  }
  return 0;
}
static const char* je_w_version(void) {
  static char v[96] = "jemalloc";
  const char* s = NULL;
  size_t len = sizeof s;
  if (p_je_mallctl && p_je_mallctl("version", (void*)&s, &len, NULL, 0) == 0 && s)
    snprintf(v, sizeof v, "jemalloc %s", s);
  return v;
}
#endif

/* ---- the null allocator: not a contestant; it measures the harness's own
 *      cost per pair (loop, indirect calls, the byte written) ------------- */
static _Alignas(64) unsigned char null_block[4096];
static void* null_malloc(void* ctx, size_t n) {
  (void)ctx;
  (void)n;
  return null_block;
}
static void null_free(void* ctx, void* p) {
  (void)ctx;
  __asm__ __volatile__("" : : "r"(p) : "memory");
}
static const contestant null_contestant = {"null", "harness overhead", null_malloc, null_free,
                                           NULL, NULL, NULL, NULL, NULL, NULL, NULL};

/*
 * The table. Column order of the output follows it. glibc must stay in it: it
 * is the baseline of every ratio.
 *
 * Another allocator is one entry: wrappers like the dl_* ones above (setup
 * creates a fresh heap and stores it in *ctx) and its core source compiled in
 * run.sh, as bench_buddy_entry.c does for csrc/buddy.c.
 */
static contestant all_contestants[] = {
    {"dl", "offheap dlmalloc, mspace, no lock (create_mspace(0, 0))", dl_malloc, dl_free,
     dl_realloc, dl_setup_nolock, dl_teardown, dl_max_footprint, dl_check, NULL, NULL},
    {"dl+lock", "offheap dlmalloc, locked mspace (create_mspace(0, 1)), CAS spinlock hooks",
     dl_malloc, dl_free, dl_realloc, dl_setup_lock, dl_teardown, dl_max_footprint, dl_check,
     NULL, NULL},
    {"dl-global", "offheap dlmalloc, global heap dlmalloc/dlfree (locked), CAS spinlock hooks",
     dlg_malloc, dlg_free, dlg_realloc, NULL, NULL, dlg_max_footprint, dlg_check, NULL, NULL},
    BENCH_BUDDY_CONTESTANTS
    {"glibc", "glibc malloc/free (ptmalloc2 with tcache)", glibc_malloc, glibc_free, glibc_realloc,
     NULL, NULL, NULL, NULL, NULL, glibc_version},
#ifdef HAVE_MIMALLOC
    {"mimalloc", "mimalloc mi_malloc/mi_free (Debian libmimalloc, dlopen'd)", mi_w_malloc, mi_w_free,
     mi_w_realloc, NULL, NULL, NULL, NULL, mi_load, mi_w_version},
#endif
#ifdef HAVE_JEMALLOC
    {"jemalloc", "jemalloc mallocx/dallocx (Debian libjemalloc, dlopen'd)", je_w_malloc, je_w_free,
     je_w_realloc, NULL, NULL, NULL, NULL, je_load, je_w_version},
#endif
};
#define N_ALL ((int)(sizeof all_contestants / sizeof all_contestants[0]))

static contestant* C[N_ALL]; /* the contestants in this run */
static int NC;
static int glibc_idx = -1;

/* ========================================================================== */
/* Workloads                                                                   */
/* ========================================================================== */

typedef enum { W_PAIR, W_RING, W_CHURN } wkind;

typedef struct workload {
  char name[32];
  wkind kind;
  size_t size;  /* W_PAIR, W_RING: the request size */
  size_t iters; /* pairs (W_PAIR), steps (W_RING, W_CHURN) per sample */
} workload;

enum { MODE_TIME = 0, MODE_VERIFY = 1, MODE_FOOTPRINT = 2 };

#define RING_BLOCKS 64
#define RING_PATTERN 4096 /* length of the cyclic victim sequence of W_RING */
#define CHURN_MIN 16u
#define CHURN_MAX 65536u

typedef struct params {
  const char* mode;
  int samples, warmup;
  size_t pair_iters, ring_iters;
  size_t churn_live, churn_steps;
  size_t fp_steps; /* steps of the churn footprint run */
  uint64_t seed;
} params;

/* Pre-generated sequences, identical for every contestant. */
static uint8_t* ring_victims;     /* [RING_PATTERN], values < RING_BLOCKS */
static uint32_t* churn_init_sizes; /* [churn_live] */
static uint32_t* churn_sizes;     /* [max(churn_steps, fp_steps)] */
static uint32_t* churn_victims;   /* [max(churn_steps, fp_steps)] */
static size_t churn_peak_live;    /* max over time of the sum of live requested bytes */

/* Per-block bookkeeping of the ring workload. */
static void* slots[RING_BLOCKS];
static uint8_t slot_tag[RING_BLOCKS];

static int verify_failures;

static void fail_null(const contestant* c, size_t n) {
  fprintf(stderr, "bench: %s returned NULL for %zu bytes\n", c->name, n);
  exit(3);
}

/* Verification mode: fill the whole block with a tag and check all of it
 * before freeing; catches overlapping or undersized blocks. */
static void fill_block(void* p, size_t n, uint8_t tag) { memset(p, tag, n); }
static void check_block(const contestant* c, const char* w, const void* p, size_t n, uint8_t tag) {
  const uint8_t* b = (const uint8_t*)p;
  for (size_t i = 0; i < n; i++) {
    if (b[i] != tag) {
      if (verify_failures++ < 5)
        fprintf(stderr, "bench: %s/%s: block %p (%zu B) byte %zu is %u, expected %u\n", c->name, w,
                p, n, i, b[i], tag);
      return;
    }
  }
}

/* Touch every page of a block, so that peak RSS counts all of it. */
static inline void touch_pages(void* p, size_t n) {
  volatile uint8_t* b = (volatile uint8_t*)p;
  for (size_t off = 0; off < n; off += 4096) b[off] = 1;
  b[n - 1] = 1;
}

/* ---- W_PAIR: malloc(size); write one byte; free ---------------------------- */
static inline __attribute__((always_inline)) uint64_t pair_body(const contestant* c, void* ctx,
                                                                size_t size, size_t iters,
                                                                int mode) {
  void* (*m)(void*, size_t) = c->malloc_fn;
  void (*f)(void*, void*) = c->free_fn;
  tstamp t0 = stamp();
  for (size_t i = 0; i < iters; i++) {
    uint8_t* p = (uint8_t*)m(ctx, size);
    if (__builtin_expect(p == NULL, 0)) fail_null(c, size);
    if (mode == MODE_VERIFY) {
      fill_block(p, size, (uint8_t)(i * 13 + 1));
      check_block(c, "pair", p, size, (uint8_t)(i * 13 + 1));
    } else {
      *(volatile uint8_t*)p = (uint8_t)i;
    }
    f(ctx, p);
  }
  return elapsed_cpu(t0);
}
static __attribute__((noinline)) uint64_t run_pair(const contestant* c, void* ctx, size_t size,
                                                   size_t iters) {
  return pair_body(c, ctx, size, iters, MODE_TIME);
}
static __attribute__((noinline)) uint64_t run_pair_verify(const contestant* c, void* ctx,
                                                          size_t size, size_t iters) {
  return pair_body(c, ctx, size, iters, MODE_VERIFY);
}

/* ---- W_RING: 64 live blocks of one size; each step allocates a new block,
 *      then frees a (pre-generated) random one of the 64 and puts the new one
 *      in its slot. The new block can never be the one just freed. ---------- */
static inline __attribute__((always_inline)) uint64_t ring_body(const contestant* c, void* ctx,
                                                                size_t size, size_t iters,
                                                                int mode) {
  void* (*m)(void*, size_t) = c->malloc_fn;
  void (*f)(void*, void*) = c->free_fn;
  for (int k = 0; k < RING_BLOCKS; k++) {
    slots[k] = m(ctx, size);
    if (!slots[k]) fail_null(c, size);
    slot_tag[k] = (uint8_t)(k + 1);
    if (mode == MODE_VERIFY) fill_block(slots[k], size, slot_tag[k]);
    else *(volatile uint8_t*)slots[k] = 1;
  }
  tstamp t0 = stamp();
  for (size_t i = 0; i < iters; i++) {
    uint32_t v = ring_victims[i & (RING_PATTERN - 1)];
    uint8_t* p = (uint8_t*)m(ctx, size);
    if (__builtin_expect(p == NULL, 0)) fail_null(c, size);
    if (mode == MODE_VERIFY) {
      uint8_t tag = (uint8_t)(i * 7 + 3);
      fill_block(p, size, tag);
      check_block(c, "ws64", slots[v], size, slot_tag[v]);
      slot_tag[v] = tag;
    } else {
      *(volatile uint8_t*)p = (uint8_t)i;
    }
    f(ctx, slots[v]);
    slots[v] = p;
  }
  uint64_t dt = elapsed_cpu(t0);
  for (int k = 0; k < RING_BLOCKS; k++) {
    if (mode == MODE_VERIFY) check_block(c, "ws64", slots[k], size, slot_tag[k]);
    f(ctx, slots[k]);
  }
  return dt;
}
static __attribute__((noinline)) uint64_t run_ring(const contestant* c, void* ctx, size_t size,
                                                   size_t iters) {
  return ring_body(c, ctx, size, iters, MODE_TIME);
}
static __attribute__((noinline)) uint64_t run_ring_verify(const contestant* c, void* ctx,
                                                          size_t size, size_t iters) {
  return ring_body(c, ctx, size, iters, MODE_VERIFY);
}

/* ---- W_CHURN: Larson-style. `live` blocks of log-uniform 16 B..64 KiB; each
 *      step frees a random victim and allocates a replacement of a new size.
 *      The live set is filled once per workload (not timed) and persists
 *      across the warm-up and all samples, each of which replays the same
 *      pre-generated step sequence on the current state: a steady-state,
 *      long-running heap, identical request by request for every contestant.
 *      It is drained (not timed) before teardown. ------------------------- */
typedef struct churn_state {
  void** slots;
  uint32_t* size;
  uint8_t* tag;
  uint64_t pass; /* passes over the step sequence so far (verify tags) */
} churn_state;

static churn_state churn_state_new(size_t live) {
  churn_state st;
  st.slots = (void**)harness_alloc(live * sizeof(void*));
  st.size = (uint32_t*)harness_alloc(live * sizeof(uint32_t));
  st.tag = (uint8_t*)harness_alloc(live);
  st.pass = 0;
  return st;
}
static void churn_state_free(churn_state* st, size_t live) {
  munmap(st->slots, live * sizeof(void*));
  munmap(st->size, live * sizeof(uint32_t));
  munmap(st->tag, live);
}

static void churn_fill(const contestant* c, void* ctx, churn_state* st, size_t live, int mode) {
  for (size_t k = 0; k < live; k++) {
    size_t n = churn_init_sizes[k];
    uint8_t* p = (uint8_t*)c->malloc_fn(ctx, n);
    if (!p) fail_null(c, n);
    st->slots[k] = p;
    st->size[k] = (uint32_t)n;
    st->tag[k] = (uint8_t)(k * 5 + 1);
    if (mode == MODE_VERIFY) fill_block(p, n, st->tag[k]);
    else if (mode == MODE_FOOTPRINT) touch_pages(p, n);
    else *(volatile uint8_t*)p = 1;
  }
}

static void churn_drain(const contestant* c, void* ctx, churn_state* st, size_t live, int mode) {
  for (size_t k = 0; k < live; k++) {
    if (mode == MODE_VERIFY) check_block(c, "churn", st->slots[k], st->size[k], st->tag[k]);
    c->free_fn(ctx, st->slots[k]);
  }
}

static inline __attribute__((always_inline)) uint64_t churn_body(const contestant* c, void* ctx,
                                                                 churn_state* st, size_t steps,
                                                                 int mode) {
  void* (*m)(void*, size_t) = c->malloc_fn;
  void (*f)(void*, void*) = c->free_fn;
  void** slots = st->slots;
  uint8_t salt = (uint8_t)(st->pass++ * 29);
  tstamp t0 = stamp();
  for (size_t i = 0; i < steps; i++) {
    uint32_t v = churn_victims[i];
    size_t n = churn_sizes[i];
    if (mode == MODE_VERIFY) check_block(c, "churn", slots[v], st->size[v], st->tag[v]);
    f(ctx, slots[v]);
    uint8_t* p = (uint8_t*)m(ctx, n);
    if (__builtin_expect(p == NULL, 0)) fail_null(c, n);
    if (mode == MODE_VERIFY) {
      st->tag[v] = (uint8_t)(i * 11 + 7 + salt);
      st->size[v] = (uint32_t)n;
      fill_block(p, n, st->tag[v]);
    } else if (mode == MODE_FOOTPRINT) {
      touch_pages(p, n);
    } else {
      *(volatile uint8_t*)p = (uint8_t)i;
    }
    slots[v] = p;
  }
  return elapsed_cpu(t0);
}
static __attribute__((noinline)) uint64_t run_churn(const contestant* c, void* ctx,
                                                    churn_state* st, size_t steps) {
  return churn_body(c, ctx, st, steps, MODE_TIME);
}
static __attribute__((noinline)) uint64_t run_churn_verify(const contestant* c, void* ctx,
                                                           churn_state* st, size_t steps) {
  return churn_body(c, ctx, st, steps, MODE_VERIFY);
}
static __attribute__((noinline)) uint64_t run_churn_footprint(const contestant* c, void* ctx,
                                                              churn_state* st, size_t steps) {
  return churn_body(c, ctx, st, steps, MODE_FOOTPRINT);
}

static void generate_sequences(const params* P) {
  rng_state = P->seed;
  ring_victims = (uint8_t*)harness_alloc(RING_PATTERN);
  for (size_t i = 0; i < RING_PATTERN; i++) ring_victims[i] = (uint8_t)rng_below(RING_BLOCKS);

  /* One step sequence serves both the timed samples (its first churn_steps
   * entries) and the footprint run (its first fp_steps entries). */
  size_t len = P->churn_steps > P->fp_steps ? P->churn_steps : P->fp_steps;
  uint32_t* cur = (uint32_t*)harness_alloc(P->churn_live * sizeof(uint32_t));
  churn_init_sizes = (uint32_t*)harness_alloc(P->churn_live * sizeof(uint32_t));
  churn_sizes = (uint32_t*)harness_alloc(len * sizeof(uint32_t));
  churn_victims = (uint32_t*)harness_alloc(len * sizeof(uint32_t));
  size_t live = 0;
  for (size_t k = 0; k < P->churn_live; k++) {
    churn_init_sizes[k] = rng_logsize(CHURN_MIN, CHURN_MAX);
    cur[k] = churn_init_sizes[k];
    live += churn_init_sizes[k];
  }
  size_t peak = live;
  for (size_t i = 0; i < len; i++) {
    uint32_t v = rng_below((uint32_t)P->churn_live);
    uint32_t n = rng_logsize(CHURN_MIN, CHURN_MAX);
    churn_victims[i] = v;
    churn_sizes[i] = n;
    live = live - cur[v] + n;
    cur[v] = n;
    /* Peak live of the footprint run: fill, then fp_steps steps. */
    if (i < P->fp_steps && live > peak) peak = live;
  }
  churn_peak_live = peak;
  munmap(cur, P->churn_live * sizeof(uint32_t));
}

/* ========================================================================== */
/* Environment facts                                                           */
/* ========================================================================== */

static long proc_status_kb(const char* key) {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, kl) == 0) {
      v = strtol(line + kl, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

static void read_first_line_matching(const char* path, const char* key, char* out, size_t cap) {
  out[0] = '\0';
  FILE* f = fopen(path, "r");
  if (!f) return;
  char line[512];
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, kl) == 0) {
      char* v = strchr(line, ':');
      v = v ? v + 1 : line + kl;
      while (*v == ' ' || *v == '\t') v++;
      v[strcspn(v, "\n")] = '\0';
      snprintf(out, cap, "%s", v);
      break;
    }
  }
  fclose(f);
}

static void read_file_line(const char* path, char* out, size_t cap) {
  out[0] = '\0';
  FILE* f = fopen(path, "r");
  if (!f) return;
  if (fgets(out, (int)cap, f)) out[strcspn(out, "\n")] = '\0';
  fclose(f);
}

/* ========================================================================== */
/* JSON output                                                                 */
/* ========================================================================== */

static void json_str(FILE* f, const char* s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
    else fputc(ch, f);
  }
  fputc('"', f);
}
static void json_num(FILE* f, double v) {
  if (isfinite(v)) fprintf(f, "%.6g", v);
  else fputs("null", f);
}

/* ========================================================================== */
/* Main                                                                        */
/* ========================================================================== */

typedef struct cell {
  double* samples;      /* ns per pair, thread CPU time, [samples] */
  double* wall_samples; /* ns per pair, wall clock, [samples] */
  double warmup_ns;
  double median, min, max, wall_median;
} cell;

typedef struct footprint {
  int ok;
  long baseline_rss_kb, hwm_kb;
  int hwm_reset; /* 1 when /proc/self/clear_refs reset VmHWM before the run */
  size_t alloc_max_footprint; /* 0 when the contestant has no such query */
} footprint;

static void usage(void) {
  fputs("usage: native-bench [--quick | --selftest] [--json PATH] [--samples N] [--seed N]\n"
        "                    [--only NAME[,NAME...]] [--list] [--cc-version STR] [--cflags STR]\n",
        stderr);
  exit(2);
}

static int name_in_list(const char* name, const char* list) {
  size_t n = strlen(name);
  const char* p = list;
  while (*p) {
    const char* e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == n && strncmp(p, name, n) == 0) return 1;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

/* Footprint of the churn for one contestant, measured in a forked child so
 * that the heap starts fresh and the child's peak RSS belongs to this run
 * alone. Runs before any timing, while no contestant heap holds memory. */
static footprint measure_footprint(contestant* c, const params* P) {
  footprint fp;
  memset(&fp, 0, sizeof fp);
  int pfd[2];
  if (pipe(pfd) != 0) return fp;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(pfd[0]);
    close(pfd[1]);
    return fp;
  }
  if (pid == 0) {
    close(pfd[0]);
    footprint r;
    memset(&r, 0, sizeof r);
    void* ctx = NULL;
    if (c->setup && c->setup(&ctx) != 0) _exit(1);
    /* Fault in the harness arrays the run writes, then take the baseline (the
     * read-only sequences are already resident: inherited from the parent). */
    churn_state st = churn_state_new(P->churn_live);
    touch_pages(st.slots, P->churn_live * sizeof(void*));
    touch_pages(st.size, P->churn_live * sizeof(uint32_t));
    touch_pages(st.tag, P->churn_live);
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd >= 0) {
      r.hwm_reset = write(fd, "5", 1) == 1;
      close(fd);
    }
    r.baseline_rss_kb = proc_status_kb("VmRSS:");
    churn_fill(c, ctx, &st, P->churn_live, MODE_FOOTPRINT);
    run_churn_footprint(c, ctx, &st, P->fp_steps);
    r.hwm_kb = proc_status_kb("VmHWM:");
    if (c->max_footprint) r.alloc_max_footprint = c->max_footprint(ctx);
    r.ok = r.baseline_rss_kb > 0 && r.hwm_kb > 0;
    ssize_t w = write(pfd[1], &r, sizeof r);
    (void)w;
    _exit(0);
  }
  close(pfd[1]);
  ssize_t got = read(pfd[0], &fp, sizeof fp);
  close(pfd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != (ssize_t)sizeof fp || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "bench: footprint run of %s failed\n", c->name);
    memset(&fp, 0, sizeof fp);
  }
  return fp;
}

int main(int argc, char** argv) {
  params P = {"full", 41, 1, 500000, 500000, 4096, 100000, 200000, 0x0ff4ea9ull};
  const char* json_path = NULL;
  const char* only = NULL;
  const char* cc_version = "";
  const char* cflags = "";
  int samples_override = 0, list = 0;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (!strcmp(a, "--quick")) {
      P.mode = "quick";
      P.samples = 11;
      P.pair_iters = P.ring_iters = 150000;
      P.churn_steps = 30000;
    } else if (!strcmp(a, "--selftest")) {
      P.mode = "selftest";
      P.samples = 5;
      P.pair_iters = P.ring_iters = 3000;
      P.churn_live = 256;
      P.churn_steps = 3000;
      P.fp_steps = 3000;
    } else if (!strcmp(a, "--json") && i + 1 < argc) {
      json_path = argv[++i];
    } else if (!strcmp(a, "--samples") && i + 1 < argc) {
      samples_override = atoi(argv[++i]);
    } else if (!strcmp(a, "--seed") && i + 1 < argc) {
      P.seed = strtoull(argv[++i], NULL, 0);
    } else if (!strcmp(a, "--only") && i + 1 < argc) {
      only = argv[++i];
    } else if (!strcmp(a, "--cc-version") && i + 1 < argc) {
      cc_version = argv[++i];
    } else if (!strcmp(a, "--cflags") && i + 1 < argc) {
      cflags = argv[++i];
    } else if (!strcmp(a, "--list")) {
      list = 1;
    } else {
      usage();
    }
  }
  if (samples_override > 0) P.samples = samples_override;
  if (P.samples < 1) P.samples = 1;
  const int selftest = !strcmp(P.mode, "selftest");
  const int progress = !selftest && isatty(2);

  /* ---- contestants ---------------------------------------------------------- */
  for (int i = 0; i < N_ALL; i++) {
    contestant* c = &all_contestants[i];
    if (list) {
      printf("%-10s %s\n", c->name, c->description);
      continue;
    }
    if (only && strcmp(c->name, "glibc") != 0 && !name_in_list(c->name, only)) continue;
    if (c->load && c->load() != 0) continue;
    if (!strcmp(c->name, "glibc")) glibc_idx = NC;
    C[NC++] = c;
  }
  if (list) return 0;
  if (glibc_idx < 0) die("glibc must be a contestant (it is the baseline)");

  /* Which object this process's malloc really resolves to: "glibc" is only
   * glibc if nothing interposed malloc (LD_PRELOAD, a linked allocator). */
  char malloc_from[512] = "unknown";
  {
    Dl_info di;
    void* (*volatile mp)(size_t) = malloc;
    if (dladdr((void*)mp, &di) && di.dli_fname) snprintf(malloc_from, sizeof malloc_from, "%s", di.dli_fname);
    if (!strstr(malloc_from, "libc.so") && !strstr(malloc_from, "libc-"))
      fprintf(stderr, "bench: WARNING: malloc resolves to %s, not glibc's libc.so\n", malloc_from);
  }

  /* ---- workloads --------------------------------------------------------------- */
  static const size_t sizes[] = {16, 64, 256, 1024, 4096};
  enum { NSIZES = sizeof sizes / sizeof sizes[0] };
  workload W[2 * NSIZES + 1];
  int NW = 0;
  for (int k = 0; k < NSIZES; k++) {
    snprintf(W[NW].name, sizeof W[NW].name, "pair-%zu", sizes[k]);
    W[NW].kind = W_PAIR;
    W[NW].size = sizes[k];
    W[NW].iters = P.pair_iters;
    NW++;
  }
  for (int k = 0; k < NSIZES; k++) {
    snprintf(W[NW].name, sizeof W[NW].name, "ws64-%zu", sizes[k]);
    W[NW].kind = W_RING;
    W[NW].size = sizes[k];
    W[NW].iters = P.ring_iters;
    NW++;
  }
  snprintf(W[NW].name, sizeof W[NW].name, "churn");
  W[NW].kind = W_CHURN;
  W[NW].size = 0;
  W[NW].iters = P.churn_steps;
  NW++;

  generate_sequences(&P);

  /* ---- environment ------------------------------------------------------------ */
  char cpu[256], thp[128], date[64];
  struct utsname un;
  read_first_line_matching("/proc/cpuinfo", "model name", cpu, sizeof cpu);
  if (!cpu[0]) read_first_line_matching("/proc/cpuinfo", "Hardware", cpu, sizeof cpu);
  if (!cpu[0]) snprintf(cpu, sizeof cpu, "unknown");
  read_file_line("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof thp);
  uname(&un);
  {
    time_t t = time(NULL);
    struct tm tmv;
    gmtime_r(&t, &tmv);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

  printf("offheap native benchmark (%s): %s, %ld CPU(s), %s\n", P.mode, cpu, ncpu,
         glibc_version());
  printf("contestants:");
  for (int k = 0; k < NC; k++) printf(" %s", C[k]->name);
  printf("\n");
  for (int k = 0; k < NC; k++)
    if (C[k]->version && k > 0 && C[k - 1]->version != C[k]->version)
      printf("  %s: %s\n", C[k]->name, C[k]->version());
  fflush(stdout);

  /* ---- churn footprint (before any timing: forked children, fresh heaps) ------ */
  footprint* FP = (footprint*)harness_alloc(NC * sizeof *FP);
  for (int k = 0; k < NC; k++) FP[k] = measure_footprint(C[k], &P);

  /* ---- selftest: realloc keeps contents --------------------------------------- */
  int* realloc_ok = (int*)harness_alloc(NC * sizeof(int));
  for (int k = 0; k < NC; k++) {
    contestant* c = C[k];
    void* ctx = NULL;
    if (c->setup && c->setup(&ctx) != 0) die("%s: setup failed", c->name);
    int ok = 1;
    uint8_t* p = (uint8_t*)c->malloc_fn(ctx, 100);
    if (!p) ok = 0;
    if (ok) {
      for (int i = 0; i < 100; i++) p[i] = (uint8_t)(i + 1);
      uint8_t* q = (uint8_t*)c->realloc_fn(ctx, p, 5000);
      if (!q) ok = 0;
      else p = q;
    }
    for (int i = 0; ok && i < 100; i++) ok = p[i] == (uint8_t)(i + 1);
    if (ok) {
      memset(p + 100, 0xAB, 4900);
      uint8_t* q = (uint8_t*)c->realloc_fn(ctx, p, 40);
      if (!q) ok = 0;
      else p = q;
    }
    for (int i = 0; ok && i < 40; i++) ok = p[i] == (uint8_t)(i + 1);
    if (p) c->free_fn(ctx, p);
    if (c->check && c->check(ctx) != 0) ok = 0;
    if (c->teardown) c->teardown(ctx);
    realloc_ok[k] = ok;
    if (!ok) {
      fprintf(stderr, "bench: %s: realloc sanity check failed\n", c->name);
      verify_failures++;
    }
  }

  /* ---- timing -------------------------------------------------------------------- */
  cell* R = (cell*)harness_alloc((size_t)NW * NC * sizeof *R);
  double* sample_store = (double*)harness_alloc((size_t)NW * NC * P.samples * sizeof(double));
  double* wall_store = (double*)harness_alloc((size_t)NW * NC * P.samples * sizeof(double));
  int* check_ok = (int*)harness_alloc((size_t)NW * NC * sizeof(int));
  int* cell_verify_fail = (int*)harness_alloc((size_t)NW * NC * sizeof(int));
  void** ctx = (void**)harness_alloc(NC * sizeof(void*));
  churn_state* CS = (churn_state*)harness_alloc(NC * sizeof(churn_state));
  double* sorted = (double*)harness_alloc(P.samples * sizeof(double));
  uint64_t t_start = now_ns();

  /* Harness overhead: the pair loop over the null allocator. */
  double overhead_ns;
  {
    for (int s = -P.warmup; s < P.samples; s++) {
      double ns = (double)run_pair(&null_contestant, NULL, 16, P.pair_iters) / P.pair_iters;
      if (s >= 0) sorted[s] = ns;
    }
    qsort(sorted, P.samples, sizeof(double), cmp_double);
    overhead_ns = sorted[P.samples / 2];
  }

  for (int w = 0; w < NW; w++) {
    const workload* wl = &W[w];
    for (int k = 0; k < NC; k++) {
      ctx[k] = NULL;
      if (C[k]->setup && C[k]->setup(&ctx[k]) != 0) die("%s: setup failed", C[k]->name);
      R[w * NC + k].samples = sample_store + ((size_t)w * NC + k) * P.samples;
      R[w * NC + k].wall_samples = wall_store + ((size_t)w * NC + k) * P.samples;
      if (wl->kind == W_CHURN) {
        CS[k] = churn_state_new(P.churn_live);
        churn_fill(C[k], ctx[k], &CS[k], P.churn_live, selftest ? MODE_VERIFY : MODE_TIME);
      }
    }
    /* Rounds interleave the contestants (rotating who goes first), so slow
     * drift of the machine spreads over all of them alike. */
    for (int round = -P.warmup; round < P.samples; round++) {
      for (int j = 0; j < NC; j++) {
        int k = (j + (round + P.warmup)) % NC;
        const contestant* c = C[k];
        uint64_t dt;
        int vf0 = verify_failures;
        switch (wl->kind) {
          case W_PAIR:
            dt = selftest ? run_pair_verify(c, ctx[k], wl->size, wl->iters)
                          : run_pair(c, ctx[k], wl->size, wl->iters);
            break;
          case W_RING:
            dt = selftest ? run_ring_verify(c, ctx[k], wl->size, wl->iters)
                          : run_ring(c, ctx[k], wl->size, wl->iters);
            break;
          default:
            dt = selftest ? run_churn_verify(c, ctx[k], &CS[k], wl->iters)
                          : run_churn(c, ctx[k], &CS[k], wl->iters);
            break;
        }
        cell_verify_fail[w * NC + k] += verify_failures - vf0;
        double ns = (double)dt / (double)wl->iters;
        if (round < 0) {
          R[w * NC + k].warmup_ns = ns;
        } else {
          R[w * NC + k].samples[round] = ns;
          R[w * NC + k].wall_samples[round] = (double)last_wall_ns / (double)wl->iters;
        }
      }
    }
    for (int k = 0; k < NC; k++) {
      cell* ce = &R[w * NC + k];
      memcpy(sorted, ce->samples, P.samples * sizeof(double));
      qsort(sorted, P.samples, sizeof(double), cmp_double);
      ce->min = sorted[0];
      ce->max = sorted[P.samples - 1];
      ce->median = P.samples % 2 ? sorted[P.samples / 2]
                                 : 0.5 * (sorted[P.samples / 2 - 1] + sorted[P.samples / 2]);
      memcpy(sorted, ce->wall_samples, P.samples * sizeof(double));
      qsort(sorted, P.samples, sizeof(double), cmp_double);
      ce->wall_median = P.samples % 2 ? sorted[P.samples / 2]
                                      : 0.5 * (sorted[P.samples / 2 - 1] + sorted[P.samples / 2]);
      check_ok[w * NC + k] = 1;
      if (wl->kind == W_CHURN) {
        /* Check the heap with the live set in it, then drain and check again. */
        if (C[k]->check && C[k]->check(ctx[k]) != 0) check_ok[w * NC + k] = 0;
        int vf0 = verify_failures;
        churn_drain(C[k], ctx[k], &CS[k], P.churn_live, selftest ? MODE_VERIFY : MODE_TIME);
        cell_verify_fail[w * NC + k] += verify_failures - vf0;
        churn_state_free(&CS[k], P.churn_live);
      }
      if (C[k]->check && C[k]->check(ctx[k]) != 0) check_ok[w * NC + k] = 0;
      if (!check_ok[w * NC + k]) {
        fprintf(stderr, "bench: %s: heap check failed in %s\n", C[k]->name, wl->name);
        verify_failures++;
      }
      if (C[k]->teardown) C[k]->teardown(ctx[k]);
    }
    if (progress) {
      fprintf(stderr, "\r  %-10s done (%d/%d, %.1f s)   ", wl->name, w + 1, NW,
              (double)(now_ns() - t_start) / 1e9);
      fflush(stderr);
    }
  }
  if (progress) fprintf(stderr, "\r%60s\r", "");
  double elapsed = (double)(now_ns() - t_start) / 1e9;

  /* ---- terminal table ------------------------------------------------------------- */
  printf("\nns per malloc+free pair (ws64/churn: per step), thread CPU time; median of %d samples\n"
         "after %d warm-up; cell = median ns, ratio to glibc, spread (max-min)/median.\n"
         "Every cell includes %.2f ns of harness overhead (loop + 2 indirect calls, measured\n"
         "with a null allocator).\n\n",
         P.samples, P.warmup, overhead_ns);
  printf("%-10s", "workload");
  for (int k = 0; k < NC; k++) printf(" | %-20s", C[k]->name);
  printf("\n%-10s", "----------");
  for (int k = 0; k < NC; k++) printf("-+-%.20s", "--------------------");
  printf("\n");
  for (int w = 0; w < NW; w++) {
    printf("%-10s", W[w].name);
    double base = R[w * NC + glibc_idx].median;
    for (int k = 0; k < NC; k++) {
      const cell* ce = &R[w * NC + k];
      double spread = ce->median > 0 ? 100.0 * (ce->max - ce->min) / ce->median : 0;
      printf(" | %7.2f %5.2fx %4.0f%% ", ce->median, ce->median / base, spread);
    }
    printf("\n");
  }

  printf("\nchurn footprint: %zu live blocks, %zu steps, sizes %u B..%u KiB log-uniform;\n"
         "peak live = %.2f MiB requested. RSS = peak RSS (VmHWM) minus RSS before the run,\n"
         "in a forked child with every page of every block touched; alloc = the allocator's\n"
         "own peak footprint (mspace_max_footprint / dlmalloc_max_footprint).\n\n",
         P.churn_live, P.fp_steps, CHURN_MIN, CHURN_MAX / 1024, churn_peak_live / 1048576.0);
  printf("%-10s | %12s %7s | %12s %7s\n", "contestant", "peak RSS MiB", "/live", "alloc MiB",
         "/live");
  for (int k = 0; k < NC; k++) {
    const footprint* f = &FP[k];
    printf("%-10s | ", C[k]->name);
    if (f->ok) {
      double rss = (double)(f->hwm_kb - f->baseline_rss_kb) * 1024.0;
      printf("%12.2f %7.3f | ", rss / 1048576.0, rss / (double)churn_peak_live);
    } else {
      printf("%12s %7s | ", "n/a", "");
    }
    if (f->ok && f->alloc_max_footprint)
      printf("%12.2f %7.3f\n", f->alloc_max_footprint / 1048576.0,
             (double)f->alloc_max_footprint / (double)churn_peak_live);
    else
      printf("%12s %7s\n", "-", "");
  }

  /* ---- DESIGN.md targets (informational) ------------------------------------------ */
  if (!selftest) printf("\nDESIGN.md targets (informational, not a gate):\n");
  const char* tnames[] = {"dl", "dl+lock"};
  const double tlimit[] = {1.0, 1.3};
  for (int t = 0; t < 2; t++) {
    int k = -1;
    for (int j = 0; j < NC; j++)
      if (!strcmp(C[j]->name, tnames[t])) k = j;
    if (k < 0 || selftest) continue;
    double worst = 0;
    for (int w = 0; w < NW; w++)
      if (W[w].kind == W_PAIR && W[w].size <= 256) {
        double r = R[w * NC + k].median / R[w * NC + glibc_idx].median;
        if (r > worst) worst = r;
      }
    printf("  %-8s pair 16-256 B: worst %.2fx glibc (target <= %.1fx): %s\n", tnames[t], worst,
           tlimit[t], worst <= tlimit[t] ? "met" : "NOT met");
  }
  for (int k = 0; k < NC; k++) {
    if (selftest || strcmp(C[k]->name, "dl") != 0 || !FP[k].ok || !FP[k].alloc_max_footprint)
      continue;
    double r = (double)FP[k].alloc_max_footprint / (double)churn_peak_live;
    printf("  %-8s churn peak footprint / peak live: %.3f (target <= 1.10): %s\n", "dl", r,
           r <= 1.10 ? "met" : "NOT met");
  }
  printf("\ntimed part: %.1f s\n", elapsed);

  /* ---- JSON ------------------------------------------------------------------------ */
  if (json_path) {
    FILE* f = fopen(json_path, "w");
    if (!f) die("cannot write %s: %s", json_path, strerror(errno));
    fprintf(f, "{\n  \"schema\": 1,\n  \"tool\": \"offheap bench/native\",\n  \"mode\": ");
    json_str(f, P.mode);
    fprintf(f, ",\n  \"date\": ");
    json_str(f, date);
    fprintf(f, ",\n  \"unit\": \"ns per malloc+free pair (ws64, churn: per step = one free + one malloc)\"");
    fprintf(f, ",\n  \"clock\": \"samples_ns, median/min/max: CLOCK_THREAD_CPUTIME_ID; wall_*: CLOCK_MONOTONIC\"");
    fprintf(f, ",\n  \"host\": {\"cpu_model\": ");
    json_str(f, cpu);
    fprintf(f, ", \"online_cpus\": %ld, \"kernel\": ", ncpu);
    json_str(f, un.release);
    fprintf(f, ", \"machine\": ");
    json_str(f, un.machine);
    fprintf(f, ", \"thp\": ");
    json_str(f, thp);
    fprintf(f, "},\n  \"compiler\": {\"cc_version\": ");
    json_str(f, cc_version);
    fprintf(f, ", \"__VERSION__\": ");
    json_str(f, __VERSION__);
    fprintf(f, ", \"cflags\": ");
    json_str(f, cflags);
    fprintf(f, "},\n  \"libc\": ");
    json_str(f, glibc_version());
    fprintf(f, ",\n  \"malloc_resolves_to\": ");
    json_str(f, malloc_from);
    fprintf(f, ",\n  \"params\": {\"samples\": %d, \"warmup\": %d, \"pair_iters\": %zu, "
               "\"ring_iters\": %zu, \"ring_blocks\": %d, \"churn_live\": %zu, "
               "\"churn_steps\": %zu, \"footprint_steps\": %zu, \"churn_min\": %u, "
               "\"churn_max\": %u, \"seed\": %llu},\n",
            P.samples, P.warmup, P.pair_iters, P.ring_iters, RING_BLOCKS, P.churn_live,
            P.churn_steps, P.fp_steps, CHURN_MIN, CHURN_MAX, (unsigned long long)P.seed);
    fprintf(f, "  \"harness_overhead_ns\": ");
    json_num(f, overhead_ns);
    fprintf(f, ",\n  \"baseline\": \"glibc\",\n  \"contestants\": [");
    for (int k = 0; k < NC; k++) {
      fprintf(f, "%s\n    {\"name\": ", k ? "," : "");
      json_str(f, C[k]->name);
      fprintf(f, ", \"description\": ");
      json_str(f, C[k]->description);
      fprintf(f, ", \"version\": ");
      json_str(f, C[k]->version ? C[k]->version() : "offheap (this tree)");
      fprintf(f, ", \"realloc_ok\": %s}", realloc_ok[k] ? "true" : "false");
    }
    fprintf(f, "\n  ],\n  \"workloads\": [");
    for (int w = 0; w < NW; w++) {
      static const char* kinds[] = {"pair", "ws64", "churn"};
      fprintf(f, "%s\n    {\"name\": ", w ? "," : "");
      json_str(f, W[w].name);
      fprintf(f, ", \"kind\": \"%s\", \"size\": %zu, \"iters\": %zu}", kinds[W[w].kind], W[w].size,
              W[w].iters);
    }
    fprintf(f, "\n  ],\n  \"results\": [");
    int first = 1;
    for (int w = 0; w < NW; w++) {
      double base = R[w * NC + glibc_idx].median;
      for (int k = 0; k < NC; k++) {
        const cell* ce = &R[w * NC + k];
        fprintf(f, "%s\n    {\"workload\": ", first ? "" : ",");
        first = 0;
        json_str(f, W[w].name);
        fprintf(f, ", \"contestant\": ");
        json_str(f, C[k]->name);
        fprintf(f, ", \"median_ns\": ");
        json_num(f, ce->median);
        fprintf(f, ", \"min_ns\": ");
        json_num(f, ce->min);
        fprintf(f, ", \"max_ns\": ");
        json_num(f, ce->max);
        fprintf(f, ", \"ratio_vs_glibc\": ");
        json_num(f, ce->median / base);
        fprintf(f, ", \"heap_check\": %s", !C[k]->check ? "null" : check_ok[w * NC + k] ? "true" : "false");
        fprintf(f, ", \"verify_failures\": %d", cell_verify_fail[w * NC + k]);
        fprintf(f, ", \"warmup_ns\": ");
        json_num(f, ce->warmup_ns);
        fprintf(f, ", \"samples_ns\": [");
        for (int s = 0; s < P.samples; s++) {
          if (s) fputs(", ", f);
          json_num(f, ce->samples[s]);
        }
        fprintf(f, "], \"wall_median_ns\": ");
        json_num(f, ce->wall_median);
        fprintf(f, ", \"wall_samples_ns\": [");
        for (int s = 0; s < P.samples; s++) {
          if (s) fputs(", ", f);
          json_num(f, ce->wall_samples[s]);
        }
        fprintf(f, "]}");
      }
    }
    fprintf(f, "\n  ],\n  \"churn_footprint\": {\n    \"peak_live_bytes\": %zu,\n", churn_peak_live);
    fprintf(f, "    \"method\": \"per contestant, a forked child with a fresh heap runs the churn "
               "sequence touching every page of every block; rss_delta = VmHWM after the steps "
               "minus VmRSS before (VmHWM reset through /proc/self/clear_refs when permitted); "
               "alloc_max_footprint = mspace_max_footprint / dlmalloc_max_footprint\",\n");
    fprintf(f, "    \"contestants\": [");
    for (int k = 0; k < NC; k++) {
      const footprint* fp = &FP[k];
      fprintf(f, "%s\n      {\"name\": ", k ? "," : "");
      json_str(f, C[k]->name);
      if (fp->ok) {
        double rss = (double)(fp->hwm_kb - fp->baseline_rss_kb) * 1024.0;
        fprintf(f, ", \"ok\": true, \"hwm_reset\": %s, \"rss_delta_bytes\": %.0f, \"rss_ratio\": ",
                fp->hwm_reset ? "true" : "false", rss);
        json_num(f, rss / (double)churn_peak_live);
        if (fp->alloc_max_footprint) {
          fprintf(f, ", \"alloc_max_footprint_bytes\": %zu, \"alloc_footprint_ratio\": ",
                  fp->alloc_max_footprint);
          json_num(f, (double)fp->alloc_max_footprint / (double)churn_peak_live);
        } else {
          fprintf(f, ", \"alloc_max_footprint_bytes\": null, \"alloc_footprint_ratio\": null");
        }
        fputc('}', f);
      } else {
        fprintf(f, ", \"ok\": false}");
      }
    }
    fprintf(f, "\n    ]\n  },\n  \"verify_failures\": %d,\n  \"timed_seconds\": %.2f\n}\n",
            verify_failures, elapsed);
    if (fclose(f) != 0) die("writing %s failed", json_path);
  }

  if (verify_failures) {
    fprintf(stderr, "bench: %d verification failure(s)\n", verify_failures);
    return 1;
  }
  return 0;
}
