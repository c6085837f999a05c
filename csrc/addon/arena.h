/*
 * offheap glue — the native Arena: one mmap'd region, the allocator instances
 * that manage it (C core, no policy here), the lock word, the safe-view slot
 * table and the reference count that keeps the region mapped while any view
 * can still exist.
 *
 * Files of the glue (one responsibility each):
 *   port.cc    the portable.h hooks: thread-local current arena, locks, abort
 *   region.cc  the region (mmap/madvise/munmap) and the core instances over it
 *   arena.cc   the entry points exposed to lib/binding.ts, argument plumbing
 *   views.cc   safe views: external ArrayBuffers, type tags, finalizers
 *   spares.cc  fast views: the tag map and batches of spare small blocks
 *   shared.cc  shared arenas: the registry that attach() searches
 *   lock.cc    the lock of the port hooks and of shared arenas
 *   errors.cc  core statuses -> the glue's status numbers
 *   addon.cc   module init, per-environment instance data, cleanup hook
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
#include "../buddy.h"
#include "../dlmalloc.h"
}

namespace offheap {

/* Statuses the entry points return to lib/binding.ts (negative numbers where a
 * result is otherwise a non-negative offset or size). lib/errors.ts maps them
 * to error codes. */
enum Status : int {
  ST_OK = 0,
  ST_OOM = -1,
  ST_FOREIGN = -2,
  ST_NOT_ALLOCATED = -3,
  ST_DESTROYED = -4,
  ST_CORRUPTED = -5,
  ST_VIEW_FAILED = -6, /* the runtime refused the external ArrayBuffer */
  ST_INVALID = -7      /* a bad argument slipped past lib/ (never expected) */
};

int status_from_dl(int dl_status);
int status_from_buddy(int buddy_status);

enum Kind : int { KIND_DLMALLOC = 0, KIND_BUDDY = 1 };

/* One safe-mode allocation: the weak reference to its ArrayBuffer, and the
 * generation that finalizers compare against (never the address). */
struct Slot {
  void* ptr = nullptr;
  size_t len = 0;        /* the ArrayBuffer's byteLength */
  napi_ref ref = nullptr;
  uint32_t gen = 0;
  bool live = false;
};

struct Arena;

/* The finalize hint of one safe-mode ArrayBuffer. Heap-allocated, freed by
 * the finalizer; the arena it names stays alive (refcount) until then. */
struct Ticket {
  Arena* arena;
  uint32_t slot;
  uint32_t gen;
  int state; /* 0 creating, 1 live, 2 finalized during a failed creation */
};

struct EnvData;

/* The fast-mode mailbox: two in/out words, two spare, then a batch of offsets. */
enum : size_t { IO_BATCH_AT = 4, IO_BATCH = 64 };

struct Arena {
  /* identity */
  uint64_t serial = 0;
  napi_type_tag tag{};
  napi_env env = nullptr;
  EnvData* envdata = nullptr;
  int kind = KIND_DLMALLOC;
  bool safe = true;
  /* shared arenas (shared.cc): every entry point holds glue_lock */
  bool shared = false;
  void* glue_lock = nullptr;

  /* the region: `map` is the whole reservation, `base` the aligned start */
  void* map = nullptr;
  size_t map_len = 0;
  unsigned char* base = nullptr;
  size_t capacity = 0;

  /* dlmalloc arena: page provider + mspace with state and live map outside */
  void* pages_meta = nullptr;
  size_t pages_meta_len = 0;
  buddy_t* pages = nullptr;
  void* dl_state = nullptr;
  mspace msp = nullptr;
  unsigned char* livemap = nullptr;
  size_t livemap_len = 0;

  /* buddy arena */
  void* buddy_meta = nullptr;
  size_t buddy_meta_len = 0;
  buddy_t* buddy = nullptr;
  size_t min_block = 16;
  /* dlmalloc tuning of this arena's heap: {param, value} pairs for
   * mspace_set_param, re-applied whenever the heap is (re)created. */
  int tuning[3][2] = {{0, 0}, {0, 0}, {0, 0}};
  int n_tuning = 0;

  /* state */
  bool corrupted = false;
  bool destroyed = false;
  bool core_released = false;
  bool maps_zeroed = true; /* region, metadata and maps read as zeros (region.cc) */
  size_t live_count = 0;
  size_t fresh_largest = 0; /* largest free block of the fresh core */
  size_t peak_carried = 0;  /* peak committed bytes of the instances before the last reset */
  std::atomic<int> refs{1}; /* 1 = the JS handle */

