/**
 * Spare small blocks of a fast-mode arena: per size class, a stack of blocks
 * the native allocator has allocated but that are free to the user, so that
 * `alloc` and `free` of a small block need no call into C. The native side
 * (csrc/addon/spares.cc) hands them out and takes them back in batches and
 * keeps the tag map that makes `free` exact; its invariant is written there.
 *
 * Here: a block of class `c` is `c * 16` bytes (c = 1..CLASSES); the tag of
 * the block at offset `off` is `tags[off >>> shift]`, equal to
 * `c | high(off)` while the user holds the block and `c | SPARE | high(off)`
 * while it sits in a stack.
 *
 * @internal
 */
import type { NativeArenaHandle } from './binding';

const TAG_CLASS = 0x3f;
const TAG_SPARE = 0x40;
/** Requests up to this many bytes are served from spares. */
export const SPARE_MAX_BYTES = 512;
const CLASSES = SPARE_MAX_BYTES / 16;
/** Blocks per stack; a full stack gives its older half back. */
const DEPTH = 64;
const REFILL = 32;
/** Where the mailbox's batch of offsets starts (IO_BATCH_AT in arena.h). */
const IO_BATCH_AT = 4;

/** The size class of a request of `size` bytes (0 < size <= SPARE_MAX_BYTES; 0 counts as 1). */
export function spareClass(size: number): number {
  return (size + 15) >>> 4 || 1;
}

/** The stacks of one fast-mode arena. */
export class Spares {
  readonly #h: NativeArenaHandle;
  readonly #io: Float64Array;
  readonly #tags: Uint8Array;
  readonly #shift: number;
  /** 16 when a granule holds two 16-byte halves (32-byte granules), else 0. */
  readonly #highMask: number;
  /** stack of class c: #stack[c * DEPTH .. c * DEPTH + #count[c]) */
  readonly #stack = new Float64Array((CLASSES + 1) * DEPTH);
  readonly #count = new Int32Array(CLASSES + 1);

  constructor(h: NativeArenaHandle, io: Float64Array, tags: ArrayBuffer, tagShift: number) {
    this.#h = h;
    this.#io = io;
    this.#tags = new Uint8Array(tags);
    this.#shift = tagShift;
    this.#highMask = tagShift === 5 ? 16 : 0;
  }

  /**
   * A block of class `c` for the user: its offset, or -1 when the native
   * allocator has none to give (the caller then takes the general path,
   * which reports why).
   */
  take(c: number): number {
    let n = this.#count[c] as number;
    if (n === 0) {
      n = this.#refill(c);
      if (n <= 0) return -1;
    }
    n--;
    this.#count[c] = n;
    const off = this.#stack[c * DEPTH + n] as number;
    this.#tags[off >>> this.#shift] = c | ((off & this.#highMask) << 3);
    return off;
  }

  /**
   * Takes back the block at `off` when it is a spare-scheme block the user
   * holds: 1. 0 when it is not one (the general path frees it, or finds it
   * is not allocated). A negative status when the block was taken but giving
   * a full stack's older half back to the allocator failed.
   */
  put(off: number): number {
    const i = off >>> this.#shift;
    const t = this.#tags[i] as number;
    if (t === 0 || (off & 15) !== 0 || (t & ~TAG_CLASS) !== (off & this.#highMask) << 3) return 0;
    const c = t & TAG_CLASS;
    let n = this.#count[c] as number;
    let st = 1;
    if (n === DEPTH) {
      st = this.#flush(c, DEPTH / 2);
      n = this.#count[c] as number;
    }
    this.#stack[c * DEPTH + n] = off;
    this.#count[c] = n + 1;
    this.#tags[i] = t | TAG_SPARE;
    return st;
  }

  /** Gives every spare back to the allocator: ST_OK (0) or the first failure's status. */
  flushAll(): number {
    for (let c = 1; c <= CLASSES; c++) {
      while ((this.#count[c] as number) > 0) {
        const st = this.#flush(c, Math.min(this.#count[c] as number, DEPTH / 2));
        if (st < 0) return st;
      }
    }
    return 0;
  }

  /** Forgets every spare (the native arena was reset or destroyed: its tags are zero). */
  clear(): void {
    this.#count.fill(0);
  }

  /** Bytes held in stacks (allocated in the core, free to the user). */
  get spareBytes(): number {
    let b = 0;
    for (let c = 1; c <= CLASSES; c++) b += (this.#count[c] as number) * c * 16;
    return b;
  }

  #refill(c: number): number {
    const io = this.#io;
    io[0] = c;
    io[1] = REFILL;
    (this.#h.refillIO as () => void)();
    const k = io[1] as number;
    if (k <= 0) return k;
    // Lowest offsets on top: handed out first, so blocks are used in address order.
    const base = c * DEPTH;
    for (let j = 0; j < k; j++) this.#stack[base + j] = io[IO_BATCH_AT + k - 1 - j] as number;
    this.#count[c] = k;
    return k;
  }

  /** Gives the `n` oldest spares of class `c` back; 1 or a negative status. */
  #flush(c: number, n: number): number {
    const io = this.#io;
    const base = c * DEPTH;
    const have = this.#count[c] as number;
    for (let j = 0; j < n; j++) io[IO_BATCH_AT + j] = this.#stack[base + j] as number;
    io[0] = n;
    (this.#h.flushIO as () => void)();
    const st = io[1] as number;
    if (st !== 0) {
      this.clear();
      return st;
    }
    this.#stack.copyWithin(base, base + n, base + have);
    this.#count[c] = have - n;
    return 1;
  }
}
