/*
 * offheap — the page-run allocator (interface and contract in pages.h).
 *
 * One translation unit, no Node headers, no libc allocation, no port hook:
 * the caller gives the region and the metadata buffer, and the only libc
 * function used is memset.
 *
 * Why this shape. The heap above it wants runs of any number of pages at the
 * lowest (segments) or highest (large chunks) address where they fit, so the
 * free space stays in one piece between the two ends. A bitmap of used pages
 * answers "is this range in use" exactly, for frees by range; a segment tree
 * over the bitmap's 64-bit words, each node summarising its span by its
 * longest free run and the free runs touching its two ends, finds the lowest
 * or highest fit of any length in one walk from the root (O(log N)), and an
 * update rewrites the touched words and their ancestors only (O(log N +
 * pages / 64)). Nothing is ever a linear scan of the region except
 * pages_check and the free parts visited by pages_trim.
 *
 * Why the encodings. The metadata buffer may be a NORESERVE mapping that
 * reads as zeros and must stay untouched (a 2^47-byte region has gigabytes of
 * metadata), so every structure means something useful when all its bits are
 * zero: a used bit of 0 is a free page, a tree node stores "span - value" so
 * that zeros are an all-free span, and the zero bitmap is read through a mask
 * (zflip) chosen at init so that zeros mean "known zero" exactly when the
 * region was given zeroed. pages_init then writes the header and, only when
 * N is not a multiple of 64 or W not a power of two, the padding of the last
 * words and the tree's rightmost path (a few pages in all).
 *
 * Vocabulary. Page k is [base + k * PAGES_PAGE, base + (k + 1) * PAGES_PAGE);
 * the region has N pages, held in W = ceil(N / 64) words; page k is bit
 * k % 64 (the low bit is the low address) of word k / 64. Bits k >= N of the
 * last word are padding. A run is a range of consecutive pages; a maximal
 * free run is one that cannot be extended by a free page at either end.
 *
 * Invariants (pages_check verifies each one; the number is quoted there):
 *
 * I1 Used bitmap. Bit k of `used` is 1 exactly when page k (k < N) is in a
 *    run handed out and not freed since. The padding bits are 1, so the last
 *    word reads as used past the end and no run can reach there. used_pages
 *    is the number of set bits below N.
 * I2 Known zero. Bit k of the zero bitmap read through zflip (the stored
 *    word XOR zflip) is 1 only when page k is free and reads as zeros: known
 *    zero is a subset of free (so padding bits read 0, as padding is used).
 *    zflip is 0, or all ones when the region was given zeroed (then a stored
 *    0 means known zero). zero_known is the number of known-zero pages, and
 *    zero_known_min <= zero_known the smallest it has been since init, so
 *    committed = N - zero_known and its peak = N - zero_known_min (exact:
 *    zero_known only falls in pages_alloc, which updates the minimum).
 * I3 Tree. Level 0 is the words of `used` (not stored: a word is summarised
 *    on demand). For 1 <= l <= top (top = ceil(log2 W)), node (l, i) spans
 *    words [i * 2^l, (i + 1) * 2^l), span(l) = 64 << l pages, and level l
 *    stores count(l) = ceil(W / 2^l) nodes. Nodes past count(l) and words
 *    past W are absent and read as all used, like the padding. A stored node
 *    holds the summary of its span as three numbers of pages, each stored as
 *    span(l) - value: max (the longest free run inside the span), pre (the
 *    free run starting at its first page) and suf (the free run ending at its
 *    last page). Each equals combine() of the node's two children. Level top
 *    has one node, the root, whose max is the longest free run of the region.
 *    Levels below WIDE_LEVEL store 32-bit numbers, the rest 64-bit ones.
 * I4 Counters. free_runs is the number of maximal free runs;
 *    zero_filled_bytes (bytes cleared for PAGES_ZEROED requests) is a whole
 *    number of pages.
 * I5 Header. The layout (offsets of the bitmaps and levels, meta_bytes) is
 *    the one layout_for() gives for N pages.
 * I6 Untouched gap. 0 <= gap_lo <= gap_hi <= N, and every page of
 *    [gap_lo, gap_hi) is free and known zero (so its used and zero bits, and
 *    every tree node whose span lies inside it, hold what pages_init wrote).
 *    pages_alloc keeps it so (a run that reaches into the gap moves the end
 *    it came from: the heap's segments come from the bottom, large chunks
 *    from the top), and pages_reset then works on [0, gap_lo) and
 *    [gap_hi, N) only: what was touched since the last reset, not the region.
 */
#include "pages.h"

#include <stdint.h>
#include <string.h>

#include "bits.h"

