/**
 * The `Arena` class: argument validation, defaults and view construction over
 * the native arena of `lib/binding.ts`.
 *
 * @packageDocumentation
 */
import { constants as bufferConstants } from 'buffer';
import { finished } from 'stream';

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
import { Spares, SPARE_MAX_BYTES } from './spares';
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
  /**
   * Bytes of written memory `reset()` keeps committed rather than giving back to the
   * OS: the lowest written pages, where the next allocations go, so an arena reset
   * after every request does not fault its pages in again each time (they count in
   * `stats().committed`; `trim()` gives them back). Kept pages are known not to be
   * zero: `calloc` and `allocArray` still return zeros (the allocator clears them).
   * An integer from 0 (give everything back) to `capacity`. Default 8 MiB, or
   * `capacity` when that is smaller: a request that writes more than is kept
   * faults the rest in again after every reset.
   */
  retain?: number;
}

/**
 * What `arena.share()` returns: plain data (postMessage carries it) that
 * `Arena.attach(handle)` turns into an `Arena` over the same native arena in
 * another thread of this process.
 */
export interface SharedArenaHandle {
  /** Marks the object as a handle: always `'offheap.SharedArena'`. */
  readonly type: 'offheap.SharedArena';
  /** The native arena's serial number in this process. */
  readonly serial: number;
  /** Allocator of the shared arena. */
  readonly allocator: AllocatorKind;
  /** Bytes of address space the shared arena reserves. */
  readonly capacity: number;
}

/**
 * What `arena.ref(view)` returns: plain data naming one allocation of a shared
 * arena, which `arena.view(ref)` in any attached thread turns back into a Buffer
 * over the same memory (no copy).
 */
export interface ArenaRef {
  /** The allocation's offset in the arena's region. */
  readonly offset: number;
  /** Bytes the view covers (at most the block's usable size). */
  readonly length: number;
}

/**
 * What `arena.memory` returns: typed arrays over the whole region of a fast-view arena, made
 * once, for the offset API (`allocOffset` and its kin). Element `i` of a view lies at byte offset
 * `i * BYTES_PER_ELEMENT`, so the block at offset `off` starts at index
 * `off / BYTES_PER_ELEMENT`: every block an arena hands out starts at a multiple of 16, so that
 * index is an integer for every view (`alignedAlloc` blocks at their alignment).
 *
 * ```ts
 * const { f64 } = arena.memory;
 * const p = arena.allocOffset(3 * 8);   // x, y, z
 * f64[p / 8] = 1; f64[p / 8 + 1] = 2; f64[p / 8 + 2] = 3;
 * arena.freeOffset(p);
 * ```
 */
export interface ArenaMemory {
  /** The region-wide ArrayBuffer every view of the arena shares. */
  readonly buffer: ArrayBuffer;
  /** Bytes. */
  readonly u8: Uint8Array;
  /** Signed bytes. */
  readonly i8: Int8Array;
  /** 16-bit unsigned integers (index `off / 2`). */
  readonly u16: Uint16Array;
  /** 16-bit signed integers (index `off / 2`). */
  readonly i16: Int16Array;
  /** 32-bit unsigned integers (index `off / 4`). */
  readonly u32: Uint32Array;
  /** 32-bit signed integers (index `off / 4`). */
  readonly i32: Int32Array;
  /** 32-bit floats (index `off / 4`). */
  readonly f32: Float32Array;
  /** 64-bit floats (index `off / 8`). */
  readonly f64: Float64Array;
  /** 64-bit unsigned integers as bigints (index `off / 8`). */
  readonly u64: BigUint64Array;
  /** 64-bit signed integers as bigints (index `off / 8`). */
  readonly i64: BigInt64Array;
  /** Any type at any byte offset, either byte order. */
  readonly dataView: DataView;
}

/**
 * What `arena.stats()` reports for every arena; {@link ArenaStats} adds the allocator and
 * its {@link DlmallocDetail} or {@link BuddyDetail}. Sizes are bytes; `largestFree` and
 * `largestFreeCommitted` are request sizes (the `n` of `alloc(n)`: the allocator's headers,
 * rounding and padding already taken off). All fields are read at one moment, with the spare
 * blocks of fast-view arenas given back first and a buddy arena's lazy cache merged. These
 * relations follow from the definitions, and always hold (`check()` verifies them):
 *
 * - `inUse + free === committed`, `committed <= capacity`, `committed <= peakCommitted`;
 * - `largestFreeCommitted <= free`;
 * - `largestFreeCommitted <= largestFree <= capacity - inUse` (a block is carved from memory
 *   in no allocated block: what is free, and what is not committed);
 * - `inUse === 0` implies `liveAllocations === 0` (buddy: and the converse; a dlmalloc heap of
 *   several segments keeps their records in use);
 * - dlmalloc: `committed === capacity - detail.pagesKnownZero >= detail.pagesUsed`, and
 *   `detail.heapBytes + detail.directMappedBytes === detail.pagesUsed`; buddy:
 *   `detail.knownZeroBytes === detail.freeBlockBytes - free`.
 *
 * The fields are defined once, in csrc/addon/core/stats.h, which these comments follow.
 */
