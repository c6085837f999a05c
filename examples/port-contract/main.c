/*
 * A program written for the portable-dlmalloc port contract, and nothing
 * else: it includes no offheap header. It declares the hooks it provides and
 * the dl* / mspace_* functions it calls itself, exactly as a user of
 * portable-dlmalloc would, and links against offheap's csrc/dlmalloc.c
 * unchanged:
 *
 *   cc -DPORTABLE -DUSE_LOCKS=2 -DUSE_DL_PREFIX -DMSPACES -O2 -pthread \
 *      main.c ../../csrc/dlmalloc.c
 *
 * The port: mappings from mmap/munmap, a spinlock on C11 atomics, an abort
 * hook that prints and aborts. Then it allocates, reallocates and frees from
 * the global heap (also from several threads at once, which is what the lock
 * hooks are for), uses an mspace, checks every result, and prints
 * "port-contract example: ok".
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS and sched_yield under -std=c11 */
#endif
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ---- the port: the hooks the allocator calls (C linkage, no prefix) -------- */

void* custom_mmap(size_t length);
int custom_munmap(void* ptr, size_t length);
void* custom_direct_mmap(size_t length);
void init_lock(void** lock);
void final_lock(void** lock);
void acquire_lock(void** lock);
void release_lock(void** lock);
void custom_abort(const char* message, const char* file, unsigned line);
int dprintf2(const char* file, int line, const char* fmt, ...);

#define MFAIL ((void*)~(size_t)0) /* the failure value: all bits set, never NULL */
#define PAGE 4096u                /* the page size of PORTABLE builds */

static atomic_long n_mmap, n_munmap, n_acquire;

void* custom_mmap(size_t length) {
  void* p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  atomic_fetch_add(&n_mmap, 1);
  return p == MAP_FAILED ? MFAIL : p;
}

/* The allocator may hand back the tail of a mapping, a range spanning several
 * address-adjacent mappings (Linux munmap handles both), a length of 0, or a
 * bogus range after an invalid free: refuse what is not page-aligned, which
 * is always safe (the memory just stays with the heap). */
int custom_munmap(void* ptr, size_t length) {
  atomic_fetch_add(&n_munmap, 1);
  if (((uintptr_t)ptr % PAGE) != 0 || (length % PAGE) != 0) return -1;
  if (length == 0) return 0;
  return munmap(ptr, length);
}

/* Dedicated mappings for large chunks. Anonymous mappings read as zeros, which
 * the contract requires (calloc skips clearing them). */
void* custom_direct_mmap(size_t length) { return custom_mmap(length); }

/* The lock is the pointer-sized word the heap owns, used as an atomic flag:
 * NULL = free, non-NULL = held. A zero-filled word must already be a valid,
 * unlocked lock, because the global heap's lock is never passed to init_lock.
 * The word is accessed as an _Atomic(void*), which has the same size and
 * representation as void* wherever it is lock-free (checked below). */
_Static_assert(sizeof(_Atomic(void*)) == sizeof(void*), "atomic pointer has the pointer's size");
#define LOCK_WORD(lock) ((_Atomic(void*)*)(void*)(lock))

void init_lock(void** lock) { atomic_init(LOCK_WORD(lock), NULL); }
void final_lock(void** lock) { (void)lock; }

void acquire_lock(void** lock) {
  atomic_fetch_add_explicit(&n_acquire, 1, memory_order_relaxed);
  for (unsigned spins = 0;; spins++) {
    void* expected = NULL;
    if (atomic_compare_exchange_weak_explicit(LOCK_WORD(lock), &expected, (void*)1,
                                              memory_order_acquire, memory_order_relaxed))
      return;
    /* Spin on a plain load, then give the CPU away: a holder preempted while
     * we spin would otherwise cost us whole time slices. */
    while (atomic_load_explicit(LOCK_WORD(lock), memory_order_relaxed) != NULL)
      if (++spins % 64 == 0) sched_yield();
  }
}

void release_lock(void** lock) { atomic_store_explicit(LOCK_WORD(lock), NULL, memory_order_release); }

/* Must not return. It can run with the heap's lock held, so it must not
 * allocate from the dl heap; stdio uses libc's own malloc, not this one. */
void custom_abort(const char* message, const char* file, unsigned line) {
  fprintf(stderr, "port-contract example: allocator abort: %s (%s:%u)\n", message, file, line);
  abort();
}

/* Only the statistics printers call it (builds with NO_MALLOC_STATS=0). */
int dprintf2(const char* file, int line, const char* fmt, ...) {
  (void)file;
  (void)line;
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(stderr, fmt, ap);
  va_end(ap);
  return r;
}

/* ---- the allocator API this program uses (USE_DL_PREFIX, MSPACES) --------- */

void* dlmalloc(size_t n);
void dlfree(void* p);
void* dlcalloc(size_t n, size_t size);
void* dlrealloc(void* p, size_t n);
void* dlmemalign(size_t alignment, size_t n);
size_t dlmalloc_usable_size(const void* p);
int dlmalloc_trim(size_t pad);
size_t dlmalloc_footprint(void);

typedef void* mspace;
mspace create_mspace(size_t capacity, int locked);
size_t destroy_mspace(mspace msp);
void* mspace_malloc(mspace msp, size_t n);
void* mspace_calloc(mspace msp, size_t n, size_t size);
void* mspace_realloc(mspace msp, void* p, size_t n);
void mspace_free(mspace msp, void* p);
size_t mspace_footprint(mspace msp);

/* ---- the checks -------------------------------------------------------------- */

static int failures;