/* ---- bit helpers (and bits.h) --------------------------------------------- */

#define ALL ((uint64_t)~(uint64_t)0)

/* Bits of word w that lie in pages [a, e) (a < e, and word w overlaps them). */
static inline uint64_t range_mask(size_t w, size_t a, size_t e) {
  unsigned lo = (w == a >> 6) ? (unsigned)(a & 63) : 0u;
  unsigned hi = (w == (e - 1) >> 6) ? (unsigned)((e - 1) & 63) : 63u;
  return (ALL << lo) & (ALL >> (63 - hi));
}

/* Bits j of f such that bits j .. j+n-1 are all set (1 <= n <= 64): the
 * starts of free runs of n pages inside one word. Doubling the tested length
 * each step takes log2(n) steps. */
static inline uint64_t fit_mask(uint64_t f, size_t n) {
  size_t have = 1;
  while (have < n && f) {
    size_t s = have < n - have ? have : n - have;
    f &= f >> s;
    have += s;
  }
  return f;
}

/* The longest run of set bits of f. */
static unsigned longest_ones(uint64_t f) {
  if (f == 0) return 0;
  if (f == ALL) return 64;
  /* m[k]: starts of runs of at least 2^k; then add lower powers greedily. */
  uint64_t m[7];
  unsigned k = 0;
  m[0] = f;
  while (k < 5) {
    uint64_t next = m[k] & (m[k] >> (1u << k));
    if (!next) break;
    m[++k] = next;
  }
  unsigned len = 1u << k;
  uint64_t cur = m[k];
  for (unsigned j = k; j-- > 0;) {
    uint64_t t = cur & (m[j] >> len);
    if (t) {
      cur = t;
      len += 1u << j;
    }
  }
  return len;
}

/* ---- the instance ------------------------------------------------------------ */

#define PAGES_MAGIC 0x6f66667061676573ull /* "offpages" */
#define PAGE_SHIFT 12
#define HEADER_ALIGN 64
/* W <= 2^46 words on a 64-bit machine (N <= 2^52 pages), so top <= 46. */
#define MAX_LEVELS 48
/* Levels l >= WIDE_LEVEL have span(l) >= 2^32 pages, which a 32-bit field
 * cannot hold; below it 32 bits are enough and the tree costs 12 bytes per
 * node instead of 24. */
#define WIDE_LEVEL 26u

/* The summary of a span (I3): free pages of its longest run, at its start, at its end. */
typedef struct {
  size_t max, pre, suf;
} span3;

/* Where everything lives in the metadata buffer for a region of N pages. */
typedef struct {
  size_t npages, nwords;
  unsigned top;
  size_t used_off, zero_off;
  size_t level_off[MAX_LEVELS]; /* levels 1 .. top */
  size_t total;
} layout_t;

struct pages {
  uint64_t magic;            /* PAGES_MAGIC while the instance lives */
  int corrupted;             /* set once damage was found; then every call refuses */
  const char* check_message; /* the invariant found broken, "" if none */
  uintptr_t base;            /* the region [base, base + N * PAGES_PAGE) */
  size_t npages;             /* N */
  size_t nwords;             /* W */
  unsigned top;              /* the root's level */
  uint64_t zflip;            /* I2: 0 or ALL */
  size_t meta_bytes;         /* bytes of the buffer in use (the layout's total) */
  size_t used_off, zero_off; /* byte offsets from the header of the two bitmaps */
  size_t level_off[MAX_LEVELS];

  size_t used_pages;       /* I1 */
  size_t zero_known;       /* I2 */
  size_t zero_known_min;   /* I2 */
  size_t free_runs;        /* I4 */
  size_t zero_filled_bytes; /* I4 */
  size_t gap_lo, gap_hi;   /* I6 */
};

#define HEADER_BYTES ((sizeof(struct pages) + HEADER_ALIGN - 1) & ~(size_t)(HEADER_ALIGN - 1))

static inline size_t level_count(size_t nwords, unsigned l) { return ((nwords - 1) >> l) + 1; }
static inline size_t span_of(unsigned l) { return (size_t)64 << l; }
static inline size_t node_bytes(unsigned l) { return l < WIDE_LEVEL ? 12 : 24; }

/* 0 when region_size is not a positive multiple of the page. */
static int layout_for(size_t region_size, layout_t* L) {
  memset(L, 0, sizeof *L);
  if (region_size == 0 || (region_size & (PAGES_PAGE - 1)) != 0) return 0;
  L->npages = region_size >> PAGE_SHIFT;
  L->nwords = L->npages / 64 + (L->npages % 64 != 0);
  while (((size_t)1 << L->top) < L->nwords) L->top++;
  size_t off = HEADER_BYTES;
  L->used_off = off;
  off += 8 * L->nwords;
  L->zero_off = off;
  off += 8 * L->nwords;
  for (unsigned l = 1; l <= L->top; l++) {
    off = (off + 7) & ~(size_t)7;
    L->level_off[l] = off;
    off += level_count(L->nwords, l) * node_bytes(l);
  }
  L->total = (off + 15) & ~(size_t)15;
  return 1;
}

