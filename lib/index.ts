/**
 * offheap — off-heap arenas for Node.js: a native `mmap`'d region per arena,
 * managed by a clean-room dlmalloc or a buddy allocator, handed to JavaScript
 * as Buffers and typed arrays that view the native memory with no copy.
 *
 * ```ts
 * import { Arena } from 'offheap';
 * const arena = new Arena({ allocator: 'dlmalloc', capacity: 1 << 30, views: 'safe' });
 * const buf = arena.alloc(1024);
 * arena.free(buf);
 * arena.destroy();
 * ```
 *
 * @packageDocumentation
 */

export { Arena, liveNativeArenas } from './arena';
export type {
  AllocatorKind,
  ArenaMemory,
  ArenaOptions,
  ArenaRef,
  ArenaStats,
  ArenaStatsCommon,
  ArenaView,
  BuddyDetail,
  BuddyStats,
  DlmallocDetail,
  DlmallocStats,
  SharedArenaHandle,
  TypedArrayConstructor,
  ViewMode,
} from './arena';
export { ArenaError } from './errors';
export { runtimeFeatures } from './runtime';
export type { RuntimeFeatures } from './runtime';
export { Trace, TraceRecorder, TraceOp, TRACE_HEADER, TRACE_MAX_ID, loadTrace, saveTrace } from './trace';
export type { TraceOpCode, TraceOperation, TraceRecorderOptions, TraceStats, TraceSyntaxError } from './trace';
export type {
  ArenaErrorCode,
  OffheapErrorCode,
  OffheapRangeError,
  OffheapStateError,
  OffheapTypeError,
  OffheapValueError,
} from './errors';

/** The package version, read from its package.json. */
// eslint-disable-next-line @typescript-eslint/no-var-requires
export const version: string = (require('../package.json') as { version: string }).version;
