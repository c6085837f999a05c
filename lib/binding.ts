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
  /** fast mode: alloc with io[0] = size in, io[1] = offset or negative status out */
  allocIO?(): void;
  /** fast mode: free with io[0] = offset in, io[1] = status out */
  freeIO?(): void;
  /** fast mode: spares (lib/spares.ts) with io[0] = class, io[1] = count in, count or status out */
  refillIO?(): void;
  /** fast mode: spares back, io[0] = count in, io[1] = status out; offsets in io[4..] */
  flushIO?(): void;
  /** fast mode: the mailbox of the IO calls (a Float64Array's buffer); safe mode: null */
  io: ArrayBuffer | null;
  /** fast mode: the tag map of spare blocks (csrc/addon/spares.cc), or null without one */
  tags: ArrayBuffer | null;
  /** log2 of the bytes of region one tag byte covers (fast mode) */
  tagShift: number;
  /** the native arena's serial number in this process */
  serial: number;
  /** fast mode: the region-wide ArrayBuffer; safe mode: null */
  region: ArrayBuffer | null;
}

/** Raw statistics as the glue reports them. */
export interface NativeStats {
  capacity: number;
  committed: number;
  inUse: number;
  free: number;
  largestFree: number;
  peakCommitted: number;
  liveAllocations: number;
  corrupted: boolean;
  detail: Record<string, unknown>;
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
  ): NativeArenaHandle | number;
  /** A handle over the shared arena with this serial, in this thread; or a negative status. */
  attach(serial: number): NativeArenaHandle | number;
  liveArenas(): number;
  napiVersion: number;
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
