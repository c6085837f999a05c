/*
 * offheap glue — the lock of the port hooks and of shared arenas.
 *
 * One pointer-sized word, zero when free (the port contract: a zero-filled
 * word is an unlocked lock). Acquire takes it with one compare-and-swap when
 * free; under contention it spins briefly (the holder is usually a few
 * hundred nanoseconds from releasing), then marks the word "contended" and
 * sleeps in the kernel (futex on Linux; elsewhere, yields and short sleeps),
 * so waiting threads never burn a CPU a holder needs on a 2-core machine.
 * Release is one exchange; it enters the kernel only when someone may sleep.
 */
#ifndef OFFHEAP_ADDON_LOCK_H
#define OFFHEAP_ADDON_LOCK_H

namespace offheap {

void word_lock_acquire(void** word);
void word_lock_release(void** word);

/* RAII form for glue code; a null word means "no lock" (an arena of one thread). */
struct WordLock {
  explicit WordLock(void** w) : word(w) {
    if (word) word_lock_acquire(word);
  }
  ~WordLock() {
    if (word) word_lock_release(word);
  }
  WordLock(const WordLock&) = delete;
  WordLock& operator=(const WordLock&) = delete;
  void** word;
};

}  // namespace offheap

#endif
