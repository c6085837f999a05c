#!/usr/bin/env node
/*
 * The smoke test of an installed offheap package, as a consumer uses it: scripts/check-package.sh
 * copies this file into an app folder where `npm install <tarball>` put node_modules/offheap, and
 * runs it there, so `require('offheap')` resolves by package name to the installed copy.
 *   - the binary in the process is the prebuilt one for this platform and arch (the one
 *     node-gyp-build resolves, in prebuilds/<platform>-<arch>/, mapped into this process), and
 *     the install made no source build (node_modules/offheap/build/ does not exist);
 *   - for both allocators x views 'safe' and 'fast': alloc, calloc, allocArray, realloc, free,
 *     stats, check, reset, destroy, and ERR_ARENA_FOREIGN for a view the arena did not make.
 * Ends with "N passed, M failed"; exit status 1 when any failed.
 *
 * `node smoke.js --bench` checks the package's bin instead: it records a tiny trace with the
 * package's own TraceRecorder and replays it with `npx --no -- offheap-bench --tiny --trace` (the
 * self-test scale: a few seconds), which must exit 0, print the trace's table in lines of at most
 * 120 columns, write its JSON, and say which packages to install for the contestants it skipped
 * (the bench's devDependencies, which a consumer does not have).
 */
'use strict';
const fs = require('fs');
const path = require('path');

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

const target = `${process.platform}-${process.arch}`;
console.log(`node ${process.version} ${target} (Node-API ${process.versions.napi})`);