static inline uint64_t* used_words(const pages_t* p) {
  return (uint64_t*)((char*)p + p->used_off);
}
static inline uint64_t* zero_words(const pages_t* p) {
  return (uint64_t*)((char*)p + p->zero_off);
}
/* I2: the known-zero bits of word w. */
static inline uint64_t kz_word(const pages_t* p, size_t w) { return zero_words(p)[w] ^ p->zflip; }

/* Marks the pages of `mask` in word w known zero; returns how many were not. */
static size_t kz_set(pages_t* p, size_t w, uint64_t mask) {
  size_t n = popcount64(mask & ~kz_word(p, w));
  if (p->zflip)
    zero_words(p)[w] &= ~mask;
  else
    zero_words(p)[w] |= mask;
  return n;
}

/* Marks the pages of `mask` in word w not known zero; returns how many were. */
static size_t kz_clear(pages_t* p, size_t w, uint64_t mask) {
  size_t n = popcount64(mask & kz_word(p, w));
  if (p->zflip)
    zero_words(p)[w] |= mask;
  else
    zero_words(p)[w] &= ~mask;
  return n;
}

static inline int page_free(const pages_t* p, size_t k) {
  return k < p->npages && !((used_words(p)[k >> 6] >> (k & 63)) & 1);
}

/* ---- the tree ------------------------------------------------------------------ */

/* The summary of one word of `used` (all used past W). */
static span3 word_span(uint64_t used) {
  span3 r;
  if (used == 0) {
    r.max = r.pre = r.suf = 64;
  } else {
    r.pre = ctz64(used);
    r.suf = clz64(used);
    r.max = longest_ones(~used);
  }
  return r;
}

/* The summary of two adjacent spans of `half` pages each. */
static span3 combine(span3 a, span3 b, size_t half) {
  span3 r;
  r.pre = a.pre == half ? half + b.pre : a.pre;
  r.suf = b.suf == half ? half + a.suf : b.suf;
  r.max = a.max > b.max ? a.max : b.max;
  if (a.suf + b.pre > r.max) r.max = a.suf + b.pre;
  return r;
}

/* A stored node can be damaged; one that claims more than its span, or ends
 * longer than its longest run, is not followed. */
static inline int span_sane(span3 r, size_t span) {
  return r.max <= span && r.pre <= r.max && r.suf <= r.max;
}

static span3 node_get(const pages_t* p, unsigned l, size_t i) {
  span3 r = {0, 0, 0};
  if (l == 0) return word_span(i < p->nwords ? used_words(p)[i] : ALL);
  if (i >= level_count(p->nwords, l)) return r;
  size_t span = span_of(l);
  const char* at = (const char*)p + p->level_off[l];
  if (l < WIDE_LEVEL) {
    const uint32_t* s = (const uint32_t*)at + 3 * i;
    r.max = span - s[0];
    r.pre = span - s[1];
    r.suf = span - s[2];
  } else {
    const uint64_t* s = (const uint64_t*)at + 3 * i;
    r.max = span - (size_t)s[0];
    r.pre = span - (size_t)s[1];
    r.suf = span - (size_t)s[2];
  }
  return r;
}

static void node_put(pages_t* p, unsigned l, size_t i, span3 r) {
  size_t span = span_of(l);
  char* at = (char*)p + p->level_off[l];
  if (l < WIDE_LEVEL) {
    uint32_t* s = (uint32_t*)at + 3 * i;
    s[0] = (uint32_t)(span - r.max);
    s[1] = (uint32_t)(span - r.pre);
    s[2] = (uint32_t)(span - r.suf);
  } else {
    uint64_t* s = (uint64_t*)at + 3 * i;
    s[0] = (uint64_t)(span - r.max);
    s[1] = (uint64_t)(span - r.pre);
    s[2] = (uint64_t)(span - r.suf);
  }
}

static inline span3 children_of(const pages_t* p, unsigned l, size_t i) {
  return combine(node_get(p, l - 1, 2 * i), node_get(p, l - 1, 2 * i + 1), span_of(l - 1));
}

/* After words [w0, w1] of `used` changed: recomputes their ancestors, level
 * by level (a level's nodes read the level below, already updated). */
