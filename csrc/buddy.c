/*
 * offheap — the buddy allocator and page provider (interface and contract in
 * buddy.h).
 *
 * One translation unit, no Node headers, no libc allocation: the caller gives
 * the region and the metadata buffer. From the port contract (portable.h) it
 * uses only the lock hooks, and memset/memcpy from libc.
 *
 * Vocabulary. Addresses are absolute (uintptr_t). A granule is one minimum
 * block (2^min_shift bytes). A node is a pair (order k, address a) with a
 * aligned to the node size, size(k) = 2^(min_shift + k). Node (k, a) has
 * children (k-1, a) and (k-1, a + size(k-1)); its buddy is (k, a ^ size(k)).
 * A block is a leaf of the tree: an existing node that is not split.
 *
 * Why out-of-band metadata: free(ptr) must learn the block's size without
 * trusting memory the user can write, and must reject bad pointers without
 * changing anything. Two bitmaps outside the region (a split bit per internal
 * node, an allocation-start bit per granule) answer "which block holds ptr,
 * is it live, is its buddy free" with one word read per six tree levels (see
 * the split-bit layout), never reading user memory. Free lists are in-band (two words at the start of each free block)
 * because a free block has room for them; every link read from the region is
 * checked against the bitmaps before it is followed, so a scribbled link is
 * reported as BUDDY_E_CORRUPTED instead of being dereferenced.
 */
#include "buddy.h"

#include <stdint.h>
#include <string.h>

#include "bits.h"
#include "portable.h"

/* ---- compiler hints ----------------------------------------------------------
 * The fast paths (a cache hit in malloc and free) must not pay for calls into
 * the rare paths: they are forced inline, the rare paths kept out of line. */
#if defined(__GNUC__) || defined(__clang__)
#define HOT static inline __attribute__((always_inline))
#define RARE static __attribute__((noinline))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define HOT static inline
#define RARE static
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#endif

/* ---- bit helpers (and bits.h) --------------------------------------------- */

static inline int bit_get(const uint64_t* w, size_t i) { return (int)((w[i >> 6] >> (i & 63)) & 1u); }
static inline void bit_set(uint64_t* w, size_t i) { w[i >> 6] |= (uint64_t)1 << (i & 63); }
static inline void bit_clear(uint64_t* w, size_t i) { w[i >> 6] &= ~((uint64_t)1 << (i & 63)); }

static size_t popcount_bits(const uint64_t* w, size_t nbits) {
  size_t n = 0;
  for (size_t i = 0; i < (nbits + 63) / 64; i++) n += popcount64(w[i]);
  return n;
}

static inline size_t words_for(size_t nbits) { return nbits / 64 + (nbits % 64 != 0); }

/* ---- the instance ------------------------------------------------------------ */

#define BUDDY_MAGIC 0x6f66666275646479ull /* "offbuddy" */
#define HEADER_ALIGN 64
#define NIL ((uintptr_t)0) /* the end of a free list; never a block (base != NULL) */
#define SPLIT_GROUPS 11   /* groups of 6 orders of split bits: orders 1 .. 66 */

/*
 * The state of one instance. It lives at the start of the caller's metadata
 * buffer, followed by the three bitmaps; nothing of it lives in the region.
 *
 * Invariants (buddy_check verifies each one; the number is quoted there):
 *
 * I1 Tree. A node exists when it is a root (one of the maximal aligned blocks
 *    tiling the region, see buddy.h) or a child of an existing split node.
 *    The split bit of node (k, a), k >= 1, is 1 exactly when the node exists
 *    and is split, or when the node straddles an edge of the region (overlaps
 *    it without lying inside it: edge_nodes of them). Those edge nodes read
 *    as permanently split so that the walk up from a granule stops at its
 *    root without a bounds test per level (a root's parent is always an edge
 *    node). Every other bit of split_bits (nodes under a leaf, padding) is 0.
 *    The leaves tile [base, end), each aligned to its size in absolute
 *    addresses.
 * I2 Allocation starts. Bit g of alloc_bits is 1 exactly at the first granule
 *    of each live or cached block; alloc_leaves counts those bits.
 * I3 Free lists. List k holds exactly the free blocks (leaves whose alloc bit
 *    is 0) of order k, each once: in-band links {next, prev} at the block's
 *    first bytes, NIL-terminated, head[k]/tail[k] the ends, count[k] the
 *    length, bit k of nonempty set exactly when count[k] > 0. list_bytes is
 *    the sum of their sizes.
 * I4 Merged. No split node has two free children: two free buddies are always
 *    merged at once. (Cached blocks are not free in this sense; the cache
 *    exists precisely to keep them unmerged.)
 * I5 Cache. cache[k][0 .. cache_count[k]) are distinct blocks of order k that
 *    the user has freed but that stay marked allocated (alloc bit 1) so that
 *    nothing merges with them; k < cache_orders, cache_count[k] <=
 *    cache_limit; cached_bytes is the sum of their sizes.
 * I6 Zero pages (BUDDY_TRACK_ZERO). A set bit of zero_bits means the page
 *    (max(4 KiB, minimum block) bytes) lies inside the region, overlaps only
 *    free blocks, holds no free block's links (so is not the first page of a
 *    free block) and reads as zeros. Every write the allocator makes into the
 *    region (links) clears the bit of its page first, and memory handed to a
 *    user clears its bits. Bits of cached blocks are clear: they were live.
 *    zero_known is the number of set bits (every set and clear goes through
 *    zero_mark / zero_unmark, which count actual transitions only), and
 *    zero_known_min <= zero_known is the smallest value zero_known has had
 *    since buddy_init or buddy_restart (kept across buddy_reset, like
 *    peak_used_bytes). Since a known-zero page lies wholly in free-list
 *    blocks, zero_known pages <= list_bytes, so used bytes <= region -
 *    zero_known pages ("committed").
 * I7 Dirty journal (BUDDY_TRACK_ZERO). Unless dirty_all is set, every page
 *    wholly inside the region whose zero bit is clear lies in a word w of
 *    zero_bits whose bit w of dirty_sum is set, and dirty_log[0 .. dirty_count)
 *    lists exactly the words whose dirty_sum bit is set, each once. (A word
 *    may stay listed after its pages became zero again.) zero_unmark keeps
 *    it so; dirty_all is set when the region was not given zeroed. So
 *    buddy_restart finds the pages written since the last restart without
 *    reading the zero bitmap of the whole region.
 * I8 Touched. Every node whose split bit or alloc bit is set, edge nodes
 *    aside, starts at or below touched_hi (split_set and alloc_set raise it;
 *    buddy_init, buddy_reset and buddy_restart lower it to base). So
 *    buddy_restart clears the bitmaps' words up to touched_hi, in time of the
 *    address range used since the last restart rather than of the region.
 */
struct buddy {
  uint64_t magic;        /* BUDDY_MAGIC while the instance lives */
  void* lock;            /* the portable.h lock word (BUDDY_LOCKED) */
  uintptr_t base, end;   /* the managed region [base, end) */
  unsigned min_shift;    /* log2 of the minimum block */
  unsigned top_order;    /* the largest order whose size fits in the region */
  unsigned flags;        /* BUDDY_* instance flags */
  unsigned cache_orders; /* orders 0 .. cache_orders-1 are cached (0: no cache) */
  unsigned cache_limit;  /* blocks per cached order */
  int corrupted;         /* set once damage was found; then every call refuses */
  const char* check_message; /* the invariant found broken, "" if none */
  size_t meta_bytes;     /* bytes of the metadata buffer in use */

  uint64_t nonempty;     /* bit k: free list k is not empty (I3) */
  size_t list_bytes;     /* bytes in free lists (I3) */
  size_t cached_bytes;   /* bytes in the cache (I5) */
  size_t alloc_leaves;   /* alloc bits set (I2) */
  size_t zero_filled_bytes; /* bytes this instance has memset for zeroed requests */
  size_t peak_used_bytes;   /* the largest region - list_bytes - cached_bytes so far */
  size_t zero_known;        /* I6: set bits of zero_bits */
  size_t zero_known_min;    /* I6: the smallest zero_known since buddy_init */

  uint64_t* split_bits;  /* I1; node (k, a) is bit split_index(k, a), see there */
  size_t split_nbits;    /* 64 per word of split_bits */
  size_t edge_nodes;     /* split bits set for nodes straddling the region's edges */
  uintptr_t touched_hi;  /* I8 */
  uint64_t* alloc_bits;  /* I2; granule a is bit (a - base) >> min_shift */
  size_t granules;
  uint64_t* zero_bits;   /* I6; page a is bit (a >> zero_shift) - zero_first_page */
  size_t zero_pages;
  uintptr_t zero_first_page;
  unsigned zero_shift;   /* log2 of the zero-tracking page: max(12, min_shift) */
  uint64_t* dirty_sum;   /* I7: one bit per word of zero_bits */
  uint64_t* dirty_log;   /* I7: words of zero_bits, words_for(zero_pages) entries */
  size_t dirty_count;    /* I7 */
  int dirty_all;         /* I7 */

  uintptr_t head[BUDDY_MAX_ORDERS]; /* I3 */
  uintptr_t tail[BUDDY_MAX_ORDERS];
  size_t count[BUDDY_MAX_ORDERS];
  size_t split_word0[SPLIT_GROUPS];    /* first word of each group of orders */
  uintptr_t split_origin[SPLIT_GROUPS]; /* (base granule) >> (6 * group + 6) */

  unsigned cache_count[BUDDY_CACHE_ORDERS_MAX]; /* I5 */
  uintptr_t cache[BUDDY_CACHE_ORDERS_MAX][BUDDY_CACHE_LIMIT_MAX];
};

#define HEADER_BYTES ((sizeof(struct buddy) + HEADER_ALIGN - 1) & ~(size_t)(HEADER_ALIGN - 1))

