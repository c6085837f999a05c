/**
 * Errors of offheap. Every error thrown by the API is an {@link ArenaError}, a `TypeError`, a
 * `RangeError`, a `SyntaxError` (invalid traces) or (state errors) an `Error`, with a stable
 * `code`; messages name the method and the offending value. Files `loadTrace` and `saveTrace`
 * cannot read or write throw Node's own errors, and a finished `TraceRecorder` a plain `Error`.
 * Compare `err.code` (or `err.name`), not `instanceof`, across realms (jest runs each test file
 * in its own realm).
 *
 * @packageDocumentation
 */
import { binding } from './binding';

/** Error codes of {@link ArenaError}. */
export type ArenaErrorCode =
  | 'ERR_ARENA_OOM'
  | 'ERR_ARENA_FOREIGN'
  | 'ERR_ARENA_NOT_ALLOCATED'
  | 'ERR_ARENA_DESTROYED'
  | 'ERR_ARENA_CORRUPTED';

/** All error codes the API throws, including argument and state errors. */
export type OffheapErrorCode =
  | ArenaErrorCode
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_INVALID_STATE'
  | 'ERR_TRACE_INVALID'
  | 'ERR_OFFHEAP_NO_BINARY';

/** An arena-level failure: out of memory, foreign or non-allocated view, destroyed, corrupted. */
export class ArenaError extends Error {
  /** Stable machine-readable code. */
  readonly code: ArenaErrorCode;
  /** For ERR_ARENA_OOM: the bytes requested. */
  declare readonly requested?: number;
  /** For ERR_ARENA_OOM: the largest `alloc(n)` that would have succeeded at the time of failure. */
  declare readonly largestFree?: number;

  constructor(code: ArenaErrorCode, message: string, extra?: { requested?: number; largestFree?: number }) {
    super(message);
    this.name = 'ArenaError';
    this.code = code;
    if (extra?.requested !== undefined) Object.defineProperty(this, 'requested', { value: extra.requested, enumerable: true });
    if (extra?.largestFree !== undefined) Object.defineProperty(this, 'largestFree', { value: extra.largestFree, enumerable: true });
  }
}

/** A `TypeError` with `code: 'ERR_INVALID_ARG_TYPE'`. */
export interface OffheapTypeError extends TypeError {
  /** Always `'ERR_INVALID_ARG_TYPE'`. */
  code: 'ERR_INVALID_ARG_TYPE';
}
/** A `RangeError` with `code: 'ERR_OUT_OF_RANGE'`. */
export interface OffheapRangeError extends RangeError {
  /** Always `'ERR_OUT_OF_RANGE'`. */
  code: 'ERR_OUT_OF_RANGE';
}
/**
 * A `TypeError` with `code: 'ERR_INVALID_ARG_VALUE'` (as Node's own): an argument of the right
 * type whose value is not one allowed, such as an unknown option or allocator name, or an option
 * that does not apply to the chosen allocator.
 */
export interface OffheapValueError extends TypeError {
  /** Always `'ERR_INVALID_ARG_VALUE'`. */
  code: 'ERR_INVALID_ARG_VALUE';
}
/** An `Error` with `code: 'ERR_INVALID_STATE'`: a call the arena's state does not allow. */
export interface OffheapStateError extends Error {
  /** Always `'ERR_INVALID_STATE'`. */
  code: 'ERR_INVALID_STATE';
}

/** @internal */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'function') return `function ${v.name || '<anonymous>'}`;
  if (ArrayBuffer.isView(v)) {
    const ctor = Object.prototype.toString.call(v).slice(8, -1);
    return `${ctor}(byteOffset=${v.byteOffset}, byteLength=${v.byteLength})`;
  }
  if (typeof v === 'object') return Object.prototype.toString.call(v);
  return typeof v;
}

/** @internal */
export function typeError(method: string, what: string, expected: string, value: unknown): OffheapTypeError {
  const e = new TypeError(`${method}: ${what} must be ${expected}, got ${describe(value)}`) as OffheapTypeError;
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

/** @internal */
export function valueError(method: string, what: string, expected: string, value: unknown): OffheapValueError {
  const e = new TypeError(`${method}: ${what} must be ${expected}, got ${describe(value)}`) as OffheapValueError;
  e.code = 'ERR_INVALID_ARG_VALUE';
  return e;
}

/** @internal */
export function stateError(method: string, message: string): OffheapStateError {
  const e = new Error(`${method}: ${message}`) as OffheapStateError;
  e.code = 'ERR_INVALID_STATE';
  return e;
}

/** @internal */
export function rangeError(method: string, what: string, expected: string, value: unknown): OffheapRangeError {
  const e = new RangeError(`${method}: ${what} must be ${expected}, got ${describe(value)}`) as OffheapRangeError;
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}

const STATUS = binding.constants.status;
/** Statuses of the arena core (csrc/addon/core/status.h), from the binding. @internal */
export const ST_OOM = STATUS.OOM;
/** @internal */
export const ST_FOREIGN = STATUS.FOREIGN;
/** @internal */
export const ST_NOT_ALLOCATED = STATUS.NOT_ALLOCATED;
/** @internal */
export const ST_DESTROYED = STATUS.DESTROYED;
/** @internal */
export const ST_CORRUPTED = STATUS.CORRUPTED;
/** @internal */
export const ST_VIEW_FAILED = STATUS.VIEW_FAILED;

/** Maps a negative status of the arena core to the error to throw. @internal */
export function statusError(method: string, status: number, value: unknown, largestFree?: () => number): Error {
  switch (status) {
    case ST_OOM: {
      const lf = largestFree ? largestFree() : 0;
      // largestFree is the largest plain alloc() that succeeds now (stats().largestFree). An
      // aligned allocation, or a realloc that must move its block, can fail below it: alignment
      // padding, or the old block still held while the new one is found.
      const why =
        typeof value === 'number' && lf >= value
          ? `an allocation of ${lf} bytes would succeed, but alignment or moving the block needs more`
          : `the largest allocation that can succeed is ${lf} bytes`;
      return new ArenaError(
        'ERR_ARENA_OOM',
        `${method}: out of memory: requested ${describe(value)} bytes, ${why}`,
        { requested: typeof value === 'number' ? value : undefined, largestFree: lf } as {
          requested?: number;
          largestFree?: number;
        },
      );
    }
    case ST_FOREIGN:
      return new ArenaError('ERR_ARENA_FOREIGN', `${method}: ${describe(value)} was not allocated by this arena`);
    case ST_NOT_ALLOCATED:
      return new ArenaError(
        'ERR_ARENA_NOT_ALLOCATED',
        `${method}: ${describe(value)} is not a live allocation of this arena (freed already, stale, or a view inside a block)`,
      );
    case ST_DESTROYED:
      return new ArenaError('ERR_ARENA_DESTROYED', `${method}: the arena has been destroyed`);
    case ST_CORRUPTED:
      return new ArenaError('ERR_ARENA_CORRUPTED', `${method}: the arena's allocator found damaged metadata`);
    case ST_VIEW_FAILED:
      return rangeError(method, 'the size', 'one the runtime can view as an ArrayBuffer', value);
    default:
      return new ArenaError('ERR_ARENA_CORRUPTED', `${method}: unexpected native status ${status}`);
  }
}
