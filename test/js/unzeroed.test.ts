/**
 * allocArrayUnsafe (typed arrays with unspecified contents), and calloc / allocArray of small
 * blocks served from the spares of fast-view arenas (zeroed in JavaScript), for both allocators
 * and both view modes: kinds, lengths, alignment, the error table, zeroing that reaches every
 * requested byte and no neighbour's, traces and stats.
 */
import {
  Arena,
  COMBOS,
  KiB,
  MiB,
  TYPED_ARRAY_CTORS,
  bytes,
  destroyAll,
  expectError,
  makeArena,
  protoNamed,
  rng,
} from './helpers';

afterEach(destroyAll);

const CTORS = TYPED_ARRAY_CTORS;

const LENGTHS = [0, 1, 2, 3, 7, 8, 15, 16, 17, 100, 1000, 4097, 8191, 8192, 8193, 20000];

describe.each(COMBOS)('%s arena, %s views: allocArrayUnsafe', (allocator, views) => {
  const fast = views === 'fast';

  test.each(CTORS.map((C) => [C.name, C] as const))('%s: kind, length, alignment, usable, free', (name, Ctor) => {
    const arena = makeArena(allocator, views);
    const made: ArrayBufferView[] = [];
    for (const n of LENGTHS) {
      const a = arena.allocArrayUnsafe(Ctor, n);
      expect(protoNamed(a, name)).toBe(true);
      expect(a.length).toBe(n);
      expect(a.byteLength).toBe(n * Ctor.BYTES_PER_ELEMENT);
      expect(a.byteOffset % Ctor.BYTES_PER_ELEMENT).toBe(0);
      if (fast) expect(a.byteOffset % 16).toBe(0);
      expect(arena.owns(a)).toBe(true);
      expect(arena.usableSize(a)).toBeGreaterThanOrEqual(a.byteLength);
      if (n > 0) {
        // writable end to end
        bytes(a).fill(0xa5);
        expect(bytes(a)[a.byteLength - 1]).toBe(0xa5);
      }
      made.push(a);
    }
    expect(arena.stats().liveAllocations).toBe(made.length);
    for (const a of made) arena.free(a);
    for (const a of made) expectError(() => arena.free(a), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  });

  test('the error table: ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, ERR_ARENA_OOM, ERR_ARENA_DESTROYED', () => {
    const arena = makeArena(allocator, views, 4 * MiB);
    const M = 'allocArrayUnsafe';
    class Subclass extends Float64Array {}
    for (const bad of [Array, Buffer, DataView, ArrayBuffer, Object, Subclass, null, undefined, 'Float64Array', 8, {}]) {
      // right after a valid constructor, which the arena remembers: the bad one is still refused
      arena.free(arena.allocArrayUnsafe(Float64Array, 4));
      expectError(() => arena.allocArrayUnsafe(bad as unknown as Float64ArrayConstructor, 4), 'ERR_INVALID_ARG_TYPE', { method: M });
    }
    // switching constructors: each array has its own element size
    for (const ctor of [Uint8Array, Float64Array, Int16Array, Float64Array, BigInt64Array, Uint8Array]) {
      const a = arena.allocArrayUnsafe(ctor, 6);
      expect(a).toBeInstanceOf(ctor);
      expect(a.byteLength).toBe(6 * ctor.BYTES_PER_ELEMENT);
      arena.free(a);
    }
    for (const bad of ['4', null, undefined, 4n, {}]) {
      expectError(() => arena.allocArrayUnsafe(Float64Array, bad as unknown as number), 'ERR_INVALID_ARG_TYPE', { method: M });
    }
    for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
      expectError(() => arena.allocArrayUnsafe(Float64Array, bad), 'ERR_OUT_OF_RANGE', { method: M, value: bad });
    }
    // length * BYTES_PER_ELEMENT beyond the largest allocation (the capacity here)
    expectError(() => arena.allocArrayUnsafe(Float64Array, arena.capacity / 8 + 1), 'ERR_OUT_OF_RANGE', {
      method: M,
      value: arena.capacity + 8,
    });
    expectError(() => arena.allocArrayUnsafe(Uint16Array, arena.capacity / 2 + 1), 'ERR_OUT_OF_RANGE', { method: M });
    const keep = arena.allocArrayUnsafe(Uint8Array, 16);
    const oom = expectError(() => arena.allocArrayUnsafe(Float64Array, arena.capacity / 8), 'ERR_ARENA_OOM', {
      method: M,
    }) as Error & { requested?: number };
    expect(oom.requested).toBe(arena.capacity);
    expect(arena.stats().liveAllocations).toBe(1);
    arena.free(keep);
    arena.check();
    arena.destroy();
    expectError(() => arena.allocArrayUnsafe(Float64Array, 4), 'ERR_ARENA_DESTROYED', { method: M });
    expectError(() => arena.allocArrayUnsafe(null as unknown as Float64ArrayConstructor, -1), 'ERR_ARENA_DESTROYED');
  });

  test('ERR_ARENA_CORRUPTED once the allocator found damage', () => {
    const arena = makeArena(allocator, views, 4 * MiB);
    const a = arena.alloc(100 * KiB);
    const b = arena.alloc(100 * KiB);
    if (fast) {
      const u8 = new Uint8Array(a.buffer);
      if (allocator === 'dlmalloc') {
        u8.fill(0xff, a.byteOffset - 16, a.byteOffset);
        expectError(() => arena.free(a), 'ERR_ARENA_CORRUPTED');
      } else {
        const off = a.byteOffset;
        arena.free(a);
        u8.fill(0xff, off, off + 64);
        expectError(() => arena.allocArrayUnsafe(Uint8Array, 100 * KiB), 'ERR_ARENA_CORRUPTED', { method: 'allocArrayUnsafe' });
      }
      expectError(() => arena.allocArrayUnsafe(Float64Array, 2), 'ERR_ARENA_CORRUPTED', { method: 'allocArrayUnsafe' });
      expectError(() => arena.allocArray(Float64Array, 2), 'ERR_ARENA_CORRUPTED', { method: 'allocArray' });
      expectError(() => arena.calloc(2, 8), 'ERR_ARENA_CORRUPTED', { method: 'calloc' });
    } else {
      // safe views cannot reach the allocator's metadata: nothing to damage from JavaScript
      arena.free(a);
      arena.free(b);
      arena.check();
    }
  });

  test('traces record allocArrayUnsafe as an allocation (a) of its bytes, allocArray as calloc (c)', () => {
    const arena = makeArena(allocator, views);
    arena.startTrace();
    const a = arena.allocArrayUnsafe(Float64Array, 10);
    const b = arena.allocArray(Int32Array, 5);
    const c = arena.allocArrayUnsafe(BigInt64Array, 20000);
    arena.free(a);
    const d = arena.realloc(c, 8);
    arena.free(b);
    arena.free(d);
    expect([...arena.stopTrace()]).toEqual([
      { op: 'alloc', id: 0, size: 80 },
      { op: 'calloc', id: 1, size: 20 },
      { op: 'alloc', id: 2, size: 160000 },
      { op: 'free', id: 0 },
      { op: 'realloc', id: 2, size: 8 },
      { op: 'free', id: 1 },
      { op: 'free', id: 2 },
    ]);
  });
});

