/*
 * offheap — bit helpers of the allocators that keep bitmaps of 64-bit words
 * (csrc/buddy.c, csrc/pages.c): compiler builtins where there are some, a
 * portable loop elsewhere. Every argument marked x != 0 must be non-zero.
 */
#ifndef OFFHEAP_BITS_H
#define OFFHEAP_BITS_H

#include <stdint.h>

static inline unsigned ctz64(uint64_t x) { /* x != 0: the index of the lowest set bit */
#if defined(__GNUC__) || defined(__clang__)
  return (unsigned)__builtin_ctzll(x);
#else
  unsigned n = 0;
  while (!(x & 1)) {
    x >>= 1;
    n++;
  }
  return n;
#endif
}

static inline unsigned clz64(uint64_t x) { /* x != 0: zero bits above the highest set bit */
#if defined(__GNUC__) || defined(__clang__)
  return (unsigned)__builtin_clzll(x);
#else
  unsigned n = 0;
  while (!(x & ((uint64_t)1 << 63))) {
    x <<= 1;
    n++;
  }
  return n;
#endif
}

static inline unsigned floor_log2_64(uint64_t x) { return 63u - clz64(x); } /* x != 0 */

static inline unsigned popcount64(uint64_t x) {
#if defined(__GNUC__) || defined(__clang__)
  return (unsigned)__builtin_popcountll(x);
#else
  unsigned n = 0;
  while (x) {
    x &= x - 1;
    n++;
  }
  return n;
#endif
}

#endif
