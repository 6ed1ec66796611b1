/* c_dirent DIR: directories through wasi-libc's dirent. Creates DIR/c_dir
 * with the files `b`, `a` and `c`, lists it with opendir/readdir (printing
 * `entry NAME`, sorted, without `.` and `..`), removes the files and the
 * directory, and prints `ok dirent`; exits 1 with `FAIL ...` otherwise. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const NAMES[] = {"b", "a", "c"};
#define COUNT (sizeof NAMES / sizeof NAMES[0])

static int fail(const char *what, const char *path) {
    printf("FAIL %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: c_dirent DIR\n");
        return 2;
    }
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/c_dir", argv[1]);
    if (mkdir(dir, 0755) != 0) {
        return fail("mkdir", dir);
    }
    for (size_t i = 0; i < COUNT; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, NAMES[i]);
        FILE *file = fopen(path, "w");
        if (file == NULL) {
            return fail("fopen", path);
        }
        fputs(NAMES[i], file);
        fclose(file);
    }
    DIR *listing = opendir(dir);
    if (listing == NULL) {
        return fail("opendir", dir);
    }
    char *found[16];
    size_t seen = 0;
    struct dirent *entry;
    while ((entry = readdir(listing)) != NULL) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0 && seen < 16) {
            found[seen++] = strdup(entry->d_name);
        }
    }
    closedir(listing);
    qsort(found, seen, sizeof found[0], by_name);
    for (size_t i = 0; i < seen; i++) {
        printf("entry %s\n", found[i]);
        snprintf(path, sizeof path, "%s/%s", dir, found[i]);
        if (unlink(path) != 0) {
            return fail("unlink", path);
        }
        free(found[i]);
    }
    if (seen != COUNT) {
        printf("FAIL readdir: %zu entries, expected %zu\n", seen, COUNT);
        return 1;
    }
    if (rmdir(dir) != 0) {
        return fail("rmdir", dir);
    }
    printf("ok dirent\n");
    return 0;
}
