/**
 * `arena.stats()` cannot contradict itself: the relations its fields keep (written once, in
 * csrc/addon/core/stats.h and the TSDoc of `ArenaStatsCommon`), in every state a mix of
 * operations reaches; `largestFree` is exact (`alloc(largestFree)` succeeds,
 * `alloc(largestFree + 1)` fails) and `largestFreeCommitted` is what committed memory serves;
 * a buddy arena's `fragmentation` is 0 where nothing is fragmented and high where it is; and
 * `detail` is typed by `allocator`.
 *
 * One test here is not black-box: it reads the field lists the native binding exports
 * (`binding.constants` of dist/binding.js, the lists stats.h defines) and checks that the
 * TypeScript types name exactly those fields, so that neither side can gain or lose a field
 * unseen. The records it compares are typed `Record<keyof T, true>`, so the compiler (ts-jest
 * type-checks this file) refuses one that misses or adds a key of the type.
 */
import type { ArenaStats, ArenaStatsCommon, BuddyDetail, BuddyStats, DlmallocDetail, DlmallocStats } from '../..';
import { Arena, COMBOS, KiB, MiB, destroyAll, makeArena, rng } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { binding } = require('../../dist/binding') as {
  binding: { constants: { stats: string[]; detail: Record<'dlmalloc' | 'buddy', string[]> } };
};

afterEach(destroyAll);

// ---- the types and the native field lists -------------------------------------------------

const COMMON: Record<keyof ArenaStatsCommon, true> = {
  views: true,
  capacity: true,
  committed: true,
  inUse: true,
  free: true,
  largestFree: true,
  largestFreeCommitted: true,
  peakCommitted: true,
  liveAllocations: true,
  corrupted: true,
};
const DLMALLOC_STATS: Record<keyof DlmallocStats, true> = { ...COMMON, allocator: true, detail: true };
const BUDDY_STATS: Record<keyof BuddyStats, true> = { ...COMMON, allocator: true, detail: true };
const DLMALLOC_DETAIL: Record<keyof DlmallocDetail, true> = {
  allocator: true,
  heapBytes: true,
  directMappedBytes: true,
  freeChunks: true,
  topBytes: true,
  pagesFree: true,
  pagesUsed: true,
  pagesLargestFree: true,
  pagesFreeRuns: true,
  pagesKnownZero: true,
  metadataBytes: true,
};
const BUDDY_DETAIL: Record<keyof BuddyDetail, true> = {
  allocator: true,
  peakInUse: true,
  freeBlockBytes: true,
  minBlock: true,
  orders: true,
  liveBlocks: true,
  cachedBytes: true,
  knownZeroBytes: true,
  fragmentation: true,
  metadataBytes: true,
  freeBlocksPerOrder: true,
};

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

describe('the TypeScript types name exactly the fields the native side defines', () => {
  test('the common fields: the native numeric list, and views and corrupted (lib/ and the glue add them)', () => {
    expect(sorted(Object.keys(COMMON))).toEqual(sorted([...binding.constants.stats, 'views', 'corrupted']));
  });

  test('each detail: the native list of its allocator, and allocator (buddy: and freeBlocksPerOrder)', () => {
    expect(sorted(Object.keys(DLMALLOC_DETAIL))).toEqual(sorted([...binding.constants.detail.dlmalloc, 'allocator']));
    expect(sorted(Object.keys(BUDDY_DETAIL))).toEqual(
      sorted([...binding.constants.detail.buddy, 'allocator', 'freeBlocksPerOrder']),
    );
  });

  test.each(COMBOS)('%s arena, %s views: stats() has exactly the typed keys, numbers where numbers are typed', (allocator, views) => {
    const s = makeArena(allocator, views).stats();
    const [top, detail] = allocator === 'dlmalloc' ? [DLMALLOC_STATS, DLMALLOC_DETAIL] : [BUDDY_STATS, BUDDY_DETAIL];
    expect(sorted(Object.keys(s))).toEqual(sorted(Object.keys(top)));
    expect(sorted(Object.keys(s.detail))).toEqual(sorted(Object.keys(detail)));
    expect(s.allocator).toBe(allocator);
    expect(s.detail.allocator).toBe(allocator);
    for (const [k, v] of Object.entries(s.detail)) {
      if (k === 'allocator') continue;
      if (k === 'freeBlocksPerOrder') expect(Array.isArray(v)).toBe(true);
      else expect(typeof v).toBe('number');
    }
  });
});

