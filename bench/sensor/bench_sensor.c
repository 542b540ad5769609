/*
 * bench_sensor.c — what the agent costs an exec storm.
 *
 * Two parallel loops fork and exec /bin/true (20,000 execs in all), first
 * without the agent, then with the release agent running with every event
 * family, enrichment and hashing on and its events written to /dev/null;
 * alternated several rounds. Prints execs/s for both, the ratio, exec
 * records the sensor saw against the execs made, events lost, the agent's
 * CPU per event and its resident memory.
 *
 *   bench_sensor [AGENT_BINARY] [ROUNDS] [EXECS]
 *
 * Extra agent options (to measure one family alone, say) can be given in
 * the environment: YAMORI_BENCH_AGENT_ARGS="--no-file --no-network".
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Two workers, execs/2 fork+exec each; returns execs per second. */
static double storm(long execs)
{
    pid_t w[2];
    double t0 = now_s();

    for (int i = 0; i < 2; i++) {
        w[i] = fork();
        if (w[i] == 0) {
            for (long n = 0; n < execs / 2; n++) {
                pid_t p = fork();
                if (p == 0) {
                    execl("/bin/true", "true", (char *)NULL);
                    _exit(127);
                }
                waitpid(p, NULL, 0);
            }
            _exit(0);
        }
    }
    waitpid(w[0], NULL, 0);
    waitpid(w[1], NULL, 0);
    return (double)execs / (now_s() - t0);
}

struct agent {
    pid_t pid;
    char status[128];
};

static json_t *read_status(const struct agent *a)
{
    json_error_t e;
    return json_load_file(a->status, 0, &e);
}

static long long jint(json_t *o, const char *k1, const char *k2)
{
    json_t *v = json_object_get(o, k1);
    if (k2)
        v = json_object_get(v, k2);
    return json_integer_value(v);
}

/* Starts the agent with output to /dev/null; waits for its first status. */
static int agent_start(struct agent *a, const char *bin)
{
    snprintf(a->status, sizeof(a->status), "/tmp/yamori-bench-%d.status", (int)getpid());
    unlink(a->status);
    a->pid = fork();
    if (a->pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        const char *argv[32] = {bin, "--stdout", "--no-logons", "--status-file", a->status, "--state-dir", "/tmp"};
        int argc = 7;
        char *extra = getenv("YAMORI_BENCH_AGENT_ARGS");
        for (char *tok = extra ? strtok(extra, " ") : NULL; tok && argc < 31; tok = strtok(NULL, " "))
            argv[argc++] = tok;
        argv[argc] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 300; i++) {
        json_t *st;
        usleep(100000);
        st = read_status(a);
        if (st) {
            json_decref(st);
            sleep(1); /* let the snapshot and start-up settle */
            return 0;
        }
    }
    return -1;
}

static void agent_stop(struct agent *a)
{
    kill(a->pid, SIGTERM);
    waitpid(a->pid, NULL, 0);
    unlink(a->status);
}

/* utime + stime of pid, in seconds. */
static double cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    FILE *f;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    if (!fgets(buf, sizeof(buf), f)) {
        fclose(f);
        return 0;
    }
    fclose(f);
    p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* fields 14 and 15 after the pid: state is field 3 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : "build/rel/yamori-agent";
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    long execs = argc > 3 ? atol(argv[3]) : 20000;
    double base[32], with[32], cpu_per_event = 0, rss_max = 0;
    long long seen_total = 0, lost_total = 0, events_total = 0;
    double cpu_total = 0;

    if (geteuid() != 0) {
        fprintf(stderr, "bench_sensor: needs root to run the agent\n");
        return 1;
    }
    if (rounds < 1 || rounds > 32)
        rounds = 5;
    storm(2000); /* warm caches */
    printf("bench/sensor: %ld execs (2 parallel fork+exec loops of /bin/true) per run, %d rounds\n", execs, rounds);
    printf("agent: %s, events to /dev/null, options: %s\n", bin,
           getenv("YAMORI_BENCH_AGENT_ARGS") ? getenv("YAMORI_BENCH_AGENT_ARGS") : "(all families, hashing, packages)");
    for (int r = 0; r < rounds; r++) {
        struct agent a;
        json_t *s0, *s1;
        double c0, c1;

        base[r] = storm(execs);
        if (agent_start(&a, bin) != 0) {
            fprintf(stderr, "bench_sensor: the agent did not start\n");
            return 1;
        }
        s0 = read_status(&a);
        c0 = cpu_s(a.pid);
        with[r] = storm(execs);
        sleep(2); /* let the agent drain and write its status */
        c1 = cpu_s(a.pid);
        s1 = read_status(&a);
        if (s0 && s1) {
            long long seen = jint(s1, "RecordsEmitted", "exec") - jint(s0, "RecordsEmitted", "exec");
            long long lost = jint(s1, "EventsLost", NULL) - jint(s0, "EventsLost", NULL);
            long long evs = jint(s1, "EventsOut", NULL) - jint(s0, "EventsOut", NULL);
            double rss = (double)jint(s1, "MaxResidentBytes", NULL) / 1048576.0;
            seen_total += seen;
            lost_total += lost;
            events_total += evs;
            cpu_total += c1 - c0;
            if (rss > rss_max)
                rss_max = rss;
            printf("round %d: without %8.0f execs/s   with %8.0f execs/s   (%5.1f%%)   exec records %lld/%ld  "
                   "lost %lld  events %lld  agent cpu %.2fs\n",
                   r + 1, base[r], with[r], 100.0 * (with[r] / base[r] - 1.0), seen, execs, lost, evs, c1 - c0);
        }
        json_decref(s0);
        json_decref(s1);
        agent_stop(&a);
    }
    qsort(base, (size_t)rounds, sizeof(double), cmp_double);
    qsort(with, (size_t)rounds, sizeof(double), cmp_double);
    if (events_total)
        cpu_per_event = cpu_total / (double)events_total * 1e6;
    printf("median without agent: %.0f execs/s\n", base[rounds / 2]);
    printf("median with agent:    %.0f execs/s\n", with[rounds / 2]);
    printf("ratio:                %.3f (agent costs %.1f%% of the storm's throughput)\n",
           with[rounds / 2] / base[rounds / 2], 100.0 * (1.0 - with[rounds / 2] / base[rounds / 2]));
    printf("exec records seen:    %lld of %ld expected (at least; other processes exec too)\n", seen_total,
           execs * rounds);
    printf("events lost:          %lld\n", lost_total);
    printf("agent cpu per event:  %.2f us (%lld events)\n", cpu_per_event, events_total);
    printf("agent max resident:   %.1f MiB\n", rss_max);
    return lost_total == 0 && seen_total >= execs * rounds ? 0 : 1;
}
