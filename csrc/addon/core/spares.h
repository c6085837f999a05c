/*
 * offheap arena core — spare small blocks of fast arenas (spares.c).
 *
 * A fast arena's alloc(64) + free that crossed into C twice would cost about
 * twice what the whole operation may (two Node-API calls). So per size class
 * c (1..OH_SPARE_CLASSES, up to OH_SPARE_MAX_BYTES) the arena keeps a stack
 * of "spares": blocks the allocator has allocated that are free to the user.
 * The stacks live in memory JavaScript reads and writes (lib/spares.ts pops
 * a spare for alloc and pushes a freed block back, with no call into C);
 * this file fills an empty stack (refill), gives back the older half of a
 * full one (flush), and gives every spare back when the allocator needs them
 * (out of memory, stats, trim) or forgets them all (reset, destroy, damage).
 *
 * Free stays exact through the tag map: one byte per granule of the region
 * (2^tag_shift bytes: 32 where blocks start at least 32 bytes apart, as
 * dlmalloc's do; 16 for a buddy arena with 16-byte blocks), mapped outside
 * the region so that no view can scribble over it.
 *
 *   tag == 0               no block of this scheme starts in the granule
 *   tag & OH_TAG_CLASS     c: a block of class c starts in it, allocated in
 *                          the allocator (it counts as live there)
 *   tag & OH_TAG_SPARE     ... and it is a spare, on stack c: free to the user
 *   tag & OH_TAG_HIGH      ... it starts 16 bytes into a 32-byte granule
 *
 * Invariants (oh_spares_check): a non-zero tag names exactly one block the
 * allocator holds, starting where the tag says, of at least the class's
 * bytes; a block is on stack c exactly when its tag is c | SPARE | high;
 * 0 <= count[c] <= depth[c]. JavaScript sets and clears only OH_TAG_SPARE
 * (taking a spare, giving a block back) together with the stack; this file
 * sets and clears whole tags (refill, flush, a block leaving through the
 * allocator). Every offset-taking entry of the arena refuses a spare: freeing
 * it again is a double free.
 *
 * The class table (sizes, stack depths, refill batches) is defined here once;
 * the binding hands it to lib/spares.ts.
 */
#ifndef OFFHEAP_CORE_SPARES_H
#define OFFHEAP_CORE_SPARES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OH_SPARE_CLASSES 60          /* classes 1..60 */
#define OH_SPARE_MAX_BYTES 65536     /* the largest class */
#define OH_SPARE_STACK_BYTES 65536   /* a stack holds about this many bytes... */
#define OH_SPARE_DEPTH_MIN 2         /* ...and between these many blocks */
#define OH_SPARE_DEPTH_MAX 64
#define OH_SPARE_REFILL_BYTES 4096   /* the smallest refill takes about this many bytes (at
                                        least one block, at most half a stack); a class that
                                        keeps running dry takes more (oh_spares_refill) */
#define OH_DEMAND_ONE 16             /* oh_spares.demand's unit: a sixteenth of a block */
#define OH_TAG_CLASS 0x3f
#define OH_TAG_SPARE 0x40
#define OH_TAG_HIGH 0x80

/* The class maps of the table (class_of_16, below). */
enum { OH_CLASSES_EXACT = 0, OH_CLASSES_POW2 = 1, OH_CLASS_MAPS = 2 };

/* Where the stack counts and the stacks sit in the memory JavaScript sees:
 * int32 count[c] at byte 4 * c, then double stack[...] from
 * OH_SPARE_STACKS_AT; class c's stack is stack[base[c] .. base[c] + depth[c]),
 * its top at count[c] - 1. */
#define OH_SPARE_STACKS_AT 256

/* The class table: built once, the same for every arena. */
typedef struct oh_spare_table {
  uint32_t bytes[OH_SPARE_CLASSES + 1];  /* block size of class c (a multiple of 16) */
  uint32_t depth[OH_SPARE_CLASSES + 1];  /* stack capacity of class c */
  uint32_t refill[OH_SPARE_CLASSES + 1]; /* blocks the smallest refill takes */
  uint32_t base[OH_SPARE_CLASSES + 1];   /* first stack slot of class c */
  uint32_t slots;                        /* stack slots in all */
  /* class_of_16[map][(n + 15) / 16]: the class of a request of n bytes
   * (0 <= n <= OH_SPARE_MAX_BYTES) in an arena whose allocator uses that map
   * (oh_spare_class_map). The classes step by 16 bytes up to 512, then four
   * per doubling (at most 25 % rounding), and every power of two from 16 to
   * OH_SPARE_MAX_BYTES is one.
   *   OH_CLASSES_EXACT: the smallest class that holds n, for an allocator
   *     that hands out what was asked (dlmalloc).
   *   OH_CLASSES_POW2: the class of the power of two that holds n, for an
   *     allocator whose blocks are powers of two (buddy): all the requests
   *     one block size serves share one stack, so what a period took of that
   *     size is counted, and carved again at reset, once; the classes in
   *     between stay empty. */
  uint8_t class_of_16[OH_CLASS_MAPS][OH_SPARE_MAX_BYTES / 16 + 1];
} oh_spare_table;

const oh_spare_table* oh_spare_table_get(void);

/* The class map (OH_CLASSES_*) of an arena whose allocator is `kind` (oh_kind). */
unsigned oh_spare_class_map(int kind);

/* The spares of one arena (a member of oh_arena). */
typedef struct oh_spares {
  unsigned char* tags; /* the tag map, or null: the arena keeps no spares */
  size_t tags_len;
  unsigned tag_shift;
  void* block;         /* counts and stacks (the layout above) */
  size_t block_len;
  int32_t* count;      /* count[c] */
  double* stack;       /* the stacks' offsets */
  int dropped;         /* forgotten because the arena was found damaged */
  /* Every non-zero tag lies in tags[tag_lo, tag_hi) (refill, the only writer
   * of whole tags, widens it; forget clears it and empties it), so a reset
   * clears what was used, not the map. tag_lo >= tag_hi: none. */
  size_t tag_lo, tag_hi;
  /* supplied[c]: blocks refills put on stack c since the last reset, less
   * those given back to the allocator. What the period took from the stack
   * is supplied[c] - count[c] (less, when JavaScript pushed freed blocks
   * back): a reset carves that many again into the fresh allocator, within
   * the retained bytes (oh_spares_warm), so a per-request arena's next
   * request finds the stacks as the last one needed them, and takes no
   * native call for them. */
  uint32_t supplied[OH_SPARE_CLASSES + 1];
  /* demand[c], in OH_DEMAND_ONE-ths of a block: after each reset, the
   * larger of what the period took and the last demand less an eighth (at
   * least one unit), at most the stack's depth; the reset carves the demand
   * rounded up again. So requests of varying sizes keep every class they use
   * warm (a class one request in eight uses keeps its block), and a class no
   * longer used fades out (from one block in 16 resets, from a full stack in
   * about 40). Whole blocks would lose an eighth rounded up at every reset:
   * one block a reset, the same as forgetting a small class at once. */
  uint32_t demand[OH_SPARE_CLASSES + 1];
} oh_spares;

#ifdef __cplusplus
}
#endif

#endif
