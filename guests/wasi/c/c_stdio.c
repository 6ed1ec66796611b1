/* c_stdio [CODE [ARGS...]]: stdio through wasi-libc. Prints `hello from c`,
 * `argc=N` and each argument as `arg[i]=...`, writes `to stderr` on stderr,
 * counts stdin's lines and bytes (`stdin lines=N bytes=M`), then returns
 * CODE from main (0 without it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    printf("hello from c\nargc=%d\n", argc);
    for (int i = 0; i < argc; i++) {
        printf("arg[%d]=%s\n", i, argv[i]);
    }
    fprintf(stderr, "to stderr\n");
    char line[256];
    size_t lines = 0, bytes = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        size_t len = strlen(line);
        bytes += len;
        if (len > 0 && line[len - 1] == '\n') {
            lines++;
        }
    }
    printf("stdin lines=%zu bytes=%zu\n", lines, bytes);
    return argc > 1 ? atoi(argv[1]) : 0;
}
