/*
 * offheap — page-run allocator (csrc/pages.h) under a byte-per-page shadow
 * model. Random allocations (low or high, zeroed or not, lengths from one
 * page to more than the region), frees of random sub-ranges of used spans
 * (which may cover several adjacent runs), clean frees, validations, trims
 * and refused calls of every kind, in regions of several shapes (one word,
 * padded last words, a power of two of words). After every operation:
 *   - an allocation returns exactly the model's lowest or highest fit, or
 *     NULL exactly when the model has no free run long enough;
 *   - a zeroed run reads as zeros, and exactly the pages not known zero were
 *     cleared (zero_filled_bytes);
 *   - a refused call returns the model's status and leaves the metadata
 *     bytes as they were;
 *   - used, zero-known, committed and peak-committed bytes equal the model's;
 * and periodically largest_free, free_runs, pages_check, and that no live
 * page's contents were disturbed.
 *
 * Reproduce a run: OFFHEAP_SEED=0x... and OFFHEAP_OPS=n (operations in all).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../../csrc/pages.h"
#include "testhelper.h"

#define PG PAGES_PAGE

typedef struct {
  const char* name;
  size_t npages;
  unsigned init_flags;
  long ops_share; /* per mille of the operations */
} shape;

static const shape shapes[] = {
    {"700 pages", 700, PAGES_REGION_ZEROED, 500},
    {"63 pages", 63, 0, 150},
    {"2561 pages", 2561, PAGES_REGION_ZEROED | PAGES_META_ZEROED, 150},
    {"4096 pages", 4096, 0, 100},
    {"130 pages", 130, PAGES_META_ZEROED, 100},
};

typedef struct {
  pages_t* p;
  unsigned char* base;
  unsigned char* meta;
  size_t meta_size, meta_bytes, n;
  unsigned char* used; /* the model: 1 per used page */
  unsigned char* kz;   /* the model: 1 per free page known zero */
  uint64_t* stamp;     /* what each used page holds at its stamp offsets (0: zeros) */
  size_t used_pages, zero_known, peak_committed, zero_filled;
  unsigned char* snap;
  test_rng r;
  long failures;
  char first_error[200];
} model;

static void fail(model* m, long op, const char* what) {
  m->failures++;
  if (!m->first_error[0]) snprintf(m->first_error, sizeof m->first_error, "op %ld: %s", op, what);
}

/* Pages are written only at three stamp offsets: enough to see a dirty page
 * that a zeroed run failed to clear, or a live page that something overwrote. */
static const size_t stamp_off[3] = {0, PG / 2, PG - 8};

static void stamp_write(model* m, size_t k, uint64_t v) {
  for (int i = 0; i < 3; i++) memcpy(m->base + k * PG + stamp_off[i], &v, 8);
  m->stamp[k] = v;
}
static int stamp_is(const model* m, size_t k, uint64_t v) {
  for (int i = 0; i < 3; i++) {
    uint64_t x;
    memcpy(&x, m->base + k * PG + stamp_off[i], 8);
    if (x != v) return 0;
  }
  return 1;
}

/* The model's lowest or highest fit of len pages, or SIZE_MAX. */
static size_t model_fit(const model* m, size_t len, int high) {
  if (len == 0 || len > m->n) return SIZE_MAX;
  size_t run = 0;
  if (!high) {
    for (size_t k = 0; k < m->n; k++) {
      run = m->used[k] ? 0 : run + 1;
      if (run == len) return k + 1 - len;
    }
  } else {
    for (size_t k = m->n; k-- > 0;) {
      run = m->used[k] ? 0 : run + 1;
      if (run == len) return k;
    }
  }
  return SIZE_MAX;
}

static void note_committed(model* m) {
  size_t c = m->n - m->zero_known;
  if (c > m->peak_committed) m->peak_committed = c;
}

/* The model's answer to pages_free / pages_validate of pages [a, a + len). */
static int model_status(const model* m, size_t a, size_t len) {
  if (len == 0) return PAGES_OK;
  if (a > m->n || len > m->n - a) return PAGES_E_FOREIGN;
  for (size_t k = a; k < a + len; k++)
    if (!m->used[k]) return PAGES_E_NOT_ALLOCATED;
  return PAGES_OK;
}

static size_t rand_len(model* m) {
  uint64_t c = test_rng_below(&m->r, 100);
  if (c < 55) return 1 + test_rng_below(&m->r, 4);
  if (c < 85) return 1 + test_rng_below(&m->r, 40);
  if (c < 97) return 1 + test_rng_below(&m->r, m->n / 4 + 1);
  return 1 + test_rng_below(&m->r, m->n + 2);
}

