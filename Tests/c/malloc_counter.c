/* Counts a process's heap allocations, for tests that bound allocations per request.
 *
 * Preloaded (LD_PRELOAD) into the process under test: malloc, calloc, realloc and posix_memalign/aligned_alloc are
 * counted and passed on to glibc's own implementations (the __libc_* entry points, so no dlsym bootstrap is needed).
 * On SIGUSR2 the running totals are written, as one line "allocations <n>\n", to the file named by
 * MALLOC_COUNTER_FILE (replacing it); the test signals before and after a run and divides the difference. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static atomic_ulong allocations;

void *malloc(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_realloc(pointer, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_memalign(alignment, size);
}

/* Async-signal-safe: only atomics, open, write and close. */
static void report(int signal_number) {
    (void)signal_number;
    const char *path = getenv("MALLOC_COUNTER_FILE");
    if (path == NULL) return;
    char line[64] = "allocations ";
    size_t length = strlen(line);
    char digits[24];
    int count = 0;
    unsigned long value = atomic_load(&allocations);
    do { digits[count++] = (char)('0' + value % 10); value /= 10; } while (value > 0);
    while (count > 0) line[length++] = digits[--count];
    line[length++] = '\n';
    int saved = errno;
    int file = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (file >= 0) {
        (void)!write(file, line, length);
        close(file);
    }
    errno = saved;
}

__attribute__((constructor)) static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = report;
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &action, NULL);
}
