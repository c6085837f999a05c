/*
 * offheap glue — module registration. The addon is context-aware: each
 * environment (the main thread, every worker_thread) gets its own instance
 * data (the list of its arenas) and an environment cleanup hook. When an
 * environment ends (worker exit or terminate, process exit) the hook gives
 * back the pages of every arena it still owns; the address ranges go when
 * the remaining finalizers have dropped their references. A worker's exit
 * touches only its own arenas.
 */
#include <napi.h>

#include "arena.h"

namespace offheap {

void env_link(EnvData* e, Arena* a) {
  a->envdata = e;
  a->env_prev = nullptr;
  a->env_next = e->arenas;
  if (e->arenas) e->arenas->env_prev = a;
  e->arenas = a;
}

void env_unlink(Arena* a) {
  EnvData* e = a->envdata;
  if (!e) return;
  if (a->env_prev) a->env_prev->env_next = a->env_next;
  else e->arenas = a->env_next;
  if (a->env_next) a->env_next->env_prev = a->env_prev;
  a->env_prev = a->env_next = nullptr;
  a->envdata = nullptr;
}

/* Environment teardown: no JavaScript runs any more in it, so no view can be
 * read again; release every arena's pages now. */
static void env_cleanup(void* arg) {
  EnvData* e = static_cast<EnvData*>(arg);
  e->tearing_down = true;
  for (Arena* a = e->arenas; a; a = a->env_next) {
    core_release(a);
    a->destroyed = true;
  }
}

static void env_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  EnvData* e = static_cast<EnvData*>(data);
  /* Arenas that outlive the instance data (finalizers still pending) must
   * not reach back into it. */
  Arena* a = e->arenas;
  while (a) {
    Arena* next = a->env_next;
    a->envdata = nullptr;
    a->env_prev = a->env_next = nullptr;
    a = next;
  }
  delete e;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnvData* e = new EnvData();
  napi_set_instance_data(env, e, env_finalize, nullptr);
  napi_add_env_cleanup_hook(env, env_cleanup, e);
  arena_exports(env, exports);
  return exports;
}

}  // namespace offheap

static Napi::Object InitOffheap(Napi::Env env, Napi::Object exports) {
  return offheap::Init(env, exports);
}

NODE_API_MODULE(offheap, InitOffheap)
