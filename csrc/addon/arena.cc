/*
 * offheap glue — the entry points lib/binding.ts calls: each converts its
 * arguments, calls the arena core once, and converts the result.
 *
 * create(kind, capacity, safe, minBlock, tuning, shared) returns a handle
 * object whose methods are functions bound to the native arena (the arena is
 * the function's data, so a call costs no lookup). lib/ validated the
 * arguments; a value that does not convert is reported as OH_INVALID (or
 * OH_FOREIGN for an offset), never trusted.
 *
 * Results: fast mode returns offsets into the region (JS builds the view over
 * the region-wide ArrayBuffer: cheaper than making it here); safe mode
 * returns a new external ArrayBuffer per block. Failures are negative
 * statuses (core/status.h). The hot fast-mode calls use the C Node-API
 * directly (each node-addon-api wrapper layer costs a few ns per call,
 * measured in napi-cost-measurements).
 */
#include <napi.h>

#include <cmath>
#include <cstring>
#include <random>

#include "arena.h"

namespace offheap {

static std::atomic<uint64_t> g_serial{1};

/* The upper half of every type tag this copy of the addon makes: random per
 * load, so that two copies of the addon in one process (two installs of the
 * package) never take each other's ArrayBuffers for their own. */
static uint64_t tag_word() {
  static const uint64_t word = [] {
    std::random_device rd;
    uint64_t w = ((uint64_t)rd() << 32) ^ rd();
    return w ^ (uint64_t)(uintptr_t)&g_serial;
  }();
  return word;
}

/* ---- conversion ---------------------------------------------------------- */

struct Call {
  napi_env env;
  Arena* a;
  size_t argc;
  napi_value argv[3];
};

static inline bool get_call(napi_env env, napi_callback_info info, Call* c) {
  c->env = env;
  c->argc = 3;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &c->argc, c->argv, nullptr, &data) != napi_ok) return false;
  c->a = static_cast<Arena*>(data);
  return true;
}

static inline napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

/* A size or offset: a finite non-negative integer <= limit. */
static inline bool get_size(napi_env env, napi_value v, size_t limit, size_t* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= 0) || d > (double)limit || d != std::floor(d)) return false;
  *out = (size_t)d;
  return true;
}

/* The call's arguments (at least `n`); the first `k` of them as sizes. */
static inline int sizes(napi_env env, napi_callback_info info, size_t n, size_t k, Call* c, size_t* out) {
  if (!get_call(env, info, c) || c->argc < n) return OH_INVALID;
  for (size_t i = 0; i < k; i++)
    if (!get_size(env, c->argv[i], c->a->core->capacity, &out[i])) return OH_INVALID;
  return OH_OK;
}

/* An offset argument: one that does not convert is not inside the region. */
static inline size_t offset_arg(Call& c, napi_value v) {
  size_t off;
  return get_size(c.env, v, c.a->core->capacity, &off) ? off : c.a->core->capacity + 1;
}

static inline napi_value offset_or_status(napi_env env, int s, size_t off) {
  return num(env, s == OH_OK ? (double)off : (double)s);
}

static inline Arena* data_of(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, nullptr, nullptr, &data);
  return static_cast<Arena*>(data);
}

/* ---- fast mode: offsets ---------------------------------------------------- */

template <int (*F)(oh_arena*, size_t, size_t*)>
static napi_value fast_alloc_with(napi_env env, napi_callback_info info) {
  Call c;
  size_t n, off = 0;
  int s = sizes(env, info, 1, 1, &c, &n);
  if (s == OH_OK) s = F(c.a->core, n, &off);
  return offset_or_status(env, s, off);
}

static napi_value fast_memalign(napi_env env, napi_callback_info info) {
  Call c;
  size_t v[2], off = 0;
  int s = sizes(env, info, 2, 2, &c, v);
  if (s == OH_OK) s = oh_memalign(c.a->core, v[0], v[1], &off);
  return offset_or_status(env, s, off);
}

static napi_value fast_free(napi_env env, napi_callback_info info) {
  Call c;
  if (!get_call(env, info, &c) || c.argc < 1) return num(env, OH_INVALID);
  return num(env, oh_free(c.a->core, offset_arg(c, c.argv[0])));
}

static napi_value fast_realloc(napi_env env, napi_callback_info info) {
  Call c;
  size_t n, off = 0;
  if (!get_call(env, info, &c) || c.argc < 2) return num(env, OH_INVALID);
  if (!get_size(env, c.argv[1], c.a->core->capacity, &n)) return num(env, OH_INVALID);
  int s = oh_realloc(c.a->core, offset_arg(c, c.argv[0]), n, &off);
  return offset_or_status(env, s, off);
}

