/**
 * What offheap takes from the runtime it runs on, decided once at load. Each of these depends
 * on the Node line; `runtimeFeatures()` reports them so that the test suite, run on every
 * supported line, fails if one silently stops holding.
 *
 * @packageDocumentation
 */
import { constants as bufferConstants } from 'buffer';

/**
 * The constructor behind Node's Buffers (`Buffer[Symbol.species]`, Node's
 * FastBuffer: `Object.getPrototypeOf(new FB(ab, off, n)) === Buffer.prototype`).
 * `new FB(region, offset, size)` makes exactly the Buffer `Buffer.from(region,
 * offset, size)` makes, without its argument checks (~30 ns instead of ~58 ns
 * on Node 20): offsets and sizes come from the allocator and are in range by
 * construction. Falls back to Buffer.from where the species is not a Buffer.
 *
 * @internal
 */
export type BufferCtor = new (ab: ArrayBuffer, byteOffset: number, length: number) => Buffer;
const speciesCtor = (Buffer as unknown as { [Symbol.species]?: unknown })[Symbol.species];
const speciesIsBuffer =
  typeof speciesCtor === 'function' && (speciesCtor as { prototype: unknown }).prototype === Buffer.prototype;
/** @internal */
export const FastBuffer: BufferCtor = speciesIsBuffer
  ? (speciesCtor as BufferCtor)
  : (function (this: unknown, ab: ArrayBuffer, off: number, n: number) {
      return Buffer.from(ab, off, n);
    } as unknown as BufferCtor);

/**
 * The largest arena: 2^47 bytes, the user address space of x64 and arm64 Linux.
 *
 * @internal
 */
export const MAX_CAPACITY = 2 ** 47;

/**
 * The largest fast-view arena: its region is one ArrayBuffer whose views are Buffers, so also at
 * most the runtime's largest Buffer (4 GiB on Node 20; 2^53 - 1 bytes from Node 22 on).
 *
 * @internal
 */
export const MAX_FAST_CAPACITY = Math.min(MAX_CAPACITY, bufferConstants.MAX_LENGTH);

/** What offheap found in this runtime (see {@link runtimeFeatures}). */
export interface RuntimeFeatures {
  /** `Buffer[Symbol.species]` is Node's Buffer constructor: views are made without `Buffer.from`'s checks. */
  bufferSpecies: boolean;
  /** `buffer.constants.MAX_LENGTH`: the longest view (and safe-view allocation). */
  maxBufferLength: number;
  /** The largest `capacity` of a fast-view arena. */
  maxFastCapacity: number;
}

/** Diagnostics: what offheap takes from this runtime (Node line). */
export function runtimeFeatures(): RuntimeFeatures {
  return {
    bufferSpecies: speciesIsBuffer,
    maxBufferLength: bufferConstants.MAX_LENGTH,
    maxFastCapacity: MAX_FAST_CAPACITY,
  };
}
