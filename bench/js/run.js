#!/usr/bin/env node
/*
 * offheap allocator comparison from JavaScript (`npm run bench`). bench/js/README.md explains
 * the contestants, workloads, figures and how to read the table and the chart.
 *
 *   npm run bench                      full run (< 15 min on 2 cores): every contestant x every
 *                                      workload, then the shipped traces (bench/traces/*.trace)
 *   npm run bench -- --quick           short run (< 2 min): the same, shorter and one round
 *   npm run bench -- --trace FILE      replay FILE (the `# offheap-trace v1` format) against
 *                                      every contestant; repeatable; only the traces run
 *   npm run bench -- --targets         only what the JavaScript performance targets need
 *
 * Options:
 *   --quick | --full       mode (default full)
 *   --only W1,W2           workloads to run (ids: --list); no traces unless --trace is given
 *   --contestants C1,C2    contestants to run (ids: --list); Buffer.allocUnsafe is always added,
 *                          as every ratio is to it
 *   --no-traces            skip the shipped traces
 *   --rounds N             child processes per contestant and workload (full 3, quick 1)
 *   --samples N            samples per child (default 5)
 *   --sample-ms MS         length of one sample window (full 120, quick 25)
 *   --warm-ms MS           warm-up per child (full 200, quick 50)
 *   --seed N               seed of the random sizes and victims (default 1)
 *   --out DIR              where the results go (default bench/results)
 *   --tiny                 self-test scale (tiny workloads, 1 round x 2 short samples, traces cut
 *                          to their first 2000 operations)
 *   --jobs N               children at once (default 1; more disturbs the timings: self-tests only)
 *   --list                 list workloads and contestants
 *
 * Output: the table on stdout; JSON and an SVG chart in bench/results/:
 *   js-<date>.json/.svg and js-latest.json/.svg (complete full runs),
 *   js-<date>-quick.* and js-latest-quick.* (complete quick runs; gitignored),
 *   js-<date>[-quick]-partial.* (runs restricted by --only/--contestants/--trace/--targets/--no-traces; gitignored),
 *   js-<date>-tiny.* and js-latest-tiny.* (--tiny; gitignored).
 */
'use strict';

const cp = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { CONTESTANTS, ROOT } = require('./contestants');
const { WORKLOADS, params, field } = require('./workloads');
const report = require('./report');

const TRACE_DIR = path.join(ROOT, 'bench', 'traces');
const TARGET_WORKLOADS = ['pair-64', 'pair-4k', 'pair-64k', 'pair-1m'];
const TARGET_CONTESTANTS = ['dl-safe', 'dl-fast', 'buddy-safe', 'buddy-fast', 'allocUnsafe', 'thing-mallocAs'];

