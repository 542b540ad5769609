/*
 * cmd_up.c — `yamori up`: Yamori on this one machine, in one command.
 *
 *   yamori up [--data-dir DIR] [--listen ADDR:PORT] [--public-url URL]
 *             [--server-user USER] [--agent-config-dir DIR] [--agent-state-dir DIR]
 *             [--no-agent] [--set KEY=VALUE]...
 *
 * Runs, as root: the service user (`yamori`, or --server-user) is created
 * if missing; the
 * server starts on SQLite in the data directory (its CA, certificate and
 * first admin are made at first start, the admin's password kept in
 * <data-dir>/admin-password, 0600, so that `up` can print it again); the
 * CLI logs in as that admin for root (`yamori devices` works at once); this
 * machine is onboarded and enrolled unless its agent is already; the agent
 * starts. Then the console URL and the credentials are printed, and `up`
 * stays in the foreground until Ctrl-C or SIGTERM, when it stops the agent
 * and the server. Every step is one of the ordinary commands (`yamori
 * server`, `yamori login`, `yamori onboard`, `yamori-agent enroll`,
 * `yamori-agent`), run as a child, so `up` adds no path of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* The directory this binary lives in (yamori-agent sits next to it). */
static void self_dir(char *out, size_t outlen)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    char *slash;

    if (n <= 0) {
        snprintf(out, outlen, ".");
        return;
    }
    path[n] = '\0';
    slash = strrchr(path, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, outlen, "%s", path);
}

/* Runs argv and waits; returns its exit status (or -1), its output going
 * to log when given, else to our own standard output and error. */
static int run_wait(const char *const argv[], const char *log)
{
    pid_t pid = fork();
    int status;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (log) {
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
        }
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "yamori up: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs argv and waits; returns its exit status (or -1). Its standard
 * output and error are appended to log and, NUL-terminated, kept in out
 * (the first outlen - 1 bytes), so that a failure can be shown as the
 * command said it. */
static int run_capture(const char *const argv[], const char *log, char *out, size_t outlen)
{
    int fds[2], status, fd;
    size_t n = 0;
    char buf[4096];
    ssize_t k;
    pid_t pid;

    out[0] = '\0';
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "yamori up: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    while ((k = read(fds[0], buf, sizeof(buf))) != 0) {
        if (k < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fd >= 0 && write(fd, buf, (size_t)k) != k) {
            close(fd);
            fd = -1;
        }
        if (n + 1 < outlen) {
            size_t m = (size_t)k < outlen - 1 - n ? (size_t)k : outlen - 1 - n;
            memcpy(out + n, buf, m);
            n += m;
            out[n] = '\0';
        }
    }
    close(fds[0]);
    if (fd >= 0)
        close(fd);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts argv in the background, output appended to log. */
static pid_t spawn(const char *const argv[], const char *log)
{
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setpgid(0, 0); /* Ctrl-C reaches `up`, which stops the children in order */
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int ensure_user(const char *name, const char *home)
{
    const char *argv[] = {"/usr/sbin/useradd", "--system", "--home-dir", home, "--no-create-home",
                          "--shell", "/usr/sbin/nologin", name, NULL};

    if (getpwnam(name))
        return 0;
    printf("creating the system user %s\n", name);
    return run_wait(argv, NULL) == 0 ? 0 : -1;
}

/* A password of 20 characters from an alphabet without look-alikes. */
static int make_password(char *out, size_t outlen)
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    unsigned char raw[20];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw) || outlen < sizeof(raw) + 1) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    for (size_t i = 0; i < sizeof(raw); i++)
        out[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
    out[sizeof(raw)] = '\0';
    return 0;
}

/* The admin password file: reused when present, else created for the
 * server user to read at its first start. */
