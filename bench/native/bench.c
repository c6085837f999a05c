/*
 * offheap — native allocator benchmark.
 *
 * Compares, in one process run, offheap's dlmalloc-design core (csrc/dlmalloc.c)
 * without and with its lock hooks, and the buddy allocator (csrc/buddy.c),
 * against glibc malloc and, when they were found at build time, mimalloc and
 * jemalloc (loaded with dlopen(RTLD_LOCAL) so that their exported malloc/free
 * never replace glibc's in this process).
 *
 * Built and run by bench/native/run.sh; see bench/native/README.md for what
 * the workloads measure and how to read the output.
 *
 *   native-bench [--quick | --selftest] [--json PATH] [--samples N] [--seed N]
 *                [--only NAME[,NAME...]] [--cc-version STR] [--cflags STR]
 *
 * The unit is nanoseconds per operation: per malloc+free pair (pair, phase),
 * per step = one free + one malloc (ws64, churn; larson: per step per
 * thread), per realloc call (realloc). Samples are thread CPU time, except the
 * threaded larson rows, which are the wall-clock time of the parallel phase.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "dlmalloc.h"
#include "../../test/c/port_test.h" /* the port: test/c/port_test.c, built with PORT_TEST_LEAN */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
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
 * How the threaded (larson-Nt) rows give heaps to their threads. An unlocked
 * heap must only ever be used by one thread, so it gets one heap per thread;
 * a locked heap is the shared-heap configuration; the process allocators
 * (glibc, mimalloc, jemalloc) are called from every thread and bring their
 * own per-thread caches/arenas.
 */
typedef enum {
  HEAP_PROCESS = 0, /* malloc/free of the process allocator from every thread */
  HEAP_PER_THREAD,  /* `setup` once per thread; a thread frees only its own blocks */
  HEAP_SHARED,      /* `setup` once; all threads use that heap (it takes its lock) */
} heap_mode;
static const char* const heap_mode_name[] = {"process", "per-thread", "shared"};

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
  heap_mode threaded; /* heaps of the threaded rows */
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
                                           NULL, NULL, NULL, NULL, NULL, NULL, NULL, HEAP_PROCESS};

/*
 * The table. Column order of the output follows it. glibc must stay in it: it
 * is the baseline of every ratio.
 *
 * Another allocator is one entry: wrappers like the dl_* ones above (setup
 * creates a fresh heap and stores it in *ctx) and its core source compiled in
 * run.sh, as bench_buddy_entry.c does for csrc/buddy.c.
 */
static contestant all_contestants[] = {
    {"dl", "offheap dlmalloc, mspace, no lock (create_mspace(0, 0)); threaded rows: one per thread",
     dl_malloc, dl_free, dl_realloc, dl_setup_nolock, dl_teardown, dl_max_footprint, dl_check,
     NULL, NULL, HEAP_PER_THREAD},
    {"dl+lock", "offheap dlmalloc, locked mspace (create_mspace(0, 1)), CAS spinlock hooks; "
     "threaded rows: one shared by all threads",
     dl_malloc, dl_free, dl_realloc, dl_setup_lock, dl_teardown, dl_max_footprint, dl_check,
     NULL, NULL, HEAP_SHARED},
    {"dl-global", "offheap dlmalloc, global heap dlmalloc/dlfree (locked), CAS spinlock hooks",
     dlg_malloc, dlg_free, dlg_realloc, NULL, NULL, dlg_max_footprint, dlg_check, NULL, NULL,
     HEAP_SHARED},
    BENCH_BUDDY_CONTESTANTS
    {"glibc", "glibc malloc/free (ptmalloc2 with tcache)", glibc_malloc, glibc_free, glibc_realloc,
     NULL, NULL, NULL, NULL, NULL, glibc_version, HEAP_PROCESS},
#ifdef HAVE_MIMALLOC
    {"mimalloc", "mimalloc mi_malloc/mi_free (Debian libmimalloc, dlopen'd)", mi_w_malloc, mi_w_free,
     mi_w_realloc, NULL, NULL, NULL, NULL, mi_load, mi_w_version, HEAP_PROCESS},
#endif
#ifdef HAVE_JEMALLOC
    {"jemalloc", "jemalloc mallocx/dallocx (Debian libjemalloc, dlopen'd)", je_w_malloc, je_w_free,
     je_w_realloc, NULL, NULL, NULL, NULL, je_load, je_w_version, HEAP_PROCESS},
#endif
};
#define N_ALL ((int)(sizeof all_contestants / sizeof all_contestants[0]))

static contestant* C[N_ALL]; /* the contestants in this run */
static int NC;
static int glibc_idx = -1;

/* ========================================================================== */
/* Workloads                                                                   */
/* ========================================================================== */

typedef enum { W_PAIR, W_RING, W_CHURN, W_REALLOC, W_PHASE, W_LARSON } wkind;
static const char* const wkind_name[] = {"pair", "ws64", "churn", "realloc", "phase", "larson"};

typedef struct workload {
  char name[32];
  wkind kind;
  size_t size;  /* W_PAIR, W_RING, W_PHASE: the request size (W_PHASE: 0 = mixed sizes);
                   W_REALLOC: the final size */
  size_t iters; /* operations per sample, the divisor of every per-operation figure:
                   pairs (W_PAIR, W_PHASE), steps (W_RING, W_CHURN; W_LARSON: steps of
                   each thread), realloc calls (W_REALLOC) */
  size_t reps;  /* W_REALLOC: growth sequences per sample; W_PHASE: phases per sample */
  int variant;  /* W_REALLOC: which growth sequence (grow_seq[]) */
  int threads;  /* W_LARSON: worker threads */
} workload;

enum { MODE_TIME = 0, MODE_VERIFY = 1, MODE_FOOTPRINT = 2 };

