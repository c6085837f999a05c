/*
 * offheap glue — forgotten arenas. An arena that becomes unreachable without
 * destroy() is deleted by its finalizers, but Node runs finalizers only when
 * the event loop turns: a synchronous loop that makes arenas and forgets them
 * would keep every one's pages until it ends, however often V8 collects.
 * Weak references see a collection at once, so each new arena first looks
 * for arenas of its environment that nothing reaches any more (the handle,
 * the fast-mode region and every current safe view collected) and gives their
 * pages back (oh_destroy, as destroy() does). Their finalizers, when they
 * run, find a destroyed arena and delete it as before. What nothing reaches
 * can never be read or written again, so this is unobservable from
 * JavaScript; Node's machinery reading a detached view still in flight reads
 * zeros, as after destroy(), in a range that stays mapped.
 *
 * V8 is also told what each arena commits when made (env_account), so that
 * forgetting arenas is memory pressure it answers by collecting.
 *
 * The scan walks the arenas in service (destroyed ones are on another list)
 * once the environment has made as many arenas as half of those (at least
 * 32), so its cost stays proportional to creations and at most about 32
 * forgotten arenas wait for it.
 */
#include "arena.h"

namespace offheap {

/* External memory. V8 counts the bytes of every ArrayBuffer made over arena
 * memory (views.cc), but a safe-view arena's own pages (a fresh dlmalloc
 * heap segment, buddy's first pages) sit under no ArrayBuffer: without
 * telling V8, a program that forgets thousands of arenas never makes it
 * collect them. The amount is added once when the arena is made and taken
 * off once, by the same glue, so the counter (one per isolate, shared with
 * every ArrayBuffer) never sees a change this glue did not make first. */
void env_account(napi_env env, Arena* a) {
  oh_arena_stats st;
  if (oh_stats(a->core, &st) != OH_OK || st.committed <= 0) return;
  int64_t bytes = (int64_t)st.committed;
  int64_t ignored;
  if (napi_adjust_external_memory(env, bytes, &ignored) == napi_ok) {
    a->env = env;
    a->accounted = bytes;
  }
}

void env_unaccount(Arena* a) {
  if (!a->accounted) return;
  int64_t ignored;
  napi_adjust_external_memory(a->env, -a->accounted, &ignored);
  a->accounted = 0;
}

static bool collected(napi_env env, napi_ref ref) {
  if (!ref) return true; /* finalized (or never made) */
  napi_value v = nullptr;
  return napi_get_reference_value(env, ref, &v) == napi_ok && v == nullptr;
}

void env_reap_forgotten(napi_env env, EnvData* e) {
  e->made_since_reap++;
  if (e->made_since_reap < 32 || e->made_since_reap < e->count[ENV_IN_SERVICE] / 2) return;
  e->made_since_reap = 0;
  Arena* next;
  for (Arena* a = e->arenas[ENV_IN_SERVICE]; a; a = next) {
    next = a->env_next; /* env_destroy moves `a` to the other list */
    if (!collected(env, a->handle_obj) || !collected(env, a->region_obj)) continue;
    if (a->safe && !safe_views_unreachable(env, a)) continue;
    env_destroy(a);
  }
}

}  // namespace offheap
