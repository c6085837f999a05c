#!/usr/bin/env node
// SVG chart of a native-bench JSON result (bench/native/run.sh), and a small
// XML well-formedness check for it. No dependencies.
//
//   node bench/native/svg.js IN.json OUT.svg    write the chart (then checks it)
//   node bench/native/svg.js --check FILE.svg   check a chart; exit 1 on problems
//
// The chart: one group of horizontal bars per workload, one bar per contestant
// other than glibc, of the contestant's median divided by glibc's median in
// the same run. The axis is logarithmic (base 2) and centred on 1x: bars to
// the left are faster than glibc, bars to the right slower; a bar beyond
// 1/16x or 16x is clipped and ends in an arrowhead, and every bar carries its
// value as text beyond its end, on the bar's own side of the 1x line (a
// faster bar's label left of its left end, a slower bar's right of its right
// end): the margins left and right of the plot are made as wide as the
// longest label that reaches into them. Plain SVG 1.1: rectangles, lines,
// paths and text in a generic font family; no scripts, no styles, no external
// references, so any browser or image viewer shows it as it is.
'use strict';
const fs = require('fs');
const path = require('path');

// ---- the chart ----------------------------------------------------------------

const LOG_MIN = -4; // 1/16x
const LOG_MAX = 4; //  16x
const MIN_WIDTH = 1000; // room for the captions
const NAMES = 190; // workload labels to the left of this
const PLOT_W = 650; // the plot, 1/16x to 16x
const LABEL_GAP = 4; // between a bar's end and its label
const CLIP_GAP = 10; // between a clipped bar's end and its label (the arrowhead is 7)
const BAR_H = 10;
const BAR_PITCH = 13;
const GROUP_GAP = 10;
const FONT = 'font-family="sans-serif"';

