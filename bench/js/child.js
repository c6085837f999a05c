#!/usr/bin/env node
/*
 * One trial of the JavaScript benchmark, in its own process (started by bench/js/run.js as
 * `node --expose-gc bench/js/child.js '<spec JSON>'`); prints one JSON line on stdout.
 *
 * spec: { kind: 'workload', workload, contestant, opts }  or
 *       { kind: 'replay', trace: <path>, contestant, opts }
 * opts: { samples, sampleMs, warmMs, chunkMs, seed, scale }
 *
 * The method (bench/js/README.md, "Method"):
 * - warm-up: the unit runs with doubling counts until warmMs are spent and one call took at
 *   least min(10 ms, warmMs / 4); the last call calibrates units per sample (about sampleMs)
 * - each sample: prepare() and gc() and two event-loop turns outside the window; inside it the
 *   units run in chunks of about chunkMs with an event-loop turn after each (deferred work such
 *   as N-API finalizers is paid inside), then a forced full gc() and one more turn, so the
 *   garbage a GC-managed contestant made in the window is collected in the window
 * - GC events (perf_hooks) are counted per window: spontaneous ones before the forced gc(), and
 *   the time of all of them
 * - a workload with a `part` (reset-4g) also times that part of each op itself; its ns per op in
 *   each window are the trial's partNs
 */
'use strict';

const { performance, PerformanceObserver, constants } = require('perf_hooks');
const { byId } = require('./contestants');
const { workloadById, params, field } = require('./workloads');
const { compileReplay, expectedSink } = require('./replay');

const turn = () => new Promise((resolve) => setImmediate(resolve));
const hr = () => process.hrtime.bigint();

function gcObserver() {
  const entries = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = e.detail ? e.detail.kind : e.kind;
      entries.push({ t: e.startTime, d: e.duration, kind });
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  return { entries, stop: () => obs.disconnect() };
}