static napi_value fast_usable(napi_env env, napi_callback_info info) {
  Call c;
  size_t n = 0;
  if (!get_call(env, info, &c) || c.argc < 1) return num(env, OH_INVALID);
  int s = oh_usable(c.a->core, offset_arg(c, c.argv[0]), &n);
  return offset_or_status(env, s, n);
}

static napi_value fast_validate(napi_env env, napi_callback_info info) {
  Call c;
  if (!get_call(env, info, &c) || c.argc < 1) return num(env, OH_INVALID);
  return num(env, oh_validate(c.a->core, offset_arg(c, c.argv[0])));
}

/* The mailbox calls (core/arena.h): no arguments, no result value. */
template <void (*F)(oh_arena*)>
static napi_value io_call(napi_env env, napi_callback_info info) {
  F(data_of(env, info)->core);
  return nullptr;
}

/* ---- safe mode: one ArrayBuffer per block ------------------------------------ */

/* The view of a new block, or the status; the block goes back when the
 * runtime refuses the view. A zero-length external ArrayBuffer may lose its
 * data pointer in V8, and the pointer is how free finds the block: such an
 * ArrayBuffer is 1 byte long (inside the block: every block has at least
 * 16), the view 0. */
static napi_value safe_result(napi_env env, Arena* a, int s, size_t off, size_t len) {
  if (s) return num(env, s);
  int st;
  napi_value ab = safe_view_create(env, a, off, len ? len : 1, &st);
  if (!ab) {
    oh_free(a->core, off);
    return num(env, st);
  }
  return ab;
}

/* Out of room: blocks whose views V8 has already collected go back (their
 * finalizers have not run yet), then the allocation is tried once more. */
template <typename F>
static int safe_allocate(napi_env env, Arena* a, F f) {
  int s = f();
  if (s == OH_OOM && safe_views_reclaim_collected(env, a) > 0) s = f();
  return s;
}

template <int (*F)(oh_arena*, size_t, size_t*)>
static napi_value safe_alloc_with(napi_env env, napi_callback_info info) {
  Call c;
  size_t n, off = 0;
  int s = sizes(env, info, 1, 1, &c, &n);
  if (s == OH_OK) s = safe_allocate(env, c.a, [&] { return F(c.a->core, n, &off); });
  return safe_result(env, c.a, s, off, n);
}

static napi_value safe_memalign(napi_env env, napi_callback_info info) {
  Call c;
  size_t v[2], off = 0;
  int s = sizes(env, info, 2, 2, &c, v);
  if (s == OH_OK) s = safe_allocate(env, c.a, [&] { return oh_memalign(c.a->core, v[0], v[1], &off); });
  return safe_result(env, c.a, s, off, v[1]);
}

/* (arrayBuffer, byteOffset) -> the slot of the view */
static inline int safe_block(Call& c, size_t min_argc, uint32_t* slot) {
  if (c.argc < min_argc) return OH_INVALID;
  double off;
  if (napi_get_value_double(c.env, c.argv[1], &off) != napi_ok) return OH_INVALID;
  return safe_view_lookup(c.env, c.a, c.argv[0], (int64_t)off, slot);
}

static napi_value safe_free(napi_env env, napi_callback_info info) {
  Call c;
  uint32_t slot;
  if (!get_call(env, info, &c)) return num(env, OH_INVALID);
  int s = safe_block(c, 2, &slot);
  if (s == OH_OK) s = oh_free(c.a->core, c.a->slots[slot].off);
  if (s == OH_OK) safe_view_retire(env, c.a, slot, c.argv[0]);
  return num(env, s);
}

static napi_value safe_realloc(napi_env env, napi_callback_info info) {
  Call c;
  uint32_t slot;
  size_t n, off = 0;
  if (!get_call(env, info, &c)) return num(env, OH_INVALID);
  int s = safe_block(c, 3, &slot);
  if (s == OH_OK && !get_size(env, c.argv[2], c.a->core->capacity, &n)) s = OH_INVALID;
  if (s == OH_OK) s = oh_realloc(c.a->core, c.a->slots[slot].off, n, &off);
  if (s) return num(env, s);
  /* The old view is dead whether or not the block moved. */
  safe_view_retire(env, c.a, slot, c.argv[0]);
  return safe_result(env, c.a, OH_OK, off, n);
}

