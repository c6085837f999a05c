#!/usr/bin/env node
/*
 * Compares this checkout's offheap with another build of it, in one process.
 *
 *   node bench/js/compare.js <other-package-root> [--samples N] [--ms M] [--only a,b]
 *
 * <other-package-root> is another checkout of offheap, built (dist/ and its native binary), e.g.
 * `git worktree add /tmp/before <commit> && cd /tmp/before && npm install`. Both packages are
 * loaded into this process (two copies of the package and of the addon; neither takes the other's
 * views), and each workload alternates between them sample by sample, so that a machine whose
 * speed drifts (a shared VM: 2x between quick runs) slows both alike. Each workload's loop is
 * compiled once per package, so every call site sees one Arena class. Reports the median ns per
 * alloc+free of each and their ratio (this / other: < 1 is faster here).
 */
'use strict';
const os = require('os');
const path = require('path');

const KiB = 1024;
const MiB = 1024 * 1024;

function parseArgs(argv) {
  const o = { other: null, samples: 15, ms: 60, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--samples') o.samples = Number(argv[++i]);
    else if (a === '--ms') o.ms = Number(argv[++i]);
    else if (a === '--only') o.only = argv[++i].split(',');
    else if (a === '--help' || a === '-h') o.help = true;
    else o.other = a;
  }
  return o;
}

/** alloc(n) + free of one block, `views` arenas of `allocator`: the paths a change of the core touches. */
const WORKLOADS = [];
for (const allocator of ['dlmalloc', 'buddy']) {
  for (const [views, sizes] of [
    ['fast', [64, 4 * KiB, 128 * KiB, MiB]], // up to 64 KiB: the spare stacks (JavaScript); above: allocIO/freeIO
    ['safe', [64, 4 * KiB, MiB]],
  ]) {
    for (const n of sizes) {
      const label = n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} B`;
      WORKLOADS.push({ id: `${allocator}-${views}-${label.replace(' ', '')}`, allocator, views, n, label });
    }
  }
}

/** A loop of k alloc+free pairs over `arena`, compiled for this package alone. */
function makeLoop(n) {
  // eslint-disable-next-line no-new-func
  return new Function(
    'arena',
    'k',
    `let acc = 0;
     for (let i = 0; i < k; i++) {
       const b = arena.alloc(${n});
       acc += b.length;
       arena.free(b);
     }
     return acc;`,
  );
}

/** ns per pair of one sample of about `ms` milliseconds (k calibrated beforehand). */
function sample(loop, arena, k, n) {
  const t0 = process.hrtime.bigint();
  const acc = loop(arena, k);
  const t1 = process.hrtime.bigint();
  if (acc !== k * n) throw new Error(`sink mismatch: ${acc} !== ${k * n}`);
  return Number(t1 - t0) / k;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.help || !o.other) {
    process.stdout.write('usage: node bench/js/compare.js <other-package-root> [--samples N] [--ms M] [--only id,id]\n');
    process.exit(o.help ? 0 : 2);
  }
  const here = require(path.join(__dirname, '..', '..'));
  const other = require(path.resolve(o.other));
  if (here.Arena === other.Arena) throw new Error('the other package is this one');
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    `offheap ${here.version} (here) vs ${other.version} (${o.other}); Node ${process.versions.node}; ${cpu}, ${os.cpus().length} CPUs\n` +
      `${o.samples} alternating samples of ~${o.ms} ms each; median ns per alloc+free\n\n`,
  );
  const rows = [];
  for (const w of WORKLOADS) {
    if (o.only && !o.only.includes(w.id)) continue;
    const sides = [here, other].map((P) => ({
      arena: new P.Arena({ allocator: w.allocator, views: w.views, capacity: 256 * MiB }),
      loop: makeLoop(w.n),
      ns: [],
    }));
    // Warm up and calibrate on this side's speed: k pairs take about o.ms.
    let k = 64;
    for (const s of sides) for (let r = 0; r < 5; r++) sample(s.loop, s.arena, 1000, w.n);
    for (;;) {
      const ns = sample(sides[0].loop, sides[0].arena, k, w.n);
      if (ns * k >= o.ms * 1e6 || k >= 1 << 24) break;
      k = Math.min(1 << 24, Math.ceil((o.ms * 1e6) / Math.max(ns, 1)));
    }
    for (let i = 0; i < o.samples; i++) {
      const order = i % 2 === 0 ? sides : [sides[1], sides[0]];
      for (const s of order) s.ns.push(sample(s.loop, s.arena, k, w.n));
    }
    for (const s of sides) s.arena.destroy();
    const a = median(sides[0].ns);
    const b = median(sides[1].ns);
    rows.push([w.id, a, b, a / b]);
    process.stdout.write(`${w.id.padEnd(24)} here ${a.toFixed(1).padStart(8)} ns   other ${b.toFixed(1).padStart(8)} ns   here/other ${(a / b).toFixed(2)}\n`);
  }
  const gm = Math.exp(rows.reduce((s, r) => s + Math.log(r[3]), 0) / Math.max(rows.length, 1));
  process.stdout.write(`\ngeometric mean of here/other over ${rows.length} workloads: ${gm.toFixed(3)}\n`);
}

main();
