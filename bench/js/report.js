/*
 * Figures, targets, the terminal table and the SVG chart of the JavaScript benchmark, computed
 * from the trials' raw results (bench/js/README.md, "Reading the results").
 */
'use strict';

const KiB = 1024;
const MiB = 1024 * 1024;
const BASELINE = 'allocUnsafe';

/* ---------------------------------------------------------------------------------------------
 * Statistics and formatting
 * ------------------------------------------------------------------------------------------- */

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function round(x, d = 4) {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

function fmtNs(x) {
  if (x === null || x === undefined) return '-';
  if (x >= 1e6) return `${(x / 1e6).toFixed(x >= 1e8 ? 0 : 2)}M`;
  if (x >= 1e4) return x.toFixed(0);
  if (x >= 100) return x.toFixed(1);
  return x.toFixed(2);
}
function fmtRate(x) {
  if (!Number.isFinite(x)) return '-';
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)}G`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(1);
}
function fmtR(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  if (x >= 0.1) return x.toFixed(2);
  return x.toPrecision(2);
}
function fmtUs(ns) {
  const us = ns / 1000;
  return `${us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2)} us`;
}
function fmtBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  if (a >= 10 * MiB) return `${(n / MiB).toFixed(0)} MiB`;
  if (a >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (a >= 10 * KiB) return `${(n / KiB).toFixed(0)} KiB`;
  if (a >= KiB) return `${(n / KiB).toFixed(1)} KiB`;
  return `${n} B`;
}
function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}
function lpad(s, n) {
  s = String(s);
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

/* ---------------------------------------------------------------------------------------------
 * Figures: merge the rounds of each cell and compute the ratios
 * ------------------------------------------------------------------------------------------- */

/**
 * raws: the child results of one group (a workload or a trace), several rounds per contestant.
 * Returns one entry per contestant (in `order`), with the figures of bench/js/README.md.
 */
function figures(raws, order, errors) {
  const cells = [];
  for (const id of order) {
    const rs = raws.filter((r) => r.contestant === id);
    const err = errors.find((e) => e.contestant === id);
    if (rs.length === 0) {
      cells.push({ contestant: id, error: err ? err.error : 'no result' });
      continue;
    }
    const samples = rs.flatMap((r) => r.samplesNs);
    const gcs = rs.flatMap((r) => r.gcInWindow);
    const last = rs[rs.length - 1];
    const med = median(samples);
    const cell = {
      contestant: id,
      rounds: rs.length,
      samplesNs: samples,
      medianNs: round(med, 3),
      minNs: round(Math.min(...samples), 3),
      maxNs: round(Math.max(...samples), 3),
      spread: round((Math.max(...samples) - Math.min(...samples)) / med, 4),
      opsPerSec: round(1e9 / med, 1),
      opsPerSample: median(rs.map((r) => r.opsPerSample)),
      gc: {
        minorPerSample: median(gcs.map((g) => g.minor)),
        majorPerSample: median(gcs.map((g) => g.major)),
        msPerSample: round(median(gcs.map((g) => g.ms)), 3),
        majorPer10kOps: round((median(gcs.map((g) => g.major)) * 10000) / median(rs.map((r) => r.opsPerSample)), 4),
      },
      rssStart: Math.min(...rs.map((r) => r.rssStart)),
      peakRss: Math.max(...rs.map((r) => r.peakRss)),
      peakLiveBytes: Math.max(...rs.map((r) => r.peakLiveBytes)),
      memory: last.memory ?? null,
      childPids: rs.map((r) => r.pid),
    };
    if (last.part !== undefined) {
      // A part of each op the workload timed itself (reset-4g: reset() alone).
      const ps = rs.flatMap((r) => r.partNs);
      const pm = median(ps);
      cell.part = { what: last.part, samplesNs: ps, medianNs: round(pm, 3), minNs: round(Math.min(...ps), 3), maxNs: round(Math.max(...ps), 3) };
    }
    if (last.kind === 'replay') {
      cell.peakCommitted = Math.max(...rs.map((r) => r.peakCommitted));
      cell.committedSource = last.committedSource;
      cell.peakRssGrowth = Math.max(...rs.map((r) => r.peakRssGrowth));
      cell.fragmentation = last.peakLiveBytes > 0 ? round(cell.peakCommitted / last.peakLiveBytes, 4) : null;
      cell.passesPerSample = median(rs.map((r) => r.passesPerSample));
    } else if (last.memory && last.memory.peakCommitted !== undefined) {
      cell.fragmentation = cell.peakLiveBytes > 0 ? round(last.memory.peakCommitted / cell.peakLiveBytes, 4) : null;
    }
    if (err) cell.error = err.error;
    cells.push(cell);
  }
  const ok = cells.filter((c) => c.medianNs !== undefined);
  const base = ok.find((c) => c.contestant === BASELINE);
  const best = ok.length ? Math.min(...ok.map((c) => c.medianNs)) : null;
  for (const c of ok) {
    c.ratioToAllocUnsafe = base ? round(c.medianNs / base.medianNs, 4) : null;
    c.ratioToBest = best ? round(c.medianNs / best, 4) : null;
  }
  const bestCell = ok.find((c) => c.medianNs === best);
  return { cells, best: bestCell ? bestCell.contestant : null };
}

/* ---------------------------------------------------------------------------------------------
 * The JavaScript rows of the README's "Performance targets"
 * ------------------------------------------------------------------------------------------- */

const FAST = ['dl-fast', 'buddy-fast'];
const TARGETS = [
  { workload: 'pair-64', of: ['dl-fast', 'buddy-fast'], vs: 'thing-mallocAs', max: 0.85, text: '<= 0.85x @thi.ng/malloc mallocAs+free' },
  { workload: 'pair-64', of: ['dl-fast', 'buddy-fast'], vs: 'allocUnsafe', max: 1.8, text: '<= 1.8x Buffer.allocUnsafe(64) alone' },
  ...['pair-4k', 'pair-64k', 'pair-1m'].map((w) => ({
    workload: w,
    of: ['dl-fast', 'buddy-fast'],
    vs: 'allocUnsafe',
    minSpeedup: 10,
    text: '>= 10x faster than Buffer.allocUnsafe',
  })),
  ...['pair-4k', 'pair-64k', 'pair-1m'].map((w) => ({
    workload: w,
    of: ['dl-safe', 'buddy-safe'],
    vs: 'allocUnsafe',
    max: 1.0,
    text: '<= 1.0x Buffer.allocUnsafe',
  })),
  ...['pair-4k', 'pair-64k', 'pair-1m'].map((w) => ({
    workload: w,
    of: ['dl-safe', 'buddy-safe'],
    vs: 'allocUnsafe',
    gcStorm: true,
    text: 'no external-memory GC storm',
  })),
  // Issue 12: per request, fill-then-reset, unzeroed typed pooling, the offset level, reset().
  ...['request-256m', 'request-4g'].map((w) => ({ workload: w, of: FAST, vs: 'allocUnsafe', max: 1.0, text: '<= 1.0x Buffer.allocUnsafe, per request' })),
  { workload: 'fill-free', of: FAST, vs: 'allocUnsafe', max: 1.0, text: '<= 1.0x Buffer.allocUnsafe (fill, reset)' },
  { workload: 'typed-unsafe', of: FAST, vs: 'typedarray-pool', max: 1.0, text: '<= 1.0x typedarray-pool mallocDouble' },
  { workload: 'offsets', of: FAST, vs: 'thing-malloc', max: 1.0, text: '<= 1.0x @thi.ng/malloc malloc+free' },
  { trace: 'log-batcher', of: FAST, vs: 'allocUnsafe', max: 1.0, text: '<= 1.0x Buffer.allocUnsafe (reset per batch)' },
  // Absolute: the part of the op the workload timed itself, reset() alone.
  { workload: 'reset-4g', of: FAST, vs: 'absolute', maxPartNs: 10000, text: 'reset() alone <= 10 us (absolute)' },
];

/**
 * The targets whose cells were measured (workloads, and traces by name: workload "trace <name>");
 * each with met: true/false. An absolute target (vs "absolute") has valueNs and limitNs, and its
 * ratio is valueNs / limitNs.
 */
function checkTargets(workloads, traces = []) {
  const out = [];
  for (const t of TARGETS) {
    const w = t.trace !== undefined ? traces.find((x) => x.name === t.trace) : workloads.find((x) => x.id === t.workload);
    if (!w) continue;
    const group = t.trace !== undefined ? `trace ${t.trace}` : t.workload;
    if (t.maxPartNs !== undefined) {
      for (const of of t.of) {
        const c = w.results.find((x) => x.contestant === of && x.part !== undefined);
        if (!c) continue;
        const v = c.part.medianNs;
        out.push({
          workload: group,
          of,
          vs: t.vs,
          target: t.text,
          ratio: round(v / t.maxPartNs, 4),
          valueNs: v,
          limitNs: t.maxPartNs,
          met: v <= t.maxPartNs,
          measured: `${fmtUs(v)} (whole cycle ${fmtUs(c.medianNs)})`,
        });
      }
      continue;
    }
    const vs = w.results.find((c) => c.contestant === t.vs && c.medianNs !== undefined);
    if (!vs) continue;
    for (const of of t.of) {
      const c = w.results.find((x) => x.contestant === of && x.medianNs !== undefined);
      if (!c) continue;
      const ratio = c.medianNs / vs.medianNs;
      const r = { workload: group, of, vs: t.vs, target: t.text, ratio: round(ratio, 4) };
      if (t.max !== undefined) {
        r.met = ratio <= t.max;
        r.measured = `${ratio < 10 ? ratio.toFixed(3) : fmtR(ratio)}x`;
      } else if (t.minSpeedup !== undefined) {
        r.speedup = round(1 / ratio, 3);
        r.met = 1 / ratio >= t.minSpeedup;
        r.measured = `${fmtR(1 / ratio)}x faster`;
      } else if (t.gcStorm) {
        // Spontaneous mark-compacts per 10k ops inside the windows (the forced gc() at the end
        // of each window is not counted), against the GC-managed baseline of the same size.
        r.majorPer10kOps = c.gc.majorPer10kOps;
        r.baselineMajorPer10kOps = vs.gc.majorPer10kOps;
        r.met = c.gc.majorPer10kOps <= vs.gc.majorPer10kOps;
        r.measured = `${fmtR(c.gc.majorPer10kOps)} vs ${fmtR(vs.gc.majorPer10kOps)} mark-compacts / 10k ops`;
      }
      out.push(r);
    }
  }
  return out;
}

/* ---------------------------------------------------------------------------------------------
 * The terminal tables. Every line fits in COLUMNS (120) columns: fixed-width columns sized for
 * the widest value they can hold, long headings and notes wrapped, wide matrices split into
 * blocks of columns. Each table's title line names the Node version and the CPU model.
 * ------------------------------------------------------------------------------------------- */

const COLUMNS = 120;

/** Words of `text` in lines of at most `width` columns, continuation lines indented by `indent`. */
function wrap(text, width = COLUMNS, indent = '') {
  const out = [];
  let line = null; // the line being filled; null before its first word
  const lead = () => (out.length > 0 ? indent : '');
  for (let word of String(text).split(' ')) {
    if (line !== null && line.length + 1 + word.length <= width) {
      line += ` ${word}`;
      continue;
    }
    if (line !== null) out.push(line);
    // A word longer than a whole line (a long path) is cut where the line ends.
    while (lead().length + word.length > width) {
      const n = width - lead().length;
      out.push(lead() + word.slice(0, n));
      word = word.slice(n);
    }
    line = lead() + word;
  }
  out.push(line ?? '');
  return out;
}

/** s cut to n columns ('..' marks the cut). */
function clip(s, n) {
  s = String(s);
  return s.length <= n ? s : `${s.slice(0, Math.max(0, n - 2))}..`;
}

/**
 * A table's title line: what it is, then the host: "<what> -- node v20.11.0, <CPU model>
 * (2 CPUs)", the CPU model cut ('..') if the line would be longer than COLUMNS.
 */
function title(what, h) {
  const head = `${what} -- node ${h.node}, `;
  const cpus = ` (${h.cpus} CPU${h.cpus === 1 ? '' : 's'})`;
  return `${head}${clip(String(h.cpu).trim(), COLUMNS - head.length - cpus.length)}${cpus}`;
}

// The columns of a workload's or a trace's block: [header, width, align left].
const CELL_COLS = [
  ['contestant', 25, true], // the longest label (23) and the fastest's mark ' <'
  ['ns/op', 8, false],
  ['[min-max]', 15, true],
  ['ops/s', 7, false],
  ['xallocU', 7, false],
  ['xbest', 6, false],
  ['peak RSS', 8, false],
  ['GC', 7, false],
];
const MEM_COLS = [
  ['committed', 9, false],
  ['in use', 8, false],
  ['peak', 8, false], // committed
];
const TRACE_COLS = [
  ['peak comm', 9, false],
  ['frag', 5, false],
  ['measured', 10, true],
];

function row(cols, cells) {
  return `  ${cols.map(([, w, left], i) => (left ? pad(cells[i], w) : lpad(cells[i], w))).join(' ')}`.trimEnd();
}

/** Short name of how a trace's peak committed was measured (the legend explains them). */
function sourceTag(src) {
  if (!src) return '-';
  if (src.startsWith('arena.')) return 'arena';
  if (src.startsWith('MemPool')) return 'pool top';
  if (src.startsWith('peak RSS')) return 'RSS growth';
  return clip(src.split(' ')[0], 10);
}

function cellLine(c, labels, best, isTrace) {
  const name = labels[c.contestant] || c.contestant;
  const cols = [...CELL_COLS, ...(isTrace ? TRACE_COLS : MEM_COLS)];
  if (c.medianNs === undefined) {
    const head = `  ${pad(name, 25)} ERROR: `;
    return head + clip(String(c.error).split('\n')[0], COLUMNS - head.length);
  }
  const cells = [
    name + (c.contestant === best ? ' <' : ''),
    fmtNs(c.medianNs),
    `[${fmtNs(c.minNs)}-${fmtNs(c.maxNs)}]`,
    fmtRate(c.opsPerSec),
    fmtR(c.ratioToAllocUnsafe),
    fmtR(c.ratioToBest),
    fmtBytes(c.peakRss),
    `${c.gc.minorPerSample}/${c.gc.majorPerSample}`,
  ];
  if (isTrace) {
    cells.push(fmtBytes(c.peakCommitted), fmtR(c.fragmentation), sourceTag(c.committedSource));
  } else if (c.memory && c.memory.committed !== undefined) {
    cells.push(fmtBytes(c.memory.committed), fmtBytes(c.memory.inUse), fmtBytes(c.memory.peakCommitted));
  } else {
    cells.push('', '', '');
  }
  return row(cols, cells);
}

/**
 * A matrix of one row per group and one column per contestant, in blocks of columns that fit:
 * rows [{ name, base, cells: [string] }], heads [string]. Every block repeats the row names and
 * the baseline's ns.
 */
function matrixLines(rows, heads) {
  const nameW = Math.min(20, Math.max(8, ...rows.map((r) => r.name.length)));
  const fixed = 2 + nameW + 1 + 10;
  const widths = heads.map((h, i) => Math.max(7, h.length + 1, ...rows.map((r) => r.cells[i].length + 1)));
  const fits = (from, to) => fixed + widths.slice(from, to).reduce((a, b) => a + b, 0) <= COLUMNS;
  // The fewest blocks of (nearly) equal numbers of columns that fit.
  let blocks = [];
  for (let nb = 1; nb <= heads.length; nb++) {
    const per = Math.ceil(heads.length / nb);
    blocks = [];
    for (let from = 0; from < heads.length; from += per) blocks.push([from, Math.min(heads.length, from + per)]);
    if (blocks.every(([a, b]) => fits(a, b))) break;
  }
  const lines = [];
  blocks.forEach(([a, b], k) => {
    if (blocks.length > 1) lines.push(`  (columns ${k + 1} of ${blocks.length})`);
    const cols = heads.slice(a, b).map((h, i) => lpad(h, widths[a + i])).join('');
    lines.push(`  ${pad('', nameW)} ${lpad('allocU ns', 10)}${cols}`);
    for (const r of rows) {
      const cells = r.cells.slice(a, b).map((s, i) => lpad(s, widths[a + i])).join('');
      lines.push(`  ${pad(clip(r.name, nameW), nameW)} ${lpad(r.base, 10)}${cells}`);
    }
  });
  return lines;
}

function formatTable(json) {
  const labels = Object.fromEntries(json.contestants.map((c) => [c.id, c.label]));
  const h = json.host;
  const lines = [];
  lines.push(title('offheap bench (JavaScript)', h));
  lines.push(
    ...wrap(
      `${json.mode} run, ${json.params.rounds} round(s) x ${json.params.samples} samples, ${json.date}; V8 ${h.v8}` +
        (json.skipped && json.skipped.length
          ? `; not installed, so not run: ${json.skipped.map((s) => `${s.contestant} (${s.needs})`).join(', ')}`
          : ''),
    ),
  );
  lines.push('');
  lines.push('ns/op: median [min-max] over all samples (one child process per contestant and round); ops/s: 1e9 / median;');
  lines.push('xallocU: median / Buffer.allocUnsafe median; xbest: / the fastest (marked <); peak RSS of the child;');
  lines.push('GC: median spontaneous minor/major collections per sample window; offheap and @thi.ng: memory committed, in use');
  lines.push('and peak (committed) after the run. Traces: peak comm = the most memory held during a pass, measured as: arena =');
  lines.push('arena.stats().peakCommitted, pool top = the MemPool top high-water, RSS growth = growth of the process RSS;');
  lines.push('frag = peak comm / the trace\'s peak live bytes. Details: bench/js/README.md in the offheap sources.');
  for (const w of json.workloads) {
    lines.push('');
    lines.push(...wrap(`[${w.id}] ${w.title}`, COLUMNS, '  '));
    lines.push(...wrap(`  op: ${w.op}`, COLUMNS, '      '));
    lines.push(row([...CELL_COLS, ...MEM_COLS], [...CELL_COLS, ...MEM_COLS].map(([head]) => head)));
    for (const c of w.results) lines.push(cellLine(c, labels, w.best, false));
    const parts = w.results.filter((c) => c.part !== undefined);
    if (parts.length > 0) {
      lines.push(`  ${parts[0].part.what}, ns per op: median [min-max]`);
      for (const c of parts) {
        lines.push(`  ${pad(labels[c.contestant] || c.contestant, 25)} ${lpad(fmtNs(c.part.medianNs), 8)} [${fmtNs(c.part.minNs)}-${fmtNs(c.part.maxNs)}]`);
      }
    }
  }
  for (const t of json.traces) {
    lines.push('');
    lines.push(
      ...wrap(`[trace ${t.name}] ${t.operations} ops, peak live ${fmtBytes(t.stats.peakLiveBytes)} in ${t.stats.peakLiveBlocks} blocks`, COLUMNS, '  '),
    );
    lines.push(...wrap(`  file: ${t.file}`, COLUMNS, '        '));
    lines.push(row([...CELL_COLS, ...TRACE_COLS], [...CELL_COLS, ...TRACE_COLS].map(([head]) => head)));
    for (const c of t.results) lines.push(cellLine(c, labels, t.best, true));
  }

  // Summary matrix: ratio to Buffer.allocUnsafe.
  const ids = json.contestants.map((c) => c.id);
  const shorts = json.contestants.map((c) => c.short || c.id);
  // (Workloads without the baseline, reset-4g, have no ratios: their blocks above say it all.)
  const groups = [
    ...json.workloads.map((w) => ({ name: w.id, results: w.results })),
    ...json.traces.map((t) => ({ name: `trace ${t.name}`, results: t.results })),
  ].filter((g) => g.results.some((c) => c.contestant === BASELINE));
  if (groups.length > 0) {
    lines.push('');
    lines.push(title('summary', h));
    lines.push('Buffer.allocUnsafe\'s median ns/op (allocU ns), and every contestant\'s median as a ratio to it (< 1 is faster)');
    const rows = groups.map((g) => {
      const base = g.results.find((c) => c.contestant === BASELINE);
      return {
        name: g.name,
        base: base && base.medianNs !== undefined ? fmtNs(base.medianNs) : '-',
        cells: ids.map((id) => {
          const c = g.results.find((x) => x.contestant === id);
          return c && c.medianNs !== undefined ? fmtR(c.ratioToAllocUnsafe) : '-';
        }),
      };
    });
    lines.push(...matrixLines(rows, shorts));
  }

  if (json.targets.length > 0) {
    lines.push('');
    lines.push(title('targets (README "Performance targets")', h));
    for (const t of json.targets) {
      lines.push(
        ...wrap(`  ${t.met ? 'met   ' : 'MISSED'}  ${pad(t.workload, 12)} ${pad(t.of, 10)} ${pad(t.target, 44)} measured ${t.measured}`, COLUMNS, ' '.repeat(12)),
      );
    }
    const met = json.targets.filter((t) => t.met).length;
    lines.push(`  ${met} of ${json.targets.length} targets met`);
  }
  if (json.errors.length > 0) {
    lines.push('');
    lines.push(`errors (${json.errors.length}):`);
    for (const e of json.errors) {
      lines.push(clip(`  ${e.group} / ${e.contestant}${e.round ? ` (round ${e.round})` : ''}: ${String(e.error).split('\n')[0]}`, COLUMNS));
    }
  }
  lines.push('');
  lines.push(`elapsed ${json.elapsedS} s`);
  return lines.join('\n');
}

/**
 * The shared-arena table (bench/js/shared.js's results): total ops/s of all workers per
 * contestant and worker count, and the scaling over the same contestant with 1 worker.
 */
function formatShared(s) {
  const lines = [];
  lines.push(title('shared arenas', { node: `v${String(s.node).replace(/^v/, '')}`, cpu: s.cpu || 'unknown', cpus: s.cpus }));
  lines.push(
    ...wrap(
      `worker_threads doing alloc+free pairs (16..1024 B), ${s.opsPerWorker} pairs per worker; total ops/s of all workers ` +
        `(median of ${s.samples ?? '?'} run(s), a child process each) and the ratio to the same contestant with 1 worker` +
        (s.skipped && s.skipped.length
          ? `; not installed, so not run: ${s.skipped.map((x) => `${x.contestant} (${x.needs})`).join(', ')}`
          : ''),
    ),
  );
  lines.push(`  ${pad('contestant', 22)} ${lpad('workers', 7)} ${lpad('ops/s', 10)} ${lpad('vs 1 worker', 12)}`);
  for (const r of s.results) {
    lines.push(
      `  ${pad(r.contestant, 22)} ${lpad(r.threads, 7)} ${lpad(`${(r.opsPerSec / 1e6).toFixed(2)} M`, 10)} ${lpad(`${r.scaling.toFixed(2)}x`, 12)}`,
    );
  }
  return lines.join('\n');
}

/* ---------------------------------------------------------------------------------------------
 * The SVG chart: ratio to Buffer.allocUnsafe per workload and trace, log scale, bars growing
 * left (faster) or right (slower) from the 1x line, each bar's value written beyond its end, on
 * the bar's own side of the 1x line (the margins left and right of the plot are as wide as the
 * longest value that needs them); then the shared-arena results (bench/js/shared.js), total
 * ops/s of all workers on a linear scale. Plain SVG 1.1: no script, no CSS, no fonts beyond the
 * generic families.
 * ------------------------------------------------------------------------------------------- */

const COLORS = {
  'dl-safe': '#6baed6',
  'dl-fast': '#08519c',
  'buddy-safe': '#74c476',
  'buddy-fast': '#006d2c',
  allocUnsafe: '#252525',
  alloc: '#737373',
  allocUnsafeSlow: '#a50f15',
  arraybuffer: '#fb6a4a',
  'thing-malloc': '#6a51a3',
  'thing-mallocAs': '#9e9ac8',
  'typedarray-pool': '#d94801',
  // shared arenas
  'shared-arena': '#08519c',
  'arena-per-worker': '#006d2c',
  'thi.ng-sab-lock': '#6a51a3',
};

const SHARED_LABELS = {
  'shared-arena': 'one shared arena (new Arena({ shared: true }), every worker attached)',
  'arena-per-worker': 'one arena per worker (fast views, not shared)',
  'thi.ng-sab-lock': '@thi.ng/malloc MemPool on one SharedArrayBuffer, guarded by an Atomics spinlock',
};

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A generous estimate of the width of text at font-size 11 (sans-serif), in pixels. */
const textWidth = (s) => String(s).length * 6.5;

function renderSvg(json) {
  const labels = Object.fromEntries(json.contestants.map((c) => [c.id, c.label]));
  const ids = json.contestants.map((c) => c.id);
  // Groups without the baseline (reset-4g: an absolute figure) have no ratio to draw.
  const groups = [
    ...json.workloads.map((w) => ({ name: `${w.id}: ${w.title}`, results: w.results })),
    ...json.traces.map((t) => ({ name: `trace ${t.name}: replay of ${t.operations} ops`, results: t.results })),
  ].filter((g) => g.results.some((c) => c.contestant === BASELINE));
  const ratios = groups.flatMap((g) => g.results.map((c) => c.ratioToAllocUnsafe)).filter((x) => x > 0 && Number.isFinite(x));
  let lo = Math.floor(Math.log10(Math.min(0.1, ...ratios)));
  let hi = Math.ceil(Math.log10(Math.max(10, ...ratios)));
  lo = Math.max(lo, -4);
  hi = Math.min(hi, 4);

  const names = 190; // contestant labels left of this
  const plotW = 720;
  const barH = 11;
  const gap = 2;
  const groupHead = 20;
  const groupGap = 10;
  const top = 92;
  const u = (r) => ((Math.log10(Math.min(10 ** hi, Math.max(10 ** lo, r))) - lo) / (hi - lo)) * plotW;
  const u1 = u(1);
  const valueText = (c) => `${fmtR(c.ratioToAllocUnsafe)}x`;
  // Margins: a value goes beyond its bar's end, on the bar's side of 1x; the plot moves right
  // (and the chart grows) as far as the values left of the faster bars need, and the chart
  // grows right as far as the values of the slower ones need.
  let marginL = 0;
  let marginR = 70;
  for (const g of groups) {
    for (const c of g.results) {
      if (!(c.ratioToAllocUnsafe > 0)) continue;
      const tw = textWidth(valueText(c)) + 4;
      if (c.ratioToAllocUnsafe < 1) marginL = Math.max(marginL, tw - u(c.ratioToAllocUnsafe));
      else marginR = Math.max(marginR, u(c.ratioToAllocUnsafe) + tw - plotW + 8);
    }
  }
  const left = names + Math.ceil(marginL);
  const x = (r) => left + u(r);
  const x1 = x(1);
  // A group has a bar per contestant that ran it (some workloads are for some contestants only).
  const rowsOf = (g) => ids.filter((id) => g.results.some((c) => c.contestant === id));
  const groupTop = [];
  let gyAt = top;
  for (const g of groups) {
    groupTop.push(gyAt);
    gyAt += groupHead + rowsOf(g).length * (barH + gap) + groupGap;
  }
  const plotBottom = gyAt;

  // The shared-arena section below the ratio groups.
  const shared = json.shared && Array.isArray(json.shared.results) && json.shared.results.length > 0 ? json.shared : null;
  const sharedIds = shared ? [...new Set(shared.results.map((r) => r.contestant))] : [];
  const sharedTop = plotBottom + 56;
  const sharedRowsH = shared ? sharedIds.reduce((n, id) => n + groupHead + shared.results.filter((r) => r.contestant === id).length * (barH + gap) + groupGap, 0) : 0;
  const sharedH = shared ? 40 + sharedRowsH : 0;

  const W = Math.ceil(left + plotW + marginR);
  const H = sharedTop + sharedH + (shared ? 10 : -16);
  const h = json.host;
  const o = [];
  o.push('<?xml version="1.0" encoding="UTF-8" standalone="no"?>');
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  );
  o.push('<title>offheap JavaScript benchmark: time per operation relative to Buffer.allocUnsafe</title>');
  o.push(`<desc>${esc(`${json.mode} run, ${json.date}, node ${h.node}, V8 ${h.v8}, ${h.cpu} x${h.cpus}`)}</desc>`);
  o.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<text x="${names}" y="22" font-size="15" font-weight="bold">offheap allocator comparison from JavaScript (${esc(json.mode)} run)</text>`);
  o.push(
    `<text x="${names}" y="40" fill="#444444">median time per operation divided by Buffer.allocUnsafe's (log scale): bars left of 1x are faster</text>`,
  );
  o.push(`<text x="${names}" y="55" fill="#444444">${esc(`node ${h.node}, V8 ${h.v8}, ${h.cpu} x${h.cpus}, ${json.date}`)}</text>`);
  // Axis and grid.
  const axisY = top - 14;
  for (let e = lo; e <= hi; e++) {
    const r = 10 ** e;
    const gx = x(r).toFixed(1);
    o.push(`<line x1="${gx}" y1="${axisY + 4}" x2="${gx}" y2="${plotBottom}" stroke="${e === 0 ? '#000000' : '#d9d9d9'}" stroke-width="${e === 0 ? 1.5 : 1}"/>`);
    const lab = e >= 0 ? `${r}x` : `${r.toPrecision(1)}x`;
    o.push(`<text x="${gx}" y="${axisY}" text-anchor="middle" fill="#444444">${esc(lab)}</text>`);
    if (e < hi) {
      for (const m of [2, 5]) {
        const mx = x(m * r).toFixed(1);
        o.push(`<line x1="${mx}" y1="${axisY + 4}" x2="${mx}" y2="${plotBottom}" stroke="#f0f0f0" stroke-width="1"/>`);
      }
    }
  }
  o.push(`<text x="${x(10 ** lo) + 2}" y="${plotBottom + 16}" fill="#444444">&lt;- faster than Buffer.allocUnsafe</text>`);
  o.push(`<text x="${x(10 ** hi) - 2}" y="${plotBottom + 16}" text-anchor="end" fill="#444444">slower -&gt;</text>`);
  groups.forEach((g, gi) => {
    const gy = groupTop[gi];
    o.push(`<g>`);
    o.push(`<text x="8" y="${gy + 13}" font-weight="bold">${esc(g.name)}</text>`);
    rowsOf(g).forEach((id, i) => {
      const y = gy + groupHead + i * (barH + gap);
      const c = g.results.find((r) => r.contestant === id);
      o.push(`<text x="${names - 6}" y="${y + barH - 2}" text-anchor="end">${esc(labels[id] || id)}</text>`);
      if (!c || !(c.ratioToAllocUnsafe > 0)) {
        o.push(`<text x="${x1 + 4}" y="${y + barH - 2}" fill="#a50f15">${c && c.error ? 'error' : 'n/a'}</text>`);
        return;
      }
      const bx = x(c.ratioToAllocUnsafe);
      const faster = c.ratioToAllocUnsafe < 1;
      const xa = Math.min(bx, x1);
      const w = Math.max(1, Math.abs(bx - x1));
      o.push(
        `<rect x="${xa.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[id] || '#999999'}"><title>${esc(
          `${labels[id] || id}: ${fmtNs(c.medianNs)} ns/op, ${fmtR(c.ratioToAllocUnsafe)}x Buffer.allocUnsafe`,
        )}</title></rect>`,
      );
      // The value, beyond the bar's end on its own side of the 1x line.
      const tx = faster ? xa - 3 : xa + w + 3;
      o.push(
        `<text x="${tx.toFixed(1)}" y="${y + barH - 2}"${faster ? ' text-anchor="end"' : ''} fill="#222222">${esc(valueText(c))}</text>`,
      );
    });
    o.push('</g>');
  });

  if (shared) {
    const max = Math.max(...shared.results.map((r) => r.opsPerSec));
    const room = W - left - 12 - textWidth('000.00 M ops/s, 00.00x 1 worker') - 8;
    o.push(
      `<text x="8" y="${sharedTop}" font-size="13" font-weight="bold">${esc(
        'shared arenas: worker_threads doing alloc+free pairs (16..1024 B)',
      )}</text>`,
    );
    o.push(
      `<text x="8" y="${sharedTop + 16}" fill="#444444">${esc(
        `total ops/s of all workers (linear scale), median of ${shared.samples ?? '?'} run(s), ${shared.opsPerWorker} pairs per worker; ` +
          'the ratio is to the same contestant with 1 worker',
      )}</text>`,
    );
    let y = sharedTop + 40;
    for (const id of sharedIds) {
      o.push('<g>');
      o.push(`<text x="8" y="${y + 13}" font-weight="bold">${esc(`${id}: ${SHARED_LABELS[id] || id}`)}</text>`);
      y += groupHead;
      for (const r of shared.results.filter((s) => s.contestant === id)) {
        const w = Math.max(1, (r.opsPerSec / max) * room);
        const text = `${(r.opsPerSec / 1e6).toFixed(2)} M ops/s, ${r.scaling.toFixed(2)}x 1 worker`;
        o.push(`<text x="${names - 6}" y="${y + barH - 2}" text-anchor="end">${esc(`${r.threads} worker${r.threads === 1 ? '' : 's'}`)}</text>`);
        o.push(
          `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[id] || '#999999'}"><title>${esc(
            `${id}, ${r.threads} worker(s): ${text}`,
          )}</title></rect>`,
        );
        o.push(`<text x="${(left + w + 3).toFixed(1)}" y="${y + barH - 2}" fill="#222222">${esc(text)}</text>`);
        y += barH + gap;
      }
      y += groupGap;
      o.push('</g>');
    }
  }
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}

module.exports = {
  median,
  figures,
  checkTargets,
  formatTable,
  formatShared,
  renderSvg,
  fmtBytes,
  fmtNs,
  fmtR,
  pad,
  lpad,
  wrap,
  clip,
  COLUMNS,
  BASELINE,
  TARGETS,
};
