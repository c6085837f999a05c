/**
 * The `Arena` class: argument validation, defaults and view construction over
 * the native arena of `lib/binding.ts`.
 *
 * @packageDocumentation
 */
import { constants as bufferConstants } from 'buffer';

import { binding, NativeArenaHandle, NativeStats } from './binding';
import { brandOf, newArenaKey, stamp } from './brand';
import { FastBuffer, MAX_CAPACITY, MAX_FAST_CAPACITY } from './runtime';
import {
  ArenaError,
  ST_DESTROYED,
  ST_FOREIGN,
  ST_NOT_ALLOCATED,
  ST_OOM,
  rangeError,
  stateError,
  statusError,
  typeError,
  valueError,
  ST_CORRUPTED,
} from './errors';
import { Spares, SPARE_MAX_BYTES, spareClass } from './spares';
import type { Trace } from './trace';
import { TraceTap } from './trace-tap';

/** Which allocator manages the arena's region. */
export type AllocatorKind = 'dlmalloc' | 'buddy';

/**
 * How allocations are handed to JavaScript.
 * - `'safe'`: each allocation is its own external ArrayBuffer; `free`, `realloc`,
 *   `reset` and `destroy` detach it (the view then reads `byteLength === 0`).
 * - `'fast'`: views over one region-wide ArrayBuffer; nothing is ever detached
 *   (a freed view still reads the region, as a pointer in C would).
 */
export type ViewMode = 'safe' | 'fast';

/** Options of `new Arena(options)`. */
export interface ArenaOptions {
  /** `'dlmalloc'` (default) or `'buddy'`. */
  allocator?: AllocatorKind;
  /**
   * Bytes of address space reserved (virtual; RSS grows with use). Rounded up
   * to a multiple of 4096. At least 65536; at most 2^47; with `views: 'fast'` also at
   * most the runtime's largest Buffer (`buffer.constants.MAX_LENGTH`: 4 GiB on Node 20,
   * 2^53 - 1 from Node 22 on). Default 256 MiB.
   */
  capacity?: number;
  /** `'safe'` (default) or `'fast'`. */
  views?: ViewMode;
  /**
   * dlmalloc: bytes by which the heap grows (power of two, >= 4096). Default 64 KiB.
   * Like the other two tuning options, it applies to this arena only.
   */
  granularity?: number;
  /** dlmalloc: free bytes at the top of the heap that trigger giving memory back. Default 2 MiB. */
  trimThreshold?: number;
  /** dlmalloc: requests of at least this many bytes get their own page run. Default 256 KiB. */
  mmapThreshold?: number;
  /** buddy: the smallest block (power of two, >= 16). Default 16. */
  minBlock?: number;
  /**
   * `true`: other threads (worker_threads) can attach to this arena (`share()`,
   * `Arena.attach(handle)`) and allocate, read, write and free in it. Shared arenas
   * use fast views (the default for them; `views: 'safe'` is refused). Default false.
   */
  shared?: boolean;
}

/**
 * What `arena.share()` returns: plain data (postMessage carries it) that
 * `Arena.attach(handle)` turns into an `Arena` over the same native arena in
 * another thread of this process.
 */
export interface SharedArenaHandle {
  readonly type: 'offheap.SharedArena';
  /** The native arena's serial number in this process. */
  readonly serial: number;
  readonly allocator: AllocatorKind;
  readonly capacity: number;
}

/**
 * What `arena.ref(view)` returns: plain data naming one allocation of a shared
 * arena, which `arena.view(ref)` in any attached thread turns back into a Buffer
 * over the same memory (no copy).
 */
export interface ArenaRef {
  readonly offset: number;
  readonly length: number;
}

