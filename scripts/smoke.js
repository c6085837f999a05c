#!/usr/bin/env node
/*
 * offheap — a quick smoke test of the built addon through the public entry
 * point (dist/), run by `npm test` until the jest suites (test/js/) cover it:
 * every method for both allocators and both view modes, the error table,
 * a short randomised shadow model with check(), GC reclaim (with
 * --expose-gc), worker_threads and a scribble run in a child process (started with
 * OFFHEAP_NODE_LAUNCHER, when set, before the node binary: scripts/run-arm64.sh sets it).
 * Ends with "N passed, M failed". Not a substitute for the jest suites.
 */
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');
const { Worker } = require('worker_threads');
const { setImmediate: tick } = require('timers/promises');
const { Arena } = require(path.join(__dirname, '..'));

let passed = 0;
let failed = 0;
function ok(cond, what) {
  if (cond) passed++;
  else {
    failed++;
    console.log(`  FAIL ${what}`);
  }
}
function code(fn) {
  try {
    fn();
    return 'none';
  } catch (e) {
    return e.code;
  }
}

const configs = [];
for (const allocator of ['dlmalloc', 'buddy']) for (const views of ['safe', 'fast']) configs.push({ allocator, views });

function happy({ allocator, views }) {
  const tag = `${allocator}/${views}`;
  const a = new Arena({ allocator, views, capacity: 1 << 24 });
  const b = a.alloc(100);
  b.fill(1);
  ok(b.length === 100 && a.owns(b) && a.usableSize(b) >= 100, `${tag} alloc`);
  const z = a.calloc(10, 8);
  ok(z.length === 80 && z.every((x) => x === 0), `${tag} calloc`);
  const f = a.allocArray(Float64Array, 1000);
  ok(f.length === 1000 && f.every((x) => x === 0) && f.byteOffset % 8 === 0, `${tag} allocArray`);
  const p = a.alignedAlloc(65536, 100);
  ok(p.length === 100, `${tag} alignedAlloc`);
  const r = a.realloc(b, 5000);
  ok(r[0] === 1 && r[99] === 1 && r.length === 5000, `${tag} realloc keeps contents`);
  if (views === 'safe') ok(b.byteLength === 0, `${tag} old view detached`);
  ok(code(() => a.free(r.subarray(1))) === 'ERR_ARENA_NOT_ALLOCATED', `${tag} interior`);
  const pooled = Buffer.allocUnsafe(10);
  ok(code(() => a.free(pooled)) === 'ERR_ARENA_FOREIGN' && pooled.length === 10, `${tag} pooled foreign`);
  ok(Buffer.from('x').toString() === 'x', `${tag} Buffer pool intact`);
  ok(code(() => a.free(Buffer.alloc(10))) === 'ERR_ARENA_FOREIGN', `${tag} Buffer.alloc foreign`);
  ok(code(() => a.free(new Uint8Array(new SharedArrayBuffer(8)))) === 'ERR_ARENA_FOREIGN', `${tag} SAB foreign`);
  const other = new Arena({ allocator, views, capacity: 1 << 20 });
  const ob = other.alloc(10);
  ok(code(() => a.free(ob)) === 'ERR_ARENA_FOREIGN' && ob.length === 10, `${tag} other arena foreign`);
  other.destroy();
  for (const bad of [-1, NaN, 1.5, 2 ** 53, (1 << 24) + 1]) ok(code(() => a.alloc(bad)) === 'ERR_OUT_OF_RANGE', `${tag} size ${bad}`);
  ok(code(() => a.alloc('1')) === 'ERR_INVALID_ARG_TYPE', `${tag} size type`);
  ok(code(() => a.alignedAlloc(3, 1)) === 'ERR_OUT_OF_RANGE', `${tag} alignment`);
  ok(code(() => a.calloc(2 ** 40, 2 ** 40)) === 'ERR_OUT_OF_RANGE', `${tag} calloc overflow`);
  ok(code(() => a.free({})) === 'ERR_INVALID_ARG_TYPE', `${tag} free type`);
  ok(code(() => a.alloc(1 << 24)) === 'ERR_ARENA_OOM', `${tag} oom`);
  a.free(r);
  ok(code(() => a.free(r)) === 'ERR_ARENA_NOT_ALLOCATED', `${tag} double free`);
  const s = a.stats();
  ok(s.inUse + s.free === s.committed && s.liveAllocations === 3, `${tag} stats add up`);
  a.check();
  ok(a.trim() >= 0, `${tag} trim`);
  a.reset();
  ok(a.stats().liveAllocations === 0, `${tag} reset`);
  if (views === 'safe') ok(z.byteLength === 0 && f.length === 0, `${tag} reset detaches`);
  const last = a.alloc(10);
  a.destroy();
  a.destroy();
  ok(code(() => a.alloc(1)) === 'ERR_ARENA_DESTROYED', `${tag} after destroy`);
  if (views === 'safe') ok(last.byteLength === 0, `${tag} destroy detaches`);
  else ok(last[0] === 0, `${tag} fast view readable after destroy (zeros)`);
}