static inline size_t block_size(const buddy_t* b, unsigned k) {
  return (size_t)1 << (b->min_shift + k);
}

/* ---- bitmap accessors ---------------------------------------------------------- */

/*
 * Layout of the split bits. Orders are grouped six at a time: group j holds
 * orders 6j+1 .. 6j+6. In group j one 64-bit word holds the 63 nodes of one
 * subtree of six levels over 64^(j+1) granules (the granule number shifted
 * right by 6j, then by 6 for the word): order 6j+1 in bits 0..31, 6j+2 in
 * 32..47, 6j+3 in 48..55, 6j+4 in 56..59, 6j+5 in 60..61, 6j+6 in bit 62;
 * bit 63 is unused. Why: the six ancestors of a granule within a group share
 * one word, so find_leaf reads one word per six levels (one for blocks up
 * to order 5) instead of one per level. Size: about one bit per granule, as
 * one bitmap per order would be.
 */
static const unsigned char SPLIT_POS_OFFSET[7] = {0, 0, 32, 48, 56, 60, 62};

/* SPLIT_ANCESTORS[l]: the bits of a group word that hold the six ancestors of
 * local position l (0..63): OR over i = 1..6 of 1 << (SPLIT_POS_OFFSET[i] +
 * (l >> i)). */
static const uint64_t SPLIT_ANCESTORS[64] = {
    0x5101000100000001ull, 0x5101000100000001ull, 0x5101000100000002ull, 0x5101000100000002ull,
    0x5101000200000004ull, 0x5101000200000004ull, 0x5101000200000008ull, 0x5101000200000008ull,
    0x5102000400000010ull, 0x5102000400000010ull, 0x5102000400000020ull, 0x5102000400000020ull,
    0x5102000800000040ull, 0x5102000800000040ull, 0x5102000800000080ull, 0x5102000800000080ull,
    0x5204001000000100ull, 0x5204001000000100ull, 0x5204001000000200ull, 0x5204001000000200ull,
    0x5204002000000400ull, 0x5204002000000400ull, 0x5204002000000800ull, 0x5204002000000800ull,
    0x5208004000001000ull, 0x5208004000001000ull, 0x5208004000002000ull, 0x5208004000002000ull,
    0x5208008000004000ull, 0x5208008000004000ull, 0x5208008000008000ull, 0x5208008000008000ull,
    0x6410010000010000ull, 0x6410010000010000ull, 0x6410010000020000ull, 0x6410010000020000ull,
    0x6410020000040000ull, 0x6410020000040000ull, 0x6410020000080000ull, 0x6410020000080000ull,
    0x6420040000100000ull, 0x6420040000100000ull, 0x6420040000200000ull, 0x6420040000200000ull,
    0x6420080000400000ull, 0x6420080000400000ull, 0x6420080000800000ull, 0x6420080000800000ull,
    0x6840100001000000ull, 0x6840100001000000ull, 0x6840100002000000ull, 0x6840100002000000ull,
    0x6840200004000000ull, 0x6840200004000000ull, 0x6840200008000000ull, 0x6840200008000000ull,
    0x6880400010000000ull, 0x6880400010000000ull, 0x6880400020000000ull, 0x6880400020000000ull,
    0x6880800040000000ull, 0x6880800040000000ull, 0x6880800080000000ull, 0x6880800080000000ull,
};

/* The order within its group (1..6) of the node at bit position pos. */
static inline unsigned split_order_at(unsigned pos) {
  return pos < 32 ? 1 : pos < 48 ? 2 : pos < 56 ? 3 : pos < 60 ? 4 : pos < 62 ? 5 : 6;
}

/* The word of group j that covers granule g (absolute granule number). */
static inline size_t split_word(const buddy_t* b, unsigned j, uintptr_t g) {
  return b->split_word0[j] + (size_t)((g >> (6 * j + 6)) - b->split_origin[j]);
}

static inline size_t split_index(const buddy_t* b, unsigned k, uintptr_t a) {
  unsigned j = (k - 1) / 6, i = k - 6 * j;
  uintptr_t g = a >> b->min_shift;
  unsigned local = (unsigned)((g >> (6 * j)) & 63);
  return split_word(b, j, g) * 64 + SPLIT_POS_OFFSET[i] + (local >> i);
}
/* Order 0 nodes cannot split and have no bit. */
static inline int split_get(const buddy_t* b, unsigned k, uintptr_t a) {
  return k > 0 && bit_get(b->split_bits, split_index(b, k, a));
}
static inline void split_set(buddy_t* b, unsigned k, uintptr_t a) {
  bit_set(b->split_bits, split_index(b, k, a));
  if (a > b->touched_hi) b->touched_hi = a;
}
static inline void split_clear(buddy_t* b, unsigned k, uintptr_t a) {
  bit_clear(b->split_bits, split_index(b, k, a));
}

static inline size_t granule_of(const buddy_t* b, uintptr_t a) {
  return (size_t)((a - b->base) >> b->min_shift);
}
static inline int alloc_get(const buddy_t* b, uintptr_t a) {
  return bit_get(b->alloc_bits, granule_of(b, a));
}
static inline void alloc_set(buddy_t* b, uintptr_t a) {
  bit_set(b->alloc_bits, granule_of(b, a));
  b->alloc_leaves++;
  if (a > b->touched_hi) b->touched_hi = a;
}
static inline void alloc_clear(buddy_t* b, uintptr_t a) {
  bit_clear(b->alloc_bits, granule_of(b, a));
  b->alloc_leaves--;
}

static inline int tracking_zero(const buddy_t* b) { return (b->flags & BUDDY_TRACK_ZERO) != 0; }
static inline size_t zero_page_size(const buddy_t* b) { return (size_t)1 << b->zero_shift; }
static inline size_t zero_index(const buddy_t* b, uintptr_t a) {
  return (size_t)((a >> b->zero_shift) - b->zero_first_page);
}
static inline uintptr_t zero_page_start(const buddy_t* b, size_t i) {
  return (uintptr_t)(b->zero_first_page + i) << b->zero_shift;
}
/* The zero-tracking page starting at page_start lies wholly inside the region. */
static inline int page_inside(const buddy_t* b, uintptr_t page_start) {
  return page_start >= b->base && b->end - page_start >= zero_page_size(b);
}
/* log2 of the zero-tracking page for minimum blocks of 2^min_shift bytes. */
static inline unsigned zero_shift_for(unsigned min_shift) { return min_shift > 12 ? min_shift : 12; }

/* The only writers of zero_bits after init: they keep zero_known equal to
 * the number of set bits, and zero_known_min at its low-water mark (I6). */
static inline void zero_mark(buddy_t* b, size_t i) {
  uint64_t m = (uint64_t)1 << (i & 63);
  uint64_t* w = &b->zero_bits[i >> 6];
  if (!(*w & m)) {
    *w |= m;
    b->zero_known++;
  }
}
static inline void zero_unmark(buddy_t* b, size_t i) {
  uint64_t m = (uint64_t)1 << (i & 63);
  uint64_t* w = &b->zero_bits[i >> 6];
  if (*w & m) {
    *w &= ~m;
    if (--b->zero_known < b->zero_known_min) b->zero_known_min = b->zero_known;
    size_t x = i >> 6; /* I7: the word goes in the journal once */
    uint64_t sm = (uint64_t)1 << (x & 63);
    if (!(b->dirty_sum[x >> 6] & sm)) {
      b->dirty_sum[x >> 6] |= sm;
      b->dirty_log[b->dirty_count++] = x;
    }
  }
}

/* ---- tree geometry --------------------------------------------------------------- */

/* The parent of node (k, a) lies wholly inside the region, i.e. (k, a) is not
 * a root. Roots have no in-region buddy, so merging stops at them. */
static inline int parent_inside(const buddy_t* b, unsigned k, uintptr_t a) {
  if (k >= b->top_order) return 0;
  size_t ps = block_size(b, k + 1);
  uintptr_t p = a & ~(uintptr_t)(ps - 1);
  return p >= b->base && b->end - p >= ps;
}

/* The order of the root that starts at a (a is a root boundary): the largest
 * block aligned at a that still fits before end. */
static unsigned root_order_at(const buddy_t* b, uintptr_t a) {
  unsigned k = ctz64((uint64_t)a) - b->min_shift;
  if (k > b->top_order) k = b->top_order;
  while (block_size(b, k) > b->end - a) k--;
  return k;
}

/* The leaf (block) that contains address p (inside the region): walk up from
 * the granule until the parent is split. A node whose parent is split exists;
 * it is unsplit because the previous step found it so. The parent of a root
 * is an edge node, which reads as split (I1), and a root of the top order
 * has no parent, so the walk stops at the root at the latest. Cost: one word
 * read per six levels of the block. */
HOT void find_leaf(const buddy_t* b, uintptr_t p, uintptr_t* out_a, unsigned* out_k) {
  uintptr_t g = p >> b->min_shift;
  unsigned k = b->top_order;
  /* The ancestors' split bits along the way up are 0 up to the leaf's order
   * and 1 above it, so the lowest set ancestor bit of a group word names the
   * leaf's parent. */
  for (unsigned j = 0; 6 * j < b->top_order; j++) {
    uint64_t m = b->split_bits[split_word(b, j, g)] & SPLIT_ANCESTORS[(g >> (6 * j)) & 63];
    if (m != 0) {
      k = 6 * j + split_order_at(ctz64(m)) - 1;
      break;
    }
  }
  *out_a = p & ~(uintptr_t)(block_size(b, k) - 1);
  *out_k = k;
}

/* Node (k, start), which overlaps the region, does not lie inside it. */
static int node_straddles(const buddy_t* b, unsigned k, uintptr_t start) {
  return start < b->base || b->end - start < block_size(b, k);
}

/* The first and the last node of order k that overlap the region: the only
 * ones that can straddle its edges. */
