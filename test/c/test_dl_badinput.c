/*
 * offheap — bad input to the dlmalloc core: every misuse and every kind of
 * damaged metadata must be detected and reported (custom_abort, a status
 * code, or NULL), never followed into a crash.
 *
 * Most scenarios run against three kinds of heap, each in a fresh forked
 * child (RUN_FORKED: a crash shows up as a failed test with its signal, and
 * an abort kills only the heap of that child):
 *   global   the global heap (dlmalloc, dlfree, ...), state outside the heap;
 *   mspace   create_mspace(0, 1): the state sits at the start of the heap;
 *   bounded  create_mspace_with_state + mspace_set_bounds over the test
 *            port's bottom-up bump area, with a live-chunk map: the
 *            configuration the Node glue uses.
 *
 * The corruption scenarios write into chunk headers at the offsets of the
 * design (spec 3.2, FOOTERS = 0): mem - 16 prev_foot, mem - 8 head, mem + 0 fd,
 * mem + 8 bk, mem + 16 / + 24 child[0] / child[1] of a free tree chunk.
 *
 * Built with -DUSE_DL_PREFIX, so malloc/free here are glibc's: a "libc
 * pointer" is a pointer no dl heap owns.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../csrc/dlmalloc.h"
#include "port_test.h"
#include "testhelper.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GARBAGE ((size_t)0x4141414141414141ULL)

static const char USAGE_MSG[] = "Usage Error Detected!";
static const char CORRUPT_MSG[] = "Corruption Detected!";

/* The allocator reported the problem as one of its two error kinds. */
static int detected_msg(const char* m) {
  return m && (strcmp(m, USAGE_MSG) == 0 || strcmp(m, CORRUPT_MSG) == 0);
}


/* Exactly one abort, with a message of the allocator's. */
#define CHECK_DETECTED()                                  \
  do {                                                    \
    CHECK_EQ_SZ(port_state.n_abort, 1);                   \
    CHECK(detected_msg(port_state.last_abort));           \
    if (port_state.last_abort && !detected_msg(port_state.last_abort)) \
      fprintf(stderr, "    abort message: %s\n", port_state.last_abort); \
  } while (0)

/* Chunk words (spec 3.2, FOOTERS = 0). */
#define WORD(mem, off) (*(size_t*)((char*)(mem) + (off)))
#define PREV_FOOT(mem) WORD(mem, -16)
#define HEAD(mem) WORD(mem, -8)
#define FD(mem) WORD(mem, 0)
#define BK(mem) WORD(mem, 8)
#define CHILD0(mem) WORD(mem, 16)
#define CHILD1(mem) WORD(mem, 24)

/* ---- heaps ----------------------------------------------------------------- */

enum { HEAP_GLOBAL, HEAP_MSPACE, HEAP_BOUNDED };

typedef struct {
  int kind;
  mspace ms;              /* NULL for the global heap */
  void* state;            /* bounded: the caller-owned state */
  size_t state_size;
  unsigned char* livemap; /* bounded: the live-chunk map */
  size_t livemap_bytes;
  char* lo;               /* bounded: [lo, lo + len) */
  size_t len;
  char* seg;              /* the heap's first segment, once known */
  size_t seg_len;
} heap;

static void* map_zeroed(size_t n) {
  void* p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* Switch the port to bottom-up placement and make it create its area, so that
 * port_bump_area() is known before the first allocation. */
static char* bump_area_now(void) {
  port_state.mmap_mode = PORT_MMAP_BOTTOM_UP;
  if (!port_bump_area()) {
    void* t = custom_mmap(4096);
    if (t != PORT_MFAIL) custom_munmap(t, 4096);
  }
  return port_bump_area();
}

/* A bounded mspace over [lo, lo + len); NULL (with a failed check) if the
 * allocator refuses it. */
static mspace make_bounded(heap* h, char* lo, size_t len, int locked) {
  h->state_size = mspace_state_size();
  h->state = map_zeroed(h->state_size + 4096);
  CHECK(h->state != NULL);
  if (!h->state) return NULL;
  h->ms = create_mspace_with_state(h->state, h->state_size, locked);
  CHECK(h->ms != NULL);
  if (!h->ms) return NULL;
  h->lo = lo;
  h->len = len;
  h->livemap_bytes = mspace_livemap_bytes(len);
  CHECK(h->livemap_bytes >= len / 16 / 8);
  h->livemap = map_zeroed(h->livemap_bytes);
  CHECK(h->livemap != NULL);
  CHECK_EQ_SZ(mspace_set_bounds(h->ms, lo, len, h->livemap, h->livemap_bytes), DL_OK);
  return h->ms;
}

/* A fresh heap of the given kind; call first thing in a forked child. */
static heap make_heap(int kind) {
  heap h;
  memset(&h, 0, sizeof h);
  h.kind = kind;
  port_reset();
  if (kind == HEAP_MSPACE) {
    h.ms = create_mspace(0, 1);
    CHECK(h.ms != NULL);
  } else if (kind == HEAP_BOUNDED) {
    char* area = bump_area_now();
    CHECK(area != NULL);
    /* the bump area hands out upwards from its middle: bound the heap to the
     * upper half (a smaller live map keeps mspace_check fast) */
    if (area) make_bounded(&h, area + 512 * MiB, 512 * MiB, 1);
  }
  if (kind == HEAP_MSPACE) { /* create_mspace mapped the first segment */
    for (int i = 0; i < port_state.n_log && !h.seg; i++) {
      if (port_state.log[i].kind == 'm' && port_state.log[i].ptr != PORT_MFAIL) {
        h.seg = port_state.log[i].ptr;
        h.seg_len = port_state.log[i].length;
      }
    }
    CHECK(h.seg != NULL);
  }
  port_reset_counters();
  return h;
}

/* The heap's first segment: known since creation for a plain mspace, else
 * the first mapping logged since make_heap (call before any counter reset). */
static char* first_segment(heap* h, size_t* len) {
  for (int i = 0; i < port_state.n_log && !h->seg; i++) {
    if (port_state.log[i].kind == 'm' && port_state.log[i].ptr != PORT_MFAIL) {
      h->seg = port_state.log[i].ptr;
      h->seg_len = port_state.log[i].length;
    }
  }
  *len = h->seg_len;
  return h->seg;
}

static void* hmalloc(const heap* h, size_t n) {
  return h->ms ? mspace_malloc(h->ms, n) : dlmalloc(n);
}
static void hfree(const heap* h, void* p) {
  if (h->ms)
    mspace_free(h->ms, p);
  else
    dlfree(p);
}
static void* hcalloc(const heap* h, size_t n, size_t s) {
  return h->ms ? mspace_calloc(h->ms, n, s) : dlcalloc(n, s);
}
static void* hrealloc(const heap* h, void* p, size_t n) {
  return h->ms ? mspace_realloc(h->ms, p, n) : dlrealloc(p, n);
}
static void* hrealloc_in_place(const heap* h, void* p, size_t n) {
  return h->ms ? mspace_realloc_in_place(h->ms, p, n) : dlrealloc_in_place(p, n);
}
static void* hmemalign(const heap* h, size_t a, size_t n) {
  return h->ms ? mspace_memalign(h->ms, a, n) : dlmemalign(a, n);
}
static void** hicalloc(const heap* h, size_t n, size_t s, void** c) {
  return h->ms ? mspace_independent_calloc(h->ms, n, s, c) : dlindependent_calloc(n, s, c);
}
static void** hicomalloc(const heap* h, size_t n, size_t* s, void** c) {
  return h->ms ? mspace_independent_comalloc(h->ms, n, s, c) : dlindependent_comalloc(n, s, c);
}
static size_t hbulk_free(const heap* h, void** a, size_t n) {
  return h->ms ? mspace_bulk_free(h->ms, a, n) : dlbulk_free(a, n);
}
static int htrim(const heap* h, size_t pad) {
  return h->ms ? mspace_trim(h->ms, pad) : dlmalloc_trim(pad);
}
static size_t hfootprint(const heap* h) {
  return h->ms ? mspace_footprint(h->ms) : dlmalloc_footprint();
}
static size_t hset_limit(const heap* h, size_t b) {
  return h->ms ? mspace_set_footprint_limit(h->ms, b) : dlmalloc_set_footprint_limit(b);
}
static struct mallinfo hmallinfo(const heap* h) {
  return h->ms ? mspace_mallinfo(h->ms) : dlmallinfo();
}
static void hinspect(const heap* h, void (*fn)(void*, void*, size_t, void*), void* arg) {
  if (h->ms)
    mspace_inspect_all(h->ms, fn, arg);
  else
    dlmalloc_inspect_all(fn, arg);
}
static int hvalidate(const heap* h, const void* p) {
  return h->ms ? mspace_validate(h->ms, p) : dlmalloc_validate(p);
}
static int hcheck(const heap* h) { return h->ms ? mspace_check(h->ms) : dlmalloc_check(); }
static const char* hcheck_message(const heap* h) {
  return h->ms ? mspace_check_message(h->ms) : dlmalloc_check_message();
}
static size_t husable_h(const heap* h, const void* p) {
  return h->ms ? mspace_usable_size(p) : dlmalloc_usable_size(p);
}
#define husable(p) husable_h(&h, (p))

/* Another heap's live pointer: an mspace's for the global heap, the global
 * heap's for an mspace. */
static void* other_heap_pointer(const heap* h, mspace* other) {
  *other = NULL;
  if (h->kind == HEAP_GLOBAL) {
    *other = create_mspace(0, 1);
    CHECK(*other != NULL);
    return *other ? mspace_malloc(*other, 100) : NULL;
  }
  return dlmalloc(100);
}

static int all_bytes(const void* p, size_t n, unsigned char v) {
  const unsigned char* b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != v) return 0;
  return 1;
}

