/*
 * offheap — buddy allocator: four threads on one locked instance, through
 * the lock hooks of the test port. Blocks carry a self-describing pattern
 * and travel between threads through a shared exchange table, so most frees
 * happen on another thread than the allocation. Afterwards every free was
 * accepted, no pattern was damaged (no two threads ever got the same block),
 * the lock was balanced, and the region coalesces back into one block.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "port_test.h"
#include "test_buddy_fixture.h"

#define THREADS 4
#define OPS_PER_THREAD 400000
#define LOCAL_SLOTS 128
#define SHARED_SLOTS 512

static buddy_t* shared_b;
static uintptr_t exchange[SHARED_SLOTS]; /* atomic: a block or 0 */
static long errors;                      /* atomic */

/* A block starts with {seed, size}; bytes 16 .. min(size - 1, 512) follow
 * the seed, and so does the last byte. */
static void stamp(unsigned char* p, size_t size, uint64_t seed) {
  memcpy(p, &seed, 8);
  memcpy(p + 8, &size, 8);
  size_t end = size - 1 < 512 ? size - 1 : 512;
  for (size_t i = 16; i < end; i++) p[i] = (unsigned char)(seed >> (i % 56));
  if (size > 16) p[size - 1] = (unsigned char)(seed * 31);
}

static int intact(const unsigned char* p, uint64_t* seed_out) {
  uint64_t seed;
  size_t size;
  memcpy(&seed, p, 8);
  memcpy(&size, p + 8, 8);
  *seed_out = seed;
  if (size < 16 || size > ((size_t)1 << 20)) return 0;
  size_t end = size - 1 < 512 ? size - 1 : 512;
  for (size_t i = 16; i < end; i++)
    if (p[i] != (unsigned char)(seed >> (i % 56))) return 0;
  return size == 16 || p[size - 1] == (unsigned char)(seed * 31);
}

static void release(unsigned char* p) {
  uint64_t seed;
  if (!intact(p, &seed)) __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
  memset(p, 0, 16); /* a later owner of this memory must stamp it afresh */
  if (buddy_free(shared_b, p) != BUDDY_OK) __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
}

static void* worker(void* arg) {
  test_rng r = {(uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1};
  unsigned char* local[LOCAL_SLOTS] = {0};
  for (long op = 0; op < OPS_PER_THREAD; op++) {
    size_t slot = (size_t)test_rng_below(&r, LOCAL_SLOTS);
    if (local[slot]) {
      if (test_rng_below(&r, 2)) {
        release(local[slot]);
      } else { /* hand it to whichever thread takes this exchange slot next */
        uintptr_t old = __atomic_exchange_n(&exchange[test_rng_below(&r, SHARED_SLOTS)],
                                            (uintptr_t)local[slot], __ATOMIC_ACQ_REL);
        if (old) release((unsigned char*)old);
      }
      local[slot] = NULL;
      continue;
    }
    size_t size = 16 + (size_t)test_rng_below(&r, (size_t)16 << test_rng_below(&r, 11));
    unsigned char* p = test_rng_below(&r, 8) ? buddy_malloc(shared_b, size)
                                              : buddy_aligned_alloc(shared_b, 256, size);
    if (!p) continue; /* the region may be full for a moment */
    if (buddy_usable_size(shared_b, p) < size) __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
    stamp(p, size, test_rng_next(&r));
    local[slot] = p;
  }
  for (size_t i = 0; i < LOCAL_SLOTS; i++)
    if (local[i]) release(local[i]);
  return NULL;
}

TEST(four_threads_allocate_and_free_across_threads) {
  port_reset();
  bfix f;
  buddy_config c = bcfg(16, BUDDY_LOCKED);
  CHECK_EQ_SZ(bfix_open(&f, (size_t)16 << 20, (size_t)16 << 20, 0, &c), BUDDY_OK);
  shared_b = f.b;
  memset(exchange, 0, sizeof exchange);
  errors = 0;
  pthread_t t[THREADS];
  for (uintptr_t i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, (void*)(i + 1)) == 0);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  for (size_t i = 0; i < SHARED_SLOTS; i++)
    if (exchange[i]) release((unsigned char*)exchange[i]);
  CHECK_EQ_SZ(errors, 0);
  CHECK_EQ_SZ(buddy_check(f.b), BUDDY_OK);
  buddy_stats_t st = bstats(f.b);
  CHECK_EQ_SZ(st.used_bytes, 0);
  CHECK_EQ_SZ(buddy_flush(f.b), BUDDY_OK);
  st = bstats(f.b);
  CHECK_EQ_SZ(st.largest_free, (size_t)16 << 20);
  CHECK_EQ_SZ(st.free_blocks[20], 1);
  CHECK(port_state.n_acquire > THREADS * OPS_PER_THREAD / 2);
  CHECK_EQ_SZ(port_state.n_acquire, port_state.n_release);
  bfix_close(&f);
}

int main(void) {
  RUN(four_threads_allocate_and_free_across_threads);
  return test_summary("buddy_threads");
}
