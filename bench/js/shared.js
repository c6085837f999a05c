#!/usr/bin/env node
/*
 * Shared-arena throughput: 1, 2 and 4 worker_threads doing alloc+free pairs (sizes 16..1024 B,
 * a small working set per worker) on
 *   - one shared arena (new Arena({ shared: true }), every worker attached to it),
 *   - one arena per worker (fast views, not shared: the fastest path),
 *   - one @thi.ng/malloc MemPool over a SharedArrayBuffer, guarded by an Atomics spinlock
 *     (what a JavaScript program would otherwise write by hand).
 * Figures: total ops/s of all workers, and the ratio to the same contestant with 1 worker
 * (scaling), median of 5 runs (--quick 3, --tiny 1). Wall-clock time of the parallel
 * phase, from the moment all workers are ready. Each contestant runs in its own child process.
 * The table goes to stdout (report.js, formatShared), a progress line per cell to stderr. The
 * @thi.ng/malloc contestant runs only where that package is installed.
 *
 *   node bench/js/shared.js [--quick | --tiny] [--json FILE]
 */
'use strict';
const cp = require('child_process');
const os = require('os');
const path = require('path');
const fs = require('fs');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

const { installed } = require('./contestants');
const report = require('./report');

const ROOT = path.resolve(__dirname, '..', '..');
const CONTESTANTS = ['shared-arena', 'arena-per-worker', 'thi.ng-sab-lock'];
const NEEDS = { 'thi.ng-sab-lock': '@thi.ng/malloc' };
const THREADS = [1, 2, 4];

function sizes(seed, n) {
  let s = seed >>> 0;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = 16 + (s % 1009);
  }
  return out;
}

/* ---- worker ---------------------------------------------------------------------------------- */

async function workerLoop() {
  const { contestant, handle, sab, ops, id } = workerData;
  const sz = sizes(id + 1, 4096);
  const ring = new Array(32).fill(null);
  let run;
  if (contestant === 'shared-arena' || contestant === 'arena-per-worker') {
    const { Arena } = require(ROOT);
    const arena = contestant === 'shared-arena' ? Arena.attach(handle) : new Arena({ views: 'fast', capacity: 64 << 20 });
    run = () => {
      for (let i = 0; i < ops; i++) {
        const k = i & 31;
        if (ring[k] !== null) arena.free(ring[k]);
        const b = arena.alloc(sz[i & 4095]);
        b[0] = i;
        ring[k] = b;
      }
      for (let k = 0; k < 32; k++) if (ring[k] !== null) arena.free(ring[k]), (ring[k] = null);
    };
  } else {
    const { MemPool } = await import('@thi.ng/malloc');
    const lock = new Int32Array(sab, 0, 1);
    // The pool's state lives in the SharedArrayBuffer (skipInitialization in the workers).
    const pool = new MemPool({ buf: sab, start: 8, skipInitialization: true });
    const acquire = () => {
      while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) Atomics.wait(lock, 0, 1, 1);
    };
    const release = () => {
      Atomics.store(lock, 0, 0);
      Atomics.notify(lock, 0, 1);
    };
    const u8 = new Uint8Array(sab);
    run = () => {
      for (let i = 0; i < ops; i++) {
        const k = i & 31;
        acquire();
        if (ring[k] !== null) pool.free(ring[k]);
        const p = pool.malloc(sz[i & 4095]);
        release();
        if (p === 0) throw new Error('thi.ng pool full');
        u8[p] = i;
        ring[k] = p;
      }
      acquire();
      for (let k = 0; k < 32; k++) if (ring[k] !== null) pool.free(ring[k]), (ring[k] = null);
      release();
    };
  }
  run(); // warm-up (and JIT)
  parentPort.postMessage('ready');
  parentPort.once('message', () => {
    const t0 = process.hrtime.bigint();
    run();
    const t1 = process.hrtime.bigint();
    parentPort.postMessage(Number(t1 - t0));
  });
}

/* ---- one trial (child process): one contestant, one thread count ------------------------------ */

