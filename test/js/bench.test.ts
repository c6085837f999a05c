/**
 * The JavaScript benchmark harness (bench/js/), run end to end at its self-test scale
 * (`--tiny`: tiny workloads, one round of two short samples, every trial still in its own child
 * process): every contestant produces numbers on every workload and trace, the JSON has the
 * shape bench/js/README.md documents, the SVG is well-formed XML, a tiny recorded trace replays
 * on every contestant, every printed line fits in 120 columns and every table names the Node
 * version and the CPU model, the shared-arena phase reports progress and is in the chart, the
 * package's bin (`offheap-bench`) replays a trace from an installed copy of the package without
 * the bench's devDependencies, the charts put every value on its bar's side of the 1x line, and
 * the example programs record valid traces. No timing is asserted.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { TraceRecorder, loadTrace, saveTrace } from '../..';
import { xmlWellFormedError } from './xml-check';

const ROOT = path.join(__dirname, '..', '..');
const RUN = path.join(ROOT, 'bench', 'js', 'run.js');

// The harness's own modules are plain CommonJS JavaScript.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { CONTESTANTS } = require('../../bench/js/contestants') as { CONTESTANTS: Array<{ id: string }> };
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { WORKLOADS, contestantsOf } = require('../../bench/js/workloads') as {
  WORKLOADS: Array<{ id: string }>;
  contestantsOf(w: unknown, cs: unknown[]): Array<{ id: string }>;
};
// eslint-disable-next-line @typescript-eslint/no-var-requires
const report = require('../../bench/js/report') as { renderSvg(json: unknown): string };
// eslint-disable-next-line @typescript-eslint/no-var-requires
const nativeSvg = require('../../bench/native/svg') as { render(json: unknown): string; checkSvg(svg: string): string[] };

type Json = Record<string, unknown>;
const CONTESTANT_IDS = CONTESTANTS.map((c) => c.id);
const WORKLOAD_IDS = WORKLOADS.map((w) => w.id);
/** The contestants each workload runs (some are for some contestants only: workloads.js). */
const WORKLOAD_CONTESTANTS = Object.fromEntries(WORKLOADS.map((w) => [w.id, contestantsOf(w, CONTESTANTS).map((c) => c.id)]));
/** The workloads of issue 12 (per request, unzeroed typed pooling, offsets, reset of 4 GiB). */
const ISSUE12 = ['request-256m', 'request-4g', 'typed-unsafe', 'offsets', 'reset-4g'];

let dir = '';
let full: { status: number | null; stdout: string; stderr: string; files: string[]; json: Json; svg: string };
let replay: { status: number | null; stdout: string; stderr: string; files: string[]; json: Json; svg: string };

function runBench(args: string[], out: string): typeof full {
  const r = spawnSync(process.execPath, [RUN, ...args, '--out', out], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const files = fs.existsSync(out) ? fs.readdirSync(out).sort() : [];
  const jsonFile = files.find((f) => /^js-\d{4}-\d\d-\d\dT\d{6}Z-tiny.*\.json$/.test(f));
  const svgFile = files.find((f) => /^js-\d{4}-\d\d-\d\dT\d{6}Z-tiny.*\.svg$/.test(f));
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    files,
    json: jsonFile ? (JSON.parse(fs.readFileSync(path.join(out, jsonFile), 'utf8')) as Json) : {},
    svg: svgFile ? fs.readFileSync(path.join(out, svgFile), 'utf8') : '',
  };
}

/** A tiny trace with every operation, zero sizes, a reset and blocks left live at the end. */
function tinyTrace(file: string): void {
  const rec = new TraceRecorder({ comments: ['bench.test.ts tiny trace'] });
  const a = rec.alloc(100);
  const b = rec.calloc(0);
  const c = rec.alloc(5000);
  rec.realloc(a, 300_000);
  rec.realloc(b, 64);
  rec.free(c);
  rec.realloc(a, 10);
  rec.reset();
  for (let i = 0; i < 50; i++) rec.alloc(16 * i);
  for (let i = 0; i < 50; i += 2) rec.free(i);
  const z = rec.calloc(4096);
  rec.realloc(z, 0);
  saveTrace(file, rec.finish());
}

/** Printed lines longer than 120 columns (stderr: the bench's own lines, not Node's warnings). */
function longLines(r: { stdout: string; stderr: string }): string[] {
  const err = r.stderr.split('\n').filter((l) => !l.startsWith('(node:'));
  return [...r.stdout.split('\n'), ...err].filter((l) => l.length > 120);
}

/** The title lines of the tables: "<what> -- node <version>, <CPU model> (<n> CPUs)" (a long model cut, '..'). */
function titleLines(stdout: string): string[] {
  const model = os.cpus()[0]?.model.trim() ?? 'unknown';
  const n = os.cpus().length;
  const host = new RegExp(` -- node ${process.version.replace(/\./g, '\\.')}, (.*) \\(${n} CPUs?\\)$`);
  return stdout.split('\n').filter((l) => {
    const m = host.exec(l)?.[1];
    return m !== undefined && (m === model || (m.endsWith('..') && model.startsWith(m.slice(0, -2))));
  });
}