#define EXPECT(cond)                                                                 \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      failures++;                                                                    \
      fprintf(stderr, "port-contract example: FAILED %s (line %d)\n", #cond, __LINE__); \
    }                                                                                \
  } while (0)

static int all_bytes(const void* p, unsigned char v, size_t n) {
  const unsigned char* b = (const unsigned char*)p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != v) return 0;
  return 1;
}

static void global_heap(void) {
  /* malloc: 16-aligned, at least the requested size, writable. */
  char* a = (char*)dlmalloc(100);
  EXPECT(a != NULL && (uintptr_t)a % 16 == 0 && dlmalloc_usable_size(a) >= 100);
  if (!a) return;
  memset(a, 'a', 100);

  /* calloc: zeroed. */
  unsigned* z = (unsigned*)dlcalloc(1000, sizeof *z);
  EXPECT(z != NULL && all_bytes(z, 0, 1000 * sizeof *z));

  /* realloc: growing keeps the contents, wherever the block ends up. */
  char* b = (char*)dlrealloc(a, 100000);
  EXPECT(b != NULL && all_bytes(b, 'a', 100));
  if (b) a = b;

  /* A large block, and an aligned one. */
  char* big = (char*)dlmalloc((size_t)3 << 20);
  EXPECT(big != NULL);
  if (big) {
    big[0] = 1;
    big[((size_t)3 << 20) - 1] = 2;
  }
  void* al = dlmemalign(4096, 5000);
  EXPECT(al != NULL && (uintptr_t)al % 4096 == 0);

  /* Shrinking keeps the prefix. */
  b = (char*)dlrealloc(a, 10);
  EXPECT(b != NULL && all_bytes(b, 'a', 10));
  if (b) a = b;

  size_t before = dlmalloc_footprint();
  EXPECT(before >= ((size_t)3 << 20));
  dlfree(big);
  dlfree(al);
  dlfree(z);
  dlfree(a);
  dlfree(NULL); /* a no-op */
  dlmalloc_trim(0);
  /* Freeing the 3 MiB block and trimming gave memory back to the system. */
  EXPECT(dlmalloc_footprint() < before);
  EXPECT(atomic_load(&n_munmap) > 0);
}

/* Threads share the global heap; the lock hooks serialise them. Each thread
 * fills its blocks with its own byte and checks them before freeing, so two
 * threads ever handed overlapping blocks would see each other's bytes. */
#define THREADS 4
#define ROUNDS 2000
#define SLOTS 32

static void* worker(void* arg) {
  unsigned char id = (unsigned char)(uintptr_t)arg;
  unsigned seed = id * 2654435761u + 1;
  unsigned char* slot[SLOTS] = {0};
  size_t len[SLOTS] = {0};
  int bad = 0;
  for (int r = 0; r < ROUNDS; r++) {
    for (int s = 0; s < SLOTS; s++) {
      seed = seed * 1103515245u + 12345u;
      if (slot[s]) {
        if (!all_bytes(slot[s], id, len[s])) bad++;
        dlfree(slot[s]);
      }
      len[s] = 1 + (seed >> 8) % 2000;
      slot[s] = (unsigned char*)dlmalloc(len[s]);
      if (!slot[s]) {
        bad++;
        continue;
      }
      memset(slot[s], id, len[s]);
    }
  }
  for (int s = 0; s < SLOTS; s++) {
    if (slot[s] && !all_bytes(slot[s], id, len[s])) bad++;
    dlfree(slot[s]);
  }
  return (void*)(uintptr_t)bad;
}

static void threads(void) {
  pthread_t t[THREADS];
  long acquires = atomic_load(&n_acquire);
  for (int i = 0; i < THREADS; i++)
    EXPECT(pthread_create(&t[i], NULL, worker, (void*)(uintptr_t)(i + 1)) == 0);
  for (int i = 0; i < THREADS; i++) {
    void* bad = NULL;
    pthread_join(t[i], &bad);
    EXPECT(bad == NULL);
  }
  /* Every malloc and free went through acquire_lock. */
  EXPECT(atomic_load(&n_acquire) - acquires >= (long)THREADS * ROUNDS * SLOTS * 2);
}

static void an_mspace(void) {
  long maps = atomic_load(&n_mmap);
  mspace ms = create_mspace(0, 1);
  EXPECT(ms != NULL);
  if (!ms) return;
  EXPECT(atomic_load(&n_mmap) > maps); /* its memory came from custom_mmap */
  char* p = (char*)mspace_malloc(ms, 300);
  EXPECT(p != NULL);
  if (!p) return;
  memset(p, 'm', 300);
  char* q = (char*)mspace_realloc(ms, p, 200000);
  EXPECT(q != NULL && all_bytes(q, 'm', 300));
  if (q) p = q;
  double* d = (double*)mspace_calloc(ms, 100, sizeof *d);
  EXPECT(d != NULL && all_bytes(d, 0, 100 * sizeof *d));
  EXPECT(mspace_footprint(ms) >= 200000);
  mspace_free(ms, d);
  mspace_free(ms, p);
  /* destroy_mspace gives every segment back and reports how much. */
  EXPECT(destroy_mspace(ms) > 0);
}

int main(void) {
  global_heap();
  threads();
  an_mspace();
  if (failures) {
    printf("port-contract example: %d check(s) failed\n", failures);
    return 1;
  }
  printf("port-contract example: ok\n");
  /* The line offheap's C test runner (test/c/run.sh) reads: 1 passed, 0 failed. */
  printf("RESULT 1 0\n");
  return 0;
}
