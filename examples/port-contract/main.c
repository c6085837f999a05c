/*
 * A program that uses offheap's allocator core (csrc/dlmalloc.c) the way a
 * user of portable-dlmalloc does: it declares the dl* / mspace_* functions it
 * calls itself, links csrc/dlmalloc.c unchanged, and gives it a port, the
 * hooks of the port contract (csrc/portable.h):
 *
 *   cc -DPORTABLE -DUSE_LOCKS=2 -DUSE_DL_PREFIX -DMSPACES -O2 -pthread \
 *      main.c ../../test/c/port_test.c ../../csrc/dlmalloc.c
 *
 * The port is offheap's worked one, test/c/port_test.c (README.md says what
 * each hook must do and how port_test.c does it): mappings from mmap/munmap,
 * a spinlock on the heap's lock word, an abort hook that prints and aborts.
 * This program turns the two knobs it needs (direct maps served; its name in
 * abort messages), reads the port's counters to watch the hooks at work, and
 * allocates, reallocates and frees from the global heap (also from several
 * threads at once, which is what the lock hooks are for), uses an mspace,
 * checks every result, and prints "port-contract example: ok".
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The port: its knobs (port_state) and counters; the hooks themselves are
 * declared by csrc/portable.h, which this header includes. */
#include "../../test/c/port_test.h"

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
  EXPECT(port_state.n_munmap > 0);
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
  long acquires = port_state.n_acquire;
  for (int i = 0; i < THREADS; i++)
    EXPECT(pthread_create(&t[i], NULL, worker, (void*)(uintptr_t)(i + 1)) == 0);
  for (int i = 0; i < THREADS; i++) {
    void* bad = NULL;
    pthread_join(t[i], &bad);
    EXPECT(bad == NULL);
  }
  /* Every malloc and free went through acquire_lock. */
  EXPECT(port_state.n_acquire - acquires >= (long)THREADS * ROUNDS * SLOTS * 2);
}

static void an_mspace(void) {
  long maps = port_state.n_mmap;
  mspace ms = create_mspace(0, 1);
  EXPECT(ms != NULL);
  if (!ms) return;
  EXPECT(port_state.n_mmap > maps); /* its memory came from custom_mmap */
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
  /* Large chunks get dedicated mappings through custom_direct_mmap (the test
   * port refuses them unless asked, and dlmalloc then uses custom_mmap). */
  port_state.direct_enabled = 1;
  port_state.abort_label = "port-contract example: allocator abort";
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
