#!/usr/bin/env node
/*
 * offheap allocator comparison from JavaScript. bench/js/README.md explains the contestants,
 * workloads, figures and how to read the table and the chart.
 *
 * In this repository: npm run bench -- [options]    (results in bench/results/)
 * Where offheap is installed from the registry: npx offheap-bench [options]    (bench/js/bin.js;
 *   results in ./offheap-bench-results/; @thi.ng/malloc and typedarray-pool are contestants
 *   only when the project has them installed)
 *
 *   (no options)           full run (< 15 min on 2 cores): every contestant x every workload,
 *                          then the shipped traces (bench/traces/*.trace), then shared arenas
 *   --quick                short run (< 2 min): the same, shorter and one round
 *   --trace FILE           replay FILE (the `# offheap-trace v1` format) against every
 *                          contestant; repeatable; only the traces run
 *   --targets              only what the JavaScript performance targets need
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
 *   --out DIR              where the results go (default bench/results; offheap-bench:
 *                          ./offheap-bench-results)
 *   --tiny                 self-test scale (tiny workloads, 1 round x 2 short samples, traces cut
 *                          to their first 2000 operations)
 *   --jobs N               children at once (default 1; more disturbs the timings: self-tests only)
 *   --list                 list workloads and contestants
 *
 * Output: the table on stdout (every line at most 120 columns); JSON and an SVG chart in DIR:
 *   js-<date>.json/.svg and js-latest.json/.svg (complete full runs),
 *   js-<date>-quick.* and js-latest-quick.* (complete quick runs; gitignored),
 *   js-<date>[-quick]-partial.* (runs restricted by --only/--contestants/--trace/--targets/
 *   --no-traces, or without a contestant whose package is not installed; gitignored),
 *   js-<date>-tiny.* and js-latest-tiny.* (--tiny; gitignored).
 */
'use strict';

const cp = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { CONTESTANTS, ROOT, installed, packageVersion } = require('./contestants');
const { WORKLOADS, contestantsOf, params, field } = require('./workloads');
const report = require('./report');

