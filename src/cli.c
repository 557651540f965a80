/* cli.c — `kmirror` command line.
 *
 *   kmirror CONFIG [--clusters A B ...]          replicate (MM2's connect-mirror-maker.sh)
 *   kmirror check-config [--json] [--clusters A B ...] CONFIG
 *   kmirror mock-cluster [--brokers N] [--topic NAME:PARTITIONS]...
 *   kmirror demo [--seconds N]
 *   kmirror translate-offsets CONFIG --group G --source A --target B [--json]
 *   kmirror topology CONFIG --cluster B [--json]
 *   kmirror failover CONFIG --from A --to B [--groups REGEX] [--timeout S] [--fence | --unfence] [--dry-run]
 *   kmirror failback CONFIG --from B --to A [--groups REGEX] [--timeout S] [--fence | --unfence] [--dry-run]
 *   kmirror status --url http://HOST:PORT [--partitions]
 *   kmirror reset-position CONFIG --source A --target B --topic T [--partition P]... [--dry-run] [--force]
 *
 * --clusters takes aliases up to the next option, like MM2's; when CONFIG is written after
 * them (`check-config --clusters a b CONFIG`) the last word is the file. Exit codes: 0 ok,
 * 1 configuration or runtime error, 2 usage error. */
#include "cli.h"

#include "check_config.h"
#include "config.h"
#include "log.h"
#include "reset.h"
#include "mirror.h"
#include "mock.h"
#include "demo.h"
#include "failover.h"
#include "operator.h"
#include "status.h"
#include "providers.h"
#include "util.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cli_args {
    const char *cmd;    /* "run", "check-config", ... */
    const char *config; /* CONFIG file */
    char **clusters;
    size_t nclusters;
    char **rest; /* subcommand-specific words and options, in order */
    size_t nrest;
    bool json;
    int verbosity; /* -v: +1, -q: -1 */
    const char *log_level;
    const char *metrics_listen;
} cli_args_t;

static void usage(FILE *out) {
    fprintf(out,
            "kmirror %s — cross-cluster replication for Apache Kafka, MirrorMaker 2 compatible\n"
            "\n"
            "usage:\n"
            "  kmirror CONFIG [--clusters A B ...]      replicate every enabled flow whose target is listed\n"
            "  kmirror check-config [--json] [--clusters A B ...] CONFIG\n"
            "                                           validate CONFIG and print the resolved flows\n"
            "  kmirror mock-cluster [--brokers N] [--topic NAME:PARTITIONS]...\n"
            "                                           run a local Kafka-protocol cluster until SIGTERM\n"
            "  kmirror demo [--seconds N]               replicate between local clusters and check the result\n"
            "  kmirror translate-offsets CONFIG --group G --source A --target B [--json]\n"
            "                                           where group G should resume on B after failing over from A\n"
            "  kmirror failover CONFIG --from A --to B [--groups REGEX] [--timeout S] [--fence | --unfence] [--dry-run]\n"
            "                                           move consumer groups from A to B (planned, or unplanned when A is down);\n"
            "                                           --fence first denies WRITE on A's mirrored topics, --unfence lifts that\n"
            "  kmirror failback CONFIG --from B --to A [--groups REGEX] [--timeout S] [--fence | --unfence] [--dry-run]\n"
            "                                           the same, back over flow B->A\n"
            "  kmirror topology CONFIG --cluster B [--json]\n"
            "                                           upstream clusters of B and replication hops, from heartbeats\n"
            "  kmirror status --url http://HOST:PORT [--partitions]\n"
            "                                           show a running kmirror's flows, lag, rate and latency\n"
            "  kmirror reset-position CONFIG --source A --target B --topic T [--partition P]... [--dry-run] [--force]\n"
            "                                           forget stored positions (kmirror stopped): mirror from the start\n"
            "  kmirror --help | --version\n"
            "\n"
            "options:\n"
            "  --clusters A B ...       this process produces only to these clusters (default: all)\n"
            "  --metrics-listen H:P     serve the status page /, /metrics, /status, /healthz on H:P\n"
            "                           (also: metrics.listen)\n"
            "  -v, -q                   more or less logging (also: --log-level, log.level)\n"
            "\n"
            "CONFIG is MirrorMaker 2's connect-mirror-maker.properties. SIGTERM stops kmirror cleanly;\n"
            "SIGHUP (or POST /-/reload with metrics.lifecycle.enabled = true) reloads CONFIG.\n",
            KM_VERSION);
}

