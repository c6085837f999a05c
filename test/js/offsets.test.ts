/**
 * The offset API of fast-view arenas: allocOffset, freeOffset, reallocOffset, usableSizeOffset and
 * the region's typed arrays (`arena.memory`), for both allocators; safe-view arenas refuse all of
 * it. Happy paths, each error code, alignment, contents across reallocOffset, offsets mixed with
 * views (a block made one way freed the other), traces, and a randomised run of offsets and views
 * together against a model (contents, non-overlap, stats, check).
 */
import {
  ALLOCATORS,
  Arena,
  Intervals,
  KiB,
  MiB,
  destroyAll,
  expectError,
  makeArena,
  rng,
  tag,
} from './helpers';

afterEach(destroyAll);

const SIZES = [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 128, 129, 255, 256, 511, 512, 513, 1000, 4095, 4096, 4097];
const LARGE = [64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 100 * KiB, 1 * MiB];

describe('safe-view arenas refuse the offset API', () => {
  test.each(ALLOCATORS)('%s: every offset method and memory throw ERR_INVALID_STATE', (allocator) => {
    const arena = makeArena(allocator, 'safe');
    const b = arena.alloc(64);
    expectError(() => arena.allocOffset(64), 'ERR_INVALID_STATE', { method: 'allocOffset' });
    expectError(() => arena.freeOffset(0), 'ERR_INVALID_STATE', { method: 'freeOffset' });
    expectError(() => arena.reallocOffset(0, 64), 'ERR_INVALID_STATE', { method: 'reallocOffset' });
    expectError(() => arena.usableSizeOffset(0), 'ERR_INVALID_STATE', { method: 'usableSizeOffset' });
    expectError(() => arena.memory, 'ERR_INVALID_STATE', { method: 'memory' });
    // refused before the arguments are looked at, and nothing changed
    expectError(() => arena.allocOffset(-1 as number), 'ERR_INVALID_STATE');
    expect(arena.stats().liveAllocations).toBe(1);
    arena.free(b);
    arena.check();
  });
});

