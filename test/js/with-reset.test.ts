/** arena.withReset(work): the per-request pattern, reset after sync work and after a promise settles. */
import { COMBOS, destroyAll, expectError, makeArena } from './helpers';

afterEach(destroyAll);

describe.each(COMBOS)('%s arena, %s views', (allocator, views) => {
  test('synchronous work: its value is returned and every allocation is gone afterwards', () => {
    const arena = makeArena(allocator, views);
    const kept = [] as Buffer[];
    const r = arena.withReset((a) => {
      for (let i = 0; i < 64; i++) kept.push(a.alloc(16 + ((i * 97) % 2032)));
      expect(a.stats().liveAllocations).toBe(64);
      return 'done';
    });
    expect(r).toBe('done');
    expect(arena.stats().liveAllocations).toBe(0);
    arena.check();
    if (views === 'safe') expect(kept.every((b) => b.length === 0)).toBe(true); // detached
  });

  test('work that throws: the arena is reset and the error comes through', () => {
    const arena = makeArena(allocator, views);
    expect(() =>
      arena.withReset((a) => {
        a.alloc(100);
        throw new Error('request failed');
      }),
    ).toThrow('request failed');
    expect(arena.stats().liveAllocations).toBe(0);
  });

  test('asynchronous work: nothing is freed before its promise settles (fulfilled or rejected)', async () => {
    const arena = makeArena(allocator, views);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const p = arena.withReset(async (a) => {
      const b = a.alloc(1000);
      b.fill(5);
      await gate;
      return b.reduce((s, x) => s + x, 0);
    });
    await new Promise((r) => setImmediate(r));
    expect(arena.stats().liveAllocations).toBe(1);
    release();
    await expect(p).resolves.toBe(5000);
    expect(arena.stats().liveAllocations).toBe(0);

    const q = arena.withReset(async (a) => {
      a.alloc(10);
      await null;
      throw new Error('async failure');
    });
    await expect(q).rejects.toThrow('async failure');
    expect(arena.stats().liveAllocations).toBe(0);
  });

  test('bad work and a destroyed arena are refused; work that destroys the arena is not reset after', () => {
    const arena = makeArena(allocator, views);
    expectError(() => arena.withReset(42 as unknown as () => void), 'ERR_INVALID_ARG_TYPE');
    arena.withReset((a) => a.destroy());
    expect(arena.destroyed).toBe(true);
    expectError(() => arena.withReset(() => 1), 'ERR_ARENA_DESTROYED');
  });
});
