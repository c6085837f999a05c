/*
 * offheap glue — the entry points lib/binding.ts calls.
 *
 * create(kind, capacity, safe, minBlock) returns a handle object whose
 * methods are functions bound to the native arena (the arena pointer is the
 * function's data, so a call costs no lookup). Arguments were validated by
 * lib/ before they get here; the glue still range-checks what it converts,
 * and reports misuse it finds as a status, never by aborting.
 *
 * Results: fast mode returns offsets into the region (JS builds the view over
 * the region-wide ArrayBuffer: cheaper than making it here); safe mode
 * returns a new external ArrayBuffer. Failures are negative statuses (arena.h).
 * The hot fast-mode calls use the C Node-API directly (each node-addon-api
 * wrapper layer costs a few ns per call, measured in napi-cost-measurements).
 */
#include <napi.h>

#include <cmath>
#include <cstring>

#include "arena.h"
#include "lock.h"

namespace offheap {

static std::atomic<uint64_t> g_serial{1};

/* ---- helpers ------------------------------------------------------------- */

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

/* A size or offset argument: a finite non-negative integer <= limit. */
static inline bool get_size(napi_env env, napi_value v, size_t limit, size_t* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= 0) || d > (double)limit || d != std::floor(d)) return false;
  *out = (size_t)d;
  return true;
}

static inline int guard(Arena* a) {
  if (a->destroyed) return ST_DESTROYED;
  if (a->corrupted) return ST_CORRUPTED;
  return ST_OK;
}

static inline double offset_of(Arena* a, void* p) {
  return (double)((unsigned char*)p - a->base);
}

/* Every entry point starts here: its arguments (at least `min_argc`), then
 * the arena's state. ST_OK or the status to return. */
static inline int enter(napi_env env, napi_callback_info info, size_t min_argc, Call* c) {
  if (!get_call(env, info, c) || c->argc < min_argc) return ST_INVALID;
  return guard(c->a);
}

/* enter(), then the first `k` arguments as sizes (ST_INVALID when one is not). */
static inline int enter_sizes(napi_env env, napi_callback_info info, size_t k, Call* c, size_t* sizes) {
  if (int e = enter(env, info, k, c)) return e;
  for (size_t i = 0; i < k; i++)
    if (!get_size(env, c->argv[i], c->a->capacity, &sizes[i])) return ST_INVALID;
  return ST_OK;
}

/* The result of an allocating call: the block's offset, counted live, or why
 * there is none. */
static inline napi_value allocated(Call& c, void* p) {
  if (!p) return num(c.env, c.a->corrupted ? ST_CORRUPTED : ST_OOM);
  c.a->live_count++;
  return num(c.env, offset_of(c.a, p));
}

/* ---- fast mode ------------------------------------------------------------ */

/* alloc(n) and calloc(n): the block F gives, as an offset. */
template <void* (*F)(Arena*, size_t)>
static napi_value fast_alloc_with(napi_env env, napi_callback_info info) {
  Call c;
  size_t n;
  if (int e = enter_sizes(env, info, 1, &c, &n)) return num(env, e);
  return allocated(c, F(c.a, n));
}

/* memalign(alignment, n) */
static napi_value fast_memalign(napi_env env, napi_callback_info info) {
  Call c;
  size_t s[2];
  if (int e = enter_sizes(env, info, 2, &c, s)) return num(env, e);
  return allocated(c, core_memalign(c.a, s[0], s[1]));
}

/* The block that starts at `off`, classified exactly (interior, freed and
 * stale offsets are ST_NOT_ALLOCATED). */
static inline int fast_block(Call& c, napi_value v, void** p) {
  size_t off;
  if (!get_size(c.env, v, c.a->capacity, &off)) return ST_FOREIGN;
  if (off == c.a->capacity) return ST_NOT_ALLOCATED;
  *p = c.a->base + off;
  return spare_check(c.a, off);
}

static inline size_t offset_at(Arena* a, void* p) { return (size_t)((unsigned char*)p - a->base); }