static long static_array[64];

/* Three variants of every scenario. */
#define KINDS(scn)                       \
  TEST(scn##_global) { scn(HEAP_GLOBAL); } \
  TEST(scn##_mspace) { scn(HEAP_MSPACE); } \
  TEST(scn##_bounded) { scn(HEAP_BOUNDED); }
#define RUN_KINDS(scn)            \
  do {                            \
    RUN_FORKED(scn##_global);     \
    RUN_FORKED(scn##_mspace);     \
    RUN_FORKED(scn##_bounded);    \
  } while (0)

/* ---- invalid frees --------------------------------------------------------------- */

/* Double free of a block that sits in a small bin. */
static void double_free_smallbin(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(a && g);
  hfree(&h, a);
  CHECK_EQ_SZ(hvalidate(&h, a), DL_E_NOT_ALLOCATED);
  TRY_ABORT(hfree(&h, a));
  CHECK_DETECTED();
}
KINDS(double_free_smallbin)

/* Double free of a block that merged into top. */
static void double_free_top(int kind) {
  heap h = make_heap(kind);
  void* keep = hmalloc(&h, 64);
  void* a = hmalloc(&h, 100);
  CHECK(keep && a);
  hfree(&h, a);
  CHECK_EQ_SZ(hvalidate(&h, a), DL_E_NOT_ALLOCATED);
  TRY_ABORT(hfree(&h, a));
  CHECK_DETECTED();
}
KINDS(double_free_top)

/* Double free of a block that coalesced backward: its stale header still
 * says "in use". */
static void double_free_backward(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 100);
  void* b = hmalloc(&h, 100);
  void* g = hmalloc(&h, 16);
  CHECK(a && b && g);
  hfree(&h, a);
  hfree(&h, b); /* merges into a's free chunk */
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  CHECK_EQ_SZ(hvalidate(&h, b), DL_E_NOT_ALLOCATED);
  TRY_ABORT(hfree(&h, b));
  CHECK_DETECTED();
}
KINDS(double_free_backward)

/* Interior pointer into zeroed memory: the header word there reads 0, which
 * the original design takes for a direct-mapped chunk. */
static void free_interior_zeroed(int kind) {
  heap h = make_heap(kind);
  char* p = hcalloc(&h, 1, 2048);
  void* g = hmalloc(&h, 16);
  CHECK(p && g);
  if (!p) return;
  CHECK_EQ_SZ(hvalidate(&h, p + 256), DL_E_NOT_ALLOCATED);
  port_reset_counters();
  TRY_ABORT(hfree(&h, p + 256));
  CHECK_DETECTED();
  CHECK_EQ_SZ(port_state.n_munmap, 0);
}
KINDS(free_interior_zeroed)

/* Interior pointer into memory full of a pattern that looks like a header of
 * a free chunk (0x41: PINUSE set, CINUSE clear). */
static void free_interior_pattern(int kind) {
  heap h = make_heap(kind);
  char* p = hmalloc(&h, 1000);
  void* g = hmalloc(&h, 16);
  CHECK(p && g);
  if (!p) return;
  memset(p, 0x41, 1000);
  CHECK_EQ_SZ(hvalidate(&h, p + 16), DL_E_NOT_ALLOCATED);
  TRY_ABORT(hfree(&h, p + 16));
  CHECK_DETECTED();
}
KINDS(free_interior_pattern)

/* Interior pointer whose fake header claims a plausible in-use chunk. */
static void free_interior_forged(int kind) {
  heap h = make_heap(kind);
  char* p = hmalloc(&h, 1000);
  void* g = hmalloc(&h, 16);
  CHECK(p && g);
  if (!p) return;
  memset(p, 0, 1000);
  /* a forged 64-byte in-use chunk at p + 64, followed by a chunk with PINUSE */
  HEAD(p + 64) = 64 | 3;
  HEAD(p + 128) = 64 | 3;
  CHECK_EQ_SZ(hvalidate(&h, p + 64), DL_E_NOT_ALLOCATED);
  if (kind == HEAP_BOUNDED) {
    /* with a live-chunk map the rejection is exact */
    TRY_ABORT(hfree(&h, p + 64));
    CHECK_DETECTED();
  }
}
KINDS(free_interior_forged)

/* A pointer that is not even 16-aligned. */
static void free_misaligned(int kind) {
  heap h = make_heap(kind);
  char* p = hmalloc(&h, 100);
  void* g = hmalloc(&h, 16);
  CHECK(p && g);
  if (!p) return;
  CHECK_EQ_SZ(hvalidate(&h, p + 1), DL_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(hvalidate(&h, p + 8), DL_E_NOT_ALLOCATED);
  TRY_ABORT(hfree(&h, p + 1));
  CHECK_DETECTED();
}
KINDS(free_misaligned)

/* A pointer into a static array (below the heap for the global heap). */
static void free_static(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 100);
  CHECK(a != NULL);
  memset(static_array, 0, sizeof static_array);
  CHECK_EQ_SZ(hvalidate(&h, &static_array[8]), DL_E_FOREIGN);
  TRY_ABORT(hfree(&h, &static_array[8]));
  CHECK_DETECTED();
  CHECK(all_bytes(static_array, sizeof static_array, 0));
}
KINDS(free_static)

/* A pointer into the stack (above the heap: the original design lets it
 * through). */
static void free_stack(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 100);
  CHECK(a != NULL);
  _Alignas(16) unsigned char buf[512];
  memset(buf, 0x33, sizeof buf);
  CHECK_EQ_SZ(hvalidate(&h, buf + 64), DL_E_FOREIGN);
  TRY_ABORT(hfree(&h, buf + 64));
  CHECK_DETECTED();
  CHECK(all_bytes(buf, sizeof buf, 0x33));
}
KINDS(free_stack)

/* A pointer from glibc's malloc. */
static void free_libc(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 100);
  unsigned char* l = malloc(256);
  CHECK(a && l);
  if (!l) return;
  memset(l, 0x22, 256);
  CHECK_EQ_SZ(hvalidate(&h, l), DL_E_FOREIGN);
  TRY_ABORT(hfree(&h, l));
  CHECK_DETECTED();
  CHECK(all_bytes(l, 256, 0x22));
  free(l);
}
KINDS(free_libc)

/* A live pointer of another heap (no FOOTERS: nothing routes it to its owner,
 * so this heap must see that it is not its own). The owner is unharmed. */
static void free_other_heap(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 100);
  mspace other_ms;
  unsigned char* o = other_heap_pointer(&h, &other_ms);
  CHECK(a && o);
  if (!o) return;
  memset(o, 0x66, 100);
  if (kind != HEAP_BOUNDED) /* bounded: see validate_bounded_foreign_inside */
    CHECK_EQ_SZ(hvalidate(&h, o), DL_E_FOREIGN);
  TRY_ABORT(hfree(&h, o));
  CHECK_DETECTED();
  CHECK(all_bytes(o, 100, 0x66));
  if (other_ms) {
    CHECK_EQ_SZ(mspace_validate(other_ms, o), DL_OK);
    CHECK_EQ_SZ(mspace_check(other_ms), DL_OK);
  } else {
    CHECK_EQ_SZ(dlmalloc_validate(o), DL_OK);
    CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  }
}
KINDS(free_other_heap)

/* realloc and realloc_in_place of a freed block. */
static void realloc_freed(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(a && g);
  hfree(&h, a);
  TRY_ABORT((void)hrealloc(&h, a, 500));
  CHECK_DETECTED();
}
KINDS(realloc_freed)

static void realloc_in_place_freed(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(a && g);
  hfree(&h, a);
  TRY_ABORT((void)hrealloc_in_place(&h, a, 20));
  CHECK_DETECTED();
}
KINDS(realloc_in_place_freed)

/* realloc of a foreign (stack) pointer. */
static void realloc_foreign(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  CHECK(a != NULL);
  _Alignas(16) unsigned char buf[256];
  memset(buf, 0x44, sizeof buf);
  TRY_ABORT((void)hrealloc(&h, buf + 32, 64));
  CHECK_DETECTED();
  CHECK(all_bytes(buf, sizeof buf, 0x44));
}
KINDS(realloc_foreign)

/* usable_size of a freed block is 0, without complaint. */
static void usable_size_freed(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(a && g);
  CHECK_EQ_SZ(husable(a), 40);
  hfree(&h, a);
  CHECK_EQ_SZ(husable(a), 0);
  CHECK_EQ_SZ(husable(NULL), 0);
  CHECK_EQ_SZ(port_state.n_abort, 0);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
}
KINDS(usable_size_freed)

/* The mspace's own state chunk is not an allocation. */
TEST(free_mstate_mspace) {
  heap h = make_heap(HEAP_MSPACE);
  void* a = hmalloc(&h, 100);
  CHECK(a != NULL);
  CHECK_EQ_SZ(mspace_validate(h.ms, h.ms), DL_E_NOT_ALLOCATED);
  TRY_ABORT(mspace_free(h.ms, h.ms));
  CHECK_DETECTED();
}

/* Chunks that are in use but are not allocations -- the mstate of a plain
 * mspace, the records of older segments -- must be refused by free like any
 * other pointer validate rejects. inspect_all reports them as in use, which
 * is how this test finds them. */
#define NINTERNAL 64
static void* internal_start[NINTERNAL];
static int n_internal_seen;
static void collect_cb(void* start, void* end, size_t used, void* arg) {
  (void)end;
  (void)arg;
  if (used != 0 && n_internal_seen < NINTERNAL) internal_start[n_internal_seen++] = start;
}

static void free_internal_chunks(int kind) {
  heap h = make_heap(kind);
  if (kind != HEAP_BOUNDED) port_state.mmap_mode = PORT_MMAP_BOTTOM_UP;
  void* a = hmalloc(&h, 100);
  CHECK(a != NULL);
  /* a mapping in between keeps the heap's next one from being adjacent, so
   * the heap starts a second segment and files a record for the first */
  void* gap = custom_mmap(4096);
  CHECK(gap != PORT_MFAIL);
  void* big = hmalloc(&h, 200000);
  CHECK(big != NULL);
  n_internal_seen = 0;
  hinspect(&h, collect_cb, NULL);
  int internal = 0, refused = 0;
  for (int i = 0; i < n_internal_seen; i++) {
    void* q = internal_start[i];
    if (hvalidate(&h, q) == DL_OK) continue;
    internal++;
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
      alarm(30); /* a hang fails the run instead of outliving the suite */
      TRY_ABORT(hfree(&h, q));
      _exit(port_state.n_abort == 1 && detected_msg(port_state.last_abort) ? 0 : 1);
    }
    int st = 0;
    if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
      refused++;
    else
      fprintf(stderr, "    free of internal chunk %p (offset %td in its heap) was not refused\n", q,
              (char*)q - (char*)a);
  }
  if (kind == HEAP_MSPACE) CHECK(internal >= 1); /* at least the mstate */
  CHECK_EQ_SZ(refused, internal);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  if (getenv("OFFHEAP_TEST_VERBOSE"))
    fprintf(stderr, "    kind %d: %d internal chunks\n", kind, internal);
}
KINDS(free_internal_chunks)

/* ---- damaged metadata: detected through the abort hook, never a crash ---------- */

/* A small free chunk's fd is garbage; taking it from its bin must notice. */
static void corrupt_small_fd_pop(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(a && g);
  hfree(&h, a);
  FD(a) = GARBAGE;
  TRY_ABORT({
    (void)hmalloc(&h, 40);
    (void)hmalloc(&h, 40);
    (void)hmalloc(&h, 40);
  });
  CHECK_DETECTED();
}
KINDS(corrupt_small_fd_pop)

/* fd points into the heap, at an in-use chunk instead of a list neighbour. */
static void corrupt_small_fd_plausible(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  char* g = hmalloc(&h, 16);
  void* b = hmalloc(&h, 40);
  void* g2 = hmalloc(&h, 16);
  CHECK(a && g && b && g2);
  hfree(&h, a);
  hfree(&h, b); /* bin: b, a */
  FD(b) = (size_t)(g - 16);
  TRY_ABORT({
    (void)hmalloc(&h, 40);
    (void)hmalloc(&h, 40);
    (void)hmalloc(&h, 40);
  });
  CHECK_DETECTED();
}
KINDS(corrupt_small_fd_plausible)

/* A small free chunk's bk is garbage; unlinking it while coalescing must
 * notice. */
static void corrupt_small_bk_unlink(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  void* b = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(a && b && g);
  hfree(&h, a);
  BK(a) = GARBAGE;
  TRY_ABORT(hfree(&h, b));
  CHECK_DETECTED();
}
KINDS(corrupt_small_bk_unlink)

static void corrupt_small_fd_unlink(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  void* b = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(a && b && g);
  hfree(&h, a);
  FD(a) = GARBAGE;
  TRY_ABORT(hfree(&h, b));
  CHECK_DETECTED();
}
KINDS(corrupt_small_fd_unlink)

/* A tree chunk's ring links are garbage. */
static void corrupt_tree_links(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 1000);
  void* g = hmalloc(&h, 16);
  CHECK(a && g);
  hfree(&h, a);
  FD(a) = GARBAGE;
  BK(a) = GARBAGE;
  TRY_ABORT({
    (void)hmalloc(&h, 1000);
    (void)hmalloc(&h, 1000);
  });
  CHECK_DETECTED();
}
KINDS(corrupt_tree_links)