static int admin_password(const char *path, const char *user, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    struct passwd *pw;
    int fd;

    if (f) {
        bool ok = fgets(out, (int)outlen, f) != NULL;
        fclose(f);
        out[strcspn(out, "\n")] = '\0';
        return ok && *out ? 0 : -1;
    }
    if (make_password(out, outlen) != 0)
        return -1;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (write(fd, out, strlen(out)) != (ssize_t)strlen(out) || write(fd, "\n", 1) != 1) {
        close(fd);
        unlink(path);
        return -1;
    }
    pw = getpwnam(user);
    if (pw && fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* The size of the file at path, 0 when it does not exist. */
static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Waits until the server says in its log that it is ready, or exits. Only
 * what follows offset `from` counts: the log is kept across starts, and
 * the ready line of an earlier server says nothing about this one (trusting
 * it sent the login to a server still starting, or to one that never
 * would). A line counts once it is complete. A server that exited is
 * reaped here and *server set to -1 (its pid may already be another
 * process's). */
static int wait_ready(pid_t *server, const char *log, off_t from, char *url, size_t urllen, char *fingerprint,
                      size_t fplen)
{
    for (int i = 0; i < 600 && !stop_requested; i++) {
        FILE *f = fopen(log, "r");
        char line[512];
        int status;
        bool ready = false;

        if (f && fseeko(f, from, SEEK_SET) != 0) {
            fclose(f);
            f = NULL;
        }
        if (f) {
            bool inside = false; /* in the rest of a line longer than line[] */
            while (fgets(line, sizeof(line), f)) {
                bool whole = strchr(line, '\n') != NULL;
                if (!whole && feof(f))
                    break; /* still being written */
                if (!inside && strncmp(line, "certificate authority ", 22) == 0)
                    snprintf(fingerprint, fplen, "%.*s", (int)strcspn(line + 22, "\n"), line + 22);
                if (!inside && strncmp(line, "yamori server ready on ", 23) == 0) {
                    snprintf(url, urllen, "%.*s", (int)strcspn(line + 23, "\n"), line + 23);
                    ready = true;
                }
                inside = !whole;
            }
            fclose(f);
        }
        if (ready)
            return 0;
        if (waitpid(*server, &status, WNOHANG) == *server) {
            *server = -1;
            return -1;
        }
        usleep(100000);
    }
    return -1;
}

static void stop_child(pid_t pid, const char *what)
{
    int status;

    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return;
        usleep(100000);
    }
    fprintf(stderr, "yamori up: %s did not stop within 10 s; killing it\n", what);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

static int run(int argc, char **argv);

static const struct cli_command up_command = {
    .name = "up",
    .summary = "run Yamori on this machine: server, console and a local agent",
    .usage = "yamori up [--data-dir DIR] [--listen ADDR:PORT] [--public-url URL]\n"
             "                 [--server-user USER] [--agent-config-dir DIR] [--agent-state-dir DIR]\n"
             "                 [--no-agent] [--set KEY=VALUE]... (server settings, docs/configuration.md)",
    .run = run,
};
CLI_COMMAND(up_command);

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"public-url", required_argument, NULL, 'u'},
        {"agent-config-dir", required_argument, NULL, 'c'},
        {"agent-state-dir", required_argument, NULL, 's'},
        {"no-agent", no_argument, NULL, 'n'},
        {"server-user", required_argument, NULL, 'U'},
        {"set", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = "/var/lib/yamori-server", *listen = "0.0.0.0:8443", *public_url = NULL;
    const char *agent_conf = "/etc/yamori", *agent_state = "/var/lib/yamori", *server_user = "yamori";
    bool with_agent = true;
    enum { MAX_SETS = 16 };
    const char *sets[MAX_SETS];
    int nsets = 0;
    char dir[PATH_MAX], yamori[PATH_MAX + 32], agent[PATH_MAX + 32], pwfile[PATH_MAX], log[PATH_MAX], alog[PATH_MAX];
    char ca[PATH_MAX], pkg[PATH_MAX], agent_cfg_file[PATH_MAX], password[64], url[512] = "", fp[128] = "";
    char set_data[PATH_MAX + 16], set_listen[256], set_pw[PATH_MAX + 32], set_url[600], set_user[96];
    pid_t server = -1, agentpid = -1;
    off_t log_start = 0;
    struct sigaction sa;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': data_dir = optarg; break;
        case 'l': listen = optarg; break;
        case 'u': public_url = optarg; break;
        case 'c': agent_conf = optarg; break;
        case 's': agent_state = optarg; break;
        case 'n': with_agent = false; break;
        case 'U': server_user = optarg; break;
        case 'S':
            if (nsets >= MAX_SETS || !strchr(optarg, '=')) {
                fprintf(stderr, "yamori up: --set needs KEY=VALUE (at most %d)\n", MAX_SETS);
                return 2;
            }
            sets[nsets++] = optarg;
            break;
        case 'h': printf("usage: %s\n", up_command.usage); return 0;
        default: return cli_usage(&up_command);
        }
    }
    if (optind != argc)
        return cli_usage(&up_command);
    if (geteuid() != 0) {
        fprintf(stderr, "yamori up: run it as root (it starts the sensor and the server)\n");
        return 1;
    }
    self_dir(dir, sizeof(dir));
    snprintf(yamori, sizeof(yamori), "%s/yamori", dir);
    snprintf(agent, sizeof(agent), "%s/yamori-agent", dir);
    snprintf(pwfile, sizeof(pwfile), "%s/admin-password", data_dir);
    snprintf(log, sizeof(log), "%s/server.log", data_dir);
    snprintf(alog, sizeof(alog), "%s/agent.log", data_dir);
    snprintf(ca, sizeof(ca), "%s/tls/ca.pem", data_dir);
    snprintf(pkg, sizeof(pkg), "%s/onboarding-local.json", data_dir);
    snprintf(agent_cfg_file, sizeof(agent_cfg_file), "%s/agent.conf", agent_conf);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (!*server_user || strlen(server_user) > 32 || strspn(server_user, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(server_user)) {
        fprintf(stderr, "yamori up: --server-user needs a user name (lower-case letters, digits, _ and -)\n");
        return 2;
    }
    if (ensure_user(server_user, data_dir) != 0) {
        fprintf(stderr, "yamori up: cannot create the system user %s\n", server_user);
        return 1;
    }
    if (mkdir(data_dir, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "yamori up: cannot create %s: %s\n", data_dir, strerror(errno));
        return 1;
    }
    {
        struct passwd *pw = getpwnam(server_user);
        if (pw && chown(data_dir, pw->pw_uid, pw->pw_gid) != 0) {
            fprintf(stderr, "yamori up: cannot hand %s to %s: %s\n", data_dir, server_user, strerror(errno));
            return 1;
        }
    }
    if (admin_password(pwfile, server_user, password, sizeof(password)) != 0) {
        fprintf(stderr, "yamori up: cannot read or create %s\n", pwfile);
        return 1;
    }

    /* the server */
    snprintf(set_data, sizeof(set_data), "data_dir=%s", data_dir);
    snprintf(set_listen, sizeof(set_listen), "listen=%s", listen);
    snprintf(set_pw, sizeof(set_pw), "admin_password_file=%s", pwfile);
    snprintf(set_user, sizeof(set_user), "user=%s", server_user);
    if (!public_url) {
        const char *colon = strrchr(listen, ':');
        snprintf(set_url, sizeof(set_url), "public_url=https://localhost:%s", colon ? colon + 1 : "8443");
    } else {
        snprintf(set_url, sizeof(set_url), "public_url=%s", public_url);
    }
    {
        const char *sargv[16 + 2 * MAX_SETS] = {yamori, "server", "--set", set_data, "--set", set_listen,
                                                "--set", set_pw, "--set", set_url, "--set", set_user};
        int n = 12;
        for (int i = 0; i < nsets; i++) { /* after up's own: the server takes the last value of a key */
            sargv[n++] = "--set";
            sargv[n++] = sets[i];
        }
        sargv[n] = NULL;
        printf("starting the server (log: %s)\n", log);
        fflush(stdout);
        log_start = file_size(log);
        server = spawn(sargv, log);
    }
    if (server < 0 || wait_ready(&server, log, log_start, url, sizeof(url), fp, sizeof(fp)) != 0) {
        fprintf(stderr, "yamori up: the server did not start; see %s\n", log);
        goto out;
    }

    /* the CLI, logged in as the admin for root */
    {
        const char *largv[] = {yamori, "login", url, "--user", "admin", "--password-file", pwfile, "--ca", ca, NULL};
        char said[2048];
        if (run_capture(largv, log, said, sizeof(said)) != 0) {
            size_t n = strlen(said);
            while (n > 0 && said[n - 1] == '\n')
                said[--n] = '\0';
            fprintf(stderr, "yamori up: cannot log the CLI in%s%s\n", strchr(said, '\n') ? ":\n" : ": ",
                    said[0] ? said : "the login said nothing");
            if (strstr(said, "(HTTP 401)"))
                fprintf(stderr, "yamori up: %s holds the admin password of the first start; if it was changed"
                                " since, write the current one there\n", pwfile);
            goto out;
        }
    }

    /* this machine's agent */
    if (with_agent) {
        if (access(agent_cfg_file, F_OK) != 0) {
            const char *oargv[] = {yamori, "onboard", "--one-time", "--expires", "1h", "--output", pkg, NULL};
            char cdir[PATH_MAX + 20];
            snprintf(cdir, sizeof(cdir), "%s", agent_conf);
            const char *eargv[] = {agent, "enroll", pkg, "--config-dir", cdir, NULL};
            if (run_wait(oargv, log) != 0 || run_wait(eargv, log) != 0) {
                fprintf(stderr, "yamori up: cannot enroll this machine's agent; see %s\n", log);
                goto out;
            }
            unlink(pkg);
        }
        {
            char cdir[PATH_MAX + 20], sdir[PATH_MAX + 20];
            snprintf(cdir, sizeof(cdir), "%s", agent_conf);
            snprintf(sdir, sizeof(sdir), "%s", agent_state);
            const char *aargv[] = {agent, "--config-dir", cdir, "--state-dir", sdir, NULL};
            agentpid = spawn(aargv, alog);
            if (agentpid < 0) {
                fprintf(stderr, "yamori up: cannot start the agent\n");
                goto out;
            }
        }
    }

    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    printf("\nYamori is running on this machine.\n\n"
           "  console        %s\n"
           "  admin          user admin, password %s\n"
           "                 (kept in %s; change it with `yamori users passwd admin`)\n"
           "  CA             %s\n"
           "  agent          %s\n"
           "  logs           %s%s%s\n\n"
           "Try: yamori devices; yamori events --device %s --since 10m\n"
           "Stop with Ctrl-C.\n",
           url, password, pwfile, fp, with_agent ? "enrolled and running" : "not started (--no-agent)", log,
           with_agent ? ", " : "", with_agent ? alog : "", host);
    fflush(stdout);

    while (!stop_requested) {
        int status;
        if (waitpid(server, &status, WNOHANG) == server) {
            fprintf(stderr, "yamori up: the server stopped; see %s\n", log);
            server = -1;
            goto out;
        }
        if (agentpid > 0 && waitpid(agentpid, &status, WNOHANG) == agentpid) {
            fprintf(stderr, "yamori up: the agent stopped; see %s\n", alog);
            agentpid = -1;
            goto out;
        }
        usleep(200000);
    }
    rc = 0;
out:
    stop_child(agentpid, "the agent");
    stop_child(server, "the server");
    return rc;
}