static napi_value safe_usable(napi_env env, napi_callback_info info) {
  Call c;
  uint32_t slot;
  size_t n = 0;
  if (!get_call(env, info, &c)) return num(env, OH_INVALID);
  int s = safe_block(c, 2, &slot);
  if (s == OH_OK) s = oh_usable(c.a->core, c.a->slots[slot].off, &n);
  return offset_or_status(env, s, n);
}

static napi_value safe_validate(napi_env env, napi_callback_info info) {
  Call c;
  uint32_t slot;
  if (!get_call(env, info, &c)) return num(env, OH_INVALID);
  int s = safe_block(c, 2, &slot);
  if (s == OH_OK) s = oh_validate(c.a->core, c.a->slots[slot].off);
  return num(env, s);
}

/* ---- both modes -------------------------------------------------------------- */

static Arena* arena_of(const Napi::CallbackInfo& info) { return static_cast<Arena*>(info.Data()); }

/* stats() -> an object with the fields of core/stats.h, or a negative status */
static Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  oh_arena_stats s;
  int st = oh_stats(arena_of(info)->core, &s);
  if (st) return Napi::Number::New(env, st);
  Napi::Object o = Napi::Object::New(env);
#define SET(name) o.Set(#name, s.name);
  OH_STATS(SET)
#undef SET
  o.Set("corrupted", s.corrupted != 0);
  Napi::Object detail = Napi::Object::New(env);
#define SET_DL(name) detail.Set(#name, s.detail.dl.name);
#define SET_BUDDY(name) detail.Set(#name, s.detail.buddy.name);
  if (s.kind == OH_KIND_DLMALLOC) {
    detail.Set("allocator", "dlmalloc");
    OH_DETAIL_DLMALLOC(SET_DL)
  } else {
    detail.Set("allocator", "buddy");
    OH_DETAIL_BUDDY(SET_BUDDY)
    uint32_t orders = (uint32_t)s.detail.buddy.orders;
    Napi::Array per = Napi::Array::New(env, orders);
    for (uint32_t i = 0; i < orders && i < OH_MAX_ORDERS; i++) per.Set(i, s.detail.buddy.freeBlocksPerOrder[i]);
    detail.Set("freeBlocksPerOrder", per);
  }
#undef SET_DL
#undef SET_BUDDY
  o.Set("detail", detail);
  return o;
}

static Napi::Value Trim(const Napi::CallbackInfo& info) {
  size_t released = 0;
  int s = oh_trim(arena_of(info)->core, &released);
  return Napi::Number::New(info.Env(), s ? (double)s : (double)released);
}

static Napi::Value Check(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), oh_check(arena_of(info)->core));
}

static Napi::Value LargestFree(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), (double)oh_largest_free(arena_of(info)->core));
}

/* Safe views are detached first: no JavaScript may reach a block after it goes. */
static Napi::Value Reset(const Napi::CallbackInfo& info) {
  Arena* a = arena_of(info);
  if (a->safe && oh_state(a->core) == OH_OK) safe_views_detach_all(info.Env(), a);
  return Napi::Number::New(info.Env(), oh_reset(a->core));
}

static Napi::Value Destroy(const Napi::CallbackInfo& info) {
  Arena* a = arena_of(info);
  if (a->safe) safe_views_detach_all(info.Env(), a);
  env_destroy(a);
  return Napi::Number::New(info.Env(), OH_OK);
}

/* The JS handle was collected: drop its reference. Views may still hold the
 * arena (their own references); an arena nobody destroyed keeps serving its
 * views' finalizers until the last one is gone. */
static void handle_finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  Arena* a = static_cast<Arena*>(data);
  if (!a->shared && a->handle_obj) {
    napi_delete_reference(env, a->handle_obj);
    a->handle_obj = nullptr;
  }
  arena_unref(a);
}

/* The handle holds the arena; an unshared arena keeps a weak reference to it (reap.cc). */
static void wrap_handle(napi_env env, napi_value h, Arena* a) {
  if (napi_wrap(env, h, a, handle_finalize, nullptr, a->shared ? nullptr : &a->handle_obj) != napi_ok)
    a->handle_obj = nullptr;
}

static void set_fn(Napi::Env env, Napi::Object o, const char* name, napi_callback cb, Arena* a) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, a, &fn);
  o.Set(name, Napi::Value(env, fn));
}