function shadow({ allocator, views }, ops) {
  const tag = `${allocator}/${views}`;
  const a = new Arena({ allocator, views, capacity: 1 << 24 });
  let seed = 12345;
  const rnd = (n) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const live = [];
  let bad = 0;
  for (let i = 0; i < ops; i++) {
    const op = rnd(10);
    if (op < 5 || live.length === 0) {
      const n = rnd(10) < 8 ? rnd(512) : rnd(200000);
      const b = a.tryAlloc(n);
      if (b) {
        b.fill(i & 255);
        live.push([b, i & 255]);
      }
    } else if (op < 9) {
      const j = rnd(live.length);
      const [b, v] = live[j];
      if (b.length && (b[0] !== v || b[b.length - 1] !== v)) bad++;
      a.free(b);
      live[j] = live[live.length - 1];
      live.pop();
    } else {
      const j = rnd(live.length);
      const [b, v] = live[j];
      const n = rnd(4096);
      const oldLen = b.length;
      const r = a.realloc(b, n);
      if (views === 'safe' && b.byteLength !== 0) bad++;
      const keep = Math.min(oldLen, n);
      for (let k = 0; k < Math.min(keep, 64); k++) if (r[k] !== v) bad++;
      r.fill(v);
      live[j] = [r, v];
    }
    if (i % 5000 === 0) a.check();
  }
  for (const [b, v] of live) if (b.length && b[0] !== v) bad++;
  ok(bad === 0, `${tag} shadow contents (${bad} bad)`);
  a.check();
  a.destroy();
}

async function gcReclaim() {
  if (typeof global.gc !== 'function') return;
  for (const allocator of ['dlmalloc', 'buddy']) {
    const a = new Arena({ allocator, capacity: 1 << 24 });
    (() => {
      for (let i = 0; i < 1000; i++) a.alloc(1000);
    })();
    for (let i = 0; i < 20 && a.stats().liveAllocations > 0; i++) {
      global.gc();
      await tick();
    }
    ok(a.stats().liveAllocations === 0, `${allocator} unreachable allocations reclaimed after GC`);
    let x = a.alloc(64);
    a.free(x);
    x = null;
    const y = a.alloc(64);
    y.fill(7);
    for (let i = 0; i < 5; i++) {
      global.gc();
      await tick();
    }
    ok(y.every((v) => v === 7) && a.stats().liveAllocations === 1, `${allocator} late finalizer changes nothing`);
    a.destroy();
  }
}

async function workers() {
  const src = `
    const { Arena } = require(${JSON.stringify(path.join(__dirname, '..'))});
    const { parentPort } = require('worker_threads');
    const arenas = [new Arena({ capacity: 1 << 22 }), new Arena({ allocator: 'buddy', views: 'fast', capacity: 1 << 22 })];
    parentPort.postMessage('ready');
    const live = [];
    for (;;) for (const a of arenas) {
      const b = a.tryAlloc((Math.random() * 5000) | 0);
      if (b) live.push([a, b]);
      if (live.length > 300) { const [x, y] = live.shift(); x.free(y); }
    }`;
  const runs = [];
  for (let i = 0; i < 4; i++) {
    const w = new Worker(src, { eval: true });
    runs.push(
      new Promise((resolve, reject) => {
        w.on('error', reject);
        w.on('message', () => setTimeout(() => w.terminate().then(resolve), 30));
      }),
    );
  }
  try {
    await Promise.all(runs);
    ok(true, 'workers');
  } catch (e) {
    ok(false, `workers: ${e.message}`);
  }
}

function scribble() {
  const src = `
    const { Arena } = require(${JSON.stringify(path.join(__dirname, '..'))});
    let seed = 7; const rnd = (n) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
    const codes = {};
    for (const allocator of ['dlmalloc', 'buddy']) for (let round = 0; round < 10; round++) {
      const a = new Arena({ allocator, views: 'fast', capacity: 1 << 22 });
      const live = [];
      for (let i = 0; i < 300; i++) { const b = a.tryAlloc(rnd(3000)); if (b) live.push(b); }
      const u8 = new Uint8Array(live[0].buffer);
      for (let i = 0; i < 200; i++) u8[rnd(a.stats().committed)] = rnd(256);
      for (let i = 0; i < 2000; i++) {
        try {
          if (rnd(2) && live.length) { const j = rnd(live.length); a.free(live[j]); live.splice(j, 1); }
          else { const b = a.tryAlloc(rnd(3000)); if (b) { b.fill(0xaa); live.push(b); } }
          if (i % 100 === 0) a.check();
        } catch (e) { codes[e.code] = (codes[e.code] || 0) + 1; if (e.code !== 'ERR_ARENA_NOT_ALLOCATED') break; }
      }
      a.destroy();
    }
    console.log(JSON.stringify(codes));`;
  // Under user-mode emulation the kernel cannot start this node binary by itself:
  // OFFHEAP_NODE_LAUNCHER (set by scripts/run-arm64.sh) is the command that starts it.
  const launcher = (process.env.OFFHEAP_NODE_LAUNCHER || '').split(' ').filter(Boolean);
  const cmd = [...launcher, process.execPath, '-e', src];
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 120000 });
  let codes = {};
  try {
    codes = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    codes = null;
  }
  const allowed = new Set(['ERR_ARENA_CORRUPTED', 'ERR_ARENA_NOT_ALLOCATED']);
  ok(
    r.status === 0 && r.signal === null && codes && Object.keys(codes).every((c) => allowed.has(c)),
    `scribble child: status ${r.status} signal ${r.signal} ${r.stdout} ${r.stderr.slice(0, 500)}`,
  );
}

(async () => {
  const ops = +(process.env.OFFHEAP_SMOKE_OPS || 20000);
  for (const c of configs) {
    happy(c);
    shadow(c, ops);
  }
  await gcReclaim();
  await workers();
  scribble();
  console.log(`smoke: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
})();
