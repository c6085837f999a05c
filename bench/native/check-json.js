#!/usr/bin/env node
// Shape check of a native-bench JSON result (bench/native/run.sh).
//   node bench/native/check-json.js FILE [--expect-all] [--svg CHART.svg]
// --expect-all: also require every contestant the binary was built with to be
// present with passing heap checks and realloc sanity (used by --selftest).
// --svg: also check that the chart made from it (bench/native/svg.js) is
// well-formed SVG; counted as one more cell in the --expect-all summary.
// Exits 1 with a list of problems, 0 when the file is well-formed.
'use strict';
const fs = require('fs');

const file = process.argv[2];
const expectAll = process.argv.includes('--expect-all');
const svgAt = process.argv.indexOf('--svg');
const svgFile = svgAt > 0 ? process.argv[svgAt + 1] : null;
if (!file || (svgAt > 0 && !svgFile)) {
  console.error('usage: node bench/native/check-json.js FILE [--expect-all] [--svg CHART.svg]');
  process.exit(2);
}

const problems = [];
let cellsPassed = 0;
let cellsFailed = 0;
const need = (cond, msg) => { if (!cond) problems.push(msg); };
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const isPos = (v) => isNum(v) && v > 0;
const isStr = (v) => typeof v === 'string';

let j;
try {
  j = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch (e) {
  console.error(`check-json: ${file}: ${e.message}`);
  process.exit(1);
}

need(j.schema === 1, 'schema must be 1');
need(['full', 'quick', 'selftest'].includes(j.mode), 'mode must be full|quick|selftest');
need(isStr(j.date) && !Number.isNaN(Date.parse(j.date)), 'date must be an ISO date');
need(j.host && isStr(j.host.cpu_model) && j.host.cpu_model.length > 0, 'host.cpu_model missing');
need(j.host && isPos(j.host.online_cpus), 'host.online_cpus missing');
need(j.host && isPos(j.host.cpus_available), 'host.cpus_available missing');
need(j.host && isStr(j.host.kernel) && j.host.kernel.length > 0, 'host.kernel missing');
need(j.compiler && isStr(j.compiler.cc_version) && isStr(j.compiler.__VERSION__), 'compiler info missing');
need(isStr(j.libc) && j.libc.startsWith('glibc'), 'libc missing');
need(isStr(j.malloc_resolves_to) && /libc[.-]/.test(j.malloc_resolves_to),
  `malloc resolves to ${j.malloc_resolves_to}, not glibc: the "glibc" column is not glibc`);
const P = j.params || {};
for (const k of ['samples', 'pair_iters', 'ring_iters', 'churn_live', 'churn_steps', 'footprint_steps',
  'realloc_max', 'realloc_reps', 'phase_blocks', 'larson_live', 'larson_steps']) {
  need(isPos(P[k]), `params.${k} missing`);
}
need(j.baseline === 'glibc', 'baseline must be glibc');
need(isPos(j.harness_overhead_ns), 'harness_overhead_ns missing');
need(Array.isArray(j.contestants) && j.contestants.length >= 4, 'need at least dl, dl+lock, dl-global, glibc');
// The workloads, in table order.
const WORKLOADS = [
  ...[16, 64, 256, 1024, 4096, 65536, 1048576].map((s) => `pair-${s}`),
  ...[16, 64, 256, 1024, 4096].map((s) => `ws64-${s}`),
  'churn', 'realloc-2x', 'realloc-1.25x', 'phase-64', 'phase-mix',
  'larson-1t', 'larson-2t', 'larson-4t',
];
const KINDS = ['pair', 'ws64', 'churn', 'realloc', 'phase', 'larson'];
const HEAPS = ['process', 'per-thread', 'shared'];
need(Array.isArray(j.workloads) && j.workloads.length === WORKLOADS.length,
  `need ${WORKLOADS.length} workloads`);
need(Array.isArray(j.results), 'results missing');
if (problems.length === 0) {
  const cnames = j.contestants.map((c) => c.name);
  for (const n of ['dl', 'dl+lock', 'dl-global', 'glibc']) need(cnames.includes(n), `contestant ${n} missing`);
  for (const c of j.contestants) {
    need(isStr(c.name) && isStr(c.description) && isStr(c.version), `contestant fields of ${c.name}`);
    if (expectAll) need(c.realloc_ok === true, `${c.name}: realloc sanity failed`);
    need(HEAPS.includes(c.threaded_heap), `${c.name}: threaded_heap must be one of ${HEAPS.join('|')}`);
  }
  const heapOf = Object.fromEntries(j.contestants.map((c) => [c.name, c.threaded_heap]));
  const wnames = j.workloads.map((w) => w.name);
  for (const n of WORKLOADS) need(wnames.includes(n), `workload ${n} missing`);
  const wl = Object.fromEntries(j.workloads.map((w) => [w.name, w]));
  for (const w of j.workloads) {
    need(KINDS.includes(w.kind), `${w.name}: unknown kind ${w.kind}`);
    need(isPos(w.iters), `${w.name}: iters missing`);
    need(w.clock === (w.kind === 'larson' ? 'wall' : 'thread_cpu'), `${w.name}: wrong clock ${w.clock}`);
    if (w.kind === 'realloc' || w.kind === 'phase') need(isPos(w.reps), `${w.name}: reps missing`);
    if (w.kind === 'realloc') need(isPos(w.growth) && w.growth > 1 && isPos(w.sizes), `${w.name}: growth fields`);
    if (w.kind === 'phase') need(isPos(w.blocks) && ['allocation', 'random'].includes(w.free_order), `${w.name}: phase fields`);
    if (w.kind === 'larson') need([1, 2, 4].includes(w.threads), `${w.name}: threads must be 1, 2 or 4`);
  }
  need(j.results.length === cnames.length * wnames.length,
    `results: ${j.results.length} cells, expected ${cnames.length} x ${wnames.length}`);
  const seen = new Set();
  for (const r of j.results) {
    const id = `${r.workload}/${r.contestant}`;
    need(wnames.includes(r.workload) && cnames.includes(r.contestant), `${id}: unknown cell`);
    need(!seen.has(id), `${id}: duplicate`);
    seen.add(id);
    need(isPos(r.median_ns) && isPos(r.min_ns) && isPos(r.max_ns), `${id}: bad timings`);
    need(r.min_ns <= r.median_ns && r.median_ns <= r.max_ns, `${id}: min <= median <= max violated`);
    need(isPos(r.ratio_vs_glibc), `${id}: bad ratio`);
    if (r.contestant === 'glibc') need(Math.abs(r.ratio_vs_glibc - 1) < 1e-9, `${id}: glibc ratio != 1`);
    need(Array.isArray(r.samples_ns) && r.samples_ns.length === P.samples && r.samples_ns.every(isPos),
      `${id}: samples_ns must hold ${P.samples} positive numbers`);
    need(isPos(r.warmup_ns), `${id}: warmup_ns missing`);
    need(isPos(r.wall_median_ns) && Array.isArray(r.wall_samples_ns) &&
      r.wall_samples_ns.length === P.samples && r.wall_samples_ns.every(isPos),
      `${id}: wall-clock samples missing`);
    need(r.heap_check !== false, `${id}: heap check failed`);
    if (r.contestant.startsWith('dl') || r.contestant.startsWith('buddy')) {
      need(r.heap_check === true, `${id}: heap check missing`);
    }
    const w = wl[r.workload];
    if (w && w.kind === 'realloc') need(isPos(r.growth_median_ns), `${id}: growth_median_ns missing`);
    if (w && w.kind === 'larson') {
      need(r.threads === w.threads, `${id}: threads`);
      need(r.heap === heapOf[r.contestant], `${id}: heap ${r.heap}, contestant says ${heapOf[r.contestant]}`);
      need(isPos(r.cpu_median_ns), `${id}: cpu_median_ns missing`);
      need(isPos(r.throughput_ops_per_s), `${id}: throughput_ops_per_s missing`);
      need(isPos(r.speedup_vs_1t), `${id}: speedup_vs_1t missing`);
      if (w.threads === 1) need(Math.abs(r.speedup_vs_1t - 1) < 1e-9, `${id}: 1-thread speedup != 1`);
    }
    need(r.verify_failures === 0, `${id}: ${r.verify_failures} block verification failure(s)`);
    if (r.heap_check !== false && r.verify_failures === 0 && isPos(r.median_ns)) cellsPassed++;
    else cellsFailed++;
  }
  const fp = j.churn_footprint || {};
  need(isPos(fp.peak_live_bytes), 'churn_footprint.peak_live_bytes missing');
  need(isStr(fp.method), 'churn_footprint.method missing');
  need(Array.isArray(fp.contestants) && fp.contestants.length === cnames.length, 'churn_footprint.contestants');
  for (const f of fp.contestants || []) {
    need(f.ok === true, `footprint of ${f.name} not measured`);
    if (f.ok) need(isNum(f.rss_delta_bytes) && isNum(f.rss_ratio), `footprint of ${f.name}: rss fields`);
    if (f.ok && f.name.startsWith('dl')) {
      need(isPos(f.alloc_max_footprint_bytes) && isPos(f.alloc_footprint_ratio),
        `footprint of ${f.name}: allocator footprint missing`);
      need(f.alloc_max_footprint_bytes >= fp.peak_live_bytes,
        `footprint of ${f.name}: max footprint below peak live bytes`);
    }
  }
  need(j.verify_failures === 0, `verify_failures = ${j.verify_failures}`);
}

if (svgFile) {
  let svgProblems;
  try {
    svgProblems = require('./svg.js').checkSvg(fs.readFileSync(svgFile, 'utf8'));
  } catch (e) {
    svgProblems = [e.message];
  }
  for (const p of svgProblems.slice(0, 20)) problems.push(`${svgFile}: ${p}`);
  if (svgProblems.length) cellsFailed++;
  else cellsPassed++;
}

if (problems.length) {
  // stdout, so that the summary line below really comes last.
  console.log(`check-json: ${file}: ${problems.length} problem(s)`);
  for (const p of problems) console.log(`  - ${p}`);
}
if (expectAll) {
  // One line a test runner's log reader understands: contestant x workload
  // cells that passed; any other problem counts as one more failure.
  const other = problems.length > 0 && cellsFailed === 0 ? 1 : 0;
  console.log(`bench-selftest: ${cellsPassed} passed, ${cellsFailed + other} failed`);
}
process.exit(problems.length ? 1 : 0);