interface SvgText {
  x: number;
  end: boolean;
  text: string;
}
interface SvgBar {
  x: number;
  w: number;
  title: string;
  label: SvgText;
}

/** The bars (a rect with a title) of a chart, each with the text drawn after it: its value. */
function barsOf(svg: string): SvgBar[] {
  const lines = svg.split('\n');
  const out: SvgBar[] = [];
  lines.forEach((l, i) => {
    const m = /^<rect x="([-\d.]+)" y="[-\d.]+" width="([\d.]+)"[^>]*><title>(.*)<\/title><\/rect>$/.exec(l);
    if (!m) return;
    // The value label is the next text (after an arrowhead's path, for a clipped bar).
    const next = lines.slice(i + 1, i + 3).find((x) => x.startsWith('<text '));
    const t = next === undefined ? null : /^<text x="([-\d.]+)"[^>]*>(.*)<\/text>$/.exec(next);
    if (!next || !t) throw new Error(`no label after ${l}`);
    out.push({
      x: Number(m[1]),
      w: Number(m[2]),
      title: m[3] ?? '',
      label: { x: Number(t[1]), end: / text-anchor="end"/.test(next), text: t[2] ?? '' },
    });
  });
  return out;
}

/** x of the chart's 1x line: its black vertical line. */
function oneX(svg: string): number {
  const m = /<line x1="([\d.]+)" y1="[\d.]+" x2="\1" y2="[\d.]+" stroke="#000000"/.exec(svg);
  if (!m) throw new Error('no 1x line');
  return Number(m[1]);
}

/** Problems of a bar whose value label is not beyond its end, on its side of the 1x line. */
function labelSideErrors(bars: SvgBar[], x1: number, faster: (b: SvgBar) => boolean): string[] {
  const e: string[] = [];
  for (const b of bars) {
    const left = faster(b);
    if (left !== b.label.end) e.push(`${b.title}: label anchored ${b.label.end ? 'end' : 'start'}`);
    if (left && !(b.label.x <= b.x && b.label.x < x1)) e.push(`${b.title}: label at ${b.label.x}, bar from ${b.x}, 1x at ${x1}`);
    if (!left && !(b.label.x >= b.x + b.w && b.label.x > x1)) e.push(`${b.title}: label at ${b.label.x}, bar to ${b.x + b.w}, 1x at ${x1}`);
  }
  return e;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'offheap-bench-'));
  const trace = path.join(dir, 'tiny.trace');
  tinyTrace(trace);
  full = runBench(['--tiny', '--jobs', '2'], path.join(dir, 'full'));
  replay = runBench(['--tiny', '--jobs', '2', '--trace', trace], path.join(dir, 'replay'));
}, 400_000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/* ------------------------------------------------------------------------------------------- */
/* The JSON's documented shape (bench/js/README.md, "The JSON")                                */
/* ------------------------------------------------------------------------------------------- */

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isPos = (x: unknown): boolean => isNum(x) && x > 0;
const isStr = (x: unknown): x is string => typeof x === 'string';
const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

