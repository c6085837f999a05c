#!/usr/bin/env node
/*
 * offheap JavaScript benchmark: arena views against Node's Buffers and @thi.ng/malloc.
 *
 *   node bench/js/views.js              full run (< 3 min on 2 cores): table + JSON in
 *                                       bench/results/js-views-<date>.json
 *   node bench/js/views.js --quick      short run (< 60 s): JSON in js-views-<date>-quick.json
 *   node bench/js/views.js --only fast4k,safe1m   run some trials only (names: --list)
 *   node bench/js/views.js --samples N  samples per contestant (at least 7; default 9, quick 7)
 *
 * Method (as in shared/reference/napi-cost-measurements.md, with GC inside the window):
 * - Trials: each trial is one comparison (e.g. fast views at 4 KiB vs Buffer.allocUnsafe(4096))
 *   and runs in its own child process (node --expose-gc), so no trial disturbs another: a
 *   safe-view detach, a GC-heavy Buffer loop or a 64 MiB pool stay in their own process.
 *   Every ratio is computed inside one child, i.e. one process run.
 * - Contestants: every loop body is compiled into its own function (new Function) with the size
 *   as a literal, so each loop stays monomorphic. Results are consumed (acc += b.length); the
 *   GC-managed Buffers are also kept alive in a 16-slot ring so they cannot be optimised away.
 * - Warm-up: each contestant runs for a while first (its code gets optimised), which also
 *   calibrates ops per sample: about --sample-ms (200 ms full, 50 ms quick) of work, and never
 *   fewer than the trial's minimum (200k ops at 4 KiB/64 KiB, 20k at 1 MiB; a quarter in quick
 *   mode), so garbage collections happen inside the timed window.
 * - Rounds: round r runs every contestant once (order rotated per round). Before each sample:
 *   gc() and two event-loop turns, outside the window. Inside the window the ops run in chunks of
 *   about 5 ms with one event-loop turn after each chunk (as a program would), so deferred work
 *   -- N-API finalizers of safe views, which wait for the event loop -- is paid inside the window
 *   instead of piling up after it. GCs inside each window are counted (perf_hooks 'gc' entries).
 * - Reported: median and min-max of the samples in ns/op; ratio = median / baseline median, with
 *   the min-max of the per-round ratios (round r of a contestant against round r of the baseline).
 */
'use strict';

const cp = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const KiB = 1024;
const MiB = 1024 * 1024;
const RING = 16; // power of two

/* ---------------------------------------------------------------------------------------------
 * Trials and contestants
 * ------------------------------------------------------------------------------------------- */

const fastDl = (size) => ({ id: 'fast-dlmalloc', kind: 'arena', views: 'fast', allocator: 'dlmalloc', size });
const fastBuddy = (size) => ({ id: 'fast-buddy', kind: 'arena', views: 'fast', allocator: 'buddy', size });
const safeDl = (size) => ({ id: 'safe-dlmalloc', kind: 'arena', views: 'safe', allocator: 'dlmalloc', size });
const safeBuddy = (size) => ({ id: 'safe-buddy', kind: 'arena', views: 'safe', allocator: 'buddy', size });
const bufU = (size) => ({ id: 'Buffer.allocUnsafe', kind: 'buffer', size });
const thing = (size) => ({ id: '@thi.ng/malloc', kind: 'thing', size });

function sizeName(n) {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}

/*
 * Targets from shared/DESIGN.md "Performance targets":
 *   fast view, alloc(64) + free from JS  <= 0.85 x @thi.ng/malloc mallocAs+free; <= 1.8 x Buffer.allocUnsafe(64) alone
 *   fast view, 4 KiB ... 1 MiB alloc + free  >= 10 x faster than Buffer.allocUnsafe of the same size
 *   safe view, alloc + free, >= 4 KiB  <= 1.0 x Buffer.allocUnsafe of the same size; no external-memory GC storm
 * Each check: ratio = contestant median / baseline median, compared with `max` (<=) or, for
 * speedups, baseline / contestant compared with `minSpeedup` (>=).
 */
