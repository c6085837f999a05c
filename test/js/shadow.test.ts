/**
 * Randomised shadow-model test from JavaScript: 200,000 operations per allocator and view mode.
 *
 * The model is a list of live blocks (view, id, length). Every block is stamped with a 32-bit
 * pattern unique to its id (Buffer#fill with a 4-byte value, phase-aligned to the block start), and
 * verified before it is freed or reallocated and in full sweeps; so any overlap between two live
 * blocks corrupts a neighbour's pattern and is caught, in both view modes. Fast mode also checks
 * non-overlap directly: byteOffset ranges within the one region-wide ArrayBuffer, kept sorted.
 * Safe mode also checks that freed/reallocated views are detached. stats() is compared with the
 * model every 1,000 operations and check() plus a full sweep runs every 10,000.
 *
 * allocArrayUnsafe is one of the allocations in both modes; in fast mode the offset API takes
 * part too: blocks made by allocOffset and reallocOffset (the model sees them through Buffers over
 * `arena.memory.buffer`, which carry no brand), and any block, however made, may be freed by
 * freeOffset, resized by reallocOffset or queried by usableSizeOffset.
 */
import { Arena, COMBOS, Intervals, KiB, MiB, destroyAll, makeArena, rng } from './helpers';

afterEach(destroyAll);

const OPS = Number(process.env.OFFHEAP_SHADOW_OPS ?? 200000);

interface Block {
  view: Buffer;
  id: number;
  len: number;
  off: number; // byteOffset (meaningful in fast mode)
}

const TYPED = [Uint8Array, Int16Array, Uint32Array, Float32Array, Float64Array, BigUint64Array] as const;

function byteView(v: ArrayBufferView): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function pickSize(r: () => number): number {
  const x = r();
  if (x < 0.6) return 1 + Math.floor(r() * 128);
  if (x < 0.9) return 129 + Math.floor(r() * 3968);
  if (x < 0.995) return 4097 + Math.floor(r() * 61440);
  return 65537 + Math.floor(r() * 458752);
}

