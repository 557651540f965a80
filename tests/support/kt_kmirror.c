/* kt_kmirror.c — kmirror as a child process; see kt_kmirror.h. */
#include "kt_kmirror.h"

#include "kt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *kt_kmirror_bin(void) {
    const char *bin = getenv("KMIRROR_BIN");
    return bin && *bin ? bin : "build/kmirror";
}

/* <dir of the binary>/test-logs/<suite>: beside the build, so CI keeps it with the build, and
 * per suite, so one suite emptying its directory never removes another's logs. */
const char *kt_kmirror_dir(void) {
    static char dir[512];
    if (dir[0]) return dir;
    char bin[256], parent[300];
    snprintf(bin, sizeof bin, "%s", kt_kmirror_bin());
    snprintf(parent, sizeof parent, "%s/test-logs", dirname(bin));
    snprintf(dir, sizeof dir, "%s/%.200s", parent, program_invocation_short_name);
    if ((mkdir(parent, 0755) != 0 && errno != EEXIST) || (mkdir(dir, 0755) != 0 && errno != EEXIST)) {
        fprintf(stderr, "kt_kmirror: cannot create %s: %s; using /tmp\n", dir, strerror(errno));
        snprintf(dir, sizeof dir, "/tmp");
        return dir;
    }
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_type == DT_REG) unlinkat(dirfd(d), e->d_name, 0);
    if (d) closedir(d);
    return dir;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

int kt_kmirror_config(kt_kmirror_t *k, const char *name, const char *fmt, ...) {
    memset(k, 0, sizeof *k);
    const char *dir = kt_kmirror_dir();
    if (snprintf(k->conf, sizeof k->conf, "%s/%s.properties", dir, name) >= (int)sizeof k->conf ||
        snprintf(k->log, sizeof k->log, "%s/%s.log", dir, name) >= (int)sizeof k->log) {
        fprintf(stderr, "kt_kmirror_config(%s): path too long\n", name);
        return -1;
    }
    unlink(k->log);
    FILE *f = fopen(k->conf, "w");
    if (!f) {
        fprintf(stderr, "kt_kmirror_config: %s: %s\n", k->conf, strerror(errno));
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    if (fclose(f) != 0) {
        fprintf(stderr, "kt_kmirror_config: writing %s: %s\n", k->conf, strerror(errno));
        return -1;
    }
    return 0;
}

int kt_kmirror_rewrite(const kt_kmirror_t *k, const char *fmt, ...) {
    /* Written beside and renamed over, so a reload never reads half a file. */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.new", k->conf);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "kt_kmirror_rewrite: %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    if (fclose(f) != 0 || rename(tmp, k->conf) != 0) {
        fprintf(stderr, "kt_kmirror_rewrite: writing %s: %s\n", k->conf, strerror(errno));
        return -1;
    }
    return 0;
}

int kt_kmirror_start(kt_kmirror_t *k, const char *const *extra) {
    if (k->pid) {
        fprintf(stderr, "kt_kmirror_start(%s): already running as pid %ld\n", k->conf, (long)k->pid);
        return -1;
    }
    char *argv[16];
    size_t n = 0;
    argv[n++] = (char *)kt_kmirror_bin();
    argv[n++] = k->conf;
    for (; extra && *extra && n < 15; extra++) argv[n++] = (char *)*extra;
    argv[n] = NULL;
    k->log_mark = file_size(k->log);
    k->status = 0;
    k->pid = kt_spawn(argv, k->log);
    if (k->pid < 0) {
        k->pid = 0;
        return -1;
    }
    return 0;
}

bool kt_kmirror_alive(kt_kmirror_t *k) {
    int st;
    if (k->pid && waitpid(k->pid, &st, WNOHANG) == k->pid) {
        k->pid = 0;
        k->status = st;
    }
    return k->pid != 0;
}

static int reap(kt_kmirror_t *k, int timeout_ms) {
    int st;
    if (kt_wait_exit(k->pid, timeout_ms, &st) != 0) return -1;
    k->pid = 0;
    k->status = st;
    return 0;
}

static void describe_exit(const kt_kmirror_t *k, const char *what) {
    if (WIFEXITED(k->status))
        fprintf(stderr, "kt_kmirror %s: exited with status %d; log %s\n", what, WEXITSTATUS(k->status), k->log);
    else if (WIFSIGNALED(k->status))
        fprintf(stderr, "kt_kmirror %s: killed by %s; log %s\n", what, strsignal(WTERMSIG(k->status)), k->log);
}

int kt_kmirror_stop(kt_kmirror_t *k, int timeout_ms) {
    if (!kt_kmirror_alive(k)) {
        describe_exit(k, "stop: not running any more");
        return -1;
    }
    if (kt_signal(k->pid, SIGTERM) != 0) return -1;
    if (reap(k, timeout_ms) != 0) {
        fprintf(stderr, "kt_kmirror_stop: no exit %d ms after SIGTERM; log %s\n", timeout_ms, k->log);
        return -1;
    }
    if (!WIFEXITED(k->status) || WEXITSTATUS(k->status) != 0) {
        describe_exit(k, "stop: not a clean stop");
        return -1;
    }
    if (!kt_kmirror_logged(k, "stopped cleanly")) {
        fprintf(stderr, "kt_kmirror_stop: exit 0 without \"stopped cleanly\" in %s\n", k->log);
        return -1;
    }
    return 0;
}

int kt_kmirror_kill9(kt_kmirror_t *k) {
    if (!kt_kmirror_alive(k)) {
        describe_exit(k, "kill9: not running any more");
        return -1;
    }
    if (kt_signal(k->pid, SIGKILL) != 0 || reap(k, 10000) != 0) return -1;
    return 0;
}

int kt_kmirror_wait_exit(kt_kmirror_t *k, int timeout_ms) {
    if (!k->pid) return 0;
    return reap(k, timeout_ms);
}

char *kt_kmirror_log(const kt_kmirror_t *k) {
    char *all = kt_read_file(k->log);
    if (!all) return NULL;
    size_t len = strlen(all), mark = (size_t)k->log_mark < len ? (size_t)k->log_mark : len;
    memmove(all, all + mark, len - mark + 1);
    return all;
}

bool kt_kmirror_logged(const kt_kmirror_t *k, const char *needle) {
    char *text = kt_kmirror_log(k);
    bool found = text && strstr(text, needle);
    free(text);
    return found;
}

typedef struct {
    const kt_kmirror_t *k;
    const char *needle;
} logged_arg_t;

static bool logged_cond(void *arg) {
    const logged_arg_t *a = arg;
    return kt_kmirror_logged(a->k, a->needle);
}

bool kt_kmirror_wait_logged(const kt_kmirror_t *k, const char *needle, int timeout_ms) {
    logged_arg_t a = {k, needle};
    return kt_wait_until(logged_cond, &a, timeout_ms);
}

typedef struct port_arg {
    const kt_kmirror_t *k;
    int port;
} port_arg_t;

static bool port_logged(void *arg) {
    port_arg_t *a = arg;
    static const char said[] = "/healthz on http://127.0.0.1:";
    char *text = kt_kmirror_log(a->k);
    const char *at = text ? strstr(text, said) : NULL;
    if (at) a->port = atoi(at + strlen(said));
    free(text);
    return a->port > 0;
}

int kt_kmirror_http_port(const kt_kmirror_t *k, int timeout_ms) {
    port_arg_t a = {k, 0};
    if (kt_wait_until(port_logged, &a, timeout_ms)) return a.port;
    fprintf(stderr, "kt_kmirror_http_port(%s): no metrics endpoint logged within %d ms\n", k->log, timeout_ms);
    kt_kmirror_print_log(k);
    return 0;
}

void kt_kmirror_print_log(const kt_kmirror_t *k) {
    char *text = kt_kmirror_log(k);
    fprintf(stderr, "# ---- %s ----\n", k->log);
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        fprintf(stderr, "# %s\n", line);
        if (!nl) break;
    }
    fprintf(stderr, "# ---- end of %s ----\n", k->log);
    free(text);
}

