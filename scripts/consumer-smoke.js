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
