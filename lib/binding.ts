/**
 * The only importer of the native addon. Loads a prebuilt binary from
 * `prebuilds/` when one matches (platform, arch, Node-API) and the source
 * build in `build/Release` otherwise — node-gyp-build does both — and fails
 * with a message naming the platform, arch and Node-API version when neither
 * exists.
 *
 * @internal
 */
import * as path from 'path';

import type { ArenaStats } from './arena';

/** Handle methods of one native arena (fast mode: offsets; safe mode: ArrayBuffers). */
export interface NativeArenaHandle {
  /** fast: offset or negative status; safe: ArrayBuffer or negative status */
  alloc(n: number): number | ArrayBuffer;
  calloc(n: number): number | ArrayBuffer;
  memalign(alignment: number, n: number): number | ArrayBuffer;
  /** fast: (offset); safe: (arrayBuffer, byteOffset) */
  free(a: number | ArrayBufferLike, byteOffset?: number): number;
  realloc(a: number | ArrayBufferLike, b: number, c?: number): number | ArrayBuffer;
  usable(a: number | ArrayBufferLike, byteOffset?: number): number;
  validate(a: number | ArrayBufferLike, byteOffset?: number): number;
  stats(): NativeStats | number;
  trim(): number;
  check(): number;
  reset(): number;
  destroy(): number;
  largestFree(): number;
  /** fast mode: alloc, size in io[IO_ARG], offset or negative status out in io[IO_RESULT] */
  allocIO?(): void;
  /** fast mode: free, offset in io[IO_ARG], status out in io[IO_RESULT] */
  freeIO?(): void;
  /** fast mode: fills the empty spare stack of the class in io[IO_ARG] (lib/spares.ts) */
  refillIO?(): void;
  /** fast mode: gives the older half of the full spare stack of the class in io[IO_ARG] back */
  flushIO?(): void;
  /** fast mode: the mailbox of the IO calls (a Float64Array's buffer); otherwise null */
  io: ArrayBuffer | null;
  /** fast mode: the tag map of spare blocks (csrc/addon/core/spares.h), or null without spares */
  tags: ArrayBuffer | null;
  /** fast mode: the spare stacks' counts and offsets (csrc/addon/core/spares.h), or null */
  spares: ArrayBuffer | null;
  /** log2 of the bytes of region one tag byte covers (with spares) */
  tagShift: number;
  /** the native arena's serial number in this process */
  serial: number;
  /** fast mode: the region-wide ArrayBuffer; safe mode: null */
  region: ArrayBuffer | null;
}

/** Statistics as the binding reports them: ArenaStats less what lib/ knows itself. */
export type NativeStats = Omit<ArenaStats, 'allocator' | 'views'>;

/**
 * The numbers lib/ shares with the arena core, read from its headers
 * (csrc/addon/core/): statuses, kinds, the mailbox layout, the spare class
 * table and tag bits, the stats fields and dlmalloc's tuning parameters.
 */
export interface NativeConstants {
  /** status name -> value (core/status.h) */
  status: Record<'OK' | 'OOM' | 'FOREIGN' | 'NOT_ALLOCATED' | 'DESTROYED' | 'CORRUPTED' | 'VIEW_FAILED' | 'INVALID', number>;
  /** allocator name -> kind number */
  kinds: Record<'dlmalloc' | 'buddy', number>;
  /** mailbox word indices */
  io: Record<'IO_ARG' | 'IO_RESULT' | 'IO_WORDS', number>;
  spares: {
    classes: number;
    maxBytes: number;
    stacksAt: number;
    tagClass: number;
    tagSpare: number;
    tagHigh: number;
    /** per class 0..classes (0 unused) */
    bytes: number[];
    depth: number[];
    base: number[];
    /** classOf16[allocator][(n + 15) >> 4]: the class of a request of n bytes in an arena of that allocator */
    classOf16: Record<'dlmalloc' | 'buddy', number[]>;
  };
  /** the fields of every arena's stats */
  stats: string[];
  /** the fields of stats().detail per allocator */
  detail: Record<'dlmalloc' | 'buddy', string[]>;
  /** dlmalloc's mallopt parameter numbers, and how many pairs an arena takes */
  tuning: Record<'trimThreshold' | 'granularity' | 'mmapThreshold' | 'max', number>;
  /** the bytes of written pages a reset keeps committed when `retain` is not given */
  retainDefault: number;
}

/** The addon's exports. */
export interface NativeBinding {
  /** `tuning`: flat {param, value} pairs (M_GRANULARITY, ...) for this arena's dlmalloc heap. */
  create(
    kind: number,
    capacity: number,
    safe: boolean,
    minBlock: number,
    tuning: number[],
    shared: boolean,
    /** bytes a reset keeps committed (0 .. capacity; absent: constants.retainDefault, at most the capacity) */
    retain?: number,
  ): NativeArenaHandle | number;
  /** A handle over the shared arena with this serial, in this thread; or a negative status. */
  attach(serial: number): NativeArenaHandle | number;
  liveArenas(): number;
  napiVersion: number;
  constants: NativeConstants;
}

function load(): NativeBinding {
  const root = path.join(__dirname, '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return nodeGypBuild(root) as NativeBinding;
  } catch (err) {
    const napi = process.versions.napi ?? 'unknown';
    const e = new Error(
      `offheap: no native binary for platform=${process.platform} arch=${process.arch} ` +
        `Node-API=${napi} (node ${process.versions.node}): no matching prebuild in ` +
        `${path.join(root, 'prebuilds')} and no source build in ${path.join(root, 'build', 'Release')}. ` +
        `Build it with \`npm rebuild offheap\` (needs Python 3 and a C/C++ toolchain). ` +
        `Cause: ${(err as Error).message}`,
    );
    (e as Error & { code: string }).code = 'ERR_OFFHEAP_NO_BINARY';
    throw e;
  }
}

/** The loaded addon. */
export const binding: NativeBinding = load();
