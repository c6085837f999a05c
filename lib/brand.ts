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

/**
 * Arena keys: an arena of capacity C takes ceil(C / KEY_STEP) steps of the key space, so the
 * stamps of different arenas never overlap ([key, key + C) is this arena's alone) and
 * `key + offset` stays exact below 2^53. Keys are never reused: a stale view of a destroyed arena
 * must not name a block of a newer one.
 */
const KEY_STEP = 2 ** 32;
const KEY_SPACE = 2 ** 53 / KEY_STEP;
let nextStep = 1;

/** A new arena's key for `capacity` bytes, or -1 once the key space is used up (that arena then brands nothing). */
export function newArenaKey(capacity: number): number {
  const steps = Math.ceil(capacity / KEY_STEP);
  if (nextStep + steps > KEY_SPACE) return -1;
  const key = nextStep * KEY_STEP;
  nextStep += steps;
  return key;
}

/** Stamps `view` with `key + offset`. */
export const stamp: (view: object, keyPlusOffset: number) => void = Brand.stamp;

/** The stamp of `view`, or -1 when it has none. `view` must be an object. */
export const brandOf: (view: object) => number = Brand.keyOf;
