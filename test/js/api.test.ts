/**
 * Happy paths of every public method, for both allocators and both view modes.
 *
 * Alignment proof: in fast mode every view is a window on one region-wide ArrayBuffer whose
 * byte 0 is the start of the mmap'd region (page-aligned), so an address is regionBase +
 * byteOffset. For a ≤ 4096 `byteOffset % a === 0` proves the address is a-aligned; for larger a
 * we assert that all a-aligned blocks share one residue mod a that is a multiple of the page size
 * (equivalent to address alignment for whatever base the region has; 0 when the region base is
 * itself a-aligned). In safe mode each allocation is its own external ArrayBuffer (byteOffset 0),
 * and the API exposes no address at all, so alignment cannot be observed from JavaScript: safe
 * mode asserts size, usability, ownership and freeing of aligned blocks, and relies on the fast
 * mode test for the placement itself (both modes share the allocator; views differ only in
 * wrapping).
 */
import {
  Arena,
  COMBOS,
  KiB,
  MiB,
  PAGE,
  bytes,
  destroyAll,
  expectError,
  isPow2,
  makeArena,
  rng,
  tag,
  TYPED_ARRAY_CTORS,
} from './helpers';

afterEach(destroyAll);

const TYPED = TYPED_ARRAY_CTORS;

function statsAddUp(arena: Arena): void {
  const s = arena.stats();
  expect(s.inUse + s.free).toBe(s.committed);
  expect(s.committed).toBeLessThanOrEqual(s.capacity);
  // (peakCommitted >= committed has its own test, so one defect shows up once)
  expect(s.largestFree).toBeGreaterThanOrEqual(0);
  expect(s.largestFree).toBeLessThanOrEqual(s.capacity);
  for (const k of ['capacity', 'committed', 'inUse', 'free', 'largestFree', 'largestFreeCommitted', 'peakCommitted', 'liveAllocations'] as const) {
    expect(Number.isSafeInteger(s[k])).toBe(true);
    expect(s[k]).toBeGreaterThanOrEqual(0);
  }
}

function dirty(arena: Arena, n: number, count = 8): void {
  // leave freed blocks full of 0xA5 so that a later zeroed allocation has to clear them
  const bs = [];
  for (let i = 0; i < count; i++) {
    const b = arena.alloc(n);
    b.fill(0xa5);
    bs.push(b);
  }
  for (const b of bs) arena.free(b);
}