static void edge_candidates(const buddy_t* b, unsigned k, uintptr_t* first, uintptr_t* last) {
  unsigned s = b->min_shift + k;
  *first = (b->base >> s) << s;
  *last = ((b->end - 1) >> s) << s;
}

/* Sets the split bit of every node that straddles an edge of the region
 * (I1); returns how many. They do not count as touched (I8). */
static size_t mark_edge_nodes(buddy_t* b) {
  size_t n = 0;
  uintptr_t touched = b->touched_hi;
  for (unsigned k = 1; k <= b->top_order; k++) {
    uintptr_t first, last;
    edge_candidates(b, k, &first, &last);
    if (node_straddles(b, k, first)) {
      split_set(b, k, first);
      n++;
    }
    if (last != first && node_straddles(b, k, last)) {
      split_set(b, k, last);
      n++;
    }
  }
  b->touched_hi = touched;
  return n;
}

/* Node (k, a), known to exist, is a free block. */
static inline int node_is_free(const buddy_t* b, unsigned k, uintptr_t a) {
  return !split_get(b, k, a) && !alloc_get(b, a);
}

/* An arbitrary value `a` (read from the region or a list head) is a free
 * block of order k: in the region, aligned, existing, unsplit, not allocated.
 * Every link is checked with this before it is followed (I3). */
static int is_free_leaf(const buddy_t* b, unsigned k, uintptr_t a) {
  size_t s = block_size(b, k);
  if (a < b->base || a >= b->end || (a & (uintptr_t)(s - 1)) != 0 || b->end - a < s) return 0;
  if (split_get(b, k, a) || alloc_get(b, a)) return 0;
  if (parent_inside(b, k, a) && !split_get(b, k + 1, a & ~(uintptr_t)(2 * s - 1))) return 0;
  return 1;
}

/* ---- in-band links --------------------------------------------------------------- */

/* Links are read and written with memcpy: the region has no declared type
 * and the user may have stored anything there. */
static inline uintptr_t link_next(uintptr_t a) {
  uintptr_t v;
  memcpy(&v, (const void*)a, sizeof v);
  return v;
}
static inline uintptr_t link_prev(uintptr_t a) {
  uintptr_t v;
  memcpy(&v, (const void*)(a + sizeof(uintptr_t)), sizeof v);
  return v;
}
/* Every write into the region goes through here, so the page it dirties is
 * never believed zero (I6). */
static inline void dirty_page(buddy_t* b, uintptr_t a) {
  if (tracking_zero(b)) zero_unmark(b, zero_index(b, a));
}
static inline void set_next(buddy_t* b, uintptr_t a, uintptr_t v) {
  dirty_page(b, a);
  memcpy((void*)a, &v, sizeof v);
}
static inline void set_prev(buddy_t* b, uintptr_t a, uintptr_t v) {
  dirty_page(b, a);
  memcpy((void*)(a + sizeof(uintptr_t)), &v, sizeof v);
}

static int corrupt(buddy_t* b, const char* what) {
  b->corrupted = 1;
  b->check_message = what;
  return BUDDY_E_CORRUPTED;
}

/* ---- free lists (I3) ------------------------------------------------------------- */

/* Pushes block (k, a), already free in the bitmaps, onto list k. */
static int list_push(buddy_t* b, unsigned k, uintptr_t a) {
  uintptr_t h = b->head[k];
  if (h != NIL) {
    if (h == a || !is_free_leaf(b, k, h) || link_prev(h) != NIL)
      return corrupt(b, "free-list head is not a free block of its order");
  } else if (b->tail[k] != NIL || b->count[k] != 0) {
    return corrupt(b, "empty free list with a tail or a count");
  }
  set_next(b, a, h);
  set_prev(b, a, NIL);
  if (h != NIL)
    set_prev(b, h, a);
  else
    b->tail[k] = a;
  b->head[k] = a;
  b->count[k]++;
  b->nonempty |= (uint64_t)1 << k;
  b->list_bytes += block_size(b, k);
  return BUDDY_OK;
}

/* Removes block (k, a), which the bitmaps say is free, from list k. Both
 * neighbours are validated and must link back to a before anything is
 * written. */
static int list_unlink(buddy_t* b, unsigned k, uintptr_t a) {
  uintptr_t n = link_next(a), p = link_prev(a);
  if (n == a || p == a) return corrupt(b, "free-list link points to its own block");
  if (p != NIL) {
    if (!is_free_leaf(b, k, p) || link_next(p) != a)
      return corrupt(b, "free-list prev link is not a free block linking back");
  } else if (b->head[k] != a) {
    return corrupt(b, "free block without prev is not the list head");
  }
  if (n != NIL) {
    if (!is_free_leaf(b, k, n) || link_prev(n) != a)
      return corrupt(b, "free-list next link is not a free block linking back");
  } else if (b->tail[k] != a) {
    return corrupt(b, "free block without next is not the list tail");
  }
  /* A block alone in its list needs a count of exactly 1, one with a
   * neighbour at least 2: otherwise the list would end up empty with a
   * nonzero count, or the other way round. */
  if ((p == NIL && n == NIL) ? b->count[k] != 1 : b->count[k] < 2)
    return corrupt(b, "free-list count disagrees with its links");
  if (p != NIL)
    set_next(b, p, n);
  else
    b->head[k] = n;
  if (n != NIL)
    set_prev(b, n, p);
  else
    b->tail[k] = p;
  if (--b->count[k] == 0) b->nonempty &= ~((uint64_t)1 << k);
  b->list_bytes -= block_size(b, k);
  return BUDDY_OK;
}

/* ---- blocks ------------------------------------------------------------------------ */

/* Gives the live block (k, a) back to the tree: clears its alloc bit and
 * merges it with free buddies as far up as they go (I4). */
RARE int release_block(buddy_t* b, uintptr_t a, unsigned k) {
  alloc_clear(b, a);
  while (parent_inside(b, k, a)) {
    uintptr_t bud = a ^ (uintptr_t)block_size(b, k);
    if (!node_is_free(b, k, bud)) break;
    int r = list_unlink(b, k, bud);
    if (r != BUDDY_OK) return r;
    a &= ~(uintptr_t)block_size(b, k);
    k++;
    split_clear(b, k, a);
  }
  return list_push(b, k, a);
}

/* Block (k, a), marked allocated, is in the cache. A scan: cached blocks stay
 * marked allocated (I5), so only the cache knows them; it costs at most
 * cache_limit compares, and in the alloc/free pairs the cache exists for it
 * is nearly empty when a block is freed. */
HOT int cache_holds(const buddy_t* b, unsigned k, uintptr_t a) {
  if (k >= b->cache_orders) return 0;
  for (unsigned i = 0; i < b->cache_count[k]; i++)
    if (b->cache[k][i] == a) return 1;
  return 0;
}

static int cache_nonempty(const buddy_t* b) { return b->cached_bytes != 0; }

/* Merges every cached block (I5 emptied). */
static int flush_cache(buddy_t* b) {
  for (unsigned k = 0; k < b->cache_orders; k++) {
    while (b->cache_count[k] > 0) {
      uintptr_t a = b->cache[k][--b->cache_count[k]];
      b->cached_bytes -= block_size(b, k);
      int r = release_block(b, a, k);
      if (r != BUDDY_OK) return r;
    }
  }
  return BUDDY_OK;
}

/* A user's live block (k, a) is freed: kept unmerged in the cache when there
 * is room, merged otherwise. */
HOT int free_block(buddy_t* b, uintptr_t a, unsigned k) {
  if (LIKELY(k < b->cache_orders && b->cache_count[k] < b->cache_limit)) {
    b->cache[k][b->cache_count[k]++] = a;
    b->cached_bytes += block_size(b, k);
    return BUDDY_OK;
  }
  return release_block(b, a, k);
}

/* Unlinks the smallest free-list block of order >= k; flushes the cache and
 * tries once more when there is none. */
static int take_free_block(buddy_t* b, unsigned k, uintptr_t* out_a, unsigned* out_j) {
  for (int attempt = 0;; attempt++) {
    uint64_t m = b->nonempty & (~(uint64_t)0 << k);
    if (m != 0) {
      unsigned j = ctz64(m);
      uintptr_t a = b->head[j];
      if (!is_free_leaf(b, j, a)) return corrupt(b, "free-list head is not a free block of its order");
      int r = list_unlink(b, j, a);
      if (r != BUDDY_OK) return r;
      *out_a = a;
      *out_j = j;
      return BUDDY_OK;
    }
    if (attempt > 0 || !cache_nonempty(b)) return BUDDY_E_NOMEM;
    int r = flush_cache(b);
    if (r != BUDDY_OK) return r;
  }
}

/* A live block of order k (alloc bit set), split down from the smallest free
 * block of order >= k, pushing each right half. NIL when there is none, or
 * on corruption (then b->corrupted is set). */
RARE uintptr_t alloc_split(buddy_t* b, unsigned k) {
  uintptr_t a;
  unsigned j;
  if (take_free_block(b, k, &a, &j) != BUDDY_OK) return NIL;
  while (j > k) {
    split_set(b, j, a);
    j--;
    if (list_push(b, j, a + block_size(b, j)) != BUDDY_OK) return NIL;
  }
  alloc_set(b, a);
  return a;
}

/* A live block of order k: from the cache when it holds one (LIFO, so the
 * block freed last, still warm, comes back first), else split. NIL as
 * alloc_split. (Returned, not stored through a pointer: the fast path then
 * keeps it in a register.) */
HOT uintptr_t alloc_order(buddy_t* b, unsigned k) {
  if (LIKELY(k < b->cache_orders && b->cache_count[k] > 0)) {
    b->cached_bytes -= block_size(b, k);
    return b->cache[k][--b->cache_count[k]];
  }
  return alloc_split(b, k);
}