static void tree_update(pages_t* p, size_t w0, size_t w1) {
  for (unsigned l = 1; l <= p->top; l++) {
    w0 >>= 1;
    w1 >>= 1;
    for (size_t i = w0; i <= w1; i++) node_put(p, l, i, children_of(p, l, i));
  }
}

static inline span3 root_of(const pages_t* p) { return node_get(p, p->top, 0); }

static int corrupt(pages_t* p, const char* what) {
  p->corrupted = 1;
  p->check_message = what;
  return PAGES_E_CORRUPTED;
}

/*
 * The first page of the lowest (high == 0) or highest run of n free pages,
 * in *out. The lowest fit lies in the left child when the left child holds
 * one; else it starts at the left child's free suffix when that suffix and
 * the right child's free prefix together are long enough (any earlier start
 * would be a fit inside the left child); else it is inside the right child.
 * The highest fit mirrors this. Below the tree, the fit lies inside one word.
 */
static int find_fit(pages_t* p, size_t n, int high, size_t* out) {
  unsigned l = p->top;
  size_t i = 0;
  span3 root = root_of(p);
  if (!span_sane(root, span_of(l))) return corrupt(p, "I3: the root is out of range");
  if (root.max < n) return PAGES_E_NOMEM;
  while (l > 0) {
    size_t half = span_of(l - 1);
    span3 a = node_get(p, l - 1, 2 * i), b = node_get(p, l - 1, 2 * i + 1);
    if (!span_sane(a, half) || !span_sane(b, half))
      return corrupt(p, "I3: a tree node is out of range");
    size_t cross = a.suf + b.pre;
    if (!high) {
      if (a.max >= n) {
        i = 2 * i;
      } else if (cross >= n) {
        *out = (2 * i + 1) * half - a.suf;
        return PAGES_OK;
      } else if (b.max >= n) {
        i = 2 * i + 1;
      } else {
        return corrupt(p, "I3: a tree node promises a run its children do not hold");
      }
    } else {
      if (b.max >= n) {
        i = 2 * i + 1;
      } else if (cross >= n) {
        *out = (2 * i + 1) * half + b.pre - n;
        return PAGES_OK;
      } else if (a.max >= n) {
        i = 2 * i;
      } else {
        return corrupt(p, "I3: a tree node promises a run its children do not hold");
      }
    }
    l--;
  }
  /* word i has a run of n <= 64 pages (word_span said so) */
  uint64_t m = i < p->nwords && n <= 64 ? fit_mask(~used_words(p)[i], n) : 0;
  if (!m) return corrupt(p, "I3: a tree node promises a run its word does not hold");
  *out = 64 * i + (high ? 63u - clz64(m) : ctz64(m));
  return PAGES_OK;
}

/* 1 when every page of [a, e) lies in the region and has used bit `want`. */
static int range_is(const pages_t* p, size_t a, size_t e, int want) {
  if (a >= e || e > p->npages) return 0;
  const uint64_t* u = used_words(p);
  for (size_t w = a >> 6; w <= (e - 1) >> 6; w++) {
    uint64_t m = range_mask(w, a, e);
    if ((u[w] & m) != (want ? m : 0)) return 0;
  }
  return 1;
}

/* The smallest word index >= w holding a free page, or W. Climbs while the
 * rest of the current subtree is all used, then descends leftmost: the
 * fully used parts of the region are skipped in O(log N). */
static size_t next_free_word(const pages_t* p, size_t w) {
  if (w >= p->nwords) return p->nwords;
  if (used_words(p)[w] != ALL) return w;
  unsigned l = 0;
  size_t i = w;
  for (;;) {
    if (l >= p->top) return p->nwords;
    if (!(i & 1) && node_get(p, l, i + 1).max > 0) {
      i++;
      break;
    }
    i >>= 1;
    l++;
  }
  while (l > 0) {
    l--;
    i *= 2;
    if (node_get(p, l, i).max == 0) i++;
  }
  return i; /* a damaged tree may name a used word; the caller moves on from it */
}

/* Which pages next_run looks for. */
enum { SEL_DIRTY, SEL_FREE_DIRTY };

static inline uint64_t sel_word(const pages_t* p, int sel, size_t w) {
  uint64_t dirty = ~kz_word(p, w);
  return sel == SEL_DIRTY ? dirty : dirty & ~used_words(p)[w];
}

/* The next maximal run of selected pages in [from, limit): its first page
 * in *start and length in *len, or 0 when there is none. Searching for free
 * pages skips used words through the tree. */
