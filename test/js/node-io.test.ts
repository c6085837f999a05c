/**
 * Arena views handed to Node's own machinery: asynchronous I/O (zlib, fs, net, stream) and the
 * structured clone algorithm (structuredClone, postMessage, workerData). Every scenario runs in
 * its own child process (test/js/fixtures/in-flight.js, clone.js), so that a crash is a signal or
 * a status, and the child's exit is checked as well as its report.
 *
 * Freeing a view, or destroying its arena, before Node is done with it is the caller's bug, but
 * never ends the process by a signal — with one documented exception on Node 20, zlib's own
 * assertion (`Buffer::IsWithinBounds`, SIGABRT), which Node 22 turned into a RangeError.
 */
import { ALLOCATORS, COMBOS, VIEWS, describeRun, runFixture, type FixtureResult } from './helpers';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const MiB = 1024 * 1024;
/** Each child process must be done within this (a hang is a failure, not a wait). */
const CHILD_MS = 30000;
/** Times each misuse scenario runs, each in a fresh process (the crashes guarded against were timing dependent). */
const REPEATS = 5;

function inFlight(scenario: string, views: string, allocator: string): FixtureResult {
  return runFixture('in-flight.js', [scenario, views, allocator], ['--expose-gc'], CHILD_MS);
}

/** The report of a child that ran to its end by itself: status 0, no signal, ok: true. */
function cleanReport(r: FixtureResult, what: string): Record<string, any> {
  if (r.signal !== null || r.status !== 0 || r.json === undefined || r.json.ok !== true) {
    throw new Error(`${what}: ${describeRun(r)}`);
  }
  return r.json as Record<string, any>;
}

describe('buffers in flight: the documented patterns deliver every byte (child process per scenario)', () => {
  // scenario → blocks it frees (every one is then reallocated and overwritten with 0xee)
  const scenarios: Array<[string, number]> = [
    ['zlib-callback', 1], // zlib.deflate(b, cb), free in the callback
    ['zlib-stream-cb', 4], // gzip.write(b, cb), free in the write callback
    ['zlib-stream-fa', 4], // arena.freeAfter(gzip, ...blocks), gzip.end()
    ['zlib-sync', 1], // deflateSync, free at once
    ['fs-callback', 4], // fs.write(fd, b, ..., cb), free in the callback
    ['fs-promises', 3], // await filehandle.write / writeFile; freeAfter(writeFile(...), b)
    ['tcp-callback', 1], // 8 MiB socket.write(b, cb), free in the callback
    ['tcp-fa', 1], // socket.write(b); socket.end(); freeAfter(socket, b)
    ['pipeline', 8], // pipeline(Readable.from(blocks), createGzip(), createWriteStream)
  ];
  const cases: Array<[string, number, string, string]> = [];
  for (const [s, n] of scenarios) for (const [a, v] of COMBOS) cases.push([s, n, v, a]);

  test.each(cases)('%s (frees %i): %s views, %s', (scenario, freed, views, allocator) => {
    const j = cleanReport(inFlight(scenario, views, allocator), `${scenario} ${views} ${allocator}`);
    expect({ scenario, intact: j.intact }).toEqual({ scenario, intact: true });
    expect(j.freed).toBe(freed);
    // the blocks were really freed: only their reallocations are live
    expect({ liveEnd: j.liveEnd, reused: j.reused }).toEqual({ liveEnd: freed, reused: freed });
    if (scenario.startsWith('tcp-')) expect(j.received).toBe(8 * MiB);
    if (scenario.startsWith('fs-')) expect(j.written).toBe(true);
  }, 60000);

  test.each(COMBOS)(
    'the arena becomes unreachable and is collected while zlib and fs read its views; both complete intact (%s, %s views)',
    (allocator, views) => {
      const j = cleanReport(inFlight('unreachable', views, allocator), `unreachable ${views} ${allocator}`);
      expect({
        arenaCollected: j.arenaCollected,
        inFlightAtCollection: j.inFlightAtCollection,
        zlibIntact: j.zlibIntact,
        fsIntact: j.fsIntact,
      }).toEqual({
        arenaCollected: true,
        inFlightAtCollection: { zlib: true, fs: true },
        zlibIntact: true,
        fsIntact: true,
      });
      expect(j.collections).toBeGreaterThan(1);
    },
    60000,
  );

  // The comparisons above can fail: the same calls with the block freed and reused at once.
  test.each(ALLOCATORS)('control: zlib.deflate(b, cb) then free + reuse at once damages the output (fast views, %s)', (allocator) => {
    const j = cleanReport(inFlight('zlib-early', 'fast', allocator), `zlib-early ${allocator}`);
    expect(j.intact).toBe(false);
  }, 60000);

  test.each(COMBOS)('control: socket.write(8 MiB) then free + reuse at once: the peer gets other bytes (%s, %s views)', (allocator, views) => {
    const j = cleanReport(inFlight('tcp-early', views, allocator), `tcp-early ${views} ${allocator}`);
    expect({ received: j.received, intact: j.intact }).toEqual({ received: 8 * MiB, intact: false });
  }, 60000);
});