describe.each(ALLOCATORS)('%s arena, fast views: the offset API', (allocator) => {
  const make = (capacity = 16 * MiB): Arena => makeArena(allocator, 'fast', capacity);

  test('memory: typed arrays over the whole region, made once, frozen', () => {
    const arena = make();
    const m = arena.memory;
    expect(arena.memory).toBe(m);
    expect(Object.isFrozen(m)).toBe(true);
    const b = arena.alloc(16);
    expect(m.buffer).toBe(b.buffer);
    const views: Array<[string, ArrayBufferView & { length?: number; BYTES_PER_ELEMENT?: number }, string]> = [
      ['u8', m.u8, 'Uint8Array'],
      ['i8', m.i8, 'Int8Array'],
      ['u16', m.u16, 'Uint16Array'],
      ['i16', m.i16, 'Int16Array'],
      ['u32', m.u32, 'Uint32Array'],
      ['i32', m.i32, 'Int32Array'],
      ['f32', m.f32, 'Float32Array'],
      ['f64', m.f64, 'Float64Array'],
      ['u64', m.u64, 'BigUint64Array'],
      ['i64', m.i64, 'BigInt64Array'],
      ['dataView', m.dataView, 'DataView'],
    ];
    for (const [name, v, t] of views) {
      expect({ name, tag: tag(v) }).toEqual({ name, tag: t });
      expect(v.buffer).toBe(m.buffer);
      expect(v.byteOffset).toBe(0);
      expect(v.byteLength).toBe(arena.capacity);
    }
    // one memory, many views of it
    const p = arena.allocOffset(16);
    m.f64[p / 8] = 1.25;
    expect(m.dataView.getFloat64(p, true)).toBe(1.25);
    m.u32[p / 4 + 2] = 0xdeadbeef;
    expect(m.u8[p + 8]).toBe(0xef);
    arena.freeOffset(p);
    arena.free(b);
  });

  test('allocOffset: 16-aligned offsets inside the region, usable size, free; every size class and large ones', () => {
    const arena = make(32 * MiB);
    const { u8 } = arena.memory;
    const live: Array<[number, number]> = [];
    for (const n of [...SIZES, ...LARGE]) {
      const off = arena.allocOffset(n);
      expect(Number.isInteger(off)).toBe(true);
      expect(off % 16).toBe(0);
      expect(off).toBeGreaterThanOrEqual(0);
      expect(off + n).toBeLessThanOrEqual(arena.capacity);
      expect(arena.usableSizeOffset(off)).toBeGreaterThanOrEqual(n);
      u8.fill(live.length & 0xff, off, off + n);
      live.push([off, n]);
    }
    expect(arena.stats().liveAllocations).toBe(live.length);
    live.forEach(([off, n], i) => {
      for (let k = 0; k < n; k += 97) if (u8[off + k] !== (i & 0xff)) throw new Error(`block ${i} overwritten`);
      arena.freeOffset(off);
    });
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  });

  test('alignment: index = offset / BYTES_PER_ELEMENT is an integer in every view', () => {
    const arena = make();
    const m = arena.memory;
    for (let n = 1; n <= 300; n += 13) {
      const off = arena.allocOffset(n * 8);
      for (const v of [m.u16, m.u32, m.f32, m.f64, m.u64]) expect(Number.isInteger(off / v.BYTES_PER_ELEMENT)).toBe(true);
      m.f64.fill(n, off / 8, off / 8 + n);
      expect(m.f64[off / 8 + n - 1]).toBe(n);
    }
    arena.reset();
  });

  test('freeOffset: double free, interior, spare and never-allocated offsets are ERR_ARENA_NOT_ALLOCATED and change nothing', () => {
    const arena = make();
    const keep = arena.allocOffset(64);
    const a = arena.allocOffset(64);
    const big = arena.allocOffset(200 * KiB);
    arena.freeOffset(a);
    // freed (a spare now), freed twice, interior, unaligned, the unused top of the region
    for (const off of [a, keep + 16, keep + 1, keep + 8, big + 16, big + 4096, arena.capacity - 16, arena.capacity - 1]) {
      expectError(() => arena.freeOffset(off), 'ERR_ARENA_NOT_ALLOCATED', { method: 'freeOffset', value: off });
    }
    arena.freeOffset(big);
    expectError(() => arena.freeOffset(big), 'ERR_ARENA_NOT_ALLOCATED', { value: big });
    expect(arena.stats().liveAllocations).toBe(1);
    arena.check();
    // the block kept is still the user's
    arena.freeOffset(keep);
    expectError(() => arena.freeOffset(keep), 'ERR_ARENA_NOT_ALLOCATED');
    arena.check();
  });

  test('freeOffset of random offsets: never corruption, live blocks untouched', () => {
    const arena = make();
    const { u8 } = arena.memory;
    const r = rng(0x0ff5e7);
    const live = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const n = 1 + Math.floor(r() * (r() < 0.9 ? 512 : 100 * KiB));
      const off = arena.allocOffset(n);
      u8.fill(i & 0xff, off, off + n);
      live.set(off, i);
    }
    let refused = 0;
    for (let k = 0; k < 5000; k++) {
      const starts = [...live.keys()];
      const near = starts[Math.floor(r() * starts.length)]!;
      const off = r() < 0.5 ? Math.floor(r() * arena.capacity) : Math.max(0, near + 16 * Math.floor(r() * 9 - 4));
      if (live.has(off)) continue;
      expectError(() => arena.freeOffset(off), 'ERR_ARENA_NOT_ALLOCATED');
      refused++;
    }
    expect(refused).toBeGreaterThan(4000);
    arena.check();
    expect(arena.stats().liveAllocations).toBe(live.size);
    for (const [off, i] of live) {
      expect(u8[off]).toBe(i & 0xff);
      arena.freeOffset(off);
    }
    arena.check();
  });

  test('argument errors: ERR_INVALID_ARG_TYPE and ERR_OUT_OF_RANGE', () => {
    const arena = make();
    const cap = arena.capacity;
    const p = arena.allocOffset(64);
    for (const bad of ['16', null, undefined, 16n, {}, [16]]) {
      expectError(() => arena.allocOffset(bad as unknown as number), 'ERR_INVALID_ARG_TYPE', { method: 'allocOffset' });
      expectError(() => arena.freeOffset(bad as unknown as number), 'ERR_INVALID_ARG_TYPE', { method: 'freeOffset' });
      expectError(() => arena.reallocOffset(bad as unknown as number, 8), 'ERR_INVALID_ARG_TYPE', { method: 'reallocOffset' });
      expectError(() => arena.reallocOffset(p, bad as unknown as number), 'ERR_INVALID_ARG_TYPE', { method: 'reallocOffset' });
      expectError(() => arena.usableSizeOffset(bad as unknown as number), 'ERR_INVALID_ARG_TYPE', { method: 'usableSizeOffset' });
    }
    for (const bad of [-1, -16, 1.5, NaN, Infinity, -Infinity, cap, cap + 16, 2 ** 53]) {
      expectError(() => arena.freeOffset(bad), 'ERR_OUT_OF_RANGE', { method: 'freeOffset', value: bad });
      expectError(() => arena.reallocOffset(bad, 8), 'ERR_OUT_OF_RANGE', { method: 'reallocOffset', value: bad });
      expectError(() => arena.usableSizeOffset(bad), 'ERR_OUT_OF_RANGE', { method: 'usableSizeOffset', value: bad });
    }
    for (const bad of [-1, 1.5, NaN, Infinity, cap + 1, 2 ** 53]) {
      expectError(() => arena.allocOffset(bad), 'ERR_OUT_OF_RANGE', { method: 'allocOffset', value: bad });
      expectError(() => arena.reallocOffset(p, bad), 'ERR_OUT_OF_RANGE', { method: 'reallocOffset', value: bad });
    }
    // nothing changed
    expect(arena.stats().liveAllocations).toBe(1);
    arena.freeOffset(p);
    arena.check();
  });

  test('ERR_ARENA_OOM: allocOffset and reallocOffset, the old block kept', () => {
    const arena = make(1 * MiB);
    const { u8 } = arena.memory;
    const p = arena.allocOffset(1000);
    u8.fill(0x5a, p, p + 1000);
    const guard = arena.allocOffset(16); // (a lone buddy block could grow in place to the whole region)
    const e = expectError(() => arena.allocOffset(arena.capacity), 'ERR_ARENA_OOM', { method: 'allocOffset' }) as Error & {
      requested?: number;
    };
    expect(e.requested).toBe(arena.capacity);
    expectError(() => arena.reallocOffset(p, arena.capacity), 'ERR_ARENA_OOM', { method: 'reallocOffset' });
    expect(arena.usableSizeOffset(p)).toBeGreaterThanOrEqual(1000);
    expect(u8.subarray(p, p + 1000).every((x) => x === 0x5a)).toBe(true);
    // fill the arena with offsets until it is full, then give everything back
    const offs: number[] = [];
    for (;;) {
      try {
        offs.push(arena.allocOffset(4096));
      } catch (err) {
        expect((err as { code?: string }).code).toBe('ERR_ARENA_OOM');
        break;
      }
    }
    expect(offs.length).toBeGreaterThan(100);
    for (const o of offs) arena.freeOffset(o);
    arena.freeOffset(p);
    arena.freeOffset(guard);
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  });

  test('ERR_ARENA_DESTROYED: every offset method and memory after destroy; views made before still read', () => {
    const arena = make();
    const m = arena.memory;
    const p = arena.allocOffset(64);
    m.u8[p] = 7;
    arena.destroy();
    expectError(() => arena.allocOffset(64), 'ERR_ARENA_DESTROYED', { method: 'allocOffset' });
    expectError(() => arena.freeOffset(p), 'ERR_ARENA_DESTROYED', { method: 'freeOffset' });
    expectError(() => arena.reallocOffset(p, 8), 'ERR_ARENA_DESTROYED', { method: 'reallocOffset' });
    expectError(() => arena.usableSizeOffset(p), 'ERR_ARENA_DESTROYED', { method: 'usableSizeOffset' });
    expectError(() => arena.memory, 'ERR_ARENA_DESTROYED', { method: 'memory' });
    // the destroyed check comes before the arguments'
    expectError(() => arena.freeOffset(-1), 'ERR_ARENA_DESTROYED');
    expect(m.u8.byteLength).toBe(arena.capacity); // nothing detached; the pages read as zeros
    expect(m.u8[p]).toBe(0);
  });

  test('ERR_ARENA_CORRUPTED: damaged metadata found through the offset API', () => {
    const arena = make();
    const { u8 } = arena.memory;
    const p = arena.allocOffset(100 * KiB);
    const q = arena.allocOffset(100 * KiB);
    if (allocator === 'dlmalloc') {
      u8.fill(0xff, p - 16, p); // the chunk header in front of the block
      expectError(() => arena.freeOffset(p), 'ERR_ARENA_CORRUPTED', { method: 'freeOffset' });
    } else {
      arena.freeOffset(p);
      u8.fill(0xff, p, p + 64); // the free block's list links
      expectError(() => arena.allocOffset(100 * KiB), 'ERR_ARENA_CORRUPTED', { method: 'allocOffset' });
    }
    // the arena now refuses everything, small blocks included
    expectError(() => arena.allocOffset(16), 'ERR_ARENA_CORRUPTED');
    expectError(() => arena.freeOffset(q), 'ERR_ARENA_CORRUPTED');
    expectError(() => arena.usableSizeOffset(q), 'ERR_ARENA_CORRUPTED');
    expectError(() => arena.reallocOffset(q, 8), 'ERR_ARENA_CORRUPTED');
  });

  test('reallocOffset: contents survive growing and shrinking, across the small-block limit; the old offset is dead once moved', () => {
    const arena = make(32 * MiB);
    const { u8 } = arena.memory;
    const r = rng(77);
    const fillPattern = (off: number, n: number, seed: number): void => {
      for (let i = 0; i < n; i++) u8[off + i] = (seed + i * 31) & 0xff;
    };
    const same = (off: number, n: number, seed: number): boolean => {
      for (let i = 0; i < n; i++) if (u8[off + i] !== ((seed + i * 31) & 0xff)) return false;
      return true;
    };
    const other = arena.allocOffset(48); // a neighbour that must stay intact
    fillPattern(other, 48, 200);
    let off = arena.allocOffset(24);
    let len = 24;
    fillPattern(off, len, 1);
    const steps = [100, 16, 600, 5000, 64 * KiB, 70 * KiB, 300 * KiB, 2000, 1, 0, 40];
    for (let k = 0; k < 200; k++) steps.push(Math.floor(r() * (r() < 0.8 ? 4096 : 200 * KiB)));
    for (const n of steps) {
      const next = arena.reallocOffset(off, n);
      expect(next % 16).toBe(0);
      expect(arena.usableSizeOffset(next)).toBeGreaterThanOrEqual(n);
      expect(same(next, Math.min(len, n), 1)).toBe(true);
      if (next !== off) expectError(() => arena.freeOffset(off), 'ERR_ARENA_NOT_ALLOCATED');
      off = next;
      len = n;
      fillPattern(off, len, 1);
    }
    expect(same(other, 48, 200)).toBe(true);
    expect(arena.stats().liveAllocations).toBe(2);
    arena.check();
    arena.freeOffset(off);
    arena.freeOffset(other);
    expectError(() => arena.reallocOffset(off, 10), 'ERR_ARENA_NOT_ALLOCATED', { method: 'reallocOffset', value: off });
    expectError(() => arena.usableSizeOffset(off), 'ERR_ARENA_NOT_ALLOCATED', { method: 'usableSizeOffset', value: off });
    arena.check();
  });

  test('offsets and views mix: a block made one way is freed the other, exactly once', () => {
    const arena = make();
    const m = arena.memory;
    // allocOffset, freed through views of the region (no brand: buffer and byteOffset decide)
    const a = arena.allocOffset(64);
    expectError(() => arena.free(m.u8.subarray(a + 16, a + 64)), 'ERR_ARENA_NOT_ALLOCATED'); // interior
    arena.free(m.u8.subarray(a, a + 64));
    expectError(() => arena.freeOffset(a), 'ERR_ARENA_NOT_ALLOCATED');
    expectError(() => arena.free(m.u8.subarray(a, a + 64)), 'ERR_ARENA_NOT_ALLOCATED');
    const b = arena.allocOffset(200 * KiB);
    arena.free(new Float64Array(m.buffer, b, 16));
    expectError(() => arena.freeOffset(b), 'ERR_ARENA_NOT_ALLOCATED');
    // a Buffer from view({ offset, length }) of an offset block
    const c = arena.allocOffset(100);
    const cv = arena.view({ offset: c, length: 100 });
    expect(arena.owns(cv)).toBe(true);
    expect(arena.usableSize(cv)).toBe(arena.usableSizeOffset(c));
    expect(arena.ref(cv)).toEqual({ offset: c, length: 100 });
    arena.free(cv);
    expectError(() => arena.freeOffset(c), 'ERR_ARENA_NOT_ALLOCATED');
    // alloc / allocArrayUnsafe / calloc, freed by offset; the view is then stale
    const d = arena.alloc(40);
    const e = arena.allocArrayUnsafe(Float64Array, 5000);
    const f = arena.calloc(3, 7);
    arena.freeOffset(d.byteOffset);
    arena.freeOffset(e.byteOffset);
    arena.freeOffset(f.byteOffset);
    expectError(() => arena.free(d), 'ERR_ARENA_NOT_ALLOCATED');
    expectError(() => arena.free(e), 'ERR_ARENA_NOT_ALLOCATED');
    expectError(() => arena.free(f), 'ERR_ARENA_NOT_ALLOCATED');
    // realloc of an offset block through a view, reallocOffset of a view's block
    const g = arena.allocOffset(32);
    m.u8.fill(9, g, g + 32);
    const gv = arena.realloc(m.u8.subarray(g, g + 32), 5000);
    expect(gv.subarray(0, 32).every((x) => x === 9)).toBe(true);
    const h = arena.reallocOffset(gv.byteOffset, 100);
    expect(m.u8.subarray(h, h + 32).every((x) => x === 9)).toBe(true);
    arena.freeOffset(h);
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  });

  test('a block of another arena is not this one\'s: its offset is refused here and stays live there', () => {
    const one = make();
    const two = make();
    const keepTwo = two.allocOffset(16); // so that two has a block start where one has none
    const p = one.allocOffset(64);
    if (p !== keepTwo) expectError(() => two.freeOffset(p), 'ERR_ARENA_NOT_ALLOCATED');
    expectError(() => two.free(one.memory.u8.subarray(p, p + 64)), 'ERR_ARENA_FOREIGN');
    one.freeOffset(p);
    two.freeOffset(keepTwo);
    one.check();
    two.check();
  });

  test('traces record allocOffset, reallocOffset and freeOffset as a, r and f, mixed with views', () => {
    const arena = make();
    const m = arena.memory;
    arena.startTrace();
    const a = arena.allocOffset(100);
    const b = arena.alloc(50);
    const a2 = arena.reallocOffset(a, 3000);
    arena.freeOffset(b.byteOffset);
    const c = arena.allocArrayUnsafe(Float32Array, 10);
    arena.free(m.u8.subarray(a2, a2 + 1));
    arena.freeOffset(c.byteOffset);
    const trace = arena.stopTrace();
    expect([...trace]).toEqual([
      { op: 'alloc', id: 0, size: 100 },
      { op: 'alloc', id: 1, size: 50 },
      { op: 'realloc', id: 0, size: 3000 },
      { op: 'free', id: 1 },
      { op: 'alloc', id: 1, size: 40 },
      { op: 'free', id: 0 },
      { op: 'free', id: 1 },
    ]);
    arena.check();
  });

  test('reset: offsets from before are refused, the memory views stay the same objects', () => {
    const arena = make();
    const m = arena.memory;
    const offs = [arena.allocOffset(16), arena.allocOffset(1000), arena.allocOffset(100 * KiB)];
    arena.reset();
    expect(arena.memory).toBe(m);
    for (const o of offs) {
      try {
        arena.freeOffset(o);
        throw new Error(`freeOffset(${o}) after reset succeeded`);
      } catch (e) {
        expect((e as { code?: string }).code).toBe('ERR_ARENA_NOT_ALLOCATED');
      }
    }
    const p = arena.allocOffset(16);
    arena.freeOffset(p);
    arena.check();
  });
});

