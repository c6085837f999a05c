/**
 * `arena.reset()` frees everything at once in time of what was used since the last reset, and
 * leaves an arena that is fresh to every method: for both allocators and both view modes, safe
 * views are detached, `stats()` reads as a fresh arena's (up to what `retain` keeps committed, and
 * in fast mode the spare blocks the period took, which the reset carves again within `retain`),
 * `check()` passes, every size up to `largestFree` fits, and `calloc` / `allocArray` return
 * zeros over pages that were written before the reset and kept committed. The `retain` option
 * is validated (an integer from 0 to `capacity`).
 */
import type { ArenaStats } from '../..';
import { Arena, COMBOS, KiB, MiB, destroyAll, expectError, makeArena } from './helpers';

afterEach(destroyAll);

const made: Arena[] = [];
afterEach(() => {
  while (made.length > 0) {
    try {
      made.pop()!.destroy();
    } catch {
      /* destroyed already */
    }
  }
});

function arenaWith(options: ConstructorParameters<typeof Arena>[0]): Arena {
  const a = new Arena(options);
  made.push(a);
  return a;
}

/**
 * The fields a reset arena and a fresh one agree on: not `committed` (the pages `retain` keeps
 * are committed, and known not to be zero). A fast-view arena's reset carves again the spare
 * blocks the period took (stats() gives them back to the allocator first): its heap's pages and
 * buddy's peak then differ from a fresh arena's.
 */
function comparable(s: ArenaStats): Record<string, unknown> {
  const warmed = s.views === 'fast';
  const out: Record<string, unknown> = {
    liveAllocations: s.liveAllocations,
    inUse: s.inUse,
    largestFree: s.largestFree,
    capacity: s.capacity,
    corrupted: s.corrupted,
  };
  if (s.allocator === 'dlmalloc') {
    if (!warmed) {
      out.heapBytes = s.detail.heapBytes;
      out.pagesUsed = s.detail.pagesUsed;
      out.pagesFreeRuns = s.detail.pagesFreeRuns;
      out.pagesLargestFree = s.detail.pagesLargestFree;
    }
  } else {
    out.liveBlocks = s.detail.liveBlocks;
    out.freeBlocksPerOrder = s.detail.freeBlocksPerOrder;
    if (!warmed) out.peakInUse = s.detail.peakInUse;
    out.fragmentation = s.detail.fragmentation;
  }
  return out;
}

/** Allocates a mix of sizes and writes 0xAA over every byte. */
function scribble(arena: Arena, seed: number): void {
  for (let i = 0; i < 200; i++) {
    const n = 16 + ((i * 7919 + seed) % (i % 10 === 0 ? 300_000 : 3000));
    arena.alloc(n).fill(0xaa);
  }
}

