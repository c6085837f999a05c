/*
 * offheap glue — views.
 *
 * Safe mode: one external ArrayBuffer per allocation, type-tagged with the
 * arena's own 128-bit tag (napi_type_tag_object), so a view is proven to be
 * this arena's before anything is detached: another arena's, a Buffer-pool,
 * a plain or a SharedArrayBuffer fails the check and is never touched. free,
 * realloc, reset and destroy detach it (napi_detach_arraybuffer), so no
 * JavaScript can reach freed memory.
 *
 * Finalizers: the hint is a heap Ticket {arena, slot, generation}; the
 * arena's slot table says whether that generation is still the live
 * allocation. A finalizer for an ArrayBuffer that was freed (or detached by
 * reset/destroy) finds a newer generation and changes nothing, even when the
 * same address is live again; one for an allocation that became unreachable
 * without free frees it (the allocation is reclaimed after GC). Tickets hold
 * a reference on the arena, so the region stays mapped until the last one
 * has run. Finalizers never free by address.
 *
 * External memory (what V8 sees of an arena). V8 counts the byteLength of
 * every external ArrayBuffer in its external-memory counter when the
 * ArrayBuffer is made, and takes it off when the ArrayBuffer is detached
 * (at once) or swept after collection; Node also detaches them when an
 * environment ends. From V8 13 on (Node 24+) a change that would take the
 * counter below zero is fatal, so whatever the glue took off the count by
 * napi_adjust_external_memory could abort the process the moment V8 took
 * the same bytes off (a collection, a teardown, or JavaScript transferring
 * the ArrayBuffer), and none of those can be ordered after the glue's own
 * correction, nor prevented: an ArrayBuffer marked untransferable makes
 * Node 24+ abort in its teardown of external ArrayBuffers. Decision: the
 * glue never adjusts V8's count; V8 counts every ArrayBuffer made here as
 * it counts any other:
 *   - a safe view from alloc to free (detach) or collection: alloc+free
 *     never grows the count, and views dropped without free count until
 *     collected, which is the pressure that makes V8 collect them;
 *   - the fast-mode region-wide ArrayBuffer (capacity bytes) and the tag map
 *     (capacity / 32 or / 16), from the arena's creation until collected:
 *     reserved address space, committed only where used. Making one that
 *     large starts a garbage collection (V8's external-memory pressure), once
 *     per fast-mode arena made, not per allocation;
 *   - the mailbox (a few hundred bytes).
 * arena.stats() is the source of truth for the memory an arena commits.
 */
#include "arena.h"