/** Statistics of an arena (`arena.stats()`). All sizes in bytes. */
export interface ArenaStats {
  /** Allocator of the arena. */
  allocator: AllocatorKind;
  /** View mode of the arena. */
  views: ViewMode;
  /** Bytes of address space reserved. */
  capacity: number;
  /**
   * Bytes the allocator holds: dlmalloc, its footprint (page runs taken from the
   * region); buddy, the managed region less the free pages known to read as zeros
   * (never touched, or given back by `trim()`), i.e. what may be backed by memory.
   */
  committed: number;
  /** Bytes in allocated blocks (with the allocator's overhead). `inUse + free === committed`. */
  inUse: number;
  /** Bytes of `committed` not in allocated blocks. */
  free: number;
  /** The largest free block (an upper bound on the largest allocation that can succeed). */
  largestFree: number;
  /** The largest `committed` so far (exact, not sampled). */
  peakCommitted: number;
  /** Allocations made and not yet freed (or reclaimed after GC). */
  liveAllocations: number;
  /** True once the allocator found damaged metadata. */
  corrupted: boolean;
  /** Allocator-specific numbers (dlmalloc: segments, direct maps, pages; buddy: orders, fragmentation). */
  detail: Record<string, unknown>;
}

/** Any TypedArray constructor `allocArray` accepts. */
export type TypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/** A view `free`, `realloc`, `usableSize` and `owns` accept. */
export type ArenaView = ArrayBufferView;

const TYPED_ARRAYS: ReadonlySet<unknown> = new Set<unknown>([
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
]);

/** The native handle `Arena.attach` hands to the constructor (set only during that call). */
let attaching: NativeArenaHandle | null = null;

/** Every option `new Arena` knows; any other name is refused (a typo must not pass unseen). */
const OPTION_NAMES: ReadonlySet<string> = new Set<keyof ArenaOptions>([
  'allocator',
  'capacity',
  'views',
  'granularity',
  'trimThreshold',
  'mmapThreshold',
  'minBlock',
  'shared',
]);
/** The options that tune one allocator; given with the other, they are refused. */
const DLMALLOC_OPTIONS = ['granularity', 'trimThreshold', 'mmapThreshold'] as const;
const BUDDY_OPTIONS = ['minBlock'] as const;

const DEFAULT_CAPACITY = 256 * 1024 * 1024;
const MIN_CAPACITY = 65536;
const INT_MAX = 2 ** 31 - 1;
const { kinds: KINDS, tuning: TUNING } = binding.constants;
const { IO_ARG, IO_RESULT } = binding.constants.io;
/** The numeric fields of stats(), as the arena core defines them (csrc/addon/core/stats.h). */
const STATS_FIELDS = binding.constants.stats as Array<keyof NativeStats>;

function isPow2(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 1 && 2 ** Math.round(Math.log2(n)) === n;
}

function checkInt(method: string, what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number') throw typeError(method, what, 'a number', v);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw rangeError(method, what, `an integer >= ${min} and <= ${max}`, v);
  }
  return v;
}

/**
 * An off-heap arena: a native `mmap`'d region managed by dlmalloc or a buddy
 * allocator, whose allocations are Buffers and typed arrays viewing native
 * memory with no copy.
 */
export class Arena {
  readonly #h: NativeArenaHandle;
  readonly #region: ArrayBuffer | null;
  readonly #safe: boolean;
  /** fast mode: the mailbox of the argument-less native calls (allocIO / freeIO) */
  readonly #io: Float64Array | null;
  /** fast mode: stacks of spare small blocks (lib/spares.ts); null in safe mode or once corrupted */
  #spares: Spares | null = null;
  /**
   * fast mode: this arena's brand key (lib/brand.ts); views it makes are stamped with
   * `#key + offset`. -Infinity when keys ran out: every `brandOf(v) - #key` is then
   * out of range (NaN or +-Infinity) and free takes the general path.
   */
  readonly #key: number;
  /** the allocation trace being recorded (startTrace), or null */
  #tap: TraceTap | null = null;
  /** The largest size one allocation may have (capacity, and the runtime's largest Buffer). */
  readonly #limit: number;
  /**
   * What this handle knows of the native arena's destroyed state (set by destroy() and by any
   * call that found it destroyed): the early check of every method, before its arguments. The
   * native arena's own state decides every call that reaches it.
   */
  #destroyed = false;

