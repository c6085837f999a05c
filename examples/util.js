/*
 * Helpers of the example programs that record allocation traces (bench/traces/*.trace): a seeded
 * PRNG, `--name value` arguments, recording with arena.startTrace() / stopTrace(), a summary line.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const { Arena, saveTrace } = require('..');

/** A new arena that records its allocation trace from now on. */
function recordingArena(options, comments) {
  const arena = new Arena(options);
  arena.startTrace(comments);
  return arena;
}

/** Stops the recording, writes the trace to file, destroys the arena; returns the trace. */
function finishTrace(arena, file) {
  const trace = arena.stopTrace();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  saveTrace(file, trace);
  arena.destroy();
  return trace;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function rng(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** --name value arguments of an example, with defaults. */
function exampleArgs(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (!(name in defaults) || i + 1 >= argv.length) {
      console.error(`usage: node ${path.relative(process.cwd(), process.argv[1])} ${Object.keys(defaults).map((k) => `[--${k} ${defaults[k]}]`).join(' ')}`);
      process.exit(2);
    }
    const v = argv[++i];
    out[name] = typeof defaults[name] === 'number' ? Number(v) : v;
  }
  return out;
}

function summary(name, trace, file, extra) {
  const s = trace.stats();
  const size = fs.statSync(file).size;
  console.log(
    `${name}: ${s.operations} operations (${s.allocs} alloc, ${s.callocs} calloc, ${s.reallocs} realloc, ${s.frees} free, ` +
      `${s.resets} reset), peak live ${(s.peakLiveBytes / 1024).toFixed(1)} KiB in ${s.peakLiveBlocks} blocks; ` +
      `${extra}; wrote ${path.relative(process.cwd(), file)} (${(size / 1024).toFixed(0)} KiB)`,
  );
}

module.exports = { recordingArena, finishTrace, rng, exampleArgs, summary };