const TRACE_DIR = path.join(ROOT, 'bench', 'traces');
const TARGET_WORKLOADS = [
  'pair-64',
  'pair-4k',
  'pair-64k',
  'pair-1m',
  'fill-free',
  'request-256m',
  'request-4g',
  'typed-unsafe',
  'offsets',
  'reset-4g',
];
const TARGET_CONTESTANTS = [
  'dl-safe',
  'dl-fast',
  'buddy-safe',
  'buddy-fast',
  'allocUnsafe',
  'thing-malloc',
  'thing-mallocAs',
  'typedarray-pool',
];
const TARGET_TRACES = ['log-batcher'];

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
  // Only this repository's own checkout: an installed offheap may sit inside another project's.
  if (!fs.existsSync(path.join(ROOT, '.git'))) return null;
  try {
    const r = cp.spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
    const d = cp.spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() + (d.stdout.trim() ? '+dirty' : '') : null;
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

/**
 * The command line. how: { defaultOut, traceBase }: the default --out, and the folder relative
 * --trace paths are resolved against.
 */
async function main(argv, how) {
  const args = parseArgs(argv);
  if (args.help) {
    const src = fs.readFileSync(__filename, 'utf8').split('\n');
    const end = src.findIndex((l) => l.startsWith(' */'));
    console.log(src.slice(2, end).map((l) => l.replace(/^ \* ?/, '')).join('\n'));
    return;
  }
  if (args.list) {
    console.log('workloads:');
    for (const w of WORKLOADS) console.log(report.clip(`  ${report.pad(w.id, 14)} ${field(w, 'title', params('full', 1))}`, report.COLUMNS));
    console.log('contestants:');
    for (const c of CONTESTANTS) {
      const missing = c.needs && !installed(c.needs) ? ` (not installed: npm install ${c.needs})` : '';
      console.log(`  ${report.pad(c.id, 16)} ${c.label}${missing}`);
    }
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
    traces = traces.filter((t) => TARGET_TRACES.includes(path.basename(t).replace(/\.trace$/, '')));
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
    for (const c of contestants) {
      if (c.needs && !installed(c.needs)) throw new Error(`contestant ${c.id} needs ${c.needs}: npm install ${c.needs}`);
    }
  }
  // Contestants whose package is not installed (an installed offheap has none of its
  // devDependencies) are left out, with a note.
  const skipped = contestants.filter((c) => c.needs && !installed(c.needs)).map((c) => ({ contestant: c.id, needs: c.needs }));
  contestants = contestants.filter((c) => !skipped.some((s) => s.contestant === c.id));
  if (skipped.length > 0) {
    const pkgs = [...new Set(skipped.map((s) => s.needs))];
    process.stderr.write(
      `bench: skipped ${skipped.map((s) => s.contestant).join(', ')}: npm install ${pkgs.join(' ')} ` +
        `to run ${skipped.length === 1 ? 'it' : 'them'}\n`,
    );
  }
  const traceBase = how.traceBase;
  if (args.traces.length > 0) {
    traces = args.traces.map((t) => path.resolve(traceBase, t));
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
    // Shipped traces by their place in the package, given ones as given (from traceBase).
    const shown = path.relative(file.startsWith(TRACE_DIR + path.sep) ? ROOT : traceBase, file);
    return { name: path.basename(file).replace(/\.trace$/, ''), file, shown, operations: tr.length, stats: tr.stats(), comments: tr.comments };
  });
  // Restricted by the command line: no shared-arena phase. Partial: no latest files.
  const restricted = !!(args.only || args.contestants || args.targets || args.noTraces) || args.traces.length > 0;
  const partial = restricted || skipped.length > 0;

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
  // The contestants of a group: a workload may be for some of them only (workloads.js).
  const idsOf = (g) => (g.kind === 'workload' ? contestantsOf(g.w, contestants).map((c) => c.id) : ids);
  process.stderr.write(
    `bench: ${mode}${partial ? ' (partial)' : ''}, ${groups.length} workloads/traces x up to ${ids.length} contestants ` +
      `x ${rounds} round(s), one child process each\n`,
  );
  for (let r = 0; r < rounds; r++) {
    for (let gi = 0; gi < groups.length; gi++) {
      const g = groups[gi];
      process.stderr.write(`  round ${r + 1}/${rounds}  ${report.pad(report.clip(g.id, 40), 24)} `);
      const ts = Date.now();
      const order = rotate(idsOf(g), r + gi);
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
      '@thi.ng/malloc': packageVersion('@thi.ng/malloc'),
      'typedarray-pool': packageVersion('typedarray-pool'),
    },
    params: { ...opts, rounds, jobs, childArgs: ['--expose-gc'] },
    baseline: report.BASELINE,
    elapsedS: +elapsed.toFixed(1),
    contestants: contestants.map((c) => ({ id: c.id, short: c.short, label: c.label, family: c.family, description: c.description })),
    skipped,
    workloads: workloads.map((w) => {
      const wids = contestantsOf(w, contestants).map((c) => c.id);
      const f = report.figures(raw.get(w.id), wids, errors.filter((e) => e.group === w.id));
      return {
        id: w.id,
        title: field(w, 'title', p),
        op: field(w, 'op', p),
        opsPerUnit: field(w, 'opsPerUnit', p),
        info: field(w, 'info', p),
        contestants: wids,
        ...(w.part ? { part: w.part } : {}),
        best: f.best,
        results: f.cells,
      };
    }),
    traces: traceInfo.map((t) => {
      const gid = `trace ${t.name}`;
      const f = report.figures(raw.get(gid), ids, errors.filter((e) => e.group === gid));
      return {
        name: t.name,
        file: t.shown,
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
  json.targets = report.checkTargets(json.workloads, json.traces);
  json.table = report.formatTable(json);
  console.log(json.table);

  // Shared arenas across worker_threads: 1, 2 and 4 workers (bench/js/shared.js, which runs
  // each cell in its own child process and reports its progress on stderr). Part of every run
  // the command line does not restrict.
  if (!restricted) {
    const tmp = path.join(os.tmpdir(), `offheap-shared-${process.pid}.json`);
    const flag = mode === 'full' ? [] : [`--${mode}`];
    const r = cp.spawnSync(process.execPath, [path.join(__dirname, 'shared.js'), ...flag, '--json', tmp], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status === 0 && fs.existsSync(tmp)) {
      json.shared = JSON.parse(fs.readFileSync(tmp, 'utf8'));
      fs.unlinkSync(tmp);
      const table = report.formatShared(json.shared);
      json.table += `\n\n${table}`;
      console.log(`\n${table}`);
    } else {
      errors.push({ group: 'shared', contestant: 'shared.js', error: `exit ${r.status}` });
    }
  }

  // Files.
  const outDir = path.resolve(args.out ?? how.defaultOut);
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
  console.log('\nwrote:');
  for (const f of written) console.log(`  ${f}`);
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

/** Runs the command line; exit status 1 on an error (the message on stderr). */
function cli(argv, how) {
  main(argv, how).catch((e) => {
    console.error(`bench: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
  });
}

module.exports = { cli };

if (require.main === module) {
  cli(process.argv.slice(2), {
    defaultOut: path.join(ROOT, 'bench', 'results'),
    // Under `npm run`, relative paths are relative to where npm was started (INIT_CWD).
    traceBase: process.env.INIT_CWD || process.cwd(),
  });
}
