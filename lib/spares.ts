/**
 * Spare blocks of a fast-mode arena, on the JavaScript side: `alloc` of up to
 * 64 KiB pops a block the allocator has already allocated off its class's
 * stack, and `free` pushes it back, with no call into C. The arena core
 * (csrc/addon/core/spares.h) owns everything else: the class table, the
 * stacks and counts (memory this file reads and writes through typed
 * arrays), the tag map that keeps free exact, refilling an empty stack,
 * flushing a full one, and giving every spare back when the allocator needs
 * them. Its invariant is written there; this file keeps it by changing a tag's
 * SPARE bit together with the stack, and nothing else.
 *
 * @internal
 */
import { binding, NativeArenaHandle } from './binding';

const C = binding.constants;
const { tagClass: TAG_CLASS, tagSpare: TAG_SPARE, tagHigh: TAG_HIGH } = C.spares;
/** Requests up to this many bytes are served from spares. */
export const SPARE_MAX_BYTES: number = C.spares.maxBytes;
/** Per allocator, the class of a request of n bytes at [(n + 15) >>> 4] (csrc/addon/core/spares.h). */
const CLASS_OF_16 = {
  dlmalloc: Uint8Array.from(C.spares.classOf16.dlmalloc),
  buddy: Uint8Array.from(C.spares.classOf16.buddy),
};
const DEPTH = Int32Array.from(C.spares.depth);
const BASE = Int32Array.from(C.spares.base);
const IO_ARG: number = C.io.IO_ARG;
const IO_RESULT: number = C.io.IO_RESULT;
/** The shift that takes offset bit 4 (the half of a 32-byte granule) to TAG_HIGH. */
const HIGH_SHIFT = Math.log2(TAG_HIGH / 16);
if (!Number.isInteger(HIGH_SHIFT)) throw new Error('offheap: TAG_HIGH is not a power of two above 16');

/** The stacks of one fast-mode arena. */
export class Spares {
  readonly #h: NativeArenaHandle;
  readonly #io: Float64Array;
  readonly #tags: Uint8Array;
  readonly #count: Int32Array;
  readonly #stack: Float64Array;
  readonly #shift: number;
  /** 2^shift: the bytes of region one tag covers */
  readonly #granule: number;
  /** the region reaches past 4 GiB, where `off >>> shift` (32-bit) would wrap */
  readonly #wide: boolean;
  /**
   * 16 when a granule holds two 16-byte halves (32-byte granules), else 0: `(off & #highMask)
   * << HIGH_SHIFT` is a block's TAG_HIGH bit, with no branch (a block's half is as random as
   * its address, and a mispredicted branch costs more than the rest of a take).
   */
  readonly #highMask: number;
  /** the class of a request of n bytes at [(n + 15) >>> 4]: this arena's allocator's map */
  readonly #classOf16: Uint8Array;

  constructor(
    h: NativeArenaHandle,
    io: Float64Array,
    tags: ArrayBuffer,
    spares: ArrayBuffer,
    tagShift: number,
    allocator: 'dlmalloc' | 'buddy',
  ) {
    this.#h = h;
    this.#classOf16 = CLASS_OF_16[allocator];
    this.#io = io;
    this.#tags = new Uint8Array(tags);
    this.#count = new Int32Array(spares, 0, C.spares.classes + 1);
    this.#stack = new Float64Array(spares, C.spares.stacksAt);
    this.#shift = tagShift;
    this.#granule = 2 ** tagShift;
    this.#wide = tags.byteLength * this.#granule > 2 ** 32;
    this.#highMask = tagShift === 5 ? 16 : 0;
  }

  /** The size class of a request of `size` bytes (0 <= size <= SPARE_MAX_BYTES). */
  classOf(size: number): number {
    return this.#classOf16[(size + 15) >>> 4] as number;
  }

  /**
   * A block of class `c` for the user: its offset, or -1 when the allocator
   * has none to give (the caller then takes the general path, which reports why).
   */
  take(c: number): number {
    let n = this.#count[c] as number;
    if (n === 0) {
      this.#io[IO_ARG] = c;
      (this.#h.refillIO as () => void)();
      n = this.#count[c] as number;
      if (n === 0) return -1;
    }
    n--;
    this.#count[c] = n;
    const off = this.#stack[(BASE[c] as number) + n] as number;
    this.#tags[this.#index(off)] = c | ((off & this.#highMask) << HIGH_SHIFT);
    return off;
  }

  /** The tag index of offset `off`. */
  #index(off: number): number {
    return this.#wide ? Math.floor(off / this.#granule) : off >>> this.#shift;
  }

  /**
   * Takes back the block at `off` when it is a spare-scheme block the user
   * holds: 1. 0 when it is not one (the general path frees it, or finds it is
   * not allocated). A negative status when giving a full stack's older half
   * back to the allocator failed (the block was not taken).
   */
  put(off: number): number {
    const i = this.#index(off);
    const t = this.#tags[i] as number;
    const high = (off & this.#highMask) << HIGH_SHIFT;
    if (t === 0 || (off & 15) !== 0 || (t & ~TAG_CLASS) !== high) return 0;
    const c = t & TAG_CLASS;
    let n = this.#count[c] as number;
    if (n === DEPTH[c]) {
      this.#io[IO_ARG] = c;
      (this.#h.flushIO as () => void)();
      const st = this.#io[IO_RESULT] as number;
      if (st < 0) return st;
      n = this.#count[c] as number;
    }
    this.#stack[(BASE[c] as number) + n] = off;
    this.#count[c] = n + 1;
    this.#tags[i] = t | TAG_SPARE;
    return 1;
  }
}