#define RING_BLOCKS 64
#define RING_PATTERN 4096 /* length of the cyclic victim sequence of W_RING */
#define CHURN_MIN 16u
#define CHURN_MAX 65536u
#define REALLOC_START 16u
#define PHASE_MIN 16u
#define PHASE_MAX 4096u
#define LARSON_MIN 16u
#define LARSON_MAX 1024u
#define LARSON_MAX_THREADS 4

typedef struct params {
  const char* mode;
  int samples, warmup;
  size_t pair_iters, ring_iters;
  size_t churn_live, churn_steps;
  size_t fp_steps; /* steps of the churn footprint run */
  uint64_t seed;
  size_t realloc_max;  /* the growth sequences end at this size */
  size_t realloc_reps; /* growth sequences per sample */
  size_t phase_blocks; /* blocks allocated (then all freed) per phase */
  size_t phase_pairs;  /* about this many malloc+free pairs per sample */
  size_t larson_live;  /* live blocks per thread */
  size_t larson_steps; /* steps per thread per sample */
} params;

/* Pre-generated sequences, identical for every contestant. */
static uint8_t* ring_victims;     /* [RING_PATTERN], values < RING_BLOCKS */
static uint32_t* churn_init_sizes; /* [churn_live] */
static uint32_t* churn_sizes;     /* [max(churn_steps, fp_steps)] */
static uint32_t* churn_victims;   /* [max(churn_steps, fp_steps)] */
static size_t churn_peak_live;    /* max over time of the sum of live requested bytes */

/* Growth sequences of W_REALLOC: REALLOC_START, then x2 (variant 0) or
 * x1.25 (variant 1) per step, clamped to realloc_max. */
#define N_GROW 2
static const double grow_factor[N_GROW] = {2.0, 1.25};
static const char* const grow_name[N_GROW] = {"realloc-2x", "realloc-1.25x"};
static size_t* grow_seq[N_GROW];
static size_t grow_len[N_GROW]; /* entries; realloc calls per sequence = grow_len - 1 */

static uint32_t* phase_sizes; /* [phase_blocks] log-uniform PHASE_MIN..PHASE_MAX (phase-mix) */
static uint32_t* phase_order; /* [phase_blocks] a permutation: the free order of phase-mix */
static void** phase_slots;    /* [phase_blocks] */

/* Per-thread sequences of the larson rows: thread t of every thread count
 * replays sequence t, so thread 0 does the same work in 1, 2 and 4 threads. */
static uint32_t* larson_init_sizes[LARSON_MAX_THREADS]; /* [larson_live] */
static uint32_t* larson_sizes[LARSON_MAX_THREADS];      /* [larson_steps] */
static uint32_t* larson_victims[LARSON_MAX_THREADS];    /* [larson_steps] */

/* Per-block bookkeeping of the ring workload. */
static void* slots[RING_BLOCKS];
static uint8_t slot_tag[RING_BLOCKS];

/* Counted atomically: the threaded rows verify blocks in several threads. */
static int verify_failures;
static int count_failure(void) { return __atomic_fetch_add(&verify_failures, 1, __ATOMIC_RELAXED); }
static int failures_now(void) { return __atomic_load_n(&verify_failures, __ATOMIC_RELAXED); }

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
      if (count_failure() < 5)
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

