/*
 * offheap arena core — the lock of shared arenas and of the port's lock hooks.
 *
 * One pointer-sized word, zero when free (the port contract: a zero-filled
 * word is an unlocked lock). Acquire takes it with one compare-and-swap when
 * free; under contention it spins briefly (the holder is usually a few
 * hundred nanoseconds from releasing), then marks the word "contended" and
 * sleeps in the kernel (futex on Linux; elsewhere, yields and short sleeps),
 * so waiting threads never burn a CPU a holder needs on a 2-core machine.
 * Release is one exchange; it enters the kernel only when someone may sleep.
 */
#ifndef OFFHEAP_CORE_LOCK_H
#define OFFHEAP_CORE_LOCK_H

#ifdef __cplusplus
extern "C" {
#endif

void oh_lock_acquire(void** word);
void oh_lock_release(void** word);
/* 1 when the word was free and is now held by the caller, else 0. */
int oh_lock_try(void** word);

#ifdef __cplusplus
}
#endif

#endif
