/**
 * Allocation traces (lib/trace.ts): the recorder's id policy, record -> serialize -> parse
 * round trips, the format's errors, stats, files, and the traces shipped in bench/traces/.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Trace, TraceRecorder, TraceOp, TRACE_HEADER, TRACE_MAX_ID, loadTrace, saveTrace } from '../..';
import type { TraceOperation } from '../..';

const ROOT = path.join(__dirname, '..', '..');

/** mulberry32 */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function errorOf(f: () => unknown): { name: string; message: string; code?: string | undefined } {
  try {
    f();
  } catch (e) {
    const x = e as { name: string; message: string; code?: string | undefined };
    return { name: x.name, message: x.message, code: x.code };
  }
  throw new Error('expected an error');
}

/** Records a random program; returns the trace and the operations a reference model expects. */
function randomProgram(seed: number, steps: number): { trace: Trace; expected: TraceOperation[] } {
  const r = rng(seed);
  const rec = new TraceRecorder({ comments: [`random program, seed ${seed}`] });
  const expected: TraceOperation[] = [];
  const live = new Set<number>();
  const lowestFree = (): number => {
    let id = 0;
    while (live.has(id)) id++;
    return id;
  };
  for (let s = 0; s < steps; s++) {
    const x = r();
    const ids = [...live];
    if (x < 0.4 || ids.length === 0) {
      const size = Math.floor(r() * 5000);
      const want = lowestFree();
      const calloc = r() < 0.3;
      const id = calloc ? rec.calloc(size) : rec.alloc(size);
      expect(id).toBe(want);
      live.add(id);
      expected.push({ op: calloc ? 'calloc' : 'alloc', id, size });
    } else if (x < 0.55) {
      const id = ids[Math.floor(r() * ids.length)] as number;
      const size = Math.floor(r() * 100000);
      rec.realloc(id, size);
      expected.push({ op: 'realloc', id, size });
    } else if (x < 0.995) {
      const id = ids[Math.floor(r() * ids.length)] as number;
      rec.free(id);
      live.delete(id);
      expected.push({ op: 'free', id });
    } else {
      rec.reset();
      live.clear();
      expected.push({ op: 'reset' });
    }
  }
  expect(rec.live).toBe(live.size);
  expect(rec.length).toBe(steps);
  return { trace: rec.finish(), expected };
}