static napi_value fast_free(napi_env env, napi_callback_info info) {
  Call c;
  if (int e = enter(env, info, 1, &c)) return num(env, e);
  void* p;
  int s = fast_block(c, c.argv[0], &p);
  if (s) return num(env, s);
  s = core_free(c.a, p);
  if (s == ST_OK) {
    spare_forget(c.a, offset_at(c.a, p));
    if (c.a->live_count) c.a->live_count--;
  }
  return num(env, s);
}

static napi_value fast_realloc(napi_env env, napi_callback_info info) {
  Call c;
  if (int e = enter(env, info, 2, &c)) return num(env, e);
  void* p;
  int s = fast_block(c, c.argv[0], &p);
  if (s) return num(env, s);
  size_t n;
  if (!get_size(env, c.argv[1], c.a->capacity, &n)) return num(env, ST_INVALID);
  void* q;
  s = core_realloc(c.a, p, n, &q);
  if (s) return num(env, s);
  spare_forget(c.a, offset_at(c.a, p));
  return num(env, offset_of(c.a, q));
}

static napi_value fast_usable(napi_env env, napi_callback_info info) {
  Call c;
  if (int e = enter(env, info, 1, &c)) return num(env, e);
  void* p;
  int s = fast_block(c, c.argv[0], &p);
  if (s) return num(env, s);
  s = core_validate(c.a, p);
  if (s) return num(env, s);
  return num(env, (double)core_usable(c.a, p));
}

static napi_value fast_validate(napi_env env, napi_callback_info info) {
  Call c;
  if (int e = enter(env, info, 1, &c)) return num(env, e);
  void* p;
  int s = fast_block(c, c.argv[0], &p);
  if (s) return num(env, s);
  return num(env, core_validate(c.a, p));
}

/* Mailbox variants of the two hottest calls: no arguments, no result value.
 * allocIO: io[0] = size in, io[1] = offset or negative status out.
 * freeIO:  io[0] = offset in, io[1] = status out.
 * An empty Node-API call costs ~9 ns against ~21-24 ns for one taking a
 * number and returning one (reference/napi-cost-measurements.md). */
static inline Arena* io_arena(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, nullptr, nullptr, &data);
  return static_cast<Arena*>(data);
}

/* allocIO */
static void alloc_io(Arena* a) {
  double d = a->io[0];
  if (!(d >= 0) || d > (double)a->capacity || d != std::floor(d)) {
    a->io[1] = ST_INVALID;
    return;
  }
  void* p = core_malloc(a, (size_t)d);
  if (!p) {
    a->io[1] = a->corrupted ? ST_CORRUPTED : ST_OOM;
    return;
  }
  a->live_count++;
  a->io[1] = offset_of(a, p);
}

/* freeIO */
static void free_io(Arena* a) {
  double d = a->io[0];
  if (!(d >= 0) || d > (double)a->capacity || d != std::floor(d)) {
    a->io[1] = ST_FOREIGN;
    return;
  }
  size_t off = (size_t)d;
  int s = off == a->capacity ? ST_NOT_ALLOCATED : spare_check(a, off);
  if (s == ST_OK) s = core_free(a, a->base + off);
  if (s == ST_OK) {
    spare_forget(a, off);
    if (a->live_count) a->live_count--;
  }
  a->io[1] = s;
}

/* A mailbox call: the arena's state first (a status in io[1]), then F.
 * refillIO and flushIO move spare blocks in batches (spares.cc). */
template <void (*F)(Arena*)>
static napi_value io_call(napi_env env, napi_callback_info info) {
  Arena* a = io_arena(env, info);
  if (int g = guard(a)) {
    a->io[1] = g;
    return nullptr;
  }
  F(a);
  return nullptr;
}

/* ---- safe mode ------------------------------------------------------------ */

static napi_value safe_result(napi_env env, Arena* a, void* p, size_t len) {
  if (!p) return num(env, a->corrupted ? ST_CORRUPTED : ST_OOM);
  int st;
  /* A zero-length external ArrayBuffer may lose its data pointer in V8, and
   * the pointer is how free finds the block: such an ArrayBuffer is 1 byte
   * long (inside the block: every block has at least 16), the view 0. */
  napi_value ab = safe_view_create(env, a, p, len ? len : 1, &st);
  if (!ab) {
    core_free(a, p);
    return num(env, st);
  }
  return ab;
}