static int next_run(const pages_t* p, int sel, size_t from, size_t limit, size_t* start,
                    size_t* len) {
  if (from >= limit) return 0;
  size_t w = from >> 6;
  uint64_t bits = sel_word(p, sel, w) & (ALL << (from & 63));
  while (bits == 0) {
    w = sel == SEL_FREE_DIRTY ? next_free_word(p, w + 1) : w + 1;
    if (w >= p->nwords || 64 * w >= limit) return 0;
    bits = sel_word(p, sel, w);
  }
  size_t s = 64 * w + ctz64(bits);
  if (s >= limit) return 0;
  uint64_t rest = ~sel_word(p, sel, w) & (ALL << (s & 63));
  while (rest == 0) {
    w++;
    if (w >= p->nwords || 64 * w >= limit) break;
    rest = ~sel_word(p, sel, w);
  }
  size_t e = rest ? 64 * w + ctz64(rest) : limit;
  if (e > limit) e = limit;
  *start = s;
  *len = e - s;
  return 1;
}

/* ---- entry ------------------------------------------------------------------------ */

static int enter(pages_t* p) {
  if (p == NULL || p->magic != PAGES_MAGIC) return PAGES_E_INVALID;
  if (p->corrupted) return PAGES_E_CORRUPTED;
  return PAGES_OK;
}

static int enter_any(pages_t* p) {
  if (p == NULL || p->magic != PAGES_MAGIC) return PAGES_E_INVALID;
  return PAGES_OK;
}

/* ---- life cycle ---------------------------------------------------------------------- */

const char* pages_status_name(int status) {
  switch (status) {
    case PAGES_OK: return "PAGES_OK";
    case PAGES_E_FOREIGN: return "PAGES_E_FOREIGN";
    case PAGES_E_NOT_ALLOCATED: return "PAGES_E_NOT_ALLOCATED";
    case PAGES_E_NOMEM: return "PAGES_E_NOMEM";
    case PAGES_E_INVALID: return "PAGES_E_INVALID";
    case PAGES_E_CORRUPTED: return "PAGES_E_CORRUPTED";
    default: return "PAGES_E_UNKNOWN";
  }
}

size_t pages_meta_size(size_t region_size) {
  layout_t L;
  return layout_for(region_size, &L) ? L.total : 0;
}

int pages_init(pages_t** out, void* meta, size_t meta_size, void* base, size_t region_size,
               unsigned flags) {
  if (out == NULL) return PAGES_E_INVALID;
  *out = NULL;
  if (flags & ~(unsigned)(PAGES_REGION_ZEROED | PAGES_META_ZEROED)) return PAGES_E_INVALID;
  layout_t L;
  if (!layout_for(region_size, &L)) return PAGES_E_INVALID;
  uintptr_t lo = (uintptr_t)base, m = (uintptr_t)meta;
  if (base == NULL || (lo & (PAGES_PAGE - 1)) != 0 || region_size > UINTPTR_MAX - lo)
    return PAGES_E_INVALID;
  if (meta == NULL || (m & 15) != 0 || meta_size < L.total || L.total > UINTPTR_MAX - m)
    return PAGES_E_INVALID;
  if (m < lo + region_size && lo < m + L.total) return PAGES_E_INVALID; /* the heap could write it */

  if (flags & PAGES_META_ZEROED) {
    /* Reads as zeros already: the header (one page) is all that is written. */
    memset(meta, 0, HEADER_BYTES);
  } else {
    memset(meta, 0, L.total);
  }
  pages_t* p = (pages_t*)meta;
  p->check_message = "";
  p->base = lo;
  p->npages = L.npages;
  p->nwords = L.nwords;
  p->top = L.top;
  p->zflip = (flags & PAGES_REGION_ZEROED) ? ALL : 0;
  p->meta_bytes = L.total;
  p->used_off = L.used_off;
  p->zero_off = L.zero_off;
  for (unsigned l = 0; l < MAX_LEVELS; l++) p->level_off[l] = L.level_off[l];
  p->zero_known = p->zero_known_min = (flags & PAGES_REGION_ZEROED) ? L.npages : 0;
  p->free_runs = 1;
  /* I6: with a region not known zero, every page counts as touched. */
  p->gap_lo = (flags & PAGES_REGION_ZEROED) ? 0 : L.npages;
  p->gap_hi = L.npages;
  size_t pad = 64 * L.nwords - L.npages;
  if (pad) {
    uint64_t pm = ALL << (64 - pad); /* the padding bits of the last word */
    used_words(p)[L.nwords - 1] |= pm;
    kz_clear(p, L.nwords - 1, pm);
  }
  /* Absent nodes and padding read as used: the rightmost path is the only
   * one whose summary is not "all free". */
  if (pad || (L.nwords & (L.nwords - 1)) != 0) tree_update(p, L.nwords - 1, L.nwords - 1);
  p->magic = PAGES_MAGIC;
  *out = p;
  return PAGES_OK;
}

