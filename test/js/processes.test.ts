/**
 * Tests that run in child node processes (test/js/fixtures/*.js), because they could crash the
 * process if the implementation were wrong (scribbles, worker termination, access after destroy),
 * need --expose-gc, or need the main realm (Symbol.dispose). Each fixture requires the package
 * root and prints one JSON line; a crash shows up as a signal or a non-zero status.
 */
import { describeRun, runFixture } from './helpers';

function ok(name: string, args: string[] = [], nodeArgs: string[] = [], timeoutMs?: number): Record<string, any> {
  const r = runFixture(name, args, nodeArgs, timeoutMs);
  if (r.signal !== null || r.status !== 0 || r.json === undefined || r.json.ok !== true) {
    throw new Error(`fixture ${name} ${args.join(' ')} failed: ${describeRun(r)}`);
  }
  return r.json as Record<string, any>;
}

describe('two copies of the package in one process (child process)', () => {
  test("neither copy takes the other's views for its own, whatever their arenas' serial numbers", () => {
    const j = ok('two-copies.js');
    for (const views of ['safe', 'fast']) {
      expect({ views, ...j.results[views] }).toEqual({
        views,
        separateCopies: true,
        freeCode: 'ERR_ARENA_FOREIGN',
        owns: false,
        theirsStillLive: true,
        ownStillFrees: true,
      });
    }
  });
});

describe('fast views after destroy (child process)', () => {
  test('pages are released at once; old views read and write without crashing; safe views detach', () => {
    const j = ok('fast-destroy.js', [], ['--expose-gc']);
    for (const f of j.fast) {
      // 96 MiB were resident; at least 80 MiB must go back at destroy
      expect({ allocator: f.allocator, rssDropMiB: f.rssDropMiB >= 80 }).toEqual({ allocator: f.allocator, rssDropMiB: true });
      expect(f.destroyedStatsThrows).toBe(true);
      expect(f.lengthAfterDestroy).toBe(1024 * 1024); // nothing is detached in fast mode
      expect(f.readSumAfterDestroy).toBe(0); // released pages read as zeros
      expect(f.writeOk).toBe(true);
    }
    for (const s of j.safe) expect(s.allDetached).toBe(true);
  }, 120000);

  test('the address range is released once the last view is collected', () => {
    const j = ok('fast-destroy.js', [], ['--expose-gc']);
    for (const f of j.fast) {
      expect(f.mapsWhileLive).toBeGreaterThanOrEqual(1);
      expect({ allocator: f.allocator, rangeReleased: f.rangeReleased }).toEqual({ allocator: f.allocator, rangeReleased: true });
    }
  }, 120000);
});

describe('scribbling over the region (child process)', () => {
  test('random bytes over the whole region, then alloc/free/realloc/check: no crash, only ERR_ARENA_CORRUPTED', () => {
    const j = ok('scribble.js', ['8', '1'], [], 300000);
    expect(j.unexpected).toEqual([]);
    const results = j.results as Array<{ allocator: string; style: string; corrupted: boolean; destroyed: boolean }>;
    expect(results.length).toBe(8 * 2 * 5);
    for (const r of results) expect(r.destroyed).toBe(true);
    // random bytes inside live blocks are the user's business: never reported as corruption
    const inside = results.filter((r) => r.style === 'inside');
    expect(inside.filter((r) => r.corrupted)).toEqual([]);
    // a region full of random bytes is detected in dlmalloc, whose headers are in the region
    const denseDl = results.filter((r) => r.allocator === 'dlmalloc' && r.style === 'dense');
    expect(denseDl.every((r) => r.corrupted)).toBe(true);
    // and at least some damage is detected for buddy (free-list links live in free blocks)
    const denseBuddy = results.filter((r) => r.allocator === 'buddy' && r.style === 'dense');
    expect(denseBuddy.some((r) => r.corrupted)).toBe(true);
  }, 300000);

  test('another seed', () => {
    const j = ok('scribble.js', ['4', '77'], [], 300000);
    expect(j.unexpected).toEqual([]);
  }, 300000);
});

