/* c_time: clocks through wasi-libc. CLOCK_REALTIME and time() must say a
 * date after 2020-01-01, and CLOCK_MONOTONIC must see at least 20 ms pass
 * across nanosleep(20 ms). Prints `ok c time`, or `FAIL ...` and exits 1. */
#include <stdio.h>
#include <time.h>

/* 2020-01-01T00:00:00Z in seconds since the epoch. */
#define YEAR_2020 1577836800LL

static long long nanos(struct timespec t) {
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(void) {
    struct timespec now, before, after;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0 || now.tv_sec <= YEAR_2020 || time(NULL) <= YEAR_2020) {
        printf("FAIL wall clock: %lld\n", (long long)now.tv_sec);
        return 1;
    }
    struct timespec nap = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &before);
    if (nanosleep(&nap, NULL) != 0) {
        printf("FAIL nanosleep\n");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &after);
    if (nanos(after) - nanos(before) < nanos(nap)) {
        printf("FAIL slept %lld ns\n", nanos(after) - nanos(before));
        return 1;
    }
    printf("ok c time\n");
    return 0;
}
