/*
 * offheap arena core — the one status enum of an arena, and its kinds.
 *
 * Every entry point of the arena core returns one of these; the glue passes
 * them to JavaScript unchanged (a negative number where a result is otherwise
 * an offset or a size). The binding exports the list by name, and
 * lib/errors.ts maps each name to the error it throws.
 */
#ifndef OFFHEAP_CORE_STATUS_H
#define OFFHEAP_CORE_STATUS_H

/* X(name, value) */
#define OH_STATUSES(X)                                                       \
  X(OK, 0)                                                                   \
  X(OOM, -1)           /* no block large enough */                          \
  X(FOREIGN, -2)       /* not inside this arena */                          \
  X(NOT_ALLOCATED, -3) /* inside, not the start of a live block */          \
  X(DESTROYED, -4)     /* the arena was destroyed */                        \
  X(CORRUPTED, -5)     /* an allocator found damaged metadata */            \
  X(VIEW_FAILED, -6)   /* the runtime refused a view (the glue's status) */ \
  X(INVALID, -7)       /* an argument lib/ should have refused */

enum oh_status {
#define OH_STATUS_ENUM(name, value) OH_##name = value,
  OH_STATUSES(OH_STATUS_ENUM)
#undef OH_STATUS_ENUM
};

/* The allocator that manages an arena's region. */
#define OH_KINDS(X) \
  X(DLMALLOC, 0, "dlmalloc") \
  X(BUDDY, 1, "buddy")

enum oh_kind {
#define OH_KIND_ENUM(name, value, label) OH_KIND_##name = value,
  OH_KINDS(OH_KIND_ENUM)
#undef OH_KIND_ENUM
};

#endif
