#!/usr/bin/env node
/*
 * A particle simulation over an offheap arena, recording its allocations as a trace.
 *
 * Positions and velocities live in Float64Arrays (x, y, z per particle) for the whole run and
 * are resized with realloc when particles are spawned or retired. Every step allocates its
 * scratch arrays (forces, a uniform grid's cell counts and cell starts, the sorted particle
 * index) from the arena and frees them at the end of the step; every 50 steps a snapshot of the
 * positions is kept, the last 4 of them.
 *
 *   node examples/physics-step.js [--steps 1200] [--particles 400] [--seed 11] [--views fast]
 *                                 [--out bench/traces/physics-step.trace]
 */
'use strict';

const path = require('path');
const { recordingArena, finishTrace, rng, exampleArgs, summary } = require('./util');

const args = exampleArgs({
  steps: 1200,
  particles: 400,
  seed: 11,
  views: 'fast',
  out: path.join(__dirname, '..', 'bench', 'traces', 'physics-step.trace'),
});
const r = rng(args.seed);
const arena = recordingArena({ allocator: 'dlmalloc', views: args.views, capacity: 64 * 1024 * 1024 }, [
  `recorded by examples/physics-step.js --steps ${args.steps} --particles ${args.particles} --seed ${args.seed}`,
  'a particle step: persistent Float64Arrays resized with realloc, per-step scratch arrays, a ring of 4 snapshots',
]);

const f64 = (buf, len) => new Float64Array(buf.buffer, buf.byteOffset, len);
const G = 8; // grid cells per axis
const DT = 0.01;

let n = args.particles;
let pos = arena.allocArray(Float64Array, n * 3);
let vel = arena.allocArray(Float64Array, n * 3);
for (let i = 0; i < n * 3; i++) {
  pos[i] = r();
  vel[i] = (r() - 0.5) * 0.1;
}
const snapshots = [];
let energy = 0;

/** Resizes the particle arrays to m particles (realloc keeps the first min(n, m)). */
function resize(m) {
  pos = f64(arena.realloc(pos, m * 24), m * 3);
  vel = f64(arena.realloc(vel, m * 24), m * 3);
  for (let i = n * 3; i < m * 3; i++) {
    pos[i] = r();
    vel[i] = (r() - 0.5) * 0.1;
  }
  n = m;
}

for (let step = 0; step < args.steps; step++) {
  // Scratch of this step.
  const force = arena.allocArray(Float64Array, n * 3);
  const counts = arena.allocArray(Uint32Array, G * G * G);
  const starts = arena.allocArray(Uint32Array, G * G * G + 1);
  const order = arena.allocArray(Uint32Array, n);
  const cell = (i) => {
    const c = (v) => Math.min(G - 1, Math.max(0, Math.floor(v * G)));
    return (c(pos[i * 3]) * G + c(pos[i * 3 + 1])) * G + c(pos[i * 3 + 2]);
  };
  // Counting sort of the particles by cell.
  for (let i = 0; i < n; i++) counts[cell(i)]++;
  for (let c = 0; c < G * G * G; c++) starts[c + 1] = starts[c] + counts[c];
  counts.fill(0);
  for (let i = 0; i < n; i++) {
    const c = cell(i);
    order[starts[c] + counts[c]++] = i;
  }
  // Forces: pull to the centre, and a soft repulsion within each cell.
  for (let c = 0; c < G * G * G; c++) {
    for (let a = starts[c]; a < starts[c + 1]; a++) {
      const i = order[a];
      for (let k = 0; k < 3; k++) force[i * 3 + k] += (0.5 - pos[i * 3 + k]) * 0.5;
      for (let b = a + 1; b < starts[c + 1] && b < a + 8; b++) {
        const j = order[b];
        for (let k = 0; k < 3; k++) {
          const d = pos[i * 3 + k] - pos[j * 3 + k];
          force[i * 3 + k] += d * 0.1;
          force[j * 3 + k] -= d * 0.1;
        }
      }
    }
  }
  energy = 0;
  for (let i = 0; i < n * 3; i++) {
    vel[i] = (vel[i] + force[i] * DT) * 0.999;
    pos[i] += vel[i] * DT;
    energy += vel[i] * vel[i];
  }
  arena.free(order);
  arena.free(starts);
  arena.free(counts);
  arena.free(force);

  // Snapshots: every 50 steps, the last 4 kept.
  if (step % 50 === 0) {
    const snap = arena.alloc(n * 24);
    f64(snap, n * 3).set(pos);
    snapshots.push(snap);
    if (snapshots.length > 4) arena.free(snapshots.shift());
  }
  // Particles spawn and retire now and then.
  if (step % 20 === 19) resize(Math.max(64, Math.min(4000, Math.round(n * (0.8 + r() * 0.45)))));
}
for (const s of snapshots) arena.free(s);
arena.free(vel);
arena.free(pos);
const st = arena.stats();
const trace = finishTrace(arena, args.out);
summary('physics-step', trace, args.out, `${n} particles at the end, kinetic ${energy.toFixed(3)}, arena peak committed ${(st.peakCommitted / 1024).toFixed(0)} KiB`);
