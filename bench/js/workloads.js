/*
 * The workloads of the JavaScript benchmark (bench/js/README.md, "Workloads").
 *
 * A workload is built for one contestant in the child process:
 *   build(c, ctx, scale) -> { body(k) -> acc, prepare(), expect(k) -> acc }
 * body(k) runs k units (compiled with new Function: the contestant's snippets spliced in, sizes
 * as literals where they are fixed, so each loop is monomorphic); prepare() puts the workload in
 * its starting state (outside the timed window: before the warm-up and before every sample);
 * expect(k) is the sink value k units from the current state must return (every loop consumes
 * its blocks: acc += length), so a contestant that does less work is caught.
 *
 * One unit is opsPerUnit operations; ns/op = window time / (units * opsPerUnit).
 * Optional fields: contestants(c) -> boolean, the contestants the workload is for (default all);
 * part, the name of a part of each op the body times itself (the unit's takePartNs() returns
 * the ns it spent in it since the last call; reported per op as the cell's `part`).
 * All random choices come from a seeded generator: every contestant sees the same sequence.
 */
'use strict';

const KiB = 1024;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RING = 16; // GC-managed blocks stay reachable in a ring this long (power of two)

/**
 * What the per-request workloads share: where in the sequence of requests a timed run starts,
 * the bytes the next k requests allocate (the checksum the body returns), and the largest request.
 */