describe('TraceRecorder', () => {
  test('ids: the lowest free id is reused; reset frees every id', () => {
    const rec = new TraceRecorder();
    const a = rec.alloc(10);
    const b = rec.alloc(20);
    const c = rec.calloc(30);
    expect([a, b, c]).toEqual([0, 1, 2]);
    rec.free(b);
    rec.free(a);
    expect(rec.alloc(1)).toBe(0);
    expect(rec.alloc(1)).toBe(1);
    expect(rec.alloc(1)).toBe(3);
    rec.free(c); // 2
    rec.free(3);
    expect(rec.alloc(5)).toBe(2);
    rec.reset();
    expect(rec.live).toBe(0);
    expect(rec.alloc(7)).toBe(0);
    const t = rec.finish();
    expect(t.toString()).toBe(
      [TRACE_HEADER, 'a 0 10', 'a 1 20', 'c 2 30', 'f 1', 'f 0', 'a 0 1', 'a 1 1', 'a 3 1', 'f 2', 'f 3', 'a 2 5', 'x', 'a 0 7', ''].join('\n'),
    );
  });

  test('misuse throws with the project error codes and records nothing', () => {
    const rec = new TraceRecorder();
    const a = rec.alloc(8);
    expect(errorOf(() => rec.free(a + 1))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    expect(errorOf(() => rec.realloc(-1, 4))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    expect(errorOf(() => rec.alloc(-1))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    expect(errorOf(() => rec.alloc(1.5))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    expect(errorOf(() => rec.alloc('8' as unknown as number))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    expect(errorOf(() => rec.free('0' as unknown as number))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    rec.free(a);
    expect(errorOf(() => rec.free(a)).code).toBe('ERR_OUT_OF_RANGE'); // double free
    expect(rec.length).toBe(2);
    rec.finish();
    expect(errorOf(() => rec.alloc(1))).toMatchObject({ name: 'Error', code: 'ERR_INVALID_STATE', message: expect.stringMatching(/finished/) });
    expect(errorOf(() => rec.finish())).toMatchObject({ code: 'ERR_INVALID_STATE', message: expect.stringMatching(/^TraceRecorder\.finish/) });
    for (const call of [() => rec.calloc(1), () => rec.realloc(0, 1), () => rec.free(0), () => rec.reset()]) {
      expect(errorOf(call).code).toBe('ERR_INVALID_STATE');
    }
  });

  test('record -> serialize -> parse round-trips the same operations (random programs)', () => {
    for (const seed of [1, 2, 3]) {
      const { trace, expected } = randomProgram(seed, 4000);
      expect([...trace]).toEqual(expected);
      const text = trace.toString();
      const back = Trace.parse(text);
      expect([...back]).toEqual(expected);
      expect(back.toString()).toBe(text);
      expect(back.comments).toEqual([`random program, seed ${seed}`]);
      expect(Array.from(back.ops)).toEqual(Array.from(trace.ops));
      expect(Array.from(back.ids)).toEqual(Array.from(trace.ids));
      expect(Array.from(back.sizes)).toEqual(Array.from(trace.sizes));
      expect(back.stats()).toEqual(trace.stats());
      expect(Trace.fromOperations(expected).toString()).toBe(text.replace(`# random program, seed ${seed}\n`, ''));
    }
  });
});

describe('Trace', () => {
  test('stats: counts, peaks, slots', () => {
    const t = Trace.parse('# offheap-trace v1\na 0 100\nc 1 50\nr 0 400\nf 1\na 1 10\nx\na 3 1\n');
    expect(t.length).toBe(7);
    expect(t.stats()).toEqual({
      operations: 7,
      allocs: 3,
      callocs: 1,
      reallocs: 1,
      frees: 1,
      resets: 1,
      slots: 4,
      peakLiveBytes: 450,
      peakLiveBlocks: 2,
      requestedBytes: 561,
      maxSize: 400,
      liveBlocksAtEnd: 1,
      liveBytesAtEnd: 1,
    });
    expect(t.op(2)).toEqual({ op: 'realloc', id: 0, size: 400 });
    expect(t.op(3)).toEqual({ op: 'free', id: 1 });
    expect(t.op(5)).toEqual({ op: 'reset' });
    expect(t.ops[5]).toBe(TraceOp.Reset);
    expect(errorOf(() => t.op(7)).code).toBe('ERR_OUT_OF_RANGE');
  });

  test('parse accepts comments anywhere, blank lines, tabs and CRLF', () => {
    const t = Trace.parse('# offheap-trace v1\r\n# one\r\n\r\na\t0  5\r\n# two\r\nf 0\r\n');
    expect([...t]).toEqual([
      { op: 'alloc', id: 0, size: 5 },
      { op: 'free', id: 0 },
    ]);
    expect(t.comments).toEqual(['one', 'two']);
    expect(Trace.parse(`${TRACE_HEADER}\n`).length).toBe(0);
    // a lone carriage return inside a comment is not a line of the format: the line is named
    expect(errorOf(() => Trace.parse(`${TRACE_HEADER}\na 0 1\n# one\rtwo\n`))).toMatchObject({
      code: 'ERR_TRACE_INVALID',
      message: expect.stringMatching(/line 3/),
    });
  });

  test.each([
    ['', 1, /header/],
    ['# offheap-trace v2\n', 1, /header/],
    ['# offheap-trace v1\nq 1 2\n', 2, /unknown operation/],
    ['# offheap-trace v1\na 1\n', 2, /takes 2 field/],
    ['# offheap-trace v1\nf 1 2\n', 2, /takes 1 field/],
    ['# offheap-trace v1\nx 0\n', 2, /takes 0 field/],
    ['# offheap-trace v1\na 0 -5\n', 2, /decimal integer/],
    ['# offheap-trace v1\na 0 1.5\n', 2, /decimal integer/],
    ['# offheap-trace v1\na 0 0x10\n', 2, /decimal integer/],
    [`# offheap-trace v1\na ${TRACE_MAX_ID + 1} 1\n`, 2, /at most/],
    ['# offheap-trace v1\na 0 99999999999999999\n', 2, /at most|decimal/],
    ['# offheap-trace v1\na 0 1\n\na 0 2\n', 4, /already live/],
    ['# offheap-trace v1\nf 0\n', 2, /not live/],
    ['# offheap-trace v1\na 0 1\nx\nr 0 5\n', 4, /not live/],
  ])('parse rejects %j at line %i', (text, line, re) => {
    const e = errorOf(() => Trace.parse(text));
    expect(e.name).toBe('SyntaxError');
    expect(e.code).toBe('ERR_TRACE_INVALID');
    expect(e.message).toMatch(new RegExp(`line ${line}:`));
    expect(e.message).toMatch(re);
  });

  test('the constructor checks its arrays', () => {
    expect(errorOf(() => new Trace(new Uint8Array([TraceOp.Free]), new Uint32Array(1), new Float64Array(1))).name).toBe('SyntaxError');
    expect(errorOf(() => new Trace(new Uint8Array([9]), new Uint32Array(1), new Float64Array(1))).message).toMatch(/code 9/);
    expect(errorOf(() => new Trace(new Uint8Array(2), new Uint32Array(1), new Float64Array(2))).code).toBe('ERR_OUT_OF_RANGE');
    expect(errorOf(() => new Trace([] as unknown as Uint8Array, new Uint32Array(0), new Float64Array(0))).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(
      errorOf(() => new Trace(new Uint8Array([TraceOp.Alloc]), new Uint32Array(1), new Float64Array([-1]))).message,
    ).toMatch(/size/);
  });

  test('saveTrace / loadTrace', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'offheap-trace-'));
    try {
      const { trace } = randomProgram(9, 500);
      const file = path.join(dir, 't.trace');
      saveTrace(file, trace);
      expect(fs.readFileSync(file, 'utf8').startsWith(`${TRACE_HEADER}\n`)).toBe(true);
      const back = loadTrace(file);
      expect(back.toString()).toBe(trace.toString());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('loadTrace: a missing file keeps its ENOENT code and names loadTrace and the path; a bad one names the path and the line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'offheap-trace-'));
    try {
      const missing = path.join(dir, 'missing.trace');
      const e1 = errorOf(() => loadTrace(missing));
      expect(e1.code).toBe('ENOENT');
      expect(e1.message).toContain('loadTrace');
      expect(e1.message).toContain(missing);
      const bad = path.join(dir, 'bad.trace');
      fs.writeFileSync(bad, `${TRACE_HEADER}\na 0 1\nq 3\n`);
      const e2 = errorOf(() => loadTrace(bad));
      expect(e2.code).toBe('ERR_TRACE_INVALID');
      expect(e2.name).toBe('SyntaxError');
      expect(e2.message).toContain(bad);
      expect(e2.message).toMatch(/line 3:/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the shipped traces (bench/traces/*.trace)', () => {
  const dir = path.join(ROOT, 'bench', 'traces');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.trace')) : [];

  test('there are two or three of them, each a few hundred KB at most', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) expect(fs.statSync(path.join(dir, f)).size).toBeLessThan(400 * 1024);
  });

  test.each(files)('%s parses, names its recorder, and round-trips', (f) => {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    const t = Trace.parse(text);
    const s = t.stats();
    expect(s.operations).toBeGreaterThan(1000);
    expect(s.peakLiveBytes).toBeGreaterThan(0);
    expect(t.comments.join('\n')).toMatch(/recorded by examples\//);
    expect(t.toString()).toBe(text);
  });
});