static void op_alloc(model* m, long op) {
  size_t len = rand_len(m);
  int high = (int)test_rng_below(&m->r, 2);
  int zeroed = test_rng_below(&m->r, 3) == 0;
  unsigned flags = (high ? PAGES_HIGH : PAGES_LOW) | (zeroed ? PAGES_ZEROED : 0u);
  size_t want = model_fit(m, len, high);
  unsigned char* got = pages_alloc(m->p, len * PG, flags);
  if (want == SIZE_MAX) {
    if (got) fail(m, op, "an allocation succeeded where the model has no fit");
    return;
  }
  if (got != m->base + want * PG) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s of %zu pages at page %lld, the model says %zu",
             high ? "high" : "low", len, got ? (long long)((got - m->base) / (long)PG) : -1LL, want);
    fail(m, op, msg);
    return;
  }
  for (size_t k = want; k < want + len; k++) {
    if (zeroed && !stamp_is(m, k, 0)) fail(m, op, "a zeroed run does not read as zeros");
    if (zeroed && !m->kz[k]) m->zero_filled++;
    if (m->kz[k]) m->zero_known--;
    m->kz[k] = 0;
    m->used[k] = 1;
    /* a non-zeroed run holds whatever its pages held: stamp it afresh */
    stamp_write(m, k, test_rng_next(&m->r) | 1);
  }
  m->used_pages += len;
  note_committed(m);
}

/* A random range [*a, *a + *len) of used pages inside the used span around
 * a random used page; 0 when the chosen page is free (then *a is it). */
static int pick_used_range(model* m, size_t* a, size_t* len) {
  size_t k = test_rng_below(&m->r, m->n);
  *a = k;
  if (!m->used[k]) return 0;
  size_t s = k, e = k + 1;
  while (s > 0 && m->used[s - 1]) s--;
  while (e < m->n && m->used[e]) e++;
  size_t x = s + test_rng_below(&m->r, e - s);
  size_t max = e - x;
  size_t l = test_rng_below(&m->r, 4) == 0 ? max : 1 + test_rng_below(&m->r, max);
  *a = x;
  *len = l;
  return 1;
}

static void snapshot(model* m) { memcpy(m->snap, m->meta, m->meta_bytes); }
static void unchanged(model* m, long op, const char* what) {
  if (memcmp(m->snap, m->meta, m->meta_bytes) != 0) fail(m, op, what);
}

static void op_free(model* m, long op) {
  size_t a, len;
  if (!pick_used_range(m, &a, &len)) {
    /* a range holding the free page a: refused, nothing changed */
    size_t before = test_rng_below(&m->r, 3);
    size_t s = a >= before ? a - before : 0;
    size_t l = (a - s) + 1 + test_rng_below(&m->r, 3);
    int want = model_status(m, s, l);
    snapshot(m);
    int r = pages_free(m->p, m->base + s * PG, l * PG, test_rng_below(&m->r, 2) ? PAGES_CLEAN : 0);
    if (r != want) fail(m, op, "a free of a range with a free page was not refused as the model says");
    unchanged(m, op, "a refused free changed the metadata");
    return;
  }
  int clean = test_rng_below(&m->r, 4) == 0;
  for (size_t k = a; k < a + len; k++) {
    if (!stamp_is(m, k, m->stamp[k])) fail(m, op, "a live page was overwritten");
    if (clean) stamp_write(m, k, 0); /* what madvise(MADV_DONTNEED) gives */
  }
  int r = pages_free(m->p, m->base + a * PG, len * PG, clean ? PAGES_CLEAN : 0);
  if (r != PAGES_OK) {
    fail(m, op, "a free of used pages was refused");
    return;
  }
  for (size_t k = a; k < a + len; k++) {
    m->used[k] = 0;
    if (clean) {
      m->kz[k] = 1;
      m->zero_known++;
    }
  }
  m->used_pages -= len;
}

static void op_bad(model* m, long op) {
  uintptr_t base = (uintptr_t)m->base, end = base + m->n * PG;
  void* ptr;
  size_t len;
  unsigned flags = 0;
  int want;
  switch (test_rng_below(&m->r, 6)) {
    case 0: ptr = (void*)(base - PG * (1 + test_rng_below(&m->r, 4))); len = PG * (1 + test_rng_below(&m->r, 8)); want = PAGES_E_FOREIGN; break;
    case 1: ptr = (void*)(end - PG * test_rng_below(&m->r, 3)); len = 3 * PG; want = PAGES_E_FOREIGN; break;
    case 2: ptr = (void*)(base + test_rng_below(&m->r, m->n) * PG + 1 + test_rng_below(&m->r, PG - 1)); len = PG; want = PAGES_E_INVALID; break;
    case 3: ptr = (void*)base; len = PG * (1 + test_rng_below(&m->r, 4)) - 1 - test_rng_below(&m->r, 100); want = PAGES_E_INVALID; break;
    case 4: ptr = (void*)base; len = SIZE_MAX - PG + 1; want = PAGES_E_INVALID; break;
    default: ptr = (void*)base; len = PG; flags = 0x2u << test_rng_below(&m->r, 8); want = PAGES_E_INVALID; break;
  }
  snapshot(m);
  if (pages_free(m->p, ptr, len, flags) != want) fail(m, op, "a bad free got the wrong status");
  if (flags == 0 && pages_validate(m->p, ptr, len) != want)
    fail(m, op, "a bad validate got the wrong status");
  /* refused allocations */
  unsigned badf = (unsigned)test_rng_below(&m->r, 2) ? (PAGES_LOW | PAGES_HIGH) : 0x8u | PAGES_LOW;
  if (pages_alloc(m->p, PG, badf) != NULL) fail(m, op, "an allocation with bad flags succeeded");
  if (pages_alloc(m->p, PG + 1 + test_rng_below(&m->r, PG - 1), PAGES_LOW) != NULL)
    fail(m, op, "a misaligned length was allocated");
  unchanged(m, op, "a refused call changed the metadata");
}

