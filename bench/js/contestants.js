/*
 * The contestants of the JavaScript benchmark (bench/js/README.md, "Contestants").
 *
 * Each contestant describes its operations as JavaScript source snippets, which the workloads
 * (workloads.js) and the trace replay (replay.js) splice into loops compiled with new Function,
 * one function per contestant and workload, so every loop stays monomorphic:
 *
 *   prologue          statements run once; bind the contestant's objects (A arena, P pool,
 *                     T typedarray-pool) and helper functions from ctx
 *   alloc(n)          expression: a new block of n bytes (a Buffer or Uint8Array of length n)
 *   calloc(n)         expression: the same, zeroed
 *   free(b)           statement: give block b back ('' for GC-managed contestants: dropping the
 *                     reference is their free)
 *   realloc(b, n)     expression: block b resized to n bytes, contents kept (contestants
 *                     without realloc: allocate new, copy, free/drop the old one)
 *   f64(len)          expression: a Float64Array of len elements
 *   freeF64(a)        statement: give Float64Array a back
 *   freeAll(S, k)     statement: free every block in S[0..k) (slots may be undefined); the
 *                     caller drops the references afterwards
 *   f64Unsafe(len)    optional expression: a Float64Array of len elements, contents unspecified
 *                     (offheap: allocArrayUnsafe); f64 where absent (its f64 does not zero, or
 *                     it has no unzeroed call)
 *   off               optional, the offset level (workload `offsets`): { prologue, alloc(n): an
 *                     expression giving a handle (an offset, or a Buffer for the baseline),
 *                     write(h, v): a statement storing byte v at the block's start, free(h) }
 *
 * setup(ctx, need) creates the contestant's objects for a workload (need.bytes: the largest
 * amount of memory the workload can hold at once, for fixed-size pools), memory(ctx) reports
 * what the contestant knows about its own memory, teardown(ctx) releases it. `needs` names the
 * package a contestant loads beyond offheap itself (devDependencies of offheap: an installed
 * offheap runs without them, and the harness leaves such a contestant out; see installed()).
 */
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const MiB = 1024 * 1024;

/** Copy-and-replace realloc for contestants without one; MAKE is the allocation expression. */
function copyRealloc(name, make, release) {
  return `function ${name}(b, n) {
    const t = ${make};
    if (b.length <= n) t.set(b); else t.set(b.subarray(0, n));
    ${release}
    return t;
  }`;
}

function arena(allocator, views) {
  const id = `${allocator === 'dlmalloc' ? 'dl' : 'buddy'}-${views}`;
  return {
    id,
    label: `offheap ${allocator} ${views}`,
    short: id,
    family: 'offheap',
    gc: false,
    allocator,
    views,
    description:
      `new Arena({ allocator: '${allocator}', views: '${views}' }): arena.alloc(n) / arena.free(b) / ` +
      'arena.calloc(n, 1) / arena.realloc(b, n) / arena.allocArray(Float64Array, len) (unzeroed: allocArrayUnsafe); ' +
      `free all: arena.reset()${views === 'fast' ? '; offsets: arena.allocOffset(n) / arena.freeOffset(off)' : ''}`,
    prologue: 'const A = ctx.arena;',
    alloc: (n) => `A.alloc(${n})`,
    calloc: (n) => `A.calloc(${n}, 1)`,
    free: (b) => `A.free(${b});`,
    realloc: (b, n) => `A.realloc(${b}, ${n})`,
    f64: (len) => `A.allocArray(Float64Array, ${len})`,
    f64Unsafe: (len) => `A.allocArrayUnsafe(Float64Array, ${len})`,
    freeF64: (a) => `A.free(${a});`,
    freeAll: () => 'A.reset();',
    // The offset API (fast views only): offsets into one view of the whole region.
    off:
      views === 'fast'
        ? {
            prologue: 'const U8 = A.memory.u8;',
            alloc: (n) => `A.allocOffset(${n})`,
            write: (h, v) => `U8[${h}] = ${v};`,
            free: (h) => `A.freeOffset(${h});`,
          }
        : null,
    async setup(ctx, need) {
      const { Arena } = require(ROOT);
      // Room for the workload's peak, its allocator's rounding (buddy: powers of two) and
      // fragmentation; address space only, pages become resident when touched. A workload
      // that is about the capacity (request-4g, reset-4g) names it: need.capacity.
      let capacity = 256 * MiB;
      while (capacity < need.bytes * 4 && capacity < 4096 * MiB) capacity *= 2;
      if (need.capacity !== undefined) capacity = need.capacity;
      ctx.arena = new Arena({ allocator, views, capacity });
      // Check that it does what it claims.
      const b = ctx.arena.alloc(64);
      if (!Buffer.isBuffer(b) || b.length !== 64 || !ctx.arena.owns(b)) throw new Error(`${id}: bad view`);
      b.fill(1);
      ctx.arena.free(b);
      if (views === 'safe' && b.byteLength !== 0) throw new Error(`${id}: safe view not detached by free`);
    },
    memory(ctx) {
      const s = ctx.arena.stats();
      return {
        source: 'arena.stats()',
        committed: s.committed,
        inUse: s.inUse,
        peakCommitted: s.peakCommitted,
        liveAllocations: s.liveAllocations,
      };
    },
    // Replay memory pass: the arena's own exact high-water, stats().peakCommitted, read only
    // before a reset (which may start it anew) and at the end: stats() also hands a fast
    // arena's spare blocks back to the allocator, so reading it more often would change what
    // is measured.
    committedSource: 'arena.stats().peakCommitted (read before each reset and at the end)',
    probeCommitted(ctx, boundary) {
      return boundary ? ctx.arena.stats().peakCommitted : null;
    },
    teardown(ctx) {
      ctx.arena.destroy();
    },
  };
}