/* On a failed allocation, give back what V8 already collected, then retry. */
static inline bool safe_retry(napi_env env, Arena* a) {
  return !a->corrupted && safe_views_reclaim_collected(env, a) > 0;
}

/* alloc(n) and calloc(n): the block F gives, as its own ArrayBuffer. */
template <void* (*F)(Arena*, size_t)>
static napi_value safe_alloc_with(napi_env env, napi_callback_info info) {
  Call c;
  size_t n;
  if (int e = enter_sizes(env, info, 1, &c, &n)) return num(env, e);
  void* p = F(c.a, n);
  if (!p && safe_retry(env, c.a)) p = F(c.a, n);
  return safe_result(env, c.a, p, n);
}

/* memalign(alignment, n) */
static napi_value safe_memalign(napi_env env, napi_callback_info info) {
  Call c;
  size_t s[2];
  if (int e = enter_sizes(env, info, 2, &c, s)) return num(env, e);
  void* p = core_memalign(c.a, s[0], s[1]);
  if (!p && safe_retry(env, c.a)) p = core_memalign(c.a, s[0], s[1]);
  return safe_result(env, c.a, p, s[1]);
}

/* (arrayBuffer, byteOffset) -> the slot of a live allocation */
static inline int safe_block(Call& c, uint32_t* slot) {
  double off;
  if (napi_get_value_double(c.env, c.argv[1], &off) != napi_ok) return ST_INVALID;
  return safe_view_lookup(c.env, c.a, c.argv[0], (int64_t)off, slot);
}

static napi_value safe_free(napi_env env, napi_callback_info info) {
  Call c;
  if (int e = enter(env, info, 2, &c)) return num(env, e);
  uint32_t slot;
  int s = safe_block(c, &slot);
  if (s) return num(env, s);
  s = core_free(c.a, c.a->slots[slot].ptr);
  if (s) return num(env, s);
  safe_view_retire(env, c.a, slot, c.argv[0]);
  return num(env, ST_OK);
}

static napi_value safe_realloc(napi_env env, napi_callback_info info) {
  Call c;
  if (int e = enter(env, info, 3, &c)) return num(env, e);
  uint32_t slot;
  int s = safe_block(c, &slot);
  if (s) return num(env, s);
  size_t n;
  if (!get_size(env, c.argv[2], c.a->capacity, &n)) return num(env, ST_INVALID);
  void* q;
  s = core_realloc(c.a, c.a->slots[slot].ptr, n, &q);
  if (s) return num(env, s);
  /* The old view is dead whether or not the block moved. */
  safe_view_retire(env, c.a, slot, c.argv[0]);
  int st;
  napi_value ab = safe_view_create(env, c.a, q, n ? n : 1, &st);
  if (!ab) {
    core_free(c.a, q);
    return num(env, st);
  }
  return ab;
}

static napi_value safe_usable(napi_env env, napi_callback_info info) {
  Call c;
  if (int e = enter(env, info, 2, &c)) return num(env, e);
  uint32_t slot;
  int s = safe_block(c, &slot);
  if (s) return num(env, s);
  return num(env, (double)core_usable(c.a, c.a->slots[slot].ptr));
}

static napi_value safe_validate(napi_env env, napi_callback_info info) {
  Call c;
  if (int e = enter(env, info, 2, &c)) return num(env, e);
  uint32_t slot;
  return num(env, safe_block(c, &slot));
}

/* ---- both modes ------------------------------------------------------------ */

static Arena* arena_of(const Napi::CallbackInfo& info) { return static_cast<Arena*>(info.Data()); }

/* Shared arenas (shared.cc): the same entry points, each under the arena's glue lock. */
template <napi_callback F>
static napi_value locked(napi_env env, napi_callback_info info) {
  Arena* a = io_arena(env, info);
  WordLock l(&a->glue_lock);
  return F(env, info);
}

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
static Napi::Value lockedN(const Napi::CallbackInfo& info) {
  WordLock l(&arena_of(info)->glue_lock);
  return F(info);
}

static Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Arena* a = arena_of(info);
  Napi::Object o = Napi::Object::New(env);
  if (a->destroyed) return Napi::Number::New(env, ST_DESTROYED);
  CurrentArena cur(a);
  o.Set("capacity", (double)a->capacity);
  o.Set("liveAllocations", (double)a->live_count);
  o.Set("corrupted", a->corrupted);
  Napi::Object detail = Napi::Object::New(env);
  if (a->kind == KIND_DLMALLOC) {
    buddy_stats_t ps;
    memset(&ps, 0, sizeof ps);
    if (!a->corrupted) buddy_flush(a->pages); /* cached page runs count as merged */
    buddy_stats(a->pages, &ps);
    struct mallinfo mi;
    memset(&mi, 0, sizeof mi);
    size_t fp = 0, maxfp = 0;
    if (!a->corrupted) {
      mi = mspace_mallinfo(a->msp);
      fp = mspace_footprint(a->msp);
      maxfp = mspace_max_footprint(a->msp);
    }
    size_t free_b = mi.fordblks <= fp ? mi.fordblks : fp;
    o.Set("committed", (double)fp);
    o.Set("inUse", (double)(fp - free_b));
    o.Set("free", (double)free_b);
    size_t largest = ps.largest_free > mi.keepcost ? ps.largest_free : mi.keepcost;
    /* With nothing allocated, a request that does not fit makes the core
     * give its last segment back (release_empty_heap in dlmalloc.c), so the
     * fresh arena's largest block is what can be allocated. */
    if (a->live_count == 0 && !a->corrupted && core_fresh_largest(a) > largest)
      largest = core_fresh_largest(a);
    o.Set("largestFree", (double)largest);
    o.Set("peakCommitted", (double)(maxfp > a->peak_carried ? maxfp : a->peak_carried));
    detail.Set("allocator", "dlmalloc");
    detail.Set("segmentBytes", (double)mi.arena);
    detail.Set("directMappedBytes", (double)mi.hblkhd);
    detail.Set("freeChunks", (double)mi.ordblks);
    detail.Set("topBytes", (double)mi.keepcost);
    detail.Set("pagesFree", (double)ps.free_bytes);
    detail.Set("pagesUsed", (double)ps.used_bytes);
    detail.Set("pagesLargestFree", (double)ps.largest_free);
    detail.Set("pagesKnownZero", (double)ps.zero_known_bytes);
    detail.Set("metadataBytes", (double)(ps.meta_bytes + mspace_state_size() + a->livemap_len));
  } else {
    buddy_stats_t bs;
    memset(&bs, 0, sizeof bs);
    /* The lazy cache holds freed blocks unmerged; an allocation that needs
     * them merged flushes it, so report the merged picture. */
    if (!a->corrupted) buddy_flush(a->buddy);
    buddy_stats(a->buddy, &bs);
    /* committed: the region less the pages known to read as zeros (never
     * touched since the region was fresh, or given back by trim), i.e. what
     * may be backed by memory; peakCommitted its exact high-water mark (the
     * instance's since it was made, or the one before a reset). Known-
     * zero pages lie wholly in free blocks (I6 in buddy.c), so inUse <=
     * committed and free = committed - inUse keeps inUse + free ===
     * committed; the max() only guards a corrupted instance, whose figures
     * are not trusted anyway. free then counts the free-block bytes that are
     * committed; all free-block bytes are detail.freeBlockBytes. */
    size_t committed = bs.committed_bytes > bs.used_bytes ? bs.committed_bytes : bs.used_bytes;
    size_t peak = bs.peak_committed_bytes > committed ? bs.peak_committed_bytes : committed;
    if (a->peak_carried > peak) peak = a->peak_carried;
    o.Set("committed", (double)committed);
    o.Set("inUse", (double)bs.used_bytes);
    o.Set("free", (double)(committed - bs.used_bytes));
    o.Set("largestFree", (double)bs.largest_free);
    o.Set("peakCommitted", (double)peak);
    detail.Set("peakInUse", (double)bs.peak_used_bytes);
    detail.Set("freeBlockBytes", (double)bs.free_bytes);
    detail.Set("allocator", "buddy");
    detail.Set("minBlock", (double)bs.min_block);
    detail.Set("orders", (double)bs.orders);
    detail.Set("liveBlocks", (double)bs.live_blocks);
    detail.Set("cachedBytes", (double)bs.cached_bytes);
    detail.Set("knownZeroBytes", (double)bs.zero_known_bytes);
    detail.Set("fragmentation", bs.fragmentation);
    detail.Set("metadataBytes", (double)bs.meta_bytes);
    Napi::Array per = Napi::Array::New(env, bs.orders);
    for (unsigned i = 0; i < bs.orders && i < BUDDY_MAX_ORDERS; i++)
      per.Set(i, (double)bs.free_blocks[i]);
    detail.Set("freeBlocksPerOrder", per);
  }
  o.Set("detail", detail);
  return o;
}