static void op_validate(model* m, long op) {
  size_t a = test_rng_below(&m->r, m->n + 2), len = test_rng_below(&m->r, 20);
  if (test_rng_below(&m->r, 2)) pick_used_range(m, &a, &len);
  int want = model_status(m, a, len);
  snapshot(m);
  if (pages_validate(m->p, m->base + a * PG, len * PG) != want) fail(m, op, "validate disagrees");
  unchanged(m, op, "validate changed the metadata");
}

typedef struct {
  model* m;
  size_t next; /* where the model's next dirty free run is searched from */
  long op;
  int may_refuse;
  int refused;
  size_t released;
} trim_ctx;

/* The model's next maximal run of free pages not known zero from *from. */
static int model_dirty_run(const model* m, size_t from, size_t* s, size_t* e) {
  size_t k = from;
  while (k < m->n && (m->used[k] || m->kz[k])) k++;
  if (k >= m->n) return 0;
  *s = k;
  while (k < m->n && !m->used[k] && !m->kz[k]) k++;
  *e = k;
  return 1;
}

static int release(void* ptr, size_t length, void* arg) {
  trim_ctx* t = arg;
  model* m = t->m;
  size_t s, e;
  size_t a = (size_t)((unsigned char*)ptr - m->base) / PG, n = length / PG;
  if (!model_dirty_run(m, t->next, &s, &e) || s != a || e - s != n) {
    fail(m, t->op, "trim offered a run the model does not have next");
    return 1;
  }
  t->next = e;
  if (t->may_refuse && test_rng_below(&m->r, 8) == 0) { /* refused: stays dirty */
    t->refused++;
    return 1;
  }
  for (size_t k = s; k < e; k++) {
    stamp_write(m, k, 0);
    m->kz[k] = 1;
    m->zero_known++;
  }
  t->released += length;
  return 0;
}

static void op_trim(model* m, long op, int may_refuse) {
  trim_ctx t = {m, 0, op, may_refuse, 0, 0};
  size_t rel = 1;
  if (pages_trim(m->p, release, &t, &rel) != PAGES_OK) fail(m, op, "trim failed");
  size_t s, e;
  if (model_dirty_run(m, t.next, &s, &e)) fail(m, op, "trim missed a dirty free run");
  if (rel != t.released) fail(m, op, "trim's released bytes disagree");
}

static void check_counters(model* m, long op) {
  pages_stats_t st;
  if (pages_stats(m->p, &st) != PAGES_OK) {
    fail(m, op, "stats failed");
    return;
  }
  if (st.used_bytes != m->used_pages * PG) fail(m, op, "used_bytes disagrees");
  if (st.free_bytes != (m->n - m->used_pages) * PG) fail(m, op, "free_bytes disagrees");
  if (st.zero_known_bytes != m->zero_known * PG) fail(m, op, "zero_known_bytes disagrees");
  if (st.committed_bytes != (m->n - m->zero_known) * PG) fail(m, op, "committed_bytes disagrees");
  if (st.peak_committed_bytes != m->peak_committed * PG) fail(m, op, "peak_committed disagrees");
  if (st.zero_filled_bytes != m->zero_filled * PG) fail(m, op, "zero_filled_bytes disagrees");
}

static void check_full(model* m, long op) {
  pages_stats_t st;
  pages_stats(m->p, &st);
  size_t runs = 0, longest = 0, run = 0;
  for (size_t k = 0; k < m->n; k++) {
    if (m->used[k]) {
      run = 0;
      if (!stamp_is(m, k, m->stamp[k])) fail(m, op, "a live page was overwritten");
    } else {
      if (run++ == 0) runs++;
      if (run > longest) longest = run;
    }
  }
  if (st.free_runs != runs) fail(m, op, "free_runs disagrees");
  if (st.largest_free != longest * PG) fail(m, op, "largest_free disagrees");
  if (pages_check(m->p) != PAGES_OK) fail(m, op, pages_check_message(m->p));
}

