/*
 * offheap glue — shared arenas: one native arena that several threads
 * (worker_threads, each its own Node environment) use at once.
 *
 * A shared arena is an ordinary fast-mode arena whose core was made with
 * `shared` set:
 *  - the core takes the arena's lock in every entry point (core/arena.h), so
 *    destroy, reset, stats and check are atomic with respect to allocations
 *    in other threads, and a destroyed arena answers OH_DESTROYED, never a
 *    half-released heap. It has no mailbox and no spares (both would be
 *    shared by threads): every call carries its arguments.
 *  - no environment owns it: it is in no environment's list, so a thread's
 *    exit gives back only that thread's references (its handle, its
 *    region-wide ArrayBuffer); the pages go when the last reference in any
 *    thread goes, or at destroy().
 *  - it is found by its serial in the process-wide registry below, which is
 *    how attach() reaches it from another thread. Invariant: an arena is in
 *    the registry exactly while its reference count is above zero; the
 *    count of a registered arena drops to zero only under the registry's
 *    mutex (shared_unref), so attach never revives a dying arena.
 *  - a native call cannot be interrupted by worker.terminate() (termination
 *    waits for JavaScript), so no thread can leave the lock held.
 */
#include <mutex>
#include <unordered_map>

#include "arena.h"

namespace offheap {

static std::mutex g_registry_mutex;
static std::unordered_map<uint64_t, Arena*>* g_registry = nullptr; /* never destroyed: used at exit */

void shared_register(Arena* a) {
  std::lock_guard<std::mutex> g(g_registry_mutex);
  if (!g_registry) g_registry = new std::unordered_map<uint64_t, Arena*>();
  (*g_registry)[a->serial] = a;
}

Arena* shared_attach(uint64_t serial) {
  std::lock_guard<std::mutex> g(g_registry_mutex);
  if (!g_registry) return nullptr;
  auto it = g_registry->find(serial);
  if (it == g_registry->end()) return nullptr;
  it->second->refs.fetch_add(1, std::memory_order_relaxed);
  return it->second;
}

bool shared_unref(Arena* a) {
  std::lock_guard<std::mutex> g(g_registry_mutex);
  if (a->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return false;
  if (g_registry) g_registry->erase(a->serial);
  return true;
}

}  // namespace offheap