namespace offheap {

static void safe_finalize(napi_env env, void* data, void* hint) {
  (void)data;
  Ticket* t = static_cast<Ticket*>(hint);
  if (t->state == 0) { /* called during a failed creation: the creator cleans up */
    t->state = 2;
    return;
  }
  Arena* a = t->arena;
  if (t->slot < a->slots.size()) {
    Slot& s = a->slots[t->slot];
    if (s.live && s.gen == t->gen) {
      /* Unreachable without free: give the block back. */
      if (s.ref) napi_delete_reference(env, s.ref);
      s.ref = nullptr;
      if (!a->destroyed && !a->core_released && !a->corrupted) {
        core_free(a, s.ptr);
      }
      a->by_ptr.erase(s.ptr);
      s.live = false;
      s.gen++;
      s.ptr = nullptr;
      a->free_slots.push_back(t->slot);
      if (a->live_count) a->live_count--;
    }
  }
  delete t;
  arena_unref(a);
}

napi_value safe_view_create(napi_env env, Arena* a, void* p, size_t len, int* status) {
  uint32_t idx;
  if (!a->free_slots.empty()) {
    idx = a->free_slots.back();
    a->free_slots.pop_back();
  } else {
    idx = (uint32_t)a->slots.size();
    a->slots.emplace_back();
  }
  Slot& s = a->slots[idx];
  Ticket* t = new Ticket{a, idx, s.gen, 0};
  a->refs.fetch_add(1, std::memory_order_relaxed);
  napi_value ab = nullptr;
  napi_status st = napi_create_external_arraybuffer(env, p, len, safe_finalize, t, &ab);
  if (st != napi_ok) {
    /* Node 20 may call the finalizer once on this path (state 2) or not; the
     * block and the ticket are still ours either way. */
    const napi_extended_error_info* info;
    napi_get_last_error_info(env, &info);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    delete t;
    a->refs.fetch_sub(1, std::memory_order_relaxed);
    a->free_slots.push_back(idx);
    *status = ST_VIEW_FAILED;
    return nullptr;
  }
  t->state = 1;
  napi_type_tag_object(env, ab, &a->tag);
  napi_create_reference(env, ab, 0, &s.ref);
  s.ptr = p;
  s.len = len;
  s.live = true;
  a->by_ptr[p] = idx;
  a->live_count++;
  *status = ST_OK;
  return ab;
}

/* Proves `ab` is a live allocation view of this arena, starting at its block.
 * Order matters: nothing is detached or freed unless every check passed. */
int safe_view_lookup(napi_env env, Arena* a, napi_value ab, int64_t byte_offset, uint32_t* slot) {
  bool is_ab = false;
  if (napi_is_arraybuffer(env, ab, &is_ab) != napi_ok || !is_ab) return ST_FOREIGN;
  bool ours = false;
  if (napi_check_object_type_tag(env, ab, &a->tag, &ours) != napi_ok || !ours) return ST_FOREIGN;
  bool detached = false;
  napi_is_detached_arraybuffer(env, ab, &detached);
  if (detached) return ST_NOT_ALLOCATED;
  void* data = nullptr;
  size_t len = 0;
  napi_get_arraybuffer_info(env, ab, &data, &len);
  if (byte_offset != 0) return ST_NOT_ALLOCATED; /* a view inside the block (subarray) */
  auto it = a->by_ptr.find(data);
  if (it == a->by_ptr.end()) return ST_NOT_ALLOCATED;
  Slot& s = a->slots[it->second];
  if (!s.live || s.len != len) return ST_NOT_ALLOCATED;
  int v = core_validate(a, data);
  if (v != ST_OK) return v == ST_FOREIGN ? ST_NOT_ALLOCATED : v;
  *slot = it->second;
  return ST_OK;
}

/* The allocation in `slot` is gone (freed or moved): detach its ArrayBuffer
 * (V8 stops counting it) and start a new generation. When the weak reference
 * is already empty the ArrayBuffer was collected; its finalizer, still
 * pending, then finds a newer generation and changes nothing. */
void safe_view_retire(napi_env env, Arena* a, uint32_t idx, napi_value ab_or_null) {
  Slot& s = a->slots[idx];
  if (!s.live) return;
  napi_value ab = ab_or_null;
  if (!ab && s.ref) napi_get_reference_value(env, s.ref, &ab);
  if (ab) napi_detach_arraybuffer(env, ab);
  if (s.ref) napi_delete_reference(env, s.ref);
  s.ref = nullptr;
  a->by_ptr.erase(s.ptr);
  s.ptr = nullptr;
  s.live = false;
  s.gen++;
  a->free_slots.push_back(idx);
  if (a->live_count) a->live_count--;
}

/* Out of memory in safe mode: allocations whose ArrayBuffer V8 has already
 * collected (weak reference empty, finalizer not yet run: finalizers wait for
 * the event loop, so a synchronous loop never sees them) are unreachable, so
 * their blocks can go back now. Their finalizers then find a newer
 * generation. Returns how many were reclaimed. */
size_t safe_views_reclaim_collected(napi_env env, Arena* a) {
  size_t n = 0;
  for (uint32_t i = 0; i < a->slots.size(); i++) {
    Slot& s = a->slots[i];
    if (!s.live || !s.ref) continue;
    napi_value ab = nullptr;
    if (napi_get_reference_value(env, s.ref, &ab) != napi_ok || ab != nullptr) continue;
    void* p = s.ptr;
    safe_view_retire(env, a, i, nullptr);
    core_free(a, p);
    n++;
  }
  return n;
}

void safe_views_detach_all(napi_env env, Arena* a) {
  for (uint32_t i = 0; i < a->slots.size(); i++) {
    if (a->slots[i].live) safe_view_retire(env, a, i, nullptr);
  }
  a->by_ptr.clear();
}

/* The finalize hint of an ArrayBuffer made by arena_view_create. */
struct ArenaViewHint {
  Arena* arena;
  bool created; /* false while napi_create_external_arraybuffer runs */
  bool finalized_early;
};

static void arena_view_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)data;
  ArenaViewHint* h = static_cast<ArenaViewHint*>(hint);
  if (!h->created) { /* a failed creation (Node may call back at once): the creator cleans up */
    h->finalized_early = true;
    return;
  }
  Arena* a = h->arena;
  delete h;
  arena_unref(a);
}

/* An external ArrayBuffer over `len` bytes of arena memory at `data`, which
 * holds a reference to the arena until it is collected; null when the
 * runtime refuses it. */
napi_value arena_view_create(napi_env env, Arena* a, void* data, size_t len) {
  ArenaViewHint* h = new ArenaViewHint{a, false, false};
  a->refs.fetch_add(1, std::memory_order_relaxed);
  napi_value ab = nullptr;
  if (napi_create_external_arraybuffer(env, data, len, arena_view_finalize, h, &ab) != napi_ok) {
    a->refs.fetch_sub(1, std::memory_order_relaxed); /* the caller still holds one */
    delete h;
    return nullptr;
  }
  h->created = true;
  return ab;
}

/* The fast-mode region-wide ArrayBuffer, tagged as this arena's. */
napi_value region_view_create(napi_env env, Arena* a) {
  napi_value ab = arena_view_create(env, a, a->base, a->capacity);
  if (ab) napi_type_tag_object(env, ab, &a->tag);
  return ab;
}

/* The ArrayBuffer lib/spares.ts keeps over the tag map (spares.cc). */
napi_value tags_view_create(napi_env env, Arena* a) {
  return a->tags ? arena_view_create(env, a, a->tags, a->tags_len) : nullptr;
}

/* The fast-mode mailbox: inside the Arena struct. */
napi_value io_view_create(napi_env env, Arena* a) {
  return arena_view_create(env, a, a->io, sizeof a->io);
}

}  // namespace offheap