/* The order of the smallest block holding n bytes; 0 when none fits. */
HOT int order_for(const buddy_t* b, size_t n, unsigned* k) {
  if (n <= block_size(b, 0)) {
    *k = 0;
    return 1;
  }
  if (n > block_size(b, b->top_order)) return 0;
  *k = floor_log2_64((uint64_t)(n - 1)) + 1 - b->min_shift;
  return 1;
}

/* Memory [a, a + len) goes to a user: its pages stop being known zero (I6),
 * and [a, a + zero_len) is made to read as zeros, skipping known-zero pages. */
RARE void claim_memory(buddy_t* b, uintptr_t a, size_t len, size_t zero_len) {
  if (!tracking_zero(b)) {
    if (zero_len) {
      memset((void*)a, 0, zero_len);
      b->zero_filled_bytes += zero_len;
    }
    return;
  }
  if (len == 0) return;
  uintptr_t zend = a + zero_len;
  size_t first = zero_index(b, a), last = zero_index(b, a + len - 1);
  for (size_t i = first; i <= last; i++) {
    if (bit_get(b->zero_bits, i)) {
      zero_unmark(b, i);
      continue;
    }
    uintptr_t ps = zero_page_start(b, i);
    uintptr_t pe = ps + zero_page_size(b);
    uintptr_t lo = ps > a ? ps : a, hi = pe < zend ? pe : zend;
    if (lo < hi) {
      memset((void*)lo, 0, (size_t)(hi - lo));
      b->zero_filled_bytes += (size_t)(hi - lo);
    }
  }
}

/* claim_memory when there is anything to do (zero tracking or a zeroed
 * request), free otherwise. */
HOT void claim(buddy_t* b, uintptr_t a, size_t len, size_t zero_len) {
  if (UNLIKELY(zero_len != 0 || tracking_zero(b))) claim_memory(b, a, len, zero_len);
}

/* Pages wholly inside [lo, hi) are known zero (the caller cleaned them). */
static void mark_zero_range(buddy_t* b, uintptr_t lo, uintptr_t hi) {
  size_t ps = zero_page_size(b);
  uintptr_t p = (lo + ps - 1) & ~(uintptr_t)(ps - 1);
  for (; p < hi && hi - p >= ps; p += ps)
    if (page_inside(b, p)) zero_mark(b, zero_index(b, p));
}

/* ---- pointer classification ------------------------------------------------------ */

/* What p is, exactly, from the bitmaps (and the cache) alone, see buddy.h.
 * The block holding p is (*out_a, *out_k) whenever p is inside the region. */
HOT int classify(const buddy_t* b, uintptr_t p, uintptr_t* out_a, unsigned* out_k) {
  if (UNLIKELY(p < b->base || p >= b->end)) return BUDDY_E_FOREIGN;
  uintptr_t a;
  unsigned k;
  find_leaf(b, p, &a, &k);
  *out_a = a;
  *out_k = k;
  int is_free = !alloc_get(b, a) || cache_holds(b, k, a);
  if (UNLIKELY(is_free)) return a == p ? BUDDY_E_DOUBLE_FREE : BUDDY_E_STALE;
  return LIKELY(a == p) ? BUDDY_OK : BUDDY_E_INTERIOR;
}

/* ---- entry and exit ---------------------------------------------------------------- */

HOT int enter(buddy_t* b) {
  if (UNLIKELY(b == NULL || b->magic != BUDDY_MAGIC)) return BUDDY_E_INVALID;
  if (b->flags & BUDDY_LOCKED) acquire_lock(&b->lock);
  if (UNLIKELY(b->corrupted)) {
    if (b->flags & BUDDY_LOCKED) release_lock(&b->lock);
    return BUDDY_E_CORRUPTED;
  }
  return BUDDY_OK;
}

HOT int leave(buddy_t* b, int status) {
  if (b->flags & BUDDY_LOCKED) release_lock(&b->lock);
  return status;
}

/* Like enter, but also on a corrupted instance (statistics, checking). */
static int enter_any(buddy_t* b) {
  if (b == NULL || b->magic != BUDDY_MAGIC) return BUDDY_E_INVALID;
  if (b->flags & BUDDY_LOCKED) acquire_lock(&b->lock);
  return BUDDY_OK;
}

/* ---- life cycle -------------------------------------------------------------------- */

const char* buddy_status_name(int status) {
  switch (status) {
    case BUDDY_OK: return "BUDDY_OK";
    case BUDDY_E_FOREIGN: return "BUDDY_E_FOREIGN";
    case BUDDY_E_DOUBLE_FREE: return "BUDDY_E_DOUBLE_FREE";
    case BUDDY_E_INTERIOR: return "BUDDY_E_INTERIOR";
    case BUDDY_E_STALE: return "BUDDY_E_STALE";
    case BUDDY_E_NOT_ALLOCATED: return "BUDDY_E_NOT_ALLOCATED";
    case BUDDY_E_NOMEM: return "BUDDY_E_NOMEM";
    case BUDDY_E_INVALID: return "BUDDY_E_INVALID";
    case BUDDY_E_BAD_REGION: return "BUDDY_E_BAD_REGION";
    case BUDDY_E_BAD_META: return "BUDDY_E_BAD_META";
    case BUDDY_E_CORRUPTED: return "BUDDY_E_CORRUPTED";
    default: return "BUDDY_E_UNKNOWN";
  }
}

/* log2 of a valid minimum block, or 0 when invalid (0 means 16). */
static unsigned min_shift_of(size_t min_block) {
  if (min_block == 0) min_block = 16;
  if (min_block < 16 || (min_block & (min_block - 1)) != 0) return 0;
  return floor_log2_64((uint64_t)min_block);
}

size_t buddy_meta_size(size_t region_size, size_t min_block) {
  unsigned L = min_shift_of(min_block);
  if (L == 0) return 0;
  size_t usable = region_size & ~(((size_t)1 << L) - 1);
  if (usable == 0) return 0;
  size_t granules = usable >> L;
  unsigned top = floor_log2_64((uint64_t)granules);
  /* Group j spans at most ((granules - 1) >> (6j + 6)) + 2 words, whatever
   * the base: a word partly outside the region is kept whole. (Shifts are
   * of granule numbers, so they stay below the width of the type.) */
  size_t split_words = 0;
  for (unsigned j = 0; 6 * j < top; j++) split_words += ((granules - 1) >> (6 * j + 6)) + 2;
  size_t pages = ((usable - 1) >> zero_shift_for(L)) + 2;
  /* zero bits, the dirty journal (one entry per word of them) and its summary */
  size_t zw = words_for(pages);
  return HEADER_BYTES + 8 * (split_words + words_for(granules) + 2 * zw + words_for(zw));
}

/* Puts the roots on the free lists: the whole region is free. */
static int push_roots(buddy_t* b) {
  for (uintptr_t a = b->base; a < b->end;) {
    unsigned k = root_order_at(b, a);
    int r = list_push(b, k, a);
    if (r != BUDDY_OK) return r;
    a += block_size(b, k);
  }
  return BUDDY_OK;
}

/* Empties the free lists and the cache, and their counts. */
static void clear_lists(buddy_t* b) {
  memset(b->head, 0, sizeof b->head);
  memset(b->tail, 0, sizeof b->tail);
  memset(b->count, 0, sizeof b->count);
  memset(b->cache_count, 0, sizeof b->cache_count);
  memset(b->cache, 0, sizeof b->cache);
  b->nonempty = 0;
  b->list_bytes = b->cached_bytes = b->alloc_leaves = 0;
}

/* Empties lists, cache and the split/alloc bitmaps (the zero bitmap stays:
 * pages it calls zero are free and untouched). */
static void clear_tree(buddy_t* b) {
  memset(b->split_bits, 0, 8 * words_for(b->split_nbits));
  memset(b->alloc_bits, 0, 8 * words_for(b->granules));
  b->touched_hi = b->base;
  clear_lists(b);
}