describe.each(COMBOS)('%s arena, %s views: calloc and allocArray read as zeros', (allocator, views) => {
  const fast = views === 'fast';

  test('every small size, after the same memory was dirtied: all requested bytes zero, neighbours intact', () => {
    const arena = makeArena(allocator, views, 64 * MiB);
    const sizes: number[] = [];
    for (let n = 0; n <= 300; n++) sizes.push(n);
    for (let n = 301; n <= 70 * KiB; n = Math.ceil(n * 1.09)) sizes.push(n, n + 1, n + 7);
    sizes.push(64 * KiB - 1, 64 * KiB, 64 * KiB + 1);
    for (const n of sizes) {
      // a neighbour on each side, then a dirtied block freed and taken back zeroed
      const before = arena.alloc(n);
      before.fill(0x11);
      const dirty = arena.alloc(n);
      dirty.fill(0xee);
      const after = arena.alloc(n);
      after.fill(0x22);
      const at = dirty.byteOffset;
      arena.free(dirty);
      const z = arena.calloc(n, 1);
      if (fast && n <= 64 * KiB) expect(z.byteOffset).toBe(at); // the same block, from the spares
      for (let i = 0; i < n; i++) if (z[i] !== 0) throw new Error(`calloc(${n}): byte ${i} = ${z[i]}`);
      z.fill(0xee);
      arena.free(z);
      const f = arena.allocArray(Uint8Array, n);
      for (let i = 0; i < n; i++) if (f[i] !== 0) throw new Error(`allocArray(Uint8Array, ${n}): byte ${i} = ${f[i]}`);
      for (let i = 0; i < n; i++) {
        if (before[i] !== 0x11 || after[i] !== 0x22) throw new Error(`size ${n}: a neighbour changed at byte ${i}`);
      }
      arena.free(f);
      arena.free(before);
      arena.free(after);
    }
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  }, 120000);

  test('allocArray of every kind reads as zeros after dirtying (bigint arrays included)', () => {
    const arena = makeArena(allocator, views);
    for (const Ctor of CTORS) {
      for (const n of [1, 3, 16, 33, 1000, 9000]) {
        const d = arena.allocArrayUnsafe(Ctor, n);
        bytes(d).fill(0xff);
        arena.free(d);
        const a = arena.allocArray(Ctor, n);
        const raw = bytes(a);
        for (let i = 0; i < raw.length; i++) if (raw[i] !== 0) throw new Error(`${Ctor.name}(${n}) byte ${i}`);
        arena.free(a);
      }
    }
    arena.check();
  });

  test('calloc: the product checked, overflow refused', () => {
    const arena = makeArena(allocator, views, 4 * MiB);
    expectError(() => arena.calloc(arena.capacity, 2), 'ERR_OUT_OF_RANGE', { method: 'calloc' });
    const z = arena.calloc(7, 9);
    expect(z.length).toBe(63);
    expect(z.every((x) => x === 0)).toBe(true);
    arena.free(z);
  });
});