describe.each(COMBOS)('reset: %s arena, %s views', (allocator, views) => {
  test('leaves an arena that is fresh to every method', () => {
    const arena = makeArena(allocator, views, 32 * MiB);
    const fresh = makeArena(allocator, views, 32 * MiB);
    for (let round = 0; round < 3; round++) {
      const kept = arena.alloc(1000);
      scribble(arena, round);
      arena.reset();
      if (views === 'safe') expect(kept.byteLength).toBe(0);
      const st = arena.stats();
      expect(comparable(st)).toEqual(comparable(fresh.stats()));
      // what was kept (retain, default 8 MiB) and what a fast arena carves again (within retain)
      // and a heap segment
      expect(st.committed).toBeLessThanOrEqual(2 * 8 * MiB + 64 * KiB);
      arena.check();
    }
    const largest = arena.stats().largestFree;
    for (let n = 16; n <= largest; n *= 2) arena.free(arena.alloc(n));
    arena.free(arena.alloc(largest));
    arena.check();
  });

  test('calloc and allocArray return zeros over retained written pages', () => {
    const arena = arenaWith({ allocator, views, capacity: 32 * MiB, retain: 8 * MiB });
    const sizes: number[] = [];
    for (let i = 0; i < 300; i++) sizes.push(16 + ((i * 997) % 20000));
    for (const n of sizes) arena.alloc(n).fill(0xaa);
    arena.reset();
    const st = arena.stats();
    // written pages were kept, and are known not to be zero
    if (st.allocator === 'buddy') expect(st.committed).toBeGreaterThan(0);
    else expect(st.detail.pagesKnownZero).toBeLessThan(st.capacity);
    for (const n of sizes) {
      const b = arena.calloc(n, 1);
      expect(b.every((x) => x === 0)).toBe(true);
    }
    arena.reset();
    for (const n of sizes) {
      const f = arena.allocArray(Float64Array, Math.ceil(n / 8));
      expect(f.every((x) => x === 0)).toBe(true);
    }
    arena.check();
  });

  test('committed after reset is at most retain (0: everything given back)', () => {
    for (const retain of [0, 256 * KiB, 2 * MiB]) {
      const arena = arenaWith({ allocator, views, capacity: 64 * MiB, retain });
      scribble(arena, 3);
      arena.alloc(8 * MiB).fill(0xaa);
      arena.reset();
      const st = arena.stats();
      // fast views: the spares carved again after the reset take at most `retain` bytes more
      // (and with retain 0 none), on pages that may be other than the retained ones
      const carved = views === 'fast' ? retain : 0;
      if (st.allocator === 'buddy') {
        expect(st.committed).toBeLessThanOrEqual(retain + carved + 4096); // the root's links page
      } else {
        // the kept pages, the carved spares and the heap's first segment
        expect(st.committed).toBe(st.capacity - st.detail.pagesKnownZero);
        expect(st.committed).toBeLessThanOrEqual(retain + (carved === 0 ? 0 : carved + 64 * KiB));
      }
      arena.check();
    }
  });
});

describe('the retain option', () => {
  test('defaults to 8 MiB (or the capacity when smaller), and accepts 0 .. capacity', () => {
    for (const allocator of ['dlmalloc', 'buddy'] as const) {
      // 12 MiB written in blocks of 64 KiB (one page run each, no spares), then reset: 8 MiB stay
      const arena = arenaWith({ allocator, capacity: 64 * MiB });
      for (let i = 0; i < 192; i++) arena.alloc(64 * KiB - 64).fill(0xaa);
      arena.reset();
      const st = arena.stats();
      expect(st.committed).toBeLessThanOrEqual(8 * MiB + 4096);
      expect(st.committed).toBeGreaterThanOrEqual(8 * MiB - 64 * KiB);
      arena.trim();
      expect(arena.stats().committed).toBeLessThanOrEqual(64 * KiB);
      arenaWith({ allocator, capacity: 64 * KiB }).reset();
      arenaWith({ allocator, capacity: 1 * MiB, retain: 0 }).reset();
      arenaWith({ allocator, capacity: 1 * MiB, retain: 1 * MiB }).reset();
    }
  });

  test('is validated', () => {
    expectError(() => arenaWith({ capacity: 1 * MiB, retain: 1 * MiB + 1 }), 'ERR_OUT_OF_RANGE', {
      method: 'new Arena',
      value: 1 * MiB + 1,
    });
    expectError(() => arenaWith({ retain: -1 }), 'ERR_OUT_OF_RANGE', { method: 'new Arena', value: -1 });
    expectError(() => arenaWith({ retain: 1.5 }), 'ERR_OUT_OF_RANGE', { method: 'new Arena', value: 1.5 });
    expectError(() => arenaWith({ retain: NaN }), 'ERR_OUT_OF_RANGE', { method: 'new Arena' });
    expectError(() => arenaWith({ retain: '4096' as unknown as number }), 'ERR_INVALID_ARG_TYPE', {
      method: 'new Arena',
    });
    expectError(() => arenaWith({ retain: 4096n as unknown as number }), 'ERR_INVALID_ARG_TYPE', {
      method: 'new Arena',
    });
  });
});