function parseArgs(argv) {
  const a = { mode: 'full', only: null, contestants: null, traces: [], noTraces: false, targets: false, list: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${x} needs a value`);
      return argv[++i];
    };
    const num = () => {
      const v = Number(val());
      if (!(Number.isFinite(v) && v > 0)) throw new Error(`${x} needs a positive number`);
      return v;
    };
    if (x === '--quick') a.mode = 'quick';
    else if (x === '--full') a.mode = 'full';
    else if (x === '--tiny') a.mode = 'tiny';
    else if (x === '--only') a.only = val().split(',').filter(Boolean);
    else if (x === '--contestants') a.contestants = val().split(',').filter(Boolean);
    else if (x === '--trace') a.traces.push(val());
    else if (x === '--no-traces') a.noTraces = true;
    else if (x === '--targets') a.targets = true;
    else if (x === '--rounds') a.rounds = Math.round(num());
    else if (x === '--samples') a.samples = Math.round(num());
    else if (x === '--sample-ms') a.sampleMs = num();
    else if (x === '--warm-ms') a.warmMs = num();
    else if (x === '--seed') a.seed = Math.round(num());
    else if (x === '--jobs') a.jobs = Math.round(num());
    else if (x === '--out') a.out = val();
    else if (x === '--list') a.list = true;
    else if (x === '-h' || x === '--help') a.help = true;
    else throw new Error(`unknown argument ${x} (try --help)`);
  }
  return a;
}

function cpuModel() {
  const cpus = os.cpus();
  return cpus.length ? cpus[0].model.trim() : 'unknown';
}

function gitRev() {
  try {
    const r = cp.spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
    const d = cp.spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() + (d.stdout.trim() ? '+dirty' : '') : null;
  } catch {
    return null;
  }
}

function pkgVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/** Runs one trial in its own process; resolves to { result } or { error }. */
function runChild(spec, timeoutMs) {
  return new Promise((resolve) => {
    cp.execFile(
      process.execPath,
      ['--expose-gc', path.join(__dirname, 'child.js'), JSON.stringify(spec)],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.killed ? `killed after ${timeoutMs / 1000} s` : `exit ${err.code}${err.signal ? ` (${err.signal})` : ''}`;
          const msg = (stderr || '').trim().split('\n').slice(0, 6).join('\n');
          resolve({ error: `${why}${msg ? `: ${msg}` : ''}` });
          return;
        }
        const lines = stdout.trim().split('\n');
        try {
          resolve({ result: JSON.parse(lines[lines.length - 1]) });
        } catch (e) {
          resolve({ error: `bad child output: ${e.message}` });
        }
      },
    );
  });
}

/** Runs tasks with at most `jobs` at once; results in task order. */
async function pool(tasks, jobs) {
  const out = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
  return out;
}

function rotate(xs, k) {
  const n = xs.length;
  return xs.map((_, i) => xs[(i + k) % n]);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    const src = fs.readFileSync(__filename, 'utf8').split('\n');
    const end = src.findIndex((l) => l.startsWith(' */'));
    console.log(src.slice(2, end).map((l) => l.replace(/^ \* ?/, '')).join('\n'));
    return;
  }
  if (args.list) {
    console.log('workloads:');
    for (const w of WORKLOADS) console.log(`  ${report.pad(w.id, 14)} ${field(w, 'title', params('full', 1))}`);
    console.log('contestants:');
    for (const c of CONTESTANTS) console.log(`  ${report.pad(c.id, 16)} ${c.label}`);
    console.log('traces (default):');
    for (const t of defaultTraces()) console.log(`  ${path.relative(ROOT, t)}`);
    return;
  }

  const mode = args.mode;
  const opts = {
    samples: args.samples ?? (mode === 'tiny' ? 2 : 5),
    sampleMs: args.sampleMs ?? (mode === 'full' ? 120 : mode === 'quick' ? 25 : 2),
    warmMs: args.warmMs ?? (mode === 'full' ? 200 : mode === 'quick' ? 50 : 2),
    chunkMs: mode === 'tiny' ? 1 : 5,
    seed: args.seed ?? 1,
    scale: mode === 'tiny' ? 'tiny' : 'full',
  };
  const rounds = args.rounds ?? (mode === 'full' ? 3 : 1);
  const jobs = args.jobs ?? 1;
  const timeoutMs = mode === 'full' ? 300e3 : 120e3;

  // What runs.
  let workloads = WORKLOADS;
  let contestants = CONTESTANTS;
  let traces = args.noTraces ? [] : defaultTraces();
  if (args.targets) {
    workloads = WORKLOADS.filter((w) => TARGET_WORKLOADS.includes(w.id));
    contestants = CONTESTANTS.filter((c) => TARGET_CONTESTANTS.includes(c.id));
    traces = [];
  }
  if (args.only) {
    const unknown = args.only.filter((id) => !WORKLOADS.some((w) => w.id === id));
    if (unknown.length) throw new Error(`unknown workload(s) ${unknown.join(', ')} (try --list)`);
    workloads = WORKLOADS.filter((w) => args.only.includes(w.id));
    traces = [];
  }
  if (args.contestants) {
    const unknown = args.contestants.filter((id) => !CONTESTANTS.some((c) => c.id === id));
    if (unknown.length) throw new Error(`unknown contestant(s) ${unknown.join(', ')} (try --list)`);
    contestants = CONTESTANTS.filter((c) => args.contestants.includes(c.id) || c.id === report.BASELINE);
  }
  if (args.traces.length > 0) {
    // Under `npm run`, relative paths are relative to where npm was started (INIT_CWD).
    traces = args.traces.map((t) => path.resolve(process.env.INIT_CWD || process.cwd(), t));
    for (const t of traces) if (!fs.existsSync(t)) throw new Error(`no trace file ${t}`);
    if (!args.only) workloads = [];
  }
  // Check the build and the traces before spending time on anything.
  if (!fs.existsSync(path.join(ROOT, 'dist', 'trace.js'))) {
    throw new Error('dist/ is not built (or predates lib/trace.ts): run `npm run build:ts` first');
  }
  const { loadTrace } = require(path.join(ROOT, 'dist', 'trace'));
  const traceInfo = traces.map((file) => {
    const tr = loadTrace(file);
    return { name: path.basename(file).replace(/\.trace$/, ''), file, operations: tr.length, stats: tr.stats(), comments: tr.comments };
  });
  const partial =
    !!(args.only || args.contestants || args.targets || args.noTraces) || args.traces.length > 0;

  const started = new Date();
  const t0 = Date.now();
  const loadavg = os.loadavg();
  const groups = [
    ...workloads.map((w) => ({ kind: 'workload', id: w.id, w })),
    ...traceInfo.map((t) => ({ kind: 'replay', id: `trace ${t.name}`, t })),
  ];
  const raw = new Map(groups.map((g) => [g.id, []]));
  const errors = [];
  const ids = contestants.map((c) => c.id);
  process.stderr.write(
    `bench: ${mode}${partial ? ' (partial)' : ''}, ${groups.length} workloads/traces x ${ids.length} contestants x ${rounds} round(s), ` +
      `one child process each\n`,
  );
  for (let r = 0; r < rounds; r++) {
    for (let gi = 0; gi < groups.length; gi++) {
      const g = groups[gi];
      process.stderr.write(`  round ${r + 1}/${rounds}  ${report.pad(g.id, 24)} `);
      const ts = Date.now();
      const order = rotate(ids, r + gi);
      const outs = await pool(
        order.map((id) => async () => {
          const spec =
            g.kind === 'workload'
              ? { kind: 'workload', workload: g.id, contestant: id, opts }
              : { kind: 'replay', trace: g.t.file, contestant: id, opts };
          const out = await runChild(spec, timeoutMs);
          process.stderr.write(out.error ? 'x' : '.');
          return out;
        }),
        jobs,
      );
      outs.forEach((out, i) => {
        if (out.error) errors.push({ group: g.id, contestant: order[i], round: r + 1, error: out.error });
        else raw.get(g.id).push(out.result);
      });
      process.stderr.write(` ${((Date.now() - ts) / 1000).toFixed(1)} s\n`);
    }
  }
  const elapsed = (Date.now() - t0) / 1000;

  const p = params(opts.scale, opts.seed);
  const json = {
    schema: 'offheap-bench-js/1',
    tool: 'offheap bench/js/run.js',
    mode,
    partial,
    date: started.toISOString(),
    host: {
      node: process.version,
      v8: process.versions.v8,
      napi: process.versions.napi,
      cpu: cpuModel(),
      cpus: os.cpus().length,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      totalmem: os.totalmem(),
      loadavg: loadavg.map((x) => +x.toFixed(2)),
    },
    git: gitRev(),
    versions: {
      offheap: JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
      '@thi.ng/malloc': pkgVersion('@thi.ng/malloc'),
      'typedarray-pool': pkgVersion('typedarray-pool'),
    },
    params: { ...opts, rounds, jobs, childArgs: ['--expose-gc'] },
    baseline: report.BASELINE,
    elapsedS: +elapsed.toFixed(1),
    contestants: contestants.map((c) => ({ id: c.id, short: c.short, label: c.label, family: c.family, description: c.description })),
    workloads: workloads.map((w) => {
      const f = report.figures(raw.get(w.id), ids, errors.filter((e) => e.group === w.id));
      return {
        id: w.id,
        title: field(w, 'title', p),
        op: field(w, 'op', p),
        opsPerUnit: field(w, 'opsPerUnit', p),
        info: field(w, 'info', p),
        best: f.best,
        results: f.cells,
      };
    }),
    traces: traceInfo.map((t) => {
      const gid = `trace ${t.name}`;
      const f = report.figures(raw.get(gid), ids, errors.filter((e) => e.group === gid));
      return {
        name: t.name,
        file: path.relative(ROOT, t.file),
        operations: t.operations,
        comments: t.comments,
        stats: t.stats,
        best: f.best,
        results: f.cells,
      };
    }),
    targets: [],
    errors,
    table: '',
  };
  json.targets = report.checkTargets(json.workloads);
  json.table = report.formatTable(json);
  console.log(json.table);

  // Shared arenas across worker_threads: 1, 2 and 4 workers (bench/js/shared.js, which runs
  // each cell in its own child process). Part of every complete run.
  if (!partial) {
    const tmp = path.join(os.tmpdir(), `offheap-shared-${process.pid}.json`);
    const flag = mode === 'full' ? [] : [`--${mode}`];
    const r = cp.spawnSync(process.execPath, [path.join(__dirname, 'shared.js'), ...flag, '--json', tmp], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status === 0 && fs.existsSync(tmp)) {
      json.shared = JSON.parse(fs.readFileSync(tmp, 'utf8'));
      fs.unlinkSync(tmp);
      console.log(`\n${r.stdout.trimEnd()}`);
    } else {
      errors.push({ group: 'shared', contestant: 'shared.js', error: `exit ${r.status}` });
    }
  }

  // Files.
  const outDir = path.resolve(args.out ?? path.join(ROOT, 'bench', 'results'));
  fs.mkdirSync(outDir, { recursive: true });
  const stamp = started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const date = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6)}`;
  const suffix = (mode === 'full' ? '' : `-${mode}`) + (partial ? '-partial' : '');
  const svg = report.renderSvg(json);
  const text = `${JSON.stringify(json, null, 2)}\n`;
  const written = [];
  const write = (name, data) => {
    const f = path.join(outDir, name);
    fs.writeFileSync(`${f}.tmp`, data);
    fs.renameSync(`${f}.tmp`, f);
    written.push(path.relative(process.cwd(), f));
  };
  write(`js-${date}${suffix}.json`, text);
  write(`js-${date}${suffix}.svg`, svg);
  // A latest file is a complete run: every workload and trace, every contestant, no error.
  if (!partial && errors.length === 0) {
    const latest = mode === 'full' ? 'js-latest' : `js-latest-${mode}`;
    write(`${latest}.json`, text);
    write(`${latest}.svg`, svg);
  }
  console.log(`\nwrote ${written.join(', ')}`);
  if (errors.length > 0) process.exitCode = 1;
}

function defaultTraces() {
  if (!fs.existsSync(TRACE_DIR)) return [];
  return fs
    .readdirSync(TRACE_DIR)
    .filter((f) => f.endsWith('.trace'))
    .sort()
    .map((f) => path.join(TRACE_DIR, f));
}

main().catch((e) => {
  console.error(`bench: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
