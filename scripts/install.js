#!/usr/bin/env node
/*
 * offheap's install step (package.json "install"), run by npm in the package folder:
 *   1. a binary that loads already: a prebuilt one in prebuilds/<platform>-<arch>/ or a source
 *      build in build/Release — resolved by node-gyp-build, exactly as lib/binding.ts loads it —
 *      then there is nothing to do;
 *   2. otherwise the source build (node-gyp rebuild), when a C and a C++ compiler, make and
 *      python3 are on PATH;
 *   3. otherwise exit 1 with one line on stderr that says which binary is missing and which
 *      tools are, instead of node-gyp's page of errors.
 * `npm install --build-from-source` (npm_config_build_from_source=true) skips step 1.
 * Plain JavaScript with no dependency but node-gyp-build: it runs before anything is compiled.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');
const target = `${process.platform}-${process.arch}`;
const napi = process.versions.napi || 'unknown';

function fail(line) {
  process.stderr.write(`offheap: ${line}\n`);
  process.exit(1);
}

function firstLine(err) {
  return String((err && err.message) || err).split('\n')[0];
}

/** null when a binary loads; otherwise why not, as a phrase for the error line. */
function whyNoBinary() {
  let nodeGypBuild;
  try {
    nodeGypBuild = require('node-gyp-build');
  } catch (err) {
    return `node-gyp-build cannot be loaded (${firstLine(err)})`;
  }
  try {
    nodeGypBuild(root);
    return null;
  } catch (err) {
    let file = null;
    try {
      file = nodeGypBuild.path(root);
    } catch (_) {
      // nothing matches this platform, arch and Node-API version
    }
    if (!file) return `no prebuilt binary for ${target} (Node-API ${napi})`;
    return `${path.relative(root, file)} does not load on ${target} (${firstLine(err)})`;
  }
}

/** The first of `names` that is an executable file on PATH, or null. */
function onPath(names) {
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean);
  for (const name of names) {
    if (name.includes('/')) {
      if (isExecutable(name)) return name;
      continue;
    }
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return null;
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch (_) {
    return false;
  }
}

/** The command a build tool is taken from: the first word of an env override, else defaults. */
function candidates(envValue, defaults) {
  const word = (envValue || '').trim().split(/\s+/)[0];
  return word ? [word] : defaults;
}

/** The names of the build tools node-gyp would need and cannot find. */
function missingTools() {
  const bsd = process.platform.includes('bsd');
  // The names node-gyp's make generator and its Python lookup use, with their env overrides.
  const tools = [
    ['cc', candidates(process.env.CC, ['cc', 'gcc', 'clang'])],
    ['c++', candidates(process.env.CXX, ['c++', 'g++', 'clang++'])],
    [bsd ? 'gmake' : 'make', candidates(process.env.MAKE, [bsd ? 'gmake' : 'make'])],
    ['python3', candidates(process.env.npm_config_python || process.env.PYTHON, ['python3', 'python'])],
  ];
  return tools.filter(([, names]) => !onPath(names)).map(([label]) => label);
}

/** [command, args] that run node-gyp as npm would: npm's own node-gyp first, else PATH's. */
function nodeGypCommand() {
  const bundled = process.env.npm_config_node_gyp;
  if (bundled && fs.existsSync(bundled)) {
    return /\.(c|m)?js$/.test(bundled) ? [process.execPath, [bundled]] : [bundled, []];
  }
  const onPathGyp = onPath(['node-gyp']);
  return onPathGyp ? [onPathGyp, []] : null;
}

const fromSource = process.env.npm_config_build_from_source === 'true';
const why = fromSource ? 'a source build was asked for (--build-from-source)' : whyNoBinary();
if (why === null) process.exit(0);

const missing = missingTools();
if (missing.length > 0) {
  fail(`${why} and cannot build one: no C/C++ compiler, make or python3 on PATH (missing: ${missing.join(', ')})`);
}
const gyp = nodeGypCommand();
if (!gyp) fail(`${why} and cannot build one: node-gyp not found (npm_config_node_gyp unset, none on PATH)`);

const [cmd, pre] = gyp;
const built = spawnSync(cmd, [...pre, 'rebuild'], { cwd: root, stdio: 'inherit' });
if (built.error) fail(`${why}; the source build could not start: ${firstLine(built.error)}`);
if (built.status !== 0) fail(`${why}; the source build failed (node-gyp rebuild exited ${built.status ?? built.signal})`);
const after = whyNoBinary();
if (after !== null) fail(`the source build finished but no binary loads: ${after}`);