/* ---- allocation and free ------------------------------------------------------------ */

/* Sets or clears the used bits of [a, e) and updates the tree. */
static void mark_used(pages_t* p, size_t a, size_t e, int used) {
  uint64_t* u = used_words(p);
  size_t w0 = a >> 6, w1 = (e - 1) >> 6;
  for (size_t w = w0; w <= w1; w++) {
    uint64_t m = range_mask(w, a, e);
    if (used)
      u[w] |= m;
    else
      u[w] &= ~m;
  }
  tree_update(p, w0, w1);
}

void* pages_alloc(pages_t* p, size_t length, unsigned flags) {
  unsigned place = flags & (PAGES_LOW | PAGES_HIGH);
  if ((flags & ~(unsigned)(PAGES_LOW | PAGES_HIGH | PAGES_ZEROED)) != 0 ||
      (place != PAGES_LOW && place != PAGES_HIGH))
    return NULL;
  if (enter(p) != PAGES_OK) return NULL;
  if (length == 0 || (length & (PAGES_PAGE - 1)) != 0) return NULL;
  size_t n = length >> PAGE_SHIFT;
  if (n > p->npages) return NULL;
  size_t a;
  if (find_fit(p, n, place == PAGES_HIGH, &a) != PAGES_OK) return NULL;
  size_t e = a + n;
  /* The tree said so; the bitmap is the truth. */
  if (!range_is(p, a, e, 0)) {
    corrupt(p, "I3: the tree names a run that is not free");
    return NULL;
  }
  int left = a > 0 && page_free(p, a - 1), right = page_free(p, e);
  if (flags & PAGES_ZEROED) {
    size_t s, len;
    for (size_t k = a; next_run(p, SEL_DIRTY, k, e, &s, &len); k = s + len) {
      memset((void*)(p->base + (s << PAGE_SHIFT)), 0, len << PAGE_SHIFT);
      p->zero_filled_bytes += len << PAGE_SHIFT;
    }
  }
  size_t was_zero = 0;
  for (size_t w = a >> 6; w <= (e - 1) >> 6; w++) was_zero += kz_clear(p, w, range_mask(w, a, e));
  p->zero_known -= was_zero;
  if (p->zero_known < p->zero_known_min) p->zero_known_min = p->zero_known;
  mark_used(p, a, e, 1);
  p->used_pages += n;
  p->free_runs = p->free_runs - 1 + (size_t)left + (size_t)right;
  /* I6: the gap keeps the piece on the side the run did not come from. */
  if (a < p->gap_hi && e > p->gap_lo) {
    if (place == PAGES_LOW)
      p->gap_lo = e < p->gap_hi ? e : p->gap_hi;
    else
      p->gap_hi = a > p->gap_lo ? a : p->gap_lo;
  }
  return (void*)(p->base + (a << PAGE_SHIFT));
}

/* Checks [ptr, ptr + length) as pages_free would; on PAGES_OK, the page
 * range in *a, *e (length > 0). */
static int check_range(const pages_t* p, const void* ptr, size_t length, size_t* a, size_t* e) {
  uintptr_t lo = (uintptr_t)ptr;
  if ((lo & (PAGES_PAGE - 1)) != 0 || (length & (PAGES_PAGE - 1)) != 0 || length > UINTPTR_MAX - lo)
    return PAGES_E_INVALID;
  uintptr_t end = p->base + (p->npages << PAGE_SHIFT);
  if (lo < p->base || lo + length > end) return PAGES_E_FOREIGN;
  *a = (size_t)((lo - p->base) >> PAGE_SHIFT);
  *e = *a + (length >> PAGE_SHIFT);
  return range_is(p, *a, *e, 1) ? PAGES_OK : PAGES_E_NOT_ALLOCATED;
}

int pages_free(pages_t* p, void* ptr, size_t length, unsigned flags) {
  if ((flags & ~(unsigned)PAGES_CLEAN) != 0) return PAGES_E_INVALID;
  int r = enter(p);
  if (r != PAGES_OK) return r;
  if (length == 0) return PAGES_OK;
  size_t a, e;
  r = check_range(p, ptr, length, &a, &e);
  if (r != PAGES_OK) return r;
  int left = a > 0 && page_free(p, a - 1), right = page_free(p, e);
  if (flags & PAGES_CLEAN) {
    size_t became = 0;
    for (size_t w = a >> 6; w <= (e - 1) >> 6; w++) became += kz_set(p, w, range_mask(w, a, e));
    p->zero_known += became;
  }
  mark_used(p, a, e, 0);
  p->used_pages -= e - a;
  p->free_runs = p->free_runs + 1 - (size_t)left - (size_t)right;
  return PAGES_OK;
}