function runShadow(arena: Arena, fast: boolean, ops: number, seed: number): Record<string, number> {
  const r = rng(seed);
  const live: Block[] = [];
  const iv = new Intervals();
  const scratch = Buffer.allocUnsafe(1 * MiB);
  const pat = Buffer.alloc(4);
  const counts: Record<string, number> = {
    alloc: 0, calloc: 0, allocArray: 0, alignedAlloc: 0, tryAlloc: 0, free: 0, realloc: 0, query: 0, oom: 0, check: 0,
    allocArrayUnsafe: 0, allocOffset: 0, freeOffset: 0, reallocOffset: 0,
  };
  // fast mode: the region, for the model's views of blocks known by offset
  const region = fast ? arena.memory.buffer : null;
  const regionView = (off: number, len: number): Buffer => Buffer.from(region as ArrayBuffer, off, len);
  let nextId = 1;
  let liveBytes = 0;

  const patternOf = (id: number): Buffer => {
    pat.writeUInt32LE((Math.imul(id, 0x9e3779b1) ^ 0x5bd1e995) >>> 0, 0);
    return pat;
  };
  const stamp = (b: Block): void => {
    if (b.len > 0) b.view.fill(patternOf(b.id), 0, b.len);
  };
  const verify = (b: Block, upTo = b.len): void => {
    if (b.view.byteLength !== b.len) throw new Error(`block ${b.id}: byteLength ${b.view.byteLength}, want ${b.len}`);
    if (upTo === 0) return;
    scratch.fill(patternOf(b.id), 0, upTo);
    if (b.view.compare(scratch, 0, upTo, 0, upTo) !== 0) {
      let at = 0;
      while (b.view[at] === scratch[at]) at++;
      throw new Error(`block ${b.id} (len ${b.len}) corrupted at byte ${at}`);
    }
  };
  const add = (view: Buffer, zeroed: boolean): void => {
    const b: Block = { view, id: nextId++, len: view.byteLength, off: view.byteOffset };
    if (zeroed) {
      for (let i = 0; i < b.len; i++) if (view[i] !== 0) throw new Error(`zeroed block byte ${i} = ${view[i]}`);
    }
    if (fast) {
      if (b.off + b.len > view.buffer.byteLength) throw new Error('view outside the region');
      iv.add(b.off, b.off + b.len);
    }
    stamp(b);
    live.push(b);
    liveBytes += b.len;
  };
  const removeAt = (i: number): Block => {
    const b = live[i]!;
    live[i] = live[live.length - 1]!;
    live.pop();
    if (fast) iv.remove(b.off);
    liveBytes -= b.len;
    return b;
  };
  const onOom = (e: unknown): void => {
    if ((e as { code?: string }).code !== 'ERR_ARENA_OOM') throw e;
    counts.oom!++;
    // free half of what is live
    for (let k = live.length >> 1; k > 0; k--) {
      const b = removeAt(Math.floor(r() * live.length));
      verify(b);
      arena.free(b.view);
    }
  };

  for (let op = 0; op < ops; op++) {
    const L = live.length;
    const pAlloc = L < 16 ? 0.95 : L > 3000 ? 0.2 : 0.52;
    if (r() < pAlloc) {
      const kind = r();
      const n = pickSize(r);
      try {
        if (kind < 0.45) {
          add(arena.alloc(n), false);
          counts.alloc!++;
        } else if (kind < 0.52) {
          const C = TYPED[Math.floor(r() * TYPED.length)]!;
          const a = arena.allocArrayUnsafe(C, Math.floor(n / C.BYTES_PER_ELEMENT));
          if (a.byteOffset % C.BYTES_PER_ELEMENT !== 0) throw new Error('allocArrayUnsafe misaligned');
          add(byteView(a), false);
          counts.allocArrayUnsafe!++;
        } else if (kind < 0.6) {
          if (fast) {
            add(regionView(arena.allocOffset(n), n), false);
            counts.allocOffset!++;
          } else {
            add(arena.alloc(n), false);
            counts.alloc!++;
          }
        } else if (kind < 0.7) {
          const size = 1 + Math.floor(r() * 16);
          const count = Math.max(1, Math.floor(n / size));
          add(arena.calloc(count, size), true);
          counts.calloc!++;
        } else if (kind < 0.8) {
          const C = TYPED[Math.floor(r() * TYPED.length)]!;
          const len = Math.max(1, Math.floor(n / C.BYTES_PER_ELEMENT));
          const a = arena.allocArray(C, len);
          if (a.byteOffset % C.BYTES_PER_ELEMENT !== 0) throw new Error('allocArray misaligned');
          add(byteView(a), true);
          counts.allocArray!++;
        } else if (kind < 0.9) {
          const align = 2 ** (4 + Math.floor(r() * 9)); // 16 … 4096
          const p = arena.alignedAlloc(align, n);
          if (fast && p.byteOffset % align !== 0) throw new Error(`alignedAlloc(${align}) at ${p.byteOffset}`);
          add(p, false);
          counts.alignedAlloc!++;
        } else {
          const p = arena.tryAlloc(n);
          if (p === null) onOom({ code: 'ERR_ARENA_OOM' });
          else add(p, false);
          counts.tryAlloc!++;
        }
      } catch (e) {
        onOom(e);
      }
    } else if (L > 0) {
      const which = r();
      const i = Math.floor(r() * L);
      if (which < 0.6) {
        const b = removeAt(i);
        verify(b);
        if (fast && r() < 0.4) {
          arena.freeOffset(b.off);
          counts.freeOffset!++;
        } else {
          arena.free(b.view);
          counts.free!++;
        }
        if (!fast && b.view.byteLength !== 0) throw new Error('freed safe view not detached');
      } else if (which < 0.9) {
        const b = live[i]!;
        verify(b);
        const n = r() < 0.5 ? pickSize(r) : Math.max(1, Math.floor(b.len * (0.5 + r())));
        const byOffset = fast && r() < 0.3;
        let nv: Buffer;
        try {
          nv = byOffset ? regionView(arena.reallocOffset(b.off, n), n) : arena.realloc(b.view, n);
        } catch (e) {
          verify(b); // a failed realloc keeps the block untouched
          onOom(e);
          continue;
        }
        removeAt(live.indexOf(b));
        if (!fast && b.view.byteLength !== 0) throw new Error('reallocated safe view not detached');
        if (nv.byteLength !== n) throw new Error(`realloc length ${nv.byteLength}, want ${n}`);
        const keep = Math.min(b.len, n);
        const moved: Block = { view: nv, id: b.id, len: n, off: nv.byteOffset };
        verify(moved, keep); // the old contents survived
        if (fast) iv.add(moved.off, moved.off + n);
        moved.id = nextId++;
        stamp(moved);
        live.push(moved);
        liveBytes += n;
        if (byOffset) counts.reallocOffset!++;
        else counts.realloc!++;
      } else {
        const b = live[i]!;
        if (arena.usableSize(b.view) < b.len) throw new Error('usableSize < length');
        if (fast && arena.usableSizeOffset(b.off) !== arena.usableSize(b.view)) throw new Error('usableSizeOffset != usableSize');
        if (!arena.owns(b.view)) throw new Error('owns(live view) is false');
        counts.query!++;
      }
    }
    if (op % 1000 === 999) {
      const s = arena.stats();
      if (s.liveAllocations !== live.length) throw new Error(`op ${op}: liveAllocations ${s.liveAllocations}, model ${live.length}`);
      if (s.inUse + s.free !== s.committed) throw new Error(`op ${op}: inUse + free != committed`);
      if (s.inUse < liveBytes) throw new Error(`op ${op}: inUse ${s.inUse} < live bytes ${liveBytes}`);
      // (peakCommitted >= committed is asserted in api.test.ts; here only the bound by capacity)
      if (s.committed > s.capacity) throw new Error(`op ${op}: committed out of bounds`);
    }
    if (op % 10000 === 9999) {
      arena.check();
      counts.check!++;
      for (const b of live) verify(b);
    }
  }
  for (const b of live) verify(b);
  arena.check();
  while (live.length > 0) arena.free(removeAt(live.length - 1).view);
  const s = arena.stats();
  if (s.liveAllocations !== 0) throw new Error(`after freeing everything, liveAllocations = ${s.liveAllocations}`);
  arena.check();
  return counts;
}

