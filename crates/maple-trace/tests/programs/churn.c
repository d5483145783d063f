/* Many random memory calls in a small address space: CALLS calls (default 30,000) of mmap,
 * munmap and mprotect on random pages of a few dozen regions, from a seeded generator. The
 * scale runs in the maple-trace README capture and replay it; tests/capture.rs runs a short
 * one. Usage: churn [CALLS] [SEED] */
#include <sys/mman.h>
#include <stdint.h>
#include <stdlib.h>

#define SLOTS 64
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
  long calls = argc > 1 ? atol(argv[1]) : 30000;
  state = argc > 2 ? strtoull(argv[2], 0, 10) | 1 : 88172645463325252ULL;
  char *slot[SLOTS] = {0};
  unsigned long pages[SLOTS] = {0};
  static const int prots[] = {PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE,
                              PROT_READ | PROT_EXEC};
  for (long i = 0; i < calls; i++) {
    unsigned s = next() % SLOTS;
    int prot = prots[next() % 4];
    if (!slot[s]) {
      /* A new region of 1 to 32 pages where the kernel chooses. */
      pages[s] = 1 + next() % 32;
      char *p = mmap(0, pages[s] * PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      slot[s] = p == MAP_FAILED ? 0 : p;
      continue;
    }
    unsigned long first = next() % pages[s];
    unsigned long count = 1 + next() % (pages[s] - first);
    char *at = slot[s] + first * PAGE;
    switch (next() % 4) {
    case 0: /* Unmap the whole region. */
      munmap(slot[s], pages[s] * PAGE);
      slot[s] = 0;
      break;
    case 1: /* Punch a hole (the region keeps its extent in the books). */
      munmap(at, count * PAGE);
      break;
    case 2: /* Map over part of it. */
      mmap(at, count * PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      break;
    default: /* Change the protection of part of it (fails with ENOMEM over a hole). */
      mprotect(at, count * PAGE, prot);
      break;
    }
  }
  return 0;
}