int pages_validate(pages_t* p, const void* ptr, size_t length) {
  int r = enter(p);
  if (r != PAGES_OK) return r;
  if (length == 0) return PAGES_OK;
  size_t a, e;
  return check_range(p, ptr, length, &a, &e);
}

int pages_trim(pages_t* p, int (*release)(void* ptr, size_t length, void* arg), void* arg,
               size_t* released) {
  if (released) *released = 0;
  if (release == NULL) return PAGES_E_INVALID;
  int r = enter(p);
  if (r != PAGES_OK) return r;
  size_t total = 0, s, len;
  for (size_t k = 0; next_run(p, SEL_FREE_DIRTY, k, p->npages, &s, &len); k = s + len) {
    if (release((void*)(p->base + (s << PAGE_SHIFT)), len << PAGE_SHIFT, arg) != 0) continue;
    size_t e = s + len;
    for (size_t w = s >> 6; w <= (e - 1) >> 6; w++) p->zero_known += kz_set(p, w, range_mask(w, s, e));
    total += len << PAGE_SHIFT;
  }
  if (released) *released = total;
  return PAGES_OK;
}

int pages_touched(pages_t* p, size_t* lo_end, size_t* hi_start) {
  int r = enter_any(p);
  if (r != PAGES_OK) return r;
  if (lo_end) *lo_end = p->gap_lo << PAGE_SHIFT;
  if (hi_start) *hi_start = p->gap_hi << PAGE_SHIFT;
  return PAGES_OK;
}

/* Keeps or releases the dirty (not known zero) pages of [from, to), lowest
 * first: kept while *keep pages of budget last, released (and then known
 * zero) after. Tallies into *w; *kept_end gets the end of the highest page
 * that stays dirty. */
static void settle_dirty(pages_t* p, size_t from, size_t to, size_t* keep,
                         int (*release)(void*, size_t, void*), void* arg, pages_reset_work* w,
                         size_t* kept_end) {
  size_t s, len;
  for (size_t k = from; next_run(p, SEL_DIRTY, k, to, &s, &len); k = s + len) {
    size_t hold = len < *keep ? len : *keep;
    *keep -= hold;
    if (hold) *kept_end = s + hold;
    size_t rs = s + hold, e = s + len;
    if (rs == e) continue;
    if (release && release((void*)(p->base + (rs << PAGE_SHIFT)), (e - rs) << PAGE_SHIFT, arg) == 0) {
      for (size_t x = rs >> 6; x <= (e - 1) >> 6; x++) p->zero_known += kz_set(p, x, range_mask(x, rs, e));
      w->released_bytes += (e - rs) << PAGE_SHIFT;
    } else {
      *kept_end = e;
    }
  }
}

int pages_reset(pages_t* p, size_t keep_bytes, int (*release)(void* ptr, size_t length, void* arg),
                void* arg, pages_reset_work* work) {
  pages_reset_work w = {0, 0};
  int r = enter(p);
  if (work) *work = w;
  if (r != PAGES_OK) return r;
  size_t keep = keep_bytes >> PAGE_SHIFT, none = 0, kept_end = 0, top_end = 0;
  size_t lo = p->gap_lo, hi = p->gap_hi, n = p->npages;
  /* Dirty pages of the bottom part: the lowest `keep` of them stay (the next
   * heap's segments come from the bottom), the rest go back; those of the
   * top part (large chunks) all go back, so the new gap reaches the top.
   * Only the touched parts are visited (I6). */
  if (lo > 0) settle_dirty(p, 0, lo, &keep, release, arg, &w, &kept_end);
  if (hi < n) settle_dirty(p, hi, n, &none, release, arg, &w, &top_end);
  /* Every page free: the used words of the touched parts and their ancestors. */
  if (lo > 0) {
    mark_used(p, 0, lo, 0);
    w.meta_words += ((lo - 1) >> 6) + 1 + p->top;
  }
  if (hi < n) {
    mark_used(p, hi, n, 0);
    w.meta_words += ((n - 1) >> 6) - (hi >> 6) + 1 + p->top;
  }
  p->used_pages = 0;
  p->free_runs = 1;
  p->zero_known_min = p->zero_known;
  p->zero_filled_bytes = 0;
  /* I6: what stays dirty lies below kept_end, or in the old top part when
   * `release` refused some of it (released pages are known zero). */
  p->gap_lo = kept_end;
  p->gap_hi = top_end ? hi : n;
  if (work) *work = w;
  return PAGES_OK;
}