describe('worker_threads (child process)', () => {
  test.each(['natural', 'exit'])('4 workers with their own arenas, terminate mid-allocation, clean exit (%s)', (how) => {
    const j = ok('workers.js', [how], [], 180000);
    expect(j.workers.length).toBe(4);
    for (const w of j.workers) {
      expect(w.code).toBe(0);
      expect(w.ok).toBe(true);
      expect(w.summary.length).toBe(4);
    }
    expect(j.terminations.length).toBe(12);
    for (const c of j.terminations) expect(typeof c).toBe('number');
    expect(j.early.length).toBe(6);
    expect(j.mainIntact).toBe(true);
    expect(j.mainLive).toBe(2);
  }, 180000);
});

describe('garbage collection of safe views (child process, --expose-gc)', () => {
  let j: Record<string, any>;
  beforeAll(() => {
    j = ok('gc.js', [], ['--expose-gc'], 180000);
  }, 180000);

  test('an unreachable safe allocation is reclaimed after GC (stats show it)', () => {
    for (const u of j.unreachable) {
      expect(u).toEqual(
        expect.objectContaining({ reclaimed: true, liveAfter: 1, inUseDropped: true, keptIntact: true }),
      );
      expect(u.peakLive).toBe(204);
    }
  });

  test('a finalizer arriving after free / realloc / reset + reuse of the memory changes nothing', () => {
    for (const l of j.late) {
      expect(l).toEqual({
        allocator: l.allocator,
        live1: 500,
        intact1: true,
        detachedByReset: true,
        live2: 300,
        intact2: true,
        freeErrors: 0,
        liveEnd: 0,
      });
    }
  });

  test('views of a destroyed arena collected later: nothing happens', () => {
    expect(j.destroyed).toEqual([true, true]);
  });
});

test('Symbol.dispose in the main realm destroys the arena; so does `using`, on the lines that have it (24+)', () => {
  const j = ok('dispose.js');
  const hasUsing = Number(process.versions.node.split('.')[0]) >= 24;
  expect(j).toEqual({
    ok: true,
    hasDispose: true,
    codeAfterDispose: 'ERR_ARENA_DESTROYED',
    detached: true,
    usingSyntax: hasUsing,
    usingDestroyed: hasUsing ? true : null,
    usingDetached: hasUsing ? true : null,
  });
});

describe('any call, any arguments, any order (child process)', () => {
  test.each([
    ['1', '30000'],
    ['2', '20000'],
  ])('random API calls with junk, foreign, stale and interior views (seed %s): no crash, known codes, model kept', (seed, ops) => {
    const j = ok('fuzz-api.js', [ops, seed], [], 180000);
    expect(j.problems).toEqual([]);
    expect(j.pooledOk).toBe(true);
    for (const r of j.results) {
      expect(r.counts.calls).toBe(Number(ops));
      // every row of the error table was exercised
      for (const code of ['ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE', 'ERR_ARENA_FOREIGN', 'ERR_ARENA_NOT_ALLOCATED', 'ERR_ARENA_DESTROYED']) {
        expect({ code, seen: (r.counts.errors[code] ?? 0) > 0 }).toEqual({ code, seen: true });
      }
    }
  }, 180000);
});

describe("V8's external-memory count (child process, --expose-gc)", () => {
  // The glue never adjusts V8's count for an ArrayBuffer (csrc/addon/views.cc): on Node 24+ a count below zero
  // aborts the process. A crash of any path below shows as a failed fixture run.
  let j: Record<string, any>;
  beforeAll(() => {
    j = ok('external-memory.js', [], ['--expose-gc'], 180000);
  }, 180000);

  test('a safe view is counted from alloc to free, exactly', () => {
    for (const s of j.safe) {
      expect(s.grownMiB).toBeGreaterThanOrEqual(8);
      expect(s.grownMiB).toBeLessThan(8.01);
      expect(Math.abs(s.backBytes)).toBeLessThan(4096);
    }
  });

  test('no external-memory GC storm: 10,000 safe alloc+free at 4 KiB, 64 KiB and 1 MiB', () => {
    expect(j.storms.length).toBe(6);
    for (const s of j.storms) expect({ ...s, majors: s.majors <= 2 }).toEqual({ ...s, majors: true });
  });

  test("a fast arena's region-wide ArrayBuffer and tag map are counted from creation", () => {
    // 256 MiB of region and 8 or 16 MiB of tag map
    for (const f of j.fast) expect(f.grownMiB).toBeGreaterThanOrEqual(256);
  });

  test('JavaScript detaching an arena ArrayBuffer (transfer) never aborts; the view is then dead', () => {
    for (const t of j.transfers) {
      if (t.safe === 'n/a') continue; // no ArrayBuffer.prototype.transfer on this line
      expect(t.safe).toEqual({ movedLength: 4096, viewDetached: true, freeCode: 'ERR_ARENA_NOT_ALLOCATED' });
      // the moved ArrayBuffer outlives what offheap knows of its block, and never faults
      expect(t.afterReclaim).toEqual({ oom: 'ERR_ARENA_OOM', length: 4096, byte: 'old or reused' });
      expect(t.afterDestroy).toEqual({ length: 4096, byte: 'kept or zero' });
    }
  });

  test('a worker exits with safe and fast views alive; the process exits with views alive', () => {
    expect(j.worker).toEqual({ code: 0, views: 80 });
  });
});