// Fixed colours for the known contestants (our allocators in blues and
// greens, the others in warm colours), then a fallback palette.
const COLORS = {
  dl: '#1f5fa8',
  'dl+lock': '#5b9bd5',
  'dl-global': '#a9c9ea',
  buddy: '#2e8b3d',
  'buddy+lock': '#8fd19e',
  mimalloc: '#d1495b',
  jemalloc: '#e59b3a',
};
const FALLBACK = ['#7b5ea7', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function esc(s) {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const fmtRatio = (r) =>
  (r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)) + '\u00d7';
function fmtNs(ns) {
  if (ns >= 1e6) return (ns / 1e6).toFixed(2) + ' ms';
  if (ns >= 1e4) return (ns / 1e3).toFixed(1) + ' \u00b5s';
  return (ns >= 100 ? ns.toFixed(0) : ns.toFixed(1)) + ' ns';
}

// A generous estimate of the width of text at font-size 10 (sans-serif).
const textWidth = (t) => t.length * 6;

function render(j) {
  const baseline = j.baseline || 'glibc';
  const names = j.contestants.map((c) => c.name).filter((n) => n !== baseline);
  const color = {};
  let fb = 0;
  for (const n of names) color[n] = COLORS[n] || FALLBACK[fb++ % FALLBACK.length];
  const cell = new Map(j.results.map((r) => [`${r.workload}\u0000${r.contestant}`, r]));
  const get = (w, c) => cell.get(`${w}\u0000${c}`);

  const unit = PLOT_W / (LOG_MAX - LOG_MIN);
  const clipOf = (ratio) => {
    const lr = Math.log2(ratio);
    return lr > LOG_MAX ? 1 : lr < LOG_MIN ? -1 : 0;
  };
  // A bar's end, from the plot's left edge.
  const tipOf = (ratio) => {
    const c = clipOf(ratio);
    return c > 0 ? PLOT_W : c < 0 ? 0 : (Math.log2(ratio) - LOG_MIN) * unit;
  };
  const out = [];
  const host = j.host || {};
  const title = `offheap native benchmark: ratio to ${baseline} per workload`;
  const sub1 = `${j.mode} run, ${j.date}; ${host.cpu_model || '?'}, ${host.online_cpus || '?'} CPU(s); ` +
    `${j.libc || ''}; ${(j.compiler && j.compiler.cc_version) || ''}`;
  const sub2 = `bar = contestant's median / ${baseline}'s median in the same run, log scale; ` +
    `left of 1\u00d7 = faster than ${baseline}. ${j.params ? j.params.samples : '?'} samples per cell.`;

  // Rows: single-threaded workloads, then the threaded (larson) ones.
  const single = j.workloads.filter((w) => w.kind !== 'larson');
  const threaded = j.workloads.filter((w) => w.kind === 'larson');
  const sections = [
    { head: ['single thread: thread CPU time per operation'], rows: single },
    { head: ['threads (larson): wall clock of the parallel phase, per step per thread',
      'heaps: dl, buddy one per thread; dl+lock, buddy+lock one shared; dl-global the global heap; ' +
      'others their malloc. speedup = throughput / the same contestant\'s 1-thread throughput'],
    rows: threaded },
  ].filter((s) => s.rows.length > 0);

  // Every bar with its label, then the margins the labels need, then the drawing.
  const barsOf = (w) => names.filter((n) => get(w.name, n)).map((n) => {
    const r = get(w.name, n);
    const ratio = r.ratio_vs_glibc;
    if (!(ratio > 0) || !Number.isFinite(ratio)) return { n, r, ratio: null };
    let tip = `${n}, ${w.name}: ${fmtNs(r.median_ns)} (${fmtRatio(ratio)} ${baseline})`;
    let label = fmtRatio(ratio);
    if (w.kind === 'larson' && Number.isFinite(r.speedup_vs_1t)) {
      tip += `; ${(r.throughput_ops_per_s / 1e6).toFixed(2)} M steps/s, ` +
        `${r.speedup_vs_1t.toFixed(2)}\u00d7 its 1-thread throughput; heap: ${r.heap}`;
      label += `, speedup ${r.speedup_vs_1t.toFixed(2)}`;
    }
    return { n, r, ratio, tip, text: `${n} ${label}`, faster: ratio < 1, clipped: clipOf(ratio), at: tipOf(ratio) };
  });
  let marginL = 0;
  let marginR = 0;
  for (const sec of sections) {
    for (const w of sec.rows) {
      for (const b of barsOf(w)) {
        if (b.ratio === null) continue;
        const need = (b.clipped ? CLIP_GAP : LABEL_GAP) + textWidth(b.text);
        if (b.faster) marginL = Math.max(marginL, need - b.at);
        else marginR = Math.max(marginR, b.at + need - PLOT_W);
      }
    }
  }
  const plotL = NAMES + Math.ceil(marginL);
  const plotR = plotL + PLOT_W;
  const x0 = plotL + (0 - LOG_MIN) * unit;
  const WIDTH = Math.max(MIN_WIDTH, Math.ceil(plotR + marginR + 12));

  const legendY = 64;
  const axisTop = 104;
  let y = axisTop + 26;
  const body = [];
  for (const sec of sections) {
    sec.head.forEach((h, k) => {
      body.push(`<text x="12" y="${y + 4}" ${FONT} font-size="${k ? 10 : 12}" ` +
        `${k ? 'fill="#444"' : 'font-weight="bold" fill="#222"'}>${esc(h)}</text>`);
      y += k ? 13 : 16;
    });
    for (const w of sec.rows) {
      const base = get(w.name, baseline);
      const bars = barsOf(w);
      const gh = bars.length * BAR_PITCH;
      const top = y;
      body.push(`<rect x="8" y="${top - 3}" width="${WIDTH - 16}" height="${gh + 6}" fill="#f4f4f4"/>`);
      body.push(`<text x="${NAMES - 12}" y="${top + gh / 2 - 2}" ${FONT} font-size="12" text-anchor="end" fill="#111">${esc(w.name)}</text>`);
      if (base) {
        body.push(`<text x="${NAMES - 12}" y="${top + gh / 2 + 11}" ${FONT} font-size="10" text-anchor="end" fill="#555">${esc(`${baseline} ${fmtNs(base.median_ns)}`)}</text>`);
      }
      bars.forEach((b, i) => {
        const by = top + i * BAR_PITCH;
        if (b.ratio === null) return;
        const xe = plotL + b.at;
        const xa = Math.min(x0, xe);
        const wdt = Math.max(1, Math.abs(xe - x0));
        body.push(`<rect x="${xa.toFixed(1)}" y="${by}" width="${wdt.toFixed(1)}" height="${BAR_H}" fill="${color[b.n]}"><title>${esc(b.tip)}</title></rect>`);
        if (b.clipped) {
          // An arrowhead past the clipped end says "goes on".
          const d = b.clipped > 0
            ? `M${plotR} ${by - 1} L${plotR + 7} ${by + BAR_H / 2} L${plotR} ${by + BAR_H + 1} Z`
            : `M${plotL} ${by - 1} L${plotL - 7} ${by + BAR_H / 2} L${plotL} ${by + BAR_H + 1} Z`;
          body.push(`<path d="${d}" fill="${color[b.n]}"/>`);
        }
        // The label beyond the bar's end, on the bar's side of the 1x line.
        const gap = b.clipped ? CLIP_GAP : LABEL_GAP;
        const lx = b.faster ? Math.min(xa, xe) - gap : Math.max(xa + wdt, xe) + gap;
        const anchor = b.faster ? ' text-anchor="end"' : '';
        body.push(`<text x="${lx.toFixed(1)}" y="${by + BAR_H - 1}" ${FONT} font-size="10"${anchor} fill="#222">${esc(b.text)}</text>`);
      });
      y += gh + GROUP_GAP;
    }
    y += 8;
  }
  const plotBottom = y - 8;
  const height = plotBottom + 70;

  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`);
  out.push(`<title>${esc(title)}</title>`);
  out.push(`<desc>${esc(`${sub1}. ${sub2}`)}</desc>`);
  out.push(`<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="12" y="22" ${FONT} font-size="16" font-weight="bold" fill="#111">${esc(title)}</text>`);
  out.push(`<text x="12" y="38" ${FONT} font-size="11" fill="#333">${esc(sub1)}</text>`);
  out.push(`<text x="12" y="52" ${FONT} font-size="11" fill="#333">${esc(sub2)}</text>`);
  // Legend.
  let lx = 12;
  for (const n of names) {
    out.push(`<rect x="${lx}" y="${legendY}" width="12" height="10" fill="${color[n]}"/>`);
    out.push(`<text x="${lx + 16}" y="${legendY + 9}" ${FONT} font-size="11" fill="#222">${esc(n)}</text>`);
    lx += 28 + 7 * n.length;
  }
  // Axis: grid lines at every power of two (drawn before the bars, so they
  // stay behind them), labels at the top and bottom.
  const tickLabel = (e) => (e >= 0 ? `${2 ** e}\u00d7` : `1/${2 ** -e}\u00d7`);
  out.push(`<text x="${x0 - 6}" y="${axisTop - 14}" ${FONT} font-size="11" text-anchor="end" fill="#2e7d32">\u2190 faster than ${esc(baseline)}</text>`);
  out.push(`<text x="${x0 + 6}" y="${axisTop - 14}" ${FONT} font-size="11" fill="#c62828">slower than ${esc(baseline)} \u2192</text>`);
  for (let e = LOG_MIN; e <= LOG_MAX; e++) {
    const x = x0 + e * unit;
    const stroke = e === 0 ? '#000000' : '#cccccc';
    out.push(`<line x1="${x}" y1="${axisTop}" x2="${x}" y2="${plotBottom}" stroke="${stroke}" stroke-width="${e === 0 ? 1.5 : 1}"/>`);
    out.push(`<text x="${x}" y="${axisTop - 2}" ${FONT} font-size="10" text-anchor="middle" fill="#444">${esc(tickLabel(e))}</text>`);
    out.push(`<text x="${x}" y="${plotBottom + 14}" ${FONT} font-size="10" text-anchor="middle" fill="#444">${esc(tickLabel(e))}</text>`);
  }
  out.push(...body);
  // The 1x line again, on top of the bars.
  out.push(`<line x1="${x0}" y1="${axisTop}" x2="${x0}" y2="${plotBottom}" stroke="#000000" stroke-width="1.5"/>`);
  out.push(`<text x="12" y="${plotBottom + 36}" ${FONT} font-size="10" fill="#555">${esc(
    'Bars beyond 1/16\u00d7 or 16\u00d7 are clipped (arrowhead); the label is the real value. ' +
    'Hover a bar for its median. Unit and workloads: bench/native/README.md.')}</text>`);
  out.push(`<text x="12" y="${plotBottom + 50}" ${FONT} font-size="10" fill="#555">${esc(
    `harness overhead ${Number(j.harness_overhead_ns).toFixed(2)} ns per operation is in every cell; ` +
    `verify failures: ${j.verify_failures}; cflags: ${(j.compiler && j.compiler.cflags) || ''}`)}</text>`);
  out.push('</svg>');
  return out.filter((l) => l !== '').join('\n') + '\n';
}

// ---- the well-formedness check --------------------------------------------------

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;
const REF = /^&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/;

// A minimal XML 1.0 well-formedness check, enough for generated SVG: one root
// element, balanced and properly nested tags, well-formed attributes (quoted,
// unique, no '<'), only the predefined or numeric entity references, legal
// comments, nothing but white space, comments and processing instructions
// outside the root. Returns {problems, root, elements}.
function checkXml(text) {
  const problems = [];
  const elements = [];
  const stack = [];
  let root = null;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = text.length;
  const at = (k) => {
    const line = text.slice(0, k).split('\n').length;
    return `line ${line}`;
  };
  const checkChars = (s, k) => {
    for (let a = s.indexOf('&'); a >= 0; a = s.indexOf('&', a + 1)) {
      if (!REF.test(s.slice(a, a + 12))) problems.push(`${at(k)}: '&' that starts no entity reference`);
    }
    if (s.includes(']]>')) problems.push(`${at(k)}: ']]>' in character data`);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(s)) problems.push(`${at(k)}: control character`);
  };
  const skipWs = (k) => {
    while (k < n && /\s/.test(text[k])) k++;
    return k;
  };
  if (text.startsWith('<?xml', i)) {
    const e = text.indexOf('?>', i);
    if (e < 0) return { problems: ['unterminated XML declaration'], root, elements };
    i = e + 2;
  }
  while (i < n) {
    const lt = text.indexOf('<', i);
    const chunk = text.slice(i, lt < 0 ? n : lt);
    if (stack.length === 0) {
      if (chunk.trim()) problems.push(`${at(i)}: text outside the root element`);
    } else {
      checkChars(chunk, i);
    }
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('<!--', i)) {
      const e = text.indexOf('-->', i + 4);
      if (e < 0) { problems.push(`${at(i)}: unterminated comment`); break; }
      if (text.slice(i + 4, e).includes('--')) problems.push(`${at(i)}: '--' inside a comment`);
      i = e + 3;
      continue;
    }
    if (text.startsWith('<![CDATA[', i)) {
      if (stack.length === 0) problems.push(`${at(i)}: CDATA outside the root element`);
      const e = text.indexOf(']]>', i);
      if (e < 0) { problems.push(`${at(i)}: unterminated CDATA section`); break; }
      i = e + 3;
      continue;
    }
    if (text.startsWith('<!', i)) {
      // DOCTYPE without an internal subset; anything else is not expected.
      const e = text.indexOf('>', i);
      if (!text.startsWith('<!DOCTYPE', i) || root || e < 0 || text.slice(i, e).includes('[')) {
        problems.push(`${at(i)}: unexpected markup declaration`);
      }
      if (e < 0) break;
      i = e + 1;
      continue;
    }
    if (text.startsWith('<?', i)) {
      const e = text.indexOf('?>', i);
      if (e < 0) { problems.push(`${at(i)}: unterminated processing instruction`); break; }
      i = e + 2;
      continue;
    }
    if (text.startsWith('</', i)) {
      const m = NAME.exec(text.slice(i + 2, i + 202));
      if (!m) { problems.push(`${at(i)}: bad end tag`); break; }
      const j = skipWs(i + 2 + m[0].length);
      if (text[j] !== '>') problems.push(`${at(i)}: bad end tag </${m[0]}`);
      const open = stack.pop();
      if (open !== m[0]) {
        problems.push(`${at(i)}: </${m[0]}> closes ${open ? `<${open}>` : 'nothing'}`);
        if (open === undefined) break;
      }
      i = j + 1;
      continue;
    }
    // A start tag or an empty-element tag.
    const m = NAME.exec(text.slice(i + 1, i + 201));
    if (!m) { problems.push(`${at(i)}: '<' that starts no tag`); break; }
    const name = m[0];
    const attrs = {};
    let j = i + 1 + name.length;
    let empty = false;
    let broken = false;
    for (;;) {
      const k = skipWs(j);
      if (text.startsWith('/>', k)) { empty = true; j = k + 2; break; }
      if (text[k] === '>') { j = k + 1; break; }
      if (k === j) { problems.push(`${at(k)}: <${name}>: attribute without white space before it`); broken = true; break; }
      const am = NAME.exec(text.slice(k, k + 200));
      if (!am) { problems.push(`${at(k)}: <${name}>: bad attribute name`); broken = true; break; }
      let v = skipWs(k + am[0].length);
      if (text[v] !== '=') { problems.push(`${at(k)}: <${name}>: attribute ${am[0]} without a value`); broken = true; break; }
      v = skipWs(v + 1);
      const q = text[v];
      if (q !== '"' && q !== "'") { problems.push(`${at(k)}: <${name}>: unquoted value of ${am[0]}`); broken = true; break; }
      const e = text.indexOf(q, v + 1);
      if (e < 0) { problems.push(`${at(k)}: <${name}>: unterminated value of ${am[0]}`); broken = true; break; }
      const val = text.slice(v + 1, e);
      if (val.includes('<')) problems.push(`${at(k)}: <${name}>: '<' in the value of ${am[0]}`);
      checkChars(val, k);
      if (Object.prototype.hasOwnProperty.call(attrs, am[0])) problems.push(`${at(k)}: <${name}>: duplicate attribute ${am[0]}`);
      attrs[am[0]] = val;
      j = e + 1;
    }
    if (broken) break;
    if (stack.length === 0) {
      if (root) problems.push(`${at(i)}: a second root element <${name}>`);
      else root = { name, attrs };
    }
    elements.push({ name, attrs });
    if (!empty) stack.push(name);
    i = j;
  }
  if (stack.length) problems.push(`unclosed element(s): ${stack.map((s) => `<${s}>`).join(' ')}`);
  if (!root) problems.push('no root element');
  return { problems, root, elements };
}

// Well-formed XML, and the SVG this project promises: an SVG 1.1 root with
// its namespace and a size, text and shapes, nothing active or external.
function checkSvg(text) {
  const { problems, root, elements } = checkXml(text);
  const p = problems.slice();
  if (root) {
    if (root.name !== 'svg') p.push(`root element is <${root.name}>, not <svg>`);
    if (root.attrs.xmlns !== 'http://www.w3.org/2000/svg') p.push('<svg> lacks xmlns="http://www.w3.org/2000/svg"');
    if (root.attrs.version !== '1.1') p.push('<svg> is not version="1.1"');
    for (const a of ['width', 'height']) {
      if (!(Number(root.attrs[a]) > 0)) p.push(`<svg> has no numeric ${a}`);
    }
  }
  for (const e of elements) {
    if (['script', 'foreignObject', 'style', 'image', 'iframe'].includes(e.name)) p.push(`<${e.name}> is not allowed`);
    for (const a of Object.keys(e.attrs)) {
      if (/^on/i.test(a)) p.push(`<${e.name}>: event attribute ${a}`);
      if (/(^|:)href$/.test(a)) p.push(`<${e.name}>: reference ${a}`);
      if (/url\(/i.test(e.attrs[a])) p.push(`<${e.name}>: url() in ${a}`);
    }
  }
  if (!elements.some((e) => e.name === 'rect')) p.push('no <rect> (no bars)');
  if (!elements.some((e) => e.name === 'text')) p.push('no <text> (no labels)');
  return p;
}

module.exports = { render, checkXml, checkSvg };

// ---- command line ------------------------------------------------------------------

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args[0] === '--check' && args.length === 2) {
    const problems = checkSvg(fs.readFileSync(args[1], 'utf8'));
    if (problems.length) {
      console.log(`svg: ${args[1]}: ${problems.length} problem(s)`);
      for (const q of problems.slice(0, 20)) console.log(`  - ${q}`);
      process.exit(1);
    }
    process.exit(0);
  }
  if (args.length !== 2 || args[0].startsWith('--')) {
    console.error('usage: node bench/native/svg.js IN.json OUT.svg | --check FILE.svg');
    process.exit(2);
  }
  const j = JSON.parse(fs.readFileSync(args[0], 'utf8'));
  const svg = render(j);
  const problems = checkSvg(svg);
  if (problems.length) {
    console.log(`svg: the chart of ${args[0]} is not well-formed:`);
    for (const q of problems.slice(0, 20)) console.log(`  - ${q}`);
    process.exit(1);
  }
  const tmp = `${args[1]}.tmp`;
  fs.writeFileSync(tmp, svg);
  fs.renameSync(tmp, args[1]);
  console.log(`chart: ${path.relative(process.cwd(), path.resolve(args[1]))}`);
}