int buddy_init(buddy_t** out, void* meta, size_t meta_size, void* base, size_t region_size,
               const buddy_config* cfg) {
  if (out == NULL) return BUDDY_E_INVALID;
  *out = NULL;
  buddy_config c = {0, 0, 0, 0};
  if (cfg != NULL) c = *cfg;
  unsigned L = min_shift_of(c.min_block);
  if (L == 0 || L >= 8 * sizeof(size_t) - 1) return BUDDY_E_INVALID;
  if (c.flags &
      ~(unsigned)(BUDDY_LOCKED | BUDDY_TRACK_ZERO | BUDDY_REGION_ZEROED | BUDDY_NO_CACHE | BUDDY_META_ZEROED))
    return BUDDY_E_INVALID;
  if (c.flags & BUDDY_REGION_ZEROED) c.flags |= BUDDY_TRACK_ZERO;
  if (c.cache_orders > BUDDY_CACHE_ORDERS_MAX || c.cache_limit > BUDDY_CACHE_LIMIT_MAX)
    return BUDDY_E_INVALID;

  uintptr_t lo = (uintptr_t)base;
  size_t min = (size_t)1 << L;
  size_t usable = region_size & ~(min - 1);
  if (base == NULL || (lo & (min - 1)) != 0 || usable == 0 || usable > UINTPTR_MAX - lo)
    return BUDDY_E_BAD_REGION;
  uintptr_t hi = lo + usable;

  /* Exact layout for this base (never more than buddy_meta_size says). */
  unsigned top = floor_log2_64((uint64_t)(usable >> L));
  size_t split_word0[SPLIT_GROUPS] = {0};
  size_t split_words = 0;
  uintptr_t g_lo = lo >> L, g_last = (hi - 1) >> L; /* granule numbers */
  for (unsigned j = 0; 6 * j < top; j++) {
    split_word0[j] = split_words;
    split_words += (size_t)((g_last >> (6 * j + 6)) - (g_lo >> (6 * j + 6)) + 1);
  }
  size_t split_nbits = 64 * split_words;
  size_t granules = usable >> L;
  unsigned zs = zero_shift_for(L);
  size_t pages = (size_t)(((hi - 1) >> zs) - (lo >> zs) + 1);
  size_t zw = words_for(pages);
  size_t need = HEADER_BYTES +
                8 * (words_for(split_nbits) + words_for(granules) + 2 * zw + words_for(zw));
  uintptr_t m = (uintptr_t)meta;
  /* The documented contract is buddy_meta_size (independent of the base);
   * the layout for this base uses `need` <= that of it. */
  if (meta == NULL || (m & 15) != 0 || meta_size < buddy_meta_size(region_size, min) ||
      need > UINTPTR_MAX - m)
    return BUDDY_E_BAD_META;
  if (m < hi && lo < m + need) return BUDDY_E_BAD_META; /* user writes could reach it */

  if (!(c.flags & BUDDY_META_ZEROED)) memset(meta, 0, need);
  c.flags &= ~BUDDY_META_ZEROED; /* a fact about this call, not a mode of the instance */
  buddy_t* b = (buddy_t*)meta;
  b->base = lo;
  b->end = hi;
  b->min_shift = L;
  b->top_order = top;
  b->flags = c.flags;
  if (c.flags & BUDDY_NO_CACHE) {
    b->cache_orders = 0;
    b->cache_limit = 0;
  } else {
    /* default: every order whose blocks are at most 2^BUDDY_CACHE_DEFAULT_MAX_SHIFT bytes */
    unsigned def = L < BUDDY_CACHE_DEFAULT_MAX_SHIFT ? BUDDY_CACHE_DEFAULT_MAX_SHIFT - L + 1 : 1;
    if (def > BUDDY_CACHE_ORDERS_MAX) def = BUDDY_CACHE_ORDERS_MAX;
    b->cache_orders = c.cache_orders ? c.cache_orders : def;
    b->cache_limit = c.cache_limit ? c.cache_limit : BUDDY_CACHE_LIMIT_DEFAULT;
    if (b->cache_orders > top + 1) b->cache_orders = top + 1;
  }
  b->check_message = "";
  b->meta_bytes = need;
  /* The dirty journal and its summary first, then the three bitmaps (the
   * zero bits last). */
  uint64_t* words = (uint64_t*)((char*)meta + HEADER_BYTES);
  b->dirty_log = words;
  b->dirty_sum = words + zw;
  words += zw + words_for(zw);
  b->split_bits = words;
  b->split_nbits = split_nbits;
  b->alloc_bits = words + words_for(split_nbits);
  b->granules = granules;
  b->zero_bits = b->alloc_bits + words_for(granules);
  b->zero_pages = pages;
  b->zero_first_page = lo >> zs;
  b->zero_shift = zs;
  b->dirty_count = 0;
  b->dirty_all = (c.flags & BUDDY_TRACK_ZERO) && !(c.flags & BUDDY_REGION_ZEROED);
  for (unsigned j = 0; 6 * j < top; j++) {
    b->split_word0[j] = split_word0[j];
    b->split_origin[j] = g_lo >> (6 * j + 6);
  }

  if (c.flags & BUDDY_REGION_ZEROED) mark_zero_range(b, lo, hi);
  b->touched_hi = b->base;
  b->edge_nodes = mark_edge_nodes(b);
  if (push_roots(b) != BUDDY_OK) return BUDDY_E_BAD_META; /* cannot happen on fresh state */
  b->zero_known_min = b->zero_known; /* the links just pushed may have lowered it */
  if (c.flags & BUDDY_LOCKED) init_lock(&b->lock);
  b->magic = BUDDY_MAGIC;
  *out = b;
  return BUDDY_OK;
}

void buddy_destroy(buddy_t* b) {
  if (b == NULL || b->magic != BUDDY_MAGIC) return;
  b->magic = 0;
  if (b->flags & BUDDY_LOCKED) final_lock(&b->lock);
}

int buddy_reset(buddy_t* b) {
  int r = enter(b);
  if (r != BUDDY_OK) return r;
  clear_tree(b);
  mark_edge_nodes(b);
  /* Known-zero pages are free and untouched, so their bits stay; the links
   * pushed now dirty the pages they land on (list_push). */
  return leave(b, push_roots(b));
}

/* Sorts the journal's words ascending (heapsort: no libc, no recursion). */
static void sift_down(uint64_t* v, size_t r, size_t m) {
  for (;;) {
    size_t c = 2 * r + 1;
    if (c >= m) return;
    if (c + 1 < m && v[c + 1] > v[c]) c++;
    if (v[r] >= v[c]) return;
    uint64_t t = v[r];
    v[r] = v[c];
    v[c] = t;
    r = c;
  }
}
static void sort_words(uint64_t* v, size_t n) {
  for (size_t i = n / 2; i-- > 0;) sift_down(v, i, n);
  for (size_t m = n; m > 1; m--) {
    uint64_t t = v[0];
    v[0] = v[m - 1];
    v[m - 1] = t;
    sift_down(v, 0, m - 1);
  }
}

/* The pages of zero word x that lie wholly inside the region. */
static uint64_t inside_mask(const buddy_t* b, size_t x) {
  uint64_t m = ~(uint64_t)0;
  size_t first = 64 * x;
  if (x == words_for(b->zero_pages) - 1 && b->zero_pages % 64) m >>= 64 - b->zero_pages % 64;
  if (!page_inside(b, zero_page_start(b, first))) m &= ~(uint64_t)1;
  size_t last = first + 63 < b->zero_pages ? first + 63 : b->zero_pages - 1;
  if (!page_inside(b, zero_page_start(b, last))) m &= ~((uint64_t)1 << (last - first));
  return m;
}

/* Keeps or releases the dirty pages of zero word x (lowest first, while
 * *keep pages of budget last); 1 when some stay dirty. */
static int settle_word(buddy_t* b, size_t x, size_t* keep, int (*release)(void*, size_t, void*),
                       void* arg, buddy_reset_work* w) {
  uint64_t dirty = ~b->zero_bits[x] & inside_mask(b, x);
  int left = 0;
  while (dirty) {
    unsigned s = ctz64(dirty);
    uint64_t from = dirty >> s;
    unsigned len = ~from == 0 ? 64 - s : ctz64(~from);
    uint64_t run = (len == 64 ? ~(uint64_t)0 : (((uint64_t)1 << len) - 1)) << s;
    dirty &= ~run;
    unsigned hold = (size_t)len < *keep ? len : (unsigned)*keep;
    *keep -= hold;
    if (hold) left = 1;
    if (hold == len) continue;
    size_t i0 = 64 * x + s + hold;
    size_t bytes = (size_t)(len - hold) << b->zero_shift;
    if (release && release((void*)zero_page_start(b, i0), bytes, arg) == 0) {
      for (size_t i = i0; i < 64 * x + s + len; i++) zero_mark(b, i);
      w->released_bytes += bytes;
    } else {
      left = 1;
    }
  }
  return left;
}

int buddy_restart(buddy_t* b, size_t keep_bytes, int (*release)(void* ptr, size_t length, void* arg),
                  void* arg, buddy_reset_work* work) {
  buddy_reset_work w = {0, 0};
  if (work) *work = w;
  int r = enter(b);
  if (r != BUDDY_OK) return r;
  /* I1, I2, I8: every split and alloc bit besides the edge nodes' belongs
   * to a node starting at or below touched_hi; clear the words holding them
   * (per group of split orders, the words covering granules up to it), then
   * mark the edge nodes again. */
  size_t g_hi = granule_of(b, b->touched_hi);
  size_t aw = g_hi / 64 + 1;
  memset(b->alloc_bits, 0, 8 * aw);
  w.meta_words += aw;
  uintptr_t g_lo = b->base >> b->min_shift, g_top = b->touched_hi >> b->min_shift;
  for (unsigned j = 0; 6 * j < b->top_order; j++) {
    size_t w0 = split_word(b, j, g_lo), w1 = split_word(b, j, g_top);
    memset(b->split_bits + w0, 0, 8 * (w1 - w0 + 1));
    w.meta_words += w1 - w0 + 1;
  }
  b->touched_hi = b->base;
  mark_edge_nodes(b);
  clear_lists(b);
  /* I7: the pages written since the last restart, lowest first; the lowest
   * keep_bytes worth stay dirty (the next blocks come from the bottom). */
  if (tracking_zero(b)) {
    size_t keep = keep_bytes >> b->zero_shift, zw = words_for(b->zero_pages), kept = 0;
    if (b->dirty_all) {
      memset(b->dirty_sum, 0, 8 * words_for(zw));
      b->dirty_count = 0;
      for (size_t x = 0; x < zw; x++) {
        w.meta_words++;
        if (settle_word(b, x, &keep, release, arg, &w)) {
          b->dirty_sum[x >> 6] |= (uint64_t)1 << (x & 63);
          b->dirty_log[b->dirty_count++] = x;
        }
      }
      b->dirty_all = 0;
    } else {
      sort_words(b->dirty_log, b->dirty_count);
      for (size_t j = 0; j < b->dirty_count; j++) {
        size_t x = (size_t)b->dirty_log[j];
        w.meta_words++;
        if (settle_word(b, x, &keep, release, arg, &w))
          b->dirty_log[kept++] = x;
        else
          b->dirty_sum[x >> 6] &= ~((uint64_t)1 << (x & 63));
      }
      b->dirty_count = kept;
    }
  }
  r = push_roots(b);
  b->zero_known_min = b->zero_known;
  b->peak_used_bytes = 0;
  b->zero_filled_bytes = 0;
  if (work) *work = w;
  return leave(b, r);
}

/* ---- allocation ---------------------------------------------------------------------- */

