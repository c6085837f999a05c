/*
 * Trace replay: runs a recorded allocation trace (lib/trace.ts, the `# offheap-trace v1` format)
 * against one contestant of contestants.js.
 *
 * compileReplay(c, ctx) compiles, for contestant c, with its snippets spliced in:
 *   run(from, to)   replays operations [from, to) of ctx.trace; blocks live in ctx.slots[id]
 *                   (a: alloc, c: calloc, r: realloc, f: free, x: the contestant's free-all);
 *                   returns the sum of the lengths of the blocks it made (the sink)
 *   cleanup()       frees the blocks the trace left live (the contestant's free, one by one)
 *
 * How each contestant maps the operations is in contestants.js (GC-managed contestants: calloc
 * takes a zeroed Buffer, realloc allocates + copies, free and free-all drop the references).
 * Nothing is written into the blocks: the replay measures the allocator, not the program.
 */
'use strict';

const { TraceOp } = require('../../dist/trace');

function compileReplay(c, ctx) {
  const src = `'use strict'; /* replay ${c.id} */
    ${c.prologue}
    const OPS = ctx.trace.ops, IDS = ctx.trace.ids, SZ = ctx.trace.sizes, S = ctx.slots, NS = S.length;
    function run(from, to) {
      let acc = 0;
      for (let i = from; i < to; i++) {
        const id = IDS[i];
        switch (OPS[i]) {
          case ${TraceOp.Alloc}: { const b = ${c.alloc('SZ[i]')}; S[id] = b; acc += b.length; break; }
          case ${TraceOp.Calloc}: { const b = ${c.calloc('SZ[i]')}; S[id] = b; acc += b.length; break; }
          case ${TraceOp.Realloc}: { const o = S[id]; const b = ${c.realloc('o', 'SZ[i]')}; S[id] = b; acc += b.length; break; }
          case ${TraceOp.Free}: { ${c.free('S[id]')} S[id] = undefined; break; }
          default: { ${c.freeAll('S', 'NS')} S.fill(undefined); break; }
        }
      }
      return acc;
    }
    function cleanup() {
      for (let q = 0; q < NS; q++) { if (S[q] !== undefined) { ${c.free('S[q]')} S[q] = undefined; } }
    }
    return { run, cleanup };`;
  // eslint-disable-next-line no-new-func
  return new Function('ctx', src)(ctx);
}

/** The sink value of a pass over the first n operations: the sum of the sizes of every a, c and r. */
function expectedSink(trace, n = trace.length) {
  if (n === trace.length) return trace.stats().requestedBytes;
  let s = 0;
  for (let i = 0; i < n; i++) if (trace.ops[i] <= TraceOp.Realloc) s += trace.sizes[i];
  return s;
}

module.exports = { compileReplay, expectedSink };