int kt_run(char *const argv[], char **out) {
    char path[] = "/tmp/kt-run-out-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        fprintf(stderr, "kt_run(%s): mkstemp: %s\n", argv[0], strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0)
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd);
    int status = -1;
    if (pid < 0) fprintf(stderr, "kt_run(%s): fork: %s\n", argv[0], strerror(errno));
    else
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (out) *out = kt_read_file(path);
    unlink(path);
    return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool kt_it_ready(void) {
    const char *envs[] = {"KMIRROR_IT_A", "KMIRROR_IT_B", "KMIRROR_BIN"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = getenv(envs[i]);
        if (!v || !*v) {
            fprintf(stderr, "# %s is not set (tests/run.sh sets it): nothing to test against\n", envs[i]);
            return false;
        }
    }
    return true;
}

const char *kt_cluster_name(const char *env) {
    const char *v = getenv(env);
    return v && *v ? v : NULL;
}

int kt_cluster_ctl(const char *cmd, const char *name) {
    static const char script[] = "scripts/kafka-test-cluster.sh";
    char log[600];
    snprintf(log, sizeof log, "%s/cluster-%s.log", kt_kmirror_dir(), name);
    char *const argv[] = {(char *)script, (char *)cmd, (char *)name, NULL};
    pid_t pid = kt_spawn(argv, log);
    int st;
    if (pid < 0 || kt_wait_exit(pid, 180000, &st) != 0) return -1; /* a broker start under load takes a while */
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s %s %s failed (wait status 0x%x); see %s\n", script, cmd, name, st, log);
        return -1;
    }
    return 0;
}

int kt_clusters_restore(void) {
    const char *envs[] = {"KMIRROR_IT_A_NAME", "KMIRROR_IT_B_NAME"};
    for (size_t i = 0; i < 2; i++) {
        const char *name = kt_cluster_name(envs[i]);
        if (name && kt_cluster_ctl("status", name) != 0 && kt_cluster_ctl("restart", name) != 0) return -1;
    }
    return 0;
}
