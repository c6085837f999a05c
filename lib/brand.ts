/**
 * Brands: a private field stamped onto the Buffers a fast-mode arena makes,
 * holding `arenaKey + offset`. `free(view)` of a branded view then knows the
 * arena and the block without reading `view.buffer` and `view.byteOffset`
 * (each a call into V8's runtime on Node 20, ~15-20 ns). Nothing outside
 * this module can read, forge or remove a brand; views the user makes over
 * the same memory (subarray, new Float64Array(buf.buffer, ...)) carry none
 * and take the general path, which checks `buffer` and `byteOffset`.
 *
 * A brand names a block start, not a live allocation: `free` still checks
 * the block's state (tag map or allocator) exactly.
 *
 * @internal
 */

/** Returns its argument from the constructor, so a subclass can stamp fields onto any object. */
class Carrier {
  constructor(target: object) {
    return target;
  }
}

class Brand extends Carrier {
  #key: number;

  private constructor(target: object, key: number) {
    super(target);
    this.#key = key;
  }

  static stamp(target: object, key: number): void {
    new Brand(target, key);
  }

  static keyOf(target: object): number {
    return #key in target ? (target as unknown as Brand).#key : -1;
  }
}

/** Arena keys: multiples of 2^32, so `key + offset` (offset < 2^32) is exact below 2^53. */
const KEY_STEP = 2 ** 32;
const MAX_KEYS = 2 ** 20;
let nextKey = 1;

/** A new arena's key, or -1 once 2^20 keys were handed out (that arena then brands nothing). */
export function newArenaKey(): number {
  if (nextKey >= MAX_KEYS) return -1;
  return nextKey++ * KEY_STEP;
}

/** Stamps `view` with `key + offset`. */
export const stamp: (view: object, keyPlusOffset: number) => void = Brand.stamp;

/** The stamp of `view`, or -1 when it has none. `view` must be an object. */
export const brandOf: (view: object) => number = Brand.keyOf;
