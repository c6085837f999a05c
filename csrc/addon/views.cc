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
 * Finalizers: each safe ArrayBuffer has a heap Ticket {arena, slot,
 * generation} with two finalizers, one for its backing store (run when it is
 * detached or collected) and one for the object (run when it is collected);
 * the arena's slot table says whether that generation is still the current
 * view of its block. The last finalizer of an ArrayBuffer that was freed
 * (or detached by reset/destroy) finds a newer generation and changes
 * nothing, even when the same address is live again; the one of an
 * allocation that became unreachable without free frees it (the allocation
 * is reclaimed after GC). Finalizers never free by address.
 *
 * Buffers in flight: Node's asynchronous APIs (zlib, fs, sockets) read a
 * Buffer's memory from other threads through a raw pointer taken when the
 * operation starts, and keep the Buffer object reachable until it ends. A
 * detach does not stop that read, so the ticket keeps its arena reference
 * (and the region mapped) until the object itself is collected, not only
 * its backing store: whatever JavaScript frees or destroys meanwhile, the
 * address range under an operation in flight stays mapped (it may read
 * another block's bytes, or zeros after destroy, but never faults). Views
 * over the whole region (fast mode, and the mailbox, stacks and tag map)
 * are never detached here, and Node never transfers an external
 * ArrayBuffer (Node 20 copies it, 22+ throws DataCloneError), so their
 * backing store lives exactly as long as their object.
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
 * glue never adjusts V8's count for an ArrayBuffer; V8 counts every
 * ArrayBuffer made here as it counts any other (the one adjustment the glue
 * makes is for memory under no ArrayBuffer, added and taken off by the glue
 * alone: reap.cc):
 *   - a safe view from alloc to free (detach) or collection: alloc+free
 *     never grows the count, and views dropped without free count until
 *     collected, which is the pressure that makes V8 collect them;
 *   - the fast-mode region-wide ArrayBuffer (capacity bytes) and the tag map
 *     (capacity / 32 or / 16), from the arena's creation until collected:
 *     reserved address space, committed only where used. Making one that
 *     large starts a garbage collection (V8's external-memory pressure), once
 *     per fast-mode arena made, not per allocation;
 *   - the mailbox and the spares' stacks (a few pages).
 * arena.stats() is the source of truth for the memory an arena commits.
 */
#include "arena.h"

namespace offheap {

/* One holder of the ticket is gone. With the last one nothing reaches the
 * block through this ArrayBuffer any more: if it is still the current view
 * of its block (never freed), the block goes back (the core refuses, and
 * changes nothing, when the arena was destroyed or damaged); then the arena
 * reference goes. Waiting for both holders matters when JavaScript moved the
 * backing store to another ArrayBuffer (ArrayBuffer.prototype.transfer):
 * the old object is collected while the new one still views the block. */
static void ticket_release(Ticket* t) {
  if (--t->holders > 0) return;
  Arena* a = t->arena;
  if (t->slot < a->slots.size()) {
    Slot& s = a->slots[t->slot];
    if (s.current && s.gen == t->gen) {
      oh_free(a->core, s.off);
      a->by_off.erase(s.off);
      s.ticket = nullptr;
      s.current = false;
      s.gen++;
      a->free_slots.push_back(t->slot);
    }
  }
  delete t;
  arena_unref(a);
}

static void store_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)data;
  Ticket* t = static_cast<Ticket*>(hint);
  if (t->state == 0) { /* called during a failed creation: the creator cleans up */
    t->state = 2;
    return;
  }
  ticket_release(t);
}

/* The ArrayBuffer object was collected. */
static void object_finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  Ticket* t = static_cast<Ticket*>(data);
  if (t->obj) napi_delete_reference(env, t->obj);
  t->obj = nullptr;
  ticket_release(t);
}