/* ---- statistics and check --------------------------------------------------------------- */

int pages_stats(pages_t* p, pages_stats_t* out) {
  if (out == NULL) return PAGES_E_INVALID;
  int r = enter_any(p);
  if (r != PAGES_OK) return r;
  memset(out, 0, sizeof *out);
  out->region_bytes = p->npages << PAGE_SHIFT;
  out->meta_bytes = p->meta_bytes;
  out->used_bytes = p->used_pages << PAGE_SHIFT;
  out->free_bytes = out->region_bytes - out->used_bytes;
  out->largest_free = root_of(p).max << PAGE_SHIFT;
  out->free_runs = p->free_runs;
  out->zero_known_bytes = p->zero_known << PAGE_SHIFT;
  out->committed_bytes = out->region_bytes - out->zero_known_bytes;
  out->peak_committed_bytes = out->region_bytes - (p->zero_known_min << PAGE_SHIFT);
  out->zero_filled_bytes = p->zero_filled_bytes;
  return PAGES_OK;
}

static const char* check_all(const pages_t* p) {
  layout_t L;
  if (p->base == 0 || (p->base & (PAGES_PAGE - 1)) != 0 || p->npages == 0 ||
      p->npages > SIZE_MAX >> PAGE_SHIFT || !layout_for(p->npages << PAGE_SHIFT, &L))
    return "I5: the header's region is invalid";
  if (L.nwords != p->nwords || L.top != p->top || L.used_off != p->used_off ||
      L.zero_off != p->zero_off || L.total != p->meta_bytes)
    return "I5: the header's layout is not the region's";
  for (unsigned l = 0; l < MAX_LEVELS; l++)
    if (L.level_off[l] != p->level_off[l]) return "I5: the header's layout is not the region's";
  if (p->zflip != 0 && p->zflip != ALL) return "I2: zflip is neither 0 nor all ones";

  const uint64_t* u = used_words(p);
  size_t W = p->nwords, pad = 64 * W - p->npages;
  uint64_t pm = pad ? ALL << (64 - pad) : 0;
  if ((u[W - 1] & pm) != pm) return "I1: a padding bit of the used bitmap is clear";
  size_t used = 0, kz = 0, runs = 0;
  uint64_t carry = 0; /* 1 when the previous word ends free */
  for (size_t w = 0; w < W; w++) {
    uint64_t z = kz_word(p, w);
    if (z & u[w]) return "I2: a page known zero is used (or padding)";
    used += popcount64(u[w]);
    kz += popcount64(z);
    uint64_t f = ~u[w];
    runs += popcount64(f & ~((f << 1) | carry));
    carry = f >> 63;
  }
  if (used - pad != p->used_pages) return "I1: used_pages disagrees with the used bitmap";
  if (kz != p->zero_known) return "I2: zero_known disagrees with the zero bitmap";
  if (p->zero_known_min > p->zero_known) return "I2: zero_known_min is above zero_known";
  if (runs != p->free_runs) return "I4: free_runs disagrees with the used bitmap";
  if (p->gap_lo > p->gap_hi || p->gap_hi > p->npages) return "I6: the untouched gap is out of range";
  for (size_t k = p->gap_lo; k < p->gap_hi; k = (k | 63) + 1) {
    size_t e = p->gap_hi < ((k | 63) + 1) ? p->gap_hi : (k | 63) + 1, x = k >> 6;
    uint64_t m = range_mask(x, k, e);
    if ((u[x] & m) != 0 || (kz_word(p, x) & m) != m) return "I6: a page of the untouched gap is used or dirty";
  }
  if ((p->zero_filled_bytes & (PAGES_PAGE - 1)) != 0)
    return "I4: zero_filled_bytes is not a whole number of pages";
  for (unsigned l = 1; l <= p->top; l++) {
    size_t span = span_of(l);
    for (size_t i = 0; i < level_count(W, l); i++) {
      span3 got = node_get(p, l, i), want = children_of(p, l, i);
      if (!span_sane(got, span)) return "I3: a tree node is out of range";
      if (got.max != want.max || got.pre != want.pre || got.suf != want.suf)
        return "I3: a tree node disagrees with its children";
    }
  }
  return NULL;
}

int pages_check(pages_t* p) {
  int r = enter_any(p);
  if (r != PAGES_OK) return r;
  const char* e = check_all(p);
  if (e) return corrupt(p, e);
  return p->corrupted ? PAGES_E_CORRUPTED : PAGES_OK;
}

const char* pages_check_message(pages_t* p) {
  if (p == NULL || p->magic != PAGES_MAGIC) return "not a live pages instance";
  return p->check_message;
}