static Napi::Value Trim(const Napi::CallbackInfo& info) {
  Arena* a = arena_of(info);
  int g = guard(a);
  if (g) return Napi::Number::New(info.Env(), g);
  size_t r = region_trim(a);
  if (a->corrupted) return Napi::Number::New(info.Env(), ST_CORRUPTED);
  return Napi::Number::New(info.Env(), (double)r);
}

static Napi::Value Check(const Napi::CallbackInfo& info) {
  Arena* a = arena_of(info);
  int g = guard(a);
  if (g) return Napi::Number::New(info.Env(), g);
  return Napi::Number::New(info.Env(), core_check(a));
}

static Napi::Value LargestFree(const Napi::CallbackInfo& info) {
  Arena* a = arena_of(info);
  if (a->destroyed) return Napi::Number::New(info.Env(), 0);
  return Napi::Number::New(info.Env(), (double)core_largest_free(a));
}

static Napi::Value Reset(const Napi::CallbackInfo& info) {
  Arena* a = arena_of(info);
  int g = guard(a);
  if (g) return Napi::Number::New(info.Env(), g);
  if (a->safe) safe_views_detach_all(info.Env(), a);
  /* The new instance starts its peak at zero; stats() keeps reporting the larger. */
  size_t peak = core_peak_committed(a);
  if (peak > a->peak_carried) a->peak_carried = peak;
  core_release(a);
  a->live_count = 0;
  int s = core_init(a);
  if (s) a->corrupted = true;
  return Napi::Number::New(info.Env(), s);
}

static Napi::Value Destroy(const Napi::CallbackInfo& info) {
  Arena* a = arena_of(info);
  if (a->destroyed) return Napi::Number::New(info.Env(), ST_OK);
  if (a->safe) safe_views_detach_all(info.Env(), a);
  core_release(a);
  a->live_count = 0;
  a->destroyed = true;
  return Napi::Number::New(info.Env(), ST_OK);
}

/* The JS handle was collected: drop its reference. Views may still hold the
 * region (their own references); an arena nobody destroyed keeps serving its
 * views' finalizers until the last one is gone. */
static void handle_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  arena_unref(static_cast<Arena*>(data));
}

static void set_fn(Napi::Env env, Napi::Object o, const char* name, napi_callback cb, Arena* a) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, a, &fn);
  o.Set(name, Napi::Value(env, fn));
}

/* The JS handle of a native arena: its entry points as functions whose data
 * is the arena, and (fast mode) the region-wide ArrayBuffer. Holds one
 * reference (the caller's), dropped when the handle is collected. A negative
 * status instead when the region-wide ArrayBuffer could not be made. */