function cellErrors(where: string, c: unknown, trace: boolean, hasBaseline = true): string[] {
  const e: string[] = [];
  const need = (ok: boolean, what: string): void => {
    if (!ok) e.push(`${where}: ${what}`);
  };
  if (!isObj(c)) return [`${where}: not an object`];
  need(isStr(c.contestant) && CONTESTANT_IDS.includes(c.contestant), 'contestant id');
  need(c.error === undefined, `error ${String(c.error)}`);
  need(Array.isArray(c.samplesNs) && c.samplesNs.length >= 2 && c.samplesNs.every(isPos), 'samplesNs: finite, > 0');
  for (const k of ['medianNs', 'minNs', 'maxNs', 'opsPerSec', 'opsPerSample', 'ratioToBest', 'peakRss', 'rssStart']) {
    need(isPos(c[k]), `${k} finite and > 0 (got ${String(c[k])})`);
  }
  // A workload without the baseline (reset-4g) has no ratio to it.
  if (hasBaseline) need(isPos(c.ratioToAllocUnsafe), `ratioToAllocUnsafe finite and > 0 (got ${String(c.ratioToAllocUnsafe)})`);
  else need(c.ratioToAllocUnsafe === null, 'ratioToAllocUnsafe null without the baseline');
  if (c.part !== undefined) {
    const pt = c.part;
    need(
      isObj(pt) && isStr(pt.what) && Array.isArray(pt.samplesNs) && pt.samplesNs.length >= 2 && pt.samplesNs.every(isPos) &&
        isPos(pt.medianNs) && isPos(pt.minNs) && isPos(pt.maxNs),
      'part: what, samplesNs, medianNs, minNs, maxNs',
    );
    need(isObj(pt) && (pt.medianNs as number) <= (c.medianNs as number) * 1.5, 'part no longer than the whole op');
  }
  need(isNum(c.spread) && (c.spread as number) >= 0, 'spread >= 0');
  need(isNum(c.ratioToBest) && (c.ratioToBest as number) >= 1 - 1e-9, 'ratioToBest >= 1');
  need(isNum(c.rounds) && c.rounds === 1, 'rounds');
  need(Array.isArray(c.childPids) && c.childPids.length === c.rounds, 'childPids');
  need(isNum(c.peakLiveBytes) && (c.peakLiveBytes as number) >= 0, 'peakLiveBytes');
  const gc = c.gc;
  need(
    isObj(gc) && ['minorPerSample', 'majorPerSample', 'msPerSample', 'majorPer10kOps'].every((k) => isNum(gc[k]) && (gc[k] as number) >= 0),
    'gc figures',
  );
  const family = CONTESTANTS.find((x) => x.id === c.contestant) as { family?: string } | undefined;
  if (family?.family === 'gc' || c.contestant === 'typedarray-pool') {
    need(c.memory === null, 'memory null for contestants without memory figures');
  } else {
    const m = c.memory;
    need(isObj(m) && isStr(m.source) && isNum(m.committed) && isNum(m.inUse) && isNum(m.liveAllocations), 'memory figures');
    if (family?.family === 'offheap') need(isObj(m) && isNum(m.peakCommitted) && (m.peakCommitted as number) >= 0, 'memory.peakCommitted >= 0');
  }
  if (trace) {
    need(isNum(c.peakCommitted) && (c.peakCommitted as number) >= 0, 'peakCommitted >= 0');
    need(isStr(c.committedSource), 'committedSource');
    need(isNum(c.peakRssGrowth), 'peakRssGrowth');
    need(isNum(c.fragmentation) && (c.fragmentation as number) >= 0, 'fragmentation');
    need(isPos(c.passesPerSample), 'passesPerSample');
  }
  return e;
}

function shapeErrors(j: Json, expectTraces: number, expectWorkloads: string[]): string[] {
  const e: string[] = [];
  const need = (ok: boolean, what: string): void => {
    if (!ok) e.push(what);
  };
  need(j.schema === 'offheap-bench-js/1', 'schema');
  need(isStr(j.tool), 'tool');
  need(j.mode === 'tiny', 'mode');
  need(typeof j.partial === 'boolean', 'partial');
  need(isStr(j.date) && !Number.isNaN(Date.parse(j.date as string)), 'date');
  need(isNum(j.elapsedS), 'elapsedS');
  need(j.git === null || isStr(j.git), 'git');
  const h = j.host;
  need(
    isObj(h) && isStr(h.node) && isStr(h.v8) && isStr(h.napi) && isStr(h.cpu) && isPos(h.cpus) && isStr(h.platform) && isPos(h.totalmem),
    'host: node, v8, napi, cpu, cpus, platform, totalmem',
  );
  need(isObj(h) && Array.isArray(h.loadavg) && h.loadavg.length === 3, 'host.loadavg');
  const v = j.versions;
  need(isObj(v) && isStr(v.offheap) && isStr(v['@thi.ng/malloc']) && isStr(v['typedarray-pool']), 'versions');
  const p = j.params;
  need(
    isObj(p) && ['samples', 'sampleMs', 'warmMs', 'chunkMs', 'seed', 'rounds'].every((k) => isPos(p[k])) && p.scale === 'tiny',
    'params',
  );
  need(j.baseline === 'allocUnsafe', 'baseline');
  need(
    Array.isArray(j.contestants) &&
      j.contestants.length === CONTESTANT_IDS.length &&
      j.contestants.every((c: unknown) => isObj(c) && isStr(c.id) && isStr(c.short) && isStr(c.label) && isStr(c.family) && isStr(c.description)),
    'contestants',
  );
  need(Array.isArray(j.workloads), 'workloads');
  const ws = (Array.isArray(j.workloads) ? j.workloads : []) as unknown[];
  need(
    JSON.stringify(ws.map((w) => (isObj(w) ? w.id : null))) === JSON.stringify(expectWorkloads),
    `workloads ${JSON.stringify(ws.map((w) => (isObj(w) ? w.id : null)))}`,
  );
  for (const w of ws) {
    if (!isObj(w)) {
      e.push('workload not an object');
      continue;
    }
    need(isStr(w.title) && isStr(w.op) && isPos(w.opsPerUnit) && isObj(w.info), `workload ${String(w.id)}: title, op, opsPerUnit, info`);
    need(isStr(w.best) && CONTESTANT_IDS.includes(w.best as string), `workload ${String(w.id)}: best`);
    const wc = WORKLOAD_CONTESTANTS[String(w.id)] ?? [];
    need(JSON.stringify(w.contestants) === JSON.stringify(wc), `workload ${String(w.id)}: contestants ${JSON.stringify(w.contestants)}`);
    need(
      Array.isArray(w.results) && JSON.stringify(w.results.map((c: Json) => c.contestant)) === JSON.stringify(wc),
      `workload ${String(w.id)}: one result per contestant of the workload`,
    );
    const hasBaseline = wc.includes('allocUnsafe');
    for (const c of (w.results as unknown[]) ?? []) {
      e.push(...cellErrors(`${String(w.id)}/${String(isObj(c) ? c.contestant : '?')}`, c, false, hasBaseline));
    }
  }
  const ts = (Array.isArray(j.traces) ? j.traces : []) as unknown[];
  need(ts.length === expectTraces, `traces: ${ts.length}, expected ${expectTraces}`);
  for (const t of ts) {
    if (!isObj(t)) {
      e.push('trace not an object');
      continue;
    }
    need(isStr(t.name) && isStr(t.file) && isPos(t.operations) && Array.isArray(t.comments), `trace ${String(t.name)}: name, file, operations, comments`);
    need(isObj(t.stats) && isNum(t.stats.peakLiveBytes) && t.stats.operations === t.operations, `trace ${String(t.name)}: stats`);
    need(isStr(t.best), `trace ${String(t.name)}: best`);
    need(Array.isArray(t.results) && t.results.length === CONTESTANT_IDS.length, `trace ${String(t.name)}: one result per contestant`);
    for (const c of (t.results as unknown[]) ?? []) e.push(...cellErrors(`trace ${String(t.name)}/${String(isObj(c) ? c.contestant : '?')}`, c, true));
  }
  need(Array.isArray(j.targets), 'targets');
  for (const t of (j.targets as unknown[]) ?? []) {
    need(
      isObj(t) && isStr(t.workload) && isStr(t.of) && isStr(t.vs) && isStr(t.target) && isPos(t.ratio) && typeof t.met === 'boolean' && isStr(t.measured),
      `target ${JSON.stringify(t)}`,
    );
    if (isObj(t) && t.vs === 'absolute') need(isPos(t.valueNs) && isPos(t.limitNs), `absolute target ${JSON.stringify(t)}`);
  }
  need(Array.isArray(j.errors) && j.errors.length === 0, `errors: ${JSON.stringify(j.errors)}`);
  need(isStr(j.table) && (j.table as string).length > 100, 'table');
  return e;
}

