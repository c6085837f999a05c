/*
 * offheap — a port whose mapping hooks are served by a buddy page provider
 * over one region, the composition the Node glue uses for dlmalloc arenas:
 *   custom_mmap(n)        -> buddy_pages_alloc(n)
 *   custom_direct_mmap(n) -> buddy_pages_alloc(n, BUDDY_PAGES_ZEROED)
 *   custom_munmap(p, n)   -> buddy_pages_validate, madvise(MADV_DONTNEED),
 *                            buddy_pages_free(p, n, BUDDY_PAGES_CLEAN):
 *                            0 on BUDDY_OK, else -1 (nothing touched)
 * Locks spin then yield; custom_abort prints and ends the process.
 */
#ifndef OFFHEAP_PORT_BUDDY_PAGES_H
#define OFFHEAP_PORT_BUDDY_PAGES_H

#include <stddef.h>

#include "../../csrc/buddy.h"
#include "../../csrc/portable.h"

typedef struct {
  long n_mmap, n_direct, n_munmap;
  long n_mmap_refused;   /* custom_mmap / custom_direct_mmap returned PORT_MFAIL */
  long n_munmap_refused; /* custom_munmap returned -1 */
  int last_munmap_status;
} port_buddy_counters;

extern port_buddy_counters port_buddy;

/* Serve the mapping hooks from `provider` (NULL: every mapping fails). */
void port_buddy_attach(buddy_t* provider);

#endif