static Napi::Value view_or_null(Napi::Env env, napi_value v) { return v ? Napi::Value(env, v) : env.Null(); }

/* The JS handle of a native arena: its entry points as functions whose data
 * is the arena, and (fast mode) the ArrayBuffers over the region, the
 * mailbox, the spares and the tag map. Holds one reference (the caller's),
 * dropped when the handle is collected. A negative status instead when the
 * region-wide ArrayBuffer could not be made. */
static napi_value make_handle(napi_env env, Arena* a) {
  Napi::Env e(env);
  Napi::Object h = Napi::Object::New(env);
  oh_arena* core = a->core;
  if (a->safe) {
    set_fn(env, h, "alloc", safe_alloc_with<oh_alloc>, a);
    set_fn(env, h, "calloc", safe_alloc_with<oh_calloc>, a);
    set_fn(env, h, "memalign", safe_memalign, a);
    set_fn(env, h, "free", safe_free, a);
    set_fn(env, h, "realloc", safe_realloc, a);
    set_fn(env, h, "usable", safe_usable, a);
    set_fn(env, h, "validate", safe_validate, a);
  } else {
    set_fn(env, h, "alloc", fast_alloc_with<oh_alloc>, a);
    set_fn(env, h, "calloc", fast_alloc_with<oh_calloc>, a);
    set_fn(env, h, "memalign", fast_memalign, a);
    set_fn(env, h, "free", fast_free, a);
    set_fn(env, h, "realloc", fast_realloc, a);
    set_fn(env, h, "usable", fast_usable, a);
    set_fn(env, h, "validate", fast_validate, a);
  }
  /* The mailbox is the arena's own: a shared arena (one per thread would be
   * needed) and a safe one make their calls with arguments. */
  bool mailbox = !a->safe && !a->shared;
  if (mailbox) {
    set_fn(env, h, "allocIO", io_call<oh_io_alloc>, a);
    set_fn(env, h, "freeIO", io_call<oh_io_free>, a);
    set_fn(env, h, "refillIO", io_call<oh_io_refill>, a);
    set_fn(env, h, "flushIO", io_call<oh_io_flush>, a);
  }
  h.Set("io", mailbox ? view_or_null(e, arena_memory_view(env, a, core->io, sizeof core->io)) : e.Null());
  /* Without the tag map or the stacks, lib/ simply keeps no spares. */
  bool spares = mailbox && core->sp.tags;
  h.Set("tags", spares ? view_or_null(e, arena_memory_view(env, a, core->sp.tags, core->sp.tags_len)) : e.Null());
  h.Set("spares", spares ? view_or_null(e, arena_memory_view(env, a, core->sp.block, core->sp.block_len)) : e.Null());
  h.Set("tagShift", spares ? (double)core->sp.tag_shift : 0.0);
  h.Set("region", e.Null());
  if (!a->safe) {
    napi_value ab = region_view_create(env, a);
    if (!ab) {
      if (!a->shared) oh_destroy(core);
      wrap_handle(env, h, a);
      return Napi::Number::New(env, OH_VIEW_FAILED);
    }
    h.Set("region", Napi::Value(env, ab));
  }
  h.Set("stats", Napi::Function::New(env, Stats, "stats", a));
  h.Set("trim", Napi::Function::New(env, Trim, "trim", a));
  h.Set("check", Napi::Function::New(env, Check, "check", a));
  h.Set("reset", Napi::Function::New(env, Reset, "reset", a));
  h.Set("destroy", Napi::Function::New(env, Destroy, "destroy", a));
  h.Set("largestFree", Napi::Function::New(env, LargestFree, "largestFree", a));
  h.Set("serial", (double)a->serial);
  wrap_handle(env, h, a);
  return h;
}

/* create(kind, capacity, safe, minBlock, tuning, shared[, retain]) -> handle | negative status;
 * tuning: a flat array of {param, value} pairs for the dlmalloc heap; retain:
 * bytes a reset keeps committed (0 .. capacity; absent: OH_RETAIN_DEFAULT, at
 * most the capacity) */
static Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsBoolean() ||
      !info[3].IsNumber() || !info[4].IsArray() || !info[5].IsBoolean())
    return Napi::Number::New(env, OH_INVALID);
  oh_config cfg;
  memset(&cfg, 0, sizeof cfg);
  double kind = info[0].As<Napi::Number>().DoubleValue();
  double cap = info[1].As<Napi::Number>().DoubleValue();
  double min_block = info[3].As<Napi::Number>().DoubleValue();
  bool safe = info[2].As<Napi::Boolean>().Value();
  bool shared = info[5].As<Napi::Boolean>().Value();
  if ((kind != OH_KIND_DLMALLOC && kind != OH_KIND_BUDDY) || !(cap >= 0) || cap > 9007199254740991.0 ||
      cap != std::floor(cap) || !(min_block >= 0) || min_block > cap || (shared && safe))
    return Napi::Number::New(env, OH_INVALID);
  cfg.kind = (int)kind;
  cfg.capacity = (size_t)cap;
  cfg.min_block = (size_t)min_block;
  cfg.shared = shared;
  cfg.spares = !safe && !shared;
  cfg.retain = cfg.capacity < OH_RETAIN_DEFAULT ? cfg.capacity : OH_RETAIN_DEFAULT;
  if (info.Length() > 6 && !info[6].IsUndefined()) {
    if (!info[6].IsNumber()) return Napi::Number::New(env, OH_INVALID);
    double r = info[6].As<Napi::Number>().DoubleValue();
    if (!(r >= 0) || r > cap || r != std::floor(r)) return Napi::Number::New(env, OH_INVALID);
    cfg.retain = (size_t)r;
  }
  Napi::Array t = info[4].As<Napi::Array>();
  if (t.Length() % 2 != 0 || t.Length() > 2 * OH_MAX_TUNING) return Napi::Number::New(env, OH_INVALID);
  for (uint32_t i = 0; i < t.Length(); i += 2) {
    Napi::Value p = t.Get(i), v = t.Get(i + 1);
    if (!p.IsNumber() || !v.IsNumber()) return Napi::Number::New(env, OH_INVALID);
    cfg.tuning[cfg.n_tuning][0] = p.As<Napi::Number>().Int32Value();
    cfg.tuning[cfg.n_tuning][1] = v.As<Napi::Number>().Int32Value();
    cfg.n_tuning++;
  }

  EnvData* ed = env.GetInstanceData<EnvData>();
  if (ed && !shared) env_reap_forgotten(env, ed);
  oh_arena* core;
  int s = oh_arena_create(&cfg, &core);
  if (s) return Napi::Number::New(env, s);
  Arena* a = new Arena();
  a->core = core;
  a->safe = safe;
  a->shared = shared;
  a->serial = g_serial.fetch_add(1);
  a->tag.lower = a->serial;
  a->tag.upper = tag_word();
  if (shared) {
    shared_register(a); /* owned by no environment (shared.cc) */
  } else if (ed) {
    env_link(ed, a, ENV_IN_SERVICE);
    env_account(env, a);
  }
  return Napi::Value(env, make_handle(env, a));
}

/* attach(serial) -> a handle over the shared arena with that serial, in this
 * thread; OH_DESTROYED when it was destroyed or no longer exists. */
static Napi::Value Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Number::New(env, OH_INVALID);
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 1) || d > 9007199254740991.0 || d != std::floor(d)) return Napi::Number::New(env, OH_INVALID);
  Arena* a = shared_attach((uint64_t)d);
  if (!a) return Napi::Number::New(env, OH_DESTROYED);
  if (oh_state(a->core) == OH_DESTROYED) {
    arena_unref(a);
    return Napi::Number::New(env, OH_DESTROYED);
  }
  return Napi::Value(env, make_handle(env, a));
}

void arena_unref(Arena* a) {
  if (a->shared) {
    if (!shared_unref(a)) return;
  } else if (a->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  env_unaccount(a);
  env_unlink(a);
  oh_arena_delete(a->core);
  delete a;
}

/* Diagnostics for tests: arenas of this environment not yet deleted. */
static Napi::Value LiveArenas(const Napi::CallbackInfo& info) {
  EnvData* ed = info.Env().GetInstanceData<EnvData>();
  double n = 0;
  if (ed) n = (double)(ed->count[ENV_IN_SERVICE] + ed->count[ENV_DESTROYED]);
  return Napi::Number::New(info.Env(), n);
}

napi_value arena_exports(napi_env env, napi_value exports) {
  Napi::Env e(env);
  Napi::Object o(env, exports);
  o.Set("create", Napi::Function::New(e, Create, "create"));
  o.Set("liveArenas", Napi::Function::New(e, LiveArenas, "liveArenas"));
  o.Set("attach", Napi::Function::New(e, Attach, "attach"));
  o.Set("napiVersion", Napi::Number::New(e, NAPI_VERSION));
  return exports;
}

}  // namespace offheap