  /** Bytes of address space reserved. */
  readonly capacity: number;
  /** Allocator of this arena. */
  readonly allocator: AllocatorKind;
  /** View mode of this arena. */
  readonly views: ViewMode;
  /** True for an arena other threads can attach to (`options.shared`). */
  readonly shared: boolean;
  /** The native arena's serial number in this process (the same in every attached thread). */
  readonly #serial: number;

  /**
   * Creates an arena. Throws `TypeError` (`ERR_INVALID_ARG_TYPE`) for options of the wrong
   * type; `TypeError` (`ERR_INVALID_ARG_VALUE`) for an unknown option, an unknown allocator or
   * view mode, an option that does not apply to the chosen allocator (`minBlock` is buddy's;
   * `granularity`, `trimThreshold` and `mmapThreshold` are dlmalloc's) and `views: 'safe'` with
   * `shared: true`; `RangeError` (`ERR_OUT_OF_RANGE`) for numbers out of range.
   */
  constructor(options: ArenaOptions = {}) {
    const M = 'new Arena';
    if (options === null || typeof options !== 'object') throw typeError(M, 'options', 'an object', options);
    for (const key of Object.keys(options)) {
      if (!OPTION_NAMES.has(key)) {
        throw valueError(M, 'every option', `one of ${[...OPTION_NAMES].join(', ')}`, `options.${key}`);
      }
    }
    const allocator = options.allocator ?? 'dlmalloc';
    if (typeof allocator !== 'string') throw typeError(M, 'options.allocator', 'a string', allocator);
    if (allocator !== 'dlmalloc' && allocator !== 'buddy') {
      throw valueError(M, 'options.allocator', "'dlmalloc' or 'buddy'", allocator);
    }
    for (const key of allocator === 'dlmalloc' ? BUDDY_OPTIONS : DLMALLOC_OPTIONS) {
      if (options[key] !== undefined) {
        throw valueError(M, `options.${key}`, `left out with allocator: '${allocator}' (it tunes the other allocator)`, options[key]);
      }
    }
    const shared = options.shared ?? false;
    if (typeof shared !== 'boolean') throw typeError(M, 'options.shared', 'a boolean', shared);
    const views = options.views ?? (shared ? 'fast' : 'safe');
    if (typeof views !== 'string') throw typeError(M, 'options.views', 'a string', views);
    if (views !== 'safe' && views !== 'fast') throw valueError(M, 'options.views', "'safe' or 'fast'", views);
    if (shared && views !== 'fast') {
      throw valueError(M, 'options.views', "'fast' in a shared arena (an ArrayBuffer cannot be detached from another thread)", views);
    }
    let capacity = checkInt(M, 'options.capacity', options.capacity ?? DEFAULT_CAPACITY, MIN_CAPACITY, MAX_CAPACITY);
    capacity = Math.ceil(capacity / 4096) * 4096;
    if (views === 'fast' && capacity > MAX_FAST_CAPACITY) {
      throw rangeError(M, 'options.capacity', `at most ${MAX_FAST_CAPACITY} (the runtime's largest Buffer) with views: 'fast'`, capacity);
    }
    let minBlock = 16;
    if (options.minBlock !== undefined) {
      minBlock = checkInt(M, 'options.minBlock', options.minBlock, 16, Math.min(capacity, 2 ** 30));
      if (!isPow2(minBlock)) throw rangeError(M, 'options.minBlock', 'a power of two', minBlock);
    }
    const tuning: Array<[number, number]> = [];
    if (options.granularity !== undefined) {
      const g = checkInt(M, 'options.granularity', options.granularity, 4096, 2 ** 30);
      if (!isPow2(g)) throw rangeError(M, 'options.granularity', 'a power of two', g);
      tuning.push([TUNING.granularity, g]);
    }
    if (options.trimThreshold !== undefined) {
      tuning.push([TUNING.trimThreshold, checkInt(M, 'options.trimThreshold', options.trimThreshold, 0, INT_MAX)]);
    }
    if (options.mmapThreshold !== undefined) {
      tuning.push([TUNING.mmapThreshold, checkInt(M, 'options.mmapThreshold', options.mmapThreshold, 0, INT_MAX)]);
    }
    const h =
      attaching ??
      binding.create(
        KINDS[allocator],
        capacity,
        views === 'safe',
        minBlock,
        allocator === 'dlmalloc' ? tuning.flat() : [],
        shared,
      );
    attaching = null;
    if (typeof h === 'number') {
      if (h === ST_OOM) {
        throw new ArenaError('ERR_ARENA_OOM', `${M}: could not reserve ${capacity} bytes of address space`, {
          requested: capacity,
          largestFree: 0,
        });
      }
      throw rangeError(M, 'options', 'a configuration the native arena accepts', options);
    }
    this.#h = h;
    this.#region = h.region;
    this.#io = h.io ? new Float64Array(h.io) : null;
    if (this.#io !== null && h.tags && h.spares && h.refillIO && h.flushIO) {
      this.#spares = new Spares(h, this.#io, h.tags, h.spares, h.tagShift);
    }
    const key = views === 'fast' ? newArenaKey(capacity) : -1;
    this.#key = key >= 0 ? key : -Infinity;
    this.#safe = views === 'safe';
    this.#limit = Math.min(capacity, bufferConstants.MAX_LENGTH);
    this.capacity = capacity;
    this.allocator = allocator;
    this.views = views;
    this.shared = shared;
    this.#serial = h.serial;
  }

