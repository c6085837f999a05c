/*
 * offheap — the test port: the hooks of csrc/portable.h for the C test suite.
 *
 * Mapping hooks go to the real mmap/munmap, with knobs a test can turn and a
 * log of calls it can read. The lock is a real lock (spin, then yield). The
 * abort hook records the message and, when a test has armed a jump buffer,
 * releases the lock the aborting thread holds and longjmps back to the test;
 * unarmed, it prints the message and ends the process.
 */
#ifndef OFFHEAP_PORT_TEST_H
#define OFFHEAP_PORT_TEST_H

#include <setjmp.h>
#include <stddef.h>

#include "../../csrc/portable.h"

/* How custom_mmap places memory. */
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
  /* counters */
  int n_mmap, n_direct, n_munmap;
  int n_init_lock, n_final_lock, n_acquire, n_release;
  int n_abort;
  const char* last_abort;
  /* call log (mmap, direct, munmap), oldest first */
  port_call log[PORT_LOG_MAX];
  int n_log;
} port_state_t;

extern port_state_t port_state;

/* Reset the counters and the log (knobs are kept). */
void port_reset_counters(void);
/* Reset knobs, counters and log. Does not unmap anything. */
void port_reset(void);

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

/* Base of the reserved area used by the bump modes (NULL before first use). */
void* port_bump_area(void);

#endif