/* After every allocation: the high-water mark of used bytes. */
HOT void note_peak(buddy_t* b) {
  size_t used = (size_t)(b->end - b->base) - b->list_bytes - b->cached_bytes;
  if (used > b->peak_used_bytes) b->peak_used_bytes = used;
}

HOT void* malloc_order(buddy_t* b, unsigned k, size_t zero_len) {
  uintptr_t a = alloc_order(b, k);
  if (UNLIKELY(a == NIL)) return NULL;
  claim(b, a, block_size(b, k), zero_len);
  note_peak(b);
  return (void*)a;
}

void* buddy_malloc(buddy_t* b, size_t n) {
  if (enter(b) != BUDDY_OK) return NULL;
  unsigned k;
  void* p = order_for(b, n, &k) ? malloc_order(b, k, 0) : NULL;
  leave(b, 0);
  return p;
}

/* The longest run buddy_malloc_run carves from one block: 2^6 blocks. */
#define RUN_MAX_SHIFT 6

size_t buddy_malloc_run(buddy_t* b, size_t n, size_t count, void** out) {
  if (out == NULL || enter(b) != BUDDY_OK) return 0;
  unsigned k;
  size_t got = 0;
  if (order_for(b, n, &k)) {
    while (got < count) {
      unsigned j = floor_log2_64((uint64_t)(count - got));
      if (j > RUN_MAX_SHIFT) j = RUN_MAX_SHIFT;
      if (j > b->top_order - k) j = b->top_order - k;
      /* the longest run one free block holds now */
      uintptr_t a = alloc_split(b, k + j);
      while (a == NIL && j > 0 && !b->corrupted) a = alloc_split(b, k + --j);
      if (a == NIL) break;
      uintptr_t end = a + block_size(b, k + j);
      if (j > 0) {
        /* (k + j, a) becomes a split node (I1) whose 2^j leaves of order k
         * are live (I2): no split node below it has a free child (I4). */
        alloc_clear(b, a);
        for (unsigned l = k + j; l > k; l--)
          for (uintptr_t x = a; x < end; x += block_size(b, l)) split_set(b, l, x);
        for (uintptr_t x = a; x < end; x += block_size(b, k)) alloc_set(b, x);
      }
      claim(b, a, (size_t)(end - a), 0);
      for (uintptr_t x = a; x < end; x += block_size(b, k)) out[got++] = (void*)x;
    }
    note_peak(b);
  }
  leave(b, 0);
  return got;
}

void* buddy_calloc(buddy_t* b, size_t n, size_t size) {
  if (n != 0 && size > SIZE_MAX / n) return NULL;
  if (enter(b) != BUDDY_OK) return NULL;
  unsigned k;
  void* p = order_for(b, n * size, &k) ? malloc_order(b, k, n * size) : NULL;
  leave(b, 0);
  return p;
}

void* buddy_aligned_alloc(buddy_t* b, size_t alignment, size_t n) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return NULL;
  if (enter(b) != BUDDY_OK) return NULL;
  unsigned k;
  void* p = order_for(b, n > alignment ? n : alignment, &k) ? malloc_order(b, k, 0) : NULL;
  leave(b, 0);
  return p;
}

int buddy_free(buddy_t* b, void* ptr) {
  int r = enter(b);
  if (r != BUDDY_OK) return r;
  if (ptr == NULL) return leave(b, BUDDY_OK);
  uintptr_t a;
  unsigned k;
  r = classify(b, (uintptr_t)ptr, &a, &k);
  if (r == BUDDY_OK) r = free_block(b, a, k);
  return leave(b, r);
}

/* The live block (k, a) can grow to order k2 in place: at every level it is
 * the left half and the right half is a free block. */
static int can_grow_in_place(const buddy_t* b, uintptr_t a, unsigned k, unsigned k2) {
  for (unsigned i = k; i < k2; i++) {
    if (!parent_inside(b, i, a) || (a & (uintptr_t)block_size(b, i)) != 0) return 0;
    if (!node_is_free(b, i, a + block_size(b, i))) return 0;
  }
  return 1;
}

int buddy_realloc(buddy_t* b, void* ptr, size_t n, void** out) {
  if (out == NULL) return BUDDY_E_INVALID;
  *out = NULL;
  int r = enter(b);
  if (r != BUDDY_OK) return r;
  unsigned k2;
  if (ptr == NULL) {
    *out = order_for(b, n, &k2) ? malloc_order(b, k2, 0) : NULL;
    return leave(b, *out ? BUDDY_OK : (b->corrupted ? BUDDY_E_CORRUPTED : BUDDY_E_NOMEM));
  }
  uintptr_t a;
  unsigned k;
  r = classify(b, (uintptr_t)ptr, &a, &k);
  if (r != BUDDY_OK) return leave(b, r);
  if (!order_for(b, n, &k2)) return leave(b, BUDDY_E_NOMEM);
  if (k2 < k) { /* shrink: keep the left part, give back each right half */
    for (unsigned i = k; i > k2; i--) {
      split_set(b, i, a);
      r = list_push(b, i - 1, a + block_size(b, i - 1));
      if (r != BUDDY_OK) return leave(b, r);
    }
  } else if (k2 > k) {
    if (can_grow_in_place(b, a, k, k2)) {
      for (unsigned i = k; i < k2; i++) {
        r = list_unlink(b, i, a + block_size(b, i));
        if (r != BUDDY_OK) return leave(b, r);
        split_clear(b, i + 1, a);
      }
      claim(b, a + block_size(b, k), block_size(b, k2) - block_size(b, k), 0);
      note_peak(b);
    } else {
      uintptr_t moved = alloc_order(b, k2);
      if (moved == NIL) return leave(b, b->corrupted ? BUDDY_E_CORRUPTED : BUDDY_E_NOMEM);
      claim(b, moved, block_size(b, k2), 0);
      note_peak(b);
      memcpy((void*)moved, (const void*)a, block_size(b, k));
      r = free_block(b, a, k);
      if (r != BUDDY_OK) return leave(b, r);
      a = moved;
    }
  }
  *out = (void*)a;
  return leave(b, BUDDY_OK);
}

size_t buddy_usable_size(buddy_t* b, const void* ptr) {
  if (ptr == NULL || enter(b) != BUDDY_OK) return 0;
  uintptr_t a;
  unsigned k;
  size_t s = classify(b, (uintptr_t)ptr, &a, &k) == BUDDY_OK ? block_size(b, k) : 0;
  leave(b, 0);
  return s;
}

int buddy_validate(buddy_t* b, const void* ptr) {
  int r = enter(b);
  if (r != BUDDY_OK) return r;
  uintptr_t a;
  unsigned k;
  r = ptr == NULL ? BUDDY_E_FOREIGN : classify(b, (uintptr_t)ptr, &a, &k);
  return leave(b, r);
}

/* ---- page provider -------------------------------------------------------------------- */

/* Turns the free block (j, a), already unlinked, into live memory of exactly
 * len bytes at a (len a multiple of the minimum block, 0 < len <= size(j)):
 * the live part becomes the aligned blocks of len's binary decomposition and
 * the rest goes back to the lists. One step per level. */
static int carve(buddy_t* b, uintptr_t a, unsigned j, size_t len) {
  for (;;) {
    if (len == block_size(b, j)) {
      alloc_set(b, a);
      return BUDDY_OK;
    }
    split_set(b, j, a);
    j--;
    size_t h = block_size(b, j);
    if (len > h) { /* the left half is live, continue in the right half */
      alloc_set(b, a);
      a += h;
      len -= h;
      continue;
    }
    int r = list_push(b, j, a + h); /* the right half is free, continue left */
    if (r != BUDDY_OK) return r;
    if (len == h) {
      alloc_set(b, a);
      return BUDDY_OK;
    }
  }
}

void* buddy_pages_alloc(buddy_t* b, size_t length, unsigned flags) {
  if ((flags & ~BUDDY_PAGES_ZEROED) != 0 || length == 0) return NULL;
  if (enter(b) != BUDDY_OK) return NULL;
  size_t min = block_size(b, 0);
  void* p = NULL;
  unsigned k, j;
  uintptr_t a;
  if (length <= SIZE_MAX - (min - 1)) {
    size_t len = (length + min - 1) & ~(min - 1);
    if (order_for(b, len, &k) && take_free_block(b, k, &a, &j) == BUDDY_OK &&
        carve(b, a, j, len) == BUDDY_OK) {
      claim(b, a, len, (flags & BUDDY_PAGES_ZEROED) ? len : 0);
      note_peak(b);
      p = (void*)a;
    }
  }
  leave(b, 0);
  return p;
}

/* The live leaf (k, a) overlaps [lo, hi) but is not inside it: split it so
 * that the parts outside stay live as aligned blocks and the parts inside go
 * to the lists. A freed part's buddy is a part that stays split or live, so
 * nothing can merge yet. */
static int punch_partial(buddy_t* b, uintptr_t a, unsigned k, uintptr_t lo, uintptr_t hi) {
  struct { uintptr_t a; unsigned k; } stack[2 * BUDDY_MAX_ORDERS + 2];
  unsigned n = 0;
  alloc_clear(b, a);
  stack[n].a = a;
  stack[n++].k = k;
  while (n > 0) {
    n--;
    uintptr_t y = stack[n].a;
    unsigned i = stack[n].k;
    size_t s = block_size(b, i);
    if (y >= lo && y + s <= hi) { /* inside the range (y + s <= end: no wrap) */
      int r = list_push(b, i, y);
      if (r != BUDDY_OK) return r;
    } else if (y + s <= lo || y >= hi) { /* outside: stays live */
      alloc_set(b, y);
    } else { /* straddles a boundary; i >= 1 since lo and hi are granule-aligned */
      split_set(b, i, y);
      stack[n].a = y + s / 2;
      stack[n++].k = i - 1;
      stack[n].a = y;
      stack[n++].k = i - 1;
    }
  }
  return BUDDY_OK;
}