describe.each(COMBOS)('%s arena, %s views', (allocator, views) => {
  const fast = views === 'fast';

  test('new Arena: stats start empty and add up', () => {
    const arena = makeArena(allocator, views, 16 * MiB);
    const s = arena.stats();
    expect(s.capacity).toBe(16 * MiB);
    expect(s.liveAllocations).toBe(0);
    expect(typeof s.detail).toBe('object'); // allocator-specific detail
    statsAddUp(arena);
  });

  test('stats: exactly the documented fields, each a number where one is promised', () => {
    const s = makeArena(allocator, views, 16 * MiB).stats();
    const numbers = ['capacity', 'committed', 'inUse', 'free', 'largestFree', 'largestFreeCommitted', 'peakCommitted', 'liveAllocations'];
    expect(Object.keys(s).sort()).toEqual([...numbers, 'allocator', 'views', 'corrupted', 'detail'].sort());
    for (const k of numbers) expect(Number.isSafeInteger((s as unknown as Record<string, number>)[k])).toBe(true);
    expect(s.allocator).toBe(allocator);
    expect(s.views).toBe(views);
    expect(s.corrupted).toBe(false);
    expect(s.detail['allocator']).toBe(allocator);
  });

  test('stats: peakCommitted >= committed, always (fresh, busy, after free, after trim)', () => {
    const arena = makeArena(allocator, views, 16 * MiB);
    const seen: Array<[string, number, number]> = [];
    const look = (when: string): void => {
      const s = arena.stats();
      seen.push([when, s.committed, s.peakCommitted]);
    };
    look('fresh');
    const bs = [];
    for (let i = 0; i < 64; i++) bs.push(arena.alloc(16 * KiB + i));
    look('busy');
    for (const b of bs) arena.free(b);
    look('after free');
    arena.trim();
    look('after trim');
    const bad = seen.filter(([, c, p]) => p < c);
    expect(bad).toEqual([]);
  });

  test('stats: reset keeps peakCommitted (the largest committed so far)', () => {
    const arena = makeArena(allocator, views);
    const b = arena.alloc(12 * MiB); // more than reset keeps (retain, 8 MiB)
    b.fill(1);
    arena.free(b);
    const peak = arena.stats().peakCommitted;
    expect(peak).toBeGreaterThanOrEqual(12 * MiB);
    arena.reset();
    const s = arena.stats();
    expect(s.peakCommitted).toBe(peak);
    expect(s.committed).toBeLessThan(peak);
  });

  test('default options: new Arena() and new Arena({}) work', () => {
    for (const a of [new Arena(), new Arena({})]) {
      try {
        const b = a.alloc(100);
        expect(b.byteLength).toBe(100);
        a.free(b);
        expect(a.stats().capacity).toBeGreaterThan(0);
      } finally {
        a.destroy();
      }
    }
  });

  test.each([1, 7, 16, 24, 100, 255, 1000, 4096, 4097, 65537, 300 * KiB + 3, MiB + 5])(
    'alloc(%d): a Buffer of that length over arena memory, readable and writable',
    (n) => {
      const arena = makeArena(allocator, views);
      const before = arena.stats();
      const b = arena.alloc(n);
      expect(Buffer.isBuffer(b)).toBe(true);
      expect(b.byteLength).toBe(n);
      expect(b.length).toBe(n);
      b.fill(0x5a);
      b[0] = 1;
      b[n - 1] = 2;
      expect(b[0]).toBe(n > 1 ? 1 : 2);
      expect(b[n - 1]).toBe(2);
      if (n > 2) expect(b[1]).toBe(0x5a);
      expect(arena.usableSize(b)).toBeGreaterThanOrEqual(n);
      expect(arena.owns(b)).toBe(true);
      const s = arena.stats();
      expect(s.liveAllocations).toBe(before.liveAllocations + 1);
      expect(s.inUse).toBeGreaterThanOrEqual(before.inUse + n);
      statsAddUp(arena);
      if (fast) {
        expect(b.byteOffset + b.byteLength).toBeLessThanOrEqual(b.buffer.byteLength);
        expect(b.byteOffset % 8).toBe(0);
      }
      arena.free(b);
      expect(arena.stats().liveAllocations).toBe(before.liveAllocations);
      if (!fast) expect(b.byteLength).toBe(0);
      statsAddUp(arena);
      arena.check();
    },
  );

  test('alloc(0) (and calloc(0, n), allocArray(C, 0)): a zero-length view that never aliases another block', () => {
    // The API does not say what size 0 gives; accept a zero-length view or ERR_OUT_OF_RANGE,
    // and if it is a view, it must be a real allocation: freeable once, never the start of
    // another live block (or free(zeroView) would free that block)
    const arena = makeArena(allocator, views);
    const zeros: Uint8Array[] = [];
    for (const make of [() => arena.alloc(0), () => arena.calloc(0, 8), () => arena.allocArray(Uint8Array, 0), () => arena.alloc(0)]) {
      try {
        const z = make();
        expect(z.byteLength).toBe(0);
        zeros.push(z);
      } catch (e) {
        expect((e as { code?: string }).code).toBe('ERR_OUT_OF_RANGE');
      }
    }
    const b = arena.alloc(8);
    b.fill(0x42);
    expect(arena.stats().liveAllocations).toBe(zeros.length + 1);
    if (fast) {
      const offs = new Set([...zeros.map((z) => z.byteOffset), b.byteOffset]);
      expect(offs.size).toBe(zeros.length + 1);
    }
    for (const z of zeros) arena.free(z);
    for (const z of zeros) expectError(() => arena.free(z), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
    expect(arena.stats().liveAllocations).toBe(1);
    expect(b.every((x) => x === 0x42)).toBe(true);
    arena.free(b);
    arena.check();
  });

  test('many live blocks keep their own contents and never overlap', () => {
    const arena = makeArena(allocator, views);
    const r = rng(7);
    const live: Buffer[] = [];
    for (let i = 0; i < 500; i++) {
      const n = 1 + Math.floor(r() * 3000);
      const b = arena.alloc(n);
      b.fill(i & 0xff);
      if (n >= 2) b.writeUInt16LE(i, 0);
      live.push(b);
    }
    expect(arena.stats().liveAllocations).toBe(500);
    live.forEach((b, i) => {
      if (b.length >= 2) expect(b.readUInt16LE(0)).toBe(i);
      for (let j = 2; j < b.length; j++) if (b[j] !== (i & 0xff)) throw new Error(`block ${i} byte ${j}`);
    });
    if (fast) {
      const buf = live[0]!.buffer;
      for (const b of live) expect(b.buffer).toBe(buf);
      const ranges = live.map((b) => [b.byteOffset, b.byteOffset + b.byteLength] as const).sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThanOrEqual(ranges[i - 1]![1]);
    } else {
      const set = new Set(live.map((b) => b.buffer));
      expect(set.size).toBe(live.length);
    }
    arena.check();
    for (const b of live) arena.free(b);
    expect(arena.stats().liveAllocations).toBe(0);
    statsAddUp(arena);
    arena.check();
  });

  test('tryAlloc(n) returns a usable Buffer when memory is there', () => {
    const arena = makeArena(allocator, views);
    const b = arena.tryAlloc(1000);
    expect(b).not.toBeNull();
    expect(Buffer.isBuffer(b)).toBe(true);
    expect(b!.byteLength).toBe(1000);
    b!.fill(3);
    expect(arena.owns(b!)).toBe(true);
    expect(arena.stats().liveAllocations).toBe(1);
    arena.free(b!);
    expect(arena.stats().liveAllocations).toBe(0);
  });

  test.each([
    [1, 1],
    [10, 8],
    [512, 8],
    [1000, 3],
    [3, 1000],
    [1, 70000],
    [4096, 64],
  ])('calloc(%d, %d) is zeroed over its whole length, even over dirty reused memory', (count, size) => {
    const arena = makeArena(allocator, views);
    dirty(arena, count * size);
    dirty(arena, 64);
    for (let k = 0; k < 4; k++) {
      const z = arena.calloc(count, size);
      expect(Buffer.isBuffer(z)).toBe(true);
      expect(z.byteLength).toBe(count * size);
      for (let i = 0; i < z.length; i++) if (z[i] !== 0) throw new Error(`calloc byte ${i} = ${z[i]}`);
      expect(arena.usableSize(z)).toBeGreaterThanOrEqual(count * size);
      z.fill(0xa5); // dirty it for the next round
      arena.free(z);
    }
    arena.check();
  });

  test.each(TYPED.map((C) => [C.name, C] as const))(
    'allocArray(%s, n): right kind and length, zeroed, element-aligned, usable, freeable',
    (_name, Ctor) => {
      const arena = makeArena(allocator, views);
      const bpe = Ctor.BYTES_PER_ELEMENT;
      for (const n of [1, 3, 100, 1001, 5000]) {
        dirty(arena, n * bpe, 2);
        const a = arena.allocArray(Ctor, n);
        expect(tag(a)).toBe(Ctor.name);
        expect(a.length).toBe(n);
        expect(a.byteLength).toBe(n * bpe);
        expect(a.byteOffset % bpe).toBe(0);
        if (fast) expect(a.byteOffset % Math.max(bpe, 8)).toBe(0);
        const raw = bytes(a);
        for (let i = 0; i < raw.length; i++) if (raw[i] !== 0) throw new Error(`allocArray byte ${i} = ${raw[i]}`);
        // element writes/reads through the typed array itself
        if (a instanceof BigInt64Array || a instanceof BigUint64Array || tag(a).startsWith('Big')) {
          const big = a as unknown as BigInt64Array;
          big[0] = 5n;
          big[n - 1] = 7n;
          expect(big[0]).toBe(n > 1 ? 5n : 7n);
          expect(big[n - 1]).toBe(7n);
        } else {
          const num = a as unknown as Float64Array;
          num[0] = 5;
          num[n - 1] = 7;
          expect(num[0]).toBe(n > 1 ? 5 : 7);
          expect(num[n - 1]).toBe(7);
        }
        expect(arena.owns(a)).toBe(true);
        expect(arena.usableSize(a)).toBeGreaterThanOrEqual(n * bpe);
        arena.free(a);
        if (!fast) expect(a.byteLength).toBe(0);
      }
      expect(arena.stats().liveAllocations).toBe(0);
      arena.check();
    },
  );

  test.each([16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536])(
    'alignedAlloc(%d, n): aligned blocks (fast: proven via byteOffset), usable, freeable',
    (align) => {
      const arena = makeArena(allocator, views, 64 * MiB);
      const r = rng(align);
      const got: Buffer[] = [];
      const fillers: Buffer[] = [];
      for (const n of [1, 17, align - 1, align, align + 1, 3 * align + 5, 100000]) {
        fillers.push(arena.alloc(1 + Math.floor(r() * 200))); // disturb the placement
        const p = arena.alignedAlloc(align, n);
        expect(Buffer.isBuffer(p)).toBe(true);
        expect(p.byteLength).toBe(n);
        p.fill(0x3c);
        expect(arena.owns(p)).toBe(true);
        expect(arena.usableSize(p)).toBeGreaterThanOrEqual(n);
        got.push(p);
      }
      if (fast) {
        const residues = new Set(got.map((p) => p.byteOffset % align));
        expect(residues.size).toBe(1);
        const residue = [...residues][0]!;
        expect(residue % Math.min(align, PAGE)).toBe(0);
        if (align <= PAGE) expect(residue).toBe(0);
      }
      for (const p of got) for (let i = 0; i < p.length; i++) if (p[i] !== 0x3c) throw new Error('aligned block overwritten');
      arena.check();
      for (const p of [...got, ...fillers]) arena.free(p);
      expect(arena.stats().liveAllocations).toBe(0);
      arena.check();
    },
  );

  test('alignedAlloc in fast mode: region-relative offsets are aligned (region base is page-aligned)', () => {
    if (!fast) return; // see the header comment: safe mode exposes no address
    const arena = makeArena(allocator, views, 64 * MiB);
    for (let align = 16; align <= 65536; align *= 2) {
      const p = arena.alignedAlloc(align, 100);
      expect(p.byteOffset % Math.min(align, PAGE)).toBe(0);
    }
  });

  test('realloc grows, keeping the contents; the old view is dead in safe mode', () => {
    const arena = makeArena(allocator, views);
    const a = arena.alloc(64);
    for (let i = 0; i < 64; i++) a[i] = i;
    const b = arena.realloc(a, 10000);
    expect(Buffer.isBuffer(b)).toBe(true);
    expect(b.byteLength).toBe(10000);
    for (let i = 0; i < 64; i++) expect(b[i]).toBe(i);
    b.fill(9, 64);
    if (!fast) expect(a.byteLength).toBe(0);
    expect(arena.owns(b)).toBe(true);
    expect(arena.stats().liveAllocations).toBe(1);
    expect(arena.usableSize(b)).toBeGreaterThanOrEqual(10000);
    arena.free(b);
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  });

  test('realloc shrinks, keeping the prefix', () => {
    const arena = makeArena(allocator, views);
    const a = arena.alloc(8192);
    for (let i = 0; i < 8192; i++) a[i] = (i * 7) & 0xff;
    const b = arena.realloc(a, 100);
    expect(b.byteLength).toBe(100);
    for (let i = 0; i < 100; i++) expect(b[i]).toBe((i * 7) & 0xff);
    if (!fast) expect(a.byteLength).toBe(0);
    expect(arena.stats().liveAllocations).toBe(1);
    arena.free(b);
    arena.check();
  });

  test('realloc moves when a live neighbour blocks growth; contents survive, neighbour intact', () => {
    const arena = makeArena(allocator, views);
    const a = arena.alloc(100);
    const wall = arena.alloc(100);
    wall.fill(0xee);
    for (let i = 0; i < 100; i++) a[i] = 255 - i;
    const aOff = a.byteOffset;
    const b = arena.realloc(a, 200000);
    expect(b.byteLength).toBe(200000);
    for (let i = 0; i < 100; i++) expect(b[i]).toBe(255 - i);
    b.fill(1, 100);
    for (let i = 0; i < 100; i++) expect(wall[i]).toBe(0xee);
    if (fast) {
      expect(b.byteOffset).not.toBe(aOff); // it had to move
      expect(a.byteLength).toBe(100); // fast mode never detaches
    } else {
      expect(a.byteLength).toBe(0);
    }
    // a chain of reallocs in both directions
    let v = b;
    for (const n of [5, 70000, 33, 4096, 1, 12345]) {
      const keep = Math.min(v.byteLength, n);
      const want = Buffer.from(v.subarray(0, keep));
      const w = arena.realloc(v, n);
      expect(w.byteLength).toBe(n);
      expect(Buffer.compare(w.subarray(0, keep), want)).toBe(0);
      for (let i = 0; i < n; i++) w[i] = (i + n) & 0xff;
      if (!fast) expect(v.byteLength).toBe(0);
      v = w;
    }
    expect(arena.stats().liveAllocations).toBe(2);
    arena.free(v);
    arena.free(wall);
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
  });

  test('realloc of an allocArray view keeps its elements', () => {
    const arena = makeArena(allocator, views);
    const f = arena.allocArray(Float64Array, 10);
    for (let i = 0; i < 10; i++) f[i] = i + 0.5;
    const g = arena.realloc(f, 800);
    expect(g.byteLength).toBe(800);
    const back = new Float64Array(g.buffer, g.byteOffset, 10);
    for (let i = 0; i < 10; i++) expect(back[i]).toBe(i + 0.5);
    if (!fast) expect(f.byteLength).toBe(0);
    arena.free(g);
  });

  test('free releases the block: stats drop, and the memory is reused', () => {
    const arena = makeArena(allocator, views);
    const base = arena.stats();
    const a = arena.alloc(5000);
    expect(arena.stats().inUse).toBeGreaterThan(base.inUse);
    arena.free(a);
    const s = arena.stats();
    expect(s.liveAllocations).toBe(base.liveAllocations);
    expect(s.inUse).toBe(base.inUse);
    if (!fast) expect(a.byteLength).toBe(0);
    // 10,000 alloc/free pairs do not grow the heap
    for (let i = 0; i < 10000; i++) arena.free(arena.alloc(5000));
    expect(arena.stats().inUse).toBe(base.inUse);
    expect(arena.stats().peakCommitted).toBeLessThanOrEqual(s.peakCommitted + 64 * KiB);
  });

  test('usableSize(view) >= requested size (buddy: a power of two)', () => {
    const arena = makeArena(allocator, views);
    for (const n of [1, 15, 16, 17, 100, 1000, 4095, 4097, 100000]) {
      const b = arena.alloc(n);
      const u = arena.usableSize(b);
      expect(Number.isSafeInteger(u)).toBe(true);
      expect(u).toBeGreaterThanOrEqual(n);
      if (allocator === 'buddy') expect(isPow2(u)).toBe(true);
      arena.free(b);
    }
  });

  test('owns: true for its own live views, false for anything else', () => {
    const arena = makeArena(allocator, views);
    const other = makeArena(allocator, views);
    const mine = arena.alloc(64);
    const arr = arena.allocArray(Uint32Array, 16);
    const theirs = other.alloc(64);
    expect(arena.owns(mine)).toBe(true);
    expect(arena.owns(arr)).toBe(true);
    expect(arena.owns(theirs)).toBe(false);
    expect(other.owns(mine)).toBe(false);
    expect(arena.owns(Buffer.alloc(64))).toBe(false);
    expect(arena.owns(Buffer.allocUnsafe(64))).toBe(false);
    expect(arena.owns(new Uint8Array(64))).toBe(false);
    expect(arena.owns(new Float64Array(new SharedArrayBuffer(64)))).toBe(false);
    // owns never detaches or changes anything
    expect(mine.byteLength).toBe(64);
    expect(theirs.byteLength).toBe(64);
    expect(arena.stats().liveAllocations).toBe(2);
  });

  test('stats: liveAllocations counts, inUse covers the live bytes, everything adds up', () => {
    const arena = makeArena(allocator, views);
    const base = arena.stats();
    const live: Buffer[] = [];
    let sum = 0;
    for (let i = 0; i < 200; i++) {
      const n = 1 + ((i * 7919) % 4000);
      live.push(arena.alloc(n));
      sum += n;
      if (i % 20 === 0) statsAddUp(arena);
    }
    let s = arena.stats();
    expect(s.liveAllocations).toBe(200);
    expect(s.inUse - base.inUse).toBeGreaterThanOrEqual(sum);
    expect(s.committed).toBeGreaterThanOrEqual(sum);
    statsAddUp(arena);
    const peak = s.peakCommitted;
    for (let i = 0; i < 100; i++) arena.free(live.pop()!);
    s = arena.stats();
    expect(s.liveAllocations).toBe(100);
    expect(s.peakCommitted).toBeGreaterThanOrEqual(peak);
    statsAddUp(arena);
    for (const b of live) arena.free(b);
    expect(arena.stats().liveAllocations).toBe(0);
    expect(arena.stats().inUse).toBe(base.inUse);
    statsAddUp(arena);
  });

  test('trim returns a number of bytes >= 0 and never raises committed', () => {
    const arena = makeArena(allocator, views, 64 * MiB);
    const bs = [];
    for (let i = 0; i < 32; i++) {
      const b = arena.alloc(256 * KiB);
      b.fill(1); // make the pages resident
      bs.push(b);
    }
    for (const b of bs) arena.free(b);
    const before = arena.stats().committed;
    const released = arena.trim();
    expect(typeof released).toBe('number');
    expect(Number.isSafeInteger(released)).toBe(true);
    expect(released).toBeGreaterThanOrEqual(0);
    const after = arena.stats();
    expect(after.committed).toBeLessThanOrEqual(before);
    statsAddUp(arena);
    expect(arena.trim()).toBeGreaterThanOrEqual(0);
    const b = arena.alloc(1000);
    expect(b.byteLength).toBe(1000);
    arena.check();
  });

  test('check does not throw on a healthy arena, empty or busy', () => {
    const arena = makeArena(allocator, views);
    expect(() => arena.check()).not.toThrow();
    const r = rng(3);
    const live: Buffer[] = [];
    for (let i = 0; i < 2000; i++) {
      if (live.length > 0 && r() < 0.45) arena.free(live.splice(Math.floor(r() * live.length), 1)[0]!);
      else live.push(arena.alloc(1 + Math.floor(r() * 2000)));
      if (i % 250 === 0) expect(() => arena.check()).not.toThrow();
    }
    expect(() => arena.check()).not.toThrow();
  });

  test('reset frees everything at once; the arena stays usable', () => {
    const arena = makeArena(allocator, views);
    const base = arena.stats();
    const old: ArrayBufferView[] = [];
    for (let i = 0; i < 100; i++) old.push(arena.alloc(1 + i * 13));
    old.push(arena.allocArray(Float32Array, 100));
    old.push(arena.calloc(10, 10));
    old.push(arena.alignedAlloc(4096, 10));
    const moved = arena.alloc(10);
    old.push(arena.realloc(moved, 5000));
    arena.reset();
    const s = arena.stats();
    expect(s.liveAllocations).toBe(0);
    expect(s.inUse).toBe(base.inUse);
    statsAddUp(arena);
    if (!fast) {
      for (const v of old) expect(v.byteLength).toBe(0);
      expect(moved.byteLength).toBe(0);
    } else {
      // nothing is detached in fast mode; the old views are stale: not live allocations
      expect(old[0]!.byteLength).toBe(1);
      expectError(() => arena.free(old[5]!), 'ERR_ARENA_NOT_ALLOCATED', { method: 'free' });
    }
    const b = arena.alloc(100);
    b.fill(1);
    expect(arena.stats().liveAllocations).toBe(1);
    arena.check();
    arena.free(b);
    arena.reset();
    arena.reset(); // reset of an empty arena is fine
    arena.check();
  });

  test('destroy: idempotent; every other call afterwards throws ERR_ARENA_DESTROYED', () => {
    const arena = makeArena(allocator, views);
    const v = arena.alloc(100);
    const f = arena.allocArray(Float64Array, 4);
    arena.destroy();
    arena.destroy();
    expect(() => arena.destroy()).not.toThrow();
    if (!fast) {
      expect(v.byteLength).toBe(0);
      expect(f.byteLength).toBe(0);
    }
    const calls: Array<[string, () => unknown]> = [
      ['alloc', () => arena.alloc(10)],
      ['tryAlloc', () => arena.tryAlloc(10)],
      ['calloc', () => arena.calloc(1, 10)],
      ['allocArray', () => arena.allocArray(Uint8Array, 10)],
      ['alignedAlloc', () => arena.alignedAlloc(64, 10)],
      ['realloc', () => arena.realloc(v, 10)],
      ['free', () => arena.free(v)],
      ['usableSize', () => arena.usableSize(v)],
      ['owns', () => arena.owns(v)],
      ['stats', () => arena.stats()],
      ['trim', () => arena.trim()],
      ['check', () => arena.check()],
      ['reset', () => arena.reset()],
    ];
    for (const [name, call] of calls) {
      try {
        expectError(call, 'ERR_ARENA_DESTROYED', { method: name });
      } catch (e) {
        throw new Error(`${name} after destroy: ${(e as Error).message}`);
      }
    }
    arena.destroy();
    arena[Symbol.dispose]();
  });

  test('[Symbol.dispose]() destroys; `using` destroys at block end', () => {
    const arena = makeArena(allocator, views);
    const v = arena.alloc(10);
    expect(typeof arena[Symbol.dispose]).toBe('function');
    arena[Symbol.dispose]();
    expectError(() => arena.alloc(1), 'ERR_ARENA_DESTROYED');
    arena[Symbol.dispose]();
    arena.destroy();
    if (!fast) expect(v.byteLength).toBe(0);

    let escaped: Arena | undefined;
    let view: Buffer | undefined;
    {
      using a = new Arena({ allocator, views, capacity: MiB });
      view = a.alloc(10);
      escaped = a;
    }
    expectError(() => escaped!.alloc(1), 'ERR_ARENA_DESTROYED');
    if (!fast) expect(view.byteLength).toBe(0);
  });

  test('several arenas at once are independent', () => {
    const arenas = [0, 1, 2, 3, 4].map(() => makeArena(allocator, views, 4 * MiB));
    const vs = arenas.map((a, i) => {
      const b = a.alloc(1000);
      b.fill(i + 1);
      return b;
    });
    arenas[2]!.destroy();
    arenas.forEach((a, i) => {
      if (i === 2) return;
      expect(vs[i]!.every((x) => x === i + 1)).toBe(true);
      expect(a.stats().liveAllocations).toBe(1);
      a.free(vs[i]!);
      a.check();
    });
  });
});

describe('mode-specific view shapes', () => {
  afterEach(destroyAll);
  test.each(['dlmalloc', 'buddy'] as const)('%s fast views share one region-wide ArrayBuffer', (allocator) => {
    const arena = makeArena(allocator, 'fast', 8 * MiB);
    const a = arena.alloc(10);
    const b = arena.alloc(10000);
    expect(a.buffer).toBe(b.buffer);
    expect(a.buffer.byteLength).toBeGreaterThanOrEqual(8 * MiB);
  });
  test.each(['dlmalloc', 'buddy'] as const)('%s safe views each own an ArrayBuffer', (allocator) => {
    const arena = makeArena(allocator, 'safe', 8 * MiB);
    const a = arena.alloc(10);
    const b = arena.alloc(10);
    expect(a.buffer).not.toBe(b.buffer);
    expect(a.buffer.byteLength).toBeLessThan(8 * MiB);
  });
});

describe('dlmalloc tuning options belong to their arena', () => {
  test('granularity: each arena grows its heap by its own unit, also after reset', () => {
    const coarse = new Arena({ capacity: 64 * MiB, granularity: 1 * MiB });
    const plain = new Arena({ capacity: 64 * MiB });
    try {
      coarse.alloc(100);
      plain.alloc(100);
      expect(coarse.stats().committed).toBe(1 * MiB);
      expect(plain.stats().committed).toBe(64 * 1024);
      coarse.reset();
      coarse.alloc(100);
      expect(coarse.stats().committed).toBe(1 * MiB);
    } finally {
      coarse.destroy();
      plain.destroy();
    }
  });

  test('mmapThreshold: only the arena that lowered it maps large blocks on their own', () => {
    const low = new Arena({ capacity: 64 * MiB, mmapThreshold: 4096 });
    const plain = new Arena({ capacity: 64 * MiB });
    try {
      for (const a of [low, plain]) {
        a.alloc(10); // the heap exists: a large request may now get its own pages
        a.alloc(100_000);
      }
      const direct = (a: Arena): number => {
        const s = a.stats();
        return s.allocator === 'dlmalloc' ? s.detail.directMappedBytes : NaN;
      };
      expect(direct(low)).toBeGreaterThan(100_000);
      expect(direct(plain)).toBe(0);
    } finally {
      low.destroy();
      plain.destroy();
    }
  });
});