describe('detail is typed by allocator (a discriminated union)', () => {
  function describeDetail(s: ArenaStats): number {
    if (s.allocator === 'dlmalloc') {
      const n: number = s.detail.heapBytes;
      // @ts-expect-error fragmentation is a buddy arena's
      void s.detail.fragmentation;
      return n;
    }
    const f: number = s.detail.fragmentation;
    const per: number[] = s.detail.freeBlocksPerOrder;
    // @ts-expect-error heapBytes is a dlmalloc arena's
    void s.detail.heapBytes;
    return f + per.length;
  }

  test('narrowing on allocator reaches its detail fields; a wrong field does not compile', () => {
    const dl = makeArena('dlmalloc', 'safe').stats();
    const bd = makeArena('buddy', 'safe').stats();
    // @ts-expect-error not narrowed: only the fields both details have
    void dl.detail.heapBytes;
    const common: 'dlmalloc' | 'buddy' = dl.detail.allocator;
    expect(common).toBe('dlmalloc');
    expect(describeDetail(dl)).toBe(dl.allocator === 'dlmalloc' ? dl.detail.heapBytes : NaN);
    expect(describeDetail(bd)).toBeGreaterThan(0); // orders of blocks, at least one
  });
});

// ---- the relations ----------------------------------------------------------------------

/** Every relation of stats.h, with the state named in the message when one fails. */
function expectRelations(s: ArenaStats, where: string): void {
  const fail: string[] = [];
  const rel = (ok: boolean, what: string): void => {
    if (!ok) fail.push(what);
  };
  rel(s.inUse + s.free === s.committed, 'inUse + free === committed');
  rel(s.committed <= s.capacity, 'committed <= capacity');
  rel(s.committed <= s.peakCommitted, 'committed <= peakCommitted');
  rel(s.largestFreeCommitted <= s.free, 'largestFreeCommitted <= free');
  rel(s.largestFreeCommitted <= s.largestFree, 'largestFreeCommitted <= largestFree');
  rel(s.largestFree <= s.capacity - s.inUse, 'largestFree <= capacity - inUse');
  rel(s.inUse > 0 || s.liveAllocations === 0, 'inUse === 0 implies liveAllocations === 0');
  rel(!s.corrupted, 'not corrupted');
  for (const k of ['capacity', 'committed', 'inUse', 'free', 'largestFree', 'largestFreeCommitted', 'peakCommitted', 'liveAllocations'] as const) {
    rel(Number.isSafeInteger(s[k]) && s[k] >= 0, `${k} a non-negative integer`);
  }
  if (s.allocator === 'dlmalloc') {
    rel(s.committed === s.capacity - s.detail.pagesKnownZero, 'committed === capacity - detail.pagesKnownZero');
    rel(s.committed >= s.detail.pagesUsed, 'committed >= detail.pagesUsed');
    rel(s.detail.heapBytes + s.detail.directMappedBytes === s.detail.pagesUsed, 'heapBytes + directMappedBytes === pagesUsed');
  } else {
    const d = s.detail;
    rel((s.liveAllocations === 0) === (s.inUse === 0), 'liveAllocations === 0 exactly when inUse === 0');
    rel(s.liveAllocations === d.liveBlocks, 'liveAllocations === detail.liveBlocks');
    rel(d.knownZeroBytes === d.freeBlockBytes - s.free, 'knownZeroBytes === freeBlockBytes - free');
    rel(d.cachedBytes === 0, 'the cache merged');
    rel(d.fragmentation >= 0 && d.fragmentation < 1, '0 <= fragmentation < 1');
  }
  if (fail.length > 0) {
    throw new Error(`${where}: ${fail.join('; ')}\n${JSON.stringify({ ...s, detail: undefined })}`);
  }
}

/** Fast views serve requests of up to this many bytes from batches of spare blocks. */
const SPARE_MAX = 64 * KiB;

