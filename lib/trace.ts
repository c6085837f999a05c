/**
 * Allocation traces: a record of the allocations a program made (alloc, calloc,
 * realloc, free, reset), to replay against any allocator, e.g. with
 * `npm run bench -- --trace FILE`.
 *
 * The text format (`.trace` files), one operation per line:
 *
 * ```text
 * # offheap-trace v1
 * # any further line starting with '#' is a comment
 * a <id> <size>     allocate <size> bytes (contents unspecified) as block <id>
 * c <id> <size>     allocate <size> zeroed bytes as block <id>
 * r <id> <size>     resize block <id> to <size> bytes (contents kept, may move)
 * f <id>            free block <id>
 * x                 free every block (an arena reset)
 * ```
 *
 * The first line is exactly `# offheap-trace v1`. Ids are decimal integers in
 * `[0, 2^24)` naming the blocks that are live at that point: an id is given to a
 * new block by `a` or `c` and is free again after `f` or `x`, so a later
 * allocation may reuse it ({@link TraceRecorder} always takes the lowest free
 * id, which keeps the ids small). Sizes are decimal integers in
 * `[0, 2^53)`. Blank lines are ignored; fields are separated by spaces or tabs.
 * A trace is checked when it is parsed or built: allocating a live id, or
 * resizing or freeing an id that is not live, is an error.
 *
 * ```ts
 * import { TraceRecorder, Trace, saveTrace, loadTrace } from 'offheap';
 * const rec = new TraceRecorder({ comments: ['recorded by my-service'] });
 * const a = rec.alloc(100);
 * rec.realloc(a, 400);
 * rec.free(a);
 * const trace = rec.finish();
 * saveTrace('my-service.trace', trace);
 * loadTrace('my-service.trace').stats().peakLiveBytes; // 400
 * ```
 *
 * @packageDocumentation
 */
import * as fs from 'fs';

import { rangeError, stateError, typeError } from './errors';

/** The first line of every trace file. */
export const TRACE_HEADER = '# offheap-trace v1';

/** Ids are integers in `[0, TRACE_MAX_ID]`. */
export const TRACE_MAX_ID = 2 ** 24 - 1;

/**
 * The numeric operation codes stored in {@link Trace.ops}:
 * `Alloc` (`a`), `Calloc` (`c`), `Realloc` (`r`), `Free` (`f`), `Reset` (`x`).
 */
export const TraceOp = {
  /** `a`: allocate (contents unspecified). */
  Alloc: 1,
  /** `c`: allocate zeroed bytes. */
  Calloc: 2,
  /** `r`: resize a live block. */
  Realloc: 3,
  /** `f`: free a live block. */
  Free: 4,
  /** `x`: free every block. */
  Reset: 5,
} as const;

/** One of the values of {@link TraceOp}. */
export type TraceOpCode = (typeof TraceOp)[keyof typeof TraceOp];

/** One operation of a trace, as {@link Trace.op} and iteration return it. */
export type TraceOperation =
  | {
      /** An allocation or a resize. */
      op: 'alloc' | 'calloc' | 'realloc';
      /** The block's id. */
      id: number;
      /** The block's (new) size in bytes. */
      size: number;
    }
  | {
      /** A free. */
      op: 'free';
      /** The id of the block freed. */
      id: number;
    }
  | {
      /** Every block freed at once. */
      op: 'reset';
    };

/** Figures of a trace, computed when it is built ({@link Trace.stats}). Sizes in bytes. */
export interface TraceStats {
  /** Number of operations. */
  operations: number;
  /** Number of `a` operations. */
  allocs: number;
  /** Number of `c` operations. */
  callocs: number;
  /** Number of `r` operations. */
  reallocs: number;
  /** Number of `f` operations. */
  frees: number;
  /** Number of `x` operations. */
  resets: number;
  /** The largest id plus one: the number of slots a replay needs. */
  slots: number;
  /** The largest sum of the requested sizes of the live blocks, at any point. */
  peakLiveBytes: number;
  /** The largest number of live blocks, at any point. */
  peakLiveBlocks: number;
  /** Sum of the sizes of every `a`, `c` and `r`. */
  requestedBytes: number;
  /** The largest size of any `a`, `c` or `r`. */
  maxSize: number;
  /** Blocks still live after the last operation. */
  liveBlocksAtEnd: number;
  /** Requested bytes still live after the last operation. */
  liveBytesAtEnd: number;
}

