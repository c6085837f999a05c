/*
 * offheap glue — spare small blocks of fast-mode arenas, and their tag map.
 *
 * A fast-mode alloc(64) + free that crossed into C twice cost about twice
 * what the whole operation may cost (two Node-API calls, ~25-40 ns each).
 * So lib/spares.ts keeps, per size class (c = 1..SPARE_CLASSES; the class
 * table is there, up to 64 KiB), a stack of "spares": blocks the core has
 * allocated but that are free to the user. It takes them in batches
 * (spares_refill) and gives back half a stack at a time (spares_flush), both
 * through the mailbox; alloc and free of a block in between stay in
 * JavaScript.
 *
 * Exactness of free is kept by the tag map: one byte per granule of the
 * region (1 << tag_shift bytes: 32 for dlmalloc, whose user pointers are
 * at least 32 bytes apart; 16 for a buddy arena with 16-byte blocks), mapped
 * outside the region so that no view can scribble over it.
 *
 *   tag == 0            no block of this scheme starts in the granule
 *   tag & TAG_CLASS     c: a block of class c starts in it, which the
 *                       core has allocated (it counts as live there)
 *   tag & TAG_SPARE     ... and it is a spare: free to the user
 *   tag & TAG_HIGH      ... it starts 16 bytes into the granule (dlmalloc)
 *
 * Invariant: a non-zero tag names exactly one block the core has allocated,
 * starting at the offset the tag encodes; JavaScript sets and clears only
 * TAG_SPARE (handing a spare out, taking a freed block back), this file sets
 * and clears whole tags (refill, flush, a block leaving through the core).
 * Every offset-taking entry point refuses a spare (spare_check): freeing it
 * again is a double free. JS writes the map through a Uint8Array over it;
 * arenas are used from one thread, so there is no race.
 */
#include <sys/mman.h>

#include <cmath>
#include <cstring>

#include "arena.h"

namespace offheap {

enum : unsigned { TAG_CLASS = 0x3f, TAG_SPARE = 0x40, TAG_HIGH = 0x80 };
static const size_t SPARE_CLASSES = 60;            /* fits TAG_CLASS */
static const size_t SPARE_MAX_BYTES = 64 * 1024;
static const size_t kPage = 4096;

static inline unsigned tag_high(const Arena* a, size_t off) {
  return (a->tag_shift == 5 && (off & 16)) ? (unsigned)TAG_HIGH : 0u;
}

/* The tag of the block that would start at `off`, or null when no block of
 * this scheme can start there. */
static inline unsigned char* tag_of(Arena* a, size_t off) {
  if (!a->tags || (off & 15) != 0) return nullptr;
  unsigned char* t = &a->tags[off >> a->tag_shift];
  if (*t == 0 || (*t & TAG_HIGH) != tag_high(a, off)) return nullptr;
  return t;
}

int spares_create(Arena* a) {
  /* Buddy blocks of 16 bytes may share a 32-byte granule; larger ones not. */
  a->tag_shift = (a->kind == KIND_BUDDY && a->min_block < 32) ? 4 : 5;
  a->tags_len = ((a->capacity >> a->tag_shift) + kPage - 1) & ~(kPage - 1);
  void* p = mmap(nullptr, a->tags_len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    a->tags_len = 0;
    return ST_OOM;
  }
  a->tags = static_cast<unsigned char*>(p);
  return ST_OK;
}

void spares_clear(Arena* a) {
  if (a->tags && madvise(a->tags, a->tags_len, MADV_DONTNEED) != 0) memset(a->tags, 0, a->tags_len);
}

void spares_unmap(Arena* a) {
  if (a->tags) munmap(a->tags, a->tags_len);
  a->tags = nullptr;
}

int spare_check(Arena* a, size_t off) {
  unsigned char* t = tag_of(a, off);
  return (t && (*t & TAG_SPARE)) ? ST_NOT_ALLOCATED : ST_OK;
}

void spare_forget(Arena* a, size_t off) {
  if (unsigned char* t = tag_of(a, off)) *t = 0;
}

static inline bool io_count(double d, size_t max, size_t* out) {
  if (!(d >= 1) || d > (double)max || d != std::floor(d)) return false;
  *out = (size_t)d;
  return true;
}

/* io[0] = class c (1..SPARE_CLASSES), io[1] = how many (1..IO_BATCH),
 * io[2] = the class's block size (a multiple of 16, at most SPARE_MAX_BYTES).
 * Out: io[1] = how many were allocated (>= 1), their offsets in
 * io[IO_BATCH_AT..], each tagged as a spare of class c; or a negative status
 * when not one could be. */
void spares_refill(Arena* a) {
  size_t c, n, bytes;
  if (!a->tags || !io_count(a->io[0], SPARE_CLASSES, &c) || !io_count(a->io[1], IO_BATCH, &n) ||
      !io_count(a->io[2], SPARE_MAX_BYTES, &bytes) || bytes % 16 != 0) {
    a->io[1] = ST_INVALID;
    return;
  }
  size_t k = 0;
  for (; k < n; k++) {
    void* p = core_malloc(a, bytes);
    if (!p) break;
    size_t off = (size_t)((unsigned char*)p - a->base);
    a->tags[off >> a->tag_shift] = (unsigned char)(c | TAG_SPARE | tag_high(a, off));
    a->io[IO_BATCH_AT + k] = (double)off;
  }
  a->live_count += k;
  if (k > 0)
    a->io[1] = (double)k;
  else
    a->io[1] = a->corrupted ? ST_CORRUPTED : ST_OOM;
}

/* io[0] = how many (1..IO_BATCH), their offsets in io[IO_BATCH_AT..]: spares
 * going back to the core. Out: io[1] = ST_OK, or the first failure (the rest
 * of the batch is then left as it was: the arena is corrupted, or JS named a
 * block that is not a spare, ST_INVALID). */
void spares_flush(Arena* a) {
  size_t n;
  if (!a->tags || !io_count(a->io[0], IO_BATCH, &n)) {
    a->io[1] = ST_INVALID;
    return;
  }
  for (size_t i = 0; i < n; i++) {
    double d = a->io[IO_BATCH_AT + i];
    if (!(d >= 0) || d >= (double)a->capacity || d != std::floor(d)) {
      a->io[1] = ST_INVALID;
      return;
    }
    size_t off = (size_t)d;
    unsigned char* t = tag_of(a, off);
    if (!t || !(*t & TAG_SPARE)) {
      a->io[1] = ST_INVALID;
      return;
    }
    *t = 0;
    int s = core_free(a, a->base + off);
    if (s != ST_OK) {
      a->io[1] = s;
      return;
    }
    if (a->live_count) a->live_count--;
  }
  a->io[1] = ST_OK;
}

}  // namespace offheap
