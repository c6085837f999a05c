/*
 * offheap — the dlmalloc core built WITHOUT USE_DL_PREFIX: its public names
 * are the standard ones (malloc, free, ..., malloc_footprint), so in this
 * binary it replaces glibc's allocator for everything, libc's own internal
 * allocations included (stdio buffers, strdup).
 *
 * Build notes (see the dl_unprefixed line in suites.txt):
 *  - AddressSanitizer cannot run with malloc replaced: its start-up calls
 *    malloc (through dlsym) before its shadow memory exists, so instrumented
 *    allocator code crashes. The suite is built with -fno-sanitize=address;
 *    in the sanitize variant UBSan stays on.
 *  - -fno-builtin keeps the compiler from treating malloc/free as builtins
 *    (it may otherwise delete a malloc/free pair this test relies on).
 *  - Do not include <malloc.h>: glibc's mallinfo has int fields.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/dlmalloc.h"
#include "port_test.h"
#include "testhelper.h"

#ifdef USE_DL_PREFIX
#error "test_dl_unprefixed.c must be built without USE_DL_PREFIX"
#endif

TEST(unprefixed_names_reach_dlmalloc) {
  unsigned char* p = malloc(100);
  CHECK(p != NULL);
  CHECK_EQ_SZ(malloc_validate(p), DL_OK); /* dlmalloc's, not glibc's */
  CHECK_EQ_SZ(malloc_usable_size(p), 104);
  CHECK(port_state.n_mmap >= 1);          /* memory came through the port */
  CHECK(malloc_footprint() >= 64 * 1024);
  CHECK(malloc_max_footprint() >= malloc_footprint());
  CHECK_EQ_SZ(malloc_footprint_limit(), SIZE_MAX);
  memset(p, 9, 100);
  p = realloc(p, 5000);
  CHECK(p != NULL && p[99] == 9);
  unsigned char* z = calloc(50, 2);
  CHECK(z != NULL && z[0] == 0 && z[99] == 0);
  void* m = memalign(256, 10);
  CHECK(m != NULL && ((uintptr_t)m & 255) == 0);
  void* v = valloc(10);
  CHECK(v != NULL && ((uintptr_t)v & 4095) == 0);
  void* pv = pvalloc(10);
  CHECK(pv != NULL && ((uintptr_t)pv & 4095) == 0);
  void* pm = NULL;
  CHECK_EQ_SZ(posix_memalign(&pm, 64, 10), 0);
  CHECK(pm != NULL && malloc_validate(pm) == DL_OK);
  CHECK(realloc_in_place(p, 10) == p);
  void** ic = independent_calloc(2, 8, NULL);
  CHECK(ic != NULL);
  void* arr[7] = {p, z, m, v, pv, pm, NULL};
  if (ic) {
    arr[6] = ic[0];
    free(ic[1]);
    free(ic);
  }
  CHECK_EQ_SZ(bulk_free(arr, 7), 0);
  CHECK_EQ_SZ(mallopt(M_TRIM_THRESHOLD, 1 << 20), 1);
  struct mallinfo mi = mallinfo();
  CHECK_EQ_SZ(mi.uordblks + mi.fordblks, malloc_footprint());
  int trimmed = malloc_trim(0);
  CHECK(trimmed == 0 || trimmed == 1);
  CHECK_EQ_SZ(malloc_check(), DL_OK);
  CHECK(malloc_check_message() != NULL);
}

/* libc's own allocations go to dlmalloc too, and free takes them back. */
TEST(unprefixed_libc_uses_it) {
  char* s = strdup("offheap");
  CHECK(s != NULL);
  CHECK_EQ_SZ(malloc_validate(s), DL_OK);
  free(s);
  CHECK_EQ_SZ(malloc_validate(s), DL_E_NOT_ALLOCATED);
  char buf[64];
  FILE* f = fmemopen(buf, sizeof buf, "w"); /* stdio allocates its FILE */
  CHECK(f != NULL);
  if (f) {
    fprintf(f, "%d", 42);
    fclose(f);
  }
  CHECK_EQ_SZ(malloc_check(), DL_OK);
}

int main(void) {
  /* no port_reset(): libc may have allocated (through dlmalloc) already */
  RUN(unprefixed_names_reach_dlmalloc);
  RUN(unprefixed_libc_uses_it);
  return test_summary("dl_unprefixed");
}
