/**
 * Shared helpers of the jest suite.
 *
 * The suite is black-box: it imports the package root (`../..`), i.e. package.json "main" —
 * dist/index.js compiled from lib/ — which is exactly what `require('offheap')` gives a user.
 * Nothing under lib/ or csrc/ is imported directly, and no diagnostics are used: only the public
 * API.
 *
 * Realm note (jest trap): each test file runs in its own vm context, so objects made by native
 * code or by Node core (Buffers, errors thrown from C++) may come from another realm than the
 * test's `Uint8Array` / `TypeError`. Type checks here therefore use Object.prototype.toString,
 * util.types and constructor names along the prototype chain, never a bare `instanceof` on
 * built-ins.
 */
import * as path from 'path';
import { spawnSync } from 'child_process';
import { types as utilTypes } from 'util';
import { Arena, ArenaError } from '../..';

export { Arena, ArenaError };

export type AllocatorKind = 'dlmalloc' | 'buddy';
export type ViewsKind = 'safe' | 'fast';
export const ALLOCATORS: AllocatorKind[] = ['dlmalloc', 'buddy'];
export const VIEWS: ViewsKind[] = ['safe', 'fast'];
export const COMBOS: Array<[AllocatorKind, ViewsKind]> = [];
for (const a of ALLOCATORS) for (const v of VIEWS) COMBOS.push([a, v]);

/** Every TypedArray constructor allocArray and allocArrayUnsafe accept. */
export const TYPED_ARRAY_CTORS = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const PAGE = 4096;

/** Every arena a test made, destroyed after each test (a failing test must not leak arenas). */
const made: Arena[] = [];

export function makeArena(allocator: AllocatorKind, views: ViewsKind, capacity = 16 * MiB): Arena {
  const arena = new Arena({ allocator, views, capacity });
  made.push(arena);
  return arena;
}

export function destroyAll(): void {
  while (made.length > 0) {
    const a = made.pop()!;
    try {
      a.destroy();
    } catch {
      /* a test may have left it in any state; destroy is idempotent */
    }
  }
}

/** "[object Float64Array]" → "Float64Array", realm-independent. */
export function tag(x: unknown): string {
  return Object.prototype.toString.call(x).slice(8, -1);
}

/** True when some constructor along x's prototype chain has this name (realm-independent). */
export function protoNamed(x: unknown, name: string): boolean {
  let p: unknown = x === null || x === undefined ? null : Object.getPrototypeOf(x);
  while (p !== null && p !== undefined) {
    const c = (p as { constructor?: { name?: string } }).constructor;
    if (c && c.name === name) return true;
    p = Object.getPrototypeOf(p);
  }
  return false;
}

/** Node's own error messages write large integers with underscores (9_007_199_254_740_992). */
function numberSpellings(v: unknown): string[] {
  if (typeof v === 'string' && v.length > 0) return [v];
  if (typeof v === 'bigint') return [String(v)];
  if (typeof v !== 'number') return [];
  const s = String(v);
  const out = [s];
  if (/^-?\d{5,}$/.test(s)) {
    const neg = s.startsWith('-');
    const digits = neg ? s.slice(1) : s;
    out.push((neg ? '-' : '') + digits.replace(/\B(?=(\d{3})+(?!\d))/g, '_'));
    out.push((neg ? '-' : '') + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ','));
  }
  return out;
}

export type Code =
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_INVALID_STATE'
  | 'ERR_ARENA_OOM'
  | 'ERR_ARENA_FOREIGN'
  | 'ERR_ARENA_NOT_ALLOCATED'
  | 'ERR_ARENA_DESTROYED'
  | 'ERR_ARENA_CORRUPTED';

export interface ExpectErrorOptions {
  /** The method name the message must contain. */
  method?: string;
  /** The offending value the message must contain (numbers, strings and bigints are checked). */
  value?: unknown;
}

/**
 * Calls fn, expects it to throw an error with this code, of the class the README's error table gives
 * (TypeError for ERR_INVALID_ARG_TYPE, RangeError for ERR_OUT_OF_RANGE, ArenaError otherwise),
 * whose message names the method and (for numeric values) the value. Returns the error.
 */
