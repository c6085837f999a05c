/**
 * The README's error table, row by row, for both allocators and both view modes, and out of
 * memory ("Safety promises" 3 and 4).
 */
import * as vm from 'vm';

import { liveNativeArenas } from '../..';
import {
  Arena,
  ArenaError,
  COMBOS,
  KiB,
  MiB,
  destroyAll,
  expectError,
  makeArena,
  protoNamed,
  rng,
} from './helpers';

afterEach(destroyAll);

const CAP = 4 * MiB;

// `any` on purpose: these calls are what a JavaScript (untyped) caller can do.
/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyArena = any;

const NOT_NUMBERS: Array<[string, unknown]> = [
  ['a string', '12'],
  ['undefined', undefined],
  ['null', null],
  ['an object', {}],
  ['a bigint', 12n],
  ['a boolean', true],
  ['an array', [12]],
  ['a Number object', new Number(12)],
];

const BAD_NUMBERS: Array<[string, number]> = [
  ['-1', -1],
  ['NaN', NaN],
  ['1.5', 1.5],
  ['2**53', 2 ** 53],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['capacity + 1', CAP + 1],
  ['2 * capacity', 2 * CAP],
];

const NOT_VIEWS: Array<[string, unknown]> = [
  ['undefined', undefined],
  ['null', null],
  ['a number', 123],
  ['a string', 'abc'],
  ['a plain object', {}],
  ['an object faking a view', { buffer: new ArrayBuffer(8), byteOffset: 0, byteLength: 8 }],
  ['an ArrayBuffer', new ArrayBuffer(8)],
  ['a SharedArrayBuffer', new SharedArrayBuffer(8)],
  ['an array', [1, 2, 3]],
];