export interface ArenaStatsCommon {
  /** View mode of the arena. */
  views: ViewMode;
  /** Bytes of address space reserved. */
  capacity: number;
  /**
   * Bytes that may be backed by memory: the region less the free pages known to read as zeros
   * (never touched since the region was fresh, or given back by `trim()` or `reset()`).
   * dlmalloc: the page runs the heap took from the region (its footprint: segments and large
   * chunks' own runs) and the free pages written before (those `reset()` keeps, see `retain`).
   */
  committed: number;
  /**
   * Bytes of `committed` in allocated blocks, with the allocator's overhead (dlmalloc: chunk
   * headers and rounding, large chunks' runs whole, the records of extra segments; buddy:
   * blocks rounded up to powers of two).
   */
  inUse: number;
  /** `committed - inUse`: committed bytes in no allocated block. */
  free: number;
  /**
   * The largest `n` for which `alloc(n)` succeeds now, memory the allocator can still commit
   * included (dlmalloc: a free chunk of the heap, or a free page run of the region taken as a
   * new segment or as a large chunk's own run; buddy: the largest free block);
   * `alloc(largestFree + 1)` fails. 0 when no allocation succeeds.
   */
  largestFree: number;
  /**
   * The largest `n` that free committed memory serves. dlmalloc: from the heap's free chunks,
   * so `alloc(largestFreeCommitted)` commits nothing and one byte more needs new pages; buddy:
   * the largest free block with no page known to read as zeros (an allocation of its size may
   * still take another free block of that size). 0 when there is none. (With fast views a
   * request of up to 64 KiB takes a batch of spare blocks of its size class, which may commit
   * more.)
   */
  largestFreeCommitted: number;
  /** The largest `committed` so far, across `reset()` (exact, not sampled). */
  peakCommitted: number;
  /** Allocations made and not yet freed (or reclaimed after GC). */
  liveAllocations: number;
  /** True once the allocator found damaged metadata (the arena then refuses further work). */
  corrupted: boolean;
}

/** `stats().detail` of a dlmalloc arena: the heap, and the page runs it takes from the region. */
export interface DlmallocDetail {
  /** Always `'dlmalloc'`, as the stats' `allocator`. */
  allocator: 'dlmalloc';
  /** Bytes in heap segments. */
  heapBytes: number;
  /** Bytes in large chunks with a page run of their own. */
  directMappedBytes: number;
  /** Free chunks in the heap, top included. */
  freeChunks: number;
  /** The free space at the end of the heap (top). */
  topBytes: number;
  /** Region bytes in no page run. */
  pagesFree: number;
  /** Region bytes in page runs (at most `committed`: free pages written before count there too). */
  pagesUsed: number;
  /** The longest free page run. */
  pagesLargestFree: number;
  /** Maximal free page runs. */
  pagesFreeRuns: number;
  /** Free region bytes known to read as zeros. */
  pagesKnownZero: number;
  /** Bytes of metadata outside the region. */
  metadataBytes: number;
}

/** `stats().detail` of a buddy arena: the blocks. */
export interface BuddyDetail {
  /** Always `'buddy'`, as the stats' `allocator`. */
  allocator: 'buddy';
  /** The largest `inUse` so far. */
  peakInUse: number;
  /** Bytes in free blocks, committed or not. */
  freeBlockBytes: number;
  /** The smallest block. */
  minBlock: number;
  /** Block sizes are `minBlock << 0` .. `minBlock << (orders - 1)`. */
  orders: number;
  /** Blocks allocated in the buddy instance. */
  liveBlocks: number;
  /** Freed blocks held unmerged in the lazy cache (0: `stats()` merges it). */
  cachedBytes: number;
  /** Free bytes known to read as zeros: `freeBlockBytes - free`. */
  knownZeroBytes: number;
  /**
   * `1 - largestFree / ideal`, where `ideal` is the largest free block an ideally packed buddy
   * arena holding the same in-use bytes would have: the largest power of two no larger than
   * `freeBlockBytes` nor the largest root block (the `largestFree` of the arena when empty).
   * `0 <= fragmentation < 1`. A fresh arena, an empty one, and one whose few small blocks leave
   * half of the root free read 0 (splitting the root to hold small blocks is not
   * fragmentation); freeing every other block of many makes it high; 0 when nothing is free.
   */
  fragmentation: number;
  /** Bytes of metadata outside the region. */
  metadataBytes: number;
  /** Free blocks per order (index k: blocks of `minBlock << k` bytes). */
  freeBlocksPerOrder: number[];
}