static void push(char ***v, size_t *n, char *s) {
    *v = km_xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = s;
}

static int parse_args(int argc, char **argv, cli_args_t *a) {
    static const char *const cmds[] = {"check-config", "mock-cluster", "demo", "translate-offsets", "topology", "status", "failover", "failback", "reset-position"};
    int i = 1;
    a->cmd = "run";
    for (size_t c = 0; argc > 1 && c < sizeof(cmds) / sizeof(cmds[0]); c++)
        if (strcmp(argv[1], cmds[c]) == 0) a->cmd = cmds[c], i = 2;
    for (; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--clusters") == 0) {
            while (i + 1 < argc && argv[i + 1][0] != '-') push(&a->clusters, &a->nclusters, argv[++i]);
            if (a->nclusters == 0) {
                fprintf(stderr, "kmirror: --clusters needs at least one cluster alias\n");
                return -1;
            }
        } else if (km_str_starts_with(s, "--clusters=")) {
            char **v;
            size_t n = km_split_list(s + 11, &v);
            for (size_t k = 0; k < n; k++) push(&a->clusters, &a->nclusters, v[k]);
            free(v); /* the strings now belong to a->clusters; see free_args */
        } else if (strcmp(s, "--json") == 0) {
            a->json = true;
            if (strcmp(a->cmd, "check-config") != 0) push(&a->rest, &a->nrest, argv[i]);
        } else if (strcmp(s, "-v") == 0 || strcmp(s, "--verbose") == 0) {
            a->verbosity++;
        } else if (strcmp(s, "-q") == 0 || strcmp(s, "--quiet") == 0) {
            a->verbosity--;
        } else if ((strcmp(s, "--log-level") == 0 || strcmp(s, "--metrics-listen") == 0) && i + 1 < argc) {
            if (s[2] == 'l') a->log_level = argv[++i];
            else a->metrics_listen = argv[++i];
        } else if (s[0] == '-' && strcmp(a->cmd, "run") == 0) {
            fprintf(stderr, "kmirror: unknown option '%s' (see kmirror --help)\n", s);
            return -1;
        } else if (s[0] != '-' && !a->config && strcmp(a->cmd, "run") == 0) {
            a->config = s;
        } else if (s[0] != '-' && !a->config && strcmp(a->cmd, "check-config") == 0) {
            a->config = s;
        } else {
            push(&a->rest, &a->nrest, argv[i]);
        }
    }
    /* `--clusters a b CONFIG`: the file is the last word. */
    if (!a->config && a->nclusters > 0 && (strcmp(a->cmd, "run") == 0 || strcmp(a->cmd, "check-config") == 0))
        a->config = a->clusters[--a->nclusters];
    return 0;
}

static void free_args(cli_args_t *a, int argc, char **argv) {
    /* --clusters=a,b strings were allocated; the others point into argv. */
    for (size_t i = 0; i < a->nclusters; i++) {
        bool from_argv = false;
        for (int k = 0; k < argc; k++) from_argv |= a->clusters[i] == argv[k];
        if (!from_argv) free(a->clusters[i]);
    }
    free(a->clusters);
    free(a->rest);
}