/* [lo, lo + length) is a nonempty, aligned range of live memory (not cached). */
static int check_live_range(const buddy_t* b, uintptr_t lo, size_t length) {
  size_t min = block_size(b, 0);
  if ((lo & (min - 1)) != 0 || (length & (min - 1)) != 0) return BUDDY_E_INVALID;
  if (lo < b->base || lo >= b->end || length > b->end - lo) return BUDDY_E_FOREIGN;
  for (uintptr_t p = lo, hi = lo + length; p < hi;) {
    uintptr_t a;
    unsigned k;
    find_leaf(b, p, &a, &k);
    if (!alloc_get(b, a) || cache_holds(b, k, a)) return BUDDY_E_NOT_ALLOCATED;
    p = a + block_size(b, k);
  }
  return BUDDY_OK;
}

int buddy_pages_validate(buddy_t* b, const void* ptr, size_t length) {
  int r = enter(b);
  if (r != BUDDY_OK) return r;
  return leave(b, length == 0 ? BUDDY_OK : check_live_range(b, (uintptr_t)ptr, length));
}

int buddy_pages_free(buddy_t* b, void* ptr, size_t length, unsigned flags) {
  if ((flags & ~BUDDY_PAGES_CLEAN) != 0) return BUDDY_E_INVALID;
  int r = enter(b);
  if (r != BUDDY_OK) return r;
  if (length == 0) return leave(b, BUDDY_OK);
  uintptr_t lo = (uintptr_t)ptr, hi = lo + length;
  /* First pass: every block in the range is live; nothing changes on error. */
  r = check_live_range(b, lo, length);
  if (r != BUDDY_OK) return leave(b, r);
  /* Before any link is written, so pages that receive links are dirtied. */
  if ((flags & BUDDY_PAGES_CLEAN) && tracking_zero(b)) mark_zero_range(b, lo, hi);
  for (uintptr_t p = lo; p < hi && r == BUDDY_OK;) {
    uintptr_t a;
    unsigned k;
    find_leaf(b, p, &a, &k);
    size_t s = block_size(b, k);
    p = a + s;
    if (a >= lo && a + s <= hi)
      r = release_block(b, a, k);
    else
      r = punch_partial(b, a, k, lo, hi);
  }
  return leave(b, r);
}

/* ---- maintenance ----------------------------------------------------------------------- */

int buddy_flush(buddy_t* b) {
  int r = enter(b);
  if (r != BUDDY_OK) return r;
  return leave(b, flush_cache(b));
}

int buddy_trim(buddy_t* b, int (*release)(void* ptr, size_t length, void* arg), void* arg,
               size_t* released) {
  if (released) *released = 0;
  if (release == NULL) return BUDDY_E_INVALID;
  int r = enter(b);
  if (r != BUDDY_OK) return r;
  r = flush_cache(b);
  size_t total = 0;
  for (unsigned k = 0; k <= b->top_order && r == BUDDY_OK; k++) {
    size_t s = block_size(b, k);
    if (s < 2 * zero_page_size(b)) continue; /* no page beyond the links' page */
    size_t seen = 0;
    uintptr_t prev = NIL;
    for (uintptr_t a = b->head[k]; a != NIL; prev = a, a = link_next(a)) {
      if (++seen > b->count[k] || !is_free_leaf(b, k, a) || link_prev(a) != prev) {
        r = corrupt(b, "free list broken (found by trim)");
        break;
      }
      /* Blocks this large are page-aligned; skip the page holding the links
       * and offer maximal runs of pages not known zero. */
      size_t first = zero_index(b, a) + 1, last = zero_index(b, a + s - 1);
      for (size_t i = first; i <= last;) {
        if (tracking_zero(b) && bit_get(b->zero_bits, i)) {
          i++;
          continue;
        }
        size_t j = i + 1;
        while (j <= last && !(tracking_zero(b) && bit_get(b->zero_bits, j))) j++;
        uintptr_t p = zero_page_start(b, i);
        size_t len = (j - i) * zero_page_size(b);
        if (release((void*)p, len, arg) == 0) {
          total += len;
          if (tracking_zero(b))
            for (size_t x = i; x < j; x++) zero_mark(b, x);
        }
        i = j;
      }
    }
  }
  if (released) *released = total;
  return leave(b, r);
}

/* ---- the tree walk ----------------------------------------------------------------------- */

/* Calls visit(b, k, a, ctx) for every existing node in address order (each
 * node before its children), roots left to right. A nonzero return stops. */
typedef int (*node_visitor)(buddy_t* b, unsigned k, uintptr_t a, void* ctx);

static int walk_tree(buddy_t* b, node_visitor visit, void* ctx) {
  struct { uintptr_t a; unsigned k; } stack[2 * BUDDY_MAX_ORDERS + 2];
  for (uintptr_t root = b->base; root < b->end;) {
    unsigned rk = root_order_at(b, root);
    unsigned n = 0;
    stack[n].a = root;
    stack[n++].k = rk;
    while (n > 0) {
      n--;
      uintptr_t a = stack[n].a;
      unsigned k = stack[n].k;
      int stop = visit(b, k, a, ctx);
      if (stop) return stop;
      if (split_get(b, k, a)) {
        stack[n].a = a + block_size(b, k - 1);
        stack[n++].k = k - 1;
        stack[n].a = a;
        stack[n++].k = k - 1;
      }
    }
    root += block_size(b, rk);
  }
  return 0;
}

typedef struct {
  int (*visit)(void* start, size_t size, int state, void* arg);
  void* arg;
} walk_ctx;

static int visit_block(buddy_t* b, unsigned k, uintptr_t a, void* ctx) {
  walk_ctx* w = (walk_ctx*)ctx;
  if (split_get(b, k, a)) return 0;
  int state = !alloc_get(b, a)       ? BUDDY_BLOCK_FREE
              : cache_holds(b, k, a) ? BUDDY_BLOCK_CACHED
                                     : BUDDY_BLOCK_LIVE;
  return w->visit((void*)a, block_size(b, k), state, w->arg) ? 1 : 0;
}

int buddy_walk(buddy_t* b, int (*visit)(void* start, size_t size, int state, void* arg),
               void* arg) {
  if (visit == NULL) return BUDDY_E_INVALID;
  int r = enter(b);
  if (r != BUDDY_OK) return r;
  walk_ctx w = {visit, arg};
  walk_tree(b, visit_block, &w);
  return leave(b, BUDDY_OK);
}

/* ---- statistics ---------------------------------------------------------------------------- */

/* The largest root (buddy.h): the largest block an empty instance has. */
static size_t largest_root(const buddy_t* b) {
  size_t best = 0;
  for (uintptr_t a = b->base; a < b->end;) {
    size_t s = block_size(b, root_order_at(b, a));
    if (s > best) best = s;
    a += s;
  }
  return best;
}

int buddy_stats(buddy_t* b, buddy_stats_t* out) {
  if (out == NULL) return BUDDY_E_INVALID;
  int r = enter_any(b);
  if (r != BUDDY_OK) return r;
  memset(out, 0, sizeof *out);
  out->region_bytes = (size_t)(b->end - b->base);
  out->min_block = block_size(b, 0);
  out->orders = b->top_order + 1;
  out->meta_bytes = b->meta_bytes;
  out->cached_bytes = b->cached_bytes;
  out->free_bytes = b->list_bytes + b->cached_bytes;
  out->used_bytes = out->region_bytes - out->free_bytes;
  out->zero_filled_bytes = b->zero_filled_bytes;
  out->peak_used_bytes = b->peak_used_bytes;
  /* zero_known is 0 without BUDDY_TRACK_ZERO: committed is then the region. */
  out->zero_known_bytes = b->zero_known * zero_page_size(b);
  out->committed_bytes = out->region_bytes - out->zero_known_bytes;
  out->peak_committed_bytes = out->region_bytes - b->zero_known_min * zero_page_size(b);
  size_t cached_blocks = 0;
  for (unsigned k = 0; k <= b->top_order; k++) {
    size_t c = k < b->cache_orders ? b->cache_count[k] : 0;
    out->free_blocks[k] = b->count[k];
    out->cached_blocks[k] = c;
    cached_blocks += c;
    if (b->count[k] + c > 0) out->largest_free = block_size(b, k);
  }
  out->live_blocks = b->alloc_leaves - cached_blocks;
  /* The largest free block an ideally packed instance with the same free
   * bytes would have: a power of two no larger than the largest root nor the
   * free bytes (one with every live block packed from the start of the other
   * roots and then of that root has exactly that), so it bounds largest_free
   * from above. */
  if (out->free_bytes != 0) {
    size_t cap = largest_root(b) < out->free_bytes ? largest_root(b) : out->free_bytes;
    size_t ideal = (size_t)1 << floor_log2_64((uint64_t)cap);
    out->fragmentation = 1.0 - (double)out->largest_free / (double)ideal;
    if (out->fragmentation < 0.0) out->fragmentation = 0.0; /* only a damaged instance */
  }
  return leave(b, BUDDY_OK);
}

/* Bits first .. last (inclusive) of w are all clear. */
static int no_bit_in(const uint64_t* w, size_t first, size_t last) {
  for (size_t i = first; i <= last;) {
    size_t wi = i >> 6;
    unsigned lo = (unsigned)(i & 63);
    unsigned hi = (last >> 6) == wi ? (unsigned)(last & 63) : 63u;
    uint64_t mask = (~(uint64_t)0 << lo) & (~(uint64_t)0 >> (63u - hi));
    if (w[wi] & mask) return 0;
    i = (wi + 1) << 6;
  }
  return 1;
}