static long one_run(const shape* sh, uint64_t seed, long ops) {
  model m;
  memset(&m, 0, sizeof m);
  m.n = sh->npages;
  m.r.s = seed;
  m.base = mmap(NULL, m.n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  m.meta_size = pages_meta_size(m.n * PG);
  m.meta = mmap(NULL, m.meta_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(m.base != MAP_FAILED && m.meta != MAP_FAILED);
  if (m.base == MAP_FAILED || m.meta == MAP_FAILED) return 1;
  if (!(sh->init_flags & PAGES_META_ZEROED)) memset(m.meta, 0x6B, m.meta_size);
  CHECK_EQ_SZ(pages_init(&m.p, m.meta, m.meta_size, m.base, m.n * PG, sh->init_flags), PAGES_OK);
  pages_stats_t st;
  pages_stats(m.p, &st);
  m.meta_bytes = st.meta_bytes;
  m.used = calloc(m.n, 1);
  m.kz = calloc(m.n, 1);
  m.stamp = calloc(m.n, sizeof *m.stamp);
  m.snap = malloc(m.meta_bytes);
  if (sh->init_flags & PAGES_REGION_ZEROED) {
    memset(m.kz, 1, m.n);
    m.zero_known = m.n;
  }
  m.peak_committed = m.n - m.zero_known;
  long allocs = 0, nulls = 0;
  for (long op = 0; op < ops && m.failures == 0; op++) {
    uint64_t c = test_rng_below(&m.r, 1000);
    if (c < 430) {
      size_t before = m.used_pages;
      op_alloc(&m, op);
      allocs++;
      nulls += m.used_pages == before;
    } else if (c < 820) {
      op_free(&m, op);
    } else if (c < 900) {
      op_bad(&m, op);
    } else if (c < 995) {
      op_validate(&m, op);
    } else {
      op_trim(&m, op, 1);
    }
    check_counters(&m, op);
    if (op % 64 == 63) check_full(&m, op);
  }
  /* drain: every used span back, then everything is one free run */
  for (size_t k = 0; k < m.n && m.failures == 0;) {
    if (!m.used[k]) {
      k++;
      continue;
    }
    size_t e = k;
    while (e < m.n && m.used[e]) e++;
    if (pages_free(m.p, m.base + k * PG, (e - k) * PG, 0) != PAGES_OK) fail(&m, ops, "drain free");
    memset(m.used + k, 0, e - k);
    m.used_pages -= e - k;
    k = e;
  }
  check_counters(&m, ops);
  check_full(&m, ops);
  op_trim(&m, ops, 0);
  check_counters(&m, ops);
  pages_stats(m.p, &st);
  CHECK_EQ_SZ(st.used_bytes, 0);
  CHECK_EQ_SZ(st.free_runs, 1);
  CHECK_EQ_SZ(st.largest_free, m.n * PG);
  CHECK_EQ_SZ(st.committed_bytes, 0);
  if (m.failures) fprintf(stderr, "  %s seed=0x%016llx: %s\n", sh->name, (unsigned long long)seed,
                          m.first_error);
  CHECK_EQ_SZ(m.failures, 0);
  printf("  %-10s seed=0x%016llx ops=%ld allocs=%ld (%ld NULL) zero-filled %zu pages, peak "
         "committed %zu of %zu pages\n",
         sh->name, (unsigned long long)seed, ops, allocs, nulls, m.zero_filled, m.peak_committed,
         m.n);
  free(m.used);
  free(m.kz);
  free(m.stamp);
  free(m.snap);
  munmap(m.base, m.n * PG);
  munmap(m.meta, m.meta_size);
  return m.failures;
}

static uint64_t base_seed = 0x9A6E5EEDULL;
static long total_ops = 600000;

TEST(shadow_model_holds_over_hundreds_of_thousands_of_operations) {
  clock_t t0 = clock();
  long bad = 0;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    uint64_t seed = base_seed ^ ((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL);
    bad += one_run(&shapes[i], seed, total_ops * shapes[i].ops_share / 1000);
  }
  CHECK_EQ_SZ(bad, 0);
  printf("  %ld operations in %.2fs\n", total_ops, (double)(clock() - t0) / CLOCKS_PER_SEC);
}

int main(void) {
  const char* e = getenv("OFFHEAP_SEED");
  if (e && *e) base_seed = strtoull(e, NULL, 0);
  e = getenv("OFFHEAP_OPS");
  if (e && *e) total_ops = strtol(e, NULL, 0);
  RUN(shadow_model_holds_over_hundreds_of_thousands_of_operations);
  return test_summary("pages_shadow");
}
