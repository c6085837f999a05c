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
];

/** The targets whose cells were measured; each with met: true/false. */
function checkTargets(workloads) {
  const out = [];
  for (const t of TARGETS) {
    const w = workloads.find((x) => x.id === t.workload);
    if (!w) continue;
    const vs = w.results.find((c) => c.contestant === t.vs && c.medianNs !== undefined);
    if (!vs) continue;
    for (const of of t.of) {
      const c = w.results.find((x) => x.contestant === of && x.medianNs !== undefined);
      if (!c) continue;
      const ratio = c.medianNs / vs.medianNs;
      const r = { workload: t.workload, of, vs: t.vs, target: t.text, ratio: round(ratio, 4) };
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
 * The terminal table
 * ------------------------------------------------------------------------------------------- */

function memCell(c) {
  if (c.memory && c.memory.committed !== undefined) {
    const peak = c.memory.peakCommitted !== undefined ? ` (peak ${fmtBytes(c.memory.peakCommitted)})` : '';
    return `${fmtBytes(c.memory.committed)} / ${fmtBytes(c.memory.inUse)}${peak}`;
  }
  return '';
}

function cellLine(c, labels, best, isTrace) {
  const name = labels[c.contestant] || c.contestant;
  if (c.medianNs === undefined) return `  ${pad(name, 24)} ERROR: ${String(c.error).split('\n')[0].slice(0, 100)}`;
  const mark = c.contestant === best ? ' <' : '';
  let line =
    `  ${pad(name + mark, 24)} ${lpad(fmtNs(c.medianNs), 9)} ${pad(`[${fmtNs(c.minNs)}-${fmtNs(c.maxNs)}]`, 21)}` +
    `${lpad(fmtRate(c.opsPerSec), 8)} ${lpad(fmtR(c.ratioToAllocUnsafe), 8)} ${lpad(fmtR(c.ratioToBest), 7)}` +
    ` ${lpad(fmtBytes(c.peakRss), 8)} ${lpad(`${c.gc.minorPerSample}/${c.gc.majorPerSample}`, 7)}`;
  if (isTrace) {
    line += `  ${lpad(fmtBytes(c.peakCommitted), 9)} ${lpad(fmtR(c.fragmentation), 6)}  ${c.committedSource.split(' (')[0]}`;
  } else {
    line += `  ${memCell(c)}`;
  }
  return line;
}

function formatTable(json) {
  const labels = Object.fromEntries(json.contestants.map((c) => [c.id, c.label]));
  const h = json.host;
  const lines = [];
  lines.push(
    `offheap bench (JavaScript)  node ${h.node}  v8 ${h.v8}  ${h.cpu} x${h.cpus}  ${json.mode}  ` +
      `${json.params.rounds} round(s) x ${json.params.samples} samples  ${json.date}`,
  );
  lines.push('');
  lines.push('ns/op: median [min-max] over all samples (one child process per contestant and round);');
  lines.push('xallocU: median / Buffer.allocUnsafe median; xbest: / the fastest (marked <); peak RSS of the child;');
  lines.push('GC: median spontaneous minor/major collections per sample window; memory (offheap, @thi.ng):');
  lines.push('committed / in use after the run (peak committed). Details: bench/js/README.md.');
  const head = `  ${pad('contestant', 24)} ${lpad('ns/op', 9)} ${pad('[min-max]', 21)}${lpad('ops/s', 8)} ${lpad('xallocU', 8)} ${lpad('xbest', 7)} ${lpad('peak RSS', 8)} ${lpad('GC', 7)}`;
  for (const w of json.workloads) {
    lines.push('');
    lines.push(`[${w.id}] ${w.title} -- op: ${w.op}`);
    lines.push(`${head}  committed / in use`);
    for (const c of w.results) lines.push(cellLine(c, labels, w.best, false));
  }
  for (const t of json.traces) {
    lines.push('');
    lines.push(
      `[trace ${t.name}] ${t.operations} ops, peak live ${fmtBytes(t.stats.peakLiveBytes)} in ${t.stats.peakLiveBlocks} blocks (${t.file})`,
    );
    lines.push(`${head}  ${lpad('peak comm', 9)} ${lpad('frag', 6)}  committed measured as`);
    for (const c of t.results) lines.push(cellLine(c, labels, t.best, true));
  }

  // Summary matrix: ratio to Buffer.allocUnsafe.
  const ids = json.contestants.map((c) => c.id);
  const shorts = json.contestants.map((c) => c.short || c.id);
  const groups = [
    ...json.workloads.map((w) => ({ name: w.id, results: w.results })),
    ...json.traces.map((t) => ({ name: `trace ${t.name}`, results: t.results })),
  ];
  if (groups.length > 0) {
    const width = Math.max(6, ...shorts.map((s) => s.length)) + 1;
    lines.push('');
    lines.push('summary: median ns/op of Buffer.allocUnsafe (allocU), and every contestant as a ratio to it (< 1 is faster)');
    lines.push(`  ${pad('', 20)} ${lpad('allocU ns', 10)}${shorts.map((s) => lpad(s, width)).join('')}`);
    for (const g of groups) {
      const base = g.results.find((c) => c.contestant === BASELINE);
      const cells = ids.map((id) => {
        const c = g.results.find((x) => x.contestant === id);
        return lpad(c && c.medianNs !== undefined ? fmtR(c.ratioToAllocUnsafe) : '-', width);
      });
      lines.push(`  ${pad(g.name, 20)} ${lpad(base && base.medianNs !== undefined ? fmtNs(base.medianNs) : '-', 10)}${cells.join('')}`);
    }
  }

  if (json.targets.length > 0) {
    lines.push('');
    lines.push('targets (README "Performance targets"):');
    for (const t of json.targets) {
      lines.push(`  ${t.met ? 'met   ' : 'MISSED'}  ${pad(t.workload, 9)} ${pad(t.of, 11)} ${pad(t.target, 40)} measured ${t.measured}`);
    }
    const met = json.targets.filter((t) => t.met).length;
    lines.push(`  ${met} of ${json.targets.length} targets met`);
  }
  if (json.errors.length > 0) {
    lines.push('');
    lines.push(`errors (${json.errors.length}):`);
    for (const e of json.errors) lines.push(`  ${e.group} / ${e.contestant} (round ${e.round}): ${String(e.error).split('\n')[0].slice(0, 160)}`);
  }
  lines.push('');
  lines.push(`elapsed ${json.elapsedS} s`);
  return lines.join('\n');
}

/* ---------------------------------------------------------------------------------------------
 * The SVG chart: ratio to Buffer.allocUnsafe per workload and trace, log scale, bars growing
 * left (faster) or right (slower) from the 1x line. Plain SVG 1.1: no script, no CSS, no fonts
 * beyond the generic families.
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
};

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function renderSvg(json) {
  const labels = Object.fromEntries(json.contestants.map((c) => [c.id, c.label]));
  const ids = json.contestants.map((c) => c.id);
  const groups = [
    ...json.workloads.map((w) => ({ name: `${w.id}: ${w.title}`, results: w.results })),
    ...json.traces.map((t) => ({ name: `trace ${t.name}: replay of ${t.operations} ops`, results: t.results })),
  ];
  const ratios = groups.flatMap((g) => g.results.map((c) => c.ratioToAllocUnsafe)).filter((x) => x > 0 && Number.isFinite(x));
  let lo = Math.floor(Math.log10(Math.min(0.1, ...ratios)));
  let hi = Math.ceil(Math.log10(Math.max(10, ...ratios)));
  lo = Math.max(lo, -4);
  hi = Math.min(hi, 4);

  const W = 980;
  const left = 190; // contestant labels
  const right = 70; // value labels
  const plotW = W - left - right;
  const barH = 11;
  const gap = 2;
  const groupHead = 20;
  const groupGap = 10;
  const top = 92;
  const x = (r) => left + ((Math.log10(r) - lo) / (hi - lo)) * plotW;
  const groupH = groupHead + ids.length * (barH + gap) + groupGap;
  const H = top + groups.length * groupH + 40;
  const h = json.host;
  const o = [];
  o.push('<?xml version="1.0" encoding="UTF-8" standalone="no"?>');
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  );
  o.push('<title>offheap JavaScript benchmark: time per operation relative to Buffer.allocUnsafe</title>');
  o.push(`<desc>${esc(`${json.mode} run, ${json.date}, node ${h.node}, V8 ${h.v8}, ${h.cpu} x${h.cpus}`)}</desc>`);
  o.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<text x="${left}" y="22" font-size="15" font-weight="bold">offheap allocator comparison from JavaScript (${esc(json.mode)} run)</text>`);
  o.push(
    `<text x="${left}" y="40" fill="#444444">median time per operation divided by Buffer.allocUnsafe's (log scale): bars left of 1x are faster</text>`,
  );
  o.push(`<text x="${left}" y="55" fill="#444444">${esc(`node ${h.node}, V8 ${h.v8}, ${h.cpu} x${h.cpus}, ${json.date}`)}</text>`);
  // Axis and grid.
  const axisY = top - 14;
  for (let e = lo; e <= hi; e++) {
    const r = 10 ** e;
    const gx = x(r).toFixed(1);
    o.push(`<line x1="${gx}" y1="${axisY + 4}" x2="${gx}" y2="${H - 30}" stroke="${e === 0 ? '#000000' : '#d9d9d9'}" stroke-width="${e === 0 ? 1.5 : 1}"/>`);
    const lab = e >= 0 ? `${r}x` : `${r.toPrecision(1)}x`;
    o.push(`<text x="${gx}" y="${axisY}" text-anchor="middle" fill="#444444">${esc(lab)}</text>`);
    if (e < hi) {
      for (const m of [2, 5]) {
        const mx = x(m * r).toFixed(1);
        o.push(`<line x1="${mx}" y1="${axisY + 4}" x2="${mx}" y2="${H - 30}" stroke="#f0f0f0" stroke-width="1"/>`);
      }
    }
  }
  o.push(`<text x="${x(10 ** lo) + 2}" y="${H - 14}" fill="#444444">&lt;- faster than Buffer.allocUnsafe</text>`);
  o.push(`<text x="${x(10 ** hi) - 2}" y="${H - 14}" text-anchor="end" fill="#444444">slower -&gt;</text>`);
  const x1 = x(1);
  groups.forEach((g, gi) => {
    const gy = top + gi * groupH;
    o.push(`<g>`);
    o.push(`<text x="8" y="${gy + 13}" font-weight="bold">${esc(g.name)}</text>`);
    ids.forEach((id, i) => {
      const y = gy + groupHead + i * (barH + gap);
      const c = g.results.find((r) => r.contestant === id);
      o.push(`<text x="${left - 6}" y="${y + barH - 2}" text-anchor="end">${esc(labels[id] || id)}</text>`);
      if (!c || !(c.ratioToAllocUnsafe > 0)) {
        o.push(`<text x="${x1 + 4}" y="${y + barH - 2}" fill="#a50f15">${c && c.error ? 'error' : 'n/a'}</text>`);
        return;
      }
      const r = Math.min(10 ** hi, Math.max(10 ** lo, c.ratioToAllocUnsafe));
      const bx = x(r);
      const xa = Math.min(bx, x1);
      const w = Math.max(1, Math.abs(bx - x1));
      o.push(
        `<rect x="${xa.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[id] || '#999999'}"><title>${esc(
          `${labels[id] || id}: ${fmtNs(c.medianNs)} ns/op, ${fmtR(c.ratioToAllocUnsafe)}x Buffer.allocUnsafe`,
        )}</title></rect>`,
      );
      // The value: right of the 1x line for faster bars, right of the bar's end for slower ones.
      const tx = bx < x1 ? x1 + 3 : xa + w + 3;
      o.push(`<text x="${tx.toFixed(1)}" y="${y + barH - 2}" fill="#222222">${esc(`${fmtR(c.ratioToAllocUnsafe)}x`)}</text>`);
    });
    o.push('</g>');
  });
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}

module.exports = { median, figures, checkTargets, formatTable, renderSvg, fmtBytes, fmtNs, fmtR, pad, lpad, BASELINE, TARGETS };