const LETTERS = ['', 'a', 'c', 'r', 'f', 'x'] as const;
const NAMES = ['', 'alloc', 'calloc', 'realloc', 'free', 'reset'] as const;

/** How the constructor's check names an operation in its errors (set by Trace.parse). */
let checkWhere: ((i: number) => string) | null = null;

/** `Object.prototype.toString` tag, realm-independent. */
function tag(x: unknown): string {
  return Object.prototype.toString.call(x).slice(8, -1);
}

/**
 * What {@link Trace.parse}, {@link loadTrace} and the Trace constructor throw for an invalid
 * trace: a `SyntaxError` with `code: 'ERR_TRACE_INVALID'`, whose message names the line (text)
 * or the operation (arrays) at fault.
 */
export interface TraceSyntaxError extends SyntaxError {
  /** Always `'ERR_TRACE_INVALID'`. */
  code: 'ERR_TRACE_INVALID';
}

function invalid(where: string, message: string): TraceSyntaxError {
  const e = new SyntaxError(`${where}: ${message}`) as TraceSyntaxError;
  e.code = 'ERR_TRACE_INVALID';
  return e;
}

/**
 * A recorded allocation trace, stored compactly: three parallel typed arrays of
 * {@link Trace.length} entries (13 bytes per operation). Immutable once built
 * (the arrays are not copied out: do not write to them).
 */
export class Trace {
  /** Operation codes ({@link TraceOp}). */
  readonly ops: Uint8Array;
  /** Block ids (0 for `x`). */
  readonly ids: Uint32Array;
  /** Sizes in bytes (0 for `f` and `x`). */
  readonly sizes: Float64Array;
  /** Comment lines of the trace (without the leading `#` and one space), written after the header. */
  readonly comments: readonly string[];
  readonly #stats: TraceStats;

  /**
   * Builds a trace from its arrays (taken as they are, not copied) and checks it:
   * equal lengths, valid codes, ids and sizes, and that every id is used as the
   * format requires.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when an array is not of its type, or a
   * comment is not a string without line breaks.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when the lengths differ.
   * @throws {@link TraceSyntaxError} `ERR_TRACE_INVALID` for an invalid code, id, size or sequence.
   */
  constructor(ops: Uint8Array, ids: Uint32Array, sizes: Float64Array, comments: readonly string[] = []) {
    const W = 'new Trace';
    if (tag(ops) !== 'Uint8Array') throw typeError(W, 'ops', 'a Uint8Array', ops);
    if (tag(ids) !== 'Uint32Array') throw typeError(W, 'ids', 'a Uint32Array', ids);
    if (tag(sizes) !== 'Float64Array') throw typeError(W, 'sizes', 'a Float64Array', sizes);
    if (ids.length !== ops.length || sizes.length !== ops.length) {
      throw rangeError(W, 'ids.length and sizes.length', `equal to ops.length (${ops.length})`, `${ids.length}, ${sizes.length}`);
    }
    for (const c of comments) {
      if (typeof c !== 'string' || /[\r\n]/.test(c)) throw typeError(W, 'comments', 'strings without line breaks', c);
    }
    this.ops = ops;
    this.ids = ids;
    this.sizes = sizes;
    this.comments = Object.freeze([...comments]);
    const where = checkWhere ?? ((i: number) => `${W}: operation ${i}`);
    this.#stats = Object.freeze(check(ops, ids, sizes, where));
  }

  /** Number of operations. */
  get length(): number {
    return this.ops.length;
  }