/* A tree root's children are garbage; inserting into and searching the same
 * bin walk them. */
static void corrupt_tree_children(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 1000);
  void* g = hmalloc(&h, 16);
  void* b = hmalloc(&h, 900); /* same tree bin (768..1023) */
  void* g2 = hmalloc(&h, 16);
  CHECK(a && g && b && g2);
  hfree(&h, a);
  CHILD0(a) = GARBAGE;
  CHILD1(a) = GARBAGE;
  TRY_ABORT({
    hfree(&h, b);
    (void)hmalloc(&h, 800);
    (void)hmalloc(&h, 950);
  });
  CHECK_DETECTED();
}
KINDS(corrupt_tree_children)

/* A free chunk's head is garbage; freeing the chunk before it merges forward
 * into it. */
static void corrupt_free_head_forward(int kind) {
  heap h = make_heap(kind);
  void* w = hmalloc(&h, 40);
  void* x = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(w && x && g);
  hfree(&h, x);
  HEAD(x) = GARBAGE;
  TRY_ABORT(hfree(&h, w));
  CHECK_DETECTED();
}
KINDS(corrupt_free_head_forward)

/* A free chunk's head is garbage; popping it from its exact bin may rewrite
 * the head from the bin size (harmless) or notice: either way no crash, and
 * if nothing was noticed the heap must be consistent. */
static void corrupt_free_head_pop(int kind) {
  heap h = make_heap(kind);
  void* x = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(x && g);
  hfree(&h, x);
  HEAD(x) = GARBAGE;
  void* volatile y = NULL;
  TRY_ABORT(y = hmalloc(&h, 40));
  if (port_state.n_abort == 0) {
    CHECK(y == x);
    CHECK_EQ_SZ(husable(y), 40);
    CHECK_EQ_SZ(hcheck(&h), DL_OK);
  } else {
    CHECK_DETECTED();
  }
}
KINDS(corrupt_free_head_pop)