napi_value safe_view_create(napi_env env, Arena* a, size_t off, size_t len, int* status) {
  uint32_t idx;
  if (!a->free_slots.empty()) {
    idx = a->free_slots.back();
    a->free_slots.pop_back();
  } else {
    idx = (uint32_t)a->slots.size();
    a->slots.emplace_back();
  }
  Slot& s = a->slots[idx];
  Ticket* t = new Ticket{a, idx, s.gen, 0, 2, nullptr};
  a->refs.fetch_add(1, std::memory_order_relaxed);
  napi_value ab = nullptr;
  napi_status st = napi_create_external_arraybuffer(env, a->core->base + off, len, store_finalize, t, &ab);
  if (st != napi_ok) {
    /* Node 20 may call the store finalizer once on this path (state 2) or
     * not; the block and the ticket are still ours either way. */
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    delete t;
    a->refs.fetch_sub(1, std::memory_order_relaxed);
    a->free_slots.push_back(idx);
    *status = OH_VIEW_FAILED;
    return nullptr;
  }
  t->state = 1;
  if (napi_add_finalizer(env, ab, t, object_finalize, nullptr, &t->obj) != napi_ok) {
    /* No object holder: the store's finalizer (after this detach) is the last. */
    t->obj = nullptr;
    t->holders = 1;
    napi_detach_arraybuffer(env, ab);
    a->free_slots.push_back(idx);
    *status = OH_VIEW_FAILED;
    return nullptr;
  }
  napi_type_tag_object(env, ab, &a->tag);
  s.ticket = t;
  s.off = off;
  s.len = len;
  s.current = true;
  a->by_off[off] = idx;
  *status = OH_OK;
  return ab;
}

/* Proves `ab` is the current view of a block of this arena, starting at its
 * block, and finds its slot; whether the block is live is the core's to say,
 * in the call that uses it. Nothing is detached or freed unless this passed. */
int safe_view_lookup(napi_env env, Arena* a, napi_value ab, int64_t byte_offset, uint32_t* slot) {
  bool is_ab = false;
  if (napi_is_arraybuffer(env, ab, &is_ab) != napi_ok || !is_ab) return OH_FOREIGN;
  bool ours = false;
  if (napi_check_object_type_tag(env, ab, &a->tag, &ours) != napi_ok || !ours) return OH_FOREIGN;
  bool detached = false;
  napi_is_detached_arraybuffer(env, ab, &detached);
  if (detached) return OH_NOT_ALLOCATED;
  void* data = nullptr;
  size_t len = 0;
  napi_get_arraybuffer_info(env, ab, &data, &len);
  if (byte_offset != 0) return OH_NOT_ALLOCATED; /* a view inside the block (subarray) */
  auto it = a->by_off.find((size_t)((unsigned char*)data - a->core->base));
  if (it == a->by_off.end()) return OH_NOT_ALLOCATED;
  Slot& s = a->slots[it->second];
  if (!s.current || s.len != len) return OH_NOT_ALLOCATED;
  *slot = it->second;
  return OH_OK;
}

/* The block in `slot` is gone (freed or moved): detach its ArrayBuffer (V8
 * stops counting it; its backing store's finalizer follows) and start a new
 * generation. The ticket stays with the ArrayBuffer object until that is
 * collected. When the weak reference is already empty the object was
 * collected; its finalizer, still pending, then finds a newer generation
 * and changes nothing. */
void safe_view_retire(napi_env env, Arena* a, uint32_t idx, napi_value ab_or_null) {
  Slot& s = a->slots[idx];
  if (!s.current) return;
  napi_value ab = ab_or_null;
  if (!ab && s.ticket && s.ticket->obj) napi_get_reference_value(env, s.ticket->obj, &ab);
  if (ab) napi_detach_arraybuffer(env, ab);
  s.ticket = nullptr;
  a->by_off.erase(s.off);
  s.current = false;
  s.gen++;
  a->free_slots.push_back(idx);
}