/*
 * Misuse. Each run is classified:
 *   clean         status 0, no signal, Node's callback/stream reported success (with whatever
 *                 bytes the memory held)
 *   out-of-range  status 0, no signal, zlib threw RangeError ERR_OUT_OF_RANGE "input buffer is
 *                 out of bounds" from its own callback (the fixture catches it with
 *                 process.on('uncaughtException'))
 *   node20-abort  SIGABRT with zlib's "Assertion failed: Buffer::IsWithinBounds" (Node 20 only)
 * anything else (another signal, status, code, or a hang) is reported as it is and fails.
 */
type Outcome = 'clean' | 'out-of-range' | 'node20-abort' | string;

function classify(scenario: string, r: FixtureResult): Outcome {
  if (r.signal === 'SIGABRT' && /Assertion failed: Buffer::IsWithinBounds/.test(r.stderr)) return 'node20-abort';
  if (r.signal !== null || r.status !== 0 || r.json === undefined || r.json.ok !== true) {
    return `unexpected: ${describeRun(r)}`;
  }
  const j = r.json as Record<string, any>;
  if (j.zlibError !== null) {
    if (
      j.zlibError === 'ERR_OUT_OF_RANGE' &&
      j.zlibErrorHow === 'uncaught' &&
      j.zlibErrorMessage === 'input buffer is out of bounds' &&
      j.zlibErrorStack === true
    ) {
      return 'out-of-range';
    }
    return `unexpected zlib error: ${JSON.stringify(j)}`;
  }
  const cb = j.callback;
  if (cb === null || cb.err !== null) return `no successful completion: ${JSON.stringify(j)}`;
  if (scenario.startsWith('m-fs-') && cb.written !== MiB) return `short write: ${JSON.stringify(j)}`;
  if (scenario === 'm-tcp-free' && (cb.received !== 8 * MiB || j.writeErr !== null)) return `short send: ${JSON.stringify(j)}`;
  if (scenario.includes('zlib') || scenario.includes('gz')) {
    if (!(cb.length > 0)) return `no output: ${JSON.stringify(j)}`;
  }
  return 'clean';
}

/** What each misuse scenario may end in, per view mode, on this Node line. */
function allowed(scenario: string, views: string): Outcome[] {
  const zlibDetached = NODE_MAJOR === 20 ? 'node20-abort' : 'out-of-range';
  if (views === 'fast') return ['clean']; // nothing is detached: Node reads freed or released memory
  switch (scenario) {
    case 'm-zlib-free':
    case 'm-gz-write-free':
      // 1 MiB of random bytes takes zlib several rounds; the input is detached after the first
      return [zlibDetached];
    case 'm-zlib-destroy':
      // destroy() releases the pages: when they read as zeros before zlib's first round, the
      // whole input goes in that round and zlib never looks at the detached Buffer again
      return ['clean', zlibDetached];
    default:
      return ['clean'];
  }
}

describe(`buffers in flight: misuse never ends the process by a signal (${REPEATS} fresh processes each${NODE_MAJOR === 20 ? '; Node 20: zlib aborts as documented' : ''})`, () => {
  const scenarios = ['m-zlib-free', 'm-gz-write-free', 'm-zlib-destroy', 'm-fs-free', 'm-fs-destroy', 'm-tcp-free'];
  const cases: Array<[string, string]> = [];
  for (const s of scenarios) for (const v of VIEWS) cases.push([s, v]);

  test.each(cases)('%s, %s views', (scenario, views) => {
    const want = allowed(scenario, views);
    const runs: Array<{ allocator: string; outcome: Outcome; signal: string | null }> = [];
    for (let i = 0; i < REPEATS; i++) {
      const allocator = ALLOCATORS[i % ALLOCATORS.length]!;
      const r = inFlight(scenario, views, allocator);
      runs.push({ allocator, outcome: classify(scenario, r), signal: r.signal });
    }
    expect(runs.filter((r) => !want.includes(r.outcome))).toEqual([]);
    if (NODE_MAJOR !== 20 || !want.includes('node20-abort')) {
      expect(runs.filter((r) => r.signal !== null)).toEqual([]);
    }
  }, 120000);
});

