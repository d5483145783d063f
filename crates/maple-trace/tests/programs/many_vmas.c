/* A large address space: N VMAs (default 20,000) of one page each with alternating
 * protections, so that none merges, then N random calls that unmap a page or map one with
 * MAP_FIXED. The scale runs in the maple-trace README capture and replay it; tests/capture.rs
 * runs a small one. Usage: many_vmas [N] [SEED] */
#include <sys/mman.h>
#include <stdint.h>
#include <stdlib.h>

#define PAGE 4096UL

static uint64_t state;

/* xorshift64*: the same calls on every machine for one seed. */
static uint64_t next(void) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 2685821657736338717ULL;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 20000;
  state = argc > 2 ? strtoull(argv[2], 0, 10) | 1 : 88172645463325252ULL;
  if (n < 1)
    return 2;
  /* Reserve the range, then fill it page by page. */
  char *base = mmap(0, n * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED)
    return 1;
  for (long i = 0; i < n; i++) {
    int prot = i % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
    mmap(base + i * PAGE, PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  }
  for (long i = 0; i < n; i++) {
    char *at = base + (next() % n) * PAGE;
    if (next() % 2)
      munmap(at, PAGE);
    else
      mmap(at, PAGE, next() % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  }
  return 0;
}