/** `stats()` of a dlmalloc arena. */
export interface DlmallocStats extends ArenaStatsCommon {
  /** Allocator of the arena. */
  allocator: 'dlmalloc';
  /** The heap and its page runs. */
  detail: DlmallocDetail;
}

/** `stats()` of a buddy arena. */
export interface BuddyStats extends ArenaStatsCommon {
  /** Allocator of the arena. */
  allocator: 'buddy';
  /** The blocks, and fragmentation. */
  detail: BuddyDetail;
}

/**
 * Statistics of an arena (`arena.stats()`): the fields of {@link ArenaStatsCommon}, and
 * `detail` typed by `allocator`:
 *
 * ```ts
 * const s = arena.stats();
 * if (s.allocator === 'dlmalloc') console.log(s.detail.heapBytes);
 * else console.log(s.detail.fragmentation);
 * ```
 */
export type ArenaStats = DlmallocStats | BuddyStats;

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

/** The typed-array constructor `#arrayBytes` last found valid, and its BYTES_PER_ELEMENT. */
let lastArrayCtor: unknown = Float64Array;
let lastArrayBpe = Float64Array.BYTES_PER_ELEMENT;

/** The BYTES_PER_ELEMENT of `ctor`, which must be a TypedArray constructor; remembers it. */
function arrayBpe(method: string, ctor: unknown): number {
  if (!TYPED_ARRAYS.has(ctor)) {
    throw typeError(method, 'ctor', 'a TypedArray constructor (e.g. Float64Array)', ctor);
  }
  lastArrayCtor = ctor;
  lastArrayBpe = (ctor as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  return lastArrayBpe;
}

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
  'retain',
]);
/** The options that tune one allocator; given with the other, they are refused. */
const DLMALLOC_OPTIONS = ['granularity', 'trimThreshold', 'mmapThreshold'] as const;
const BUDDY_OPTIONS = ['minBlock'] as const;