async function trial(contestant, threads, ops) {
  const { Arena } = require(ROOT);
  let handle = null;
  let sab = null;
  let shared = null;
  if (contestant === 'shared-arena') {
    shared = new Arena({ shared: true, capacity: 256 << 20 });
    handle = shared.share();
  } else if (contestant === 'thi.ng-sab-lock') {
    const { MemPool } = await import('@thi.ng/malloc');
    sab = new SharedArrayBuffer(64 << 20);
    new MemPool({ buf: sab, start: 8 });
  }
  const workers = [];
  for (let id = 0; id < threads; id++) {
    workers.push(new Worker(__filename, { workerData: { contestant, handle, sab, ops, id } }));
  }
  await Promise.all(workers.map((w) => new Promise((res) => w.once('message', res))));
  const t0 = process.hrtime.bigint();
  const done = workers.map((w) => new Promise((res) => w.once('message', res)));
  for (const w of workers) w.postMessage('go');
  await Promise.all(done);
  const wall = Number(process.hrtime.bigint() - t0);
  await Promise.all(workers.map((w) => w.terminate()));
  if (shared) {
    if (shared.stats().liveAllocations !== 0) throw new Error('shared arena: blocks lost');
    shared.check();
    shared.destroy();
  }
  return (threads * ops) / (wall / 1e9);
}

/* ---- driver ----------------------------------------------------------------------------------- */

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function main() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const tiny = args.includes('--tiny');
  const jsonAt = args.indexOf('--json');
  const samples = tiny ? 1 : quick ? 3 : 5;
  const ops = tiny ? 2000 : quick ? 100000 : 300000;
  const skipped = CONTESTANTS.filter((c) => NEEDS[c] && !installed(NEEDS[c])).map((c) => ({ contestant: c, needs: NEEDS[c] }));
  const contestants = CONTESTANTS.filter((c) => !skipped.some((s) => s.contestant === c));
  process.stderr.write(
    `bench: shared arenas (bench/js/shared.js): ${contestants.length} contestants x ${THREADS.join(', ')} workers x ` +
      `${samples} sample(s), one child process each\n`,
  );
  if (skipped.length > 0) {
    process.stderr.write(
      `bench: skipped ${skipped.map((s) => s.contestant).join(', ')}: npm install ${skipped.map((s) => s.needs).join(' ')} to run it\n`,
    );
  }
  const results = [];
  for (const contestant of contestants) {
    for (const threads of THREADS) {
      process.stderr.write(`  shared     ${report.pad(`${contestant} x${threads}`, 24)} `);
      const t0 = Date.now();
      const runs = [];
      for (let s = 0; s < samples; s++) {
        const r = cp.spawnSync(process.execPath, [__filename, '--trial', contestant, String(threads), String(ops)], {
          encoding: 'utf8',
        });
        if (r.status !== 0) {
          process.stderr.write('x\n');
          throw new Error(`${contestant} x${threads}: ${r.stderr}`);
        }
        runs.push(Number(r.stdout.trim().split('\n').pop()));
        process.stderr.write('.');
      }
      process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      results.push({ contestant, threads, opsPerSec: median(runs), samples: runs });
    }
  }
  for (const r of results) {
    r.scaling = r.opsPerSec / results.find((x) => x.contestant === r.contestant && x.threads === 1).opsPerSec;
  }
  const out = {
    benchmark: 'offheap shared arenas',
    date: new Date().toISOString(),
    node: process.versions.node,
    v8: process.versions.v8,
    cpu: os.cpus()[0]?.model,
    cpus: os.cpus().length,
    opsPerWorker: ops,
    samples,
    skipped,
    results,
  };
  console.log(report.formatShared(out));
  if (jsonAt >= 0) fs.writeFileSync(args[jsonAt + 1], JSON.stringify(out, null, 2) + '\n');
}

if (!isMainThread) {
  workerLoop();
} else if (process.argv[2] === '--trial') {
  trial(process.argv[3], Number(process.argv[4]), Number(process.argv[5])).then((opsPerSec) => {
    process.stdout.write(`${opsPerSec}\n`);
  });
} else {
  main();
}
