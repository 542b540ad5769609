/*
 * main.c — yamori-agent's command line.
 *
 *   yamori-agent [options]            run the sensor for the server this machine is enrolled with
 *   yamori-agent --stdout [options]   run the sensor, print events as JSON lines
 *   yamori-agent enroll PACKAGE [--new-identity] [--config-dir DIR]
 *   yamori-agent offboard [--config-dir DIR]
 *   yamori-agent status [--json]      print the running agent's status
 *   yamori-agent --version | --help
 *
 * Options are parsed and checked here, fatal() on anything wrong, before any
 * privilege is used; everything else lives in agent.c.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_NOT_ENROLLED 78 /* EX_CONFIG: the service unit does not restart on it */

#include "agent/agent.h"
#include "agent/agentconf.h"
#include "agent/channel.h"
#include "agent/enroll.h"
#include "agent/status.h"
#include "common/log.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: yamori-agent [options]\n"
            "       yamori-agent --stdout [options]\n"
            "       yamori-agent enroll PACKAGE [--new-identity] [--config-dir DIR]\n"
            "       yamori-agent offboard [--config-dir DIR]\n"
            "       yamori-agent status [--json]\n"
            "\n"
            "Runs Yamori's endpoint sensor. On an enrolled machine (agent.conf in the\n"
            "configuration directory) events are kept in a durable spool and sent to the\n"
            "server. With --stdout every event is printed as one JSON object per line\n"
            "(the fields of docs/events.md), with no server needed.\n"
            "\n"
            "enroll PACKAGE           onboard this machine with the onboarding package an\n"
            "                         administrator downloaded from the server\n"
            "offboard                 forget this machine's enrolment (configuration, secret)\n"
            "\n"
            "options:\n"
            "  --stdout               print events on standard output\n"
            "  --config-dir=DIR       enrolment and configuration (default /etc/yamori)\n"
            "  --new-identity         enroll: ask for a new device id instead of the machine's\n"
            "  --spool-max-size=SIZE  spool quota by size (default 1G, or agent.conf's)\n"
            "  --spool-max-age=DAYS   spool quota by age (default 7, or agent.conf's)\n"
            "  --sensor=auto|ebpf|fallback\n"
            "                         sensor back end (default auto: eBPF, else fallback)\n"
            "  --ring-size=BYTES      eBPF ring buffer size, power of two (default 8M)\n"
            "  --flush-ms=N           longest an event waits in the kernel (default 50)\n"
            "  --no-file, --no-network, --no-security, --no-logons\n"
            "                         leave out a family of events\n"
            "  --no-hash              do not hash executed images\n"
            "  --no-packages          do not look up package ownership\n"
            "  --auth-log=PATH        follow this log for logons instead of the journal\n"
            "  --sshd-log=PATH        follow OpenSSH's own log (sshd -E PATH) for logons\n"
            "                         or /var/log/auth.log\n"
            "  --state-dir=DIR        agent state (default /var/lib/yamori)\n"
            "  --status-file=PATH     status file (default /run/yamori/agent-status.json)\n"
            "  --duration=SECONDS     stop after this long\n"
            "  -v, --verbose          more messages on standard error\n"
            "  --version              print the version\n");
}

/* Parses "16M", "4096", "1G". */
static size_t parse_size(const char *s, const char *what)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (end == s)
        fatal("%s: not a size: '%s'", what, s);
    switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    }
    if (*end)
        fatal("%s: not a size: '%s'", what, s);
    return (size_t)v;
}

static long parse_num(const char *s, const char *what, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        fatal("%s: expected a number from %ld to %ld, got '%s'", what, min, max, s);
    return v;
}