describe.each(ALLOCATORS)('%s arena, shared: the offset API takes the locked native calls', (allocator) => {
  test('allocOffset, reallocOffset, usableSizeOffset, freeOffset, memory; an attached handle sees the same blocks', () => {
    const arena = new Arena({ allocator, shared: true, capacity: 16 * MiB });
    try {
      const m = arena.memory;
      const other = Arena.attach(arena.share());
      expect(other.memory).not.toBe(m);
      const offs: number[] = [];
      for (const n of [0, 16, 100, 5000, 100 * KiB]) {
        const off = arena.allocOffset(n);
        expect(off % 16).toBe(0);
        expect(arena.usableSizeOffset(off)).toBeGreaterThanOrEqual(n);
        if (n > 0) m.u8[off] = n & 0xff;
        offs.push(off);
      }
      const moved = arena.reallocOffset(offs[2]!, 300 * KiB);
      expect(m.u8[moved]).toBe(100);
      offs[2] = moved;
      // the attached handle frees them, exactly once
      for (const off of offs) other.freeOffset(off);
      for (const off of offs) expectError(() => arena.freeOffset(off), 'ERR_ARENA_NOT_ALLOCATED');
      expect(arena.stats().liveAllocations).toBe(0);
      arena.check();
    } finally {
      arena.destroy();
    }
  });
});

