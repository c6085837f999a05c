/**
 * Arenas past 4 GiB. Where the runtime's largest Buffer (`buffer.constants.MAX_LENGTH`) is above
 * 4 GiB (Node 22+), a fast-view arena may reserve more (MAP_NORESERVE: nothing is committed until
 * used) and a safe view may be longer than 4 GiB; where it is not (Node 20), asking for either is
 * the usual ERR_OUT_OF_RANGE. Blocks past 4 GiB are written and read back, freed exactly (the
 * small-block tag map and the brands index offsets past 2^32), and the stats and check() agree.
 */
import { constants as bufferConstants } from 'buffer';
import { ALLOCATORS, Arena, GiB, MiB, destroyAll, expectError } from './helpers';

const FOUR_GIB = 4 * GiB;
const wide = bufferConstants.MAX_LENGTH > FOUR_GIB;

afterEach(destroyAll);

function arena(allocator: 'dlmalloc' | 'buddy', views: 'safe' | 'fast', capacity: number): Arena {
  return new Arena({ allocator, views, capacity });
}

// Each line runs the tests of what it allows: no test is skipped.
if (wide) describe('past 4 GiB (this runtime allows Buffers over 4 GiB)', () => {
  test.each(ALLOCATORS)('a 16 GiB fast arena (%s): blocks past 4 GiB written, read back, freed exactly', (allocator) => {
    const rss0 = process.memoryUsage.rss();
    // dlmalloc keeps the 1 GiB blocks in its heap (which grows from the bottom of the region;
    // large blocks otherwise take runs from the top), so the small blocks after them lie past 4 GiB.
    const a =
      allocator === 'dlmalloc'
        ? new Arena({ allocator, views: 'fast', capacity: 16 * GiB, mmapThreshold: 2 ** 31 - 1 })
        : arena(allocator, 'fast', 16 * GiB);
    try {
      const fresh = a.stats();
      expect(fresh.capacity).toBe(16 * GiB);
      expect(fresh.committed).toBeLessThan(64 * MiB);

      // Five untouched 1 GiB blocks cannot all lie below 4 GiB.
      const big: Buffer[] = [];
      for (let i = 0; i < 5; i++) big.push(a.alloc(GiB));
      expect(Math.max(...big.map((b) => b.byteOffset))).toBeGreaterThanOrEqual(FOUR_GIB);
      big.forEach((b, i) => {
        b[0] = i + 1;
        b[b.length - 1] = i + 101;
      });

      // Small blocks (the spare path) until some lie past 4 GiB: the space below is taken.
      const small: Buffer[] = [];
      for (let i = 0; i < 20000 && small.filter((b) => b.byteOffset >= FOUR_GIB).length < 500; i++) {
        const b = a.alloc(16 + (i % 40) * 16);
        b.writeUInt32LE(i, 0);
        small.push(b);
      }
      const high = small.filter((b) => b.byteOffset >= FOUR_GIB);
      expect(high.length).toBeGreaterThanOrEqual(500);
      small.forEach((b, i) => expect(b.readUInt32LE(0)).toBe(i));
      big.forEach((b, i) => expect([b[0], b[b.length - 1]]).toEqual([i + 1, i + 101]));
      const st = a.stats();
      expect(st.liveAllocations).toBe(big.length + small.length);
      expect(st.inUse).toBeGreaterThanOrEqual(5 * GiB);
      expect(st.inUse + st.free).toBe(st.committed);
      a.check();

      // Freeing a block past 4 GiB must not touch the block 4 GiB below it (a 32-bit index would).
      for (const b of high) {
        a.free(b);
        expectError(() => a.free(b), 'ERR_ARENA_NOT_ALLOCATED');
      }
      const highOffsets = new Set(high.map((b) => b.byteOffset));
      for (const b of small) if (!highOffsets.has(b.byteOffset)) expect(a.owns(b)).toBe(true);
      for (const b of small) if (!highOffsets.has(b.byteOffset)) a.free(b);
      for (const b of big) {
        expect(a.usableSize(b)).toBeGreaterThanOrEqual(GiB);
        a.free(b);
      }
      a.check();
      const end = a.stats();
      expect(end.liveAllocations).toBe(0);
      expect(end.inUse).toBeLessThan(MiB);
      expect(end.largestFree).toBeGreaterThanOrEqual(4 * GiB);
      // Nothing but a few pages per block was touched.
      expect(process.memoryUsage.rss() - rss0).toBeLessThan(512 * MiB);
    } finally {
      a.destroy();
    }
  }, 60000);

  test.each(ALLOCATORS)("another arena's views are foreign to a 16 GiB arena, whatever their offsets (%s)", (allocator) => {
    const a = arena(allocator, 'fast', 16 * GiB);
    const b = arena(allocator, 'fast', 64 * MiB); // made right after: the next brand keys
    const theirs: Buffer[] = [];
    for (let i = 0; i < 200; i++) theirs.push(b.alloc(64 + (i % 8) * 64));
    const ours = a.alloc(64);
    for (const v of theirs) {
      expectError(() => a.free(v), 'ERR_ARENA_FOREIGN');
      expect(a.owns(v)).toBe(false);
    }
    for (const v of theirs) b.free(v);
    a.free(ours);
    a.check();
    b.check();
    a.destroy();
    b.destroy();
  }, 60000);

  test.each(ALLOCATORS)('a safe view longer than 4 GiB (%s)', (allocator) => {
    const a = arena(allocator, 'safe', 8 * GiB);
    const n = FOUR_GIB + 4096;
    const v = a.alloc(n);
    expect(v.length).toBe(n);
    v[0] = 1;
    v[FOUR_GIB] = 2;
    v[n - 1] = 3;
    expect([v[0], v[FOUR_GIB], v[n - 1]]).toEqual([1, 2, 3]);
    a.check();
    a.free(v);
    expect(v.byteLength).toBe(0);
    expect(a.stats().liveAllocations).toBe(0);
  }, 60000);
});

if (!wide) describe('past 4 GiB (this runtime caps a Buffer at 4 GiB)', () => {
  test.each(ALLOCATORS)('a fast arena over 4 GiB is refused with ERR_OUT_OF_RANGE (%s)', (allocator) => {
    expectError(() => arena(allocator, 'fast', 16 * GiB), 'ERR_OUT_OF_RANGE');
    arena(allocator, 'fast', FOUR_GIB).destroy();
  });

  test.each(ALLOCATORS)('a safe view over 4 GiB is refused with ERR_OUT_OF_RANGE (%s)', (allocator) => {
    const a = arena(allocator, 'safe', 8 * GiB);
    expectError(() => a.alloc(FOUR_GIB + 1), 'ERR_OUT_OF_RANGE');
    a.destroy();
  });
});
