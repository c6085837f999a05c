/*
 * offheap glue — module registration. The addon is context-aware: each
 * environment (the main thread, every worker_thread) gets its own instance
 * data (the list of its arenas) and an environment cleanup hook. When an
 * environment ends (worker exit or terminate, process exit) the hook
 * destroys every arena it still owns (the pages go back); the address ranges
 * go when the remaining finalizers have dropped their references. A worker's
 * exit touches only its own arenas.
 *
 * The module also exports `constants`: the numbers lib/ shares with the
 * arena core (statuses, kinds, the mailbox layout, the spare class table and
 * tag bits, the stats fields, dlmalloc's tuning parameters), read from the
 * core's headers so that no language declares them twice.
 */
#include <napi.h>

#include "arena.h"

namespace offheap {

void env_link(EnvData* e, Arena* a, int list) {
  a->envdata = e;
  a->env_list = list;
  a->env_prev = nullptr;
  a->env_next = e->arenas[list];
  if (e->arenas[list]) e->arenas[list]->env_prev = a;
  e->arenas[list] = a;
  e->count[list]++;
}

void env_unlink(Arena* a) {
  EnvData* e = a->envdata;
  if (!e) return;
  if (a->env_prev) a->env_prev->env_next = a->env_next;
  else e->arenas[a->env_list] = a->env_next;
  if (a->env_next) a->env_next->env_prev = a->env_prev;
  a->env_prev = a->env_next = nullptr;
  a->envdata = nullptr;
  e->count[a->env_list]--;
}

void env_destroy(Arena* a) {
  oh_destroy(a->core);
  env_unaccount(a);
  EnvData* e = a->envdata;
  if (!e || a->env_list == ENV_DESTROYED) return;
  env_unlink(a);
  env_link(e, a, ENV_DESTROYED);
}

/* Environment teardown: no JavaScript runs any more in it, so no view can be
 * read again; every arena's pages go back now. */
static void env_cleanup(void* arg) {
  EnvData* e = static_cast<EnvData*>(arg);
  while (e->arenas[ENV_IN_SERVICE]) env_destroy(e->arenas[ENV_IN_SERVICE]);
}

static void env_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  EnvData* e = static_cast<EnvData*>(data);
  /* Arenas that outlive the instance data (finalizers still pending) must
   * not reach back into it. */
  for (Arena* a : e->arenas) {
    while (a) {
      Arena* next = a->env_next;
      a->envdata = nullptr;
      a->env_prev = a->env_next = nullptr;
      a = next;
    }
  }
  delete e;
}

template <typename T>
static Napi::Array array_of(Napi::Env env, const T* values, uint32_t n) {
  Napi::Array a = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) a.Set(i, (double)values[i]);
  return a;
}

static void push(Napi::Array list, const char* name) { list.Set(list.Length(), name); }

static Napi::Object constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);

  Napi::Object status = Napi::Object::New(env);
#define STATUS(name, value) status.Set(#name, (double)value);
  OH_STATUSES(STATUS)
#undef STATUS
  c.Set("status", status);

  Napi::Object kinds = Napi::Object::New(env);
#define KIND(name, value, label) kinds.Set(label, (double)value);
  OH_KINDS(KIND)
#undef KIND
  c.Set("kinds", kinds);

  Napi::Object io = Napi::Object::New(env);
#define IO(name, value) io.Set(#name, (double)value);
  OH_IO(IO)
#undef IO
  c.Set("io", io);

  const oh_spare_table* t = oh_spare_table_get();
  Napi::Object sp = Napi::Object::New(env);
  sp.Set("classes", (double)OH_SPARE_CLASSES);
  sp.Set("maxBytes", (double)OH_SPARE_MAX_BYTES);
  sp.Set("stacksAt", (double)OH_SPARE_STACKS_AT);
  sp.Set("tagClass", (double)OH_TAG_CLASS);
  sp.Set("tagSpare", (double)OH_TAG_SPARE);
  sp.Set("tagHigh", (double)OH_TAG_HIGH);
  sp.Set("bytes", array_of(env, t->bytes, OH_SPARE_CLASSES + 1));
  sp.Set("depth", array_of(env, t->depth, OH_SPARE_CLASSES + 1));
  sp.Set("base", array_of(env, t->base, OH_SPARE_CLASSES + 1));
  Napi::Object class_of = Napi::Object::New(env); /* per allocator: its class map */
#define CLASS_MAP(name, value, label) \
  class_of.Set(label, array_of(env, t->class_of_16[oh_spare_class_map(value)], OH_SPARE_MAX_BYTES / 16 + 1));
  OH_KINDS(CLASS_MAP)
#undef CLASS_MAP
  sp.Set("classOf16", class_of);
  c.Set("spares", sp);

  Napi::Array stats = Napi::Array::New(env), dl = Napi::Array::New(env), buddy = Napi::Array::New(env);
#define ADD_STAT(name) push(stats, #name);
#define ADD_DL(name) push(dl, #name);
#define ADD_BUDDY(name) push(buddy, #name);
  OH_STATS(ADD_STAT)
  OH_DETAIL_DLMALLOC(ADD_DL)
  OH_DETAIL_BUDDY(ADD_BUDDY)
#undef ADD_STAT
#undef ADD_DL
#undef ADD_BUDDY
  c.Set("stats", stats);
  Napi::Object detail = Napi::Object::New(env);
  detail.Set("dlmalloc", dl);
  detail.Set("buddy", buddy);
  c.Set("detail", detail);

  Napi::Object tuning = Napi::Object::New(env);
  tuning.Set("trimThreshold", (double)M_TRIM_THRESHOLD);
  tuning.Set("granularity", (double)M_GRANULARITY);
  tuning.Set("mmapThreshold", (double)M_MMAP_THRESHOLD);
  tuning.Set("max", (double)OH_MAX_TUNING);
  c.Set("tuning", tuning);
  c.Set("retainDefault", (double)OH_RETAIN_DEFAULT);
  return c;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnvData* e = new EnvData();
  napi_set_instance_data(env, e, env_finalize, nullptr);
  napi_add_env_cleanup_hook(env, env_cleanup, e);
  arena_exports(env, exports);
  exports.Set("constants", constants(env));
  return exports;
}

}  // namespace offheap

static Napi::Object InitOffheap(Napi::Env env, Napi::Object exports) {
  return offheap::Init(env, exports);
}

NODE_API_MODULE(offheap, InitOffheap)
