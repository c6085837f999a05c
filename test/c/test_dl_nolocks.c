/*
 * offheap — the dlmalloc core built with USE_LOCKS=0 (-UUSE_LOCKS
 * -DUSE_LOCKS=0). The fork does not compile in this configuration (spec 1.6,
 * bug B1: an empty lock macro on the right of an assignment); offheap's does,
 * and then never calls a lock hook. A few basic operations prove it runs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <string.h>

#include "../../csrc/dlmalloc.h"
#include "port_test.h"
#include "testhelper.h"

#if !defined(USE_LOCKS) || USE_LOCKS != 0
#error "test_dl_nolocks.c must be built with -UUSE_LOCKS -DUSE_LOCKS=0"
#endif

static void check_no_lock_hooks(void) {
  CHECK_EQ_SZ(port_state.n_init_lock, 0);
  CHECK_EQ_SZ(port_state.n_final_lock, 0);
  CHECK_EQ_SZ(port_state.n_acquire, 0);
  CHECK_EQ_SZ(port_state.n_release, 0);
}

TEST(nolocks_global_heap) {
  port_reset();
  unsigned char* p = dlmalloc(100);
  CHECK(p != NULL);
  CHECK_EQ_SZ(port_state.n_mmap, 1);
  CHECK_EQ_SZ(port_state.log[0].length, 64 * 1024);
  CHECK_EQ_SZ(dlmalloc_usable_size(p), 104);
  memset(p, 7, 100);
  unsigned char* q = dlrealloc(p, 3000);
  CHECK(q != NULL);
  for (int i = 0; q && i < 100; i++) CHECK(q[i] == 7);
  unsigned char* z = dlcalloc(10, 10);
  CHECK(z != NULL);
  for (int i = 0; z && i < 100; i++) CHECK(z[i] == 0);
  void* a = dlmemalign(4096, 10);
  CHECK(a != NULL && ((uintptr_t)a & 4095) == 0);
  void* pm = NULL;
  CHECK_EQ_SZ(dlposix_memalign(&pm, 64, 10), 0);
  CHECK(pm != NULL && ((uintptr_t)pm & 63) == 0);
  CHECK_EQ_SZ(dlmalloc_validate(q), DL_OK);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  dlfree(q);
  dlfree(z);
  dlfree(a);
  dlfree(pm);
  CHECK_EQ_SZ(dlmalloc_check(), DL_OK);
  CHECK(dlmallinfo().arena >= 64 * 1024);
  check_no_lock_hooks();
}

TEST(nolocks_mspace) {
  port_reset();
  mspace ms = create_mspace(0, 1); /* "locked" has no lock to use */
  CHECK(ms != NULL);
  if (!ms) return;
  void* blocks[100];
  for (int i = 0; i < 100; i++) {
    blocks[i] = mspace_malloc(ms, (size_t)(i * 37 % 2000));
    CHECK(blocks[i] != NULL);
  }
  for (int i = 0; i < 100; i += 2) mspace_free(ms, blocks[i]);
  for (int i = 1; i < 100; i += 2) CHECK_EQ_SZ(mspace_validate(ms, blocks[i]), DL_OK);
  CHECK_EQ_SZ(mspace_check(ms), DL_OK);
  CHECK(destroy_mspace(ms) >= 64 * 1024);
  check_no_lock_hooks();
}

int main(void) {
  RUN_FORKED(nolocks_global_heap);
  RUN_FORKED(nolocks_mspace);
  return test_summary("dl_nolocks");
}