  /* safe views */
  std::vector<Slot> slots;
  std::vector<uint32_t> free_slots;
  std::unordered_map<void*, uint32_t> by_ptr;

  /* fast mode: a mailbox shared with JS (a Float64Array over it), so the
   * hottest calls take no arguments and return nothing (arena.cc):
   * io[0], io[1] in/out words; io[IO_BATCH_AT..] offsets of a batch. */
  alignas(16) double io[IO_BATCH_AT + IO_BATCH] = {};
  /* fast mode: the tag map of spare blocks (spares.cc, invariant there) */
  unsigned char* tags = nullptr;
  size_t tags_len = 0;
  unsigned tag_shift = 5;

  /* doubly linked in the environment's list of arenas */
  Arena* env_prev = nullptr;
  Arena* env_next = nullptr;
};

/* region.cc */
int region_create(Arena* a, int kind, size_t capacity, size_t min_block);
int core_init(Arena* a);                  /* (re)creates the allocator over a zeroed region */
void core_release(Arena* a);              /* pages back to the OS, allocator state dropped */
void arena_unref(Arena* a);               /* drops one reference; frees at zero */
size_t region_trim(Arena* a);             /* bytes released */
void* core_malloc(Arena* a, size_t n);
void* core_calloc(Arena* a, size_t n);
void* core_memalign(Arena* a, size_t align, size_t n);
int core_realloc(Arena* a, void* p, size_t n, void** out);
int core_validate(Arena* a, const void* p); /* ST_OK / ST_NOT_ALLOCATED / ST_FOREIGN / ST_CORRUPTED */
int core_free(Arena* a, void* p);           /* validates first */
size_t core_usable(Arena* a, const void* p);
int core_check(Arena* a);
void core_note_failure(Arena* a);           /* after a NULL: corrupted or out of memory */
size_t core_largest_free(Arena* a);
size_t core_fresh_largest(Arena* a);
size_t core_peak_committed(Arena* a);       /* this instance's high-water mark of committed bytes */

/* spares.cc */
int spares_create(Arena* a);               /* the tag map (fast mode) */
void spares_clear(Arena* a);               /* every tag back to 0 (the core was released) */
void spares_unmap(Arena* a);
int spare_check(Arena* a, size_t off);     /* ST_NOT_ALLOCATED for a spare, else ST_OK */
void spare_forget(Arena* a, size_t off);   /* the block at off left the core (freed, moved) */
void spares_refill(Arena* a);              /* mailbox call, see spares.cc */
void spares_flush(Arena* a);               /* mailbox call, see spares.cc */

/* shared.cc */
void shared_register(Arena* a);
Arena* shared_attach(uint64_t serial); /* a new reference, or null */
bool shared_unref(Arena* a);           /* true when that was the last reference */

/* port.cc: the arena the hooks act on, for the duration of one entry. */
struct CurrentArena {
  explicit CurrentArena(Arena* a);
  ~CurrentArena();
  Arena* prev;
};
Arena* current_arena();

/* views.cc */
napi_value safe_view_create(napi_env env, Arena* a, void* p, size_t len, int* status);
int safe_view_lookup(napi_env env, Arena* a, napi_value ab, int64_t byte_offset, uint32_t* slot);
void safe_view_retire(napi_env env, Arena* a, uint32_t slot, napi_value ab_or_null);
void safe_views_detach_all(napi_env env, Arena* a);
size_t safe_views_reclaim_collected(napi_env env, Arena* a);
napi_value arena_view_create(napi_env env, Arena* a, void* data, size_t len);
napi_value region_view_create(napi_env env, Arena* a);
napi_value tags_view_create(napi_env env, Arena* a);
napi_value io_view_create(napi_env env, Arena* a);

/* addon.cc: per-environment state */
struct EnvData {
  Arena* arenas = nullptr; /* list of this environment's arenas not yet released */
  bool tearing_down = false;
};
void env_link(EnvData* e, Arena* a);
void env_unlink(Arena* a);

/* arena.cc */
napi_value arena_exports(napi_env env, napi_value exports);

}  // namespace offheap

#endif
