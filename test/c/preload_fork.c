/*
 * fork() while other threads allocate, for bench/native/preload.sh: three
 * threads malloc and free in a tight loop while the main thread forks 300
 * times; each child allocates and frees, then exits 0. Under a malloc whose
 * lock a child can inherit held, a child soon waits forever: the parent gives
 * each child 10 s, then kills it and fails. Prints "forked N times" and
 * exits 0 when every child exited 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 3
#define FORKS 300

static volatile int stop;

static void* churn(void* arg) {
  unsigned seed = (unsigned)(size_t)arg;
  void* slots[64] = {0};
  while (!stop) {
    seed = seed * 1103515245u + 12345u;
    unsigned i = (seed >> 8) % 64;
    free(slots[i]);
    slots[i] = malloc(16 + (seed >> 16) % 4000);
    if (slots[i]) memset(slots[i], (int)i, 16);
  }
  for (unsigned i = 0; i < 64; i++) free(slots[i]);
  return NULL;
}

/* 0 when the child exited 0 within 10 s. */
static int reap(pid_t pid) {
  for (int waited = 0; waited < 10000; waited++) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
    if (r < 0) return 1;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  fprintf(stderr, "preload_fork: child %d still running after 10 s (a heap lock held at fork?)\n", (int)pid);
  return 1;
}

int main(void) {
  pthread_t t[THREADS];
  for (size_t i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, churn, (void*)(i + 1));
  int bad = 0;
  for (int k = 0; k < FORKS && !bad; k++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      bad = 1;
    } else if (pid == 0) {
      char* p = malloc(1000);
      if (p == NULL) _exit(2);
      memset(p, 1, 1000);
      free(p);
      _exit(0);
    } else {
      bad = reap(pid);
    }
  }
  stop = 1;
  for (size_t i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  if (!bad) printf("forked %d times\n", FORKS);
  return bad;
}
