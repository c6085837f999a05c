#!/usr/bin/env node
/*
 * `offheap-bench`: the JavaScript benchmark and trace replay (bench/js/run.js) as the package's
 * bin, for a project that installed offheap from the registry:
 *
 *   npx offheap-bench --trace my.trace    replay a recorded trace against every contestant
 *   npx offheap-bench --quick             the short run;  npx offheap-bench --help: every option
 *
 * It measures the installed package (its dist/ and its prebuilt or built binary). Relative
 * --trace paths are relative to the current folder, and the results go to
 * ./offheap-bench-results/ unless --out says otherwise. The @thi.ng/malloc and typedarray-pool
 * contestants run when the project has those packages installed; otherwise they are skipped
 * with a note naming the package to install.
 */
'use strict';

const path = require('path');
const { cli } = require('./run');

cli(process.argv.slice(2), {
  defaultOut: path.resolve('offheap-bench-results'),
  traceBase: process.cwd(),
});