function fastSizeTrial(name, size, minOps) {
  return {
    name,
    title: `fast views, alloc(${sizeName(size)}) + free  vs  Buffer.allocUnsafe(${size})`,
    minOps,
    baseline: 'Buffer.allocUnsafe',
    contestants: [fastDl(size), fastBuddy(size), bufU(size)],
    targets: [
      { of: 'fast-dlmalloc', vs: 'Buffer.allocUnsafe', minSpeedup: 10, text: '>= 10x faster than Buffer.allocUnsafe' },
      { of: 'fast-buddy', vs: 'Buffer.allocUnsafe', minSpeedup: 10, text: '>= 10x faster than Buffer.allocUnsafe' },
    ],
  };
}
function safeSizeTrial(name, size, minOps) {
  return {
    name,
    title: `safe views, alloc(${sizeName(size)}) + free  vs  Buffer.allocUnsafe(${size})`,
    minOps,
    baseline: 'Buffer.allocUnsafe',
    contestants: [safeDl(size), safeBuddy(size), bufU(size)],
    targets: [
      { of: 'safe-dlmalloc', vs: 'Buffer.allocUnsafe', max: 1.0, text: '<= 1.0x Buffer.allocUnsafe' },
      { of: 'safe-buddy', vs: 'Buffer.allocUnsafe', max: 1.0, text: '<= 1.0x Buffer.allocUnsafe' },
      { of: 'safe-dlmalloc', vs: 'Buffer.allocUnsafe', gcStorm: true, text: 'no external-memory GC storm' },
      { of: 'safe-buddy', vs: 'Buffer.allocUnsafe', gcStorm: true, text: 'no external-memory GC storm' },
    ],
  };
}

const TRIALS = [
  {
    name: 'small64',
    title: 'fast views, alloc(64) + free  vs  Buffer.allocUnsafe(64)  vs  @thi.ng/malloc mallocAs(u8, 64) + free',
    minOps: 200000,
    baseline: '@thi.ng/malloc',
    contestants: [fastDl(64), fastBuddy(64), bufU(64), thing(64)],
    targets: [
      { of: 'fast-dlmalloc', vs: '@thi.ng/malloc', max: 0.85, text: '<= 0.85x @thi.ng/malloc mallocAs+free' },
      { of: 'fast-dlmalloc', vs: 'Buffer.allocUnsafe', max: 1.8, text: '<= 1.8x Buffer.allocUnsafe(64) alone' },
      { of: 'fast-buddy', vs: '@thi.ng/malloc', max: 0.85, text: '<= 0.85x @thi.ng/malloc mallocAs+free' },
      { of: 'fast-buddy', vs: 'Buffer.allocUnsafe', max: 1.8, text: '<= 1.8x Buffer.allocUnsafe(64) alone' },
    ],
  },
  fastSizeTrial('fast4k', 4 * KiB, 200000),
  fastSizeTrial('fast64k', 64 * KiB, 200000),
  fastSizeTrial('fast1m', MiB, 20000),
  safeSizeTrial('safe4k', 4 * KiB, 200000),
  safeSizeTrial('safe1m', MiB, 20000),
];

const DESCRIPTIONS = {
  'fast-dlmalloc': "new Arena({views:'fast', allocator:'dlmalloc'}): b = arena.alloc(n); arena.free(b)",
  'fast-buddy': "new Arena({views:'fast', allocator:'buddy'}): b = arena.alloc(n); arena.free(b)",
  'safe-dlmalloc': "new Arena({views:'safe', allocator:'dlmalloc'}): b = arena.alloc(n); arena.free(b)",
  'safe-buddy': "new Arena({views:'safe', allocator:'buddy'}): b = arena.alloc(n); arena.free(b)",
  'Buffer.allocUnsafe': `b = Buffer.allocUnsafe(n), kept alive in a ${RING}-slot ring (no free: GC reclaims it)`,
  '@thi.ng/malloc': 'new MemPool({size: 64 MiB}): b = pool.mallocAs("u8", n); pool.free(b)',
};

/* ---------------------------------------------------------------------------------------------
 * Child: runs one trial, prints one JSON line on stdout
 * ------------------------------------------------------------------------------------------- */