describe.each(COMBOS)('%s arena, %s views', (allocator, views) => {
  const fast = views === 'fast';
  let arena: Arena;
  let A: AnyArena;
  beforeEach(() => {
    arena = makeArena(allocator, views, CAP);
    A = arena;
  });

  describe('ERR_INVALID_ARG_TYPE (TypeError)', () => {
    test.each(NOT_NUMBERS)('sizes that are %s', (_what, v) => {
      const live = arena.alloc(32);
      const before = arena.stats();
      expectError(() => A.alloc(v), 'ERR_INVALID_ARG_TYPE', { method: 'alloc', value: v });
      expectError(() => A.tryAlloc(v), 'ERR_INVALID_ARG_TYPE', { method: 'tryAlloc' });
      expectError(() => A.calloc(v, 8), 'ERR_INVALID_ARG_TYPE', { method: 'calloc' });
      expectError(() => A.calloc(8, v), 'ERR_INVALID_ARG_TYPE', { method: 'calloc' });
      expectError(() => A.allocArray(Float64Array, v), 'ERR_INVALID_ARG_TYPE', { method: 'allocArray' });
      expectError(() => A.alignedAlloc(v, 64), 'ERR_INVALID_ARG_TYPE', { method: 'alignedAlloc' });
      expectError(() => A.alignedAlloc(64, v), 'ERR_INVALID_ARG_TYPE', { method: 'alignedAlloc' });
      expectError(() => A.realloc(live, v), 'ERR_INVALID_ARG_TYPE', { method: 'realloc' });
      expect(live.byteLength).toBe(32); // the failed realloc left it alone
      expect(arena.stats()).toEqual(before);
      arena.free(live);
    });

    test.each(NOT_VIEWS)('views that are %s (free, realloc, usableSize)', (_what, v) => {
      const before = arena.stats();
      expectError(() => A.free(v), 'ERR_INVALID_ARG_TYPE', { method: 'free' });
      expectError(() => A.realloc(v, 16), 'ERR_INVALID_ARG_TYPE', { method: 'realloc' });
      expectError(() => A.usableSize(v), 'ERR_INVALID_ARG_TYPE', { method: 'usableSize' });
      expect(arena.stats()).toEqual(before);
    });

    test.each(NOT_VIEWS)('owns(%s) is a TypeError too (a view that is not a typed array/Buffer)', (_what, v) => {
      expectError(() => A.owns(v), 'ERR_INVALID_ARG_TYPE', { method: 'owns' });
    });

    test.each([
      ['Array', Array],
      ['Object', Object],
      ['DataView', DataView],
      ['ArrayBuffer', ArrayBuffer],
      ['a plain function', function f() {}],
      ['a number', 8],
      ['undefined', undefined],
    ] as Array<[string, unknown]>)('allocArray with a constructor that is %s', (_what, C) => {
      expectError(() => A.allocArray(C, 4), 'ERR_INVALID_ARG_TYPE', { method: 'allocArray' });
      expect(arena.stats().liveAllocations).toBe(0);
    });
  });

  describe('ERR_OUT_OF_RANGE (RangeError)', () => {
    test.each(BAD_NUMBERS)('size %s', (_what, n) => {
      const live = arena.alloc(32);
      live.fill(0x77);
      const before = arena.stats();
      expectError(() => arena.alloc(n), 'ERR_OUT_OF_RANGE', { method: 'alloc', value: n });
      expectError(() => arena.calloc(n, 1), 'ERR_OUT_OF_RANGE', { method: 'calloc', value: n });
      expectError(() => arena.calloc(1, n), 'ERR_OUT_OF_RANGE', { method: 'calloc', value: n });
      expectError(() => arena.alignedAlloc(64, n), 'ERR_OUT_OF_RANGE', { method: 'alignedAlloc', value: n });
      expectError(() => arena.realloc(live, n), 'ERR_OUT_OF_RANGE', { method: 'realloc', value: n });
      expect(live.byteLength).toBe(32);
      expect(live.every((x) => x === 0x77)).toBe(true);
      expect(arena.stats()).toEqual(before);
      arena.free(live);
    });

    test.each(BAD_NUMBERS)('tryAlloc(%s) throws (null is only for out of memory)', (_what, n) => {
      expectError(() => arena.tryAlloc(n), 'ERR_OUT_OF_RANGE', { method: 'tryAlloc', value: n });
    });

    test.each(BAD_NUMBERS.filter(([w]) => !w.includes('capacity')))('allocArray length %s', (_what, n) => {
      expectError(() => arena.allocArray(Float64Array, n), 'ERR_OUT_OF_RANGE', { method: 'allocArray', value: n });
    });

    test('allocArray whose byte length exceeds the arena (length * BYTES_PER_ELEMENT)', () => {
      expectError(() => arena.allocArray(Float64Array, CAP / 8 + 1), 'ERR_OUT_OF_RANGE', { method: 'allocArray' });
      expectError(() => arena.allocArray(BigInt64Array, 2 ** 50), 'ERR_OUT_OF_RANGE', { method: 'allocArray' });
      expectError(() => arena.allocArray(Uint32Array, 2 ** 52), 'ERR_OUT_OF_RANGE', { method: 'allocArray' });
      expect(arena.stats().liveAllocations).toBe(0);
    });

    test.each([
      [0],
      [3],
      [24],
      [48],
      [100],
      [1000],
      [4097],
      [65535],
      [-16],
      [1.5],
      [NaN],
      [2 ** 53],
    ])('alignedAlloc alignment %d (not a power of two)', (align) => {
      expectError(() => arena.alignedAlloc(align, 64), 'ERR_OUT_OF_RANGE', { method: 'alignedAlloc', value: align });
      expect(arena.stats().liveAllocations).toBe(0);
    });

    test.each([
      ['2**32 x 2**32', 2 ** 32, 2 ** 32],
      ['2**30 x 2**30', 2 ** 30, 2 ** 30],
      ['2**26 x 2**27 (= 2**53)', 2 ** 26, 2 ** 27],
      ['(2**53-1) x 2', 2 ** 53 - 1, 2],
      ['capacity x 2', CAP, 2],
      ['2 x (capacity/2 + 1)', 2, CAP / 2 + 1],
      ['65537 x 65537', 65537, 65537],
    ])('calloc overflow / too large: %s', (_what, count, size) => {
      expectError(() => arena.calloc(count, size), 'ERR_OUT_OF_RANGE', { method: 'calloc' });
      expect(arena.stats().liveAllocations).toBe(0);
      arena.check();
    });

    test('alignment padding cannot overflow: alignedAlloc(65536, capacity) and (2**30, 16)', () => {
      for (const [a, n] of [
        [65536, CAP],
        [65536, CAP - 1],
        [2 ** 30, 16],
      ] as const) {
        try {
          const p = arena.alignedAlloc(a, n);
          // allowed only if it really fits
          expect(p.byteLength).toBe(n);
          arena.free(p);
        } catch (e) {
          expect(['ERR_OUT_OF_RANGE', 'ERR_ARENA_OOM']).toContain((e as { code?: string }).code);
        }
      }
      arena.check();
      const b = arena.alloc(100);
      arena.free(b);
    });
  });

  describe('ERR_ARENA_FOREIGN (never detached, never modified)', () => {
    const foreignMakers: Array<[string, (other: Arena) => Uint8Array | DataView | Float64Array]> = [
      ['a view of another arena (same kind)', (other) => other.alloc(64)],
      ['Buffer.alloc(64)', () => Buffer.alloc(64)],
      ['Buffer.allocUnsafeSlow(64)', () => Buffer.allocUnsafeSlow(64)],
      ['new Uint8Array(64)', () => new Uint8Array(64)],
      ['a Float64Array', () => new Float64Array(8)],
      ['a SharedArrayBuffer view', () => new Uint8Array(new SharedArrayBuffer(64))],
      ['a DataView', () => new DataView(new ArrayBuffer(64))],
      ['a Uint8Array from another realm', () => vm.runInNewContext('new Uint8Array(64)') as Uint8Array],
      [
        'a Buffer from another realm',
        () => vm.runInNewContext('B.alloc(64)', { B: Buffer }) as Uint8Array,
      ],
    ];

    test.each(foreignMakers)('%s', (_what, make) => {
      const other = makeArena(allocator, views, CAP);
      const v = make(other);
      const raw = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      for (let i = 0; i < raw.length; i++) raw[i] = (i * 3 + 1) & 0xff;
      const len = v.byteLength;
      const before = arena.stats();
      expectError(() => arena.free(v as Uint8Array), 'ERR_ARENA_FOREIGN', { method: 'free' });
      expectError(() => arena.realloc(v as Uint8Array, 128), 'ERR_ARENA_FOREIGN', { method: 'realloc' });
      expectError(() => arena.usableSize(v as Uint8Array), 'ERR_ARENA_FOREIGN', { method: 'usableSize' });
      expect(arena.owns(v as Uint8Array)).toBe(false);
      expect(v.byteLength).toBe(len);
      for (let i = 0; i < raw.length; i++) if (raw[i] !== ((i * 3 + 1) & 0xff)) throw new Error(`foreign byte ${i} changed`);
      expect(arena.stats()).toEqual(before);
      if (other.owns(v as Uint8Array)) {
        // it still belongs to the other arena, alive and well
        expect(other.stats().liveAllocations).toBe(1);
        other.free(v as Uint8Array);
      }
    });

    test('a view of an arena of the other allocator / the other view mode', () => {
      for (const [al, vw] of COMBOS) {
        const other = makeArena(al, vw, CAP);
        const v = other.alloc(100);
        v.fill(9);
        expectError(() => arena.free(v), 'ERR_ARENA_FOREIGN', { method: 'free' });
        expect(v.byteLength).toBe(100);
        expect(v.every((x) => x === 9)).toBe(true);
        other.free(v);
      }
    });

    test('a pooled Buffer.allocUnsafe(64): refused, pool intact, Buffer.from still works', () => {
      const pooled = Buffer.allocUnsafe(64);
      pooled.fill(0x42);
      const poolAb = pooled.buffer;
      const poolLen = poolAb.byteLength;
      expect(poolLen).toBeGreaterThan(64); // it is a slice of the shared pool
      expectError(() => arena.free(pooled), 'ERR_ARENA_FOREIGN', { method: 'free' });
      expectError(() => arena.realloc(pooled, 10), 'ERR_ARENA_FOREIGN', { method: 'realloc' });
      expectError(() => arena.usableSize(pooled), 'ERR_ARENA_FOREIGN', { method: 'usableSize' });
      expect(arena.owns(pooled)).toBe(false);
      expect(pooled.byteLength).toBe(64);
      expect(poolAb.byteLength).toBe(poolLen);
      expect(pooled.every((x) => x === 0x42)).toBe(true);
      const x = Buffer.from('x');
      expect(x.toString()).toBe('x');
      const more = Buffer.allocUnsafe(64);
      more.fill(1);
      expect(more.byteLength).toBe(64);
      expect(Buffer.from('hello').toString()).toBe('hello');
      expect(pooled.every((b) => b === 0x42)).toBe(true);
    });

    test('a fast view of its own region wrapped by hand at a foreign offset is not foreign but not allocated', () => {
      if (!fast) return;
      const b = arena.alloc(256);
      const region = b.buffer;
      // a view on this arena's region that no allocation returned (interior)
      const v = new Uint8Array(region, b.byteOffset + 16, 32);
      expectError(() => arena.free(v), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
      arena.free(b);
    });
  });

  describe('ERR_ARENA_NOT_ALLOCATED', () => {
    test('double free', () => {
      const b = arena.alloc(100);
      const keep = arena.alloc(100);
      arena.free(b);
      const before = arena.stats();
      expectError(() => arena.free(b), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
      expectError(() => arena.realloc(b, 200), 'ERR_ARENA_NOT_ALLOCATED', { method: 'realloc' });
      expectError(() => arena.usableSize(b), 'ERR_ARENA_NOT_ALLOCATED', { method: 'usableSize' });
      expect(arena.stats()).toEqual(before);
      arena.check();
      arena.free(keep);
    });

    test('a subarray of a live block (interior view); the block stays live', () => {
      const b = arena.alloc(256);
      b.fill(0x11);
      for (const sub of [b.subarray(16), b.subarray(1, 9), b.subarray(128, 256)]) {
        expectError(() => arena.free(sub), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
        expectError(() => arena.realloc(sub, 1000), 'ERR_ARENA_NOT_ALLOCATED', { method: 'realloc' });
      }
      expect(b.byteLength).toBe(256);
      expect(b.every((x) => x === 0x11)).toBe(true);
      expect(arena.stats().liveAllocations).toBe(1);
      const f = arena.allocArray(Float64Array, 32);
      expectError(() => arena.free(f.subarray(1)), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
      expect(f.length).toBe(32);
      arena.free(b);
      arena.free(f);
      expect(arena.stats().liveAllocations).toBe(0);
      arena.check();
    });

    test('a stale view: the old view after realloc', () => {
      const a = arena.alloc(64);
      const wall = arena.alloc(64);
      const b = arena.realloc(a, 100000); // must move
      if (fast && a.byteOffset === b.byteOffset) throw new Error('realloc did not move');
      expectError(() => arena.free(a), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
      expect(arena.stats().liveAllocations).toBe(2);
      arena.free(b);
      arena.free(wall);
    });

    test('a stale view: after reset', () => {
      const a = arena.alloc(64);
      arena.reset();
      expectError(() => arena.free(a), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
      expect(arena.stats().liveAllocations).toBe(0);
    });

    test('a stale view whose address now lies inside another live block', () => {
      const a = arena.alloc(64);
      const c = arena.alloc(64);
      arena.free(a);
      arena.free(c);
      const big = arena.alloc(4000);
      big.fill(0x99);
      if (fast) {
        const inside = c.byteOffset > big.byteOffset && c.byteOffset < big.byteOffset + big.byteLength;
        if (inside) {
          expectError(() => arena.free(c), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
        }
      } else {
        expectError(() => arena.free(c), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
        expectError(() => arena.free(a), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
      }
      expect(big.every((x) => x === 0x99)).toBe(true);
      expect(arena.stats().liveAllocations).toBe(1);
      arena.free(big);
      arena.check();
    });

    test('a freed view of another arena is foreign, not ours', () => {
      const other = makeArena(allocator, views, CAP);
      const v = other.alloc(32);
      other.free(v);
      expectError(() => arena.free(v), 'ERR_ARENA_FOREIGN', { method: 'free' });
    });
  });

  describe('ERR_ARENA_OOM and recovery', () => {
    function fill(seed: number): { views: Uint8Array[]; total: number; err: Error } {
      const r = rng(seed);
      const out: Uint8Array[] = [];
      let total = 0;
      for (;;) {
        const n = 1 + 2 * Math.floor(r() * 4000); // odd sizes 1 … 7999
        try {
          const b = arena.alloc(n);
          b[0] = 1;
          b[n - 1] = 1;
          out.push(b);
          total += n;
        } catch (e) {
          const err = expectError(() => {
            throw e;
          }, 'ERR_ARENA_OOM', { method: 'alloc', value: n });
          return { views: out, total, err };
        }
        if (out.length > 1e6) throw new Error('never ran out of memory');
      }
    }

    /** The largest n (to 4 KiB) for which tryAlloc(n) succeeds right now; frees what it got. */
    function largestAllocatable(): number {
      let lo = 0;
      let hi = CAP / 4096;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        const b = arena.tryAlloc(mid * 4096);
        if (b !== null) {
          arena.free(b);
          lo = mid;
        } else {
          hi = mid - 1;
        }
      }
      return lo * 4096;
    }

    test('fill with odd sizes until OOM; OOM changes nothing; every method reports OOM', () => {
      const first = fill(1);
      const usedFraction = first.total / CAP;
      expect(usedFraction).toBeGreaterThan(allocator === 'buddy' ? 0.45 : 0.8);
      expect(first.err.message).toMatch(/largest/i);
      // OOM changes nothing: the arena is consistent and still serves what fits
      arena.check();
      expect(arena.stats().liveAllocations).toBe(first.views.length);
      expect(arena.tryAlloc(CAP - 1)).toBeNull();
      expectError(() => arena.calloc(1, CAP - 1), 'ERR_ARENA_OOM', { method: 'calloc' });
      expectError(() => arena.alignedAlloc(4096, CAP - 4096), 'ERR_ARENA_OOM', { method: 'alignedAlloc' });
      expectError(() => arena.allocArray(Uint8Array, CAP - 1), 'ERR_ARENA_OOM', { method: 'allocArray' });
      const victim = first.views[0]!;
      const vlen = victim.byteLength;
      expectError(() => arena.realloc(victim, CAP - 1), 'ERR_ARENA_OOM', { method: 'realloc' });
      expect(victim.byteLength).toBe(vlen); // a failed realloc keeps the block
      expect(arena.stats().liveAllocations).toBe(first.views.length);
      arena.check();
      for (const b of first.views) arena.free(b);
      expect(arena.stats().liveAllocations).toBe(0);
      arena.check();
    });

    test('after OOM and freeing everything, the full capacity is usable again', () => {
      // "full capacity": one block of the whole arena (buddy: metadata is out of band) or of the
      // arena less 64 KiB of allocator overhead (dlmalloc), as on a fresh arena
      const want = allocator === 'buddy' ? CAP : CAP - 64 * KiB;
      const s0 = arena.stats();
      const freshBig = arena.tryAlloc(want);
      expect(freshBig).not.toBeNull();
      arena.free(freshBig!);
      const fresh = largestAllocatable();
      const first = fill(1);
      for (const b of first.views) arena.free(b);
      const s1 = arena.stats();
      expect(s1.liveAllocations).toBe(0);
      expect(s1.inUse).toBe(s0.inUse);
      arena.check();
      // the same fill sequence fits again, as far as the first time
      const second = fill(1);
      expect(second.views.length).toBeGreaterThanOrEqual(first.views.length);
      for (const b of second.views) arena.free(b);
      arena.check();
      expect(largestAllocatable()).toBeGreaterThanOrEqual(fresh);
      // one block of (nearly) the whole arena fits again
      const big = arena.tryAlloc(want);
      if (big === null) {
        throw new Error(
          `tryAlloc(${want}) failed after freeing everything (fresh arena: ok); largest allocatable now ${largestAllocatable()}, stats ${JSON.stringify(arena.stats())}`,
        );
      }
      big[want - 1] = 1;
      arena.free(big);
      arena.check();
    });

    test('a fresh arena serves one block of (nearly) its whole capacity after other use', () => {
      const want = allocator === 'buddy' ? CAP : CAP - 64 * KiB;
      arena.free(arena.alloc(100));
      const big = arena.tryAlloc(want);
      if (big === null) throw new Error(`tryAlloc(${want}) failed after one alloc(100)/free; largest allocatable ${largestAllocatable()}`);
      arena.free(big);
    });

    test('after OOM and freeing everything, stats().largestFree is back to its fresh value', () => {
      const L0 = arena.stats().largestFree;
      const first = fill(1);
      for (const b of first.views) arena.free(b);
      expect(arena.stats().largestFree).toBeGreaterThanOrEqual(L0);
    });

    test('tryAlloc returns null instead of throwing ERR_ARENA_OOM, and the arena stays usable', () => {
      const live: Uint8Array[] = [];
      let nulls = 0;
      for (let i = 0; i < 100000 && nulls < 3; i++) {
        const b = arena.tryAlloc(3001);
        if (b === null) nulls++;
        else live.push(b);
      }
      expect(nulls).toBe(3);
      expect(arena.tryAlloc(CAP - 1)).toBeNull();
      arena.check();
      arena.free(live.pop()!);
      expect(arena.tryAlloc(3001)).not.toBeNull();
      for (const b of live) arena.free(b);
      expect(arena.tryAlloc(100 * KiB)).not.toBeNull();
    });
  });

  test('bad calls never change the arena (checked before native code)', () => {
    const live = arena.alloc(50);
    live.fill(5);
    const before = arena.stats();
    const junk: unknown[] = [undefined, null, -1, NaN, 1.5, 2 ** 53, '1', {}, [], 1n, Symbol('s')];
    for (const j of junk) {
      for (const call of [
        () => A.alloc(j),
        () => A.calloc(j, j),
        () => A.alignedAlloc(j, j),
        () => A.allocArray(j, j),
        () => A.realloc(j, j),
        () => A.free(j),
        () => A.usableSize(j),
      ]) {
        try {
          call();
        } catch (e) {
          const code = (e as { code?: string }).code;
          expect(['ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE']).toContain(code);
        }
      }
    }
    expect(arena.stats()).toEqual(before);
    expect(live.every((x) => x === 5)).toBe(true);
    arena.check();
  });
});

test('ArenaError is an Error class with a code; TypeError/RangeError rows are built-ins', () => {
  const arena = makeArena('dlmalloc', 'safe', CAP);
  const b = arena.alloc(8);
  arena.free(b);
  let e: unknown;
  try {
    arena.free(b);
  } catch (x) {
    e = x;
  }
  expect(e).toBeInstanceOf(ArenaError);
  expect(e).toBeInstanceOf(Error);
  expect((e as ArenaError).code).toBe('ERR_ARENA_NOT_ALLOCATED');
  expect(typeof (e as Error).message).toBe('string');
  let t: unknown;
  try {
    (arena as AnyArena).alloc('x');
  } catch (x) {
    t = x;
  }
  expect(protoNamed(t, 'TypeError')).toBe(true);
  let r: unknown;
  try {
    arena.alloc(-1);
  } catch (x) {
    r = x;
  }
  expect(protoNamed(r, 'RangeError')).toBe(true);
});

describe('new Arena(options): validation', () => {
  afterEach(destroyAll);
  test.each([
    ['options not an object (5)', 5],
    ['options null', null],
    ['options a string', 'dlmalloc'],
    ['capacity a string', { capacity: '1048576' }],
    ['capacity a bigint', { capacity: 1048576n }],
    ['allocator a number', { allocator: 1 }],
    ['views a boolean', { views: true }],
  ] as Array<[string, unknown]>)('%s → ERR_INVALID_ARG_TYPE', (_what, opts) => {
    const A = Arena as unknown as new (o: unknown) => Arena;
    expectError(() => new A(opts), 'ERR_INVALID_ARG_TYPE', { method: 'Arena' });
  });

  test.each([
    ['capacity -1', -1],
    ['capacity NaN', NaN],
    ['capacity 1.5 MiB + 0.5', 1.5 * MiB + 0.5],
    ['capacity 2**53', 2 ** 53],
    ['capacity Infinity', Infinity],
  ])('%s → ERR_OUT_OF_RANGE', (_what, capacity) => {
    expectError(() => new Arena({ capacity }), 'ERR_OUT_OF_RANGE', { method: 'Arena', value: capacity });
  });

  test.each([
    ['an unknown allocator name', { allocator: 'tlsf' }, 'tlsf'],
    ['an unknown view mode', { views: 'unsafe' }, 'unsafe'],
    ['an unknown option (a typo)', { alocator: 'buddy' }, 'alocator'],
    ['an unknown option whose value is undefined', { capacty: undefined }, 'capacty'],
    ["minBlock on a dlmalloc arena (it is buddy's)", { minBlock: 64 }, 'minBlock'],
    ["granularity on a buddy arena (it is dlmalloc's)", { allocator: 'buddy', granularity: 1 << 20 }, 'granularity'],
    ["trimThreshold on a buddy arena", { allocator: 'buddy', trimThreshold: 0 }, 'trimThreshold'],
    ["mmapThreshold on a buddy arena", { allocator: 'buddy', mmapThreshold: 4096 }, 'mmapThreshold'],
    ['safe views in a shared arena', { shared: true, views: 'safe' }, 'views'],
  ] as Array<[string, unknown, string]>)('%s → ERR_INVALID_ARG_VALUE naming it; no arena is made', (_what, opts, name) => {
    const A = Arena as unknown as new (o: unknown) => Arena;
    const before = liveNativeArenas();
    const e = expectError(() => new A(opts), 'ERR_INVALID_ARG_VALUE', { method: 'Arena' });
    expect(e.message).toContain(name);
    expect(liveNativeArenas()).toBe(before);
  });

  test('every option the README lists is accepted with the allocator it tunes', () => {
    const d = new Arena({ allocator: 'dlmalloc', capacity: MiB, views: 'fast', granularity: 1 << 16, trimThreshold: 1 << 21, mmapThreshold: 1 << 18, shared: false });
    const b = new Arena({ allocator: 'buddy', capacity: MiB, views: 'safe', minBlock: 64, shared: false });
    d.destroy();
    b.destroy();
  });

  test('fast views: a capacity above what one ArrayBuffer can hold is an error, not a crash', () => {
    let a: Arena | undefined;
    try {
      a = new Arena({ views: 'fast', capacity: 5 * 2 ** 30 });
      // allowed if the implementation can really serve it
      const b = a.alloc(100);
      expect(b.byteLength).toBe(100);
    } catch (e) {
      expect((e as { code?: string }).code).toBe('ERR_OUT_OF_RANGE');
    } finally {
      a?.destroy();
    }
  });

  test('many arenas created and destroyed in a row (1 GiB reservations each)', () => {
    for (let i = 0; i < 60; i++) {
      const a = new Arena({ allocator: i % 2 ? 'buddy' : 'dlmalloc', views: i % 3 ? 'safe' : 'fast', capacity: 2 ** 30 });
      const b = a.alloc(1000);
      b[999] = 1;
      a.destroy();
    }
  });
});
