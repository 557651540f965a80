/* driver.c — runs a fuzz target without libFuzzer, so `make test` needs no clang: every file
 * named on the command line (directories: every file in them), or without arguments every file
 * of tests/fuzz/corpus/<target>/ (target: the binary's name without "fuzz_"), is passed once to
 * LLVMFuzzerTestOneInput. One TAP line per input; a crash or a broken check ends the run, which
 * tests/run.sh counts as a failure. */
#include "fuzz.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int n;
static const char *current;

static void on_abort(int sig) {
    static const char msg[] = "# crashed on input: ";
    if (current) {
        ssize_t w = write(STDOUT_FILENO, msg, sizeof(msg) - 1);
        w = write(STDOUT_FILENO, current, strlen(current));
        w = write(STDOUT_FILENO, "\n", 1);
        (void)w;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("not ok %d - %s: cannot open\n", ++n, path);
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len == cap) buf = realloc(buf, cap = cap ? cap * 2 : 4096);
        if (!buf) abort();
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    current = path; /* named if the input crashes (abort; a sanitizer report names the code) */
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    printf("ok %d - %s\n", ++n, path);
    return 0;
}

static int names_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int run_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("not ok %d - %s: no such file or directory\n", ++n, path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) return run_file(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    char **names = NULL;
    size_t k = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, (k + 1) * sizeof(*names));
        if (!names || !(names[k] = malloc(strlen(path) + strlen(e->d_name) + 2))) abort();
        sprintf(names[k++], "%s/%s", path, e->d_name);
    }
    closedir(d);
    qsort(names, k, sizeof(*names), names_cmp);
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        rc |= run_file(names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv) {
    int rc = 0;
    setvbuf(stdout, NULL, _IONBF, 0); /* TAP lines out before a crash */
    signal(SIGABRT, on_abort);
    signal(SIGSEGV, on_abort);
    if (argc > 1) {
        for (int i = 1; i < argc; i++) rc |= run_path(argv[i]);
    } else {
        const char *name = basename(argv[0]);
        if (strncmp(name, "fuzz_", 5) == 0) name += 5;
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/%s", getenv("FUZZ_CORPUS_DIR") ? getenv("FUZZ_CORPUS_DIR") : "tests/fuzz/corpus", name);
        rc = run_path(dir);
    }
    printf("1..%d\n", n);
    return rc ? 1 : 0;
}