static int apply_log_level(const cli_args_t *a, const char *cfg_level) {
    const char *named = a->log_level ? a->log_level : cfg_level;
    int lvl = km_log_level_resolve(named, a->verbosity);
    if (lvl < 0) {
        fprintf(stderr, "kmirror: unknown log level '%s' (error, warn, info, debug)\n", named);
        return -1;
    }
    km_log_set_level((km_log_level_t)lvl);
    return 0;
}

static int cmd_check_config(const cli_args_t *a) {
    if (!a->config) {
        fprintf(stderr, "kmirror check-config: missing CONFIG (usage: kmirror check-config [--json] [--clusters A B ...] CONFIG)\n");
        return 2;
    }
    km_config_t cfg;
    km_diag_t d = {0};
    int rc = km_config_load(&cfg, a->config, a->clusters, a->nclusters, &d);
    km_providers_redact_logs(&cfg.secrets);
    if (!a->json) km_diag_log(&d);
    km_check_config_print(stdout, &cfg, &d, a->json);
    if (rc != 0 && !a->json) km_error("%s: %zu error(s); kmirror would not start", a->config, d.nerrors);
    km_config_free(&cfg);
    km_diag_free(&d);
    return rc == 0 ? 0 : 1;
}

static int cmd_run(const cli_args_t *a) {
    if (!a->config) {
        usage(stderr);
        return 2;
    }
    if (a->nrest) {
        fprintf(stderr, "kmirror: unexpected argument '%s' (see kmirror --help)\n", a->rest[0]);
        return 2;
    }
    km_config_t cfg;
    km_diag_t d = {0};
    int rc = km_config_load(&cfg, a->config, a->clusters, a->nclusters, &d);
    km_providers_redact_logs(&cfg.secrets); /* before the first line */
    if (cfg.log_json) km_log_set_format(KM_LOG_JSON); /* before the first line, the file's own warnings */
    km_diag_log(&d);
    if (rc == 0 && apply_log_level(a, cfg.log_level) != 0) rc = -1;
    if (a->metrics_listen) { /* the command line wins over metrics.listen */
        free(cfg.metrics_listen);
        cfg.metrics_listen = km_xstrdup(a->metrics_listen);
    }
    int status = 1;
    km_mirror_opts_t opts = {a->clusters, a->nclusters, a->metrics_listen, a->log_level, a->verbosity};
    if (rc == 0) status = km_mirror_main(&cfg, &opts);
    else km_error("%s: %zu configuration error(s); not starting (kmirror check-config %s shows the resolved flows)",
                  a->config, d.nerrors, a->config);
    km_config_free(&cfg);
    km_diag_free(&d);
    return status;
}

int km_cli_main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("kmirror %s (librdkafka %s)\n", KM_VERSION, rd_kafka_version_str());
        return 0;
    }
    cli_args_t a = {0};
    int rc = 2;
    if (parse_args(argc, argv, &a) == 0 && apply_log_level(&a, NULL) == 0) {
        if (strcmp(a.cmd, "check-config") == 0) rc = cmd_check_config(&a);
        else if (strcmp(a.cmd, "run") == 0) rc = cmd_run(&a);
        else if (strcmp(a.cmd, "mock-cluster") == 0) rc = km_mock_main((int)a.nrest, a.rest);
        else if (strcmp(a.cmd, "translate-offsets") == 0) rc = km_translate_offsets_main((int)a.nrest, a.rest);
        else if (strcmp(a.cmd, "topology") == 0) rc = km_topology_main((int)a.nrest, a.rest);
        else if (strcmp(a.cmd, "failover") == 0 || strcmp(a.cmd, "failback") == 0)
            rc = km_failover_main(a.cmd, (int)a.nrest, a.rest);
        else if (strcmp(a.cmd, "status") == 0) rc = km_status_main((int)a.nrest, a.rest);
        else if (strcmp(a.cmd, "reset-position") == 0) rc = km_reset_position_main((int)a.nrest, a.rest);
        else rc = km_demo_main((int)a.nrest, a.rest);
    }
    free_args(&a, argc, argv);
    return rc;
}