/* Spec test 45 on every kind of heap: an overflow clears the next chunk's
 * CINUSE bit. */
static void corrupt_overflow_head(int kind) {
  heap h = make_heap(kind);
  char* a = hmalloc(&h, 100);
  char* b = hmalloc(&h, 100);
  CHECK(a && b);
  CHECK(b == a + 112);
  memset(a, 0x41, 120);
  TRY_ABORT(hfree(&h, b));
  CHECK_DETECTED();
}
KINDS(corrupt_overflow_head)

/* An in-use chunk's head claims a huge size. */
static void corrupt_inuse_head_huge(int kind) {
  heap h = make_heap(kind);
  char* p = hmalloc(&h, 100);
  void* g = hmalloc(&h, 100);
  CHECK(p && g);
  HEAD(p) = GARBAGE | 3;
  TRY_ABORT(hfree(&h, p));
  CHECK_DETECTED();
}
KINDS(corrupt_inuse_head_huge)

/* The prev_foot of a chunk whose predecessor is free is garbage: coalescing
 * backward would jump outside the heap. */
static void corrupt_prev_foot(int kind) {
  heap h = make_heap(kind);
  void* x = hmalloc(&h, 40);
  void* y = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(x && y && g);
  hfree(&h, x);
  PREV_FOOT(y) = GARBAGE;
  TRY_ABORT(hfree(&h, y));
  CHECK_DETECTED();
}
KINDS(corrupt_prev_foot)

/* top's head word in memory is damaged. The design sizes top from the state
 * (topsize), so allocation may go on; what must hold is that nothing is
 * carved outside the heap's memory and nothing crashes (or the damage is
 * reported). in_port_memory is defined with the scribble runs below. */
static int in_port_memory(const heap* h, const void* p, size_t n);

static void top_damage_run(int kind, int plausible) {
  heap h = make_heap(kind);
  char* p = hmalloc(&h, 100); /* the last block before top */
  CHECK(p != NULL);
  if (!p) return;
  size_t* top_head = &HEAD(p + husable(p) + 8);
  if (plausible)
    *top_head += 16 * MiB;
  else
    *top_head = GARBAGE;
  static const size_t sizes[] = {1 << 20, 100000, 100, 4 << 20, 8 << 20, 5000};
  void* volatile got[6] = {0};
  TRY_ABORT({
    for (int i = 0; i < 6; i++) got[i] = hmalloc(&h, sizes[i]);
  });
  if (port_state.n_abort) CHECK_DETECTED();
  for (int i = 0; i < 6; i++) {
    if (!got[i]) continue;
    CHECK(in_port_memory(&h, got[i], sizes[i]));
    if (in_port_memory(&h, got[i], sizes[i])) memset(got[i], 0x17, sizes[i]);
  }
}

static void corrupt_top_garbage(int kind) { top_damage_run(kind, 0); }
KINDS(corrupt_top_garbage)

static void corrupt_top_plausible(int kind) { top_damage_run(kind, 1); }
KINDS(corrupt_top_plausible)

/* ---- mspace_check / dlmalloc_check find damage without aborting ---------------- */

/* Scribble one word, check: DL_E_CORRUPTED with a message, no abort, no
 * crash. (Whether the heap stays marked corrupted afterwards is the
 * allocator's choice, so nothing is asserted after the check.) */
static void expect_check_corrupted(const heap* h) {
  volatile int st = DL_OK;
  TRY_ABORT(st = hcheck(h));
  CHECK_EQ_SZ(port_state.n_abort, 0);
  CHECK_EQ_SZ(st, DL_E_CORRUPTED);
  const char* msg = hcheck_message(h);
  CHECK(msg != NULL && msg[0] != '\0');
}

static void check_free_size(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(a && g);
  hfree(&h, a);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  CHECK(hcheck_message(&h) != NULL);
  HEAD(a) += 16; /* claims 64 bytes in a 48-byte bin */
  expect_check_corrupted(&h);
}
KINDS(check_free_size)

static void check_free_size_garbage(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(a && g);
  hfree(&h, a);
  HEAD(a) = GARBAGE;
  expect_check_corrupted(&h);
}
KINDS(check_free_size_garbage)

static void check_free_fd(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(a && g);
  hfree(&h, a);
  FD(a) = GARBAGE;
  expect_check_corrupted(&h);
}
KINDS(check_free_fd)

static void check_free_bk(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 40);
  void* g = hmalloc(&h, 16);
  CHECK(a && g);
  hfree(&h, a);
  BK(a) = (size_t)g; /* inside the heap, but not the list neighbour */
  expect_check_corrupted(&h);
}
KINDS(check_free_bk)

static void check_tree_child(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 1000);
  void* g = hmalloc(&h, 16);
  CHECK(a && g);
  hfree(&h, a);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  CHILD1(a) = GARBAGE;
  expect_check_corrupted(&h);
}
KINDS(check_tree_child)

static void check_top_size(int kind) {
  heap h = make_heap(kind);
  char* p = hmalloc(&h, 100);
  CHECK(p != NULL);
  if (!p) return;
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  HEAD(p + husable(p) + 8) = GARBAGE;
  expect_check_corrupted(&h);
}
KINDS(check_top_size)

static void check_top_size_plausible(int kind) {
  heap h = make_heap(kind);
  char* p = hmalloc(&h, 100);
  CHECK(p != NULL);
  if (!p) return;
  HEAD(p + husable(p) + 8) -= 4096;
  expect_check_corrupted(&h);
}
KINDS(check_top_size_plausible)

/* An in-use chunk claims 16 bytes more: the boundary walk no longer lands on
 * its neighbour. */
static void check_inuse_size(int kind) {
  heap h = make_heap(kind);
  char* p = hmalloc(&h, 100);
  void* q = hmalloc(&h, 100);
  void* r = hmalloc(&h, 100);
  CHECK(p && q && r);
  if (!p) return;
  HEAD(p) += 16;
  expect_check_corrupted(&h);
}
KINDS(check_inuse_size)

/* A chunk in use whose successor claims the predecessor is free (PINUSE
 * cleared). */
static void check_pinuse_cleared(int kind) {
  heap h = make_heap(kind);
  char* p = hmalloc(&h, 100);
  char* q = hmalloc(&h, 100);
  void* r = hmalloc(&h, 100);
  CHECK(p && q && r);
  if (!q) return;
  HEAD(q) &= ~(size_t)1;
  expect_check_corrupted(&h);
}
KINDS(check_pinuse_cleared)

/* ---- the system refuses memory ------------------------------------------------------ */

/* custom_mmap fails: every allocator entry returns NULL, old blocks stay
 * intact, the heap checks clean, and works again once mmap does (spec #53). */
static void mmap_failure(int kind) {
  heap h = make_heap(kind);
  unsigned char* a = hmalloc(&h, 100);
  CHECK(a != NULL);
  if (!a) return;
  memset(a, 0x5C, 100);
  port_state.fail_all_mmaps = 1;
  CHECK(hmalloc(&h, 1 << 20) == NULL);
  CHECK(hcalloc(&h, 1, 1 << 20) == NULL);
  CHECK(hmemalign(&h, 4096, 1 << 20) == NULL);
  CHECK(hrealloc(&h, a, 1 << 20) == NULL);
  size_t sizes[2] = {1 << 20, 1 << 20};
  void* arr[2];
  CHECK(hicomalloc(&h, 2, sizes, arr) == NULL);
  CHECK(hicalloc(&h, 1024, 1024, NULL) == NULL);
  CHECK(all_bytes(a, 100, 0x5C));
  CHECK_EQ_SZ(hvalidate(&h, a), DL_OK);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  CHECK_EQ_SZ(port_state.n_abort, 0);
  void* small = hmalloc(&h, 100); /* still fits in top */
  CHECK(small != NULL);
  port_state.fail_all_mmaps = 0;
  void* big = hmalloc(&h, 1 << 20);
  CHECK(big != NULL);
  unsigned char* a2 = hrealloc(&h, a, 1 << 20);
  CHECK(a2 != NULL && all_bytes(a2, 100, 0x5C));
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  hfree(&h, big);
  hfree(&h, a2);
  hfree(&h, small);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
}
KINDS(mmap_failure)

/* The heap's next mapping fails: its very first one for the global heap and
 * a bounded mspace (they map lazily), its second segment for a plain mspace
 * (create_mspace mapped the first). */