function gcInWindows(entries, windows) {
  return windows.map(([p0, pg, p1]) => {
    let minor = 0;
    let major = 0;
    let ms = 0;
    for (const e of entries) {
      if (e.t < p0 || e.t > p1) continue;
      ms += e.d;
      if (e.t >= pg) continue; // the forced gc() at the end of the window
      if (e.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
      else if (e.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
    }
    return { minor, major, ms: +ms.toFixed(3), windowMs: +(p1 - p0).toFixed(3) };
  });
}

/**
 * Warm-up, calibration and samples of body(k) (k units of opsPerUnit operations each).
 * Returns { samplesNs, units, chunk, warmupEstimateNs, windows }.
 */
async function measure(unit, opts, opsPerUnit, label) {
  const { body, prepare, expect } = unit;
  prepare();
  let k = 1;
  let spent = 0;
  let est = 0;
  let warmUnits = 0; // units run since the prepare() of the warm-up
  const minCall = Math.min(10e6, (opts.warmMs * 1e6) / 4);
  for (;;) {
    const e = expect(k);
    const t0 = hr();
    const acc = body(k);
    const dt = Number(hr() - t0);
    if (acc !== e) throw new Error(`${label}: sink ${acc}, expected ${e}`);
    warmUnits += k;
    spent += dt;
    est = dt / k;
    await turn();
    if (spent >= opts.warmMs * 1e6 && dt >= minCall) break;
    if (dt < 20e6) k *= 2;
  }
  const units = Math.max(1, Math.ceil((opts.sampleMs * 1e6) / est));
  const chunk = Math.max(1, Math.min(units, Math.round((opts.chunkMs * 1e6) / est)));
  const samplesNs = [];
  const partNs = [];
  const windows = [];
  for (let s = 0; s < opts.samples; s++) {
    prepare();
    const e = expect(units);
    gc();
    await turn();
    await turn();
    if (unit.takePartNs) unit.takePartNs();
    const p0 = performance.now();
    const t0 = hr();
    let left = units;
    let acc = 0;
    while (left > 0) {
      const n = left < chunk ? left : chunk;
      acc += body(n);
      left -= n;
      await turn();
    }
    const pg = performance.now();
    gc();
    await turn();
    const t1 = hr();
    const p1 = performance.now();
    if (acc !== e) throw new Error(`${label}: sink ${acc}, expected ${e}`);
    samplesNs.push(Number(t1 - t0) / (units * opsPerUnit));
    if (unit.takePartNs) partNs.push(unit.takePartNs() / (units * opsPerUnit));
    windows.push([p0, pg, p1]);
  }
  // The longest run of units from a prepare(): what peak figures must cover.
  return { samplesNs, partNs, units, chunk, warmupEstimateNs: est / opsPerUnit, windows, longestRun: Math.max(units, warmUnits) };
}

function memoryOf(c, ctx) {
  const m = c.memory(ctx);
  return m === null ? undefined : m;
}

async function runWorkload(spec) {
  const c = byId(spec.contestant);
  const w = workloadById(spec.workload);
  const p = params(spec.opts.scale, spec.opts.seed);
  const need = field(w, 'need', p);
  const ctx = {};
  const rssStart = process.memoryUsage.rss();
  await c.setup(ctx, need);
  const unit = w.build(c, ctx, p);
  const opsPerUnit = field(w, 'opsPerUnit', p);
  const obs = gcObserver();
  const m = await measure(unit, spec.opts, opsPerUnit, `${w.id}/${c.id}`);
  // Let the observer deliver the last entries.
  await new Promise((resolve) => setTimeout(resolve, 10));
  obs.stop();
  // Memory figures after the run (a workload whose run ends with everything freed may fill
  // itself once more for them: probe).
  if (unit.probe) unit.probe.fill();
  const memory = memoryOf(c, ctx);
  const liveAfter = field(w, 'liveAfter', p);
  if (memory && memory.liveAllocations !== undefined && memory.liveAllocations !== liveAfter) {
    throw new Error(`${w.id}/${c.id}: ${memory.liveAllocations} live allocations after the run, expected ${liveAfter}`);
  }
  if (unit.probe) unit.probe.release();
  const peakLiveBytes = unit.peakLiveBytes ? unit.peakLiveBytes(m.longestRun) : need.peakLiveBytes;
  c.teardown(ctx);
  return {
    kind: 'workload',
    workload: w.id,
    contestant: c.id,
    pid: process.pid,
    opsPerUnit,
    unitsPerSample: m.units,
    opsPerSample: m.units * opsPerUnit,
    chunkUnits: m.chunk,
    warmupEstimateNs: +m.warmupEstimateNs.toFixed(3),
    samplesNs: m.samplesNs.map((x) => +x.toFixed(3)),
    ...(w.part ? { part: w.part, partNs: m.partNs.map((x) => +x.toFixed(3)) } : {}),
    gcInWindow: gcInWindows(obs.entries, m.windows),
    rssStart,
    peakRss: process.resourceUsage().maxRSS * 1024,
    memory,
    peakLiveBytes,
    info: field(w, 'info', p),
  };
}

async function runReplay(spec) {
  const { loadTrace, TraceOp } = require('../../dist/trace');
  const c = byId(spec.contestant);
  const trace = loadTrace(spec.trace);
  const ts = trace.stats();
  const ctx = { trace, slots: new Array(Math.max(1, ts.slots)).fill(undefined) };
  const rssStart = process.memoryUsage.rss();
  await c.setup(ctx, { bytes: ts.peakLiveBytes * 2 + ts.maxSize, peakLiveBytes: ts.peakLiveBytes });
  const r = compileReplay(c, ctx);
  // The self-test scale replays a prefix of the trace (the blocks it leaves are freed after it).
  const n = spec.opts.scale === 'tiny' ? Math.min(trace.length, 2000) : trace.length;
  const sink = expectedSink(trace, n);
  const label = `replay ${spec.trace}/${c.id}`;

  // 1. The memory pass, on the fresh contestant: peak committed and RSS growth. Chunks of 64
  // operations (1 for a contestant whose probe must see every op) end before each reset, so a
  // probe can read a high-water before it starts anew.
  gc();
  await turn();
  const rss0 = process.memoryUsage.rss();
  let rssPeak = rss0;
  let committedPeak = 0;
  let acc = 0;
  const stride = c.probeStride ?? 64;
  for (let from = 0; from < n; ) {
    let to = Math.min(n, from + stride);
    for (let i = from + 1; i < to; i++) {
      if (trace.ops[i] === TraceOp.Reset) {
        to = i;
        break;
      }
    }
    acc += r.run(from, to);
    const rss = process.memoryUsage.rss();
    if (rss > rssPeak) rssPeak = rss;
    const pc = c.probeCommitted(ctx, to === n || trace.ops[to] === TraceOp.Reset);
    if (pc !== null && pc > committedPeak) committedPeak = pc;
    from = to;
  }
  if (acc !== sink) throw new Error(`${label}: sink ${acc}, expected ${sink}`);
  const memory = memoryOf(c, ctx);
  r.cleanup();
  // Every block freed again: a contestant that keeps some (a leak) is caught here.
  const after = memoryOf(c, ctx);
  if (after && after.liveAllocations !== 0) {
    throw new Error(`${label}: ${after.liveAllocations} allocations still live after every block was freed`);
  }

  // 2. Timed passes: one unit = one pass over the whole trace, then the blocks it left are freed.
  const opts = spec.opts;
  const unit = {
    prepare() {},
    expect: (k) => k * sink,
    body(k) {
      let a = 0;
      for (let i = 0; i < k; i++) {
        a += r.run(0, n);
        r.cleanup();
      }
      return a;
    },
  };
  const obs = gcObserver();
  const m = await measure(unit, opts, Math.max(1, n), label);
  await new Promise((resolve) => setTimeout(resolve, 10));
  obs.stop();
  c.teardown(ctx);
  const committedSource = c.committedSource;
  // Contestants that know nothing of their memory (GC-managed, typedarray-pool): RSS growth.
  const peakCommitted = committedSource.startsWith('peak RSS growth') ? rssPeak - rss0 : committedPeak;
  return {
    kind: 'replay',
    trace: spec.trace,
    contestant: c.id,
    pid: process.pid,
    operations: n,
    passesPerSample: m.units,
    opsPerSample: m.units * n,
    warmupEstimateNs: +m.warmupEstimateNs.toFixed(3),
    samplesNs: m.samplesNs.map((x) => +x.toFixed(3)),
    gcInWindow: gcInWindows(obs.entries, m.windows),
    rssStart,
    peakRss: process.resourceUsage().maxRSS * 1024,
    peakRssGrowth: rssPeak - rss0,
    peakCommitted,
    committedSource,
    peakLiveBytes: ts.peakLiveBytes,
    fragmentation: ts.peakLiveBytes > 0 ? +(peakCommitted / ts.peakLiveBytes).toFixed(4) : null,
    memory,
  };
}

async function main() {
  if (typeof gc !== 'function') throw new Error('bench/js/child.js needs node --expose-gc');
  const spec = JSON.parse(process.argv[2]);
  const out = spec.kind === 'replay' ? await runReplay(spec) : await runWorkload(spec);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
