/**
 * Shared arenas: one native arena used by several worker_threads at once. The threaded
 * scenarios run in child processes (test/js/fixtures/shared.js), so a crash shows up as a signal
 * or an exit status instead of taking jest down; the argument checks run here.
 */
import { Arena, ALLOCATORS, describeRun, expectError, makeArena, MiB, runFixture } from './helpers';

function ok(args: string[], timeoutMs = 180000): Record<string, any> {
  const r = runFixture('shared.js', args, [], timeoutMs);
  if (r.signal !== null || r.status !== 0 || r.json === undefined || r.json.ok !== true) {
    throw new Error(`fixture shared.js ${args.join(' ')} failed: ${describeRun(r)}`);
  }
  return r.json as Record<string, any>;
}

describe.each(ALLOCATORS)('%s shared arena, worker_threads (child process)', (allocator) => {
  test('4 workers x 100,000 random alloc/free: owner stamps intact, no overlap, no lost block, check() passes', () => {
    const j = ok(['stress', allocator]);
    expect(j.overlaps).toBe(0);
    expect(j.stampsOk).toBe(true);
    expect(j.liveAllocations).toBe(j.liveTotal);
    expect(j.liveTotal).toBeGreaterThan(0);
    expect(j.addsUp).toBe(true);
    expect(j.liveAfterFree).toBe(0);
  }, 180000);

  test('a block written in one thread is read in another with no copy; cross-thread free and realloc', () => {
    const j = ok(['cross', allocator]);
    expect(j.workerRead).toBe('from main!!');
    expect(j.mainReadsWorkerWrite).toBe('from worker');
    expect(j.freedThere).toBe('ERR_ARENA_NOT_ALLOCATED'); // freed by the worker: a double free here
    expect(j.oldAfterRealloc).toBe('ERR_ARENA_NOT_ALLOCATED'); // moved by the worker's realloc
    expect(j.grownKept).toBe(true);
    expect(j.grownSeenHere).toBe(true);
    expect(j.workerBlock).toBe(true);
    expect(j.liveBefore).toBe(3);
    expect(j.liveAfter).toBe(0);
    expect(j.attachAfterDestroy).toBe('ERR_ARENA_DESTROYED');
    expect(j.shareAfterDestroy).toBe('ERR_ARENA_DESTROYED');
    expect(j.attachUnknown).toBe('ERR_ARENA_DESTROYED');
  }, 180000);

  test('workers terminated mid-operation, 6 rounds of 3: the arena is never wedged or corrupted', () => {
    const j = ok(['terminate', allocator]);
    expect(j.codes.length).toBe(18);
    expect(j.corrupted).toBe(false);
    expect(j.addsUp).toBe(true);
  }, 180000);

  test('destroy from one thread while others allocate: they get ERR_ARENA_DESTROYED, nothing crashes', () => {
    const j = ok(['destroy', allocator]);
    expect(j.exitCodes).toEqual([0, 0, 0]);
    expect(j.workerCodes).toEqual(['ERR_ARENA_DESTROYED', 'ERR_ARENA_DESTROYED', 'ERR_ARENA_DESTROYED']);
    expect(j.mainAfter).toBe('ERR_ARENA_DESTROYED');
  }, 180000);

  test('the creating worker exits: the arena, its blocks and its lock live on for the others', () => {
    const j = ok(['creator', allocator]);
    expect(j.creatorExit).toBe(0);
    expect(j.kept).toBe(true);
    expect(j.live).toBe(0);
  }, 60000);

  test('process.exit() while attached workers allocate is clean', () => {
    const r = runFixture('shared.js', ['exit', allocator], [], 60000);
    expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
    expect(r.json?.exiting).toBe(true);
  }, 60000);
});