if (process.argv.includes('--bench')) {
  benchBin();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

let offheap;
try {
  offheap = require('offheap');
} catch (e) {
  console.log(`  FAIL require('offheap'): ${e.message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const { Arena } = offheap;

// Which binary: resolved as lib/binding.ts resolves it, and really mapped into this process.
const pkgDir = path.dirname(require.resolve('offheap/package.json'));
const nodeGypBuild = require(require.resolve('node-gyp-build', { paths: [pkgDir] }));
const expected = path.join(pkgDir, 'prebuilds', target, 'offheap.node');
const resolved = nodeGypBuild.path(pkgDir);
console.log(`binary: ${resolved}`);
ok(resolved === expected, `node-gyp-build resolves ${path.relative(pkgDir, expected)} (got ${resolved})`);
ok(!fs.existsSync(path.join(pkgDir, 'build')), 'no source build (node_modules/offheap/build/ absent)');
const mapped = fs
  .readFileSync('/proc/self/maps', 'utf8')
  .split('\n')
  .map((line) => line.slice(line.indexOf('/')))
  .filter((file) => file.endsWith('.node'));
ok(
  mapped.length > 0 && mapped.every((file) => fs.realpathSync(file) === fs.realpathSync(expected)),
  `the only addon mapped is ${path.relative(pkgDir, expected)} (mapped: ${[...new Set(mapped)].join(', ') || 'none'})`,
);

for (const allocator of ['dlmalloc', 'buddy']) {
  for (const views of ['safe', 'fast']) {
    const tag = `${allocator}/${views}`;
    const a = new Arena({ allocator, views, capacity: 1 << 22 });

    const b = a.alloc(100);
    b.fill(7);
    ok(b.length === 100 && a.owns(b), `${tag} alloc`);
    const z = a.calloc(16, 8);
    ok(z.length === 128 && z.every((x) => x === 0), `${tag} calloc zeroed`);
    const f = a.allocArray(Float64Array, 500);
    ok(f instanceof Float64Array && f.length === 500 && f.byteOffset % 8 === 0, `${tag} allocArray`);
    f[499] = 1.5;
    const r = a.realloc(b, 10000);
    ok(r.length === 10000 && r[0] === 7 && r[99] === 7, `${tag} realloc keeps contents`);
    if (views === 'safe') ok(b.byteLength === 0, `${tag} realloc detaches the old view`);

    ok(code(() => a.free(Buffer.alloc(16))) === 'ERR_ARENA_FOREIGN', `${tag} free(Buffer.alloc) is foreign`);
    const other = new Arena({ allocator, views, capacity: 1 << 20 });
    const ob = other.alloc(8);
    ok(code(() => a.free(ob)) === 'ERR_ARENA_FOREIGN', `${tag} free(view of another arena) is foreign`);
    other.destroy();

    const s = a.stats();
    ok(s.liveAllocations === 3 && s.inUse + s.free === s.committed && s.inUse >= 10000 + 128 + 4000, `${tag} stats`);
    a.free(r);
    ok(a.stats().liveAllocations === 2, `${tag} free`);
    ok(code(() => a.free(r)) === 'ERR_ARENA_NOT_ALLOCATED', `${tag} double free`);
    ok(code(() => a.check()) === 'none', `${tag} check`);
    a.reset();
    ok(a.stats().liveAllocations === 0, `${tag} reset`);
    if (views === 'safe') ok(z.byteLength === 0 && f.length === 0, `${tag} reset detaches`);
    a.destroy();
    ok(a.destroyed && code(() => a.alloc(1)) === 'ERR_ARENA_DESTROYED', `${tag} destroy`);
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

/** `npx offheap-bench` replays a tiny trace in this app (see the header). */
function benchBin() {
  const { spawnSync } = require('child_process');
  const { TraceRecorder, saveTrace } = require('offheap');
  const rec = new TraceRecorder({ comments: ['consumer-smoke.js tiny trace'] });
  const ids = [];
  for (let i = 0; i < 40; i++) ids.push(rec.alloc(16 + 97 * i));
  rec.realloc(ids[3], 5000);
  for (let i = 0; i < 40; i += 2) rec.free(ids[i]);
  rec.calloc(256);
  rec.reset();
  rec.alloc(64);
  saveTrace('tiny.trace', rec.finish());

  const out = path.resolve('bench-results');
  fs.rmSync(out, { recursive: true, force: true });
  // --no: the installed bin or nothing, never a download; `--` before the command, or npm takes
  // the bench's options for its own.
  const args = ['--no', '--', 'offheap-bench', '--tiny', '--jobs', '2', '--trace', 'tiny.trace', '--out', out];
  const r = spawnSync('npx', args, { encoding: 'utf8', timeout: 120e3 });
  console.log(`npx ${args.join(' ')}: exit ${r.status}${r.error ? ` (${r.error.message})` : ''}`);
  if (r.status !== 0) console.log(`${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-20).map((l) => `  | ${l}`).join('\n'));
  ok(r.status === 0, 'npx offheap-bench exits 0');
  const bin = path.join('node_modules', '.bin', 'offheap-bench');
  ok(
    fs.existsSync(bin) && fs.realpathSync(bin) === fs.realpathSync(path.join(pkgDirOf(), 'bench', 'js', 'bin.js')),
    'node_modules/.bin/offheap-bench is the package\'s bench/js/bin.js',
  );
  const stdout = r.stdout || '';
  ok(/^\[trace tiny\] \d+ ops/m.test(stdout), 'the table has the trace');
  const long = stdout.split('\n').filter((l) => l.length > 120);
  ok(long.length === 0, `every line at most 120 columns (longer: ${long.length})`);
  // The contestants from the bench's devDependencies: skipped with a note, unless installed.
  const missing = ['@thi.ng/malloc', 'typedarray-pool'].filter((p) => {
    try {
      require.resolve(p);
      return false;
    } catch {
      return true;
    }
  });
  const note = (r.stderr || '').split('\n').find((l) => l.startsWith('bench: skipped '));
  ok(
    missing.length === 0 ? note === undefined : !!note && missing.every((p) => note.includes(`npm install`) && note.includes(p)),
    `the skipped contestants' one-line note names ${missing.join(' and ') || 'nothing'} (${note || 'no note'})`,
  );
  const jsonFile = fs.existsSync(out) ? fs.readdirSync(out).find((f) => /^js-.*-tiny-partial\.json$/.test(f)) : undefined;
  ok(!!jsonFile, `the JSON in ${out}`);
  if (jsonFile) {
    const j = JSON.parse(fs.readFileSync(path.join(out, jsonFile), 'utf8'));
    const t = j.traces && j.traces[0];
    ok(!!t && t.name === 'tiny' && t.results.length >= 5 && t.results.every((c) => c.medianNs > 0), 'every contestant replayed the trace');
    ok(j.versions && j.versions.offheap === require('offheap/package.json').version, 'the installed offheap was measured');
    ok(Array.isArray(j.errors) && j.errors.length === 0, 'no errors');
  }
}

function pkgDirOf() {
  return path.dirname(require.resolve('offheap/package.json'));
}