// ---- a randomised run of offsets and views together, against a model ------------------------

describe.each(ALLOCATORS)('%s arena, fast views: offsets and views at random against a model', (allocator) => {
  test('30,000 operations: no two live blocks overlap, contents kept, stats and check agree', () => {
    const arena = makeArena(allocator, 'fast', 64 * MiB);
    const { u8 } = arena.memory;
    const r = rng(allocator === 'buddy' ? 0x0ffb : 0x0ffd);
    interface Blk {
      off: number;
      len: number;
      seed: number;
      view: ArrayBufferView | null; // null: an offset block
    }
    const live: Blk[] = [];
    const iv = new Intervals();
    let seedNext = 1;
    const stampB = (b: Blk): void => {
      for (let i = 0; i < b.len; i += 7) u8[b.off + i] = (b.seed + i) & 0xff;
    };
    const verify = (b: Blk, upTo = b.len): void => {
      for (let i = 0; i < upTo; i += 7) {
        if (u8[b.off + i] !== ((b.seed + i) & 0xff)) throw new Error(`block at ${b.off} (len ${b.len}) damaged at ${i}`);
      }
    };
    const add = (off: number, len: number, view: ArrayBufferView | null, zeroed: boolean): void => {
      if (off % 16 !== 0) throw new Error(`offset ${off} not 16-aligned`);
      if (zeroed) for (let i = 0; i < len; i++) if (u8[off + i] !== 0) throw new Error(`zeroed block byte ${i}`);
      iv.add(off, off + len);
      const b = { off, len, seed: seedNext++, view };
      stampB(b);
      live.push(b);
    };
    const take = (i: number): Blk => {
      const b = live[i]!;
      live[i] = live[live.length - 1]!;
      live.pop();
      iv.remove(b.off);
      return b;
    };
    const size = (): number => {
      const x = r();
      return x < 0.7 ? Math.floor(r() * 256) : x < 0.95 ? Math.floor(r() * 8192) : Math.floor(r() * 300 * KiB);
    };
    const counts: Record<string, number> = {};
    const count = (k: string): void => {
      counts[k] = (counts[k] ?? 0) + 1;
    };
    for (let op = 0; op < 30000; op++) {
      const pAlloc = live.length < 16 ? 0.9 : live.length > 2000 ? 0.2 : 0.5;
      if (r() < pAlloc) {
        const n = size();
        const k = r();
        if (k < 0.4) {
          add(arena.allocOffset(n), n, null, false);
          count('allocOffset');
        } else if (k < 0.55) {
          const b = arena.alloc(n);
          add(b.byteOffset, n, b, false);
          count('alloc');
        } else if (k < 0.7) {
          const a = arena.allocArrayUnsafe(Float64Array, n >>> 3);
          add(a.byteOffset, a.byteLength, a, false);
          count('allocArrayUnsafe');
        } else if (k < 0.85) {
          const a = arena.allocArray(Uint16Array, n >>> 1);
          add(a.byteOffset, a.byteLength, a, true);
          count('allocArray');
        } else {
          const b = arena.calloc(n, 1);
          add(b.byteOffset, n, b, true);
          count('calloc');
        }
      } else if (live.length > 0) {
        const i = Math.floor(r() * live.length);
        const w = r();
        if (w < 0.7) {
          const b = take(i);
          verify(b);
          // a block is freed by offset or by a view, whichever way it was made
          if (r() < 0.5) {
            arena.freeOffset(b.off);
            count('freeOffset');
          } else {
            arena.free(b.view ?? u8.subarray(b.off, b.off + b.len));
            count('free');
          }
          if (r() < 0.05) expectError(() => arena.freeOffset(b.off), 'ERR_ARENA_NOT_ALLOCATED');
        } else if (w < 0.9) {
          const b = take(i);
          verify(b);
          const n = size();
          const off = arena.reallocOffset(b.off, n);
          const moved: Blk = { off, len: n, seed: b.seed, view: null };
          verify(moved, Math.min(b.len, n));
          add(off, n, null, false);
          count('reallocOffset');
        } else {
          const b = live[i]!;
          if (arena.usableSizeOffset(b.off) < b.len) throw new Error('usableSizeOffset below the length');
          count('usableSizeOffset');
        }
      }
      if (op % 1000 === 999) {
        const s = arena.stats();
        expect(s.liveAllocations).toBe(live.length);
        expect(s.inUse + s.free).toBe(s.committed);
        expect(s.inUse).toBeGreaterThanOrEqual(live.reduce((a, b) => a + b.len, 0));
      }
      if (op % 5000 === 4999) {
        arena.check();
        for (const b of live) verify(b);
      }
    }
    for (const k of ['allocOffset', 'alloc', 'allocArrayUnsafe', 'allocArray', 'calloc', 'freeOffset', 'free', 'reallocOffset']) {
      expect({ k, n: (counts[k] ?? 0) > 100 }).toEqual({ k, n: true });
    }
    while (live.length > 0) {
      const b = take(live.length - 1);
      verify(b);
      arena.freeOffset(b.off);
    }
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  }, 120000);
});
