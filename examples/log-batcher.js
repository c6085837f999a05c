#!/usr/bin/env node
/*
 * A log batcher over an offheap arena, recording its allocations as a trace.
 *
 * Each log record is formatted into a small arena buffer (32 B .. 1 KiB), appended to the
 * current batch buffer, which grows with realloc (x1.5) as it fills, and freed. A batch is
 * shipped when it holds 256 records or 48 KiB; then the whole batch arena is reset at once (the
 * `x` operation of the trace). Records of level error are also kept, one allocation each, in
 * the batch's error index until the reset.
 *
 *   node examples/log-batcher.js [--records 9000] [--seed 5] [--views fast]
 *                                [--out bench/traces/log-batcher.trace]
 */
'use strict';

const path = require('path');
const { recordingArena, finishTrace, rng, exampleArgs, summary } = require('./util');

const args = exampleArgs({
  records: 9000,
  seed: 5,
  views: 'fast',
  out: path.join(__dirname, '..', 'bench', 'traces', 'log-batcher.trace'),
});
const r = rng(args.seed);
const arena = recordingArena({ allocator: 'dlmalloc', views: args.views, capacity: 64 * 1024 * 1024 }, [
  `recorded by examples/log-batcher.js --records ${args.records} --seed ${args.seed}`,
  'a log batcher: small per-record buffers, a batch grown with realloc, an error index, reset per batch',
]);

const LEVELS = ['debug', 'info', 'info', 'info', 'warn', 'error'];
const WORDS = ['request', 'served', 'cache', 'miss', 'user', 'timeout', 'retry', 'db', 'query', 'slow', 'ok', 'upstream'];

let batch = null;
let used = 0;
let records = 0;
let errors = [];
let shipped = 0;
let checksum = 0;
let peakCommitted = 0;

function ship() {
  for (let i = 0; i < used; i++) checksum = (checksum * 31 + batch[i]) >>> 0;
  shipped++;
  peakCommitted = Math.max(peakCommitted, arena.stats().peakCommitted); // a reset starts it anew
  arena.reset(); // the batch, and the error index, all at once
  batch = null;
  used = 0;
  records = 0;
  errors = [];
}

for (let i = 0; i < args.records; i++) {
  const level = LEVELS[Math.floor(r() * LEVELS.length)];
  const words = [];
  const nWords = 2 + Math.floor(r() * r() * 120);
  for (let w = 0; w < nWords; w++) words.push(WORDS[Math.floor(r() * WORDS.length)]);
  const line = `${new Date(1.7e12 + i * 137).toISOString()} ${level} ${words.join(' ')}\n`;
  const len = Buffer.byteLength(line);
  const rec = arena.alloc(len);
  rec.write(line, 0, 'utf8');
  if (batch === null) batch = arena.alloc(1024);
  if (used + len > batch.length) {
    let cap = batch.length;
    while (used + len > cap) cap = Math.ceil(cap * 1.5);
    batch = arena.realloc(batch, cap);
  }
  rec.copy(batch, used, 0, len);
  used += len;
  records++;
  if (level === 'error') {
    const e = arena.alloc(len);
    rec.copy(e, 0, 0, len);
    errors.push(e);
  }
  arena.free(rec);
  if (records >= 256 || used >= 48 * 1024) ship();
}
if (batch !== null) ship();
const trace = finishTrace(arena, args.out);
summary('log-batcher', trace, args.out, `${shipped} batches, checksum ${checksum.toString(16)}, arena peak committed ${(peakCommitted / 1024).toFixed(0)} KiB`);
