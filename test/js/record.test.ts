/**
 * Recording an arena's allocation trace (startTrace / stopTrace): the trace holds exactly the
 * successful operations, in order, with block identities kept across realloc and across views
 * of the same block, and it survives serialization.
 */
import { COMBOS, expectError, makeArena, destroyAll } from './helpers';
import { Trace } from '../..';

afterEach(destroyAll);

describe.each(COMBOS)('%s arena, %s views: startTrace / stopTrace', (allocator, views) => {
  test('records alloc, calloc, allocArray, alignedAlloc, realloc, free and reset in order', () => {
    const arena = makeArena(allocator, views);
    const before = arena.alloc(10); // not recorded
    arena.startTrace(['test']);
    const a = arena.alloc(100);
    const b = arena.calloc(4, 8);
    const f = arena.allocArray(Float64Array, 3);
    const g = arena.alignedAlloc(256, 40);
    const a2 = arena.realloc(a, 5000);
    expectError(() => arena.free(a), 'ERR_ARENA_NOT_ALLOCATED'); // failures are not recorded
    arena.free(b);
    arena.free(new Uint8Array(f.buffer, f.byteOffset, 24)); // another view of the same block
    const c = arena.tryAlloc(64)!;
    arena.free(before); // allocated before recording: not in the trace
    arena.free(g);
    arena.reset();
    const d = arena.alloc(7);
    arena.free(d);
    const t = arena.stopTrace();
    void a2;
    void c;
    const ops = [...Array(t.length).keys()].map((i) => t.op(i));
    expect(ops).toEqual([
      { op: 'alloc', id: 0, size: 100 },
      { op: 'calloc', id: 1, size: 32 },
      { op: 'calloc', id: 2, size: 24 },
      { op: 'alloc', id: 3, size: 40 },
      { op: 'realloc', id: 0, size: 5000 },
      { op: 'free', id: 1 },
      { op: 'free', id: 2 },
      { op: 'alloc', id: 1, size: 64 },
      { op: 'free', id: 3 },
      { op: 'reset' },
      { op: 'alloc', id: 0, size: 7 },
      { op: 'free', id: 0 },
    ]);
    const again = Trace.parse(t.toString());
    expect([...Array(again.length).keys()].map((i) => again.op(i))).toEqual(ops);
    expect(t.toString()).toContain('test');
  });

  test('stopTrace without startTrace, and startTrace twice, are refused', () => {
    const arena = makeArena(allocator, views);
    expectError(() => arena.stopTrace(), 'ERR_INVALID_STATE', { method: 'stopTrace' });
    arena.startTrace();
    expectError(() => arena.startTrace(), 'ERR_INVALID_STATE', { method: 'startTrace' });
    expect(arena.stopTrace().length).toBe(0);
  });

  test('startTrace comments must be an array of strings (a string is not split into characters)', () => {
    const arena = makeArena(allocator, views);
    const A = arena as unknown as { startTrace(c: unknown): void };
    expectError(() => A.startTrace('hello'), 'ERR_INVALID_ARG_TYPE', { method: 'startTrace' });
    expectError(() => A.startTrace([1, 2]), 'ERR_INVALID_ARG_TYPE', { method: 'startTrace' });
    arena.startTrace(['one comment']);
    expect(arena.stopTrace().toString()).toContain('one comment');
  });
});
