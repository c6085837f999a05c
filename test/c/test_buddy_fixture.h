/*
 * offheap — a buddy instance for tests: region and metadata from the C heap
 * (so AddressSanitizer sees any access past either), a snapshot of both for
 * "rejected calls change nothing" checks, and small walkers.
 */
#ifndef OFFHEAP_TEST_BUDDY_FIXTURE_H
#define OFFHEAP_TEST_BUDDY_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/buddy.h"
#include "testhelper.h"

typedef struct {
  buddy_t* b;
  unsigned char* base;   /* the region handed to buddy_init */
  size_t size;           /* its size as passed */
  unsigned char* alloc;  /* the C-heap allocation holding the region */
  unsigned char* meta;
  size_t meta_size;
} bfix;

/* A region of `size` bytes whose base is `offset` bytes past an address
 * aligned to `align` (a power of two >= 16). Returns the init status. */
static int bfix_open(bfix* f, size_t size, size_t align, size_t offset, const buddy_config* cfg) {
  memset(f, 0, sizeof *f);
  size_t min = cfg && cfg->min_block ? cfg->min_block : 16;
  size_t total = (size + offset + align - 1) & ~(align - 1);
  f->alloc = (unsigned char*)aligned_alloc(align, total ? total : align);
  f->base = f->alloc + offset;
  f->size = size;
  f->meta_size = buddy_meta_size(size, min);
  f->meta = (unsigned char*)aligned_alloc(16, (f->meta_size + 15) & ~(size_t)15);
  if (!f->alloc || !f->meta) return -1;
  memset(f->alloc, 0xA5, total);
  return buddy_init(&f->b, f->meta, f->meta_size, f->base, size, cfg);
}

static void bfix_close(bfix* f) {
  if (f->b) buddy_destroy(f->b);
  free(f->alloc);
  free(f->meta);
  memset(f, 0, sizeof *f);
}

static buddy_config bcfg(size_t min_block, unsigned flags) {
  buddy_config c;
  memset(&c, 0, sizeof c);
  c.min_block = min_block;
  c.flags = flags;
  return c;
}

/* Offset of p from the region base. */
static inline size_t boff(const bfix* f, const void* p) {
  return (size_t)((const unsigned char*)p - f->base);
}

/* A copy of the metadata buffer and the region. */
typedef struct {
  unsigned char* meta;
  unsigned char* region;
  size_t meta_size, region_size;
} bsnap;

static void bsnap_take(bsnap* s, const bfix* f) {
  s->meta_size = f->meta_size;
  s->region_size = f->size;
  s->meta = (unsigned char*)malloc(s->meta_size);
  s->region = (unsigned char*)malloc(s->region_size ? s->region_size : 1);
  memcpy(s->meta, f->meta, s->meta_size);
  memcpy(s->region, f->base, s->region_size);
}

/* 1 when metadata and region are byte-identical to the snapshot. */
static int bsnap_same(const bsnap* s, const bfix* f) {
  return memcmp(s->meta, f->meta, s->meta_size) == 0 &&
         memcmp(s->region, f->base, s->region_size) == 0;
}

static void bsnap_free(bsnap* s) {
  free(s->meta);
  free(s->region);
}

static buddy_stats_t bstats(buddy_t* b) {
  buddy_stats_t st;
  memset(&st, 0, sizeof st);
  buddy_stats(b, &st);
  return st;
}

/* Blocks of the instance in address order. */
typedef struct {
  size_t n, cap;
  uintptr_t start[256];
  size_t size[256];
  int state[256];
} bblocks;

static int bblocks_visit(void* start, size_t size, int state, void* arg) {
  bblocks* l = (bblocks*)arg;
  if (l->n < 256) {
    l->start[l->n] = (uintptr_t)start;
    l->size[l->n] = size;
    l->state[l->n] = state;
  }
  l->n++;
  return 0;
}

static bblocks bblocks_of(buddy_t* b) {
  bblocks l;
  memset(&l, 0, sizeof l);
  buddy_walk(b, bblocks_visit, &l);
  return l;
}

/* The maximal aligned blocks tiling [base, base + size): what an empty
 * instance must consist of. Returns their number, fills sizes. */
static size_t bexpected_roots(uintptr_t base, size_t size, size_t min, size_t* sizes, size_t cap) {
  size_t n = 0;
  uintptr_t end = base + (size & ~(min - 1));
  for (uintptr_t a = base; a < end;) {
    size_t s = min;
    while ((a & (2 * s - 1)) == 0 && 2 * s <= end - a) s *= 2;
    if (n < cap) sizes[n] = s;
    n++;
    a += s;
  }
  return n;
}

#endif
