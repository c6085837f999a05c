/*
 * offheap glue — the Node-API side of an arena: argument conversion and V8
 * lifetimes. Every decision about memory is the arena core's (core/arena.h);
 * what is here is what only a JavaScript environment has: views and their
 * finalizers, the handle object, the reference count that keeps the native
 * arena alive while a view can exist, and per-environment state.
 *
 * Files of the glue (one responsibility each):
 *   arena.cc   the entry points lib/binding.ts calls: conversion to the core
 *   views.cc   the ArrayBuffers over arena memory, their type tags and finalizers
 *   shared.cc  shared arenas: the registry that attach() searches
 *   addon.cc   module init, the constants lib/ reads, per-environment state
 *   reap.cc    forgotten arenas: what V8 is told, and pages of unreachable arenas given back
 */
#ifndef OFFHEAP_ADDON_ARENA_H
#define OFFHEAP_ADDON_ARENA_H

#include <node_api.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

extern "C" {
#include "core/arena.h"
}

namespace offheap {

struct Ticket;

/* One safe-mode block's view: the ticket of its ArrayBuffer while that is
 * the current view of the block, and the generation finalizers compare
 * against (never the address). */
struct Slot {
  size_t off = 0;             /* the block's offset in the region */
  size_t len = 0;             /* the ArrayBuffer's byteLength */
  Ticket* ticket = nullptr;   /* the current view's ticket; null when not current */
  uint32_t gen = 0;
  bool current = false;  /* this slot holds the view of a block (the core says whether it is live) */
};

struct Arena;

/* What one safe-mode ArrayBuffer holds of its arena: a reference (so the
 * region stays mapped) until both of its holders are gone:
 *   - the backing store, released when the ArrayBuffer is detached (free,
 *     realloc, reset, destroy) or collected;
 *   - the ArrayBuffer object, collected only when nothing reaches it: a
 *     detached view that Node's machinery still holds (zlib's handle, a
 *     write request) keeps the region mapped under the raw pointer that
 *     machinery took before the detach.
 * Heap-allocated; freed by whichever finalizer runs last. */
struct Ticket {
  Arena* arena;
  uint32_t slot;
  uint32_t gen;
  int state;    /* 0 creating, 1 live, 2 store finalized during a failed creation */
  int holders;  /* 2 (store, object) once created; the arena reference goes at 0 */
  napi_ref obj; /* weak reference to the ArrayBuffer (napi_add_finalizer's), deleted when it is collected */
};

struct EnvData;
enum { ENV_IN_SERVICE = 0, ENV_DESTROYED = 1 }; /* EnvData's two lists */

struct Arena {
  oh_arena* core = nullptr;
  uint64_t serial = 0;
  napi_type_tag tag{}; /* {serial, a random word of this load of the addon}: views proven ours */
  bool safe = true;
  bool shared = false;
  /* References: the JS handle, each view over arena memory, each attached
   * handle of a shared arena. The core is deleted when the last goes. */
  std::atomic<int> refs{1};

  /* safe views: slot by block offset */
  std::vector<Slot> slots;
  std::vector<uint32_t> free_slots;
  std::unordered_map<size_t, uint32_t> by_off;

  /* Weak references to the JavaScript objects that reach this (unshared)
   * arena's memory, each deleted by its own finalizer (null then): the
   * handle, and in fast mode the region-wide ArrayBuffer every fast view
   * holds. Safe views have theirs in their tickets. When all of them are
   * empty, nothing can reach the memory any more (reap.cc). */
  napi_ref handle_obj = nullptr;
  napi_ref region_obj = nullptr;
  /* What V8 is told this (unshared) arena holds beyond its ArrayBuffers:
   * what it committed when made, added then, taken off once when its pages
   * go back (destroy, reap, teardown) or it is deleted (reap.cc). */
  napi_env env = nullptr;
  int64_t accounted = 0;

  /* the environment that made it (not for shared arenas), doubly linked in one of its lists */
  EnvData* envdata = nullptr;
  int env_list = ENV_IN_SERVICE;
  Arena* env_prev = nullptr;
  Arena* env_next = nullptr;
};

void arena_unref(Arena* a); /* drops one reference; deletes at zero */

/* shared.cc */
void shared_register(Arena* a);
Arena* shared_attach(uint64_t serial); /* a new reference, or null */
bool shared_unref(Arena* a);           /* true when that was the last reference */

/* views.cc */
napi_value safe_view_create(napi_env env, Arena* a, size_t off, size_t len, int* status);
int safe_view_lookup(napi_env env, Arena* a, napi_value ab, int64_t byte_offset, uint32_t* slot);
void safe_view_retire(napi_env env, Arena* a, uint32_t slot, napi_value ab_or_null);
void safe_views_detach_all(napi_env env, Arena* a);
size_t safe_views_reclaim_collected(napi_env env, Arena* a);
napi_value region_view_create(napi_env env, Arena* a);
napi_value arena_memory_view(napi_env env, Arena* a, void* data, size_t len);

/* addon.cc: per-environment state. The environment's arenas not yet
 * deleted, in two lists: those in service, and those destroyed (pages given
 * back) whose finalizers have yet to run. */
struct EnvData {
  Arena* arenas[2] = {nullptr, nullptr};
  size_t count[2] = {0, 0};
  size_t made_since_reap = 0;
};
void env_link(EnvData* e, Arena* a, int list);
void env_unlink(Arena* a);
void env_destroy(Arena* a); /* oh_destroy, and the arena moves to the destroyed list */

/* reap.cc: arenas nothing can reach any more give their pages back */
void env_reap_forgotten(napi_env env, EnvData* e);
void env_account(napi_env env, Arena* a); /* tells V8 what the new arena commits */
void env_unaccount(Arena* a);             /* takes that off again (once) */
bool safe_views_unreachable(napi_env env, Arena* a); /* views.cc */

/* arena.cc */
napi_value arena_exports(napi_env env, napi_value exports);

}  // namespace offheap

#endif
