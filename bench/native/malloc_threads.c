/*
 * A multi-threaded malloc benchmark in the style of glibc's bench-malloc-thread,
 * for bench/native/preload.sh, which runs it under glibc and under the core
 * (LD_PRELOAD): each of N threads keeps its own 1024 slots and, for a fixed
 * time, frees a random slot and allocates a new block of a random size
 * (log-uniform 16 B..4 KiB, one in 32 up to 32 KiB) into it, writing its first
 * and last byte. No block crosses threads: what it measures is the allocator's
 * cost per call when every thread allocates at once.
 *
 *   malloc_threads THREADS SECONDS   prints "threads T: OPS ops in S s: X Mops/s"
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 1024

static volatile int running = 1;

typedef struct {
  uint64_t seed;
  uint64_t ops;
} worker;

static uint64_t next(uint64_t* s) { /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

static size_t size_of(uint64_t r) {
  unsigned top = (r & 31) == 0 ? 15 : 12;             /* 2^15 = 32 KiB, 2^12 = 4 KiB */
  unsigned bits = 4 + (unsigned)((r >> 5) % (top - 3)); /* 16 B .. 2^top */
  size_t lo = (size_t)1 << bits;
  return lo + (size_t)((r >> 16) % lo);
}

static void* work(void* arg) {
  worker* w = arg;
  unsigned char* slot[SLOTS] = {0};
  size_t len[SLOTS] = {0};
  uint64_t ops = 0;
  while (running) {
    for (int k = 0; k < 256; k++) {
      uint64_t r = next(&w->seed);
      unsigned i = (unsigned)(r >> 40) % SLOTS;
      if (slot[i] != NULL && (slot[i][0] != (unsigned char)i || slot[i][len[i] - 1] != (unsigned char)i)) {
        fprintf(stderr, "malloc_threads: a block lost its contents\n");
        abort();
      }
      free(slot[i]);
      size_t n = size_of(r);
      slot[i] = malloc(n);
      if (slot[i] == NULL) {
        fprintf(stderr, "malloc_threads: out of memory\n");
        abort();
      }
      len[i] = n;
      slot[i][0] = slot[i][n - 1] = (unsigned char)i;
    }
    ops += 256;
  }
  for (int i = 0; i < SLOTS; i++) free(slot[i]);
  w->ops = ops;
  return NULL;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  double seconds = argc > 2 ? atof(argv[2]) : 1.0;
  if (threads < 1 || threads > 64 || !(seconds > 0)) {
    fprintf(stderr, "usage: malloc_threads THREADS SECONDS\n");
    return 2;
  }
  pthread_t t[64];
  worker w[64];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < threads; i++) {
    w[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    w[i].ops = 0;
    pthread_create(&t[i], NULL, work, &w[i]);
  }
  struct timespec d = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  nanosleep(&d, NULL);
  running = 0;
  uint64_t ops = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(t[i], NULL);
    ops += w[i].ops;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("threads %d: %llu ops in %.3f s: %.2f Mops/s\n", threads, (unsigned long long)ops, s, (double)ops / s / 1e6);
  return 0;
}