function gcManaged(id, short, label, expr, description, f64) {
  return {
    id,
    short,
    label,
    family: 'gc',
    gc: true,
    description,
    prologue: `${copyRealloc('R', expr('n'), '')}
      function F(len) { ${f64 ? `return ${f64('len')};` : `const b = ${expr('len * 8')}; return new Float64Array(b.buffer, b.byteOffset, len);`} }`,
    alloc: (n) => expr(n),
    calloc: (n) => (id === 'allocUnsafe' || id === 'allocUnsafeSlow' ? `Buffer.alloc(${n})` : expr(n)),
    free: () => '',
    realloc: (b, n) => `R(${b}, ${n})`,
    f64: (len) => `F(${len})`,
    freeF64: () => '',
    freeAll: () => '',
    // The offset level of a GC-managed program is a Buffer of the size, dropped (the baseline).
    off:
      id === 'allocUnsafe'
        ? { prologue: '', alloc: (n) => expr(n), write: (h, v) => `${h}[0] = ${v};`, free: () => '' }
        : null,
    async setup() {},
    memory: () => null,
    committedSource: 'peak RSS growth (sampled every 64 ops)',
    probeCommitted: () => null,
    teardown() {},
  };
}

const CONTESTANTS = [
  arena('dlmalloc', 'safe'),
  arena('dlmalloc', 'fast'),
  arena('buddy', 'safe'),
  arena('buddy', 'fast'),
  gcManaged(
    'allocUnsafe',
    'allocU',
    'Buffer.allocUnsafe',
    (n) => `Buffer.allocUnsafe(${n})`,
    'Buffer.allocUnsafe(n) (Node\'s 8 KiB pool below 4 KiB); calloc: Buffer.alloc(n); free: drop the reference',
  ),
  gcManaged('alloc', 'alloc', 'Buffer.alloc', (n) => `Buffer.alloc(${n})`, 'Buffer.alloc(n) (zeroed); free: drop the reference'),
  gcManaged(
    'allocUnsafeSlow',
    'allocUSlow',
    'Buffer.allocUnsafeSlow',
    (n) => `Buffer.allocUnsafeSlow(${n})`,
    'Buffer.allocUnsafeSlow(n) (own ArrayBuffer, not pooled); calloc: Buffer.alloc(n); free: drop the reference',
  ),
  gcManaged(
    'arraybuffer',
    'ArrayBuf',
    'ArrayBuffer+Uint8Array',
    (n) => `new Uint8Array(new ArrayBuffer(${n}))`,
    'new Uint8Array(new ArrayBuffer(n)) (zeroed); Float64Array: new Float64Array(new ArrayBuffer(len * 8)); free: drop the reference',
    (len) => `new Float64Array(new ArrayBuffer(${len} * 8))`,
  ),
  {
    id: 'thing-malloc',
    short: 'thi.ng',
    needs: '@thi.ng/malloc',
    label: '@thi.ng/malloc malloc',
    family: 'pool',
    gc: false,
    description:
      'new MemPool({ size }): addr = pool.malloc(n), view new Uint8Array(pool.buf, addr, n); pool.free(addr); ' +
      'calloc: pool.calloc(n); realloc: pool.realloc(addr, n) (+ free of the old block when it moved); free all: pool.freeAll()',
    // malloc(0) is a failure in MemPool: zero-byte requests take one byte.
    prologue: `const P = ctx.pool; const oom = ctx.oom;
      function M(n) { const a = P.malloc(n > 0 ? n : 1); if (a === 0) oom(n); return new Uint8Array(P.buf, a, n); }
      function C(n) { const a = P.calloc(n > 0 ? n : 1); if (a === 0) oom(n); return new Uint8Array(P.buf, a, n); }
      function R(b, n) {
        const o = b.byteOffset;
        const a = P.realloc(o, n > 0 ? n : 1);
        if (a === 0) oom(n);
        if (a !== o) P.free(o); // see THING_REALLOC
        return new Uint8Array(P.buf, a, n);
      }
      function F(len) { const a = P.malloc(len * 8); if (a === 0) oom(len * 8); return new Float64Array(P.buf, a, len); }`,
    alloc: (n) => `M(${n})`,
    calloc: (n) => `C(${n})`,
    free: (b) => `P.free(${b}.byteOffset);`,
    realloc: (b, n) => `R(${b}, ${n})`,
    f64: (len) => `F(${len})`,
    freeF64: (a) => `P.free(${a}.byteOffset);`,
    freeAll: () => 'P.freeAll();',
    // The offset level: MemPool's own malloc/free of addresses into pool.buf.
    off: {
      prologue: 'const U8 = new Uint8Array(P.buf); function A0(n) { const a = P.malloc(n); if (a === 0) oom(n); return a; }',
      alloc: (n) => `A0(${n})`,
      write: (h, v) => `U8[${h}] = ${v};`,
      free: (h) => `P.free(${h});`,
    },
    setup: thingSetup,
    memory: thingMemory,
    committedSource: 'MemPool stats().top high-water, minus the initial top (read after every op)',
    probeStride: 1,
    probeCommitted: (ctx) => ctx.pool.stats().top - ctx.poolTop0,
    teardown: (ctx) => ctx.pool.release(),
  },
  {
    id: 'thing-mallocAs',
    short: 'thi.ngAs',
    needs: '@thi.ng/malloc',
    label: '@thi.ng/malloc mallocAs',
    family: 'pool',
    gc: false,
    description:
      "new MemPool({ size }): b = pool.mallocAs('u8', n); pool.free(b); calloc: pool.callocAs('u8', n); " +
      "realloc: pool.reallocArray(b, n) (+ free of the old block when it moved); Float64Array: pool.mallocAs('f64', len); free all: pool.freeAll()",
    prologue: `const P = ctx.pool; const oom = ctx.oom;
      function M(n) { const b = P.mallocAs('u8', n > 0 ? n : 1); if (b === undefined) oom(n); return n > 0 ? b : b.subarray(0, 0); }
      function C(n) { const b = P.callocAs('u8', n > 0 ? n : 1); if (b === undefined) oom(n); return n > 0 ? b : b.subarray(0, 0); }
      function R(b, n) {
        const o = b.byteOffset;
        const t = P.reallocArray(b, n > 0 ? n : 1);
        if (t === undefined) oom(n);
        if (t.byteOffset !== o) P.free(o); // see THING_REALLOC
        return n > 0 ? t : t.subarray(0, 0);
      }
      function F(len) { const b = P.mallocAs('f64', len); if (b === undefined) oom(len * 8); return b; }`,
    alloc: (n) => `M(${n})`,
    calloc: (n) => `C(${n})`,
    free: (b) => `P.free(${b});`,
    realloc: (b, n) => `R(${b}, ${n})`,
    f64: (len) => `F(${len})`,
    freeF64: (a) => `P.free(${a});`,
    freeAll: () => 'P.freeAll();',
    setup: thingSetup,
    memory: thingMemory,
    committedSource: 'MemPool stats().top high-water, minus the initial top (read after every op)',
    probeStride: 1,
    probeCommitted: (ctx) => ctx.pool.stats().top - ctx.poolTop0,
    teardown: (ctx) => ctx.pool.release(),
  },
  {
    id: 'typedarray-pool',
    short: 'ta-pool',
    needs: 'typedarray-pool',
    label: 'typedarray-pool',
    family: 'pool',
    gc: false,
    description:
      'require("typedarray-pool"): b = pool.mallocUint8(n); pool.freeUint8(b); Float64Array: pool.mallocDouble(len) / ' +
      'pool.freeDouble(a); calloc: mallocUint8 + fill(0); realloc: malloc new + copy + free old; free all: free each',
    prologue: `const T = ctx.tap;
      function C(n) { const b = T.mallocUint8(n); b.fill(0); return b; }
      ${copyRealloc('R', 'T.mallocUint8(n)', 'T.freeUint8(b);')}`,
    alloc: (n) => `T.mallocUint8(${n})`,
    calloc: (n) => `C(${n})`,
    free: (b) => `T.freeUint8(${b});`,
    realloc: (b, n) => `R(${b}, ${n})`,
    f64: (len) => `T.mallocDouble(${len})`,
    freeF64: (a) => `T.freeDouble(${a});`,
    freeAll: (S, k) => `for (let q = 0; q < ${k}; q++) { const o = ${S}[q]; if (o !== undefined) T.freeUint8(o); }`,
    async setup(ctx) {
      ctx.tap = require('typedarray-pool');
      const b = ctx.tap.mallocUint8(100);
      if (!(b instanceof Uint8Array) || b.length !== 100) throw new Error('typedarray-pool: bad array');
      ctx.tap.freeUint8(b);
    },
    memory: () => null,
    committedSource: 'peak RSS growth (sampled every 64 ops)',
    probeCommitted: () => null,
    teardown() {},
  },
];