/* ---- cloning ------------------------------------------------------------------------------ */

function cloneRun(args: string[]): Record<string, any> {
  // cleanReport: the process exits by itself, status 0, no signal, after each case on every line
  return cleanReport(runFixture('clone.js', args, [], CHILD_MS), `clone.js ${args.join(' ')}`);
}

describe('cloning arena views (child process per case)', () => {
  const LENGTH = 1000;
  const untouched = (bufferByteLength: number) => ({ tag: 'Uint8Array', length: LENGTH, byteOffset: expect.any(Number), bufferByteLength, same: true });

  test('structuredClone / postMessage of a safe view: an ordinary Uint8Array of the block, same bytes', () => {
    const j = cloneRun(['clone', 'safe']);
    const copy = { tag: 'Uint8Array', length: LENGTH, byteOffset: 0, bufferByteLength: LENGTH, same: true };
    for (const how of ['structuredClone', 'channel', 'worker']) {
      expect({ how, ...j[how] }).toEqual({ how, threw: null, received: copy });
    }
    for (const k of ['senderAfterStructuredClone', 'senderAfterChannel', 'senderAfterWorker']) {
      expect({ k, ...j[k] }).toEqual({ k, ...untouched(LENGTH) });
    }
    expect({ workerExit: j.workerExit, freeOk: j.freeOk }).toEqual({ workerExit: 0, freeOk: true });
  }, 60000);

  test('structuredClone / postMessage of a fast view: the block, but its buffer is a copy of the whole region (the documented cost)', () => {
    const j = cloneRun(['clone', 'fast']);
    expect(j.capacity).toBe(4 * MiB);
    expect(j.byteOffset).toBeGreaterThan(0);
    const copy = { tag: 'Uint8Array', length: LENGTH, byteOffset: j.byteOffset, bufferByteLength: j.capacity, same: true };
    for (const how of ['structuredClone', 'channel', 'worker']) {
      expect({ how, ...j[how] }).toEqual({ how, threw: null, received: copy });
    }
    for (const k of ['senderAfterStructuredClone', 'senderAfterChannel', 'senderAfterWorker']) {
      expect({ k, ...j[k] }).toEqual({ k, ...untouched(j.capacity) });
    }
    expect({ workerExit: j.workerExit, freeOk: j.freeOk }).toEqual({ workerExit: 0, freeOk: true });
  }, 60000);

  test.each(VIEWS)(
    `a transfer list naming the view's ArrayBuffer (%s views): ${NODE_MAJOR >= 22 ? 'DataCloneError' : 'Node 20 copies silently'}; the sender's view is untouched`,
    (views) => {
      const j = cloneRun(['transfer', views]);
      const whole = views === 'fast' ? j.capacity : LENGTH;
      const expected =
        NODE_MAJOR >= 22
          ? { threw: 'DataCloneError', received: null }
          : {
              threw: null,
              received: { tag: 'Uint8Array', length: LENGTH, byteOffset: views === 'fast' ? j.byteOffset : 0, bufferByteLength: whole, same: true },
            };
      for (const how of ['structuredClone', 'channel', 'worker']) {
        expect({ how, ...j[how] }).toEqual({ how, ...expected });
      }
      for (const k of ['senderAfterStructuredClone', 'senderAfterChannel', 'senderAfterWorker']) {
        expect({ k, ...j[k] }).toEqual({ k, ...untouched(whole) });
      }
      // still a live block of the arena
      expect({ workerExit: j.workerExit, freeOk: j.freeOk }).toEqual({ workerExit: 0, freeOk: true });
    },
    60000,
  );

  test("a shared arena's view in workerData is a copy; arena.ref + Arena.attach(arena.share()) reach the sender's memory", () => {
    const j = cloneRun(['worker-data']);
    expect(j.views).toBe('fast');
    // the worker's copy: the block's bytes, over a copy of the whole region
    expect(j.worker.got).toEqual({ tag: 'Uint8Array', length: 4096, sawSender: true, bufferByteLength: j.capacity });
    expect({
      viewSawSender: j.worker.viewSawSender,
      viewLength: j.worker.viewLength,
      copyUnchanged: j.worker.copyUnchanged,
      workerExit: j.workerExit,
      copyReachedSender: j.copyReachedSender,
      refReachedSender: j.refReachedSender,
    }).toEqual({
      viewSawSender: true,
      viewLength: 4096,
      copyUnchanged: true,
      workerExit: 0,
      copyReachedSender: false,
      refReachedSender: true,
    });
  }, 60000);
});