int buddy_largest_free_committed(buddy_t* b, size_t* out) {
  if (out == NULL) return BUDDY_E_INVALID;
  *out = 0;
  int r = enter(b);
  if (r != BUDDY_OK) return r;
  size_t best = 0;
  /* Cached blocks were live, so none of their pages is known zero (I6). */
  for (unsigned k = b->cache_orders; k-- > 0;) {
    if (b->cache_count[k] > 0) {
      best = block_size(b, k);
      break;
    }
  }
  size_t page = zero_page_size(b);
  for (unsigned k = b->top_order + 1; k-- > 0 && block_size(b, k) > best && r == BUDDY_OK;) {
    size_t s = block_size(b, k);
    /* A block of at most one page holds its links in that page: never known zero. */
    if (b->count[k] > 0 && (!tracking_zero(b) || s <= page)) {
      best = s;
      break;
    }
    size_t seen = 0;
    uintptr_t prev = NIL;
    for (uintptr_t a = b->head[k]; a != NIL; prev = a, a = link_next(a)) {
      if (++seen > b->count[k] || !is_free_leaf(b, k, a) || link_prev(a) != prev) {
        r = corrupt(b, "free list broken (found by buddy_largest_free_committed)");
        break;
      }
      /* Blocks this large are page-aligned: the pages after the links' page. */
      if (no_bit_in(b->zero_bits, zero_index(b, a) + 1, zero_index(b, a + s - 1))) {
        best = s;
        break;
      }
    }
    if (best == s) break;
  }
  if (r == BUDDY_OK) *out = best;
  return leave(b, r);
}

/* ---- check ----------------------------------------------------------------------------------- */

typedef struct {
  size_t internal;   /* split nodes seen */
  size_t live;       /* blocks with the alloc bit */
  size_t free_count[BUDDY_MAX_ORDERS];
  const char* error;
} check_ctx;

static int bits_clear_in(const uint64_t* w, size_t first, size_t last) {
  for (size_t i = first; i <= last; i++)
    if (bit_get(w, i)) return 0;
  return 1;
}

static int check_node(buddy_t* b, unsigned k, uintptr_t a, void* ctx) {
  check_ctx* c = (check_ctx*)ctx;
  size_t s = block_size(b, k);
  if ((a & (uintptr_t)(s - 1)) != 0 || a < b->base || b->end - a < s) {
    c->error = "I1: a node is misaligned or outside the region";
    return 1;
  }
  if (a > b->touched_hi && (split_get(b, k, a) || alloc_get(b, a))) {
    c->error = "I8: a split or allocated node starts above touched_hi";
    return 1;
  }
  if (split_get(b, k, a)) {
    c->internal++;
    if (node_is_free(b, k - 1, a) && node_is_free(b, k - 1, a + s / 2)) {
      c->error = "I4: two free buddies are not merged";
      return 1;
    }
    return 0;
  }
  if (alloc_get(b, a)) {
    c->live++;
    if (tracking_zero(b) && !bits_clear_in(b->zero_bits, zero_index(b, a), zero_index(b, a + s - 1))) {
      c->error = "I6: a page of a live or cached block is marked zero";
      return 1;
    }
  } else {
    c->free_count[k]++;
    if (tracking_zero(b) && bit_get(b->zero_bits, zero_index(b, a))) {
      c->error = "I6: the page holding a free block's links is marked zero";
      return 1;
    }
  }
  return 0;
}

static const char* check_lists(buddy_t* b) {
  size_t bytes = 0;
  for (unsigned k = 0; k < BUDDY_MAX_ORDERS; k++) {
    if (k > b->top_order) {
      if (b->count[k] || b->head[k] || b->tail[k] || (b->nonempty >> k) & 1)
        return "I3: a free list above the top order is not empty";
      continue;
    }
    size_t n = 0;
    uintptr_t prev = NIL;
    for (uintptr_t a = b->head[k]; a != NIL; prev = a, a = link_next(a)) {
      if (++n > b->count[k]) return "I3: a free list is longer than its count (or cyclic)";
      if (!is_free_leaf(b, k, a)) return "I3: a free-list entry is not a free block of its order";
      if (link_prev(a) != prev) return "I3: a free-list prev link does not point back";
    }
    if (n != b->count[k]) return "I3: a free list is shorter than its count";
    if (b->tail[k] != prev) return "I3: a free list's tail is not its last entry";
    if (((b->nonempty >> k) & 1) != (n > 0)) return "I3: the non-empty mask disagrees";
    bytes += n * block_size(b, k);
  }
  if (bytes != b->list_bytes) return "I3: list_bytes disagrees with the lists";
  return NULL;
}

static const char* check_cache(buddy_t* b) {
  size_t bytes = 0;
  for (unsigned k = 0; k < BUDDY_CACHE_ORDERS_MAX; k++) {
    unsigned n = b->cache_count[k];
    if (k >= b->cache_orders) {
      if (n) return "I5: a cache above the cached orders holds blocks";
      continue;
    }
    if (n > b->cache_limit) return "I5: a cache holds more than its limit";
    size_t s = block_size(b, k);
    for (unsigned i = 0; i < n; i++) {
      uintptr_t a = b->cache[k][i];
      if (a < b->base || a >= b->end || (a & (uintptr_t)(s - 1)) != 0 || b->end - a < s)
        return "I5: a cached block is misaligned or outside the region";
      uintptr_t leaf;
      unsigned lk;
      find_leaf(b, a, &leaf, &lk);
      if (leaf != a || lk != k || !alloc_get(b, a))
        return "I5: a cached entry is not a block of its order marked allocated";
      for (unsigned j = 0; j < i; j++)
        if (b->cache[k][j] == a) return "I5: a block is cached twice";
    }
    bytes += n * s;
  }
  if (bytes != b->cached_bytes) return "I5: cached_bytes disagrees with the cache";
  return NULL;
}

static const char* check_all(buddy_t* b) {
  if (b->base == 0 || b->end <= b->base || b->min_shift < 4 ||
      block_size(b, b->top_order) > b->end - b->base || b->cache_orders > BUDDY_CACHE_ORDERS_MAX ||
      b->cache_limit > BUDDY_CACHE_LIMIT_MAX)
    return "header fields are inconsistent";
  check_ctx c;
  memset(&c, 0, sizeof c);
  if (walk_tree(b, check_node, &c)) return c.error;
  if (popcount_bits(b->split_bits, b->split_nbits) != c.internal + b->edge_nodes)
    return "I1: a split bit is set outside the tree's internal nodes and edge nodes";
  for (unsigned k = 1; k <= b->top_order; k++) {
    uintptr_t first, last;
    edge_candidates(b, k, &first, &last);
    if ((node_straddles(b, k, first) && !split_get(b, k, first)) ||
        (node_straddles(b, k, last) && !split_get(b, k, last)))
      return "I1: an edge node is not marked split";
  }
  if (popcount_bits(b->alloc_bits, b->granules) != c.live || c.live != b->alloc_leaves)
    return "I2: alloc bits are set away from block starts, or alloc_leaves is wrong";
  for (unsigned k = 0; k <= b->top_order; k++)
    if (c.free_count[k] != b->count[k]) return "I3: free blocks and free-list counts differ";
  const char* e = check_lists(b);
  if (e) return e;
  e = check_cache(b);
  if (e) return e;
  if (tracking_zero(b)) {
    uintptr_t first = zero_page_start(b, 0);
    uintptr_t last = zero_page_start(b, b->zero_pages - 1);
    if ((!page_inside(b, first) && bit_get(b->zero_bits, 0)) ||
        (!page_inside(b, last) && bit_get(b->zero_bits, b->zero_pages - 1)))
      return "I6: a page not wholly inside the region is marked zero";
  } else if (popcount_bits(b->zero_bits, b->zero_pages) != 0) {
    return "I6: zero bits set without BUDDY_TRACK_ZERO";
  }
  /* padding bits past the last page */
  size_t zw = words_for(b->zero_pages);
  if (b->zero_pages % 64 && (b->zero_bits[zw - 1] >> (b->zero_pages % 64)) != 0)
    return "I6: a padding bit of the zero bitmap is set";
  if (popcount_bits(b->zero_bits, b->zero_pages) != b->zero_known)
    return "I6: zero_known disagrees with the zero bitmap";
  if (b->zero_known_min > b->zero_known)
    return "I6: zero_known_min is above zero_known";
  if (tracking_zero(b)) {
    size_t nsum = words_for(zw);
    if (b->dirty_count > zw || popcount_bits(b->dirty_sum, 64 * nsum) != b->dirty_count)
      return "I7: the dirty journal's count disagrees with its summary";
    /* each entry's bit is taken off as it is visited, so a repeated entry
     * finds it gone; the bits are put back after */
    size_t j = 0;
    for (; j < b->dirty_count; j++) {
      uint64_t x = b->dirty_log[j];
      if (x >= zw || !bit_get(b->dirty_sum, (size_t)x)) break;
      bit_clear(b->dirty_sum, (size_t)x);
    }
    for (size_t i = 0; i < j; i++) bit_set(b->dirty_sum, (size_t)b->dirty_log[i]);
    if (j < b->dirty_count) return "I7: a dirty journal entry is repeated or not in the summary";
    if (!b->dirty_all)
      for (size_t x = 0; x < zw; x++)
        if ((~b->zero_bits[x] & inside_mask(b, x)) && !bit_get(b->dirty_sum, x))
          return "I7: a dirty page's word is not in the dirty journal";
  }
  return NULL;
}

int buddy_check(buddy_t* b) {
  int r = enter_any(b);
  if (r != BUDDY_OK) return r;
  const char* e = check_all(b);
  if (e) return leave(b, corrupt(b, e));
  if (b->corrupted) return leave(b, BUDDY_E_CORRUPTED);
  return leave(b, BUDDY_OK);
}

const char* buddy_check_message(buddy_t* b) {
  if (b == NULL || b->magic != BUDDY_MAGIC) return "not a live buddy instance";
  return b->check_message;
}