/*
 * THING_REALLOC: @thi.ng/malloc 6.1.150's MemPool.realloc and reallocArray, when they move a
 * block, leave the old block allocated (stats().used keeps it; free(old) afterwards returns
 * true). Replaying a trace with reallocs then grows the pool without bound and ends in out of
 * memory. The contestants free the old block when the address changed, as realloc's contract
 * says; with a version that frees it itself, that free finds nothing and returns false.
 */
async function thingSetup(ctx, need) {
  const { MemPool } = await import('@thi.ng/malloc');
  // A MemPool never grows: size it for the workload's peak with room for fragmentation.
  // (new ArrayBuffer is zero-filled lazily by the OS: untouched pages cost no RSS.)
  let size = 64 * MiB;
  while (size < need.bytes * 4 && size < 2048 * MiB) size *= 2;
  ctx.pool = new MemPool({ size });
  ctx.poolTop0 = ctx.pool.stats().top;
  ctx.oom = (n) => {
    throw new Error(`@thi.ng/malloc: out of memory for ${n} bytes (pool of ${size} bytes)`);
  };
  const b = ctx.pool.mallocAs('u8', 64);
  if (!(b instanceof Uint8Array) || b.length !== 64 || !ctx.pool.free(b)) throw new Error('@thi.ng/malloc: bad pool');
}