describe.each(COMBOS)('shadow model: %s arena, %s views', (allocator, views) => {
  test(
    `${OPS} random operations: contents, non-overlap, stats, check`,
    () => {
      const arena = makeArena(allocator, views, 256 * MiB);
      const t0 = process.hrtime.bigint();
      const counts = runShadow(arena, views === 'fast', OPS, allocator === 'buddy' ? 0xb0dd1 : 0xd1a11);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const total = Object.entries(counts).filter(([k]) => k !== 'oom' && k !== 'check').reduce((a, [, v]) => a + v, 0);
      expect(total).toBeGreaterThan(OPS * 0.99);
      expect(counts.free! + counts.freeOffset!).toBeGreaterThan(OPS / 5);
      expect(counts.realloc! + counts.reallocOffset!).toBeGreaterThan(OPS / 20);
      expect(counts.allocArrayUnsafe).toBeGreaterThan(OPS / 100);
      if (views === 'fast') {
        for (const k of ['allocOffset', 'freeOffset', 'reallocOffset']) {
          expect({ k, many: counts[k]! > OPS / 100 }).toEqual({ k, many: true });
        }
      }
      // timing goes to stderr so the run's log shows it
      process.stderr.write(
        `[shadow ${allocator}/${views}] ${OPS} ops in ${ms.toFixed(0)} ms (${((ms * 1e6) / OPS).toFixed(0)} ns/op) ${JSON.stringify(counts)}\n`,
      );
    },
    600000,
  );
});

test('shadow model helper sanity: a tiny run of each kind with a small arena hits OOM and recovers', () => {
  for (const [allocator, views] of COMBOS) {
    const arena = makeArena(allocator, views, 2 * MiB);
    const counts = runShadow(arena, views === 'fast', 5000, 42);
    expect(counts.oom).toBeGreaterThan(0);
    expect(arena.stats().liveAllocations).toBe(0);
    void KiB;
  }
}, 120000);
