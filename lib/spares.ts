/**
 * Spare blocks of a fast-mode arena: per size class, a stack of blocks the
 * native allocator has allocated but that are free to the user, so that
 * `alloc` and `free` of a block up to 64 KiB need no call into C. The native
 * side (csrc/addon/spares.cc) hands them out and takes them back in batches
 * and keeps the tag map that makes `free` exact; its invariant is written
 * there.
 *
 * Here: class `c` (1..CLASSES) has blocks of `spareClassBytes(c)` bytes; the
 * tag of the block at offset `off` is `tags[floor(off / 2^shift)]`, equal to
 * `c | high(off)` while the user holds the block and `c | SPARE | high(off)`
 * while it sits in a stack. Stacks are bounded (about STACK_BYTES each, about
 * 2 MiB in all; a refill takes about REFILL_BYTES), and go back to the allocator on out-of-memory, `trim()` and
 * `stats()`.
 *
 * @internal
 */
import type { NativeArenaHandle } from './binding';

const TAG_CLASS = 0x3f;
const TAG_SPARE = 0x40;
/** Requests up to this many bytes are served from spares. */
export const SPARE_MAX_BYTES = 65536;
/** Classes 1..32: 16-byte steps up to 512; 33..60: four steps per doubling up to 64 KiB. */
const CLASSES = 60;
/** A stack holds about this many bytes (at least 2 and at most 64 blocks); when full, half goes back. */
const STACK_BYTES = 64 * 1024;
const MAX_DEPTH = 64;
/** A refill takes about this many bytes (at least 1 and at most half a stack of blocks). */
const REFILL_BYTES = 4 * 1024;
/** Where the mailbox's batch of offsets starts (IO_BATCH_AT in arena.h). */
const IO_BATCH_AT = 4;

/**
 * The size class of a request of `size` bytes (0 <= size <= SPARE_MAX_BYTES; 0 counts as 1):
 * 16-byte steps up to 512 bytes, then four classes per doubling (at most 25 % rounding).
 */
export function spareClass(size: number): number {
  if (size <= 512) return (size + 15) >>> 4 || 1;
  const d = 31 - Math.clz32((size - 1) >>> 9); // 512 << d < size <= 1024 << d
  return 33 + 4 * d + ((size - (512 << d) - 1) >>> (7 + d));
}

/** The block size of class `c` (the inverse of spareClass on class sizes). */
export function spareClassBytes(c: number): number {
  if (c <= 32) return c * 16;
  const k = c - 33;
  return (512 << (k >>> 2)) + (128 << (k >>> 2)) * ((k & 3) + 1);
}

/** The stacks of one fast-mode arena. */
export class Spares {
  readonly #h: NativeArenaHandle;
  readonly #io: Float64Array;
  readonly #tags: Uint8Array;
  readonly #shift: number;
  /** 2^shift: the bytes of region one tag covers */
  readonly #granule: number;
  /** the region reaches past 4 GiB, where `off >>> shift` (32-bit) would wrap */
  readonly #wide: boolean;
  /** 16 when a granule holds two 16-byte halves (32-byte granules), else 0. */
  readonly #highMask: number;
  /** stack of class c: #stack[#base[c] .. #base[c] + #count[c]), at most #depth[c] long */
  readonly #stack: Float64Array;
  readonly #base = new Int32Array(CLASSES + 1);
  readonly #depth = new Int32Array(CLASSES + 1);
  readonly #refillCount = new Int32Array(CLASSES + 1);
  readonly #count = new Int32Array(CLASSES + 1);

  constructor(h: NativeArenaHandle, io: Float64Array, tags: ArrayBuffer, tagShift: number) {
    this.#h = h;
    this.#io = io;
    this.#tags = new Uint8Array(tags);
    this.#shift = tagShift;
    this.#granule = 2 ** tagShift;
    this.#wide = tags.byteLength * this.#granule > 2 ** 32;
    this.#highMask = tagShift === 5 ? 16 : 0;
    let total = 0;
    for (let c = 1; c <= CLASSES; c++) {
      const bytes = spareClassBytes(c);
      // The class table and the size -> class map agree (checked once, here).
      if (spareClass(bytes) !== c || (c < CLASSES && spareClass(bytes + 1) !== c + 1)) {
        throw new Error(`offheap: spare class table inconsistent at class ${c}`);
      }
      this.#base[c] = total;
      this.#depth[c] = Math.max(2, Math.min(MAX_DEPTH, Math.floor(STACK_BYTES / bytes)));
      this.#refillCount[c] = Math.max(1, Math.min((this.#depth[c] as number) >>> 1, Math.floor(REFILL_BYTES / bytes)));
      total += this.#depth[c] as number;
    }
    this.#stack = new Float64Array(total);
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
    const off = this.#stack[(this.#base[c] as number) + n] as number;
    this.#tags[this.#index(off)] = c | ((off & this.#highMask) << 3);
    return off;
  }

  /** The tag index of offset `off` (`off & mask` is exact past 2^32: it reads the low 32 bits). */
  #index(off: number): number {
    return this.#wide ? Math.floor(off / this.#granule) : off >>> this.#shift;
  }

  /**
   * Takes back the block at `off` when it is a spare-scheme block the user
   * holds: 1. 0 when it is not one (the general path frees it, or finds it
   * is not allocated). A negative status when the block was taken but giving
   * a full stack's older half back to the allocator failed.
   */
  put(off: number): number {
    const i = this.#index(off);
    const t = this.#tags[i] as number;
    if (t === 0 || (off & 15) !== 0 || (t & ~TAG_CLASS) !== (off & this.#highMask) << 3) return 0;
    const c = t & TAG_CLASS;
    let n = this.#count[c] as number;
    let st = 1;
    if (n === this.#depth[c]) {
      st = this.#flush(c, n >>> 1);
      n = this.#count[c] as number;
    }
    this.#stack[(this.#base[c] as number) + n] = off;
    this.#count[c] = n + 1;
    this.#tags[i] = t | TAG_SPARE;
    return st;
  }

  /** Gives every spare back to the allocator: ST_OK (0) or the first failure's status. */
  flushAll(): number {
    for (let c = 1; c <= CLASSES; c++) {
      while ((this.#count[c] as number) > 0) {
        const st = this.#flush(c, Math.min(this.#count[c] as number, 32));
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
    for (let c = 1; c <= CLASSES; c++) b += (this.#count[c] as number) * spareClassBytes(c);
    return b;
  }

  #refill(c: number): number {
    const io = this.#io;
    io[0] = c;
    io[1] = this.#refillCount[c] as number;
    io[2] = spareClassBytes(c);
    (this.#h.refillIO as () => void)();
    const k = io[1] as number;
    if (k <= 0) return k;
    // Lowest offsets on top: handed out first, so blocks are used in address order.
    const base = this.#base[c] as number;
    for (let j = 0; j < k; j++) this.#stack[base + j] = io[IO_BATCH_AT + k - 1 - j] as number;
    this.#count[c] = k;
    return k;
  }

  /** Gives the `n` (1..32) oldest spares of class `c` back; 1 or a negative status. */
  #flush(c: number, n: number): number {
    const io = this.#io;
    const base = this.#base[c] as number;
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