static void live_fill(const contestant* c, void* ctx, churn_state* st, const uint32_t* init_sizes,
                      size_t live, int mode) {
  for (size_t k = 0; k < live; k++) {
    size_t n = init_sizes[k];
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

static void churn_fill(const contestant* c, void* ctx, churn_state* st, size_t live, int mode) {
  live_fill(c, ctx, st, churn_init_sizes, live, mode);
}

static void live_drain(const contestant* c, void* ctx, churn_state* st, size_t live,
                       const char* wname, int mode) {
  for (size_t k = 0; k < live; k++) {
    if (mode == MODE_VERIFY) check_block(c, wname, st->slots[k], st->size[k], st->tag[k]);
    c->free_fn(ctx, st->slots[k]);
  }
}
static void churn_drain(const contestant* c, void* ctx, churn_state* st, size_t live, int mode) {
  live_drain(c, ctx, st, live, "churn", mode);
}

/* The Larson-style step loop shared by W_CHURN and W_LARSON: free the victim,
 * allocate its replacement, write it. Not timed here (the callers time it). */
static inline __attribute__((always_inline)) void steps_body(const contestant* c, void* ctx,
                                                             churn_state* st,
                                                             const uint32_t* victims,
                                                             const uint32_t* sizes, size_t steps,
                                                             const char* wname, int mode) {
  void* (*m)(void*, size_t) = c->malloc_fn;
  void (*f)(void*, void*) = c->free_fn;
  void** slots = st->slots;
  uint8_t salt = (uint8_t)(st->pass++ * 29);
  for (size_t i = 0; i < steps; i++) {
    uint32_t v = victims[i];
    size_t n = sizes[i];
    if (mode == MODE_VERIFY) check_block(c, wname, slots[v], st->size[v], st->tag[v]);
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
}

static inline __attribute__((always_inline)) uint64_t churn_body(const contestant* c, void* ctx,
                                                                 churn_state* st, size_t steps,
                                                                 int mode) {
  tstamp t0 = stamp();
  steps_body(c, ctx, st, churn_victims, churn_sizes, steps, "churn", mode);
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

/* ---- W_REALLOC: grow one buffer from REALLOC_START to realloc_max by
 *      realloc, x2 or x1.25 per call, then free it; `reps` times per sample.
 *      Every call must keep the contents. The timed loop writes the byte at
 *      the new end and reads back the first byte and the byte written at the
 *      previous end, so a moving realloc has something to copy and a lost
 *      copy is counted (cheaply: one compare per call, not a scan). The
 *      verify mode fills every grown part with its own tag and checks the
 *      whole old part after every call. ----------------------------------- */
#define GROW_FIRST 0x5Au /* the first byte of the buffer, timed mode */
static inline uint8_t grow_tag(size_t k) { return (uint8_t)(k * 37 + 11); }

static inline __attribute__((always_inline)) uint64_t realloc_body(const contestant* c, void* ctx,
                                                                   int variant, size_t reps,
                                                                   int mode) {
  void* (*m)(void*, size_t) = c->malloc_fn;
  void* (*r)(void*, void*, size_t) = c->realloc_fn;
  void (*f)(void*, void*) = c->free_fn;
  const size_t* seq = grow_seq[variant];
  const size_t len = grow_len[variant];
  unsigned bad = 0;
  tstamp t0 = stamp();
  for (size_t rep = 0; rep < reps; rep++) {
    uint8_t* p = (uint8_t*)m(ctx, seq[0]);
    if (__builtin_expect(p == NULL, 0)) fail_null(c, seq[0]);
    if (mode == MODE_VERIFY) {
      fill_block(p, seq[0], grow_tag(0));
    } else {
      p[0] = GROW_FIRST;
      p[seq[0] - 1] = grow_tag(0);
    }
    for (size_t k = 1; k < len; k++) {
      size_t old = seq[k - 1], n = seq[k];
      uint8_t* q = (uint8_t*)r(ctx, p, n);
      if (__builtin_expect(q == NULL, 0)) fail_null(c, n);
      if (mode == MODE_VERIFY) {
        size_t lo = 0;
        for (size_t j = 0; j < k; j++) {
          check_block(c, grow_name[variant], q + lo, seq[j] - lo, grow_tag(j));
          lo = seq[j];
        }
        fill_block(q + old, n - old, grow_tag(k));
      } else {
        bad |= (unsigned)(q[0] != GROW_FIRST) | (unsigned)(q[old - 1] != grow_tag(k - 1));
        q[n - 1] = grow_tag(k);
      }
      p = q;
    }
    f(ctx, p);
  }
  uint64_t dt = elapsed_cpu(t0);
  if (bad && count_failure() < 5)
    fprintf(stderr, "bench: %s/%s: realloc did not keep the contents\n", c->name, grow_name[variant]);
  return dt;
}
static __attribute__((noinline)) uint64_t run_realloc(const contestant* c, void* ctx, int variant,
                                                      size_t reps) {
  return realloc_body(c, ctx, variant, reps, MODE_TIME);
}
static __attribute__((noinline)) uint64_t run_realloc_verify(const contestant* c, void* ctx,
                                                             int variant, size_t reps) {
  return realloc_body(c, ctx, variant, reps, MODE_VERIFY);
}

/* ---- W_PHASE: "fill once, free all": allocate `nblocks` blocks (one byte of
 *      each written), then free them all; `reps` phases per sample. A fixed
 *      size (phase-64) frees in allocation order; size 0 (phase-mix) takes
 *      phase_sizes[] and frees in the pre-generated random order
 *      phase_order[]. This is the pattern of a pool or a per-request arena
 *      emptied at once, where the heap grows and shrinks as a whole. ------- */
static inline __attribute__((always_inline)) uint64_t phase_body(const contestant* c, void* ctx,
                                                                 size_t fixed, size_t nblocks,
                                                                 size_t reps, const char* wname,
                                                                 int mode) {
  void* (*m)(void*, size_t) = c->malloc_fn;
  void (*f)(void*, void*) = c->free_fn;
  void** sl = phase_slots;
  tstamp t0 = stamp();
  for (size_t rep = 0; rep < reps; rep++) {
    uint8_t salt = (uint8_t)(rep * 17 + 1);
    for (size_t i = 0; i < nblocks; i++) {
      size_t n = fixed ? fixed : phase_sizes[i];
      uint8_t* p = (uint8_t*)m(ctx, n);
      if (__builtin_expect(p == NULL, 0)) fail_null(c, n);
      if (mode == MODE_VERIFY) fill_block(p, n, (uint8_t)(i * 13 + salt));
      else *(volatile uint8_t*)p = (uint8_t)i;
      sl[i] = p;
    }
    for (size_t j = 0; j < nblocks; j++) {
      size_t i = fixed ? j : phase_order[j];
      if (mode == MODE_VERIFY)
        check_block(c, wname, sl[i], fixed ? fixed : phase_sizes[i], (uint8_t)(i * 13 + salt));
      f(ctx, sl[i]);
    }
  }
  return elapsed_cpu(t0);
}
static __attribute__((noinline)) uint64_t run_phase(const contestant* c, void* ctx, size_t fixed,
                                                    size_t nblocks, size_t reps,
                                                    const char* wname) {
  return phase_body(c, ctx, fixed, nblocks, reps, wname, MODE_TIME);
}
static __attribute__((noinline)) uint64_t run_phase_verify(const contestant* c, void* ctx,
                                                           size_t fixed, size_t nblocks,
                                                           size_t reps, const char* wname) {
  return phase_body(c, ctx, fixed, nblocks, reps, wname, MODE_VERIFY);
}

/* ---- W_LARSON: the churn step loop in 1, 2 or 4 threads at once -----------
 *
 * Each worker thread owns a live set of larson_live blocks (log-uniform
 * LARSON_MIN..LARSON_MAX) and replays its own pre-generated step sequence
 * (free a random victim, allocate its replacement) on it. Unlike the
 * original Larson benchmark no block moves between threads: in the
 * per-thread configuration each thread has an unlocked heap that no other
 * thread may touch. The workers live for the whole workload, so the live
 * sets persist across samples (a steady-state heap, as in W_CHURN). The main
 * thread releases them for one sample through a barrier and times the
 * parallel phase with the wall clock, from just before the release until the
 * last worker is done: per-thread CPU time would hide what matters here, the
 * time threads wait for each other (lock contention, yields) and how much
 * of the work really runs in parallel. Each worker also measures its own CPU
 * time; the JSON keeps their sum per step (cpu_median_ns).
 */
typedef struct larson_pool larson_pool;
typedef struct larson_thread {
  larson_pool* pool;
  int id;          /* also the index of its sequences */
  void* ctx;       /* the heap this thread allocates from */
  churn_state st;  /* its live set */
  uint64_t cpu_ns; /* its CPU time in the last sample */
  pthread_t tid;
} larson_thread;

struct larson_pool {
  const contestant* c;
  int threads, mode;
  size_t live, steps;
  int quit;               /* set by the main thread before the last barrier */
  pthread_barrier_t bar;  /* threads + 1: the workers and the main thread */
  larson_thread th[LARSON_MAX_THREADS];
};

static __attribute__((noinline)) void larson_steps_time(larson_thread* t) {
  steps_body(t->pool->c, t->ctx, &t->st, larson_victims[t->id], larson_sizes[t->id],
             t->pool->steps, "larson", MODE_TIME);
}
static __attribute__((noinline)) void larson_steps_verify(larson_thread* t) {
  steps_body(t->pool->c, t->ctx, &t->st, larson_victims[t->id], larson_sizes[t->id],
             t->pool->steps, "larson", MODE_VERIFY);
}

static void* larson_worker(void* arg) {
  larson_thread* t = (larson_thread*)arg;
  larson_pool* lp = t->pool;
  /* The live set is allocated by the thread that will use it, so allocators
   * with thread caches or per-thread arenas place it where they would. */
  live_fill(lp->c, t->ctx, &t->st, larson_init_sizes[t->id], lp->live, lp->mode);
  pthread_barrier_wait(&lp->bar); /* ready: every live set is filled */
  for (;;) {
    pthread_barrier_wait(&lp->bar); /* start of a sample, or the end */
    if (__atomic_load_n(&lp->quit, __ATOMIC_ACQUIRE)) break;
    uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    if (lp->mode == MODE_VERIFY) larson_steps_verify(t);
    else larson_steps_time(t);
    t->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    pthread_barrier_wait(&lp->bar); /* end of the sample */
  }
  live_drain(lp->c, t->ctx, &t->st, lp->live, "larson", lp->mode);
  return NULL;
}

/* Makes the heap(s) and starts the workers; returns once every live set is
 * filled (nothing of that is timed). */
static larson_pool* larson_start(const contestant* c, int threads, const params* P, int mode) {
  larson_pool* lp = (larson_pool*)harness_alloc(sizeof *lp); /* zero-filled */
  lp->c = c;
  lp->threads = threads;
  lp->mode = mode;
  lp->live = P->larson_live;
  lp->steps = P->larson_steps;
  void* shared = NULL;
  if (c->threaded != HEAP_PER_THREAD && c->setup && c->setup(&shared) != 0)
    die("%s: setup failed", c->name);
  if (pthread_barrier_init(&lp->bar, NULL, (unsigned)threads + 1) != 0)
    die("pthread_barrier_init failed");
  for (int t = 0; t < threads; t++) {
    larson_thread* th = &lp->th[t];
    th->pool = lp;
    th->id = t;
    th->ctx = shared;
    if (c->threaded == HEAP_PER_THREAD && c->setup && c->setup(&th->ctx) != 0)
      die("%s: setup failed", c->name);
    th->st = churn_state_new(lp->live);
  }
  for (int t = 0; t < threads; t++) {
    int e = pthread_create(&lp->th[t].tid, NULL, larson_worker, &lp->th[t]);
    if (e != 0) die("pthread_create failed: %s", strerror(e));
  }
  pthread_barrier_wait(&lp->bar); /* ready */
  return lp;
}

/* One sample: the wall-clock ns of the parallel phase; *cpu_ns = the
 * workers' CPU time, summed. */
static uint64_t larson_sample(larson_pool* lp, uint64_t* cpu_ns) {
  uint64_t t0 = now_ns();
  pthread_barrier_wait(&lp->bar); /* start */
  pthread_barrier_wait(&lp->bar); /* every worker is done */
  uint64_t dt = now_ns() - t0;
  uint64_t cpu = 0;
  for (int t = 0; t < lp->threads; t++) cpu += lp->th[t].cpu_ns;
  *cpu_ns = cpu;
  return dt;
}

/* Checks the heap(s) with the live sets in them (the workers are parked at
 * the barrier), lets the workers drain their sets and exit, checks again and
 * tears the heaps down. Returns 1 when every heap check passed. */
static int larson_stop(larson_pool* lp) {
  const contestant* c = lp->c;
  int nheaps = c->threaded == HEAP_PER_THREAD ? lp->threads : 1;
  int ok = 1;
  for (int h = 0; h < nheaps; h++)
    if (c->check && c->check(lp->th[h].ctx) != 0) ok = 0;
  __atomic_store_n(&lp->quit, 1, __ATOMIC_RELEASE);
  pthread_barrier_wait(&lp->bar);
  for (int t = 0; t < lp->threads; t++) pthread_join(lp->th[t].tid, NULL);
  pthread_barrier_destroy(&lp->bar);
  for (int h = 0; h < nheaps; h++) {
    if (c->check && c->check(lp->th[h].ctx) != 0) ok = 0;
    if (c->teardown) c->teardown(lp->th[h].ctx);
  }
  for (int t = 0; t < lp->threads; t++) churn_state_free(&lp->th[t].st, lp->live);
  munmap(lp, sizeof *lp);
  return ok;
}

/* The next size of a growth sequence: x factor, rounded up to 16 bytes. */
static size_t grow_next(size_t n, double factor) {
  size_t next = ((size_t)ceil((double)n * factor) + 15) & ~(size_t)15;
  return next > n ? next : n + 16;
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

  /* The sequences below were added after the ones above and are drawn after
   * them, so a seed still gives the older workloads the same requests. */

  /* Growth sequences (no randomness): REALLOC_START, then x factor per call
   * rounded up to a multiple of 16 bytes, the last one clamped to
   * realloc_max: the same steps as the JavaScript benchmark's realloc-grow
   * (bench/js/workloads.js), so the two can be compared. */
  for (int v = 0; v < N_GROW; v++) {
    size_t count = 1;
    for (size_t n = REALLOC_START; n < P->realloc_max; count++) n = grow_next(n, grow_factor[v]);
    grow_seq[v] = (size_t*)harness_alloc(count * sizeof(size_t));
    grow_seq[v][0] = REALLOC_START;
    for (size_t k = 1; k < count; k++) {
      size_t n = grow_next(grow_seq[v][k - 1], grow_factor[v]);
      grow_seq[v][k] = n < P->realloc_max ? n : P->realloc_max;
    }
    grow_len[v] = count;
  }

  /* phase-mix: sizes and a random free order (Fisher-Yates). */
  phase_sizes = (uint32_t*)harness_alloc(P->phase_blocks * sizeof(uint32_t));
  phase_order = (uint32_t*)harness_alloc(P->phase_blocks * sizeof(uint32_t));
  phase_slots = (void**)harness_alloc(P->phase_blocks * sizeof(void*));
  for (size_t i = 0; i < P->phase_blocks; i++) {
    phase_sizes[i] = rng_logsize(PHASE_MIN, PHASE_MAX);
    phase_order[i] = (uint32_t)i;
  }
  for (size_t i = P->phase_blocks; i > 1; i--) {
    uint32_t j = rng_below((uint32_t)i);
    uint32_t tmp = phase_order[i - 1];
    phase_order[i - 1] = phase_order[j];
    phase_order[j] = tmp;
  }

  /* larson: one live set and one step sequence per thread. */
  for (int t = 0; t < LARSON_MAX_THREADS; t++) {
    larson_init_sizes[t] = (uint32_t*)harness_alloc(P->larson_live * sizeof(uint32_t));
    larson_sizes[t] = (uint32_t*)harness_alloc(P->larson_steps * sizeof(uint32_t));
    larson_victims[t] = (uint32_t*)harness_alloc(P->larson_steps * sizeof(uint32_t));
    for (size_t k = 0; k < P->larson_live; k++)
      larson_init_sizes[t][k] = rng_logsize(LARSON_MIN, LARSON_MAX);
    for (size_t i = 0; i < P->larson_steps; i++) {
      larson_victims[t][i] = rng_below((uint32_t)P->larson_live);
      larson_sizes[t][i] = rng_logsize(LARSON_MIN, LARSON_MAX);
    }
  }
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
  double* samples;      /* ns per operation, [samples]: thread CPU time, except
                           W_LARSON: wall clock of the parallel phase */
  double* wall_samples; /* ns per operation, wall clock, [samples] */
  double* cpu_samples;  /* W_LARSON only: the workers' CPU ns per step, [samples] */
  double warmup_ns;
  double median, min, max, wall_median, cpu_median;
} cell;

static double median_of(const double* v, int n, double* scratch) {
  memcpy(scratch, v, (size_t)n * sizeof(double));
  qsort(scratch, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? scratch[n / 2] : 0.5 * (scratch[n / 2 - 1] + scratch[n / 2]);
}

/* Cell values of any size in a 7-character column. */
static int fmt_ns(char* out, size_t cap, double ns) {
  if (ns < 1000) return snprintf(out, cap, "%7.2f", ns);
  if (ns < 100000) return snprintf(out, cap, "%7.1f", ns);
  return snprintf(out, cap, "%7.0f", ns);
}

/* A ratio in a 6-character column: two decimals below 10, one below 100, none above. */
static int fmt_ratio(char* out, size_t cap, double r) {
  if (!(r < 10)) return r < 100 ? snprintf(out, cap, "%5.1fx", r) : snprintf(out, cap, "%5.0fx", r);
  return snprintf(out, cap, "%5.2fx", r);
}

/*
 * The terminal tables fit in TABLE_COLUMNS columns: a row name of ROW_W, then one cell of
 * " | " + CELL_W per contestant; more contestants than fit side by side are printed in blocks
 * of columns (as even as possible), each block repeating the row names.
 */
enum { TABLE_COLUMNS = 120, ROW_W = 13, CELL_W = 21 };

/* The number of blocks for nc contestants; *per = contestants per block. */
static int table_blocks(int nc, int* per) {
  int fit = (TABLE_COLUMNS - ROW_W) / (CELL_W + 3);
  if (fit < 1) fit = 1;
  int nb = (nc + fit - 1) / fit;
  if (nb < 1) nb = 1;
  *per = (nc + nb - 1) / nb;
  return nb;
}

/* The header of one block: the row-name column's title, then contestants [from, to). */
static void table_head(const char* first, contestant* const* C, int from, int to, int block, int nb) {
  if (nb > 1) printf("(columns %d of %d)\n", block + 1, nb);
  printf("%-*s", ROW_W, first);
  for (int k = from; k < to; k++) printf(" | %-*s", k + 1 < to ? CELL_W : 0, C[k]->name);
  printf("\n%.*s", ROW_W, "--------------------------------");
  for (int k = from; k < to; k++) printf("-+-%.*s", CELL_W, "--------------------------------");
  printf("\n");
}

/* A table's title line: what it is, then the machine and toolchain, cut to TABLE_COLUMNS. */
static void table_title(const char* what, const char* host) {
  char line[TABLE_COLUMNS + 1];
  snprintf(line, sizeof line, "%s -- %s", what, host);
  printf("%s\n", line);
}

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
  params P = {"full", 41, 1, 500000, 500000, 4096, 100000, 200000, 0x0ff4ea9ull,
              (size_t)16 << 20, 4, 4096, 500000, 4096, 100000};
  const char* json_path = NULL;
  const char* only = NULL;
  const char* cc_version = "";
  const char* cflags = "";
  int samples_override = 0, list = 0;
  /* The port serves dlmalloc's direct maps (large chunks) with their own
   * mmap, as a production port does, and names the benchmark in an abort. */
  port_state.direct_enabled = 1;
  port_state.abort_label = "bench: allocator abort";
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (!strcmp(a, "--quick")) {
      P.mode = "quick";
      P.samples = 11;
      P.pair_iters = P.ring_iters = 150000;
      P.churn_steps = 30000;
      P.phase_pairs = 150000;
      P.realloc_reps = 2;
      P.larson_steps = 20000;
    } else if (!strcmp(a, "--selftest")) {
      P.mode = "selftest";
      P.samples = 5;
      P.pair_iters = P.ring_iters = 3000;
      P.churn_live = 256;
      P.churn_steps = 3000;
      P.fp_steps = 3000;
      /* 1 MiB is past both mmap thresholds (glibc's 128 KiB, dlmalloc's
       * 256 KiB); checking every byte after every call up to 16 MiB would
       * take seconds. */
      P.realloc_max = (size_t)1 << 20;
      P.realloc_reps = 1;
      P.phase_blocks = 256;
      P.phase_pairs = 3000;
      P.larson_live = 128;
      P.larson_steps = 500;
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
  static const size_t big_sizes[] = {65536, 1048576};
  enum { NBIG = sizeof big_sizes / sizeof big_sizes[0] };
  static const int larson_threads[] = {1, 2, 4};
  enum { NLARSON = sizeof larson_threads / sizeof larson_threads[0] };
  workload W[NSIZES + NBIG + NSIZES + 1 + N_GROW + 2 + NLARSON];
  memset(W, 0, sizeof W);
  int NW = 0;
  for (int k = 0; k < NSIZES + NBIG; k++) {
    size_t sz = k < NSIZES ? sizes[k] : big_sizes[k - NSIZES];
    snprintf(W[NW].name, sizeof W[NW].name, "pair-%zu", sz);
    W[NW].kind = W_PAIR;
    W[NW].size = sz;
    /* Large pairs may cost an mmap + page fault + munmap each (microseconds,
     * not nanoseconds): fewer of them, proportionally to the size. */
    size_t it = sz <= 4096 ? P.pair_iters : P.pair_iters / (sz / 1024);
    W[NW].iters = it < 4 ? 4 : it;
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

  generate_sequences(&P); /* the realloc rows need the sequence lengths */

  for (int v = 0; v < N_GROW; v++) {
    snprintf(W[NW].name, sizeof W[NW].name, "%s", grow_name[v]);
    W[NW].kind = W_REALLOC;
    W[NW].size = P.realloc_max;
    W[NW].variant = v;
    W[NW].reps = P.realloc_reps;
    W[NW].iters = P.realloc_reps * (grow_len[v] - 1);
    NW++;
  }
  for (int k = 0; k < 2; k++) {
    snprintf(W[NW].name, sizeof W[NW].name, k == 0 ? "phase-64" : "phase-mix");
    W[NW].kind = W_PHASE;
    W[NW].size = k == 0 ? 64 : 0;
    W[NW].reps = P.phase_pairs / P.phase_blocks ? P.phase_pairs / P.phase_blocks : 1;
    W[NW].iters = W[NW].reps * P.phase_blocks;
    NW++;
  }
  for (int k = 0; k < NLARSON; k++) {
    snprintf(W[NW].name, sizeof W[NW].name, "larson-%dt", larson_threads[k]);
    W[NW].kind = W_LARSON;
    W[NW].threads = larson_threads[k];
    W[NW].iters = P.larson_steps;
    NW++;
  }

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
  long navail = ncpu; /* the CPUs this process may run on: what the threaded rows get */
  {
    cpu_set_t cs;
    if (sched_getaffinity(0, sizeof cs, &cs) == 0) navail = CPU_COUNT(&cs);
  }

  /* What every table's title names: the CPU model and what the numbers were built with. */
  char host[512];
  snprintf(host, sizeof host, "%s, %ld CPU(s); %s%s%s", cpu, ncpu, glibc_version(), cc_version[0] ? "; " : "",
           cc_version);
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
      count_failure();
    }
  }

  /* ---- timing -------------------------------------------------------------------- */
  cell* R = (cell*)harness_alloc((size_t)NW * NC * sizeof *R);
  double* sample_store = (double*)harness_alloc((size_t)NW * NC * P.samples * sizeof(double));
  double* wall_store = (double*)harness_alloc((size_t)NW * NC * P.samples * sizeof(double));
  double* cpu_store = (double*)harness_alloc((size_t)NW * NC * P.samples * sizeof(double));
  int* check_ok = (int*)harness_alloc((size_t)NW * NC * sizeof(int));
  int* cell_verify_fail = (int*)harness_alloc((size_t)NW * NC * sizeof(int));
  void** ctx = (void**)harness_alloc(NC * sizeof(void*));
  churn_state* CS = (churn_state*)harness_alloc(NC * sizeof(churn_state));
  larson_pool** LP = (larson_pool**)harness_alloc(NC * sizeof(larson_pool*));
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

  const int mode = selftest ? MODE_VERIFY : MODE_TIME;
  for (int w = 0; w < NW; w++) {
    const workload* wl = &W[w];
    for (int k = 0; k < NC; k++) {
      R[w * NC + k].samples = sample_store + ((size_t)w * NC + k) * P.samples;
      R[w * NC + k].wall_samples = wall_store + ((size_t)w * NC + k) * P.samples;
      R[w * NC + k].cpu_samples = cpu_store + ((size_t)w * NC + k) * P.samples;
      ctx[k] = NULL;
      if (wl->kind == W_LARSON) {
        LP[k] = larson_start(C[k], wl->threads, &P, mode); /* its own heaps */
        continue;
      }
      if (C[k]->setup && C[k]->setup(&ctx[k]) != 0) die("%s: setup failed", C[k]->name);
      if (wl->kind == W_CHURN) {
        CS[k] = churn_state_new(P.churn_live);
        churn_fill(C[k], ctx[k], &CS[k], P.churn_live, mode);
      }
    }
    /* Rounds interleave the contestants (rotating who goes first), so slow
     * drift of the machine spreads over all of them alike. */
    for (int round = -P.warmup; round < P.samples; round++) {
      for (int j = 0; j < NC; j++) {
        int k = (j + (round + P.warmup)) % NC;
        const contestant* c = C[k];
        uint64_t dt, cpu = 0;
        int vf0 = failures_now();
        switch (wl->kind) {
          case W_PAIR:
            dt = selftest ? run_pair_verify(c, ctx[k], wl->size, wl->iters)
                          : run_pair(c, ctx[k], wl->size, wl->iters);
            break;
          case W_RING:
            dt = selftest ? run_ring_verify(c, ctx[k], wl->size, wl->iters)
                          : run_ring(c, ctx[k], wl->size, wl->iters);
            break;
          case W_CHURN:
            dt = selftest ? run_churn_verify(c, ctx[k], &CS[k], wl->iters)
                          : run_churn(c, ctx[k], &CS[k], wl->iters);
            break;
          case W_REALLOC:
            dt = selftest ? run_realloc_verify(c, ctx[k], wl->variant, wl->reps)
                          : run_realloc(c, ctx[k], wl->variant, wl->reps);
            break;
          case W_PHASE:
            dt = selftest ? run_phase_verify(c, ctx[k], wl->size, P.phase_blocks, wl->reps, wl->name)
                          : run_phase(c, ctx[k], wl->size, P.phase_blocks, wl->reps, wl->name);
            break;
          default: /* W_LARSON: the wall clock is the figure */
            dt = larson_sample(LP[k], &cpu);
            last_wall_ns = dt;
            break;
        }
        cell_verify_fail[w * NC + k] += failures_now() - vf0;
        double ns = (double)dt / (double)wl->iters;
        if (round < 0) {
          R[w * NC + k].warmup_ns = ns;
        } else {
          R[w * NC + k].samples[round] = ns;
          R[w * NC + k].wall_samples[round] = (double)last_wall_ns / (double)wl->iters;
          if (wl->kind == W_LARSON)
            R[w * NC + k].cpu_samples[round] = (double)cpu / ((double)wl->iters * wl->threads);
        }
      }
    }
    for (int k = 0; k < NC; k++) {
      cell* ce = &R[w * NC + k];
      memcpy(sorted, ce->samples, P.samples * sizeof(double));
      qsort(sorted, P.samples, sizeof(double), cmp_double);
      ce->min = sorted[0];
      ce->max = sorted[P.samples - 1];
      ce->median = median_of(ce->samples, P.samples, sorted);
      ce->wall_median = median_of(ce->wall_samples, P.samples, sorted);
      ce->cpu_median = median_of(ce->cpu_samples, P.samples, sorted);
      check_ok[w * NC + k] = 1;
      if (wl->kind == W_LARSON) {
        int vf0 = failures_now();
        if (!larson_stop(LP[k])) check_ok[w * NC + k] = 0;
        cell_verify_fail[w * NC + k] += failures_now() - vf0;
      } else {
        if (wl->kind == W_CHURN) {
          /* Check the heap with the live set in it, then drain and check again. */
          if (C[k]->check && C[k]->check(ctx[k]) != 0) check_ok[w * NC + k] = 0;
          int vf0 = failures_now();
          churn_drain(C[k], ctx[k], &CS[k], P.churn_live, mode);
          cell_verify_fail[w * NC + k] += failures_now() - vf0;
          churn_state_free(&CS[k], P.churn_live);
        }
        if (C[k]->check && C[k]->check(ctx[k]) != 0) check_ok[w * NC + k] = 0;
        if (C[k]->teardown) C[k]->teardown(ctx[k]);
      }
      if (!check_ok[w * NC + k]) {
        fprintf(stderr, "bench: %s: heap check failed in %s\n", C[k]->name, wl->name);
        count_failure();
      }
    }
    if (progress) {
      fprintf(stderr, "\r  %-13s done (%d/%d, %.1f s)   ", wl->name, w + 1, NW,
              (double)(now_ns() - t_start) / 1e9);
      fflush(stderr);
    }
  }
  if (progress) fprintf(stderr, "\r%60s\r", "");
  double elapsed = (double)(now_ns() - t_start) / 1e9;

  /* ---- terminal table ------------------------------------------------------------- */
  int per;
  const int nb = table_blocks(NC, &per);
  printf("\n");
  table_title("ns per operation", host);
  printf("median of %d samples after %d warm-up; cell = median ns, ratio to glibc, spread\n"
         "(max-min)/median. Operation: malloc+free pair (pair, phase), step = one free + one malloc\n"
         "(ws64, churn; larson: per step per thread), realloc call (realloc). Clock: thread CPU time;\n"
         "larson rows: wall clock of the parallel phase. Every cell includes %.2f ns of harness\n"
         "overhead (loop + 2 indirect calls, measured with a null allocator).\n\n",
         P.samples, P.warmup, overhead_ns);
  for (int b = 0; b < nb; b++) {
    const int from = b * per, to = from + per < NC ? from + per : NC;
    table_head("workload", C, from, to, b, nb);
    for (int w = 0; w < NW; w++) {
      printf("%-*s", ROW_W, W[w].name);
      double base = R[w * NC + glibc_idx].median;
      for (int k = from; k < to; k++) {
        const cell* ce = &R[w * NC + k];
        double spread = ce->median > 0 ? 100.0 * (ce->max - ce->min) / ce->median : 0;
        char ns[32], ratio[32], buf[96];
        fmt_ns(ns, sizeof ns, ce->median);
        fmt_ratio(ratio, sizeof ratio, ce->median / base);
        snprintf(buf, sizeof buf, "%s %s %4.0f%%", ns, ratio, spread);
        printf(" | %-*s", k + 1 < to ? CELL_W : 0, buf); /* no trailing blanks */
      }
      printf("\n");
    }
    if (b + 1 < nb) printf("\n");
  }

  /* ---- threaded rows: throughput and scaling ---------------------------------------- */
  int w1 = -1; /* the larson-1t row */
  for (int w = 0; w < NW; w++)
    if (W[w].kind == W_LARSON && W[w].threads == 1) w1 = w;
  if (w1 >= 0) {
    printf("\n");
    table_title("larson, threaded", host);
    printf("%zu live blocks per thread, %u B..%u KiB log-uniform, %zu steps per thread per\n"
           "sample, wall clock of the parallel phase (%ld CPU(s) available). Heaps: dl, buddy = one\n"
           "unlocked heap per thread; dl+lock, buddy+lock = one locked heap shared by all threads;\n"
           "dl-global = the global (locked) heap; the others = their malloc/free from every thread.\n"
           "Cell = total throughput in million steps/s (step = one free + one malloc) from the\n"
           "median, and the speedup over the same contestant's 1-thread row.\n\n",
           P.larson_live, LARSON_MIN, LARSON_MAX / 1024, P.larson_steps, navail);
    for (int b = 0; b < nb; b++) {
      const int from = b * per, to = from + per < NC ? from + per : NC;
      table_head("threads", C, from, to, b, nb);
      for (int w = 0; w < NW; w++) {
        if (W[w].kind != W_LARSON) continue;
        printf("%-*s", ROW_W, W[w].name);
        for (int k = from; k < to; k++) {
          double tput = W[w].threads * 1e3 / R[w * NC + k].median; /* M steps/s */
          double t1 = 1e3 / R[w1 * NC + k].median;
          char buf[96];
          snprintf(buf, sizeof buf, "%7.2f Mop/s %5.2fx", tput, tput / t1);
          printf(" | %-*s", k + 1 < to ? CELL_W : 0, buf);
        }
        printf("\n");
      }
      if (b + 1 < nb) printf("\n");
    }
  }

  printf("\n");
  table_title("churn footprint", host);
  printf("%zu live blocks, %zu steps, sizes %u B..%u KiB log-uniform;\n"
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
      printf("%12s\n", "-");
  }

  /* ---- the README's performance targets (informational) ------------------------------ */
  if (!selftest) {
    printf("\n");
    table_title("performance targets (README; not a gate)", host);
  }
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
    fprintf(f, ",\n  \"unit\": \"ns per operation: malloc+free pair (pair, phase); step = one free + one "
               "malloc (ws64, churn; larson: per step per thread); realloc call (realloc)\"");
    fprintf(f, ",\n  \"clock\": \"samples_ns, median/min/max: CLOCK_THREAD_CPUTIME_ID, except larson "
               "rows: CLOCK_MONOTONIC of the whole parallel phase; wall_*: CLOCK_MONOTONIC; "
               "cpu_median_ns (larson): the workers' CLOCK_THREAD_CPUTIME_ID summed\"");
    fprintf(f, ",\n  \"host\": {\"cpu_model\": ");
    json_str(f, cpu);
    fprintf(f, ", \"online_cpus\": %ld, \"cpus_available\": %ld, \"kernel\": ", ncpu, navail);
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
               "\"churn_max\": %u, \"seed\": %llu, \"realloc_start\": %u, \"realloc_max\": %zu, "
               "\"realloc_reps\": %zu, \"phase_blocks\": %zu, \"phase_min\": %u, \"phase_max\": %u, "
               "\"larson_live\": %zu, \"larson_steps\": %zu, \"larson_min\": %u, "
               "\"larson_max\": %u},\n",
            P.samples, P.warmup, P.pair_iters, P.ring_iters, RING_BLOCKS, P.churn_live,
            P.churn_steps, P.fp_steps, CHURN_MIN, CHURN_MAX, (unsigned long long)P.seed,
            REALLOC_START, P.realloc_max, P.realloc_reps, P.phase_blocks, PHASE_MIN, PHASE_MAX,
            P.larson_live, P.larson_steps, LARSON_MIN, LARSON_MAX);
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
      fprintf(f, ", \"realloc_ok\": %s, \"threaded_heap\": \"%s\"}", realloc_ok[k] ? "true" : "false",
              heap_mode_name[C[k]->threaded]);
    }
    fprintf(f, "\n  ],\n  \"workloads\": [");
    for (int w = 0; w < NW; w++) {
      fprintf(f, "%s\n    {\"name\": ", w ? "," : "");
      json_str(f, W[w].name);
      fprintf(f, ", \"kind\": \"%s\", \"size\": %zu, \"iters\": %zu, \"clock\": \"%s\"",
              wkind_name[W[w].kind], W[w].size, W[w].iters,
              W[w].kind == W_LARSON ? "wall" : "thread_cpu");
      if (W[w].kind == W_REALLOC)
        fprintf(f, ", \"reps\": %zu, \"growth\": %g, \"sizes\": %zu", W[w].reps,
                grow_factor[W[w].variant], grow_len[W[w].variant]);
      if (W[w].kind == W_PHASE)
        fprintf(f, ", \"reps\": %zu, \"blocks\": %zu, \"free_order\": \"%s\"", W[w].reps,
                P.phase_blocks, W[w].size ? "allocation" : "random");
      if (W[w].kind == W_LARSON) fprintf(f, ", \"threads\": %d", W[w].threads);
      fputc('}', f);
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
        fprintf(f, "]");
        if (W[w].kind == W_REALLOC) {
          /* The JavaScript benchmark's unit: one whole growth sequence. */
          fprintf(f, ", \"growth_median_ns\": ");
          json_num(f, ce->median * (double)(grow_len[W[w].variant] - 1));
        }
        if (W[w].kind == W_LARSON) {
          /* Throughput from the median; speedup over the same contestant's
           * 1-thread row. */
          double tput = W[w].threads * 1e9 / ce->median;
          fprintf(f, ", \"threads\": %d, \"heap\": \"%s\", \"cpu_median_ns\": ", W[w].threads,
                  heap_mode_name[C[k]->threaded]);
          json_num(f, ce->cpu_median);
          fprintf(f, ", \"throughput_ops_per_s\": ");
          json_num(f, tput);
          fprintf(f, ", \"speedup_vs_1t\": ");
          if (w1 >= 0) json_num(f, tput / (1e9 / R[w1 * NC + k].median));
          else fputs("null", f);
        }
        fputc('}', f);
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