/* Out of memory in safe mode: blocks whose ArrayBuffer V8 has already
 * collected (weak reference empty, finalizer not yet run: finalizers wait for
 * the event loop, so a synchronous loop never sees them) are unreachable, so
 * they can go back now. Their finalizers then find a newer generation.
 * Returns how many went back. */
size_t safe_views_reclaim_collected(napi_env env, Arena* a) {
  size_t n = 0;
  for (uint32_t i = 0; i < a->slots.size(); i++) {
    Slot& s = a->slots[i];
    if (!s.current || !s.ticket || !s.ticket->obj) continue;
    napi_value ab = nullptr;
    if (napi_get_reference_value(env, s.ticket->obj, &ab) != napi_ok || ab != nullptr) continue;
    size_t off = s.off;
    safe_view_retire(env, a, i, nullptr);
    if (oh_free(a->core, off) == OH_OK) n++;
  }
  return n;
}

/* True when no current safe view can be reached: each one's ArrayBuffer was
 * collected (its weak reference is empty) or finalized. */
bool safe_views_unreachable(napi_env env, Arena* a) {
  for (const Slot& s : a->slots) {
    if (!s.current || !s.ticket || !s.ticket->obj) continue;
    napi_value ab = nullptr;
    if (napi_get_reference_value(env, s.ticket->obj, &ab) != napi_ok || ab != nullptr) return false;
  }
  return true;
}

void safe_views_detach_all(napi_env env, Arena* a) {
  for (uint32_t i = 0; i < a->slots.size(); i++) {
    if (a->slots[i].current) safe_view_retire(env, a, i, nullptr);
  }
  a->by_off.clear();
}

/* The finalize hint of an ArrayBuffer made by arena_memory_view. */
struct MemoryViewHint {
  Arena* arena;
  bool created; /* false while napi_create_external_arraybuffer runs */
};

static void memory_view_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)data;
  MemoryViewHint* h = static_cast<MemoryViewHint*>(hint);
  if (!h->created) return; /* a failed creation (Node may call back at once): the creator cleans up */
  Arena* a = h->arena;
  delete h;
  arena_unref(a);
}

/* An external ArrayBuffer over `len` bytes of the arena's memory at `data`
 * (its region, mailbox, stacks or tag map), which holds a reference to the
 * arena until it is collected; null when the runtime refuses it. */
napi_value arena_memory_view(napi_env env, Arena* a, void* data, size_t len) {
  MemoryViewHint* h = new MemoryViewHint{a, false};
  a->refs.fetch_add(1, std::memory_order_relaxed);
  napi_value ab = nullptr;
  if (napi_create_external_arraybuffer(env, data, len, memory_view_finalize, h, &ab) != napi_ok) {
    a->refs.fetch_sub(1, std::memory_order_relaxed); /* the caller still holds one */
    delete h;
    return nullptr;
  }
  h->created = true;
  return ab;
}

/* The region-wide ArrayBuffer was collected: no fast view is left. */
static void region_object_finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  Arena* a = static_cast<Arena*>(data);
  if (a->region_obj) napi_delete_reference(env, a->region_obj);
  a->region_obj = nullptr;
  arena_unref(a);
}

/* The fast-mode region-wide ArrayBuffer, tagged as this arena's. An
 * unshared arena also keeps a weak reference to it (reap.cc). */
napi_value region_view_create(napi_env env, Arena* a) {
  napi_value ab = arena_memory_view(env, a, a->core->base, a->core->capacity);
  if (!ab) return nullptr;
  napi_type_tag_object(env, ab, &a->tag);
  if (!a->shared) {
    a->refs.fetch_add(1, std::memory_order_relaxed);
    if (napi_add_finalizer(env, ab, a, region_object_finalize, nullptr, &a->region_obj) != napi_ok) {
      a->region_obj = nullptr;
      a->refs.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  return ab;
}

}  // namespace offheap
