/**
 * Recording an arena's allocation trace (`arena.startTrace()` / `stopTrace()`):
 * maps each live block to its trace id and feeds a {@link TraceRecorder}. A
 * block is known by its memory — fast views: its offset in the region; safe
 * views: its own ArrayBuffer — so any view of a block names the same block.
 * Only successful operations are recorded, after they succeed.
 *
 * @internal
 */
import { Trace, TraceRecorder } from './trace';

/** What identifies a block: an offset (fast views) or the block's ArrayBuffer (safe views). */
export type BlockKey = number | ArrayBufferLike;

export class TraceTap {
  readonly #rec: TraceRecorder;
  readonly #ids = new Map<BlockKey, number>();

  constructor(comments: readonly string[]) {
    this.#rec = new TraceRecorder({ comments });
  }

  alloc(key: BlockKey, size: number, zeroed: boolean): void {
    this.#ids.set(key, zeroed ? this.#rec.calloc(size) : this.#rec.alloc(size));
  }

  realloc(oldKey: BlockKey, newKey: BlockKey, size: number): void {
    const id = this.#ids.get(oldKey);
    if (id === undefined) {
      // A block allocated before recording started: it enters the trace here.
      this.alloc(newKey, size, false);
      return;
    }
    this.#ids.delete(oldKey);
    this.#ids.set(newKey, id);
    this.#rec.realloc(id, size);
  }

  free(key: BlockKey): void {
    const id = this.#ids.get(key);
    if (id === undefined) return; // allocated before recording started
    this.#ids.delete(key);
    this.#rec.free(id);
  }

  reset(): void {
    this.#ids.clear();
    this.#rec.reset();
  }

  finish(): Trace {
    return this.#rec.finish();
  }
}