const DEFAULT_CAPACITY = 256 * 1024 * 1024;
const DEFAULT_RETAIN = binding.constants.retainDefault;
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
  /** fast mode: the bytes of the whole region (zeroing small blocks, `memory.u8`), made on first use */
  #u8: Uint8Array | null = null;
  /** fast mode: the region's typed arrays of `memory`, made on first use */
  #f64: Float64Array | null = null;
  #memory: ArenaMemory | null = null;
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
   * Creates an arena.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` for options of the wrong type.
   * @throws {@link OffheapValueError} `ERR_INVALID_ARG_VALUE` for an unknown option, an unknown
   * allocator or view mode, an option that does not apply to the chosen allocator (`minBlock` is
   * buddy's; `granularity`, `trimThreshold` and `mmapThreshold` are dlmalloc's) and
   * `views: 'safe'` with `shared: true`.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` for numbers out of range.
   * @throws {@link ArenaError} `ERR_ARENA_OOM` when the address space cannot be reserved.
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
    const retain =
      options.retain === undefined
        ? Math.min(DEFAULT_RETAIN, capacity)
        : checkInt(M, 'options.retain', options.retain, 0, capacity);
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
        retain,
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
      this.#spares = new Spares(h, this.#io, h.tags, h.spares, h.tagShift, allocator);
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
   * (send it with `postMessage`).
   *
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` unless the arena was made with
   * `shared: true`.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
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
   * of this process): the same memory and allocator state.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `handle` is not what `share()`
   * returns (or a field of it has the wrong type).
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` for a `serial` or `capacity` out of range.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` when that arena was destroyed or is gone.
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
   * another one attached to the same shared arena. Fast views only.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `view` is not a Buffer,
   * TypedArray or DataView.
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` in a safe-view arena.
   * @throws {@link ArenaError} `ERR_ARENA_FOREIGN` for a view this arena did not make.
   * @throws {@link ArenaError} `ERR_ARENA_NOT_ALLOCATED` when `view` is not a live allocation.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
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
   * The Buffer over the allocation `ref` names (see `ref`).
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `ref` is not an object, or its
   * `offset` or `length` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `ref.offset` or `ref.length` is
   * not an integer in range, or `ref.length` exceeds the block.
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` in a safe-view arena.
   * @throws {@link ArenaError} `ERR_ARENA_NOT_ALLOCATED` when `ref` names no live allocation of
   * this arena.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
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

  /**
   * Typed arrays over the whole region of a fast-view arena ({@link ArenaMemory}: `u8`, `u16`,
   * `u32`, `i32`, `f32`, `f64`, `dataView`, ...), made on first use and the same object after:
   * what the offset API (`allocOffset`) indexes into. They stay usable as long as they are
   * referenced (after `destroy()` the region reads as zeros).
   *
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` in a safe-view arena.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   */
  get memory(): ArenaMemory {
    this.#offsetsOnly('memory');
    if (this.#memory === null) {
      const b = this.#region as ArrayBuffer;
      this.#memory = Object.freeze({
        buffer: b,
        u8: this.#regionU8(),
        i8: new Int8Array(b),
        u16: new Uint16Array(b),
        i16: new Int16Array(b),
        u32: new Uint32Array(b),
        i32: new Int32Array(b),
        f32: new Float32Array(b),
        f64: this.#regionF64(),
        u64: new BigUint64Array(b),
        i64: new BigInt64Array(b),
        dataView: new DataView(b),
      });
    }
    return this.#memory;
  }

  /**
   * The offset API of fast-view arenas: allocates `size` bytes (contents unspecified) and returns
   * the block's byte offset in the region instead of a view, for code that keeps one view of the
   * whole region (`arena.memory`) and indexes into it, as a C program keeps pointers: hot loops
   * over many small structs in one typed array, with no object made per allocation. A block of
   * up to 64 KiB costs no native call. The offset starts at a multiple of 16, so
   * `memory.f64[off / 8]` is its first 64-bit float. Give it back with `freeOffset(off)` (or
   * `free(view)` of a view of it, e.g. `view({ offset, length })`).
   *
   * A stale offset is as dangerous as a dangling pointer: freeing it again is caught
   * (`ERR_ARENA_NOT_ALLOCATED`), but reading or writing through it is not (it reaches whatever
   * block is there now, never outside the region). Prefer views (`alloc`) where a block is
   * handed around.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `size` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `size` is not an integer from 0 to
   * the capacity.
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` in a safe-view arena.
   * @throws {@link ArenaError} `ERR_ARENA_OOM` when no free block is large enough.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
  allocOffset(size: number): number {
    if (this.#destroyed || this.#safe) this.#offsetsOnly('allocOffset');
    if (typeof size !== 'number' || !(size >= 0 && size <= this.#limit) || !Number.isInteger(size)) {
      this.#size('allocOffset', 'size', size);
    }
    const off = this.#fastAlloc(size);
    if (off < 0) this.#fail('allocOffset', off, size);
    if (this.#tap !== null) this.#tap.alloc(off, size, false);
    return off;
  }

  /**
   * Frees the block at `offset` (from `allocOffset`, `reallocOffset`, or the `byteOffset` of a
   * view this arena made). Exact: an offset that is not the start of a live block is refused and
   * changes nothing. A block of up to 64 KiB costs no native call.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `offset` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `offset` is not an integer >= 0
   * and below the capacity.
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` in a safe-view arena.
   * @throws {@link ArenaError} `ERR_ARENA_NOT_ALLOCATED` when no live block starts at `offset`
   * (freed already, stale, inside a block).
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
  freeOffset(offset: number): void {
    if (this.#destroyed || this.#safe) this.#offsetsOnly('freeOffset');
    if (typeof offset !== 'number' || !(offset >= 0 && offset < this.capacity) || !Number.isInteger(offset)) {
      this.#offsetArg('freeOffset', offset);
    }
    const sp = this.#spares;
    if (sp !== null) {
      const put = sp.put(offset);
      if (put === 1) {
        if (this.#tap !== null) this.#tap.free(offset);
        return;
      }
      if (put < 0) this.#fail('freeOffset', put, offset);
    }
    let st: number;
    const io = this.#io;
    if (io === null) {
      st = this.#h.free(offset); // shared: a locked call with arguments
    } else {
      io[IO_ARG] = offset;
      (this.#h.freeIO as () => void)();
      st = io[IO_RESULT] as number;
    }
    if (st === 0) {
      if (this.#tap !== null) this.#tap.free(offset);
      return;
    }
    // An offset inside the region that the allocator does not know starts no block.
    if (st === ST_FOREIGN) return this.#fail('freeOffset', ST_NOT_ALLOCATED, offset);
    this.#fail('freeOffset', st, offset);
  }

  /**
   * Resizes the block at `offset` to `size` bytes and returns its new offset (the same or
   * another); the first `min(old, size)` bytes are kept, and the old offset is dead once the
   * block moved.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `offset` or `size` is not a
   * number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `offset` is not an integer >= 0 and
   * below the capacity, or `size` is out of range (as in `allocOffset`).
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` in a safe-view arena.
   * @throws {@link ArenaError} `ERR_ARENA_OOM` when no free block is large enough; the old
   * block is left as it was.
   * @throws {@link ArenaError} `ERR_ARENA_NOT_ALLOCATED` when no live block starts at `offset`.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
  reallocOffset(offset: number, size: number): number {
    this.#offsetsOnly('reallocOffset');
    this.#offsetArg('reallocOffset', offset);
    this.#size('reallocOffset', 'size', size);
    const r = this.#h.realloc(offset, size) as number;
    if (r >= 0) {
      if (this.#tap !== null) this.#tap.realloc(offset, r, size);
      return r;
    }
    if (r === ST_FOREIGN) return this.#fail('reallocOffset', ST_NOT_ALLOCATED, offset);
    return this.#fail('reallocOffset', r, r === ST_OOM ? size : offset);
  }

  /**
   * Usable bytes of the block at `offset` (at least the size it was allocated with).
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `offset` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `offset` is not an integer >= 0
   * and below the capacity.
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` in a safe-view arena.
   * @throws {@link ArenaError} `ERR_ARENA_NOT_ALLOCATED` when no live block starts at `offset`.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
  usableSizeOffset(offset: number): number {
    this.#offsetsOnly('usableSizeOffset');
    this.#offsetArg('usableSizeOffset', offset);
    const r = this.#h.usable(offset);
    if (r >= 0) return r;
    if (r === ST_FOREIGN) return this.#fail('usableSizeOffset', ST_NOT_ALLOCATED, offset);
    return this.#fail('usableSizeOffset', r, offset);
  }

  /** The early check of the offset API: a live arena with fast views. */
  #offsetsOnly(method: string): void {
    this.#alive(method);
    if (this.#safe) {
      throw stateError(method, `this arena has safe views; ${method}${method === 'memory' ? '' : '()'} needs views: 'fast'`);
    }
  }

  /** An offset argument: an integer from 0 to the capacity (excluded). */
  #offsetArg(method: string, v: unknown): number {
    if (typeof v !== 'number') throw typeError(method, 'offset', 'a number', v);
    if (!(v >= 0 && v < this.capacity) || !Number.isInteger(v)) {
      throw rangeError(method, 'offset', `an integer >= 0 and < ${this.capacity}`, v);
    }
    return v;
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
   * calloc, allocArray, allocArrayUnsafe, alignedAlloc and allocOffset (recorded as
   * allocations), realloc and reallocOffset, free and freeOffset, and reset,
   * in order, with sizes. `stopTrace()` returns it as a {@link Trace} (save it with
   * `saveTrace`; `npm run bench -- --trace file` replays it against every allocator).
   * Costs a Map update per operation while recording, nothing otherwise. `comments` head the
   * trace. While recording, an allocation that would make more than 2^24 blocks live in the
   * trace throws `ERR_OUT_OF_RANGE`.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `comments` is not an array of
   * strings without line breaks.
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` while already recording.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   */
  startTrace(comments: readonly string[] = []): void {
    this.#alive('startTrace');
    if (this.#tap !== null) throw stateError('startTrace', 'this arena is recording a trace already (stopTrace() first)');
    if (!Array.isArray(comments) || !comments.every((c) => typeof c === 'string')) {
      throw typeError('startTrace', 'comments', 'an array of strings', comments);
    }
    this.#tap = new TraceTap(comments);
  }

  /**
   * Stops recording and returns the trace (see `startTrace`).
   *
   * @throws {@link OffheapStateError} `ERR_INVALID_STATE` when not recording.
   */
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
      const off = sp.take(sp.classOf(size));
      if (off >= 0) return off;
    }
    const io = this.#io;
    if (io === null) return this.#h.alloc(size) as number; // shared: a locked call with arguments
    io[IO_ARG] = size;
    (this.#h.allocIO as () => void)();
    return io[IO_RESULT] as number;
  }

  /**
   * Fast mode: `size` zeroed bytes, from the spares when small. A spare is zeroed here: the core
   * keeps no record of which blocks read as zeros (a refill's blocks may have been used before),
   * and zeroing a small block costs less than the native call. Its offset, or a negative status.
   */
  #fastCalloc(size: number): number {
    const sp = this.#spares;
    if (sp !== null && size <= SPARE_MAX_BYTES) {
      const off = sp.take(sp.classOf(size));
      if (off >= 0) {
        if (size <= 128) {
          // A few stores beat the call of fill(); the block holds size rounded up to 16.
          const f64 = this.#f64 ?? this.#regionF64();
          for (let i = off / 8, end = i + ((size + 7) >>> 3); i < end; i++) f64[i] = 0;
        } else {
          (this.#u8 ?? this.#regionU8()).fill(0, off, off + size);
        }
        return off;
      }
    }
    return this.#h.calloc(size) as number;
  }

  /** Fast mode: the bytes of the whole region. */
  #regionU8(): Uint8Array {
    return (this.#u8 ??= new Uint8Array(this.#region as ArrayBuffer));
  }

  /** Fast mode: the whole region as 64-bit floats (its byte length is a multiple of 4096). */
  #regionF64(): Float64Array {
    return (this.#f64 ??= new Float64Array(this.#region as ArrayBuffer));
  }

  /**
   * Allocates `size` bytes (contents unspecified) and returns a Buffer over them.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `size` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `size` is not an integer from 0 to
   * the largest allocation (the capacity, at most the runtime's largest Buffer), or the runtime
   * refuses the view.
   * @throws {@link ArenaError} `ERR_ARENA_OOM` when no free block is large enough.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
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

  /**
   * As `alloc`, but returns `null` when the arena is out of memory.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `size` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `size` is out of range (as in `alloc`).
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
  tryAlloc(size: number): Buffer | null {
    this.#alive('tryAlloc');
    this.#size('tryAlloc', 'size', size);
    const r = this.#safe ? this.#h.alloc(size) : this.#fastAlloc(size);
    if (r === ST_OOM) return null;
    const b = this.#buffer('tryAlloc', r, size);
    if (this.#tap !== null) this.#tap.alloc(this.#blockKey(b), size, false);
    return b;
  }

  /**
   * Allocates `count * size` zeroed bytes (the product is checked against the arena's limits).
   * In a fast-view arena up to 64 KiB costs no native call (the block is zeroed in JavaScript).
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `count` or `size` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when either is not a safe integer >= 0,
   * or `count * size` is larger than the largest allocation (see `alloc`).
   * @throws {@link ArenaError} `ERR_ARENA_OOM` when no free block is large enough.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
  calloc(count: number, size: number): Buffer {
    this.#alive('calloc');
    checkInt('calloc', 'count', count, 0, Number.MAX_SAFE_INTEGER);
    checkInt('calloc', 'size', size, 0, Number.MAX_SAFE_INTEGER);
    const bytes = count * size;
    if (!(bytes <= this.#limit)) {
      throw rangeError('calloc', 'count * size', `at most ${this.#limit}`, `${count} * ${size}`);
    }
    const b = this.#buffer('calloc', this.#safe ? this.#h.calloc(bytes) : this.#fastCalloc(bytes), bytes);
    if (this.#tap !== null) this.#tap.alloc(this.#blockKey(b), bytes, true);
    return b;
  }

  /**
   * Allocates a zeroed typed array of `length` elements, aligned to its element size,
   * e.g. `arena.allocArray(Float64Array, 1000)`. In a fast-view arena up to 64 KiB costs no
   * native call (as `calloc`); `allocArrayUnsafe` skips the zeroing.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `ctor` is not a TypedArray
   * constructor or `length` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `length` is not a safe integer >= 0,
   * or the array is larger than the largest allocation (see `alloc`).
   * @throws {@link ArenaError} `ERR_ARENA_OOM` when no free block is large enough.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
  allocArray<C extends TypedArrayConstructor>(ctor: C, length: number): InstanceType<C> {
    this.#alive('allocArray');
    const bytes = this.#arrayBytes('allocArray', ctor, length);
    const r = this.#safe ? this.#h.calloc(bytes) : this.#fastCalloc(bytes);
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

  /**
   * As `allocArray`, but the contents are unspecified (like `Buffer.allocUnsafe`): a typed array
   * of `length` elements, aligned to its element size (every block starts at a multiple of 16),
   * e.g. `arena.allocArrayUnsafe(Float64Array, 1024)`. In a fast-view arena an array of up to
   * 64 KiB costs what `alloc` does: no native call. Free it with `free(array)`.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `ctor` is not a TypedArray
   * constructor or `length` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `length` is not a safe integer >= 0,
   * or the array is larger than the largest allocation (see `alloc`).
   * @throws {@link ArenaError} `ERR_ARENA_OOM` when no free block is large enough.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
  allocArrayUnsafe<C extends TypedArrayConstructor>(ctor: C, length: number): InstanceType<C> {
    if (this.#destroyed) this.#alive('allocArrayUnsafe');
    const bytes = this.#arrayBytes('allocArrayUnsafe', ctor, length);
    const C = ctor as unknown as new (b: ArrayBufferLike, off: number, len: number) => InstanceType<C>;
    if (!this.#safe) {
      const off = this.#fastAlloc(bytes);
      if (off < 0) this.#fail('allocArrayUnsafe', off, bytes);
      if (this.#tap !== null) this.#tap.alloc(off, bytes, false);
      const a = new C(this.#region as ArrayBuffer, off, length);
      stamp(a, this.#key + off);
      return a;
    }
    const r = this.#h.alloc(bytes);
    if (typeof r === 'number') this.#fail('allocArrayUnsafe', r, bytes);
    if (this.#tap !== null) this.#tap.alloc(r, bytes, false);
    return new C(r, 0, length);
  }

  /**
   * The bytes of a typed array of `length` elements made by `ctor`, both checked. Pooling code
   * asks for one constructor over and over: the last one found valid is remembered, so the
   * common call costs a comparison instead of a Set lookup (which TurboFan does not inline).
   */
  #arrayBytes(method: string, ctor: unknown, length: unknown): number {
    const bpe = ctor === lastArrayCtor ? lastArrayBpe : arrayBpe(method, ctor);
    if (!(typeof length === 'number' && length >= 0 && length <= Number.MAX_SAFE_INTEGER && Number.isInteger(length))) {
      checkInt(method, 'length', length, 0, Number.MAX_SAFE_INTEGER); // throws
    }
    const bytes = (length as number) * bpe;
    if (!(bytes <= this.#limit)) {
      throw rangeError(method, 'length * BYTES_PER_ELEMENT', `at most ${this.#limit}`, bytes);
    }
    return bytes;
  }

  /**
   * Allocates `size` bytes aligned to `alignment` (a power of two, up to the capacity).
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `alignment` or `size` is not a
   * number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `alignment` is not a power of two up
   * to the capacity, or `size` is out of range (as in `alloc`).
   * @throws {@link ArenaError} `ERR_ARENA_OOM` when no free block is large enough.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
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
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `view` is not a Buffer,
   * TypedArray or DataView, or `size` is not a number.
   * @throws {@link OffheapRangeError} `ERR_OUT_OF_RANGE` when `size` is out of range (as in `alloc`).
   * @throws {@link ArenaError} `ERR_ARENA_OOM` when no free block is large enough; the old
   * allocation is left as it was.
   * @throws {@link ArenaError} `ERR_ARENA_FOREIGN` for a view this arena did not make.
   * @throws {@link ArenaError} `ERR_ARENA_NOT_ALLOCATED` for a freed, stale or interior view.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
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
   * Frees the allocation `view`.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `view` is not a Buffer,
   * TypedArray or DataView.
   * @throws {@link ArenaError} `ERR_ARENA_FOREIGN` for a view this arena did not make (left
   * untouched).
   * @throws {@link ArenaError} `ERR_ARENA_NOT_ALLOCATED` for a freed, stale or interior view.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
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

  /**
   * Frees `views` once `operation` is done with them, and resolves then: when the promise
   * settles (fulfilled or rejected), or when the stream is done (`stream.finished`: a writable
   * stream once it finished or failed, what was written to it consumed; a readable-only stream
   * once it ended or failed). The way to free a Buffer handed to an asynchronous Node API
   * (README, "Buffers in flight"): `arena.freeAfter(fs.promises.writeFile(path, b), b)`,
   * `arena.freeAfter(gzip, ...chunks)` after writing them. The views are checked now, so that
   * the later free cannot fail for a reason known today; the returned promise rejects with the
   * error of a free that fails later anyway (the view was freed meanwhile). When the arena was
   * destroyed meanwhile, there is nothing left to free and it resolves.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `operation` is neither a
   * promise (a thenable) nor a Node stream, or a view is not a Buffer, TypedArray or DataView.
   * @throws {@link OffheapValueError} `ERR_INVALID_ARG_VALUE` when two views name one block.
   * @throws {@link ArenaError} `ERR_ARENA_FOREIGN` for a view this arena did not make.
   * @throws {@link ArenaError} `ERR_ARENA_NOT_ALLOCATED` for a freed, stale or interior view.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
  freeAfter(operation: PromiseLike<unknown> | NodeJS.ReadableStream | NodeJS.WritableStream, ...views: ArenaView[]): Promise<void> {
    const M = 'freeAfter';
    this.#alive(M);
    const op = operation as unknown as Record<string, unknown> | null;
    const isThenable = op !== null && typeof op === 'object' && typeof op['then'] === 'function';
    const isStream =
      op !== null && typeof op === 'object' && typeof op['on'] === 'function' &&
      (typeof op['write'] === 'function' || typeof op['read'] === 'function');
    if (!isThenable && !isStream) throw typeError(M, 'operation', 'a promise or a Node stream', operation);
    const blocks = new Set<number | ArrayBufferLike>();
    for (const view of views) {
      const v = this.#view(M, view);
      let st: number;
      if (this.#safe) st = this.#h.validate(v.buffer, v.byteOffset);
      else st = v.buffer !== this.#region ? ST_FOREIGN : this.#h.validate(v.byteOffset);
      if (st !== 0) this.#fail(M, st, view);
      const key = this.#blockKey(v);
      if (blocks.has(key)) throw valueError(M, 'views', 'views of distinct blocks', view);
      blocks.add(key);
    }
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        let first: unknown = null;
        for (const view of views) {
          if (this.#destroyed) break;
          try {
            this.free(view);
          } catch (e) {
            if ((e as { code?: unknown }).code === 'ERR_ARENA_DESTROYED') break;
            first ??= e;
          }
        }
        if (first !== null) reject(first);
        else resolve();
      };
      if (isThenable) {
        (operation as PromiseLike<unknown>).then(done, done);
      } else {
        const writable = typeof op?.['write'] === 'function';
        finished(operation as NodeJS.ReadableStream, { readable: !writable }, () => done());
      }
    });
  }

  /**
   * Usable bytes of the allocation `view` (at least its requested size).
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `view` is not a Buffer,
   * TypedArray or DataView.
   * @throws {@link ArenaError} `ERR_ARENA_FOREIGN` for a view this arena did not make.
   * @throws {@link ArenaError} `ERR_ARENA_NOT_ALLOCATED` for a freed, stale or interior view.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
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

  /**
   * True when `view` is (the start of) a live allocation of this arena. Never throws for foreign
   * views.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `view` is not a Buffer,
   * TypedArray or DataView.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
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

  /**
   * Statistics: the fields of {@link ArenaStatsCommon} (their relations are written there)
   * and the allocator's `detail`.
   *
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   */
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

  /**
   * Gives unused pages back to the OS (the spare blocks first); returns the bytes released.
   *
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
  trim(): number {
    this.#alive('trim');
    const r = this.#h.trim();
    if (r < 0) this.#fail('trim', r, undefined);
    return r;
  }

  /**
   * Walks every invariant of the allocator.
   *
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` on damage.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   */
  check(): void {
    this.#alive('check');
    const st = this.#h.check();
    if (st !== 0) this.#fail('check', st, undefined);
  }

  /**
   * Runs `work(arena)` and then frees every allocation at once (`reset()`), the per-request
   * pattern: allocate freely while serving a request, drop everything when it is done. When
   * `work` returns a promise, the reset waits for it to settle (fulfilled or rejected), so
   * Buffers an awaited operation still uses are not freed under it (README, "Buffers in
   * flight"); the result is `work`'s own (its value, its promise, or what it threw, after the
   * reset). Requests must not overlap on one arena: give each concurrent request its own.
   *
   * @throws {@link OffheapTypeError} `ERR_INVALID_ARG_TYPE` when `work` is not a function.
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
  withReset<T>(work: (arena: this) => T): T {
    this.#alive('withReset');
    if (typeof work !== 'function') throw typeError('withReset', 'work', 'a function', work);
    let result: T;
    try {
      result = work(this);
    } catch (e) {
      if (!this.#destroyed) this.reset();
      throw e;
    }
    const r = result as unknown as { then?: unknown };
    if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {
      const settle = (): void => {
        if (!this.#destroyed) this.reset();
      };
      return (result as unknown as PromiseLike<unknown>).then(
        (v) => {
          settle();
          return v;
        },
        (e: unknown) => {
          settle();
          throw e;
        },
      ) as unknown as T;
    }
    if (!this.#destroyed) this.reset();
    return result;
  }

  /**
   * Frees every allocation at once (safe mode: every view is detached). Costs what was used
   * since the last reset, not the capacity; up to `options.retain` bytes of the pages written
   * stay committed for the next allocations (known not to be zero: `calloc` still zeroes them),
   * the rest go back to the OS. A fast-view arena then gets again the small spare blocks the
   * period since the last reset took (at most `retain` bytes of them), so that the next request
   * of a per-request arena allocates them without a native call.
   *
   * @throws {@link ArenaError} `ERR_ARENA_DESTROYED` once the arena is destroyed.
   * @throws {@link ArenaError} `ERR_ARENA_CORRUPTED` when the allocator finds damaged metadata.
   */
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