function thingMemory(ctx) {
  const s = ctx.pool.stats();
  return {
    source: 'MemPool.stats() (committed: top - initial top, the part of the pool ever used)',
    committed: s.top - ctx.poolTop0,
    inUse: s.used.size,
    liveAllocations: s.used.count,
    poolSize: s.total,
  };
}

/**
 * Whether package `name` can be loaded from the harness: in this repository from its
 * node_modules, in a project that installed offheap from the project's node_modules.
 */
function installed(name) {
  try {
    require.resolve(name, { paths: [__dirname] });
    return true;
  } catch {
    return false;
  }
}

/** The version of package `name` as the harness loads it, or null when it is not installed. */
function packageVersion(name) {
  let dir;
  try {
    dir = path.dirname(require.resolve(name, { paths: [__dirname] }));
  } catch {
    return null;
  }
  // Up from the entry point to the package.json that names the package (its exports may not
  // export package.json itself).
  for (; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const p = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (p.name === name) return p.version;
    } catch {
      // no package.json here
    }
  }
  return null;
}

function byId(id) {
  const c = CONTESTANTS.find((x) => x.id === id);
  if (!c) throw new Error(`unknown contestant ${id}`);
  return c;
}

module.exports = { CONTESTANTS, byId, installed, packageVersion, ROOT };