static void mmap_failure_first(int kind) {
  heap h = make_heap(kind);
  size_t n = kind == HEAP_MSPACE ? (size_t)1 << 20 : 1;
  port_state.fail_next_mmaps = 1;
  CHECK(hmalloc(&h, n) == NULL);
  CHECK_EQ_SZ(port_state.n_mmap, 1);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  void* p = hmalloc(&h, n);
  CHECK(p != NULL);
  CHECK_EQ_SZ(hvalidate(&h, p), DL_OK);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
}
KINDS(mmap_failure_first)

/* A direct mapping that fails falls back to the heap. */
static void direct_failure_fallback(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 100);
  CHECK(a != NULL);
  port_state.direct_enabled = 0; /* custom_direct_mmap returns PORT_MFAIL */
  port_reset_counters();
  void* big = hmalloc(&h, 1 << 20);
  CHECK(big != NULL);
  CHECK_EQ_SZ(port_state.n_direct, 1);
  CHECK(port_state.n_mmap >= 1);
  CHECK_EQ_SZ(hvalidate(&h, big), DL_OK);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
}
KINDS(direct_failure_fallback)

/* The footprint limit: NULL beyond it, the heap still valid and usable. */
static void footprint_limit(int kind) {
  heap h = make_heap(kind);
  void* a = hmalloc(&h, 100);
  CHECK(a != NULL);
  size_t fp = hfootprint(&h);
  CHECK(fp > 0);
  CHECK_EQ_SZ(hset_limit(&h, fp), fp);
  port_reset_counters();
  port_state.direct_enabled = 1;
  CHECK(hmalloc(&h, 1 << 20) == NULL);
  CHECK(hmalloc(&h, 4 << 20) == NULL); /* no direct map beyond the limit either */
  CHECK(hrealloc(&h, a, 1 << 20) == NULL);
  CHECK_EQ_SZ(port_state.n_mmap, 0);
  CHECK_EQ_SZ(port_state.n_direct, 0);
  CHECK_EQ_SZ(hfootprint(&h), fp);
  CHECK_EQ_SZ(hvalidate(&h, a), DL_OK);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  void* s = hmalloc(&h, 1000);
  CHECK(s != NULL);
  CHECK_EQ_SZ(hset_limit(&h, SIZE_MAX), 0);
  void* big = hmalloc(&h, 1 << 20);
  CHECK(big != NULL);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  hfree(&h, big);
  hfree(&h, s);
  hfree(&h, a);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
}
KINDS(footprint_limit)

/* ---- validate ---------------------------------------------------------------------- */

