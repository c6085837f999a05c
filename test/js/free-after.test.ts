/**
 * arena.freeAfter(operation, ...views): the views are checked at once, and freed when the
 * promise settles or the stream is done. (Buffers handed to Node's own asynchronous APIs:
 * test/js/node-io.test.ts, in child processes.)
 */
import { PassThrough, Readable, Writable } from 'stream';

import { COMBOS, destroyAll, expectError, makeArena } from './helpers';

afterEach(destroyAll);

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe.each(COMBOS)('%s arena, %s views', (allocator, views) => {
  test('a promise: nothing is freed before it settles, every view after (fulfilled or rejected)', async () => {
    const arena = makeArena(allocator, views);
    for (const outcome of ['fulfil', 'reject'] as const) {
      const a = arena.alloc(100);
      const b = arena.alloc(5000);
      let settle!: () => void;
      const op = new Promise<void>((res, rej) => {
        settle = outcome === 'fulfil' ? res : () => rej(new Error('the operation failed'));
      });
      op.catch(() => undefined);
      const done = arena.freeAfter(op, a, b);
      await tick();
      expect([arena.owns(a), arena.owns(b)]).toEqual([true, true]);
      settle();
      await done;
      expect([arena.owns(a), arena.owns(b)]).toEqual([false, false]);
      expect(arena.stats().liveAllocations).toBe(0);
    }
  });

  test('a writable stream: freed once it finished; a readable stream: once it ended', async () => {
    const arena = makeArena(allocator, views);
    const chunk = arena.alloc(64);
    chunk.fill(3);
    const seen: number[] = [];
    const sink = new Writable({
      write(c: Buffer, _enc, cb) {
        seen.push(c.length);
        setImmediate(cb);
      },
    });
    sink.write(chunk);
    const done = arena.freeAfter(sink, chunk);
    await tick();
    expect(arena.owns(chunk)).toBe(true);
    sink.end();
    await done;
    expect(arena.owns(chunk)).toBe(false);
    expect(seen).toEqual([64]);

    const c2 = arena.alloc(32);
    const src = Readable.from([c2]);
    const done2 = arena.freeAfter(src, c2);
    src.resume();
    await done2;
    expect(arena.owns(c2)).toBe(false);

    // a transform whose output nobody reads: its writable side finishing is enough
    const c3 = arena.alloc(32);
    const t = new PassThrough({ highWaterMark: 1 << 20 });
    t.end(c3);
    await arena.freeAfter(t, c3);
    expect(arena.owns(c3)).toBe(false);
  });

  test('bad arguments are refused at once and nothing is freed', () => {
    const arena = makeArena(allocator, views);
    const v = arena.alloc(16);
    const other = makeArena(allocator, views).alloc(16);
    const p = Promise.resolve();
    expectError(() => arena.freeAfter(42 as unknown as Promise<void>, v), 'ERR_INVALID_ARG_TYPE');
    expectError(() => arena.freeAfter({} as unknown as Promise<void>, v), 'ERR_INVALID_ARG_TYPE');
    expectError(() => arena.freeAfter(p, 'x' as unknown as Buffer), 'ERR_INVALID_ARG_TYPE');
    expectError(() => arena.freeAfter(p, v, v), 'ERR_INVALID_ARG_VALUE');
    expectError(() => arena.freeAfter(p, v, other), 'ERR_ARENA_FOREIGN');
    expectError(() => arena.freeAfter(p, Buffer.alloc(16)), 'ERR_ARENA_FOREIGN');
    const gone = arena.alloc(16);
    arena.free(gone);
    expectError(() => arena.freeAfter(p, v, gone), 'ERR_ARENA_NOT_ALLOCATED');
    expect(arena.owns(v)).toBe(true);
    arena.destroy();
    expectError(() => arena.freeAfter(p, v), 'ERR_ARENA_DESTROYED');
  });

  test('a view freed meanwhile rejects the promise with its error; a destroyed arena resolves', async () => {
    const arena = makeArena(allocator, views);
    const v = arena.alloc(16);
    const w = arena.alloc(16);
    let settle!: () => void;
    const done = arena.freeAfter(new Promise<void>((r) => (settle = r)), v, w);
    arena.free(v);
    settle();
    await expect(done).rejects.toMatchObject({ code: 'ERR_ARENA_NOT_ALLOCATED' });
    expect(arena.owns(w)).toBe(false); // the other view was still freed

    const x = arena.alloc(16);
    let settle2!: () => void;
    const done2 = arena.freeAfter(new Promise<void>((r) => (settle2 = r)), x);
    arena.destroy();
    settle2();
    await expect(done2).resolves.toBeUndefined();
  });
});