/**
 * largestFree is exact, and largestFreeCommitted what committed memory serves (dlmalloc:
 * without committing; one byte more commits or fails). The probes are freed again. (In fast
 * views a request of up to 64 KiB takes a batch of spare blocks, which may commit more: there
 * only the success is checked.)
 */
function expectExact(arena: Arena, where: string): void {
  let s = arena.stats();
  expectRelations(s, where);
  const lf = s.largestFree;
  if (lf === s.capacity) {
    // nothing is larger than the arena: such a request is refused before it reaches the allocator
    expect(() => arena.tryAlloc(lf + 1)).toThrow(RangeError);
  } else {
    const over = arena.tryAlloc(lf + 1);
    if (over !== null) {
      arena.free(over);
      throw new Error(`${where}: alloc(largestFree + 1 = ${lf + 1}) succeeded`);
    }
  }
  expect(arena.stats().largestFree).toBe(lf);
  if (lf > 0) arena.free(arena.alloc(lf));
  s = arena.stats();
  if (s.largestFreeCommitted > 0) {
    const b = arena.alloc(s.largestFreeCommitted);
    if (s.allocator === 'dlmalloc' && (s.views === 'safe' || s.largestFreeCommitted > SPARE_MAX)) {
      expect(arena.stats().committed).toBe(s.committed);
    }
    arena.free(b);
  }
  s = arena.stats();
  if (s.allocator === 'dlmalloc') {
    const b = arena.tryAlloc(s.largestFreeCommitted + 1);
    if (b !== null) {
      expect(arena.stats().committed).toBeGreaterThan(s.committed);
      arena.free(b);
    }
  }
  arena.check();
}

describe.each(COMBOS)('%s arena, %s views', (allocator, views) => {
  test('fresh, a few blocks, emptied: the relations hold and largestFree is exact', () => {
    const arena = makeArena(allocator, views, 16 * MiB);
    expectRelations(arena.stats(), 'fresh');
    const few = [arena.alloc(10), arena.alloc(100), arena.alloc(5000)];
    expectExact(arena, 'a few blocks');
    expect(arena.stats().liveAllocations).toBe(3);
    for (const b of few) arena.free(b);
    const s = arena.stats();
    expect(s.liveAllocations).toBe(0);
    if (s.allocator === 'buddy') expect(s.inUse).toBe(0);
    expectExact(arena, 'emptied');
    const fresh = makeArena(allocator, views, 16 * MiB);
    expectExact(fresh, 'fresh');
  });

  test('through a random mix of operations: the relations after each, largestFree exact at checkpoints', () => {
    const arena = makeArena(allocator, views, 8 * MiB);
    const rand = rng(allocator === 'dlmalloc' ? 0x51a75 : 0xb0dd7);
    const r = (): number => Math.floor(rand() * 2 ** 32);
    const live: Buffer[] = [];
    for (let step = 0; step < 1500; step++) {
      const op = r() % 100;
      if (op < 50) {
        const n = r() % 10 === 0 ? 1 + (r() % (MiB + 1)) : 1 + (r() % 3000);
        const b = op < 45 ? arena.tryAlloc(n) : null;
        if (b !== null) live.push(b);
        else if (op >= 45) {
          try {
            live.push(arena.alignedAlloc(2 ** (4 + (r() % 9)), n));
          } catch {
            /* out of memory */
          }
        }
      } else if (op < 90 && live.length > 0) {
        const i = r() % live.length;
        arena.free(live[i]!);
        live[i] = live[live.length - 1]!;
        live.pop();
      } else if (op < 97) {
        arena.trim();
      } else if (op < 98) {
        arena.reset();
        live.length = 0;
      }
      const s = arena.stats();
      expectRelations(s, `step ${step}`);
      expect(s.liveAllocations).toBe(live.length);
      if (step % 150 === 0) expectExact(arena, `step ${step}`);
    }
    for (const b of live) arena.free(b);
    expectExact(arena, 'all freed');
  });

  test('a full arena: largestFree 0 or exact, and back to the fresh value once everything is freed', () => {
    const arena = makeArena(allocator, views, 4 * MiB);
    const fresh = arena.stats().largestFree;
    const live: Buffer[] = [];
    for (let b = arena.tryAlloc(64 * KiB); b !== null; b = arena.tryAlloc(64 * KiB)) live.push(b);
    for (let b = arena.tryAlloc(100); b !== null; b = arena.tryAlloc(100)) live.push(b);
    expectExact(arena, 'full');
    for (let i = 0; i < live.length; i += 2) arena.free(live[i]!);
    expectExact(arena, 'every other freed');
    for (let i = 1; i < live.length; i += 2) arena.free(live[i]!);
    expect(arena.stats().largestFree).toBe(fresh);
    expectExact(arena, 'all freed');
  });
});