/* ------------------------------------------------------------------------------------------- */

describe('npm run bench -- --tiny (every contestant x every workload and shipped trace)', () => {
  test('exits 0 and prints the table, the summary and the targets', () => {
    if (full.status !== 0) console.error(full.stderr.slice(-4000), full.stdout.slice(-4000));
    expect(full.status).toBe(0);
    expect(full.stdout).toMatch(/^offheap bench \(JavaScript\)/);
    expect(full.stdout).toMatch(/\nsummary -- node /);
    expect(full.stdout).toMatch(/\ntargets \(README "Performance targets"\)/);
    expect(full.stdout).toMatch(/\d+ of \d+ targets met/);
    expect(full.stderr).toMatch(/one child process each/);
  });

  test('every printed line fits in 120 columns (stdout and the progress on stderr)', () => {
    expect(longLines(full)).toEqual([]);
    expect(longLines(replay)).toEqual([]);
  });

  test('every table names the Node version and the CPU model in its title line', () => {
    const titles = titleLines(full.stdout).map((l) => l.split(' -- ')[0]);
    expect(titles).toEqual(['offheap bench (JavaScript)', 'summary', 'targets (README "Performance targets")', 'shared arenas']);
    expect(titleLines(replay.stdout).map((l) => l.split(' -- ')[0])).toEqual(['offheap bench (JavaScript)', 'summary']);
  });

  test('the shared-arena phase reports a progress line per contestant and worker count, and prints its table', () => {
    expect(full.stderr).toMatch(/^bench: shared arenas \(bench\/js\/shared\.js\): 3 contestants x 1, 2, 4 workers/m);
    for (const c of ['shared-arena', 'arena-per-worker', 'thi.ng-sab-lock']) {
      for (const t of [1, 2, 4]) expect(full.stderr).toMatch(new RegExp(`^  shared +${c.replace(/\./g, '\\.')} x${t} +\\.+ [\\d.]+ s$`, 'm'));
    }
    expect(full.stdout).toMatch(/\nshared arenas -- node /);
    expect(full.json.table as string).toMatch(/\nshared arenas -- node /);
  });

  test('writes js-<date>-tiny.{json,svg} and js-latest-tiny.{json,svg}', () => {
    expect(full.files.filter((f) => /^js-\d{4}-\d\d-\d\dT\d{6}Z-tiny\.(json|svg)$/.test(f))).toHaveLength(2);
    expect(full.files).toEqual(expect.arrayContaining(['js-latest-tiny.json', 'js-latest-tiny.svg']));
    expect(full.files.some((f) => f.endsWith('.tmp'))).toBe(false);
  });

  test('the JSON has the documented shape; every contestant has finite, positive numbers everywhere', () => {
    const shipped = fs.readdirSync(path.join(ROOT, 'bench', 'traces')).filter((f) => f.endsWith('.trace')).length;
    expect(shipped).toBeGreaterThanOrEqual(2);
    expect(shapeErrors(full.json, shipped, WORKLOAD_IDS)).toEqual([]);
    expect(full.json.partial).toBe(false);
  });

  test("the README's JavaScript performance targets are all checked, each met or missed", () => {
    const targets = full.json.targets as Array<{ workload: string; of: string; vs: string }>;
    expect(targets.length).toBe(36);
    expect(new Set(targets.map((t) => t.workload))).toEqual(
      new Set(['pair-64', 'pair-4k', 'pair-64k', 'pair-1m', 'fill-free', ...ISSUE12, 'trace log-batcher']),
    );
    // Issue 12: fast views, dlmalloc and buddy, each against its rival.
    const vs = (w: string): string[] => [...new Set(targets.filter((t) => t.workload === w).map((t) => `${t.of}:${t.vs}`))].sort();
    expect(vs('request-256m')).toEqual(['buddy-fast:allocUnsafe', 'dl-fast:allocUnsafe']);
    expect(vs('request-4g')).toEqual(['buddy-fast:allocUnsafe', 'dl-fast:allocUnsafe']);
    expect(vs('fill-free')).toEqual(['buddy-fast:allocUnsafe', 'dl-fast:allocUnsafe']);
    expect(vs('trace log-batcher')).toEqual(['buddy-fast:allocUnsafe', 'dl-fast:allocUnsafe']);
    expect(vs('typed-unsafe')).toEqual(['buddy-fast:typedarray-pool', 'dl-fast:typedarray-pool']);
    expect(vs('offsets')).toEqual(['buddy-fast:thing-malloc', 'dl-fast:thing-malloc']);
    expect(vs('reset-4g')).toEqual(['buddy-fast:absolute', 'dl-fast:absolute']);
  });

  test('the workloads of issue 12 run at tiny scale: per request at 256 MiB and 4 GiB, unzeroed pooling, offsets, reset', () => {
    const ws = full.json.workloads as Array<{ id: string; info: Json; results: Json[]; part?: string }>;
    const w = (id: string): { id: string; info: Json; results: Json[]; part?: string } => ws.find((x) => x.id === id) as never;
    for (const id of ISSUE12) expect(w(id)).toBeDefined();
    expect(w('request-256m').info.capacity).toBe(256 * 1024 * 1024);
    expect(w('request-4g').info.capacity).toBe(4 * 1024 * 1024 * 1024);
    expect(w('request-4g').results.map((c) => c.contestant)).toEqual(['dl-safe', 'dl-fast', 'buddy-safe', 'buddy-fast', 'allocUnsafe']);
    expect(w('offsets').results.map((c) => c.contestant)).toEqual(['dl-fast', 'buddy-fast', 'allocUnsafe', 'thing-malloc']);
    expect(w('typed-unsafe').results.map((c) => c.contestant)).toEqual(
      expect.arrayContaining(['dl-fast', 'buddy-fast', 'allocUnsafe', 'typedarray-pool']),
    );
    // reset-4g: arenas only, no baseline; reset() alone timed, in the table and in the targets.
    expect(w('reset-4g').part).toBe('reset() alone');
    expect(w('reset-4g').results.map((c) => c.contestant)).toEqual(['dl-safe', 'dl-fast', 'buddy-safe', 'buddy-fast']);
    for (const c of w('reset-4g').results) expect((c.part as Json).what).toBe('reset() alone');
    expect(full.stdout).toMatch(/^ {2}reset\(\) alone, ns per op: median \[min-max\]$/m);
    expect(full.stdout).toMatch(/^ {2}(met {3}|MISSED) {2}reset-4g +dl-fast +reset\(\) alone <= 10 us \(absolute\) +measured [\d.]+ us/m);
    // The per-request arenas hold one request's blocks when the memory is read (probe), and
    // the offset level frees every block.
    for (const id of ['dl-fast', 'buddy-fast']) {
      expect((w('request-4g').results.find((c) => c.contestant === id)?.memory as Json).liveAllocations).toBe(64);
      expect((w('offsets').results.find((c) => c.contestant === id)?.memory as Json).liveAllocations).toBe(0);
    }
  });

  test('shared arenas: 1, 2 and 4 workers for each of the three contestants, with throughput and scaling', () => {
    const shared = full.json.shared as { results: Array<{ contestant: string; threads: number; opsPerSec: number; scaling: number }> };
    expect(shared).toBeDefined();
    const cells = shared.results.map((r) => `${r.contestant}/${r.threads}`).sort();
    expect(cells).toEqual(
      ['arena-per-worker', 'shared-arena', 'thi.ng-sab-lock'].flatMap((c) => [1, 2, 4].map((t) => `${c}/${t}`)).sort(),
    );
    for (const r of shared.results) {
      expect(Number.isFinite(r.opsPerSec) && r.opsPerSec > 0).toBe(true);
      expect(Number.isFinite(r.scaling) && r.scaling > 0).toBe(true);
    }
  });

  test('the arenas report committed and live bytes; the churn keeps its working set', () => {
    const churn = (full.json.workloads as Array<{ id: string; results: Array<Json> }>).find((w) => w.id === 'churn');
    const info = (full.json.workloads as Array<{ id: string; info: Json }>).find((w) => w.id === 'churn')?.info as Json;
    for (const id of ['dl-safe', 'dl-fast', 'buddy-safe', 'buddy-fast']) {
      const c = churn?.results.find((x) => x.contestant === id) as Json;
      const m = c.memory as Json;
      expect(m.liveAllocations).toBe(info.liveBlocks);
      expect(m.committed as number).toBeGreaterThanOrEqual(m.inUse as number);
      expect(m.inUse as number).toBeGreaterThan(0);
      expect(c.fragmentation as number).toBeGreaterThan(0);
    }
  });

  test('the SVG is well-formed plain SVG 1.1 with a bar for every result', () => {
    const svg = full.svg;
    expect(xmlWellFormedError(svg)).toBeNull();
    expect(svg).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"/);
    expect(svg).toMatch(/<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" version="1\.1"/);
    expect(svg).not.toMatch(/<script|<style|javascript:|<foreignObject|\son[a-z]+="/i);
    // A bar per result of every group with the baseline (reset-4g has none: no ratios).
    const groups = [...(full.json.workloads as Json[]), ...(full.json.traces as Json[])];
    const cells = groups
      .map((g) => g.results as Json[])
      .filter((rs) => rs.some((c) => c.contestant === 'allocUnsafe'))
      .reduce((n, rs) => n + rs.length, 0);
    expect(cells).toBeGreaterThan(groups.length * 4);
    const bars = svg.match(/<rect [^>]*fill="#[0-9a-f]{6}"><title>[^<]*x Buffer\.allocUnsafe</g) ?? [];
    expect(bars.length).toBe(cells);
    expect(svg).not.toMatch(/>reset-4g: /);
    expect(fs.readFileSync(path.join(dir, 'full', 'js-latest-tiny.svg'), 'utf8')).toBe(svg);
  });

  test('the SVG has the shared-arena results: a bar per contestant and worker count', () => {
    const shared = (full.json.shared as { results: unknown[] }).results;
    expect(full.svg).toMatch(/>shared arenas: worker_threads doing alloc\+free pairs/);
    const bars = full.svg.match(/<rect [^>]*fill="#[0-9a-f]{6}"><title>[^<]* worker\(s\): [\d.]+ M ops\/s/g) ?? [];
    expect(bars.length).toBe(shared.length);
  });

  test("the SVG writes every ratio beyond its bar's end, on the bar's side of the 1x line", () => {
    const bars = barsOf(full.svg).filter((b) => / Buffer\.allocUnsafe$/.test(b.title));
    // The bars are drawn group by group, contestant by contestant: the cells' ratios in order.
    const groups = [...(full.json.workloads as Json[]), ...(full.json.traces as Json[])].filter((g) =>
      (g.results as Json[]).some((c) => c.contestant === 'allocUnsafe'),
    );
    const ratios = groups.flatMap((g) => (g.results as Json[]).map((c) => c.ratioToAllocUnsafe as number));
    expect(bars.length).toBe(ratios.length);
    const faster = new Map(bars.map((b, i) => [b, (ratios[i] as number) < 1]));
    expect(labelSideErrors(bars, oneX(full.svg), (b) => faster.get(b) === true)).toEqual([]);
  });
});

describe('npm run bench -- --trace FILE', () => {
  test('replays a tiny trace on every contestant (a partial run: no latest files)', () => {
    if (replay.status !== 0) console.error(replay.stderr.slice(-4000), replay.stdout.slice(-4000));
    expect(replay.status).toBe(0);
    expect(shapeErrors(replay.json, 1, [])).toEqual([]);
    expect(replay.json.partial).toBe(true);
    expect(replay.files.some((f) => f.startsWith('js-latest'))).toBe(false);
    expect(replay.files.filter((f) => /-tiny-partial\.(json|svg)$/.test(f))).toHaveLength(2);
    expect(xmlWellFormedError(replay.svg)).toBeNull();
    const t = (replay.json.traces as Array<Json>)[0] as Json;
    expect(t.name).toBe('tiny');
    expect((t.stats as Json).resets).toBe(1);
    expect(replay.stdout).toMatch(/\[trace tiny\]/);
  });
});

describe('offheap-bench, the bin of an installed package', () => {
  // An installed offheap as npm lays it out: package.json, dist/, the binary and bench/js/*.js,
  // in a node_modules/offheap folder with no @thi.ng/malloc or typedarray-pool anywhere above it
  // (dist/ and build/ are links to this checkout's; bench/js/ is a copy, so the harness resolves
  // packages from the installed place).
  let app = '';
  let r: ReturnType<typeof spawnSync>;
  let stdout = '';
  let stderr = '';
  const missing: string[] = [];
  beforeAll(() => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'offheap-bin-'));
    app = path.join(base, 'app');
    const pkg = path.join(app, 'node_modules', 'offheap');
    fs.mkdirSync(path.join(pkg, 'bench', 'js'), { recursive: true });
    fs.mkdirSync(path.join(pkg, 'node_modules'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
    fs.symlinkSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'));
    fs.symlinkSync(path.join(ROOT, 'build'), path.join(pkg, 'build'));
    fs.symlinkSync(path.join(ROOT, 'node_modules', 'node-gyp-build'), path.join(pkg, 'node_modules', 'node-gyp-build'));
    for (const f of fs.readdirSync(path.join(ROOT, 'bench', 'js')).filter((x) => x.endsWith('.js'))) {
      fs.copyFileSync(path.join(ROOT, 'bench', 'js', f), path.join(pkg, 'bench', 'js', f));
    }
    for (const p of ['@thi.ng/malloc', 'typedarray-pool']) {
      try {
        require.resolve(p, { paths: [path.join(pkg, 'bench', 'js')] });
      } catch {
        missing.push(p);
      }
    }
    fs.mkdirSync(path.join(app, 'sub'));
    tinyTrace(path.join(app, 'my.trace'));
    // From a subfolder: a relative --trace is relative to the current folder, and so are the results.
    r = spawnSync(process.execPath, [path.join(pkg, 'bench', 'js', 'bin.js'), '--tiny', '--jobs', '2', '--trace', '../my.trace'], {
      cwd: path.join(app, 'sub'),
      encoding: 'utf8',
      timeout: 120_000,
    });
    stdout = String(r.stdout);
    stderr = String(r.stderr);
  }, 150_000);

  afterAll(() => {
    if (app) fs.rmSync(path.dirname(app), { recursive: true, force: true });
  });

  test('replays the trace with the contestants it has, and exits 0', () => {
    if (r.status !== 0) console.error(stderr.slice(-4000), stdout.slice(-4000));
    expect(r.status).toBe(0);
    expect(missing).toEqual(['@thi.ng/malloc', 'typedarray-pool']);
    expect(stdout).toMatch(/^\[trace my\] \d+ ops/m);
    expect(stdout).toMatch(/^ {2}file: \.\.\/my\.trace$/m);
    expect(longLines({ stdout, stderr })).toEqual([]);
  });

  test('says in one line which contestants it skipped and which packages to install for them', () => {
    const notes = stderr.split('\n').filter((l) => l.startsWith('bench: skipped'));
    expect(notes).toEqual(['bench: skipped thing-malloc, thing-mallocAs, typedarray-pool: npm install @thi.ng/malloc typedarray-pool to run them']);
  });

  test('writes its results to ./offheap-bench-results, a partial run of the installed package', () => {
    const out = path.join(app, 'sub', 'offheap-bench-results');
    const files = fs.readdirSync(out).sort();
    expect(files.filter((f) => /^js-\d{4}-\d\d-\d\dT\d{6}Z-tiny-partial\.(json|svg)$/.test(f))).toHaveLength(2);
    const j = JSON.parse(fs.readFileSync(path.join(out, files.find((f) => f.endsWith('.json')) as string), 'utf8')) as Json;
    expect(j.partial).toBe(true);
    expect(j.git).toBeNull();
    expect(j.skipped).toEqual([
      { contestant: 'thing-malloc', needs: '@thi.ng/malloc' },
      { contestant: 'thing-mallocAs', needs: '@thi.ng/malloc' },
      { contestant: 'typedarray-pool', needs: 'typedarray-pool' },
    ]);
    expect(j.versions).toEqual({ offheap: expect.any(String), '@thi.ng/malloc': null, 'typedarray-pool': null });
    const ids = (j.contestants as Array<{ id: string }>).map((c) => c.id);
    expect(ids).toEqual(CONTESTANT_IDS.filter((id) => !['thing-malloc', 'thing-mallocAs', 'typedarray-pool'].includes(id)));
    const t = (j.traces as Json[])[0] as Json;
    expect(t.file).toBe('../my.trace');
    expect((t.results as Json[]).every((c) => (c.medianNs as number) > 0 && c.error === undefined)).toBe(true);
  });
});

describe('the native chart (bench/native/svg.js)', () => {
  // A run with faster and slower bars, bars clipped on both sides, and larson rows, whose labels
  // are the longest.
  const contestants = ['dl', 'dl+lock', 'buddy', 'glibc', 'mimalloc'];
  const ratios: Record<string, number[]> = {
    'pair-16': [0.9, 1.3, 1.0, 1, 0.81],
    'pair-1048576': [244, 246, 5.7, 1, 0.01],
    churn: [1.8, 1.5, 0.39, 1, 0.21],
    'larson-1t': [3.05, 3.12, 1.14, 1, 0.37],
    'larson-2t': [7.55, 7.02, 1.05, 1, 0.38],
    'larson-4t': [15.9, 40, 0.97, 1, 0.04],
  };
  const json = {
    mode: 'full',
    date: '2026-01-01T00:00:00Z',
    host: { cpu_model: 'A CPU', online_cpus: 2 },
    libc: 'glibc 2.36',
    compiler: { cc_version: 'cc 12', cflags: '-O2' },
    params: { samples: 5 },
    harness_overhead_ns: 3,
    verify_failures: 0,
    baseline: 'glibc',
    contestants: contestants.map((name) => ({ name })),
    workloads: Object.keys(ratios).map((name) => ({ name, kind: name.startsWith('larson') ? 'larson' : 'pair' })),
    results: Object.entries(ratios).flatMap(([w, rs]) =>
      rs.map((ratio, k) => ({
        workload: w,
        contestant: contestants[k],
        median_ns: 20 * ratio,
        ratio_vs_glibc: ratio,
        ...(w.startsWith('larson') ? { speedup_vs_1t: 1.23, throughput_ops_per_s: 5e6, heap: 'shared' } : {}),
      })),
    ),
  };

  test("every label is beyond its bar's end, on the bar's side of the 1x line (the larson rows too)", () => {
    const svg = nativeSvg.render(json);
    expect(nativeSvg.checkSvg(svg)).toEqual([]);
    const bars = barsOf(svg);
    expect(bars.length).toBe(Object.keys(ratios).length * (contestants.length - 1));
    const ratio = (b: SvgBar): number => Number(/\(([\d.]+)\u00d7 glibc\)/.exec(b.title)?.[1]);
    expect(labelSideErrors(bars, oneX(svg), (b) => ratio(b) < 1)).toEqual([]);
    // Clear of the workload names (right-aligned at x = 178) and inside the chart.
    const width = Number(/<svg [^>]*width="(\d+)"/.exec(svg)?.[1]);
    for (const b of bars) {
      const w = b.label.text.length * 5.6;
      if (b.label.end) expect(b.label.x - w).toBeGreaterThan(180);
      else expect(b.label.x + w).toBeLessThan(width);
    }
    expect(svg).toContain('mimalloc 0.040\u00d7, speedup 1.23');
  });
});

describe('the SVG writer and the XML checker', () => {
  test('text is escaped', () => {
    const cell = (id: string, r: number): Json => ({ contestant: id, medianNs: 10 * r, ratioToAllocUnsafe: r });
    const json = {
      mode: 'x<&>"y',
      date: '2026-01-01T00:00:00.000Z',
      host: { node: 'v0 <&>', v8: '1', cpu: 'A & B <cpu>', cpus: 2 },
      contestants: [
        { id: 'allocUnsafe', label: 'Buffer.allocUnsafe' },
        { id: 'a', label: '<a> & "b"' },
      ],
      workloads: [{ id: 'w', title: 'x < y & z', results: [cell('allocUnsafe', 1), cell('a', 0.01)] }],
      traces: [{ name: 't&t', operations: 3, results: [cell('allocUnsafe', 1), { contestant: 'a', error: 'boom' }] }],
    };
    const svg = report.renderSvg(json);
    expect(xmlWellFormedError(svg)).toBeNull();
    expect(svg).toContain('&lt;a&gt; &amp; &quot;b&quot;');
  });

  test.each([
    ['<svg><g></svg>', /does not match/],
    ['<svg>', /unclosed/],
    ['<svg a="1" a="2"/>', /duplicate/],
    ['<svg a=1/>', /unquoted/],
    ['<svg>a & b</svg>', /reference/],
    ['<svg/><svg/>', /more than one root/],
    ['text<svg/>', /outside/],
    ['<svg><!-- a -- b --></svg>', /--/],
    ['<svg x="<"/>', /'<'/],
    ['', /no root/],
  ])('the checker rejects %j', (xml, re) => {
    expect(xmlWellFormedError(xml)).toMatch(re);
  });

  test('the checker accepts a well-formed document', () => {
    expect(
      xmlWellFormedError('<?xml version="1.0"?>\n<!-- c -->\n<svg a=\'1\' b="&amp;&#60;&#x3e;"><t>x &lt; y</t><g/></svg>\n'),
    ).toBeNull();
  });
});

describe('the example programs', () => {
  test.each([
    ['json-service.js', ['--requests', '150']],
    ['physics-step.js', ['--steps', '60', '--particles', '50']],
    ['log-batcher.js', ['--records', '600']],
  ])('%s records a valid trace', (file, args) => {
    const out = path.join(dir, `${file}.trace`);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'examples', file), ...args, '--out', out], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) console.error(r.stderr);
    expect(r.status).toBe(0);
    const t = loadTrace(out);
    const s = t.stats();
    expect(s.operations).toBeGreaterThan(50);
    expect(s.liveBlocksAtEnd).toBe(0);
    expect(t.comments[0]).toMatch(new RegExp(`recorded by examples/${file}`));
  });
});
