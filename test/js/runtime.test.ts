/**
 * What offheap takes from the runtime, on the line this suite runs on (`npm run test:lines` runs
 * it on every supported line). Each test fails if a runtime-dependent path silently stops being
 * taken: Node's Buffer constructor behind `Buffer[Symbol.species]`, the brands that let `free`
 * skip `view.buffer` / `view.byteOffset`, and the limits read from `buffer.constants`.
 * (`using` is checked in the main realm: processes.test.ts; V8's external-memory count too.)
 */
import { constants as bufferConstants } from 'buffer';
import { runtimeFeatures } from '../..';
import { ALLOCATORS, Arena, MiB, destroyAll, expectError, makeArena } from './helpers';

afterEach(destroyAll);

const major = Number(process.versions.node.split('.')[0]);

test('views are made by the constructor behind Buffer[Symbol.species], not Buffer.from', () => {
  expect(runtimeFeatures().bufferSpecies).toBe(true);
});

test("the limits follow the runtime's largest Buffer", () => {
  const f = runtimeFeatures();
  expect(f.maxBufferLength).toBe(bufferConstants.MAX_LENGTH);
  expect(f.maxFastCapacity).toBe(Math.min(2 ** 47, bufferConstants.MAX_LENGTH));
  // Node 20 caps a Buffer at 4 GiB; from 22 on it is 2^53 - 1.
  expect(f.maxBufferLength).toBe(major <= 20 ? 2 ** 32 : Number.MAX_SAFE_INTEGER);
  expectError(() => new Arena({ views: 'fast', capacity: f.maxFastCapacity + 4096 }), 'ERR_OUT_OF_RANGE');
});

/** `v` with own `buffer` and `byteOffset` properties that throw when read. */
function unreadable<T extends object>(v: T): T {
  for (const name of ['buffer', 'byteOffset']) {
    Object.defineProperty(v, name, {
      get() {
        throw new Error(`${name} was read`);
      },
    });
  }
  return v;
}

describe.each(ALLOCATORS)('brands (%s, fast views)', (allocator) => {
  test('free of a view the arena made reads neither view.buffer nor view.byteOffset', () => {
    const a = makeArena(allocator, 'fast', 16 * MiB);
    for (const size of [16, 64, 4096, 65536, 1 << 20]) {
      const v = unreadable(a.alloc(size));
      a.free(v);
    }
    const f = unreadable(a.allocArray(Float64Array, 100));
    a.free(f);
    expect(a.stats().liveAllocations).toBe(0);
  });

  test('a view the user made over the block (no brand) takes the general path, which reads them', () => {
    const a = makeArena(allocator, 'fast', 16 * MiB);
    const v = a.alloc(64);
    const mine = unreadable(v.subarray(0));
    expect(() => a.free(mine)).toThrow(/was read/);
    a.free(v);
  });
});
