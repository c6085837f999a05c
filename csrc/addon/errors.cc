/*
 * offheap glue — core statuses to the glue's status numbers (arena.h). The
 * numbers become error codes in lib/errors.ts:
 *   ST_OOM -> ERR_ARENA_OOM, ST_FOREIGN -> ERR_ARENA_FOREIGN,
 *   ST_NOT_ALLOCATED -> ERR_ARENA_NOT_ALLOCATED, ST_DESTROYED ->
 *   ERR_ARENA_DESTROYED, ST_CORRUPTED -> ERR_ARENA_CORRUPTED.
 */
#include "arena.h"

namespace offheap {

int status_from_dl(int s) {
  switch (s) {
    case DL_OK: return ST_OK;
    case DL_E_FOREIGN: return ST_FOREIGN;
    case DL_E_NOT_ALLOCATED: return ST_NOT_ALLOCATED;
    case DL_E_CORRUPTED: return ST_CORRUPTED;
    default: return ST_INVALID;
  }
}

int status_from_buddy(int s) {
  switch (s) {
    case BUDDY_OK: return ST_OK;
    case BUDDY_E_FOREIGN: return ST_FOREIGN;
    case BUDDY_E_DOUBLE_FREE:
    case BUDDY_E_INTERIOR:
    case BUDDY_E_STALE:
    case BUDDY_E_NOT_ALLOCATED: return ST_NOT_ALLOCATED;
    case BUDDY_E_NOMEM: return ST_OOM;
    case BUDDY_E_CORRUPTED: return ST_CORRUPTED;
    default: return ST_INVALID;
  }
}

}  // namespace offheap