function requestReplay(ctx, d, p) {
  return {
    prepare() {
      ctx.pos = 0;
    },
    expect(k) {
      let e = 0;
      for (let u = 0, q = ctx.pos; u < k; u++, q++) e += d.totals[q % p.requestSeq];
      return e;
    },
    peakLiveBytes: () => Math.max(...d.totals),
  };
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function rng(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Log-uniform integer in [lo, hi]. */
function logUniform(r, lo, hi) {
  return Math.min(hi, Math.floor(Math.exp(Math.log(lo) + r() * (Math.log(hi + 1) - Math.log(lo)))));
}

function sizeName(n) {
  if (n >= GiB && n % GiB === 0) return `${n / GiB} GiB`;
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}
function sizeTag(n) {
  if (n >= MiB && n % MiB === 0) return `${n / MiB}m`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB}k`;
  return String(n);
}

function compile(c, ctx, src) {
  // eslint-disable-next-line no-new-func
  return new Function('ctx', `'use strict'; /* ${c.id} */\n${c.prologue}\n${src}`)(ctx);
}

/** Workload parameters by scale ('full' for quick and full runs, 'tiny' for the self-test). */
function params(scale, seed) {
  const tiny = scale === 'tiny';
  return {
    seed,
    churnLive: tiny ? 64 : 4096, // working set of the churn
    churnMin: 16,
    churnMax: 64 * KiB,
    churnSeq: tiny ? 1024 : 65536, // pre-generated steps (the sequence repeats after this)
    growFrom: 16,
    growTo: tiny ? 256 * KiB : 16 * MiB,
    growFactor: 1.25,
    typedLens: [16, 64, 256, 1024],
    typedLive: 8,
    fillCount: tiny ? 256 : 4096,
    fillMin: 16,
    fillMax: 4 * KiB,
    // per request (request-*, offsets): requestCount allocations of log-uniform
    // requestMin..requestMax bytes; requestSeq different requests, pre-generated, then repeated
    requestCount: 64,
    requestMin: 16,
    requestMax: 2 * KiB,
    requestSeq: tiny ? 8 : 64,
    // reset-4g: resetBlocks blocks of resetBlock bytes touched, then reset()
    resetBlocks: 16,
    resetBlock: 4 * KiB,
  };
}

function pair(size) {
  return {
    id: `pair-${sizeTag(size)}`,
    title: `alloc(${sizeName(size)}) + free`,
    op: 'one allocation and its free (GC-managed: the allocation; the reference is dropped)',
    opsPerUnit: 1,
    liveAfter: 0,
    info: () => ({ size }),
    need: () => ({ bytes: size * 2, peakLiveBytes: size }),
    build(c, ctx) {
      ctx.ring = new Array(RING).fill(undefined);
      const keep = c.gc ? `ring[i & ${RING - 1}] = b;` : c.free('b');
      const body = compile(
        c,
        ctx,
        `const ring = ctx.ring;
        return function body(k) {
          let acc = 0;
          for (let i = 0; i < k; i++) { const b = ${c.alloc(size)}; b[0] = i; acc += b.length; ${keep} }
          return acc;
        };`,
      );
      return { body, prepare() {}, expect: (k) => k * size };
    },
  };
}

function churnData(p) {
  const r = rng(p.seed ^ 0x1a2b3c);
  const init = new Uint32Array(p.churnLive);
  for (let i = 0; i < init.length; i++) init[i] = logUniform(r, p.churnMin, p.churnMax);
  const sizes = new Uint32Array(p.churnSeq);
  const victims = new Uint32Array(p.churnSeq);
  for (let i = 0; i < sizes.length; i++) {
    victims[i] = Math.floor(r() * p.churnLive);
    sizes[i] = logUniform(r, p.churnMin, p.churnMax);
  }
  return { init, sizes, victims };
}

/** Peak of the requested live bytes over the first n steps of the churn from its start. */
function churnPeak(d, n) {
  const live = Float64Array.from(d.init);
  let bytes = live.reduce((a, b) => a + b, 0);
  let peak = bytes;
  const L1 = d.sizes.length - 1;
  for (let p = 0; p < n; p++) {
    const j = p & L1;
    const v = d.victims[j];
    bytes += d.sizes[j] - live[v];
    live[v] = d.sizes[j];
    if (bytes > peak) peak = bytes;
  }
  return peak;
}

const churn = {
  id: 'churn',
  title: 'random-size churn (Larson-style)',
  op: (p) => `one step: free a random one of ${p.churnLive} live blocks, allocate a replacement (log-uniform ${sizeName(p.churnMin)}..${sizeName(p.churnMax)})`,
  opsPerUnit: 1,
  liveAfter: (p) => p.churnLive,
  info: (p) => ({
    liveBlocks: p.churnLive,
    sizes: `log-uniform ${p.churnMin}..${p.churnMax} B`,
    sequence: p.churnSeq,
    seed: p.seed,
  }),
  need(p) {
    const d = churnData(p);
    const peak = churnPeak(d, d.sizes.length);
    return { bytes: peak * 1.5, peakLiveBytes: peak };
  },
  build(c, ctx, p) {
    const d = churnData(p);
    ctx.slots = new Array(p.churnLive).fill(undefined);
    ctx.d = d;
    ctx.pos = 0;
    const L1 = d.sizes.length - 1;
    const body = compile(
      c,
      ctx,
      `const S = ctx.slots, SZ = ctx.d.sizes, V = ctx.d.victims;
      return function body(k) {
        let p = ctx.pos, acc = 0;
        for (let i = 0; i < k; i++, p++) {
          const j = p & ${L1};
          const v = V[j];
          ${c.free('S[v]')}
          const b = ${c.alloc('SZ[j]')};
          b[0] = i; S[v] = b; acc += b.length;
        }
        ctx.pos = p;
        return acc;
      };`,
    );
    const prepare = compile(
      c,
      ctx,
      `const S = ctx.slots, INIT = ctx.d.init;
      return function prepare() {
        ${c.freeAll('S', p.churnLive)}
        for (let v = 0; v < ${p.churnLive}; v++) { const b = ${c.alloc('INIT[v]')}; b[0] = 1; S[v] = b; }
        ctx.pos = 0;
      };`,
    );
    return {
      body,
      prepare,
      expect(k) {
        let e = 0;
        for (let q = 0, pos = ctx.pos; q < k; q++, pos++) e += d.sizes[pos & L1];
        return e;
      },
      peakLiveBytes: (maxOps) => churnPeak(d, maxOps),
    };
  },
};

function growSteps(p) {
  const steps = [p.growFrom];
  while (steps[steps.length - 1] < p.growTo) {
    const n = Math.ceil((steps[steps.length - 1] * p.growFactor) / 16) * 16;
    steps.push(Math.min(n, p.growTo));
  }
  return Float64Array.from(steps);
}

const realloc = {
  id: 'realloc-grow',
  title: (p) => `realloc growth ${sizeName(p.growFrom)} -> ${sizeName(p.growTo)}`,
  op: (p) =>
    `one whole growth: alloc ${sizeName(p.growFrom)}, realloc up in x${p.growFactor} steps to ${sizeName(p.growTo)} ` +
    '(the last byte written at each step), free',
  opsPerUnit: 1,
  liveAfter: 0,
  info: (p) => ({ from: p.growFrom, to: p.growTo, factor: p.growFactor, steps: growSteps(p).length - 1 }),
  need: (p) => ({ bytes: p.growTo * 3, peakLiveBytes: p.growTo }),
  build(c, ctx, p) {
    ctx.steps = growSteps(p);
    const NS = ctx.steps.length;
    const body = compile(
      c,
      ctx,
      `const ST = ctx.steps;
      return function body(k) {
        let acc = 0;
        for (let i = 0; i < k; i++) {
          let b = ${c.alloc(p.growFrom)};
          b[0] = 7;
          for (let s = 1; s < ${NS}; s++) { const n = ST[s]; b = ${c.realloc('b', 'n')}; b[n - 1] = s; }
          if (b[0] !== 7) throw new Error('realloc lost the contents');
          acc += b.length;
          ${c.free('b')}
        }
        return acc;
      };`,
    );
    return { body, prepare() {}, expect: (k) => k * p.growTo };
  },
};

function typedData(p) {
  const r = rng(p.seed ^ 0x7f4a7c15);
  const seq = new Uint16Array(4096);
  for (let i = 0; i < seq.length; i++) seq[i] = p.typedLens[Math.floor(r() * p.typedLens.length)];
  return seq;
}

/**
 * typed-pool (allocArray, zeroed) and typed-unsafe (allocArrayUnsafe: contents unspecified, as
 * typedarray-pool's mallocDouble and Buffer.allocUnsafe give them).
 */
function typedWorkload(unsafe) {
  return {
    id: unsafe ? 'typed-unsafe' : 'typed-pool',
    title: unsafe ? 'Float64Array pooling, unzeroed (allocArrayUnsafe)' : 'Float64Array pooling',
    op:
      'one Float64Array released and another allocated (lengths 16/64/256/1024 at random, 8 live, first and last element written)' +
      (unsafe ? '; offheap: allocArrayUnsafe + free' : ''),
    opsPerUnit: 1,
    // Unzeroed: the contestants whose Float64Arrays are not zeroed anyway (or who have both calls).
    contestants: unsafe ? (c) => c.family !== 'gc' || c.id === 'allocUnsafe' : undefined,
    liveAfter: (p) => p.typedLive,
    info: (p) => ({ lengths: p.typedLens, live: p.typedLive }),
    need: (p) => ({ bytes: p.typedLive * 8 * Math.max(...p.typedLens) * 2, peakLiveBytes: p.typedLive * 8 * Math.max(...p.typedLens) }),
    build(c, ctx, p) {
      const seq = typedData(p);
      const f64 = unsafe && c.f64Unsafe ? c.f64Unsafe : c.f64;
      ctx.seq = seq;
      ctx.slots = new Array(p.typedLive).fill(undefined);
      ctx.pos = 0;
      const body = compile(
        c,
        ctx,
        `const S = ctx.slots, LS = ctx.seq;
        return function body(k) {
          let p = ctx.pos, acc = 0;
          for (let i = 0; i < k; i++, p++) {
            const s = p & ${p.typedLive - 1};
            ${c.freeF64('S[s]')}
            const len = LS[p & 4095];
            const a = ${f64('len')};
            a[0] = i; a[len - 1] = i;
            S[s] = a; acc += a.length;
          }
          ctx.pos = p;
          return acc;
        };`,
      );
      const prepare = compile(
        c,
        ctx,
        `const S = ctx.slots, LS = ctx.seq;
        return function prepare() {
          ${c.freeAll('S', p.typedLive)}
          for (let s = 0; s < ${p.typedLive}; s++) S[s] = ${f64('LS[4095 - s]')};
          ctx.pos = 0;
        };`,
      );
      return {
        body,
        prepare,
        expect(k) {
          let e = 0;
          for (let q = 0, pos = ctx.pos; q < k; q++, pos++) e += seq[pos & 4095];
          return e;
        },
        peakLiveBytes(maxOps) {
          const live = Array.from({ length: p.typedLive }, (_, s) => seq[4095 - s] * 8);
          let bytes = live.reduce((a, b) => a + b, 0);
          let peak = bytes;
          for (let q = 0; q < maxOps; q++) {
            const s = q & (p.typedLive - 1);
            bytes += seq[q & 4095] * 8 - live[s];
            live[s] = seq[q & 4095] * 8;
            if (bytes > peak) peak = bytes;
          }
          return peak;
        },
      };
    },
  };
}
const typed = typedWorkload(false);
const typedUnsafe = typedWorkload(true);

function fillData(p) {
  const r = rng(p.seed ^ 0x5eed);
  const sizes = new Uint32Array(p.fillCount);
  for (let i = 0; i < sizes.length; i++) sizes[i] = logUniform(r, p.fillMin, p.fillMax);
  return sizes;
}

const fill = {
  id: 'fill-free',
  title: 'fill once, free all',
  op: (p) =>
    `one block of a phase: ${p.fillCount} random-size blocks (${sizeName(p.fillMin)}..${sizeName(p.fillMax)}) allocated, ` +
    'then all freed at once (offheap: reset; @thi.ng: freeAll; typedarray-pool: free each; GC: drop)',
  opsPerUnit: (p) => p.fillCount,
  liveAfter: (p) => p.fillCount, // memory is read with one phase filled (probe)
  info: (p) => ({ blocksPerPhase: p.fillCount, sizes: `log-uniform ${p.fillMin}..${p.fillMax} B` }),
  need(p) {
    const s = fillData(p).reduce((a, b) => a + b, 0);
    return { bytes: s * 2, peakLiveBytes: s };
  },
  build(c, ctx, p) {
    const sizes = fillData(p);
    const total = sizes.reduce((a, b) => a + b, 0);
    ctx.sizes = sizes;
    ctx.slots = new Array(p.fillCount).fill(undefined);
    const body = compile(
      c,
      ctx,
      `const S = ctx.slots, SZ = ctx.sizes;
      return function body(k) {
        let acc = 0;
        for (let u = 0; u < k; u++) {
          for (let j = 0; j < ${p.fillCount}; j++) { const b = ${c.alloc('SZ[j]')}; b[0] = j; S[j] = b; acc += b.length; }
          ${c.freeAll('S', p.fillCount)}
          S.fill(undefined);
        }
        return acc;
      };`,
    );
    // For the memory figures: one phase filled and left live (outside any window), then freed.
    const probe = compile(
      c,
      ctx,
      `const S = ctx.slots, SZ = ctx.sizes;
      return {
        fill() { for (let j = 0; j < ${p.fillCount}; j++) { const b = ${c.alloc('SZ[j]')}; b[0] = j; S[j] = b; } },
        release() { ${c.freeAll('S', p.fillCount)} S.fill(undefined); },
      };`,
    );
    return { body, prepare() {}, expect: (k) => k * total, probe };
  },
};

/* ---------------------------------------------------------------------------------------------
 * Per request (issue 12): what an arena per request is for.
 * ------------------------------------------------------------------------------------------- */

/** The sizes of the requests: requestSeq requests of requestCount sizes, one after the other. */
function requestData(p) {
  const r = rng(p.seed ^ 0x2e9c5a);
  const sizes = new Uint32Array(p.requestSeq * p.requestCount);
  for (let i = 0; i < sizes.length; i++) sizes[i] = logUniform(r, p.requestMin, p.requestMax);
  const totals = new Float64Array(p.requestSeq);
  for (let q = 0; q < p.requestSeq; q++) {
    for (let j = 0; j < p.requestCount; j++) totals[q] += sizes[q * p.requestCount + j];
  }
  return { sizes, totals };
}

const isArena = (c) => c.family === 'offheap';

/**
 * request-256m, request-4g: one request's allocations, then everything freed at once (offheap:
 * reset() of an arena of the given capacity; GC-managed: the references dropped, as a request
 * handler's buffers are; @thi.ng: freeAll; typedarray-pool: free each). One op = one request.
 */
function request(capacity, tag, only) {
  return {
    id: `request-${tag}`,
    title: (p) =>
      `per request: ${p.requestCount} allocations (${sizeName(p.requestMin)}..${sizeName(p.requestMax)}), then free all; ` +
      `arenas of ${sizeName(capacity)}`,
    op: (p) =>
      `one request: ${p.requestCount} blocks of seeded log-uniform sizes allocated (first byte written), then all freed ` +
      `(offheap: reset() of a ${sizeName(capacity)} arena; @thi.ng: freeAll; typedarray-pool: free each; GC: drop)`,
    opsPerUnit: 1,
    liveAfter: (p) => p.requestCount, // memory is read with one request's blocks live (probe)
    contestants: only,
    info: (p) => ({
      allocationsPerRequest: p.requestCount,
      sizes: `log-uniform ${p.requestMin}..${p.requestMax} B`,
      requests: p.requestSeq,
      capacity,
      seed: p.seed,
    }),
    need(p) {
      const d = requestData(p);
      const peak = Math.max(...d.totals);
      return { bytes: peak * 2, peakLiveBytes: peak, capacity };
    },
    build(c, ctx, p) {
      const d = requestData(p);
      ctx.d = d;
      ctx.slots = new Array(p.requestCount).fill(undefined);
      ctx.pos = 0;
      const N = p.requestCount;
      const body = compile(
        c,
        ctx,
        `const S = ctx.slots, SZ = ctx.d.sizes;
        return function body(k) {
          let q = ctx.pos, acc = 0;
          for (let u = 0; u < k; u++, q++) {
            const base = (q % ${p.requestSeq}) * ${N};
            for (let j = 0; j < ${N}; j++) { const b = ${c.alloc('SZ[base + j]')}; b[0] = j; S[j] = b; acc += b.length; }
            ${c.freeAll('S', N)}
            S.fill(undefined);
          }
          ctx.pos = q;
          return acc;
        };`,
      );
      const probe = compile(
        c,
        ctx,
        `const S = ctx.slots, SZ = ctx.d.sizes;
        return {
          fill() { for (let j = 0; j < ${N}; j++) { const b = ${c.alloc('SZ[j]')}; b[0] = j; S[j] = b; } },
          release() { ${c.freeAll('S', N)} S.fill(undefined); },
        };`,
      );
      return { body, ...requestReplay(ctx, d, p), probe };
    },
  };
}

/**
 * offsets: the offset level, the same size mix as a request, every block freed by itself
 * (offheap fast views: allocOffset/freeOffset and one view of the region; @thi.ng: MemPool
 * malloc/free of addresses; Buffer.allocUnsafe: a Buffer, dropped). One op = one allocation and
 * its free.
 */
const offsets = {
  id: 'offsets',
  title: (p) => `offset-level alloc + free (${sizeName(p.requestMin)}..${sizeName(p.requestMax)})`,
  op: (p) =>
    `one allocation and its free: ${p.requestCount} blocks of a request's sizes allocated (first byte written through ` +
    'a view of the whole memory), then each freed in order (offheap: allocOffset/freeOffset; @thi.ng: malloc/free)',
  opsPerUnit: (p) => p.requestCount,
  liveAfter: 0,
  contestants: (c) => c.off != null,
  info: (p) => ({ blocks: p.requestCount, sizes: `log-uniform ${p.requestMin}..${p.requestMax} B`, requests: p.requestSeq }),
  need(p) {
    const peak = Math.max(...requestData(p).totals);
    return { bytes: peak * 2, peakLiveBytes: peak };
  },
  build(c, ctx, p) {
    const d = requestData(p);
    ctx.d = d;
    ctx.slots = new Array(p.requestCount).fill(0);
    ctx.pos = 0;
    const N = p.requestCount;
    const o = c.off;
    const body = compile(
      c,
      ctx,
      `${o.prologue}
      const S = ctx.slots, SZ = ctx.d.sizes;
      return function body(k) {
        let q = ctx.pos, acc = 0;
        for (let u = 0; u < k; u++, q++) {
          const base = (q % ${p.requestSeq}) * ${N};
          for (let j = 0; j < ${N}; j++) { const n = SZ[base + j]; const h = ${o.alloc('n')}; ${o.write('h', 'j')} S[j] = h; acc += n; }
          for (let j = 0; j < ${N}; j++) { ${o.free('S[j]')} }
        }
        ctx.pos = q;
        return acc;
      };`,
    );
    return { body, ...requestReplay(ctx, d, p) };
  },
};

/**
 * reset-4g: reset() of a 4 GiB arena in which resetBlocks x resetBlock bytes were allocated and
 * touched (a byte written in every page). One op = the whole cycle (allocations, writes, reset);
 * the reset alone is timed too (process.hrtime.bigint() around each call): the `part` figure,
 * which the absolute target (<= 10 us) is checked on. Arenas only: there is no baseline.
 */
const reset4g = {
  id: 'reset-4g',
  title: (p) => `reset() of a 4 GiB arena with ${sizeName(p.resetBlocks * p.resetBlock)} touched`,
  op: (p) =>
    `one cycle: ${p.resetBlocks} blocks of ${sizeName(p.resetBlock)} allocated and a byte written in each of their pages, ` +
    'then reset(); "reset() alone" times only the reset() calls',
  opsPerUnit: 1,
  liveAfter: 0,
  contestants: isArena,
  part: 'reset() alone',
  info: (p) => ({ capacity: 4 * GiB, blocks: p.resetBlocks, blockBytes: p.resetBlock, touchedBytes: p.resetBlocks * p.resetBlock }),
  need: (p) => ({ bytes: p.resetBlocks * p.resetBlock, peakLiveBytes: p.resetBlocks * p.resetBlock, capacity: 4 * GiB }),
  build(c, ctx, p) {
    ctx.partNs = 0n;
    const B = p.resetBlock;
    const body = compile(
      c,
      ctx,
      `const hr = process.hrtime.bigint;
      return function body(k) {
        let acc = 0;
        for (let u = 0; u < k; u++) {
          for (let j = 0; j < ${p.resetBlocks}; j++) {
            const b = ${c.alloc(B)};
            for (let x = 0; x < ${B}; x += 4096) b[x] = j;
            b[${B - 1}] = j;
            acc += b.length;
          }
          const t0 = hr();
          ${c.freeAll('undefined', 0)}
          ctx.partNs += hr() - t0;
        }
        return acc;
      };`,
    );
    return {
      body,
      prepare() {},
      expect: (k) => k * p.resetBlocks * B,
      // ns spent in reset() since the last call
      takePartNs() {
        const t = Number(ctx.partNs);
        ctx.partNs = 0n;
        return t;
      },
    };
  },
};

/* typed-unsafe: typed-pool through the unzeroed call (allocArrayUnsafe); see typedWorkload. */

const WORKLOADS = [
  pair(16),
  pair(64),
  pair(256),
  pair(4 * KiB),
  pair(64 * KiB),
  pair(MiB),
  churn,
  realloc,
  typed,
  typedUnsafe,
  fill,
  request(256 * MiB, '256m'),
  request(4 * GiB, '4g', (c) => isArena(c) || c.id === 'allocUnsafe'),
  offsets,
  reset4g,
];

/** The contestants (of those given) that run workload w: its `contestants` filter, or all. */
function contestantsOf(w, cs) {
  return typeof w.contestants === 'function' ? cs.filter((c) => w.contestants(c)) : cs;
}

function workloadById(id) {
  const w = WORKLOADS.find((x) => x.id === id);
  if (!w) throw new Error(`unknown workload ${id}`);
  return w;
}

/** A workload field that may depend on the parameters. */
function field(w, name, p) {
  const v = w[name];
  return typeof v === 'function' ? v(p) : v;
}

module.exports = { WORKLOADS, workloadById, contestantsOf, params, field, sizeName, rng, RING };
