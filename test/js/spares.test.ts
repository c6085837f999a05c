/**
 * Fast views: blocks up to 64 KiB are allocated and freed from JavaScript alone,
 * out of per-size stacks of blocks the allocator hands over in batches. These tests hold
 * that path to the same promises as the native one: exact free (double, stale, interior,
 * foreign views refused), stats that count only the user's blocks, out-of-memory recovery
 * that can use the spares, reset and destroy forgetting them.
 */
import { ALLOCATORS, destroyAll, expectError, makeArena, MiB, KiB } from './helpers';

afterEach(destroyAll);

describe.each(ALLOCATORS)('%s arena, fast views, small blocks', (allocator) => {
  test('every small size gets its own, non-overlapping block; all come back', () => {
    const arena = makeArena(allocator, 'fast');
    const live: Buffer[] = [];
    for (let round = 0; round < 3; round++) {
      for (let n = 0; n <= 512; n += 7) {
        const b = arena.alloc(n);
        expect(b.length).toBe(n);
        expect(b.byteOffset % 16).toBe(0);
        expect(arena.usableSize(b)).toBeGreaterThanOrEqual(n);
        b.fill(live.length & 0xff);
        live.push(b);
      }
    }
    const spans = live.map((b, i) => [b.byteOffset, b.byteOffset + Math.max(b.length, 1), i] as const);
    spans.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    live.forEach((b, i) => expect(b.every((x) => x === (i & 0xff))).toBe(true));
    expect(arena.stats().liveAllocations).toBe(live.length);
    for (const b of live) arena.free(b);
    const s = arena.stats();
    expect(s.liveAllocations).toBe(0);
    expect(s.inUse + s.free).toBe(s.committed);
    arena.check();
  });

  test('every size up to 64 KiB and a little beyond: usable >= requested, block-aligned, freeable', () => {
    const arena = makeArena(allocator, 'fast', 64 * MiB);
    const kept: Buffer[] = [];
    for (let n = 0; n <= 64 * KiB + 64; n += n < 2048 ? 1 : 17) {
      const b = arena.alloc(n);
      expect(arena.usableSize(b)).toBeGreaterThanOrEqual(n);
      if (n % 97 === 0) kept.push(b);
      else arena.free(b);
    }
    for (const b of kept) arena.free(b);
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  });

  test('mid-size blocks (4 KiB, 64 KiB) keep their contents and never overlap', () => {
    const arena = makeArena(allocator, 'fast', 64 * MiB);
    const live: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const b = arena.alloc(i % 2 ? 4 * KiB : 64 * KiB - (i % 7) * 100);
      b.fill(i & 0xff);
      live.push(b);
      if (i % 3 === 0) arena.free(live.splice((i * 7919) % live.length, 1)[0]!);
    }
    const spans = live.map((b) => [b.byteOffset, b.byteOffset + b.length] as const).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    for (const b of live) {
      const v = b[0]!;
      expect(b.every((x) => x === v)).toBe(true);
      arena.free(b);
    }
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  });

  test('stats count the user blocks only, not the blocks kept for reuse', () => {
    const arena = makeArena(allocator, 'fast');
    const fresh = arena.stats();
    const bs = Array.from({ length: 100 }, () => arena.alloc(64));
    expect(arena.stats().liveAllocations).toBe(100);
    for (const b of bs.slice(0, 60)) arena.free(b);
    expect(arena.stats().liveAllocations).toBe(40);
    for (const b of bs.slice(60)) arena.free(b);
    const s = arena.stats();
    expect(s.liveAllocations).toBe(0);
    if (allocator === 'buddy') expect(s.inUse).toBe(fresh.inUse);
    arena.check();
  });

  test('double free, through the same view or another view of the block', () => {
    const arena = makeArena(allocator, 'fast');
    const b = arena.alloc(48);
    const other = new Uint8Array(b.buffer, b.byteOffset, b.length);
    arena.free(b);
    expectError(() => arena.free(b), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
    expectError(() => arena.free(other), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
    expectError(() => arena.realloc(b, 100), 'ERR_ARENA_NOT_ALLOCATED', { method: 'realloc' });
    expectError(() => arena.usableSize(b), 'ERR_ARENA_NOT_ALLOCATED', { method: 'usableSize' });
    expect(arena.owns(b)).toBe(false);
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  });

  test('a view the user made over a small block frees it (once)', () => {
    const arena = makeArena(allocator, 'fast');
    const b = arena.alloc(64);
    const f = new Float64Array(b.buffer, b.byteOffset, 8);
    expect(arena.owns(f)).toBe(true);
    arena.free(f);
    expect(arena.stats().liveAllocations).toBe(0);
    expectError(() => arena.free(b), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
    arena.check();
  });

  test('a freed block serves the next request of its block size (buddy: its power of two; dlmalloc: its class)', () => {
    const arena = makeArena(allocator, 'fast');
    const a = arena.alloc(300);
    const off = a.byteOffset;
    arena.free(a);
    // buddy: 300 and 500 bytes both take a 512-byte block, from one stack; dlmalloc: two classes
    const b = arena.alloc(500);
    const c = arena.alloc(300);
    expect(allocator === 'buddy' ? b.byteOffset : c.byteOffset).toBe(off);
    expect(allocator === 'buddy' ? c.byteOffset : b.byteOffset).not.toBe(off);
    expect(arena.usableSize(b)).toBeGreaterThanOrEqual(500);
    expect(arena.stats().liveAllocations).toBe(2);
    arena.free(b);
    arena.free(c);
    arena.check(); // throws ERR_ARENA_CORRUPTED on a broken invariant
  });

  test('interior views of a small block are refused, the block stays live', () => {
    const arena = makeArena(allocator, 'fast');
    const b = arena.alloc(200);
    for (let k = 1; k < 200; k += 1) {
      expectError(() => arena.free(b.subarray(k)), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
    }
    expect(arena.stats().liveAllocations).toBe(1);
    arena.free(b);
    arena.check();
  });

  test('a small block of another arena is foreign to this one, and stays live there', () => {
    const a = makeArena(allocator, 'fast');
    const c = makeArena(allocator, 'fast');
    const x = a.alloc(32);
    c.alloc(32); // c has a live small block at the same offset
    expectError(() => c.free(x), 'ERR_ARENA_FOREIGN', { method: 'free' });
    expect(a.owns(x)).toBe(true);
    expect(c.stats().liveAllocations).toBe(1);
    a.free(x);
  });

  test('realloc of a small block moves it out of the small-block path; the old view is stale', () => {
    const arena = makeArena(allocator, 'fast');
    const a = arena.alloc(40);
    a.fill(7);
    const wall = arena.alloc(40);
    const b = arena.realloc(a, 64 * KiB);
    expect(b.subarray(0, 40).every((x) => x === 7)).toBe(true);
    expectError(() => arena.free(a), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
    arena.free(b);
    arena.free(wall);
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  });

  test('out of memory: blocks kept for reuse go back so a large request fits', () => {
    const arena = makeArena(allocator, 'fast', 4 * MiB);
    const small: Buffer[] = [];
    for (let i = 0; ; i++) {
      const b = arena.tryAlloc(i % 5 === 0 ? 6000 : 96);
      if (b === null) break;
      small.push(b);
    }
    expect(small.length).toBeGreaterThan(500);
    for (const b of small) arena.free(b);
    const big = arena.alloc(2 * MiB);
    expect(big.length).toBe(2 * MiB);
    arena.free(big);
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  });

  test('reset and destroy forget the small blocks: old views are refused, nothing leaks', () => {
    const arena = makeArena(allocator, 'fast');
    const keep = arena.alloc(16);
    const freed = arena.alloc(16);
    arena.free(freed);
    arena.reset();
    expect(arena.stats().liveAllocations).toBe(0);
    expectError(() => arena.free(freed), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
    const again = arena.alloc(16);
    expect(arena.stats().liveAllocations).toBe(1);
    arena.free(again);
    void keep;
    arena.destroy();
    expectError(() => arena.alloc(16), 'ERR_ARENA_DESTROYED', { method: 'alloc' });
    expectError(() => arena.free(keep), 'ERR_ARENA_DESTROYED', { method: 'free' });
  });

  test('trim gives the kept blocks back first', () => {
    const arena = makeArena(allocator, 'fast');
    const bs = Array.from({ length: 2000 }, () => arena.alloc(256));
    for (const b of bs) arena.free(b);
    arena.trim();
    const s = arena.stats();
    expect(s.liveAllocations).toBe(0);
    expect(s.inUse + s.free).toBe(s.committed);
    arena.check();
  });
});
