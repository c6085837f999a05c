/*
 * offheap — the dlmalloc core under threads, through the port's lock hooks.
 *
 *  - stress on one locked mspace and on the global heap: 4 threads do random
 *    malloc / free / realloc / calloc / memalign; blocks travel between
 *    threads through a mutex-protected exchange array, so many frees are
 *    cross-thread; every block carries a byte pattern that is verified
 *    whenever it is touched (two live blocks that overlapped would break
 *    each other's pattern); after joining, no two live blocks overlap, each
 *    validates, and the heap checks clean;
 *  - private unlocked mspaces used by one thread each, concurrently;
 *  - spec #51: 12 threads x 10 x malloc(800) at once, no overlap;
 *  - fork while three threads allocate from the global heap, with the
 *    dlmalloc_atfork_* handlers: every child allocates and exits, none
 *    inherits a held lock.
 *
 * Sized to stay well under 20 s in the ASan variant on a 2-core machine.
 * Each test runs in a forked child, so a deadlock ends as a timeout failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_FORK_TIMEOUT_S 180
#include "../../csrc/dlmalloc.h"
#include "port_test.h"
#include "testhelper.h"

#define NTHREADS 4
#define SLOTS 48
#define XCHG 16
#if defined(__SANITIZE_ADDRESS__)
#define OPS 12000
#else
#define OPS 25000
#endif

typedef struct {
  unsigned char* p;
  size_t n;
  uint32_t tag;
} tblk;

/* One heap: an mspace, or the global heap when ms is NULL. */
static mspace stress_ms;
static void* h_malloc(size_t n) { return stress_ms ? mspace_malloc(stress_ms, n) : dlmalloc(n); }
static void h_free(void* p) {
  if (stress_ms)
    mspace_free(stress_ms, p);
  else
    dlfree(p);
}
static void* h_realloc(void* p, size_t n) {
  return stress_ms ? mspace_realloc(stress_ms, p, n) : dlrealloc(p, n);
}
static void* h_calloc(size_t n, size_t s) {
  return stress_ms ? mspace_calloc(stress_ms, n, s) : dlcalloc(n, s);
}
static void* h_memalign(size_t a, size_t n) {
  return stress_ms ? mspace_memalign(stress_ms, a, n) : dlmemalign(a, n);
}
static size_t h_usable(const void* p) {
  return stress_ms ? mspace_usable_size(p) : dlmalloc_usable_size(p);
}
static int h_validate(const void* p) {
  return stress_ms ? mspace_validate(stress_ms, p) : dlmalloc_validate(p);
}
static int h_check(void) { return stress_ms ? mspace_check(stress_ms) : dlmalloc_check(); }