describe.each(['safe', 'fast'] as const)('largestFreeCommitted, %s views', (views) => {
  test('dlmalloc: the free chunks of the heap; fresh, no heap, 0', () => {
    const arena = makeArena('dlmalloc', views, 64 * MiB);
    let s = arena.stats();
    // the reported contradiction: free 64 KiB yet largestFree 64 MiB. The fresh heap holds
    // nothing; largestFree counts what can still be committed, largestFreeCommitted does not
    expect(s.free).toBe(0);
    expect(s.largestFreeCommitted).toBe(0);
    expect(s.largestFree).toBeGreaterThan(64 * MiB - 4096);
    const a = arena.alloc(100);
    s = arena.stats();
    expect(s.committed).toBe(64 * KiB);
    expect(s.largestFreeCommitted).toBeGreaterThan(60 * KiB);
    expect(s.largestFreeCommitted).toBeLessThan(s.free);
    expect(s.largestFree).toBeGreaterThan(s.free);
    expectExact(arena, 'one block');
    arena.free(a);
  });

  test('buddy: a free block all of whose pages were handed out, until trim gives them back', () => {
    const arena = makeArena('buddy', views, 16 * MiB);
    expect(arena.stats().largestFreeCommitted).toBe(0); // the fresh root is known zero past its first page
    const x = arena.alloc(MiB);
    const y = arena.alloc(MiB);
    arena.free(x);
    let s = arena.stats();
    expect(s.largestFreeCommitted).toBe(MiB);
    expect(s.largestFree).toBe(8 * MiB);
    expect(arena.trim()).toBeGreaterThanOrEqual(MiB - 4096);
    s = arena.stats();
    expect(s.largestFreeCommitted).toBeLessThanOrEqual(4096);
    expectRelations(s, 'trimmed');
    arena.free(y);
  });
});

// ---- buddy fragmentation -------------------------------------------------------------

describe.each(['safe', 'fast'] as const)('buddy fragmentation, %s views', (views) => {
  const frag = (a: Arena): number => {
    const s = a.stats();
    if (s.allocator !== 'buddy') throw new Error('a buddy arena was expected');
    return s.detail.fragmentation;
  };

  test('0 fresh; 0 with a few small blocks (the root split is not fragmentation)', () => {
    const arena = makeArena('buddy', views, 64 * MiB);
    expect(frag(arena)).toBe(0);
    const two = [arena.alloc(1), arena.alloc(1)];
    expect(frag(arena)).toBe(0);
    const more = [16, 100, 1000, 4096, 65536].map((n) => arena.alloc(n));
    expect(frag(arena)).toBe(0);
    expect(arena.stats().largestFree).toBe(32 * MiB);
    for (const b of [...two, ...more]) arena.free(b);
    expect(frag(arena)).toBe(0);
  });

  test('high once every other block of a full arena is free; 0 again once all are', () => {
    const arena = makeArena('buddy', views, 4 * MiB);
    const blocks: Buffer[] = [];
    for (let b = arena.tryAlloc(512); b !== null; b = arena.tryAlloc(512)) blocks.push(b);
    expect(blocks.length).toBe((4 * MiB) / 512);
    expect(frag(arena)).toBe(0); // nothing free
    for (let i = 0; i < blocks.length; i += 2) arena.free(blocks[i]!);
    const s = arena.stats();
    expect(s.largestFree).toBe(512);
    // 2 MiB free, which packed would be one block of 2 MiB
    expect(frag(arena)).toBe(1 - 512 / (2 * MiB));
    for (let i = 1; i < blocks.length; i += 2) arena.free(blocks[i]!);
    expect(frag(arena)).toBe(0);
    expect(arena.stats().largestFree).toBe(4 * MiB);
  });
});