int main(int argc, char **argv)
{
    enum { OPT_SENSOR = 256, OPT_RING, OPT_FLUSH, OPT_NOFILE, OPT_NONET, OPT_NOSEC, OPT_NOLOGON,
           OPT_NOHASH, OPT_NOPKG, OPT_AUTHLOG, OPT_SSHDLOG, OPT_STATEDIR, OPT_STATUSFILE, OPT_DURATION,
           OPT_VERSION, OPT_JSON, OPT_CONFIGDIR, OPT_NEWID, OPT_SPOOLSIZE, OPT_SPOOLAGE };
    static const struct option longopts[] = {
        {"stdout", no_argument, NULL, 's'},
        {"sensor", required_argument, NULL, OPT_SENSOR},
        {"ring-size", required_argument, NULL, OPT_RING},
        {"flush-ms", required_argument, NULL, OPT_FLUSH},
        {"no-file", no_argument, NULL, OPT_NOFILE},
        {"no-network", no_argument, NULL, OPT_NONET},
        {"no-security", no_argument, NULL, OPT_NOSEC},
        {"no-logons", no_argument, NULL, OPT_NOLOGON},
        {"no-hash", no_argument, NULL, OPT_NOHASH},
        {"no-packages", no_argument, NULL, OPT_NOPKG},
        {"auth-log", required_argument, NULL, OPT_AUTHLOG},
        {"sshd-log", required_argument, NULL, OPT_SSHDLOG},
        {"state-dir", required_argument, NULL, OPT_STATEDIR},
        {"status-file", required_argument, NULL, OPT_STATUSFILE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"json", no_argument, NULL, OPT_JSON},
        {"config-dir", required_argument, NULL, OPT_CONFIGDIR},
        {"new-identity", no_argument, NULL, OPT_NEWID},
        {"spool-max-size", required_argument, NULL, OPT_SPOOLSIZE},
        {"spool-max-age", required_argument, NULL, OPT_SPOOLAGE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct agent_options opt;
    struct sigaction sa;
    bool to_stdout = false, json = false, new_identity = false;
    char conf_path[1100], err[1024] = "";
    struct stat st;
    enum log_level level = LOG_LEVEL_INFO;
    int c, e;

    agent_options_default(&opt);
    log_init("yamori-agent", level);
    while ((c = getopt_long(argc, argv, "svh", longopts, NULL)) != -1) {
        switch (c) {
        case 's': to_stdout = true; break;
        case OPT_SENSOR:
            if (strcmp(optarg, "auto") == 0)
                opt.sensor = AGENT_SENSOR_AUTO;
            else if (strcmp(optarg, "ebpf") == 0)
                opt.sensor = AGENT_SENSOR_EBPF;
            else if (strcmp(optarg, "fallback") == 0)
                opt.sensor = AGENT_SENSOR_FALLBACK;
            else
                fatal("--sensor: expected auto, ebpf or fallback, got '%s'", optarg);
            break;
        case OPT_RING:
            opt.ring_bytes = parse_size(optarg, "--ring-size");
            if (opt.ring_bytes < 4096 || (opt.ring_bytes & (opt.ring_bytes - 1)))
                fatal("--ring-size: must be a power of two of at least 4096, got %zu", opt.ring_bytes);
            break;
        case OPT_FLUSH: opt.flush_ms = (int)parse_num(optarg, "--flush-ms", 1, 10000); break;
        case OPT_NOFILE: opt.enable_file = false; break;
        case OPT_NONET: opt.enable_network = false; break;
        case OPT_NOSEC: opt.enable_security = false; break;
        case OPT_NOLOGON: opt.enable_logons = false; break;
        case OPT_NOHASH: opt.hash_images = false; break;
        case OPT_NOPKG: opt.package_owner = false; break;
        case OPT_AUTHLOG: opt.auth_log = optarg; break;
        case OPT_SSHDLOG: opt.sshd_log = optarg; break;
        case OPT_STATEDIR: opt.state_dir = optarg; break;
        case OPT_STATUSFILE: opt.status_path = optarg; break;
        case OPT_DURATION: opt.max_seconds = (uint64_t)parse_num(optarg, "--duration", 1, 86400 * 365); break;
        case 'v': level = LOG_LEVEL_DEBUG; break;
        case OPT_VERSION: printf("yamori-agent %s\n", YAMORI_VERSION); return 0;
        case OPT_JSON: json = true; break;
        case OPT_CONFIGDIR:
            if (optarg[0] != '/' || strlen(optarg) > 900)
                fatal("--config-dir: expected an absolute path, got '%s'", optarg);
            opt.config_dir = optarg;
            break;
        case OPT_NEWID: new_identity = true; break;
        case OPT_SPOOLSIZE: {
            uint64_t v;
            if (agentconf_parse_size(optarg, &v) != 0 || v < (16ull << 20) || v > (1ull << 40))
                fatal("--spool-max-size: expected a size from 16M to 1T, got '%s'", optarg);
            opt.spool_max_bytes = v;
            break;
        }
        case OPT_SPOOLAGE:
            opt.spool_max_age_seconds = (uint64_t)parse_num(optarg, "--spool-max-age", 1, 365) * 86400;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    log_init("yamori-agent", level);

    if (optind < argc && strcmp(argv[optind], "status") == 0)
        return agent_status_print(opt.status_path, json) == 0 ? 0 : 1;
    if (optind < argc && strcmp(argv[optind], "enroll") == 0) {
        struct enroll_options eo = {.config_dir = opt.config_dir, .new_identity = new_identity};
        if (optind + 2 != argc) {
            fprintf(stderr, "yamori-agent: enroll needs the onboarding package's path\n");
            usage(stderr);
            return 2;
        }
        eo.package_path = argv[optind + 1];
        e = channel_global_init(err, sizeof(err));
        if (!e)
            e = enroll_run(&eo, err, sizeof(err));
        if (e)
            fprintf(stderr, "yamori-agent: enrolment failed: %s\n", err);
        channel_global_cleanup();
        return e ? 1 : 0;
    }
    if (optind < argc && strcmp(argv[optind], "offboard") == 0) {
        if (optind + 1 != argc) {
            usage(stderr);
            return 2;
        }
        e = enroll_offboard(opt.config_dir, err, sizeof(err));
        if (e)
            fprintf(stderr, "yamori-agent: %s\n", err);
        return e ? 1 : 0;
    }
    if (optind < argc) {
        fprintf(stderr, "yamori-agent: unknown command '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!to_stdout) {
        snprintf(conf_path, sizeof(conf_path), "%s/agent.conf", opt.config_dir);
        if (stat(conf_path, &st) != 0) {
            fprintf(stderr,
                    "yamori-agent: this machine is not enrolled (%s does not exist): enroll it with\n"
                    "  yamori-agent enroll PACKAGE\n"
                    "or print events without a server with --stdout\n",
                    conf_path);
            return EXIT_NOT_ENROLLED;
        }
        opt.to_server = true;
    }
    if (geteuid() != 0)
        fatal("the sensor needs root (it loads BPF programs or listens to the kernel's process events)");

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    e = agent_run(&opt, &stop_requested);
    return e == 0 ? 0 : 1;
}