static napi_value make_handle(napi_env env, Arena* a) {
  Napi::Env e(env);
  Napi::Object h = Napi::Object::New(env);
  bool safe = a->safe;
  if (safe) {
    set_fn(env, h, "alloc", safe_alloc_with<core_malloc>, a);
    set_fn(env, h, "calloc", safe_alloc_with<core_calloc>, a);
    set_fn(env, h, "memalign", safe_memalign, a);
    set_fn(env, h, "free", safe_free, a);
    set_fn(env, h, "realloc", safe_realloc, a);
    set_fn(env, h, "usable", safe_usable, a);
    set_fn(env, h, "validate", safe_validate, a);
    h.Set("region", e.Null());
    h.Set("io", e.Null());
    h.Set("tags", e.Null());
    h.Set("tagShift", 0.0);
  } else if (a->shared) {
    /* No mailbox (it would be shared by threads) and no spares: every call
     * is a locked native call with its arguments. */
    set_fn(env, h, "alloc", locked<fast_alloc_with<core_malloc>>, a);
    set_fn(env, h, "calloc", locked<fast_alloc_with<core_calloc>>, a);
    set_fn(env, h, "memalign", locked<fast_memalign>, a);
    set_fn(env, h, "free", locked<fast_free>, a);
    set_fn(env, h, "realloc", locked<fast_realloc>, a);
    set_fn(env, h, "usable", locked<fast_usable>, a);
    set_fn(env, h, "validate", locked<fast_validate>, a);
    h.Set("io", e.Null());
    h.Set("tags", e.Null());
    h.Set("tagShift", 0.0);
  } else {
    set_fn(env, h, "alloc", fast_alloc_with<core_malloc>, a);
    set_fn(env, h, "calloc", fast_alloc_with<core_calloc>, a);
    set_fn(env, h, "memalign", fast_memalign, a);
    set_fn(env, h, "free", fast_free, a);
    set_fn(env, h, "realloc", fast_realloc, a);
    set_fn(env, h, "usable", fast_usable, a);
    set_fn(env, h, "validate", fast_validate, a);
    set_fn(env, h, "allocIO", io_call<alloc_io>, a);
    set_fn(env, h, "freeIO", io_call<free_io>, a);
    set_fn(env, h, "refillIO", io_call<spares_refill>, a);
    set_fn(env, h, "flushIO", io_call<spares_flush>, a);
    napi_value io = io_view_create(env, a);
    h.Set("io", io ? Napi::Value(env, io) : e.Null());
    /* Without the tag map (or the mailbox) lib/ simply keeps no spares. */
    napi_value tags = spares_create(a) == ST_OK ? tags_view_create(env, a) : nullptr;
    h.Set("tags", tags ? Napi::Value(env, tags) : e.Null());
    h.Set("tagShift", (double)a->tag_shift);
  }
  if (!safe) {
    napi_value ab = region_view_create(env, a);
    if (!ab) {
      if (!a->shared) {
        a->destroyed = true;
        core_release(a);
      }
      napi_wrap(env, h, a, handle_finalize, nullptr, nullptr);
      return Napi::Number::New(env, ST_VIEW_FAILED);
    }
    h.Set("region", Napi::Value(env, ab));
  }
  if (a->shared) {
    h.Set("stats", Napi::Function::New(env, lockedN<Stats>, "stats", a));
    h.Set("trim", Napi::Function::New(env, lockedN<Trim>, "trim", a));
    h.Set("check", Napi::Function::New(env, lockedN<Check>, "check", a));
    h.Set("reset", Napi::Function::New(env, lockedN<Reset>, "reset", a));
    h.Set("destroy", Napi::Function::New(env, lockedN<Destroy>, "destroy", a));
    h.Set("largestFree", Napi::Function::New(env, lockedN<LargestFree>, "largestFree", a));
  } else {
    h.Set("stats", Napi::Function::New(env, Stats, "stats", a));
    h.Set("trim", Napi::Function::New(env, Trim, "trim", a));
    h.Set("check", Napi::Function::New(env, Check, "check", a));
    h.Set("reset", Napi::Function::New(env, Reset, "reset", a));
    h.Set("destroy", Napi::Function::New(env, Destroy, "destroy", a));
    h.Set("largestFree", Napi::Function::New(env, LargestFree, "largestFree", a));
  }
  h.Set("serial", (double)a->serial);
  napi_wrap(env, h, a, handle_finalize, nullptr, nullptr);
  return h;
}

