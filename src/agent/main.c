/*
 * main.c — yamori-agent's command line.
 *
 *   yamori-agent --stdout [options]   run the sensor, print events as JSON lines
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
#include <unistd.h>

#include "agent/agent.h"
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
            "usage: yamori-agent --stdout [options]\n"
            "       yamori-agent status [--json]\n"
            "\n"
            "Runs Yamori's endpoint sensor. With --stdout every event is printed as one\n"
            "JSON object per line (the fields of docs/events.md), with no server needed.\n"
            "\n"
            "options:\n"
            "  --stdout               print events on standard output\n"
            "  --sensor=auto|ebpf|fallback\n"
            "                         sensor back end (default auto: eBPF, else fallback)\n"
            "  --ring-size=BYTES      eBPF ring buffer size, power of two (default 8M)\n"
            "  --flush-ms=N           longest an event waits in the kernel (default 50)\n"
            "  --no-file, --no-network, --no-security, --no-logons\n"
            "                         leave out a family of events\n"
            "  --no-hash              do not hash executed images\n"
            "  --no-packages          do not look up package ownership\n"
            "  --auth-log=PATH        follow this log for logons instead of the journal\n"
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
           OPT_NOHASH, OPT_NOPKG, OPT_AUTHLOG, OPT_STATEDIR, OPT_STATUSFILE, OPT_DURATION,
           OPT_VERSION, OPT_JSON };
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
        {"state-dir", required_argument, NULL, OPT_STATEDIR},
        {"status-file", required_argument, NULL, OPT_STATUSFILE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct agent_options opt;
    struct sigaction sa;
    bool to_stdout = false, json = false;
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
        case OPT_STATEDIR: opt.state_dir = optarg; break;
        case OPT_STATUSFILE: opt.status_path = optarg; break;
        case OPT_DURATION: opt.max_seconds = (uint64_t)parse_num(optarg, "--duration", 1, 86400 * 365); break;
        case 'v': level = LOG_LEVEL_DEBUG; break;
        case OPT_VERSION: printf("yamori-agent %s\n", YAMORI_VERSION); return 0;
        case OPT_JSON: json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    log_init("yamori-agent", level);

    if (optind < argc && strcmp(argv[optind], "status") == 0)
        return agent_status_print(opt.status_path, json) == 0 ? 0 : 1;
    if (optind < argc) {
        fprintf(stderr, "yamori-agent: unknown command '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!to_stdout) {
        fprintf(stderr, "yamori-agent: no output chosen: use --stdout to print events\n");
        usage(stderr);
        return 2;
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