static void validate_all(int kind) {
  heap h = make_heap(kind);
  /* live blocks of every origin */
  char* m = hmalloc(&h, 100);
  char* c = hcalloc(&h, 10, 10);
  char* r = hrealloc(&h, NULL, 50);
  char* g1 = hmalloc(&h, 16);
  r = hrealloc(&h, r, 5000); /* moves */
  char* rin = hmalloc(&h, 300);
  char* rin2 = hrealloc(&h, rin, 200); /* shrinks in place */
  char* al = hmemalign(&h, 4096, 300);
  void** ic = hicalloc(&h, 3, 24, NULL);
  size_t sizes[2] = {40, 400};
  void* cm[2];
  void** cmr = hicomalloc(&h, 2, sizes, cm);
  char* big = hmalloc(&h, 1 << 20); /* from a new segment */
  port_state.direct_enabled = 1;
  char* direct = hmalloc(&h, 3 << 20); /* a direct mapping */
  port_state.direct_enabled = 0;
  CHECK(m && c && r && g1 && rin && rin2 == rin && al && ic && cmr == cm && big && direct);
  if (!(m && c && r && g1 && rin2 && al && ic && cmr == cm && big && direct)) return;
  const void* live[] = {m, c, r, g1, rin2, al, ic[0], ic[1], ic[2], ic, cm[0], cm[1], big, direct};
  for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
    CHECK_EQ_SZ(hvalidate(&h, live[i]), DL_OK);

  /* freed and stale pointers */
  char* f1 = hmalloc(&h, 40);
  char* g2 = hmalloc(&h, 16);
  char* s1 = hmalloc(&h, 40);
  char* s2 = hmalloc(&h, 40);
  char* g3 = hmalloc(&h, 16);
  CHECK(f1 && g2 && s1 && s2 && g3);
  hfree(&h, f1); /* into a small bin */
  hfree(&h, s1);
  hfree(&h, s2); /* coalesces with s1 into one 96-byte chunk */
  char* s = hmalloc(&h, 80); /* a different size over the same memory */
  CHECK(s == s1);
  CHECK_EQ_SZ(hvalidate(&h, s), DL_OK);
  CHECK_EQ_SZ(hvalidate(&h, f1), DL_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(hvalidate(&h, s2), DL_E_NOT_ALLOCATED); /* stale: inside s now */
  char* t = hmalloc(&h, 200);
  CHECK(t != NULL);
  hfree(&h, t); /* merged into top */
  CHECK_EQ_SZ(hvalidate(&h, t), DL_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(hvalidate(&h, t + 4096), DL_E_NOT_ALLOCATED); /* deep in top */
  char* d2 = hmalloc(&h, 100);
  CHECK(d2 != NULL);

  /* interior and misaligned */
  CHECK_EQ_SZ(hvalidate(&h, m + 16), DL_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(hvalidate(&h, m + 1), DL_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(hvalidate(&h, m - 16), DL_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(hvalidate(&h, big + 4096), DL_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(hvalidate(&h, direct + 16), DL_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(hvalidate(&h, direct + (1 << 20)), DL_E_NOT_ALLOCATED);

  /* foreign */
  _Alignas(16) unsigned char stackbuf[64];
  void* lib = malloc(64);
  mspace other_ms;
  void* other = other_heap_pointer(&h, &other_ms);
  CHECK_EQ_SZ(hvalidate(&h, NULL), DL_E_FOREIGN);
  CHECK_EQ_SZ(hvalidate(&h, stackbuf + 16), DL_E_FOREIGN);
  CHECK_EQ_SZ(hvalidate(&h, &static_array[2]), DL_E_FOREIGN);
  CHECK_EQ_SZ(hvalidate(&h, lib), DL_E_FOREIGN);
  if (kind != HEAP_BOUNDED) /* bounded: see validate_bounded_foreign_inside */
    CHECK_EQ_SZ(hvalidate(&h, other), DL_E_FOREIGN);
  CHECK_EQ_SZ(hvalidate(&h, (void*)(uintptr_t)16), DL_E_FOREIGN);
  CHECK_EQ_SZ(hvalidate(&h, (void*)~(uintptr_t)15), DL_E_FOREIGN);
  free(lib);

  /* a freed direct mapping is gone */
  hfree(&h, direct);
  CHECK(hvalidate(&h, direct) != DL_OK);

  /* validate changes nothing: the heap's first segment (and, bounded, the
   * state and the live map) are byte-identical before and after. */
  size_t seglen = 0;
  char* seg = first_segment(&h, &seglen);
  CHECK(seg != NULL);
  if (!seg) return;
  unsigned char* snap = malloc(seglen);
  unsigned char* snap_state = kind == HEAP_BOUNDED ? malloc(h.state_size) : NULL;
  unsigned char* snap_map = kind == HEAP_BOUNDED ? malloc(h.livemap_bytes) : NULL;
  CHECK(snap != NULL);
  if (!snap) return;
  memcpy(snap, seg, seglen);
  if (snap_state) memcpy(snap_state, h.state, h.state_size);
  if (snap_map) memcpy(snap_map, h.livemap, h.livemap_bytes);
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < sizeof live / sizeof live[0] - 1; i++) (void)hvalidate(&h, live[i]);
    (void)hvalidate(&h, f1);
    (void)hvalidate(&h, s2);
    (void)hvalidate(&h, m + 16);
    (void)hvalidate(&h, m + 1);
    (void)hvalidate(&h, stackbuf);
    (void)hvalidate(&h, NULL);
    (void)hvalidate(&h, t + 4096);
  }
  CHECK(memcmp(snap, seg, seglen) == 0);
  if (snap_state) CHECK(memcmp(snap_state, h.state, h.state_size) == 0);
  if (snap_map) CHECK(memcmp(snap_map, h.livemap, h.livemap_bytes) == 0);
  free(snap);
  free(snap_state);
  free(snap_map);
  /* ... and the allocation that follows is the one that would have followed:
   * f1's chunk is the only one in its bin. */
  CHECK(hmalloc(&h, 40) == f1);
  CHECK_EQ_SZ(port_state.n_abort, 0);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
}
KINDS(validate_all)

/* dlmalloc.h: a bounded mspace owns its whole range, so an address inside
 * the bounds that is not a live allocation -- memory the port never gave it,
 * or even another heap's block mapped from the same area -- is
 * DL_E_NOT_ALLOCATED; only addresses outside the bounds are DL_E_FOREIGN. */
TEST(validate_bounded_foreign_inside) {
  heap h = make_heap(HEAP_BOUNDED);
  void* a = hmalloc(&h, 100);
  void* other = dlmalloc(100); /* the global heap maps from the same area */
  CHECK(a && other);
  CHECK((char*)other >= h.lo && (char*)other < h.lo + h.len);
  CHECK_EQ_SZ(hvalidate(&h, a), DL_OK);
  CHECK_EQ_SZ(hvalidate(&h, other), DL_E_NOT_ALLOCATED);
  CHECK_EQ_SZ(hvalidate(&h, h.lo + h.len - 4096), DL_E_NOT_ALLOCATED); /* never mapped */
  CHECK_EQ_SZ(hvalidate(&h, h.lo + h.len), DL_E_FOREIGN);
  CHECK_EQ_SZ(hvalidate(&h, h.lo - 16), DL_E_FOREIGN);
}

/* ---- bounded mspaces: arguments and confinement ----------------------------------- */

TEST(bounded_bad_arguments) {
  port_reset();
  char* area = bump_area_now();
  CHECK(area != NULL);
  size_t ss = mspace_state_size();
  CHECK(ss > 0);
  unsigned char* st = map_zeroed(ss + 64);
  CHECK(st != NULL);
  if (!st || !area) return;
  CHECK(create_mspace_with_state(NULL, ss, 1) == NULL);
  CHECK(create_mspace_with_state(st, ss - 1, 1) == NULL);
  CHECK(create_mspace_with_state(st + 8, ss, 1) == NULL); /* not 16-aligned */
  mspace ms = create_mspace_with_state(st, ss, 1);
  CHECK(ms != NULL);
  if (!ms) return;
  size_t len = 64 * MiB;
  size_t mb = mspace_livemap_bytes(len);
  CHECK(mb >= len / 128);
  unsigned char* map = map_zeroed(mb);
  CHECK(map != NULL);
  CHECK_EQ_SZ(mspace_set_bounds(ms, area + 1, len, map, mb), DL_E_INVALID);
  CHECK_EQ_SZ(mspace_set_bounds(ms, area, 0, map, mb), DL_E_INVALID);
  CHECK_EQ_SZ(mspace_set_bounds(ms, area, len, map, mb - 1), DL_E_INVALID);
  CHECK_EQ_SZ(mspace_set_bounds(ms, area + 512 * MiB, len, map, mb), DL_OK);
  void* p = mspace_malloc(ms, 100);
  CHECK(p != NULL);
  /* too late: the heap is in use */
  CHECK_EQ_SZ(mspace_set_bounds(ms, area + 512 * MiB, len, map, mb), DL_E_INVALID);
  CHECK_EQ_SZ(mspace_validate(ms, p), DL_OK);
  CHECK_EQ_SZ(mspace_check(ms), DL_OK);
  CHECK(destroy_mspace(ms) > 0);
}

/* Memory the port hands out beyond the bounds is given back and counts as a
 * mapping failure. */
TEST(bounded_confinement) {
  port_reset();
  char* area = bump_area_now();
  CHECK(area != NULL);
  if (!area) return;
  heap h;
  memset(&h, 0, sizeof h);
  h.kind = HEAP_BOUNDED;
  /* the bump allocator hands out upwards from area + 512 MiB (+ 4 KiB used
   * by bump_area_now): 256 KiB of room */
  if (!make_bounded(&h, area + 512 * MiB, 256 * KiB, 1)) return;
  port_reset_counters();
  char* a = hmalloc(&h, 100);
  CHECK(a != NULL && a >= h.lo && a < h.lo + h.len);
  port_reset_counters();
  CHECK(hmalloc(&h, 1 << 20) == NULL);
  CHECK(port_state.n_mmap >= 1);
  /* the out-of-bounds mapping was returned */
  int returned = 0;
  for (int i = 0; i < port_state.n_log; i++) {
    const port_call* c = &port_state.log[i];
    if (c->kind != 'm' || c->ptr == PORT_MFAIL) continue;
    char* lo = c->ptr;
    if (lo >= h.lo && lo + c->length <= h.lo + h.len) continue;
    for (int j = i + 1; j < port_state.n_log; j++) {
      const port_call* u = &port_state.log[j];
      if (u->kind == 'u' && u->ptr == c->ptr && u->length == c->length) returned++;
    }
  }
  CHECK(returned >= 1);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  CHECK_EQ_SZ(hvalidate(&h, a), DL_OK);
  void* b = hmalloc(&h, 1000);
  CHECK(b != NULL && (char*)b >= h.lo && (char*)b < h.lo + h.len);
  CHECK_EQ_SZ(port_state.n_abort, 0);
}

/* ---- healthy heaps stay healthy ----------------------------------------------------- */

typedef struct {
  unsigned char* p;
  size_t n;
  unsigned char seed;
} blk;

#define NLIVE 96

static void pattern(unsigned char* p, size_t n, unsigned char seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed ^ (i * 13));
}
static int has_pattern(const unsigned char* p, size_t n, unsigned char seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(seed ^ (i * 13))) return 0;
  return 1;
}

/* What inspect_all reported; the handler only records (it runs under the
 * heap's lock, so it must not call back into the allocator). */
#define NINSPECT 8192
typedef struct {
  void* start[NINSPECT];
  size_t used[NINSPECT];
  int n;
  int bad;
} inspect_ctx;
static inspect_ctx insp;

static void inspect_cb(void* start, void* end, size_t used, void* arg) {
  inspect_ctx* c = arg;
  if ((char*)end < (char*)start) c->bad++;
  if (used == 0 || c->n >= NINSPECT) return;
  c->start[c->n] = start;
  c->used[c->n] = used;
  c->n++;
}

static size_t rand_size(test_rng* r) {
  switch (test_rng_below(r, 8)) {
    case 0: return (size_t)test_rng_below(r, 24);
    case 1:
    case 2:
    case 3: return 1 + (size_t)test_rng_below(r, 240);
    case 4:
    case 5: return 240 + (size_t)test_rng_below(r, 4000);
    case 6: return 4096 + (size_t)test_rng_below(r, 60000);
    default: return 200000 + (size_t)test_rng_below(r, 400000); /* direct map size */
  }
}

/* Thousands of random operations of every kind; after each one the heap
 * checks clean; every live block keeps its bytes and validates. */
static void healthy_random(int kind) {
  heap h = make_heap(kind);
  port_state.direct_enabled = 1;
  test_rng r = {0x9E3779B97F4A7C15ULL ^ (uint64_t)kind};
  blk live[NLIVE];
  memset(live, 0, sizeof live);
  unsigned char seed = 1;
  int ops = 3000;
  for (int op = 0; op < ops; op++) {
    int k = (int)test_rng_below(&r, NLIVE);
    blk* b = &live[k];
    int what = (int)test_rng_below(&r, 14);
    if (b->p && !has_pattern(b->p, b->n, b->seed)) {
      CHECK(!"block lost its bytes");
      fprintf(stderr, "    op %d block %d size %zu\n", op, k, b->n);
      return;
    }
    switch (what) {
      case 0:
      case 1:
      case 2: { /* malloc / free */
        if (b->p) {
          hfree(&h, b->p);
          b->p = NULL;
        } else {
          b->n = rand_size(&r);
          b->p = hmalloc(&h, b->n);
          CHECK(b->p != NULL);
        }
        break;
      }
      case 3: { /* calloc */
        if (b->p) hfree(&h, b->p);
        size_t cnt = 1 + (size_t)test_rng_below(&r, 16);
        b->n = cnt * (1 + (size_t)test_rng_below(&r, 300));
        b->p = hcalloc(&h, cnt, b->n / cnt);
        CHECK(b->p != NULL && all_bytes(b->p, b->n, 0));
        break;
      }
      case 4:
      case 5: { /* realloc, including from NULL */
        size_t n = rand_size(&r);
        unsigned char* q = hrealloc(&h, b->p, n);
        CHECK(q != NULL);
        if (q && b->p) CHECK(has_pattern(q, n < b->n ? n : b->n, b->seed));
        b->p = q;
        b->n = n;
        break;
      }
      case 6: { /* realloc_in_place */
        if (!b->p) break;
        size_t n = rand_size(&r) / 4;
        unsigned char* q = hrealloc_in_place(&h, b->p, n);
        if (q) {
          CHECK(q == b->p);
          b->n = n < b->n ? n : b->n; /* the old bytes are kept */
        }
        CHECK(has_pattern(b->p, b->n, b->seed));
        break;
      }
      case 7: { /* memalign */
        if (b->p) hfree(&h, b->p);
        size_t a = (size_t)32 << test_rng_below(&r, 9);
        b->n = rand_size(&r) / 2;
        b->p = hmemalign(&h, a, b->n);
        CHECK(b->p != NULL && ((uintptr_t)b->p & (a - 1)) == 0);
        break;
      }
      case 8: { /* independent_calloc into two slots + the array */
        int k2 = (int)test_rng_below(&r, NLIVE);
        if (k2 == k) break;
        if (b->p) hfree(&h, b->p);
        if (live[k2].p) hfree(&h, live[k2].p);
        b->p = NULL;
        live[k2].p = NULL;
        size_t sz = 1 + (size_t)test_rng_below(&r, 500);
        void** v = hicalloc(&h, 2, sz, NULL);
        CHECK(v != NULL);
        if (!v) break;
        CHECK(all_bytes(v[0], sz, 0) && all_bytes(v[1], sz, 0));
        b->p = v[0];
        b->n = sz;
        live[k2].p = v[1];
        live[k2].n = sz;
        live[k2].seed = seed++;
        pattern(live[k2].p, sz, live[k2].seed);
        hfree(&h, v); /* the array itself */
        break;
      }
      case 9: { /* independent_comalloc with the caller's array */
        int k2 = (int)test_rng_below(&r, NLIVE);
        if (k2 == k) break;
        if (b->p) hfree(&h, b->p);
        if (live[k2].p) hfree(&h, live[k2].p);
        b->p = NULL;
        live[k2].p = NULL;
        size_t sz[2] = {rand_size(&r) % 5000, rand_size(&r) % 5000};
        void* v[2];
        CHECK(hicomalloc(&h, 2, sz, v) == v);
        b->p = v[0];
        b->n = sz[0];
        live[k2].p = v[1];
        live[k2].n = sz[1];
        live[k2].seed = seed++;
        pattern(live[k2].p, sz[1], live[k2].seed);
        break;
      }
      case 10: { /* bulk_free a handful */
        void* arr[8];
        int n = 0;
        for (int i = 0; i < NLIVE && n < 8; i += 1 + (int)test_rng_below(&r, 12)) {
          if (live[i].p) {
            arr[n++] = live[i].p;
            live[i].p = NULL;
          }
        }
        CHECK_EQ_SZ(hbulk_free(&h, arr, (size_t)n), 0);
        for (int i = 0; i < n; i++) CHECK(arr[i] == NULL);
        break;
      }
      case 11: { /* trim */
        (void)htrim(&h, (size_t)test_rng_below(&r, 1 << 20));
        break;
      }
      case 12: { /* statistics */
        struct mallinfo mi = hmallinfo(&h);
        CHECK_EQ_SZ(mi.uordblks + mi.fordblks, hfootprint(&h));
        CHECK_EQ_SZ(mi.arena + mi.hblkhd, hfootprint(&h));
        CHECK(mi.usmblks >= hfootprint(&h));
        break;
      }
      default: { /* inspect_all agrees with the live set */
        insp.n = 0;
        insp.bad = 0;
        hinspect(&h, inspect_cb, &insp);
        CHECK_EQ_SZ(insp.bad, 0);
        for (int i = 0; i < NLIVE; i++) {
          if (!live[i].p) continue;
          int found = -1;
          for (int j = 0; j < insp.n; j++)
            if (insp.start[j] == live[i].p) found = j;
          /* in a segment: reported in use with its usable size; else it is
           * a direct mapping, which inspect_all skips */
          if (found >= 0)
            CHECK_EQ_SZ(insp.used[found], husable(live[i].p));
          else
            CHECK(husable(live[i].p) >= 200000);
        }
        break;
      }
    }
    if (b->p && (what != 6)) {
      b->seed = seed++;
      pattern(b->p, b->n, b->seed);
    }
    /* a full check after every operation at first, then every few (the
     * check walks the whole heap and live map) */
    if (op > 400 && op % 5 != 0) continue;
    int st = hcheck(&h);
    if (st != DL_OK) {
      CHECK_EQ_SZ(st, DL_OK);
      fprintf(stderr, "    after op %d (kind %d): %s\n", op, what, hcheck_message(&h));
      return;
    }
  }
  /* Every live block validates, keeps its bytes, and no two overlap. */
  for (int i = 0; i < NLIVE; i++) {
    if (!live[i].p) continue;
    CHECK_EQ_SZ(hvalidate(&h, live[i].p), DL_OK);
    CHECK(has_pattern(live[i].p, live[i].n, live[i].seed));
    CHECK(husable(live[i].p) >= live[i].n);
    for (int j = 0; j < NLIVE; j++) {
      if (j == i || !live[j].p) continue;
      CHECK(live[i].p + husable(live[i].p) <= live[j].p ||
            live[j].p + husable(live[j].p) <= live[i].p);
    }
  }
  for (int i = 0; i < NLIVE; i++)
    if (live[i].p) hfree(&h, live[i].p);
  /* nothing is live now: no freed pointer validates */
  for (int i = 0; i < NLIVE; i++)
    if (live[i].p) CHECK(hvalidate(&h, live[i].p) != DL_OK);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  (void)htrim(&h, 0);
  CHECK_EQ_SZ(hcheck(&h), DL_OK);
  CHECK_EQ_SZ(port_state.n_abort, 0);
}
KINDS(healthy_random)

/* ---- random scribbles: whatever the damage, no crash ------------------------------ */

/* Whether [p, p + n) lies inside memory the port handed out to this test
 * (the logged mappings plus the heap's first segment; address-adjacent
 * mappings count as one range). */
static int mapping_at(const heap* h, int i, const char** a, size_t* len) {
  if (i == port_state.n_log) { /* the extra entry: the first segment */
    *a = h->seg;
    *len = h->seg_len;
    return h->seg != NULL;
  }
  const port_call* c = &port_state.log[i];
  *a = c->ptr;
  *len = c->length;
  return (c->kind == 'm' || c->kind == 'd') && c->ptr != PORT_MFAIL;
}

static int in_port_memory(const heap* h, const void* p, size_t n) {
  const char* lo = p;
  const char* hi = lo + n;
  const char* chi = NULL;
  const char* a;
  size_t len;
  for (int i = 0; i <= port_state.n_log; i++)
    if (mapping_at(h, i, &a, &len) && lo >= a && lo < a + len) chi = a + len;
  if (!chi) return 0;
  for (int changed = 1; changed && chi < hi;) {
    changed = 0;
    for (int i = 0; i <= port_state.n_log; i++) {
      if (mapping_at(h, i, &a, &len) && a == chi) {
        chi = a + len;
        changed = 1;
      }
    }
  }
  return hi <= chi;
}

static blk fz_live[64];

/* Where a block handed out after damage may lie: inside the memory the port
 * handed out for the global heap and plain mspaces; inside the bounds for a
 * bounded mspace, whose contract is exactly that (dlmalloc.h: every pointer
 * read from heap memory is checked against the range). */
static int allowed_memory(const heap* h, const void* p, size_t n) {
  if (h->kind == HEAP_BOUNDED)
    return (const char*)p >= h->lo && n <= h->len && (const char*)p <= h->lo + h->len - n;
  return in_port_memory(h, p, n);
}

/* One scribble run, in its own process. Returns whether the damage was
 * reported (abort hook, or the final check said DL_E_CORRUPTED). */
static int scribble_run(int kind, uint64_t s) {
  heap h = make_heap(kind);
  /* In the Node glue a bounded heap's range is its arena's region, mapped
   * readable and writable as a whole; model that here (the test port keeps
   * the bump area PROT_NONE outside the mappings it handed out). */
  if (kind == HEAP_BOUNDED && h.lo)
    CHECK(mprotect(h.lo, h.len, PROT_READ | PROT_WRITE) == 0);
  test_rng r = {s * 0x9E3779B97F4A7C15ULL + 1};
  memset(fz_live, 0, sizeof fz_live);
  /* dlmallopt is process-wide: no auto-trim, so no mapping goes away */
  dlmallopt(M_TRIM_THRESHOLD, -1);
  for (int i = 0; i < 64; i++) {
    fz_live[i].n = 1 + (size_t)test_rng_below(&r, i % 4 == 0 ? 3000 : 200);
    fz_live[i].p = hmalloc(&h, fz_live[i].n);
    CHECK(fz_live[i].p != NULL);
  }
  for (int i = 0; i < 64; i += 2) {
    hfree(&h, fz_live[i].p); /* keep the freed pointers as scribble targets */
  }
  int nscribble = 1 + (int)test_rng_below(&r, 3);
  for (int k = 0; k < nscribble; k++) {
    unsigned char* t = fz_live[test_rng_below(&r, 64)].p;
    static const int offs[] = {-16, -8, 0, 8, 16, 24, 32, 40};
    size_t* w = (size_t*)(t + offs[test_rng_below(&r, 8)]);
    if (test_rng_below(&r, 4) == 0) {
      /* a random word of the first segment (past the state of a plain mspace) */
      size_t seglen = 0;
      char* seg = first_segment(&h, &seglen);
      if (seg) {
        size_t skip = kind == HEAP_MSPACE ? 1024 : 0;
        w = (size_t*)(seg + skip + 8 * test_rng_below(&r, (seglen - skip) / 8));
      }
    }
    size_t v;
    switch (test_rng_below(&r, 7)) {
      case 0: v = GARBAGE; break;
      case 1: v = 0; break;
      case 2: v = test_rng_next(&r); break;
      case 3: v = *w ^ ((size_t)1 << test_rng_below(&r, 64)); break;
      case 4: v = *w + 16 * (size_t)(1 + test_rng_below(&r, 64)); break;
      case 5: v = (size_t)fz_live[test_rng_below(&r, 64)].p - 16; break;
      default: v = *w - 16 * (size_t)(1 + test_rng_below(&r, 64)); break;
    }
    *w = v;
  }
  volatile int aborted = 0;
  volatile int op = 0;
  port_arm();
  if (setjmp(port_abort_jmp) != 0) {
    aborted = 1;
  } else {
    for (op = 0; op < 300; op++) {
      int k = (int)test_rng_below(&r, 64);
      if (k % 2 == 0 || test_rng_below(&r, 2) == 0) {
        /* allocate something */
        size_t n = 1 + (size_t)test_rng_below(&r, test_rng_below(&r, 4) == 0 ? 5000 : 250);
        unsigned char* p;
        switch (test_rng_below(&r, 3)) {
          case 0: p = hmalloc(&h, n); break;
          case 1: p = hcalloc(&h, 1, n); break;
          default: p = hmemalign(&h, 64, n); break;
        }
        if (p) {
          if (!allowed_memory(&h, p, n)) {
            CHECK(!"allocator returned memory outside the heap");
            break;
          }
          memset(p, 0x5A, n);
        }
      } else if (fz_live[k].p) {
        if (test_rng_below(&r, 2)) {
          hfree(&h, fz_live[k].p);
          fz_live[k].p = NULL;
        } else {
          size_t n = 1 + (size_t)test_rng_below(&r, 600);
          unsigned char* q = hrealloc(&h, fz_live[k].p, n);
          if (q) {
            if (!allowed_memory(&h, q, n)) {
              CHECK(!"realloc returned memory outside the heap");
              break;
            }
            memset(q, 0x5B, n);
          }
          fz_live[k].p = q;
        }
      }
    }
  }
  port_disarm();
  if (!aborted) {
    volatile int st = DL_OK;
    port_arm();
    if (setjmp(port_abort_jmp) == 0) st = hcheck(&h);
    port_disarm();
    CHECK(st == DL_OK || st == DL_E_CORRUPTED);
    CHECK_EQ_SZ(port_state.n_abort, 0); /* check never aborts */
    return st == DL_E_CORRUPTED;
  }
  CHECK(detected_msg(port_state.last_abort));
  (void)op;
  return 1;
}

#ifndef SCRIBBLE_RUNS
#define SCRIBBLE_RUNS 40
#endif

static void scribbles(int kind) {
  int crashed = 0, failed = 0, detected = 0;
  for (uint64_t s = 1; s <= SCRIBBLE_RUNS; s++) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
      alarm(30); /* a hang fails the run instead of outliving the suite */
      test_failed_checks = 0;
      int reported = scribble_run(kind, s);
      _exit(test_failed_checks ? 1 : reported ? 3 : 0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0) {
      CHECK(!"fork/wait failed");
      return;
    }
    if (WIFSIGNALED(st)) {
      crashed++;
      fprintf(stderr, "    scribble kind %d seed %llu: killed by %s\n", kind,
              (unsigned long long)s, test_signal_name(WTERMSIG(st)));
    } else if (WEXITSTATUS(st) == 3) {
      detected++;
    } else if (WEXITSTATUS(st) != 0) {
      failed++;
      fprintf(stderr, "    scribble kind %d seed %llu: failed checks\n", kind,
              (unsigned long long)s);
    }
  }
  CHECK_EQ_SZ(crashed, 0);
  CHECK_EQ_SZ(failed, 0);
  /* the scribbles did damage something (not every one is noticed: many hit
   * user bytes, or are healed by the next write of that header) */
  CHECK(detected > 0);
  if (getenv("OFFHEAP_TEST_VERBOSE"))
    fprintf(stderr, "    scribbles kind %d: %d of %d runs reported damage\n", kind, detected,
            SCRIBBLE_RUNS);
}
KINDS(scribbles)

int main(void) {
  RUN_KINDS(double_free_smallbin);
  RUN_KINDS(double_free_top);
  RUN_KINDS(double_free_backward);
  RUN_KINDS(free_interior_zeroed);
  RUN_KINDS(free_interior_pattern);
  RUN_KINDS(free_interior_forged);
  RUN_KINDS(free_misaligned);
  RUN_KINDS(free_static);
  RUN_KINDS(free_stack);
  RUN_KINDS(free_libc);
  RUN_KINDS(free_other_heap);
  RUN_KINDS(realloc_freed);
  RUN_KINDS(realloc_in_place_freed);
  RUN_KINDS(realloc_foreign);
  RUN_KINDS(usable_size_freed);
  RUN_FORKED(free_mstate_mspace);
  RUN_KINDS(free_internal_chunks);

  RUN_KINDS(corrupt_small_fd_pop);
  RUN_KINDS(corrupt_small_fd_plausible);
  RUN_KINDS(corrupt_small_bk_unlink);
  RUN_KINDS(corrupt_small_fd_unlink);
  RUN_KINDS(corrupt_tree_links);
  RUN_KINDS(corrupt_tree_children);
  RUN_KINDS(corrupt_free_head_forward);
  RUN_KINDS(corrupt_free_head_pop);
  RUN_KINDS(corrupt_overflow_head);
  RUN_KINDS(corrupt_inuse_head_huge);
  RUN_KINDS(corrupt_prev_foot);
  RUN_KINDS(corrupt_top_garbage);
  RUN_KINDS(corrupt_top_plausible);

  RUN_KINDS(check_free_size);
  RUN_KINDS(check_free_size_garbage);
  RUN_KINDS(check_free_fd);
  RUN_KINDS(check_free_bk);
  RUN_KINDS(check_tree_child);
  RUN_KINDS(check_top_size);
  RUN_KINDS(check_top_size_plausible);
  RUN_KINDS(check_inuse_size);
  RUN_KINDS(check_pinuse_cleared);

  RUN_KINDS(mmap_failure);
  RUN_KINDS(mmap_failure_first);
  RUN_KINDS(direct_failure_fallback);
  RUN_KINDS(footprint_limit);

  RUN_KINDS(validate_all);
  RUN_FORKED(validate_bounded_foreign_inside);
  RUN_FORKED(bounded_bad_arguments);
  RUN_FORKED(bounded_confinement);

  RUN_KINDS(healthy_random);
  RUN_KINDS(scribbles);
  return test_summary("dl_badinput");
}