describe.each(COMBOS)('%s arena, %s views: mixed use, stats and check agree', (allocator, views) => {
  test('random allocArrayUnsafe / allocArray / calloc / alloc / free: contents, zeros, live count', () => {
    const arena: Arena = makeArena(allocator, views, 64 * MiB);
    const r = rng(allocator === 'buddy' ? 0x2e50 : 0x2e51);
    const live: Array<{ v: ArrayBufferView; seed: number }> = [];
    for (let op = 0; op < 8000; op++) {
      if (live.length < 10 || (live.length < 1500 && r() < 0.55)) {
        const n = Math.floor(r() * (r() < 0.9 ? 600 : 90000));
        const k = r();
        let v: ArrayBufferView;
        if (k < 0.35) v = arena.allocArrayUnsafe(CTORS[Math.floor(r() * CTORS.length)]!, n >>> 3);
        else if (k < 0.6) v = arena.allocArray(Float64Array, n >>> 3);
        else if (k < 0.8) v = arena.calloc(n, 1);
        else v = arena.alloc(n);
        if (k >= 0.35 && k < 0.8) {
          const raw = bytes(v);
          for (let i = 0; i < raw.length; i++) if (raw[i] !== 0) throw new Error(`op ${op}: zeroed byte ${i}`);
        }
        const seed = op & 0xff;
        bytes(v).fill(seed);
        live.push({ v, seed });
      } else {
        const i = Math.floor(r() * live.length);
        const { v, seed } = live[i]!;
        live[i] = live[live.length - 1]!;
        live.pop();
        const raw = bytes(v);
        for (let j = 0; j < raw.length; j += 13) if (raw[j] !== seed) throw new Error(`op ${op}: block damaged`);
        arena.free(v);
      }
      if (op % 1000 === 999) {
        expect(arena.stats().liveAllocations).toBe(live.length);
        arena.check();
      }
    }
    for (const { v } of live) arena.free(v);
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  }, 120000);
});