  /** Figures of the trace: counts, peak live bytes and blocks, slots a replay needs. */
  stats(): TraceStats {
    return { ...this.#stats };
  }

  /**
   * The operation at index `i` (0-based).
   *
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `i` is not an index of the trace.
   */
  op(i: number): TraceOperation {
    if (!Number.isInteger(i) || i < 0 || i >= this.ops.length) {
      throw rangeError('Trace.op', 'index', `an integer >= 0 and < ${this.ops.length}`, i);
    }
    return operationAt(this.ops, this.ids, this.sizes, i);
  }

  /** Iterates over the operations in order. */
  *[Symbol.iterator](): IterableIterator<TraceOperation> {
    for (let i = 0; i < this.ops.length; i++) yield operationAt(this.ops, this.ids, this.sizes, i);
  }

  /**
   * Parses the text format (see the module documentation).
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `text` is not a string.
   * @throws {@link TraceSyntaxError} `ERR_TRACE_INVALID` naming the line for a malformed or
   * inconsistent trace (a comment holding a carriage return before its end included).
   */
  static parse(text: string): Trace {
    if (typeof text !== 'string') throw typeError('Trace.parse', 'text', 'a string', text);
    const lines = text.split('\n');
    const first = (lines[0] ?? '').replace(/\s+$/, '');
    if (first !== TRACE_HEADER) {
      throw invalid('Trace.parse: line 1', `expected the header ${JSON.stringify(TRACE_HEADER)}, got ${JSON.stringify(first.slice(0, 40))}`);
    }
    const n = lines.length;
    let ops = new Uint8Array(Math.max(16, n));
    let ids = new Uint32Array(ops.length);
    let sizes = new Float64Array(ops.length);
    const comments: string[] = [];
    const lineOf: number[] = [];
    let k = 0;
    for (let ln = 1; ln < n; ln++) {
      const line = (lines[ln] as string).trim();
      if (line === '') continue;
      const where = `Trace.parse: line ${ln + 1}`;
      if (line.charCodeAt(0) === 35 /* # */) {
        // A comment is one line of the saved text: a lone carriage return inside it would not be.
        if (line.includes('\r')) throw invalid(where, 'a comment holds a carriage return');
        comments.push(line.replace(/^#\s?/, ''));
        continue;
      }
      const f = line.split(/[ \t]+/);
      const code = LETTERS.indexOf(f[0] as (typeof LETTERS)[number]);
      if (code <= 0) throw invalid(where, `unknown operation ${JSON.stringify(f[0])} (expected a, c, r, f or x)`);
      const arity = code === TraceOp.Reset ? 1 : code === TraceOp.Free ? 2 : 3;
      if (f.length !== arity) throw invalid(where, `'${f[0]}' takes ${arity - 1} field(s), got ${f.length - 1}`);
      let id = 0;
      let size = 0;
      if (arity >= 2) id = parseField(where, 'id', f[1] as string, TRACE_MAX_ID);
      if (arity === 3) size = parseField(where, 'size', f[2] as string, Number.MAX_SAFE_INTEGER);
      ops[k] = code;
      ids[k] = id;
      sizes[k] = size;
      lineOf[k] = ln + 1;
      k++;
    }
    ops = ops.slice(0, k);
    ids = ids.slice(0, k);
    sizes = sizes.slice(0, k);
    // The constructor's check reports operation indexes; parse errors name the line.
    checkWhere = (i) => `Trace.parse: line ${lineOf[i] ?? '?'}`;
    try {
      return new Trace(ops, ids, sizes, comments);
    } finally {
      checkWhere = null;
    }
  }

  /**
   * Builds a trace from a list of operations.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` for an unknown `op`, an id or size
   * that is not a number, or a comment that is not a string without line breaks.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` for an id or size out of range.
   * @throws {@link TraceSyntaxError} `ERR_TRACE_INVALID` for an invalid sequence.
   */
  static fromOperations(list: Iterable<TraceOperation>, comments: readonly string[] = []): Trace {
    const rec: TraceOperation[] = [...list];
    const ops = new Uint8Array(rec.length);
    const ids = new Uint32Array(rec.length);
    const sizes = new Float64Array(rec.length);
    rec.forEach((o, i) => {
      const code = NAMES.indexOf(o.op);
      if (code <= 0) throw typeError('Trace.fromOperations', `operation ${i}`, "an op of 'alloc', 'calloc', 'realloc', 'free' or 'reset'", o.op);
      ops[i] = code;
      if (o.op !== 'reset') ids[i] = checkInt('Trace.fromOperations', `operation ${i} id`, o.id, TRACE_MAX_ID);
      if (o.op === 'alloc' || o.op === 'calloc' || o.op === 'realloc') {
        sizes[i] = checkInt('Trace.fromOperations', `operation ${i} size`, o.size, Number.MAX_SAFE_INTEGER);
      }
    });
    return new Trace(ops, ids, sizes, comments);
  }

  /** The text format: the header, the comments, then one operation per line, ending with a newline. */
  toString(): string {
    const out: string[] = [TRACE_HEADER];
    for (const c of this.comments) out.push(c === '' ? '#' : `# ${c}`);
    const { ops, ids, sizes } = this;
    for (let i = 0; i < ops.length; i++) {
      const code = ops[i] as number;
      if (code === TraceOp.Reset) out.push('x');
      else if (code === TraceOp.Free) out.push(`f ${ids[i]}`);
      else out.push(`${LETTERS[code]} ${ids[i]} ${sizes[i]}`);
    }
    return `${out.join('\n')}\n`;
  }
}

function operationAt(ops: Uint8Array, ids: Uint32Array, sizes: Float64Array, i: number): TraceOperation {
  const code = ops[i] as number;
  if (code === TraceOp.Reset) return { op: 'reset' };
  if (code === TraceOp.Free) return { op: 'free', id: ids[i] as number };
  return { op: NAMES[code] as 'alloc' | 'calloc' | 'realloc', id: ids[i] as number, size: sizes[i] as number };
}

function parseField(where: string, what: string, s: string, max: number): number {
  if (!/^[0-9]{1,16}$/.test(s)) throw invalid(where, `${what} must be a decimal integer, got ${JSON.stringify(s.slice(0, 20))}`);
  const v = Number(s);
  if (v > max) throw invalid(where, `${what} must be at most ${max}, got ${s}`);
  return v;
}

function checkInt(method: string, what: string, v: unknown, max: number): number {
  if (typeof v !== 'number') throw typeError(method, what, 'a number', v);
  if (!Number.isInteger(v) || v < 0 || v > max) throw rangeError(method, what, `an integer >= 0 and <= ${max}`, v);
  return v;
}

/** Checks the arrays and simulates the live set; returns the trace's figures. */
function check(ops: Uint8Array, ids: Uint32Array, sizes: Float64Array, where: (i: number) => string): TraceStats {
  let slots = 0;
  for (let i = 0; i < ops.length; i++) {
    const code = ops[i] as number;
    if (code < TraceOp.Alloc || code > TraceOp.Reset) throw invalid(where(i), `invalid operation code ${code}`);
    const id = ids[i] as number;
    if (id > TRACE_MAX_ID) throw invalid(where(i), `id ${id} is larger than ${TRACE_MAX_ID}`);
    const size = sizes[i] as number;
    if (!(Number.isSafeInteger(size) && size >= 0)) throw invalid(where(i), `size ${size} is not an integer in [0, 2^53)`);
    if (code !== TraceOp.Reset && id + 1 > slots) slots = id + 1;
  }
  // Live sizes per id; -1 = not live.
  const live = new Float64Array(slots).fill(-1);
  const liveIds: number[] = [];
  const s: TraceStats = {
    operations: ops.length,
    allocs: 0,
    callocs: 0,
    reallocs: 0,
    frees: 0,
    resets: 0,
    slots,
    peakLiveBytes: 0,
    peakLiveBlocks: 0,
    requestedBytes: 0,
    maxSize: 0,
    liveBlocksAtEnd: 0,
    liveBytesAtEnd: 0,
  };
  let bytes = 0;
  let blocks = 0;
  for (let i = 0; i < ops.length; i++) {
    const code = ops[i] as number;
    const id = ids[i] as number;
    const size = sizes[i] as number;
    switch (code) {
      case TraceOp.Alloc:
      case TraceOp.Calloc:
        if ((live[id] as number) >= 0) throw invalid(where(i), `id ${id} is already live (free it before reusing it)`);
        if (code === TraceOp.Alloc) s.allocs++;
        else s.callocs++;
        live[id] = size;
        liveIds.push(id);
        bytes += size;
        blocks++;
        break;
      case TraceOp.Realloc: {
        const old = live[id] as number;
        if (old < 0) throw invalid(where(i), `realloc of id ${id}, which is not live`);
        s.reallocs++;
        live[id] = size;
        bytes += size - old;
        break;
      }
      case TraceOp.Free: {
        const old = live[id] as number;
        if (old < 0) throw invalid(where(i), `free of id ${id}, which is not live`);
        s.frees++;
        live[id] = -1;
        bytes -= old;
        blocks--;
        break;
      }
      default:
        s.resets++;
        for (const j of liveIds) live[j] = -1;
        liveIds.length = 0;
        bytes = 0;
        blocks = 0;
        break;
    }
    if (code <= TraceOp.Realloc) {
      s.requestedBytes += size;
      if (size > s.maxSize) s.maxSize = size;
    }
    if (bytes > s.peakLiveBytes) s.peakLiveBytes = bytes;
    if (blocks > s.peakLiveBlocks) s.peakLiveBlocks = blocks;
    // Keep liveIds from growing without bound on long traces without resets.
    if (liveIds.length > 2 * slots + 64) {
      let w = 0;
      for (const j of liveIds) if ((live[j] as number) >= 0) liveIds[w++] = j;
      liveIds.length = w;
    }
  }
  s.liveBlocksAtEnd = blocks;
  s.liveBytesAtEnd = bytes;
  return s;
}

/**
 * Reads and parses a `.trace` file (UTF-8).
 *
 * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `path` is not a string.
 * @throws {@link TraceSyntaxError} `ERR_TRACE_INVALID` naming the path and the line, for a file
 * that does not parse.
 * @throws Error Node's own (its `code`, e.g. `ENOENT`, kept), with a message that names
 * `loadTrace` and the path, for a file that cannot be read.
 */
export function loadTrace(path: string): Trace {
  if (typeof path !== 'string') throw typeError('loadTrace', 'path', 'a string', path);
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as Error;
    err.message = `loadTrace: cannot read ${JSON.stringify(path)}: ${err.message}`;
    throw err;
  }
  try {
    return Trace.parse(text);
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ERR_TRACE_INVALID') err.message = `loadTrace ${JSON.stringify(path)}: ${err.message}`;
    throw err;
  }
}

/**
 * Writes `trace` to `path` in the text format.
 *
 * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `path` is not a string or `trace`
 * is not a {@link Trace}.
 * @throws Error Node's own (e.g. `ENOENT`) when the file cannot be written.
 */
export function saveTrace(path: string, trace: Trace): void {
  if (typeof path !== 'string') throw typeError('saveTrace', 'path', 'a string', path);
  if (!(trace instanceof Trace)) throw typeError('saveTrace', 'trace', 'a Trace', trace);
  fs.writeFileSync(path, trace.toString());
}

/** Options of `new TraceRecorder(options)`. */
export interface TraceRecorderOptions {
  /** Comment lines for the trace (e.g. what recorded it); no line breaks. */
  comments?: readonly string[];
}

/**
 * Records allocation operations into a {@link Trace}. Each allocation gets the
 * lowest id that is not live, so ids stay as small as the peak number of live
 * blocks. Misuse (freeing or resizing an id that is not live) throws at once,
 * so a recorded trace is always valid. After `finish()`, every recording method
 * throws an `Error`.
 */
export class TraceRecorder {
  #ops = new Uint8Array(1024);
  #ids = new Uint32Array(1024);
  #sizes = new Float64Array(1024);
  #n = 0;
  /** live[id] = 1 when id is live */
  #live = new Uint8Array(64);
  /** ids below #next that are free, as a binary min-heap */
  #heap = new Uint32Array(64);
  #heapLen = 0;
  /** every id >= #next is free */
  #next = 0;
  #liveCount = 0;
  #finished = false;
  readonly #comments: string[];

  /**
   * A recorder with no operations yet.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `options` is not an object, or a
   * comment is not a string without line breaks.
   */
  constructor(options: TraceRecorderOptions = {}) {
    if (options === null || typeof options !== 'object') throw typeError('new TraceRecorder', 'options', 'an object', options);
    const comments = options.comments ?? [];
    for (const c of comments) {
      if (typeof c !== 'string' || /[\r\n]/.test(c)) {
        throw typeError('new TraceRecorder', 'options.comments', 'strings without line breaks', c);
      }
    }
    this.#comments = [...comments];
  }

  /** Operations recorded so far. */
  get length(): number {
    return this.#n;
  }

  /** Blocks live now. */
  get live(): number {
    return this.#liveCount;
  }

  /**
   * Records an allocation of `size` bytes; returns its id.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `size` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `size` is not a safe integer >= 0,
   * or 2^24 blocks are live already.
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` once `finish()` was called.
   */
  alloc(size: number): number {
    return this.#allocate('alloc', TraceOp.Alloc, size);
  }

  /**
   * Records a zeroed allocation of `size` bytes; returns its id.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `size` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `size` is not a safe integer >= 0,
   * or 2^24 blocks are live already.
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` once `finish()` was called.
   */
  calloc(size: number): number {
    return this.#allocate('calloc', TraceOp.Calloc, size);
  }

  /**
   * Records that block `id` was resized to `size` bytes (it keeps its id).
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `id` or `size` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `id` is not live, or `size` is not a
   * safe integer >= 0.
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` once `finish()` was called.
   */
  realloc(id: number, size: number): void {
    const M = 'TraceRecorder.realloc';
    this.#open(M);
    this.#liveId(M, id);
    this.#push(TraceOp.Realloc, id, checkInt(M, 'size', size, Number.MAX_SAFE_INTEGER));
  }

  /**
   * Records that block `id` was freed; the id may be reused.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `id` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `id` is not live.
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` once `finish()` was called.
   */
  free(id: number): void {
    const M = 'TraceRecorder.free';
    this.#open(M);
    this.#liveId(M, id);
    this.#push(TraceOp.Free, id, 0);
    this.#live[id] = 0;
    this.#liveCount--;
    if (id === this.#next - 1) {
      this.#next--;
      // Lower #next over free ids at the top; stale heap entries >= #next are skipped on pop.
      while (this.#next > 0 && this.#live[this.#next - 1] === 0) this.#next--;
    } else {
      this.#heapPush(id);
    }
  }

  /**
   * Records that every block was freed at once.
   *
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` once `finish()` was called.
   */
  reset(): void {
    this.#open('TraceRecorder.reset');
    this.#push(TraceOp.Reset, 0, 0);
    this.#live.fill(0, 0, this.#next);
    this.#next = 0;
    this.#heapLen = 0;
    this.#liveCount = 0;
  }

  /**
   * Ends the recording and returns the trace; the recorder refuses further calls.
   *
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` once `finish()` was called.
   */
  finish(): Trace {
    this.#open('TraceRecorder.finish');
    this.#finished = true;
    const n = this.#n;
    return new Trace(this.#ops.slice(0, n), this.#ids.slice(0, n), this.#sizes.slice(0, n), this.#comments);
  }

  #open(method: string): void {
    if (this.#finished) throw stateError(method, 'the recorder is finished (finish() was called)');
  }

  #liveId(method: string, id: unknown): void {
    if (typeof id !== 'number') throw typeError(method, 'id', 'a number', id);
    if (!Number.isInteger(id) || id < 0 || id >= this.#next || this.#live[id] !== 1) {
      throw rangeError(method, 'id', 'the id of a live block', id);
    }
  }

  #allocate(name: string, code: TraceOpCode, size: number): number {
    const M = `TraceRecorder.${name}`;
    this.#open(M);
    checkInt(M, 'size', size, Number.MAX_SAFE_INTEGER);
    let id = -1;
    while (this.#heapLen > 0) {
      const top = this.#heapPop();
      if (top < this.#next && this.#live[top] === 0) {
        id = top;
        break;
      }
    }
    if (id < 0) {
      if (this.#next > TRACE_MAX_ID) throw rangeError(M, 'live blocks', `at most ${TRACE_MAX_ID + 1}`, this.#next + 1);
      id = this.#next++;
      if (id >= this.#live.length) {
        const l = new Uint8Array(this.#live.length * 2);
        l.set(this.#live);
        this.#live = l;
      }
    }
    this.#live[id] = 1;
    this.#liveCount++;
    this.#push(code, id, size);
    return id;
  }

  #push(code: number, id: number, size: number): void {
    if (this.#n === this.#ops.length) {
      const cap = this.#ops.length * 2;
      const o = new Uint8Array(cap);
      o.set(this.#ops);
      const i = new Uint32Array(cap);
      i.set(this.#ids);
      const s = new Float64Array(cap);
      s.set(this.#sizes);
      this.#ops = o;
      this.#ids = i;
      this.#sizes = s;
    }
    this.#ops[this.#n] = code;
    this.#ids[this.#n] = id;
    this.#sizes[this.#n] = size;
    this.#n++;
  }

  #heapPush(v: number): void {
    if (this.#heapLen === this.#heap.length) {
      const h = new Uint32Array(this.#heap.length * 2);
      h.set(this.#heap);
      this.#heap = h;
    }
    const h = this.#heap;
    let i = this.#heapLen++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((h[p] as number) <= v) break;
      h[i] = h[p] as number;
      i = p;
    }
    h[i] = v;
  }

  #heapPop(): number {
    const h = this.#heap;
    const top = h[0] as number;
    const last = h[--this.#heapLen] as number;
    const n = this.#heapLen;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (h[r] as number) < (h[l] as number) ? r : l;
      if ((h[c] as number) >= last) break;
      h[i] = h[c] as number;
      i = c;
    }
    if (n > 0) h[i] = last;
    return top;
  }
}
