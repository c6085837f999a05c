/*
 * offheap — the test port: the one implementation of the hooks of
 * csrc/portable.h outside the Node addon. The C test suites, the native
 * benchmark (bench/native) and the port-contract example
 * (examples/port-contract) all link test/c/port_test.c.
 *
 * Mapping hooks: by default the real mmap/munmap, with knobs a program can
 * turn (failures, bump placement, whether direct maps are served) and a log
 * of calls it can read. A page provider can serve them instead (a buddy
 * instance with port_attach_buddy, or any provider with port_attach_pages),
 * the composition the Node glue uses for dlmalloc arenas.
 *
 * Locks: a one-word test-and-test-and-set spinlock (0 = free, 1 = held). The
 * uncontended path is one CAS to acquire and one release store to release;
 * under contention it spins on a plain load with a CPU pause for 128 rounds,
 * then sched_yield()s, so a waiter never keeps a preempted holder off a CPU.
 * The lock hooks count their calls and remember the locks each thread holds.
 *
 * Abort: records the message and, when a test has armed a jump buffer,
 * releases the locks the aborting thread holds and longjmps back to the test;
 * unarmed, it prints the message and ends the process.
 *
 * Built with -DPORT_TEST_LEAN (the native benchmark is), the hooks keep no
 * books: no counters, no call log, no record of held locks. The lock hooks
 * are then the bare lock above and the mapping hooks little more than the
 * system calls, so they cost what a production port's hooks cost. The knobs
 * still work; the counters and the log stay zero, and an abort cannot be
 * caught (port_arm, port_disarm and TRY_ABORT do not exist).
 */
#ifndef OFFHEAP_PORT_TEST_H
#define OFFHEAP_PORT_TEST_H

#include <setjmp.h>
#include <stddef.h>

#include "../../csrc/buddy.h"
#include "../../csrc/portable.h"

/* How custom_mmap places memory when no page provider is attached. */
enum port_mmap_mode {
  PORT_MMAP_SYSTEM = 0,  /* plain mmap wherever the kernel puts it */
  PORT_MMAP_BOTTOM_UP,   /* bump allocation upwards inside a reserved area */
  PORT_MMAP_TOP_DOWN     /* bump allocation downwards inside a reserved area */
};

/* One recorded hook call. */
typedef struct {
  char kind;     /* 'm' custom_mmap, 'd' custom_direct_mmap, 'u' custom_munmap */
  void* ptr;     /* result of an mmap, argument of an munmap */
  size_t length;
  int result;    /* munmap's return value */
} port_call;

#define PORT_LOG_MAX 4096

typedef struct {
  /* knobs */
  int mmap_mode;          /* enum port_mmap_mode; change only before any mapping */
  int direct_enabled;     /* custom_direct_mmap maps (1) or returns PORT_MFAIL (0, default) */
  int fail_next_mmaps;    /* the next N custom_mmap calls fail */
  int fail_all_mmaps;     /* every custom_mmap/custom_direct_mmap fails */
  const char* abort_label; /* what an unarmed abort's message starts with (NULL: "custom_abort") */
  /* counters */
  int n_mmap, n_direct, n_munmap;
  int n_mmap_refused;     /* custom_mmap / custom_direct_mmap returned PORT_MFAIL */
  int n_munmap_refused;   /* custom_munmap returned non-zero */
  int last_munmap_status; /* of the last refused unmap: the provider's status, or -1 */
  int n_init_lock, n_final_lock, n_acquire, n_release;
  int n_abort;
  const char* last_abort;
  /* call log (mmap, direct, munmap), oldest first */
  port_call log[PORT_LOG_MAX];
  int n_log;
} port_state_t;

extern port_state_t port_state;

/* Reset the counters and the log (mmap_mode, direct_enabled and abort_label
 * are kept). */
void port_reset_counters(void);
/* Reset knobs, counters and log. Does not unmap anything, and leaves a page
 * provider attached. */
void port_reset(void);

#ifndef PORT_TEST_LEAN
/* Abort capture, on the thread that runs the test:
 *     port_arm();
 *     if (setjmp(port_abort_jmp) == 0) { call that should abort; }
 *     port_disarm();
 *     CHECK(port_state.n_abort == 1);
 * While armed, custom_abort releases the locks the thread holds and longjmps
 * to port_abort_jmp. */
extern jmp_buf port_abort_jmp;
void port_arm(void);
void port_disarm(void);

/* The pattern above as one statement: run `stmt` with the abort hook armed,
 * after clearing n_abort and last_abort; if the allocator calls custom_abort,
 * control comes back here. After an abort the heap it happened in is dead. */
#define TRY_ABORT(stmt)                \
  do {                                 \
    port_state.n_abort = 0;            \
    port_state.last_abort = NULL;      \
    port_arm();                        \
    if (setjmp(port_abort_jmp) == 0) { \
      stmt;                            \
    }                                  \
    port_disarm();                     \
  } while (0)
#endif

/* Base of the reserved area used by the bump modes (NULL before first use). */
void* port_bump_area(void);

/* ---- a page provider serving the mapping hooks ------------------------------
 * While one is attached:
 *   custom_mmap(n)        -> alloc(ctx, n, 0)
 *   custom_direct_mmap(n) -> alloc(ctx, n, 1)      (only when direct_enabled)
 *   custom_munmap(p, n)   -> validate(ctx, p, n); when 0, madvise(MADV_DONTNEED)
 *                            (the pages then read as zeros) and
 *                            release(ctx, p, n, clean = whether madvise worked);
 *                            0 when both gave 0, else -1 with the status in
 *                            last_munmap_status (nothing touched)
 * The knobs fail_next_mmaps, fail_all_mmaps and direct_enabled still apply,
 * mmap_mode does not; counters and log as always. */
typedef struct {
  void* ctx;
  /* A page-aligned run of `length` bytes (reading as zeros when `zeroed`), or NULL. */
  void* (*alloc)(void* ctx, size_t length, int zeroed);
  /* 0 when the whole range could be released, else the provider's status; changes nothing. */
  int (*validate)(void* ctx, const void* ptr, size_t length);
  /* Takes the range back (clean: it reads as zeros): 0, else the provider's status. */
  int (*release)(void* ctx, void* ptr, size_t length, int clean);
} port_pages;

/* Serve the mapping hooks from `pages` (copied), or from mmap again (NULL).
 * Attach and detach while no heap is using the hooks. */
void port_attach_pages(const port_pages* pages);

/* A buddy instance's page API as the provider (its statuses: BUDDY_OK is 0). */
static inline void* port_buddy_alloc_(void* b, size_t length, int zeroed) {
  return buddy_pages_alloc((buddy_t*)b, length, zeroed ? BUDDY_PAGES_ZEROED : 0);
}
static inline int port_buddy_validate_(void* b, const void* ptr, size_t length) {
  return buddy_pages_validate((buddy_t*)b, ptr, length);
}
static inline int port_buddy_release_(void* b, void* ptr, size_t length, int clean) {
  return buddy_pages_free((buddy_t*)b, ptr, length, clean ? BUDDY_PAGES_CLEAN : 0);
}
/* Serve the mapping hooks from the buddy instance `b` (NULL: from mmap again). */
static inline void port_attach_buddy(buddy_t* b) {
  port_pages p = {b, port_buddy_alloc_, port_buddy_validate_, port_buddy_release_};
  port_attach_pages(b ? &p : NULL);
}

#endif
