/**
 * Usable capacity: a dlmalloc arena's heap grows from the bottom of its region and large blocks
 * take page runs from the top, so one allocation of nearly the whole capacity succeeds whatever
 * small blocks are live elsewhere. A buddy arena keeps its power-of-two nature (a block is a
 * power of two, aligned to its size), which the last tests pin down. The out-of-memory message
 * never contradicts itself.
 */
import { ALLOCATORS, ArenaError, GiB, KiB, MiB, VIEWS, destroyAll, makeArena as arena } from './helpers';

afterEach(destroyAll);

/** A small deterministic generator (xorshift32). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

describe.each(VIEWS)('dlmalloc arena of 1 GiB, %s views', (views) => {
  test('one 100-byte block live: one allocation of 900 MiB succeeds, and its pages go back on free', () => {
    const a = arena('dlmalloc', views, GiB);
    const small = a.alloc(100);
    expect(a.stats().largestFree).toBeGreaterThanOrEqual(900 * MiB);
    const big = a.alloc(900 * MiB);
    big[0] = 1;
    big[big.length - 1] = 2;
    expect(a.owns(small)).toBe(true);
    const during = a.stats().committed;
    a.free(big);
    expect(a.stats().committed).toBeLessThan(during - 800 * MiB);
    a.check();
  });

  test('10,000 random blocks (about 100 MiB) with every other one freed: one allocation of 800 MiB succeeds', () => {
    const a = arena('dlmalloc', views, GiB);
    const next = rng(7);
    const blocks: Buffer[] = [];
    let total = 0;
    for (let i = 0; i < 10_000; i++) {
      const n = 1 + Math.floor(next() * 20 * KiB);
      const b = a.alloc(n);
      b[0] = i & 0xff;
      blocks.push(b);
      total += n;
    }
    expect(total).toBeGreaterThan(90 * MiB);
    for (let i = 0; i < blocks.length; i += 2) a.free(blocks[i]!);
    const s = a.stats();
    expect(s.largestFree).toBeGreaterThanOrEqual(800 * MiB);
    const big = a.alloc(800 * MiB);
    big[big.length - 1] = 7;
    for (let i = 1; i < blocks.length; i += 2) expect(blocks[i]![0]).toBe(i & 0xff);
    expect(a.stats().liveAllocations).toBe(5_001);
    a.check();
  });
});

test('dlmalloc: after reset, the whole capacity is one allocation again', () => {
  const a = arena('dlmalloc', 'fast', 256 * MiB);
  for (let i = 0; i < 1000; i++) a.alloc(1000 + i);
  a.reset();
  const b = a.alloc(256 * MiB - 64 * KiB);
  expect(b.length).toBe(256 * MiB - 64 * KiB);
});

describe.each(ALLOCATORS)('%s: the out-of-memory error', (allocator) => {
  test('never says a block as large as the request was free', () => {
    const a = arena(allocator, 'fast', 64 * MiB);
    a.alloc(100);
    for (const n of [64 * MiB, 40 * MiB, 33 * MiB, 32 * MiB, 63 * MiB + 4 * KiB]) {
      let err: unknown;
      try {
        a.alloc(n);
      } catch (e) {
        err = e;
      }
      if (err === undefined) continue;
      const e = err as ArenaError;
      expect(e.code).toBe('ERR_ARENA_OOM');
      expect(e.requested).toBe(n);
      // a plain alloc fails exactly above stats().largestFree
      expect(e.largestFree as number).toBeLessThan(n);
      expect(e.message).toContain(`the largest allocation that can succeed is ${e.largestFree} bytes`);
    }
  });
});

describe('buddy arenas keep their power-of-two nature', () => {
  test('a block is a power of two aligned to its size: with one small block live, half the region is the largest block', () => {
    const a = arena('buddy', 'fast', 64 * MiB);
    a.alloc(100);
    expect(a.stats().largestFree).toBe(32 * MiB);
    const half = a.alloc(32 * MiB);
    expect(half.byteOffset % (32 * MiB)).toBe(0);
    expect(() => a.alloc(32 * MiB + 1)).toThrow(expect.objectContaining({ code: 'ERR_ARENA_OOM' }));
  });
});
