/* Every memory call the capture records, from several threads, a fork and a vfork: the
 * end-to-end test in tests/capture.rs compiles this, captures it and replays it with checks. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <fcntl.h>
#include <pthread.h>
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
static void *thr(void *a) { (void)a; for (int i = 0; i < 50; i++) { void *p = mmap(0, 65536 * (i % 5 + 1), PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0); memset(p, 1, 4096); munmap(p, 65536); } return 0; }
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  long pg = 4096;
  char *a = mmap(0, 64 * pg, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
  for (int i = 0; i < 64; i += 2) mprotect(a + i * pg, pg, PROT_READ);
  for (int i = 0; i < 64; i += 2) mprotect(a + i * pg, pg, PROT_READ|PROT_WRITE);
  mlock(a + 4 * pg, 8 * pg); munlock(a + 6 * pg, 2 * pg);
  syscall(SYS_mlock2, a + 20 * pg, 4 * pg, 1 /* MLOCK_ONFAULT */);
  madvise(a + 30 * pg, 4 * pg, MADV_DONTDUMP); madvise(a + 30 * pg, 2 * pg, MADV_DODUMP);
  madvise(a + 40 * pg, 4 * pg, MADV_WIPEONFORK); madvise(a + 44 * pg, 4 * pg, MADV_DONTFORK);
  madvise(a + 50 * pg, 4 * pg, MADV_DONTNEED); madvise(a + 50 * pg, 4 * pg, MADV_HUGEPAGE);
  madvise(a + 52 * pg, 4 * pg, MADV_NOHUGEPAGE); madvise(a + 1, pg, MADV_DONTFORK);
  prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, a + 56 * pg, 4 * pg, "edge buf");
  char *g = mmap(0, 16 * pg, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_GROWSDOWN, -1, 0);
  mprotect(g + 8 * pg, pg, PROT_READ|PROT_GROWSDOWN);
  mmap(a, pg, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0);
  char *r = mremap(a + 8 * pg, 4 * pg, 4 * pg, MREMAP_MAYMOVE|MREMAP_DONTUNMAP);
  r = mremap(r, 4 * pg, 16 * pg, MREMAP_MAYMOVE);
  mremap(r, 16 * pg, 2 * pg, 0);
  char *s = mmap(0, 8 * pg, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0);
  mprotect(s + 2 * pg, 2 * pg, PROT_READ);
  mmap(0, 4 * pg, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE|MAP_LOCKED, -1, 0);
  mmap(0, 4 * pg, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0);
  mmap(0, 4 * pg, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0);
  int fd = open(argv[1], O_RDWR|O_CREAT|O_TRUNC, 0600); ftruncate(fd, 32 * pg);
  char *f = mmap(0, 32 * pg, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);
  mprotect(f + 4 * pg, 4 * pg, PROT_READ); mremap(f + 28 * pg, 4 * pg, 8 * pg, MREMAP_MAYMOVE);
  int ro = open(argv[1], O_RDONLY); mmap(0, 4 * pg, PROT_READ, MAP_SHARED, ro, 0);
  mmap(0, 4 * pg, PROT_READ|PROT_WRITE, MAP_SHARED, ro, 0);
  mmap(0, 4 * pg, PROT_READ|PROT_WRITE, MAP_PRIVATE, ro, 4 * pg);
  void *b0 = sbrk(0); sbrk(40 * pg); sbrk(-20 * pg); brk(b0);
  syscall(SYS_pkey_mprotect, a + 60 * pg, pg, PROT_READ, 0);
  /* Protection keys: EINVAL everywhere without PKU; with it a key splits a VMA, and
   * execute-only memory gets a key of its own. */
  long key = syscall(SYS_pkey_alloc, 0, 0);
  syscall(SYS_pkey_mprotect, a + 62 * pg, pg, PROT_READ|PROT_WRITE, key);
  syscall(SYS_pkey_free, key); syscall(SYS_pkey_free, key);
  mmap(0, 2 * pg, PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
  pthread_t t[3]; for (int i = 0; i < 3; i++) pthread_create(&t[i], 0, thr, 0);
  pid_t p = fork(); if (p == 0) { munmap(a, 16 * pg); mprotect(s, pg, PROT_NONE); _exit(0); }
  for (int i = 0; i < 3; i++) pthread_join(t[i], 0);
  waitpid(p, 0, 0);
  p = vfork(); if (p == 0) { execl("/bin/true", "true", (char *)0); _exit(1); }
  waitpid(p, 0, 0);
  mlockall(MCL_CURRENT); munlockall();
  munmap(a + 10 * pg, 40 * pg);
  syscall(462 /* mseal */, a + 60 * pg, 4 * pg, 0);
  munmap(a + 60 * pg, pg);
  printf("done\n");
  return 0;
}