describe('shared arenas: options, handles and references', () => {
  const made: Arena[] = [];
  afterEach(() => {
    while (made.length) made.pop()!.destroy();
  });
  function shared(allocator: 'dlmalloc' | 'buddy' = 'dlmalloc'): Arena {
    const a = new Arena({ allocator, shared: true, capacity: 16 * MiB });
    made.push(a);
    return a;
  }

  test('ref() and view() need fast views: a safe-view arena refuses them (ERR_INVALID_STATE)', () => {
    const s = makeArena('dlmalloc', 'safe');
    const b = s.alloc(64);
    expectError(() => s.ref(b), 'ERR_INVALID_STATE', { method: 'ref' });
    expectError(() => s.view({ offset: 0, length: 8 }), 'ERR_INVALID_STATE', { method: 'view' });
    s.free(b);
    s.destroy();
  });

  test('shared arenas have fast views by default; safe views are refused', () => {
    const a = shared();
    expect(a.shared).toBe(true);
    expect(a.views).toBe('fast');
    expectError(() => new Arena({ shared: true, views: 'safe' }), 'ERR_INVALID_ARG_VALUE', { method: 'Arena' });
    expectError(() => new Arena({ shared: 1 as unknown as boolean }), 'ERR_INVALID_ARG_TYPE');
  });

  test('share() is plain data that survives structuredClone; attach in the same thread sees the same memory', () => {
    const a = shared('buddy');
    const h = structuredClone(a.share());
    expect(h).toEqual({ type: 'offheap.SharedArena', serial: expect.any(Number), allocator: 'buddy', capacity: 16 * MiB });
    const b = Arena.attach(h);
    made.push(b);
    const x = a.alloc(100);
    x.write('same memory');
    const y = b.view(a.ref(x));
    expect(y.toString('utf8', 0, 11)).toBe('same memory');
    b.free(y);
    expect(a.stats().liveAllocations).toBe(0);
    expectError(() => a.free(x), 'ERR_ARENA_NOT_ALLOCATED');
  });

  test('share() of an unshared arena and attach() of junk are refused', () => {
    const u = new Arena({ views: 'fast', capacity: MiB });
    made.push(u);
    expectError(() => u.share(), 'ERR_INVALID_STATE', { method: 'share' });
    for (const junk of [null, 1, 'x', {}, { type: 'offheap.SharedArena' }]) {
      expect(() => Arena.attach(junk as never)).toThrow();
    }
    expectError(
      () => Arena.attach({ type: 'offheap.SharedArena', serial: -1, allocator: 'dlmalloc', capacity: MiB }),
      'ERR_OUT_OF_RANGE',
    );
  });

  test('ref() of foreign, freed or interior views and view() of bad references are refused', () => {
    const a = shared();
    const other = shared();
    const x = a.alloc(64);
    expectError(() => a.ref(other.alloc(64)), 'ERR_ARENA_FOREIGN');
    expectError(() => a.ref(Buffer.alloc(8)), 'ERR_ARENA_FOREIGN');
    expectError(() => a.ref(x.subarray(16)), 'ERR_ARENA_NOT_ALLOCATED');
    const r = a.ref(x);
    expect(r).toEqual({ offset: x.byteOffset, length: 64 });
    expectError(() => a.view({ offset: r.offset + 16, length: 8 }), 'ERR_ARENA_NOT_ALLOCATED');
    expectError(() => a.view({ offset: r.offset, length: 1 << 20 }), 'ERR_OUT_OF_RANGE');
    expectError(() => a.view({ offset: -1, length: 8 }), 'ERR_OUT_OF_RANGE');
    expectError(() => a.view({ offset: 1.5, length: 8 }), 'ERR_OUT_OF_RANGE');
    expect(() => a.view(null as never)).toThrow(TypeError);
    a.free(x);
    expectError(() => a.view(r), 'ERR_ARENA_NOT_ALLOCATED');
    expectError(() => a.ref(x), 'ERR_ARENA_NOT_ALLOCATED');
  });

  test('every method works on a shared arena from its own thread', () => {
    const a = shared();
    const b = a.calloc(10, 10);
    expect(b.every((v) => v === 0)).toBe(true);
    const f = a.allocArray(Float64Array, 16);
    const g = a.alignedAlloc(4096, 100);
    expect(g.byteOffset % 4096).toBe(0);
    const r = a.realloc(b, 5000);
    expect(a.usableSize(r)).toBeGreaterThanOrEqual(5000);
    expect(a.owns(f)).toBe(true);
    expect(a.tryAlloc(16 * MiB)).toBeNull();
    a.free(r);
    a.free(f);
    a.free(g);
    a.check();
    expect(a.trim()).toBeGreaterThanOrEqual(0);
    a.reset();
    expect(a.stats().liveAllocations).toBe(0);
  });
});
