/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replay a fuzz corpus without libFuzzer: feed every file named on the command line, or found in a
 * directory named there, to LLVMFuzzerTestOneInput(). A crash or a failed check aborts; an empty
 * corpus is an error, so that the test cannot pass by finding nothing.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path) {
        FILE *f;
        char *buf = NULL;
        size_t size = 0, cap = 0;

        f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        for (;;) {
                size_t n;

                if (size == cap) {
                        char *b;

                        cap = cap ? cap * 2 : 4096;
                        b = realloc(buf, cap);
                        if (!b) {
                                fprintf(stderr, "%s: out of memory\n", path);
                                free(buf);
                                fclose(f);
                                return -1;
                        }
                        buf = b;
                }
                n = fread(buf + size, 1, cap - size, f);
                if (n == 0)
                        break;
                size += n;
        }
        if (ferror(f)) {
                fprintf(stderr, "%s: read error\n", path);
                free(buf);
                fclose(f);
                return -1;
        }
        fclose(f);

        LLVMFuzzerTestOneInput((const uint8_t *) buf, size);
        free(buf);
        printf("ok %s (%zu bytes)\n", path, size);
        return 0;
}

static int compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Replay the regular files of a directory in name order; returns the number replayed or -1. */
static int replay_dir(const char *dir) {
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;
        int count = 0;
        DIR *d;

        d = opendir(dir);
        if (!d) {
                fprintf(stderr, "%s: %s\n", dir, strerror(errno));
                return -1;
        }
        while ((de = readdir(d))) {
                char **a;

                if (de->d_name[0] == '.')
                        continue;
                a = realloc(names, (n + 1) * sizeof(char *));
                if (!a)
                        break;
                names = a;
                if (asprintf(&names[n], "%s/%s", dir, de->d_name) < 0)
                        break;
                n++;
        }
        closedir(d);
        qsort(names, n, sizeof(char *), compare);

        for (size_t i = 0; i < n; i++) {
                struct stat st;

                if (count >= 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
                        if (replay_file(names[i]) < 0)
                                count = -1;
                        else
                                count++;
                }
                free(names[i]);
        }
        free(names);
        return count;
}

int main(int argc, char **argv) {
        int total = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s CORPUS-DIR|FILE...\n", argv[0]);
                return EXIT_FAILURE;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int n;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        return EXIT_FAILURE;
                }
                n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -1;
                if (n < 0)
                        return EXIT_FAILURE;
                total += n;
        }
        if (total == 0) {
                fprintf(stderr, "no corpus file found\n");
                return EXIT_FAILURE;
        }
        printf("%d inputs replayed\n", total);
        return EXIT_SUCCESS;
}