function makeBody(c) {
  const n = String(c.size);
  let src;
  if (c.kind === 'buffer') {
    src = `const ring = ctx.ring; let acc = 0;
      for (let i = 0; i < k; i++) { const b = Buffer.allocUnsafe(${n}); ring[i & ${RING - 1}] = b; acc += b.length; }
      return acc;`;
  } else if (c.kind === 'arena') {
    src = `const a = ctx.arena; let acc = 0;
      for (let i = 0; i < k; i++) { const b = a.alloc(${n}); acc += b.length; a.free(b); }
      return acc;`;
  } else if (c.kind === 'thing') {
    src = `const p = ctx.pool; let acc = 0;
      for (let i = 0; i < k; i++) { const b = p.mallocAs('u8', ${n}); acc += b.length; p.free(b); }
      return acc;`;
  } else throw new Error(`unknown kind ${c.kind}`);
  // eslint-disable-next-line no-new-func
  return new Function('k', 'ctx', `'use strict'; /* ${c.id} ${n} */ ${src}`);
}

async function runChild(trialName, opts) {
  const trial = TRIALS.find((t) => t.name === trialName);
  if (!trial) throw new Error(`unknown trial ${trialName}`);
  if (typeof gc !== 'function') throw new Error('the child needs --expose-gc');
  const { Arena } = require(ROOT);
  const { performance, PerformanceObserver, constants } = require('perf_hooks');
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  const gcEntries = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = e.detail ? e.detail.kind : e.kind;
      gcEntries.push({ t: e.startTime, d: e.duration, kind });
    }
  });
  obs.observe({ entryTypes: ['gc'] });

  // Set up every contestant and check it does what it claims.
  const cs = [];
  for (const c of trial.contestants) {
    const ctx = {};
    if (c.kind === 'arena') {
      ctx.arena = new Arena({ views: c.views, allocator: c.allocator });
      const b = ctx.arena.alloc(c.size);
      if (!Buffer.isBuffer(b) || b.length !== c.size || !ctx.arena.owns(b)) throw new Error(`${c.id}: bad view`);
      b.fill(1);
      ctx.arena.free(b);
      if (c.views === 'safe' && b.byteLength !== 0) throw new Error(`${c.id}: safe view not detached by free`);
    } else if (c.kind === 'buffer') {
      ctx.ring = new Array(RING).fill(null);
    } else if (c.kind === 'thing') {
      const { MemPool } = await import('@thi.ng/malloc');
      ctx.pool = new MemPool({ size: 64 * MiB });
      const b = ctx.pool.mallocAs('u8', c.size);
      if (!(b instanceof Uint8Array) || b.length !== c.size || !ctx.pool.free(b)) throw new Error(`${c.id}: bad pool`);
    }
    cs.push({ spec: c, ctx, fn: makeBody(c), n: 0, chunk: 0, samples: [], gc: [], est: 0 });
  }

  const hr = () => process.hrtime.bigint();

  // Warm-up and calibration.
  for (const c of cs) {
    let k = 256;
    let spent = 0;
    let est = 0;
    for (;;) {
      const t0 = hr();
      const acc = c.fn(k, c.ctx);
      const dt = Number(hr() - t0);
      if (acc !== k * c.spec.size) throw new Error(`${c.spec.id}: sink mismatch`);
      spent += dt;
      est = dt / k;
      await turn();
      if (spent >= opts.warmMs * 1e6 && dt >= 10e6) break;
      if (dt < 20e6) k *= 2;
    }
    c.est = est;
    c.n = Math.max(trial.minOps * opts.minOpsScale, Math.ceil((opts.sampleMs * 1e6) / est));
    c.chunk = Math.max(100, Math.min(c.n, Math.round(5e6 / est)));
  }

  // Rounds.
  for (let r = 0; r < opts.samples; r++) {
    for (let j = 0; j < cs.length; j++) {
      const c = cs[(r + j) % cs.length];
      gc();
      await turn();
      await turn();
      const p0 = performance.now();
      const t0 = hr();
      let left = c.n;
      let acc = 0;
      while (left > 0) {
        const k = left < c.chunk ? left : c.chunk;
        acc += c.fn(k, c.ctx);
        left -= k;
        await turn();
      }
      const t1 = hr();
      const p1 = performance.now();
      if (acc !== c.n * c.spec.size) throw new Error(`${c.spec.id}: sink mismatch`);
      c.samples.push(Number(t1 - t0) / c.n);
      c.gc.push([p0, p1]);
    }
  }
  gc();
  await turn();
  await new Promise((resolve) => setTimeout(resolve, 20));
  obs.disconnect();

  const out = [];
  for (const c of cs) {
    const gcs = c.gc.map(([p0, p1]) => {
      let minor = 0;
      let major = 0;
      let other = 0;
      let ms = 0;
      for (const e of gcEntries) {
        if (e.t < p0 || e.t > p1) continue;
        if (e.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
        else if (e.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
        else other++;
        ms += e.d;
      }
      return { minor, major, other, ms: +ms.toFixed(3), windowMs: +(p1 - p0).toFixed(3) };
    });
    const o = {
      id: c.spec.id,
      kind: c.spec.kind,
      size: c.spec.size,
      description: DESCRIPTIONS[c.spec.id],
      opsPerSample: c.n,
      chunk: c.chunk,
      warmupEstimateNs: +c.est.toFixed(3),
      samplesNs: c.samples.map((x) => +x.toFixed(3)),
      gcInWindow: gcs,
    };
    if (c.spec.kind === 'arena') {
      const s = c.ctx.arena.stats();
      o.arenaAfter = { liveAllocations: s.liveAllocations, inUse: s.inUse, committed: s.committed, peakCommitted: s.peakCommitted };
      c.ctx.arena.destroy();
    }
    if (c.spec.kind === 'thing') {
      const s = c.ctx.pool.stats();
      o.poolAfter = { usedCount: s.used.count, freeCount: s.free.count, top: s.top };
    }
    out.push(o);
  }
  process.stdout.write(`${JSON.stringify({ trial: trial.name, pid: process.pid, contestants: out })}\n`);
}

/* ---------------------------------------------------------------------------------------------
 * Parent: one child per trial, table, JSON
 * ------------------------------------------------------------------------------------------- */

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmtNs(x) {
  if (x >= 1000) return x.toFixed(0);
  if (x >= 100) return x.toFixed(1);
  return x.toFixed(2);
}
function fmtR(x) {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}
function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}
function lpad(s, n) {
  s = String(s);
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

function cpuModel() {
  const cpus = os.cpus();
  return cpus.length ? cpus[0].model : 'unknown';
}

function gitRev() {
  try {
    const r = cp.spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
    const d = cp.spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() + (d.stdout.trim() ? '+dirty' : '') : null;
  } catch {
    return null;
  }
}

function parseArgs(argv) {
  const a = { quick: false, only: null, samples: null, child: null, list: false, help: false, sampleMs: null };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${x} needs a value`);
      return argv[++i];
    };
    if (x === '--quick') a.quick = true;
    else if (x === '--full') a.quick = false;
    else if (x === '--only') a.only = val().split(',').filter(Boolean);
    else if (x === '--samples') a.samples = Number(val());
    else if (x === '--sample-ms') a.sampleMs = Number(val());
    else if (x === '--child') a.child = val();
    else if (x === '--opts') a.opts = JSON.parse(val());
    else if (x === '--list') a.list = true;
    else if (x === '-h' || x === '--help') a.help = true;
    else throw new Error(`unknown argument ${x} (try --help)`);
  }
  return a;
}

function checkTarget(t, byId, trial) {
  const c = byId[t.of];
  const b = byId[t.vs];
  if (!c || !b) return null;
  const rounds = Math.min(c.samplesNs.length, b.samplesNs.length);
  const perRound = [];
  for (let r = 0; r < rounds; r++) perRound.push(c.samplesNs[r] / b.samplesNs[r]);
  const ratio = c.median / b.median;
  const res = { trial: trial.name, of: t.of, vs: t.vs, target: t.text, ratio: +ratio.toFixed(4) };
  res.ratioRoundMin = +Math.min(...perRound).toFixed(4);
  res.ratioRoundMax = +Math.max(...perRound).toFixed(4);
  if (t.max !== undefined) {
    res.met = ratio <= t.max;
    res.measured = `${fmtR(ratio)}x`;
  } else if (t.minSpeedup !== undefined) {
    const sp = b.median / c.median;
    res.speedup = +sp.toFixed(3);
    res.met = sp >= t.minSpeedup;
    res.measured = `${fmtR(sp)}x faster`;
  } else if (t.gcStorm) {
    // "Storm" as measured here: major GCs per 10k ops inside the window, against the
    // GC-managed baseline of the same size (median over samples).
    const per10k = (x) => median(x.gcInWindow.map((g) => g.major)) * (10000 / x.opsPerSample);
    const cm = per10k(c);
    const bm = per10k(b);
    res.majorPer10kOps = +cm.toFixed(3);
    res.baselineMajorPer10kOps = +bm.toFixed(3);
    res.met = cm <= bm;
    res.measured = `${fmtR(cm)} vs ${fmtR(bm)} mark-compacts / 10k ops`;
  }
  return res;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    const src = fs.readFileSync(__filename, 'utf8').split('\n');
    const end = src.findIndex((l) => l.startsWith(' */'));
    console.log(src.slice(2, end).map((l) => l.replace(/^ \* ?/, '')).join('\n'));
    return;
  }
  if (args.list) {
    for (const t of TRIALS) console.log(`${pad(t.name, 9)} ${t.title}`);
    return;
  }
  if (args.child) {
    await runChild(args.child, args.opts);
    return;
  }

  const samples = args.samples ?? (args.quick ? 7 : 9);
  if (!(Number.isInteger(samples) && samples >= 7)) throw new Error('--samples must be an integer >= 7');
  const opts = {
    samples,
    sampleMs: args.sampleMs ?? (args.quick ? 50 : 200),
    warmMs: args.quick ? 100 : 300,
    minOpsScale: args.quick ? 0.25 : 1,
  };
  const trials = args.only ? TRIALS.filter((t) => args.only.includes(t.name)) : TRIALS;
  if (args.only) {
    const unknown = args.only.filter((n) => !TRIALS.some((t) => t.name === n));
    if (unknown.length) throw new Error(`unknown trial(s) ${unknown.join(', ')} (try --list)`);
  }

  const started = new Date();
  const results = [];
  const t0 = Date.now();
  for (const trial of trials) {
    process.stderr.write(`bench:js  ${pad(trial.name, 8)} ... `);
    const ts = Date.now();
    const r = cp.spawnSync(
      process.execPath,
      ['--expose-gc', __filename, '--child', trial.name, '--opts', JSON.stringify(opts)],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * MiB },
    );
    if (r.status !== 0 || r.error) {
      process.stderr.write('failed\n');
      throw new Error(`trial ${trial.name}: child exited ${r.status} ${r.signal || ''} ${r.error || ''}`);
    }
    const lines = r.stdout.trim().split('\n');
    const res = JSON.parse(lines[lines.length - 1]);
    process.stderr.write(`${((Date.now() - ts) / 1000).toFixed(1)} s\n`);
    for (const c of res.contestants) {
      c.median = median(c.samplesNs);
      c.min = Math.min(...c.samplesNs);
      c.max = Math.max(...c.samplesNs);
    }
    results.push({ trial, res });
  }
  const elapsed = (Date.now() - t0) / 1000;

  // Table.
  const head = `offheap bench:js  node ${process.version}  v8 ${process.versions.v8}  ${cpuModel()} x${os.cpus().length}  ` +
    `${opts.samples} samples/contestant  ${args.quick ? 'QUICK' : 'full'}  ${started.toISOString()}`;
  const lines = [head, ''];
  lines.push('ns/op: median [min-max] of the samples; ratio: median / the trial\'s baseline (*), [min-max of per-round ratios]');
  lines.push('GC in window: median minor / major collections per sample (perf_hooks), ops: ops per sample');
  const targetsOut = [];
  for (const { trial, res } of results) {
    lines.push('');
    lines.push(`[${trial.name}] ${trial.title}`);
    lines.push(`  ${pad('contestant', 20)} ${lpad('ns/op', 9)}  ${pad('[min-max]', 19)} ${lpad('ratio', 7)}  ${pad('[round min-max]', 17)} ${lpad('ops', 9)}  GC minor/major`);
    const byId = {};
    for (const c of res.contestants) byId[c.id] = c;
    const base = byId[trial.baseline];
    for (const c of res.contestants) {
      const perRound = c.samplesNs.map((x, r) => x / base.samplesNs[r]);
      const isBase = c.id === trial.baseline;
      const gmin = median(c.gcInWindow.map((g) => g.minor));
      const gmaj = median(c.gcInWindow.map((g) => g.major));
      lines.push(
        `  ${pad(c.id + (isBase ? ' *' : ''), 20)} ${lpad(fmtNs(c.median), 9)}  ${pad(`[${fmtNs(c.min)}-${fmtNs(c.max)}]`, 19)} ` +
          `${lpad(isBase ? '1' : fmtR(c.median / base.median), 7)}  ` +
          `${pad(isBase ? '' : `[${fmtR(Math.min(...perRound))}-${fmtR(Math.max(...perRound))}]`, 17)} ${lpad(c.opsPerSample, 9)}  ${gmin} / ${gmaj}`,
      );
    }
    for (const t of trial.targets) {
      const tr = checkTarget(t, byId, trial);
      if (tr) targetsOut.push(tr);
    }
  }
  lines.push('');
  lines.push('targets (shared/DESIGN.md "Performance targets"):');
  for (const t of targetsOut) {
    lines.push(`  ${t.met ? 'met   ' : 'MISSED'}  ${pad(t.trial, 8)} ${pad(t.of, 14)} ${pad(t.target, 40)} measured ${t.measured}`);
  }
  const met = targetsOut.filter((t) => t.met).length;
  lines.push(`  ${met} of ${targetsOut.length} targets met; ${elapsed.toFixed(1)} s`);
  const table = lines.join('\n');
  console.log(table);

  // JSON.
  const stamp = started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const date = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6)}`;
  const file = path.join(ROOT, 'bench', 'results', `js-views-${date}${args.quick ? '-quick' : ''}.json`);
  let thingVersion = null;
  try {
    thingVersion = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', '@thi.ng', 'malloc', 'package.json'), 'utf8')).version;
  } catch {
    /* not installed */
  }
  const json = {
    schema: 1,
    tool: 'offheap bench/js/views.js',
    mode: args.quick ? 'quick' : 'full',
    date: started.toISOString(),
    unit: 'ns per op (alloc+free pair; Buffer.allocUnsafe: one allocation, reclaimed by GC)',
    clock: 'process.hrtime.bigint() around the whole window (ops in ~5 ms chunks, one event-loop turn after each)',
    host: {
      node: process.version,
      v8: process.versions.v8,
      napi: process.versions.napi,
      cpu_model: cpuModel(),
      cpus: os.cpus().length,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      totalmem: os.totalmem(),
    },
    git: gitRev(),
    versions: { '@thi.ng/malloc': thingVersion },
    params: { ...opts, ring: RING, childArgs: ['--expose-gc'] },
    elapsedS: +elapsed.toFixed(1),
    trials: results.map(({ trial, res }) => ({
      name: trial.name,
      title: trial.title,
      baseline: trial.baseline,
      minOps: trial.minOps * opts.minOpsScale,
      childPid: res.pid,
      contestants: res.contestants.map((c) => ({
        ...c,
        median: +c.median.toFixed(3),
        min: +c.min.toFixed(3),
        max: +c.max.toFixed(3),
        ratioToBaseline: +(c.median / res.contestants.find((x) => x.id === trial.baseline).median).toFixed(4),
      })),
    })),
    targets: targetsOut,
    table,
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(ROOT, file)}`);
}

main().catch((e) => {
  console.error(`bench:js: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
