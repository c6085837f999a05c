#!/usr/bin/env node
/*
 * A JSON service loop over an offheap arena, recording its allocations as a trace.
 *
 * Each request arrives as a JSON body (128 B .. 64 KiB, most of them small) read into an arena
 * buffer, is parsed, and gets a response serialized into an arena buffer that starts at 512 B
 * and is grown with realloc until the JSON fits. The request buffer is freed once parsed; the
 * response stays in flight for 1..16 ticks (slow clients) before it is freed; one response in
 * eight is also copied into a cache of 64 entries (zeroed header + body, evicted oldest first).
 *
 *   node examples/json-service.js [--requests 4000] [--seed 7] [--views fast]
 *                                 [--out bench/traces/json-service.trace]
 *
 * Replay the trace against every allocator with `npm run bench -- --trace <file>`.
 */
'use strict';

const path = require('path');
const { recordingArena, finishTrace, rng, exampleArgs, summary } = require('./util');

const args = exampleArgs({
  requests: 4000,
  seed: 7,
  views: 'fast',
  out: path.join(__dirname, '..', 'bench', 'traces', 'json-service.trace'),
});
const r = rng(args.seed);
const arena = recordingArena({ allocator: 'dlmalloc', views: args.views, capacity: 64 * 1024 * 1024 }, [
  `recorded by examples/json-service.js --requests ${args.requests} --seed ${args.seed}`,
  'a JSON service: request bodies parsed, responses grown with realloc, in flight 1..16 ticks, a 64-entry cache',
]);

/** A request body of about `size` bytes of JSON. */
function requestJson(size, id) {
  const items = [];
  let len = 40;
  while (len < size) {
    const item = { sku: `sku-${Math.floor(r() * 1e6)}`, qty: 1 + Math.floor(r() * 9), price: +(r() * 100).toFixed(2) };
    items.push(item);
    len += 48;
  }
  return JSON.stringify({ id, user: `user-${Math.floor(r() * 5000)}`, items });
}

/** Request sizes: mostly small, a long tail up to 64 KiB. */
function requestSize() {
  return Math.min(65536, Math.floor(128 * Math.exp(r() * r() * Math.log(512))));
}

const inflight = []; // [dueTick, buffer]
const cache = []; // [header, body]
let served = 0;
let bytesOut = 0;

for (let tick = 0; tick < args.requests; tick++) {
  // 1. The request: read into an arena buffer, parse, free.
  const text = requestJson(requestSize(), tick);
  const reqLen = Buffer.byteLength(text);
  const req = arena.alloc(reqLen);
  req.write(text, 0, 'utf8');
  const doc = JSON.parse(req.toString('utf8', 0, reqLen));
  arena.free(req);

  // 2. The response: serialized into a buffer grown with realloc until it fits.
  const total = doc.items.reduce((s, it) => s + it.qty * it.price, 0);
  const body = JSON.stringify({
    id: doc.id,
    user: doc.user,
    lines: doc.items.length,
    total: +total.toFixed(2),
    skus: doc.items.slice(0, 64).map((it) => it.sku),
  });
  let cap = 512;
  let res = arena.alloc(cap);
  while (Buffer.byteLength(body) > cap) {
    cap *= 2;
    res = arena.realloc(res, cap);
  }
  const n = res.write(body, 0, 'utf8');
  bytesOut += n;

  // 3. One in eight goes to the cache: a zeroed header and a copy of the body.
  if (r() < 0.125) {
    const header = arena.calloc(1, 64);
    header.writeUInt32LE(doc.id, 0);
    header.writeUInt32LE(n, 4);
    const copy = arena.alloc(n);
    res.copy(copy, 0, 0, n);
    cache.push([header, copy]);
    if (cache.length > 64) {
      const [h, c] = cache.shift();
      arena.free(c);
      arena.free(h);
    }
  }

  // 4. In flight for a while (slow clients), then freed.
  inflight.push([tick + 1 + Math.floor(r() * 16), res]);
  for (let i = inflight.length - 1; i >= 0; i--) {
    if (inflight[i][0] <= tick) {
      arena.free(inflight[i][1]);
      inflight.splice(i, 1);
      served++;
    }
  }
}
// Shut down: the remaining responses and the cache.
for (const [, b] of inflight) arena.free(b);
served += inflight.length;
for (const [h, c] of cache) {
  arena.free(c);
  arena.free(h);
}
const st = arena.stats();
const trace = finishTrace(arena, args.out);
summary('json-service', trace, args.out, `${served} responses, ${(bytesOut / 1048576).toFixed(1)} MiB out, arena peak committed ${(st.peakCommitted / 1024).toFixed(0)} KiB`);