static void fill(tblk* b) {
  for (size_t i = 0; i < b->n; i++) b->p[i] = (unsigned char)(b->tag + i * 31);
}
static int intact(const tblk* b) {
  for (size_t i = 0; i < b->n; i++)
    if (b->p[i] != (unsigned char)(b->tag + i * 31)) return 0;
  return 1;
}
static int all_zero(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

static pthread_mutex_t xlock = PTHREAD_MUTEX_INITIALIZER;
static tblk xchg[XCHG];
static tblk owned[NTHREADS][SLOTS];
static int thread_errors[NTHREADS];
static uint32_t next_tag = 1;

static uint32_t new_tag(void) { return __atomic_fetch_add(&next_tag, 1, __ATOMIC_RELAXED); }

static size_t stress_size(test_rng* r) {
  uint64_t k = test_rng_below(r, 100);
  if (k < 60) return (size_t)test_rng_below(r, 256);
  if (k < 95) return 256 + (size_t)test_rng_below(r, 4096);
  if (k < 99) return 4096 + (size_t)test_rng_below(r, 60000);
  return 300000 + (size_t)test_rng_below(r, 200000); /* direct-mapped */
}

static void* stress_worker(void* arg) {
  int t = (int)(intptr_t)arg;
  tblk* own = owned[t];
  test_rng r = {0xC0FFEEULL * (uint64_t)(t + 1)};
  int errors = 0;
  for (int op = 0; op < OPS && errors < 5; op++) {
    tblk* b = &own[test_rng_below(&r, SLOTS)];
    if (b->p && !intact(b)) {
      errors++;
      fprintf(stderr, "    thread %d: block %p (%zu bytes, tag %u) damaged\n", t, (void*)b->p,
              b->n, b->tag);
      b->p = NULL; /* leave it */
      continue;
    }
    switch (test_rng_below(&r, 10)) {
      case 0:
      case 1:
      case 2:
      case 3:
        if (b->p) {
          h_free(b->p);
          b->p = NULL;
        } else {
          b->n = stress_size(&r);
          b->p = h_malloc(b->n);
          if (!b->p) errors++;
        }
        break;
      case 4:
      case 5: {
        size_t n = stress_size(&r);
        unsigned char* q = h_realloc(b->p, n);
        if (!q) {
          errors++;
          break;
        }
        if (b->p) {
          tblk old = {q, n < b->n ? n : b->n, b->tag};
          if (!intact(&old)) {
            errors++;
            fprintf(stderr, "    thread %d: realloc lost bytes\n", t);
          }
        }
        b->p = q;
        b->n = n;
        break;
      }
      case 6:
      case 7: { /* swap with the exchange: the block may be freed elsewhere */
        tblk mine = *b;
        size_t x = (size_t)test_rng_below(&r, XCHG);
        pthread_mutex_lock(&xlock);
        *b = xchg[x];
        xchg[x] = mine;
        pthread_mutex_unlock(&xlock);
        if (b->p && !intact(b)) {
          errors++;
          fprintf(stderr, "    thread %d: exchanged block damaged\n", t);
          b->p = NULL;
        }
        continue; /* keep the pattern it came with */
      }
      case 8:
        if (b->p) h_free(b->p);
        b->n = stress_size(&r) / 4;
        b->p = h_memalign((size_t)32 << test_rng_below(&r, 8), b->n);
        if (!b->p) errors++;
        break;
      default: {
        if (b->p) h_free(b->p);
        size_t cnt = 1 + (size_t)test_rng_below(&r, 8);
        b->n = cnt * (size_t)test_rng_below(&r, 200);
        b->p = h_calloc(cnt, b->n / cnt);
        if (!b->p || !all_zero(b->p, b->n)) {
          errors++;
          fprintf(stderr, "    thread %d: calloc not zeroed\n", t);
        }
        break;
      }
    }
    if (b->p) {
      b->tag = new_tag();
      fill(b);
    }
  }
  thread_errors[t] = errors;
  return NULL;
}

static int cmp_blk(const void* a, const void* b) {
  const tblk* x = a;
  const tblk* y = b;
  return (x->p > y->p) - (x->p < y->p);
}

/* After the threads are joined: every live block is intact, validates, and
 * none overlaps the next one in address order. Then free them all. */
static void verify_and_release(void) {
  static tblk all[NTHREADS * SLOTS + XCHG];
  int n = 0;
  for (int t = 0; t < NTHREADS; t++)
    for (int i = 0; i < SLOTS; i++)
      if (owned[t][i].p) all[n++] = owned[t][i];
  for (int i = 0; i < XCHG; i++)
    if (xchg[i].p) all[n++] = xchg[i];
  qsort(all, (size_t)n, sizeof all[0], cmp_blk);
  int damaged = 0, overlaps = 0, invalid = 0;
  for (int i = 0; i < n; i++) {
    damaged += !intact(&all[i]);
    invalid += h_validate(all[i].p) != DL_OK;
    size_t u = h_usable(all[i].p);
    if (u < all[i].n) invalid++;
    if (i + 1 < n && all[i].p + u > all[i + 1].p) overlaps++;
  }
  CHECK(n > 0);
  CHECK_EQ_SZ(damaged, 0);
  CHECK_EQ_SZ(invalid, 0);
  CHECK_EQ_SZ(overlaps, 0);
  CHECK_EQ_SZ(h_check(), DL_OK);
  for (int i = 0; i < n; i++) h_free(all[i].p);
  CHECK_EQ_SZ(h_check(), DL_OK);
}

static void run_stress(void) {
  port_state.direct_enabled = 1;
  memset(owned, 0, sizeof owned);
  memset(xchg, 0, sizeof xchg);
  pthread_t th[NTHREADS];
  for (int t = 0; t < NTHREADS; t++)
    CHECK(pthread_create(&th[t], NULL, stress_worker, (void*)(intptr_t)t) == 0);
  for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
  for (int t = 0; t < NTHREADS; t++) CHECK_EQ_SZ(thread_errors[t], 0);
  verify_and_release();
  CHECK_EQ_SZ(port_state.n_abort, 0);
  /* every lock taken was released */
  CHECK_EQ_SZ(port_state.n_acquire, port_state.n_release);
}

TEST(stress_locked_mspace) {
  port_reset();
  stress_ms = create_mspace(0, 1);
  CHECK(stress_ms != NULL);
  if (!stress_ms) return;
  run_stress();
  CHECK(port_state.n_acquire > NTHREADS * OPS / 2); /* the lock hooks were used */
  CHECK(destroy_mspace(stress_ms) > 0);
}

TEST(stress_global_heap) {
  port_reset();
  stress_ms = NULL;
  run_stress();
  CHECK(port_state.n_acquire > NTHREADS * OPS / 2);
  (void)dlmalloc_trim(0); /* trimming after the storm leaves a sound heap */
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* Unlocked mspaces, one per thread, used at the same time: they share
 * nothing but the process-wide parameters. */
static mspace private_ms[NTHREADS];
static void* private_worker(void* arg) {
  int t = (int)(intptr_t)arg;
  mspace ms = private_ms[t];
  test_rng r = {0xABCDEFULL + (uint64_t)t};
  tblk* own = owned[t];
  int errors = 0;
  for (int op = 0; op < OPS; op++) {
    tblk* b = &own[test_rng_below(&r, SLOTS)];
    if (b->p) {
      if (!intact(b)) errors++;
      if (test_rng_below(&r, 2)) {
        mspace_free(ms, b->p);
        b->p = NULL;
        continue;
      }
      size_t n = stress_size(&r);
      unsigned char* q = mspace_realloc(ms, b->p, n);
      if (!q) {
        errors++;
        continue;
      }
      b->p = q;
      b->n = n;
    } else {
      b->n = stress_size(&r);
      b->p = mspace_malloc(ms, b->n);
      if (!b->p) {
        errors++;
        continue;
      }
    }
    b->tag = new_tag();
    fill(b);
  }
  if (mspace_check(ms) != DL_OK) errors++;
  for (int i = 0; i < SLOTS; i++) {
    if (!own[i].p) continue;
    if (!intact(&own[i]) || mspace_validate(ms, own[i].p) != DL_OK) errors++;
    mspace_free(ms, own[i].p);
    own[i].p = NULL;
  }
  if (mspace_check(ms) != DL_OK) errors++;
  thread_errors[t] = errors;
  return NULL;
}

TEST(private_unlocked_mspaces) {
  port_reset();
  port_state.direct_enabled = 1;
  memset(owned, 0, sizeof owned);
  for (int t = 0; t < NTHREADS; t++) {
    private_ms[t] = create_mspace(0, 0);
    CHECK(private_ms[t] != NULL);
    if (!private_ms[t]) return;
  }
  int acquires_before = port_state.n_acquire;
  pthread_t th[NTHREADS];
  for (int t = 0; t < NTHREADS; t++)
    CHECK(pthread_create(&th[t], NULL, private_worker, (void*)(intptr_t)t) == 0);
  for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
  for (int t = 0; t < NTHREADS; t++) CHECK_EQ_SZ(thread_errors[t], 0);
  /* unlocked spaces take no lock */
  CHECK_EQ_SZ(port_state.n_acquire, acquires_before);
  for (int t = 0; t < NTHREADS; t++) {
    CHECK_EQ_SZ(mspace_check(private_ms[t]), DL_OK);
    CHECK(destroy_mspace(private_ms[t]) > 0);
  }
  CHECK_EQ_SZ(port_state.n_abort, 0);
}

/* ---- spec #51 ------------------------------------------------------------------ */

#define T51_THREADS 12
#define T51_EACH 10
static pthread_barrier_t t51_start;
static void* t51_ptr[T51_THREADS][T51_EACH];

static void* t51_worker(void* arg) {
  int t = (int)(intptr_t)arg;
  pthread_barrier_wait(&t51_start);
  for (int i = 0; i < T51_EACH; i++) {
    t51_ptr[t][i] = dlmalloc(800);
    if (t51_ptr[t][i]) memset(t51_ptr[t][i], t + 1, 800);
  }
  return NULL;
}

static int cmp_ptr(const void* a, const void* b) {
  const char* x = *(void* const*)a;
  const char* y = *(void* const*)b;
  return (x > y) - (x < y);
}

TEST(t51_twelve_threads_malloc_800) {
  port_reset();
  pthread_barrier_init(&t51_start, NULL, T51_THREADS);
  pthread_t th[T51_THREADS];
  for (int t = 0; t < T51_THREADS; t++)
    CHECK(pthread_create(&th[t], NULL, t51_worker, (void*)(intptr_t)t) == 0);
  for (int t = 0; t < T51_THREADS; t++) pthread_join(th[t], NULL);
  pthread_barrier_destroy(&t51_start);
  void* all[T51_THREADS * T51_EACH];
  int n = 0, nulls = 0, damaged = 0;
  for (int t = 0; t < T51_THREADS; t++) {
    for (int i = 0; i < T51_EACH; i++) {
      unsigned char* p = t51_ptr[t][i];
      if (!p) {
        nulls++;
        continue;
      }
      for (int k = 0; k < 800; k++)
        if (p[k] != t + 1) {
          damaged++;
          break;
        }
      all[n++] = p;
    }
  }
  CHECK_EQ_SZ(nulls, 0);
  CHECK_EQ_SZ(damaged, 0);
  qsort(all, (size_t)n, sizeof all[0], cmp_ptr);
  for (int i = 0; i + 1 < n; i++) CHECK((char*)all[i + 1] - (char*)all[i] >= 800);
  for (int i = 0; i < n; i++) CHECK_EQ_SZ(dlmalloc_validate(all[i]), DL_OK);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  for (int i = 0; i < n; i++) dlfree(all[i]);
  CHECK_EQ_SZ(port_state.n_abort, 0);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
}

/* fork copies the heap's lock as it is: without the handlers a child forked
 * while a churning thread held it would wait forever (bench/native/preload.sh
 * shows that on a shim built without them). */
static volatile int fork_stop;

static void* fork_churn(void* arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  void* slots[32] = {0};
  while (!fork_stop) {
    seed = seed * 1103515245u + 12345u;
    unsigned i = (seed >> 8) % 32;
    dlfree(slots[i]);
    slots[i] = dlmalloc(16 + (seed >> 16) % 2000);
  }
  for (unsigned i = 0; i < 32; i++) dlfree(slots[i]);
  return NULL;
}

/* The child's status, or -1 when it was still running after 20 s (killed). */
static int reap_within(pid_t pid) {
  for (int ms = 0; ms < 20000; ms++) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -1;
    struct timespec one = {0, 1000000};
    nanosleep(&one, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

TEST(fork_while_threads_allocate) {
  CHECK_EQ_SZ(pthread_atfork(dlmalloc_atfork_prepare, dlmalloc_atfork_parent, dlmalloc_atfork_child), 0);
  pthread_t t[3];
  for (uintptr_t i = 0; i < 3; i++) CHECK_EQ_SZ(pthread_create(&t[i], NULL, fork_churn, (void*)(i + 1)), 0);
  int bad = 0;
  for (int k = 0; k < 100 && bad == 0; k++) {
    pid_t pid = fork();
    if (pid == 0) {
      void* p = dlmalloc(1000);
      int ok = p != NULL && dlmalloc_check() == DL_OK;
      dlfree(p);
      _exit(ok ? 0 : 1);
    }
    CHECK(pid > 0);
    if (pid < 0) break;
    int st = reap_within(pid);
    CHECK_EQ_SZ(st, 0);
    if (st != 0) bad = 1;
  }
  fork_stop = 1;
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  CHECK_EQ_SZ(port_state.n_abort, 0);
}

int main(void) {
  RUN_FORKED(fork_while_threads_allocate);
  RUN_FORKED(t51_twelve_threads_malloc_800);
  RUN_FORKED(stress_locked_mspace);
  RUN_FORKED(stress_global_heap);
  RUN_FORKED(private_unlocked_mspaces);
  return test_summary("dl_threads");
}