  /**
   * The plain-data handle of a shared arena, for `Arena.attach` in another thread
   * (send it with `postMessage`). Throws `ERR_INVALID_STATE` unless the arena
   * was made with `shared: true`.
   */
  share(): SharedArenaHandle {
    this.#alive('share');
    if (!this.shared) {
      throw stateError('share', 'this arena was not made with { shared: true }');
    }
    return { type: 'offheap.SharedArena', serial: this.#serial, allocator: this.allocator, capacity: this.capacity };
  }

  /**
   * An `Arena` over the shared arena `handle` names (from `share()` in any thread
   * of this process): the same memory and allocator state. Throws
   * `ERR_ARENA_DESTROYED` when that arena was destroyed or is gone.
   */
  static attach(handle: SharedArenaHandle): Arena {
    const M = 'Arena.attach';
    if (handle === null || typeof handle !== 'object' || handle.type !== 'offheap.SharedArena') {
      throw typeError(M, 'handle', 'the result of arena.share()', handle);
    }
    const serial = checkInt(M, 'handle.serial', handle.serial, 1, Number.MAX_SAFE_INTEGER);
    if (handle.allocator !== 'dlmalloc' && handle.allocator !== 'buddy') {
      throw typeError(M, 'handle.allocator', "'dlmalloc' or 'buddy'", handle.allocator);
    }
    checkInt(M, 'handle.capacity', handle.capacity, MIN_CAPACITY, MAX_FAST_CAPACITY);
    const h = binding.attach(serial);
    if (typeof h === 'number') throw statusError(M, h, handle, () => 0);
    attaching = h;
    try {
      return new Arena({ allocator: handle.allocator, capacity: handle.capacity, views: 'fast', shared: true });
    } finally {
      attaching = null;
    }
  }

  /**
   * A plain-data reference `{ offset, length }` to the allocation `view`, which
   * `view(ref)` turns back into a Buffer over the same memory, in this thread or
   * another one attached to the same shared arena. Fast views only: a safe-view arena
   * throws `ERR_INVALID_STATE`.
   */
  ref(view: ArenaView): ArenaRef {
    this.#alive('ref');
    const v = this.#view('ref', view);
    if (this.#safe) throw stateError('ref', "this arena has safe views; ref() needs views: 'fast'");
    if (v.buffer !== this.#region) this.#fail('ref', ST_FOREIGN, view);
    const st = this.#h.validate(v.byteOffset);
    if (st !== 0) this.#fail('ref', st, view);
    return { offset: v.byteOffset, length: v.byteLength };
  }

  /**
   * The Buffer over the allocation `ref` names (see `ref`). Throws
   * `ERR_ARENA_NOT_ALLOCATED` when it is not a live allocation of this arena,
   * `ERR_OUT_OF_RANGE` when `ref.length` exceeds the block, and `ERR_INVALID_STATE`
   * in a safe-view arena.
   */
  view(ref: ArenaRef): Buffer {
    this.#alive('view');
    if (this.#safe) throw stateError('view', "this arena has safe views; view() needs views: 'fast'");
    if (ref === null || typeof ref !== 'object') {
      throw typeError('view', 'ref', 'an object { offset, length } from arena.ref()', ref);
    }
    const off = checkInt('view', 'ref.offset', ref.offset, 0, this.capacity);
    const len = checkInt('view', 'ref.length', ref.length, 0, this.#limit);
    const usable = off < this.capacity ? this.#h.usable(off) : ST_NOT_ALLOCATED;
    if (usable < 0) this.#fail('view', usable, ref);
    if (len > usable) throw rangeError('view', 'ref.length', `at most ${usable} (the block's usable size)`, len);
    return this.#fastView(off, len);
  }

  /** True after `destroy()`. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  #fail(method: string, status: number, value: unknown): never {
    if (status === ST_DESTROYED) this.#destroyed = true;
    if (status === ST_DESTROYED || status === ST_CORRUPTED) {
      // No more allocations from JavaScript alone: every call now reaches the native arena.
      this.#spares = null;
    }
    throw statusError(method, status, value, () => this.#h.largestFree());
  }

  #alive(method: string): void {
    if (this.#destroyed) this.#fail(method, ST_DESTROYED, undefined);
  }

  #size(method: string, what: string, v: unknown): number {
    if (typeof v !== 'number') throw typeError(method, what, 'a number', v);
    if (!(v >= 0 && v <= this.#limit) || !Number.isInteger(v)) {
      throw rangeError(method, what, `an integer >= 0 and <= ${this.#limit}`, v);
    }
    return v;
  }

  #view(method: string, view: unknown): ArrayBufferView {
    if (!ArrayBuffer.isView(view)) throw typeError(method, 'view', 'a Buffer, TypedArray or DataView', view);
    return view;
  }

  /** Builds the Buffer for a native result (offset in fast mode, ArrayBuffer in safe mode). */
  #buffer(method: string, r: number | ArrayBuffer, size: number): Buffer {
    if (typeof r === 'number') {
      if (r < 0) this.#fail(method, r, size);
      return this.#fastView(r, size);
    }
    return new FastBuffer(r, 0, size);
  }

  /** The trace key of a view's block: its offset (fast) or its ArrayBuffer (safe). */
  #blockKey(v: ArrayBufferView): number | ArrayBufferLike {
    return this.#safe ? v.buffer : v.byteOffset;
  }

  /**
   * Starts recording this arena's allocation trace: every successful alloc, tryAlloc,
   * calloc, allocArray, alignedAlloc (recorded as allocations), realloc, free and reset,
   * in order, with sizes. `stopTrace()` returns it as a {@link Trace} (save it with
   * `saveTrace`; `npm run bench -- --trace file` replays it against every allocator).
   * Costs a Map update per operation while recording, nothing otherwise. `comments` (an
   * array of strings, else `ERR_INVALID_ARG_TYPE`) head the trace. Throws
   * `ERR_INVALID_STATE` while already recording.
   */
  startTrace(comments: readonly string[] = []): void {
    this.#alive('startTrace');
    if (this.#tap !== null) throw stateError('startTrace', 'this arena is recording a trace already (stopTrace() first)');
    if (!Array.isArray(comments) || !comments.every((c) => typeof c === 'string')) {
      throw typeError('startTrace', 'comments', 'an array of strings', comments);
    }
    this.#tap = new TraceTap(comments);
  }

  /** Stops recording and returns the trace (see `startTrace`); `ERR_INVALID_STATE` when not recording. */
  stopTrace(): Trace {
    const tap = this.#tap;
    if (tap === null) throw stateError('stopTrace', 'this arena is not recording a trace (startTrace() first)');
    this.#tap = null;
    return tap.finish();
  }

  /** The Buffer over the block at `off` of a fast-mode arena, stamped with its brand. */
  #fastView(off: number, size: number): Buffer {
    const b = new FastBuffer(this.#region as ArrayBuffer, off, size);
    stamp(b, this.#key + off);
    return b;
  }

  /**
   * Fast mode: a block of `size` bytes, from the spares when small. Its offset,
   * or a negative status (the core gives the spares back before it reports
   * out of memory).
   */
  #fastAlloc(size: number): number {
    const sp = this.#spares;
    if (sp !== null && size <= SPARE_MAX_BYTES) {
      const off = sp.take(spareClass(size));
      if (off >= 0) return off;
    }
    const io = this.#io;
    if (io === null) return this.#h.alloc(size) as number; // shared: a locked call with arguments
    io[IO_ARG] = size;
    (this.#h.allocIO as () => void)();
    return io[IO_RESULT] as number;
  }

  /**
   * Allocates `size` bytes (contents unspecified) and returns a Buffer over them.
   * Throws `ERR_ARENA_OOM` when no block is large enough.
   */
  alloc(size: number): Buffer {
    if (this.#destroyed) this.#alive('alloc');
    if (typeof size !== 'number' || !(size >= 0 && size <= this.#limit) || !Number.isInteger(size)) {
      this.#size('alloc', 'size', size);
    }
    if (!this.#safe) {
      const off = this.#fastAlloc(size);
      if (off < 0) this.#fail('alloc', off, size);
      if (this.#tap !== null) this.#tap.alloc(off, size, false);
      return this.#fastView(off, size);
    }
    const r = this.#h.alloc(size);
    if (typeof r === 'number') this.#fail('alloc', r, size);
    if (this.#tap !== null) this.#tap.alloc(r, size, false);
    return new FastBuffer(r, 0, size);
  }

  /** As `alloc`, but returns `null` when the arena is out of memory. */
  tryAlloc(size: number): Buffer | null {
    this.#alive('tryAlloc');
    this.#size('tryAlloc', 'size', size);
    const r = this.#safe ? this.#h.alloc(size) : this.#fastAlloc(size);
    if (r === ST_OOM) return null;
    const b = this.#buffer('tryAlloc', r, size);
    if (this.#tap !== null) this.#tap.alloc(this.#blockKey(b), size, false);
    return b;
  }

  /** Allocates `count * size` zeroed bytes (the product is checked against the arena's limits). */
  calloc(count: number, size: number): Buffer {
    this.#alive('calloc');
    checkInt('calloc', 'count', count, 0, Number.MAX_SAFE_INTEGER);
    checkInt('calloc', 'size', size, 0, Number.MAX_SAFE_INTEGER);
    const bytes = count * size;
    if (!(bytes <= this.#limit)) {
      throw rangeError('calloc', 'count * size', `at most ${this.#limit}`, `${count} * ${size}`);
    }
    const b = this.#buffer('calloc', this.#h.calloc(bytes), bytes);
    if (this.#tap !== null) this.#tap.alloc(this.#blockKey(b), bytes, true);
    return b;
  }

  /**
   * Allocates a zeroed typed array of `length` elements, aligned to its element size,
   * e.g. `arena.allocArray(Float64Array, 1000)`.
   */
  allocArray<C extends TypedArrayConstructor>(ctor: C, length: number): InstanceType<C> {
    this.#alive('allocArray');
    if (!TYPED_ARRAYS.has(ctor)) {
      throw typeError('allocArray', 'ctor', 'a TypedArray constructor (e.g. Float64Array)', ctor);
    }
    const bpe = (ctor as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    checkInt('allocArray', 'length', length, 0, Number.MAX_SAFE_INTEGER);
    const bytes = length * bpe;
    if (!(bytes <= this.#limit)) {
      throw rangeError('allocArray', 'length * BYTES_PER_ELEMENT', `at most ${this.#limit}`, bytes);
    }
    const r = this.#h.calloc(bytes);
    const C = ctor as unknown as new (b: ArrayBufferLike, off: number, len: number) => InstanceType<C>;
    if (typeof r === 'number' && r < 0) this.#fail('allocArray', r, bytes);
    if (this.#tap !== null) this.#tap.alloc(r as number | ArrayBuffer, bytes, true);
    if (typeof r === 'number') {
      const a = new C(this.#region as ArrayBuffer, r, length);
      stamp(a, this.#key + r);
      return a;
    }
    return new C(r, 0, length);
  }

  /** Allocates `size` bytes aligned to `alignment` (a power of two, up to the capacity). */
  alignedAlloc(alignment: number, size: number): Buffer {
    this.#alive('alignedAlloc');
    if (typeof alignment !== 'number') throw typeError('alignedAlloc', 'alignment', 'a number', alignment);
    if (!Number.isInteger(alignment) || alignment < 1 || alignment > this.capacity || !isPow2(alignment)) {
      throw rangeError('alignedAlloc', 'alignment', `a power of two <= ${this.capacity}`, alignment);
    }
    this.#size('alignedAlloc', 'size', size);
    const b = this.#buffer('alignedAlloc', this.#h.memalign(alignment, size), size);
    if (this.#tap !== null) this.#tap.alloc(this.#blockKey(b), size, false);
    return b;
  }

  /**
   * Resizes the allocation `view` to `size` bytes and returns a new Buffer; the first
   * `min(old, size)` bytes are kept. The old view is dead (detached in safe mode).
   * On `ERR_ARENA_OOM` the old allocation is left as it was.
   */
  realloc(view: ArenaView, size: number): Buffer {
    this.#alive('realloc');
    const v = this.#view('realloc', view);
    this.#size('realloc', 'size', size);
    let r: number | ArrayBuffer;
    if (this.#safe) {
      r = this.#h.realloc(v.buffer, v.byteOffset, size);
    } else {
      if (v.buffer !== this.#region) this.#fail('realloc', ST_FOREIGN, view);
      r = this.#h.realloc(v.byteOffset, size);
    }
    if (typeof r === 'number' && r < 0) this.#fail('realloc', r, r === ST_OOM ? size : view);
    const b = this.#buffer('realloc', r, size);
    if (this.#tap !== null) this.#tap.realloc(this.#safe ? v.buffer : v.byteOffset, this.#blockKey(b), size);
    return b;
  }

  /**
   * Frees the allocation `view`. Throws `ERR_ARENA_FOREIGN` for a view this arena did not
   * make (left untouched) and `ERR_ARENA_NOT_ALLOCATED` for a freed, stale or interior view.
   */
  free(view: ArenaView): void {
    if (this.#destroyed) this.#alive('free');
    if (!ArrayBuffer.isView(view)) this.#view('free', view);
    let st: number;
    let key: number | ArrayBufferLike;
    if (this.#safe) {
      key = view.buffer;
      st = this.#h.free(key, view.byteOffset);
    } else {
      // A view this arena made names its block in its brand; others show buffer and offset.
      let off = brandOf(view) - this.#key;
      if (!(off >= 0 && off < this.capacity)) {
        if (view.buffer !== this.#region) this.#fail('free', ST_FOREIGN, view);
        off = view.byteOffset;
      }
      key = off;
      const sp = this.#spares;
      if (sp !== null) {
        st = sp.put(off);
        if (st === 1) {
          if (this.#tap !== null) this.#tap.free(off);
          return;
        }
        if (st < 0) this.#fail('free', st, view);
      }
      const io = this.#io;
      if (io === null) {
        st = this.#h.free(off); // shared: a locked call with arguments
      } else {
        io[IO_ARG] = off;
        (this.#h.freeIO as () => void)();
        st = io[IO_RESULT] as number;
      }
    }
    if (st !== 0) this.#fail('free', st, view);
    if (this.#tap !== null) this.#tap.free(key);
  }

  /** Usable bytes of the allocation `view` (at least its requested size). */
  usableSize(view: ArenaView): number {
    this.#alive('usableSize');
    const v = this.#view('usableSize', view);
    let r: number;
    if (this.#safe) r = this.#h.usable(v.buffer, v.byteOffset);
    else {
      if (v.buffer !== this.#region) this.#fail('usableSize', ST_FOREIGN, view);
      r = this.#h.usable(v.byteOffset);
    }
    if (r < 0) this.#fail('usableSize', r, view);
    return r;
  }

  /** True when `view` is (the start of) a live allocation of this arena. Never throws for foreign views. */
  owns(view: ArenaView): boolean {
    this.#alive('owns');
    const v = this.#view('owns', view);
    let st: number;
    if (this.#safe) st = this.#h.validate(v.buffer, v.byteOffset);
    else {
      if (v.buffer !== this.#region) return false;
      st = this.#h.validate(v.byteOffset);
    }
    if (st === 0) return true;
    if (st === ST_FOREIGN || st === ST_NOT_ALLOCATED) return false;
    return this.#fail('owns', st, view);
  }

  /** Statistics; `inUse + free === committed`. */
  stats(): ArenaStats {
    this.#alive('stats');
    const s = this.#h.stats();
    if (typeof s === 'number') return this.#fail('stats', s, undefined);
    const n = s as NativeStats;
    const out: Record<string, unknown> = { allocator: this.allocator, views: this.views };
    for (const k of STATS_FIELDS) out[k] = n[k];
    out['corrupted'] = n.corrupted;
    out['detail'] = n.detail;
    return out as unknown as ArenaStats;
  }

  /** Gives unused pages back to the OS (the spare blocks first); returns the bytes released. */
  trim(): number {
    this.#alive('trim');
    const r = this.#h.trim();
    if (r < 0) this.#fail('trim', r, undefined);
    return r;
  }

  /** Walks every invariant of the allocator; throws `ERR_ARENA_CORRUPTED` on damage. */
  check(): void {
    this.#alive('check');
    const st = this.#h.check();
    if (st !== 0) this.#fail('check', st, undefined);
  }

  /** Frees every allocation at once (safe mode: every view is detached). */
  reset(): void {
    this.#alive('reset');
    const st = this.#h.reset();
    if (st !== 0) this.#fail('reset', st, undefined);
    if (this.#tap !== null) this.#tap.reset();
  }

  /**
   * Ends the arena: safe views are detached, the pages go back to the OS at once, and the
   * address range when the last view is collected. Idempotent.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#spares = null;
    this.#h.destroy();
  }

  /** `using arena = new Arena(...)`: destroys the arena at the end of the scope. */
  [Symbol.dispose](): void {
    this.destroy();
  }
}

/** Diagnostics (tests): native arenas of this thread still holding memory or address space. */
export function liveNativeArenas(): number {
  return binding.liveArenas();
}