describe('lifecycle stress (child process, --expose-gc)', () => {
  test.each([
    ['6000', '2'],
    ['6000', '3'],
  ])('alloc/calloc/free/realloc/reset/destroy, 1 B - 4 MiB, views and arenas left to GC (%s ops, seed %s)', (nops, seed) => {
    const j = ok('lifecycle-stress.js', [nops, seed], ['--expose-gc'], 180000);
    expect(j.results.length).toBe(4);
    for (const r of j.results) {
      expect({ allocator: r.allocator, views: r.views, problems: r.problems }).toEqual({ allocator: r.allocator, views: r.views, problems: [] });
      expect(r.counts.free + r.counts.realloc + r.counts.reset + r.counts.destroy).toBeGreaterThan(0);
      expect(r.counts.dropped).toBeGreaterThan(0);
    }
  }, 180000);
});

describe('forgotten arenas: unreachable without destroy() (child process, --expose-gc)', () => {
  // Each arena commits its first pages (about 50-110 KiB of RSS). Unreaped, 50,000 of them would
  // hold gigabytes; V8 is told what each commits, and every new arena gives back the pages of
  // the arenas nothing reaches any more (csrc/addon/reap.cc).
  test('50,000 undestroyed 256 MiB safe dlmalloc arenas in an async loop: RSS stays bounded', () => {
    const j = ok('forgotten.js', ['loop', 'safe', 'dlmalloc', '50000', '1000'], ['--expose-gc'], 180000);
    expect(j.count).toBe(50000);
    expect(j.peakGrowthMiB).toBeLessThan(400);
  }, 180000);

  test('20,000 undestroyed buddy arenas in an async loop, and 1,000 fast-view arenas: RSS stays bounded', () => {
    const b = ok('forgotten.js', ['loop', 'safe', 'buddy', '20000', '1000'], ['--expose-gc'], 180000);
    expect(b.peakGrowthMiB).toBeLessThan(600);
    const f = ok('forgotten.js', ['loop', 'fast', 'dlmalloc', '1000', '100'], ['--expose-gc'], 180000);
    expect(f.peakGrowthMiB).toBeLessThan(200);
  }, 180000);

  test('a synchronous loop (finalizers never run in it): each forgotten arena costs well under a reachable one', () => {
    const held = ok('forgotten.js', ['held', 'safe', 'dlmalloc', '3000'], ['--expose-gc'], 180000);
    const j = ok('forgotten.js', ['loop', 'safe', 'dlmalloc', '20000', '0'], ['--expose-gc'], 180000);
    const perArenaKiB = (j.peakGrowthMiB * 1024) / j.count;
    expect(held.perArenaKiB).toBeGreaterThan(30);
    expect({ perArenaKiB, held: held.perArenaKiB, ratio: perArenaKiB / held.perArenaKiB < 0.7 }).toEqual({
      perArenaKiB,
      held: held.perArenaKiB,
      ratio: true,
    });
  }, 180000);

  test('an arena reachable only through its views keeps their contents while arenas around it are reaped', () => {
    const j = ok('forgotten.js', ['kept'], ['--expose-gc'], 120000);
    expect(j.results).toEqual([
      { views: 'safe', allocator: 'dlmalloc', intact: true, freedLength: 0 },
      { views: 'safe', allocator: 'buddy', intact: true, freedLength: 0 },
      { views: 'fast', allocator: 'dlmalloc', intact: true, freedLength: 4096 },
      { views: 'fast', allocator: 'buddy', intact: true, freedLength: 4096 },
    ]);
  }, 120000);
});
