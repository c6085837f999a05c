/*
 * offheap — what the C suites of the arena core share:
 *  - byte-exact snapshots of an arena (region, allocator metadata, tag map and
 *    spare stacks) for the "a refused call changes nothing" checks (small
 *    arenas only: every part is copied);
 *  - the JavaScript side of the spares (lib/spares.ts's take and put), in C;
 *  - size units, a status check, and making an arena of any configuration.
 * Include after testhelper.h.
 */
#ifndef OFFHEAP_TEST_ARENA_FIXTURE_H
#define OFFHEAP_TEST_ARENA_FIXTURE_H

#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/addon/core/arena.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* A status check: the expression's status must be `want` (both printed otherwise). */
#define CHECK_ST(expr, want)                                                              \
  do {                                                                                    \
    int st_got_ = (expr);                                                                 \
    int st_want_ = (want);                                                                \
    if (st_got_ != st_want_) {                                                            \
      test_failed_checks++;                                                               \
      fprintf(stderr, "  FAIL %s (%s:%d): %s == %s (%d != %d)\n", test_current, __FILE__, \
              __LINE__, #expr, #want, st_got_, st_want_);                                 \
    }                                                                                     \
  } while (0)

static inline const char* kind_name(int kind) { return kind == OH_KIND_DLMALLOC ? "dlmalloc" : "buddy"; }

/* A new arena of the core, or NULL (said on stderr). */
static inline oh_arena* fixture_arena(int kind, size_t capacity, size_t min_block, int spares, int shared,
                                      size_t retain) {
  oh_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.kind = kind;
  cfg.capacity = capacity;
  cfg.min_block = min_block;
  cfg.spares = spares;
  cfg.shared = shared;
  cfg.retain = retain;
  oh_arena* a = NULL;
  int s = oh_arena_create(&cfg, &a);
  if (s != OH_OK || !a) {
    fprintf(stderr, "  oh_arena_create(%s, %zu) -> %d\n", kind_name(kind), capacity, s);
    return NULL;
  }
  return a;
}

#define SNAP_PARTS 8
typedef struct {
  const unsigned char* p[SNAP_PARTS];
  size_t n[SNAP_PARTS];
  unsigned char* copy[SNAP_PARTS];
  int k;
  size_t live;
  int corrupted;
} snap_t;

static inline void snap_add(snap_t* s, const void* p, size_t n) {
  if (!p || !n || s->k >= SNAP_PARTS) return;
  s->p[s->k] = (const unsigned char*)p;
  s->n[s->k] = n;
  s->copy[s->k] = (unsigned char*)malloc(n);
  if (s->copy[s->k]) memcpy(s->copy[s->k], p, n);
  s->k++;
}

/* Region, allocator metadata, tag map and spare stacks (small arenas only). */
static inline void snap_take(snap_t* s, oh_arena* a) {
  memset(s, 0, sizeof *s);
  snap_add(s, a->base, a->capacity);
  snap_add(s, a->livemap, a->livemap_len);
  snap_add(s, a->pages_meta, a->pages_meta_len);
  if (a->dl_state) snap_add(s, a->dl_state, mspace_state_size());
  snap_add(s, a->buddy_meta, a->buddy_meta_len);
  snap_add(s, a->sp.tags, a->sp.tags_len);
  snap_add(s, a->sp.block, a->sp.block_len);
  s->live = a->live;
  s->corrupted = a->corrupted;
}

static inline int snap_same(const snap_t* s, const oh_arena* a) {
  int same = s->live == a->live && s->corrupted == a->corrupted;
  for (int i = 0; i < s->k; i++)
    if (!s->copy[i] || memcmp(s->copy[i], s->p[i], s->n[i]) != 0) {
      fprintf(stderr, "    snapshot part %d differs\n", i);
      same = 0;
    }
  return same;
}

static inline void snap_free(snap_t* s) {
  for (int i = 0; i < s->k; i++) free(s->copy[i]);
  s->k = 0;
}

/* snap_same, then snap_free. */
static inline int snap_same_free(snap_t* s, const oh_arena* a) {
  int same = snap_same(s, a);
  snap_free(s);
  return same;
}

/* ---- the JavaScript side of the spares (lib/spares.ts) ---------------------- */

static inline unsigned high_of(oh_arena* a, size_t off) {
  return (a->sp.tag_shift == 5 && (off & 16)) ? OH_TAG_HIGH : 0;
}
static inline unsigned char* tag_at(oh_arena* a, size_t off) { return &a->sp.tags[off >> a->sp.tag_shift]; }

/* Spares.take: a block of class c, or SIZE_MAX when none could be had. */
static inline size_t js_take(oh_arena* a, unsigned c) {
  const oh_spare_table* t = oh_spare_table_get();
  int32_t n = a->sp.count[c];
  if (n == 0) {
    a->io[OH_IO_ARG] = c;
    oh_io_refill(a);
    n = a->sp.count[c];
    if (n == 0) return SIZE_MAX;
  }
  n--;
  a->sp.count[c] = n;
  double d = a->sp.stack[t->base[c] + (uint32_t)n];
  size_t off = (size_t)d;
  *tag_at(a, off) = (unsigned char)(c | high_of(a, off));
  return off;
}

/* Spares.put: 1 (taken back), 0 (not a spare-scheme block), or a negative
 * status from the flush of a full stack. */
static inline int js_put(oh_arena* a, size_t off) {
  const oh_spare_table* t = oh_spare_table_get();
  unsigned char tg = *tag_at(a, off);
  unsigned high = high_of(a, off);
  if (tg == 0 || (off & 15) != 0 || (tg & ~OH_TAG_CLASS) != high) return 0;
  unsigned c = tg & OH_TAG_CLASS;
  int32_t n = a->sp.count[c];
  if ((uint32_t)n == t->depth[c]) {
    a->io[OH_IO_ARG] = c;
    oh_io_flush(a);
    double st = a->io[OH_IO_RESULT];
    if (st < 0) return (int)st;
    n = a->sp.count[c];
  }
  a->sp.stack[t->base[c] + (uint32_t)n] = (double)off;
  a->sp.count[c] = n + 1;
  *tag_at(a, off) = (unsigned char)(tg | OH_TAG_SPARE);
  return 1;
}

static inline size_t spares_held(oh_arena* a) {
  size_t n = 0;
  if (!a->sp.tags) return 0;
  for (unsigned c = 1; c <= OH_SPARE_CLASSES; c++) n += (size_t)a->sp.count[c];
  return n;
}

#endif