/* create(kind, capacity, safe, minBlock, tuning, shared) -> handle | negative status;
 * tuning: a flat array of {param, value} pairs for the dlmalloc heap */
static Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) return Napi::Number::New(env, ST_INVALID);
  int kind = info[0].As<Napi::Number>().Int32Value();
  double cap_d = info[1].As<Napi::Number>().DoubleValue();
  bool safe = info[2].As<Napi::Boolean>().Value();
  double mb_d = info[3].As<Napi::Number>().DoubleValue();
  if ((kind != KIND_DLMALLOC && kind != KIND_BUDDY) || !(cap_d >= 4096) || cap_d > 9007199254740991.0 ||
      !(mb_d >= 16) || mb_d > cap_d)
    return Napi::Number::New(env, ST_INVALID);
  size_t capacity = (size_t)cap_d;
  size_t min_block = (size_t)mb_d;
  if (min_block & (min_block - 1)) return Napi::Number::New(env, ST_INVALID);
  int tuning[3][2];
  int n_tuning = 0;
  if (info.Length() >= 5 && info[4].IsArray()) {
    Napi::Array t = info[4].As<Napi::Array>();
    if (t.Length() % 2 != 0 || t.Length() > 6) return Napi::Number::New(env, ST_INVALID);
    for (uint32_t i = 0; i < t.Length(); i += 2) {
      Napi::Value p = t.Get(i), v = t.Get(i + 1);
      if (!p.IsNumber() || !v.IsNumber()) return Napi::Number::New(env, ST_INVALID);
      tuning[n_tuning][0] = p.As<Napi::Number>().Int32Value();
      tuning[n_tuning][1] = v.As<Napi::Number>().Int32Value();
      n_tuning++;
    }
  }

  bool shared = info.Length() >= 6 && info[5].IsBoolean() && info[5].As<Napi::Boolean>().Value();
  if (shared && safe) return Napi::Number::New(env, ST_INVALID);

  Arena* a = new Arena();
  a->shared = shared;
  for (int i = 0; i < n_tuning; i++) {
    a->tuning[i][0] = tuning[i][0];
    a->tuning[i][1] = tuning[i][1];
  }
  a->n_tuning = n_tuning;
  a->serial = g_serial.fetch_add(1);
  a->tag.lower = a->serial;
  a->tag.upper = 0x6f66666865617021ULL; /* "offheap!" */
  a->env = env;
  a->safe = safe;
  int s = region_create(a, kind, capacity, min_block);
  if (s != ST_OK) {
    a->destroyed = true;
    arena_unref(a); /* refs was 1 */
    return Napi::Number::New(env, s);
  }
  if (shared) {
    shared_register(a); /* owned by no environment (shared.cc) */
  } else {
    EnvData* ed = env.GetInstanceData<EnvData>();
    if (ed) env_link(ed, a);
  }

  return Napi::Value(env, make_handle(env, a));
}

/* attach(serial) -> a handle over the shared arena with that serial, in this
 * thread; ST_DESTROYED when it was destroyed or no longer exists. */
static Napi::Value Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Number::New(env, ST_INVALID);
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 1) || d > 9007199254740991.0 || d != std::floor(d)) return Napi::Number::New(env, ST_INVALID);
  Arena* a = shared_attach((uint64_t)d);
  if (!a) return Napi::Number::New(env, ST_DESTROYED);
  bool destroyed;
  {
    WordLock l(&a->glue_lock);
    destroyed = a->destroyed;
  }
  if (destroyed) {
    arena_unref(a);
    return Napi::Number::New(env, ST_DESTROYED);
  }
  return Napi::Value(env, make_handle(env, a));
}

/* Diagnostics for tests: arenas of this environment still holding native memory. */
static Napi::Value LiveArenas(const Napi::CallbackInfo& info) {
  EnvData* ed = info.Env().GetInstanceData<EnvData>();
  double n = 0;
  for (Arena* a = ed ? ed->arenas : nullptr; a; a = a->env_next) n++;
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