export function expectError(fn: () => unknown, code: Code, opts: ExpectErrorOptions = {}): Error {
  let thrown: unknown = undefined;
  let threw = false;
  try {
    fn();
  } catch (e) {
    threw = true;
    thrown = e;
  }
  if (!threw) throw new Error(`expected ${code}, but the call returned normally`);
  const err = thrown as Error & { code?: unknown };
  expect(utilTypes.isNativeError(err) || protoNamed(err, 'Error')).toBe(true);
  expect({ code: err.code, message: err.message }).toEqual(
    expect.objectContaining({ code }),
  );
  if (code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_INVALID_ARG_VALUE') {
    expect(protoNamed(err, 'TypeError')).toBe(true);
  } else if (code === 'ERR_OUT_OF_RANGE') {
    expect(protoNamed(err, 'RangeError')).toBe(true);
  } else if (code === 'ERR_INVALID_STATE') {
    expect(protoNamed(err, 'TypeError') || protoNamed(err, 'RangeError') || err instanceof ArenaError).toBe(false);
  } else {
    expect(err).toBeInstanceOf(ArenaError);
  }
  if (opts.method !== undefined) {
    expect(err.message).toContain(opts.method);
  }
  const spellings = numberSpellings(opts.value);
  if (spellings.length > 0) {
    const ok = spellings.some((s) => err.message.includes(s));
    if (!ok) {
      throw new Error(
        `message of ${code} should name the value ${spellings[0]}: ${JSON.stringify(err.message)}`,
      );
    }
  }
  return err;
}

/** mulberry32: a small deterministic PRNG. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A byte view over any ArrayBufferView, without copying. */
export function bytes(v: ArrayBufferView): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && Number.isInteger(Math.log2(n));
}

export interface FixtureResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The last stdout line that parses as JSON, if any. */
  json: Record<string, unknown> | undefined;
}

/** Runs test/js/fixtures/<name> in a fresh node process (not under jest). */
export function runFixture(
  name: string,
  args: string[] = [],
  nodeArgs: string[] = [],
  timeoutMs = 120000,
): FixtureResult {
  const script = path.join(__dirname, 'fixtures', name);
  const r = spawnSync(process.execPath, [...nodeArgs, script, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  let json: Record<string, unknown> | undefined;
  const lines = (r.stdout ?? '').split('\n').filter((l) => l.trim().startsWith('{'));
  for (let i = lines.length - 1; i >= 0 && json === undefined; i--) {
    try {
      json = JSON.parse(lines[i]!) as Record<string, unknown>;
    } catch {
      /* not JSON */
    }
  }
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    json,
  };
}

/** A readable one-liner for a failed fixture run. */
export function describeRun(r: FixtureResult): string {
  return `status=${r.status} signal=${r.signal}\n--- stdout (tail)\n${r.stdout.slice(-3000)}\n--- stderr (tail)\n${r.stderr.slice(-3000)}`;
}

/** The live blocks of a shadow model as address intervals: add() throws on any overlap. */
export class Intervals {
  // sorted starts, and start → end
  private starts: number[] = [];
  private ends = new Map<number, number>();
  private lowerBound(x: number): number {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  add(start: number, end: number): void {
    if (end === start) end = start + 1; // a zero-length block still owns its address
    const i = this.lowerBound(start);
    if (i < this.starts.length && this.starts[i]! < end) {
      throw new Error(`overlap: [${start},${end}) vs block at ${this.starts[i]}`);
    }
    if (i > 0) {
      const prev = this.starts[i - 1]!;
      if (this.ends.get(prev)! > start) throw new Error(`overlap: [${start},${end}) vs [${prev},${this.ends.get(prev)})`);
    }
    this.starts.splice(i, 0, start);
    this.ends.set(start, end);
  }
  remove(start: number): void {
    const i = this.lowerBound(start);
    if (this.starts[i] !== start) throw new Error(`interval ${start} not in the model`);
    this.starts.splice(i, 1);
    this.ends.delete(start);
  }
}
