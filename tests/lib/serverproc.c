/*
 * serverproc.c — see serverproc.h.
 */
#include "serverproc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct serverproc {
    struct serverproc *next;   /* live servers */
    pid_t pid;
    int out_fd;                /* its standard output */
    char *out;                 /* what it printed */
    size_t out_len, out_cap;
    char tmp_dir[128];         /* "" when the data directory is the caller's */
    char data_dir[512];
    char err_path[600];
    char ca_path[600];
    char url[64];
};

static struct serverproc *live;

const char *serverproc_binary(void)
{
    static char path[512];
    const char *dir = getenv("YAMORI_SAN_BIN");
    snprintf(path, sizeof(path), "%s/yamori", dir && *dir ? dir : "build/san");
    return path;
}

int serverproc_cli(char *out, size_t outlen, const char *fmt, ...)
{
    char args[1024], cmd[1700];
    va_list ap;
    FILE *p;
    size_t n = 0;
    int st;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "%s %s 2>&1 </dev/null", serverproc_binary(), args);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    while (n + 1 < outlen) {
        size_t k = fread(out + n, 1, outlen - 1 - n, p);
        if (k == 0)
            break;
        n += k;
    }
    if (outlen)
        out[n] = '\0';
    while (fgetc(p) != EOF)
        ;
    st = pclose(p);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

unsigned serverproc_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    unsigned port = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what the server printed, waiting up to timeout_ms for something.
 * Returns false at end of file. */
static bool pump(struct serverproc *s, int timeout_ms)
{
    struct pollfd pfd = {.fd = s->out_fd, .events = POLLIN};
    ssize_t n;

    if (s->out_fd < 0)
        return false;
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return true;
    for (;;) {
        if (s->out_cap - s->out_len < 4096) {
            size_t cap = s->out_cap ? s->out_cap * 2 : 16384;
            char *nb = realloc(s->out, cap);
            if (!nb)
                return true;
            s->out = nb;
            s->out_cap = cap;
            s->out[s->out_len] = '\0'; /* a string even when nothing more comes */
        }
        n = read(s->out_fd, s->out + s->out_len, s->out_cap - s->out_len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            close(s->out_fd);
            s->out_fd = -1;
            return false;
        }
        if (n < 0)
            return true;
        s->out_len += (size_t)n;
        s->out[s->out_len] = '\0';
    }
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;

    if (d) {
        while ((de = readdir(d))) {
            char child[1024];
            struct stat st;
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(child);
            else
                unlink(child);
        }
        closedir(d);
    }
    rmdir(path);
}

char *serverproc_stderr(const struct serverproc *s)
{
    FILE *f = fopen(s->err_path, "r");
    char *text = NULL;
    size_t len = 0;

    if (!f)
        return strdup("");
    if (getdelim(&text, &len, '\0', f) < 0) {
        free(text);
        text = strdup("");
    }
    fclose(f);
    return text;
}

const char *serverproc_diag(const struct serverproc *s)
{
    static char out[1200];
    char *text = serverproc_stderr(s);
    size_t n = text ? strlen(text) : 0;
    const char *tail = n > 1000 ? text + n - 1000 : text ? text : "";

    snprintf(out, sizeof(out), "[server stderr: %s]", tail);
    for (char *c = out; *c; c++)
        if (*c == '\n')
            *c = '|';
    free(text);
    return out;
}

/* One attempt on one port. */
static int spawn(struct serverproc *s, const struct serverproc_options *opt, unsigned port)
{
    char set_dir[600], set_listen[64], *argv[80];
    int pipefd[2], argc = 0;
    const char *pw = opt && opt->admin_password ? opt->admin_password : SERVERPROC_ADMIN_PASSWORD;

    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -errno;
    snprintf(set_dir, sizeof(set_dir), "data_dir=%s", s->data_dir);
    snprintf(set_listen, sizeof(set_listen), "listen=%.30s:%u", opt && opt->listen_host ? opt->listen_host : "127.0.0.1",
             port);
    snprintf(s->url, sizeof(s->url), "https://127.0.0.1:%u", port);
    argv[argc++] = (char *)serverproc_binary();
    argv[argc++] = (char *)"server";
    argv[argc++] = (char *)"--set";
    argv[argc++] = set_dir;
    argv[argc++] = (char *)"--set";
    argv[argc++] = set_listen;
    argv[argc++] = (char *)"--set";
    argv[argc++] = (char *)"user=nobody";
    for (int i = 0; opt && opt->sets && opt->sets[i] && argc < 76; i++) {
        argv[argc++] = (char *)"--set";
        argv[argc++] = (char *)opt->sets[i];
    }
    argv[argc] = NULL;
    s->pid = fork();
    if (s->pid == 0) {
        int errfd = open(s->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(pipefd[1], 1);
        if (errfd >= 0)
            dup2(errfd, 2);
        if (*pw)
            setenv("YAMORI_ADMIN_PASSWORD", pw, 1);
        else
            unsetenv("YAMORI_ADMIN_PASSWORD");
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    if (s->pid < 0) {
        close(pipefd[0]);
        return -errno;
    }
    s->out_fd = pipefd[0];
    fcntl(s->out_fd, F_SETFL, fcntl(s->out_fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

/* Waits for the ready line; false when the server exited or timed out. */
static bool wait_ready(struct serverproc *s, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        if (s->out && strstr(s->out, "yamori server ready on "))
            return true;
        if (!pump(s, 200))
            return s->out && strstr(s->out, "yamori server ready on ");
    }
    return false;
}

static void reap(struct serverproc *s, int *status)
{
    long long deadline = now_ms() + 20000;
    int st = -1;

    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    for (;;) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid || (r < 0 && errno != EINTR))
            break;
        if (now_ms() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            break;
        }
        pump(s, 50);
    }
    while (pump(s, 0))
        ;
    s->pid = 0;
    if (status)
        *status = st;
}

struct serverproc *serverproc_start(const struct serverproc_options *opt, char *err, size_t errlen)
{
    struct serverproc *s = calloc(1, sizeof(*s));
    char tmpl[] = "/tmp/yamori-server-test.XXXXXX";

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->out_fd = -1;
    if (opt && opt->data_dir) {
        snprintf(s->data_dir, sizeof(s->data_dir), "%s", opt->data_dir);
        snprintf(s->err_path, sizeof(s->err_path), "%s.stderr", opt->data_dir);
    } else {
        if (!mkdtemp(tmpl)) {
            snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
            free(s);
            return NULL;
        }
        chmod(tmpl, 0755); /* the service user must reach data/ inside */
        snprintf(s->tmp_dir, sizeof(s->tmp_dir), "%s", tmpl);
        snprintf(s->data_dir, sizeof(s->data_dir), "%s/data", tmpl);
        snprintf(s->err_path, sizeof(s->err_path), "%s/stderr", tmpl);
    }
    snprintf(s->ca_path, sizeof(s->ca_path), "%s/tls/ca.pem", s->data_dir);
    for (int attempt = 0; attempt < 3; attempt++) {
        unsigned port = serverproc_free_port();
        char *log;
        bool port_taken;
        if (!port || spawn(s, opt, port) != 0) {
            snprintf(err, errlen, "cannot start %s: %s", serverproc_binary(), strerror(errno));
            goto fail;
        }
        s->next = live;
        live = s;
        if (wait_ready(s, 60000))
            return s;
        for (struct serverproc **pp = &live; *pp; pp = &(*pp)->next)
            if (*pp == s) {
                *pp = s->next;
                break;
            }
        reap(s, NULL);
        if (s->out_fd >= 0)
            close(s->out_fd);
        s->out_fd = -1;
        log = serverproc_stderr(s);
        port_taken = log && strstr(log, "cannot listen");
        if (!port_taken || attempt == 2) {
            snprintf(err, errlen, "the server did not become ready: %s", serverproc_diag(s));
            free(log);
            goto fail;
        }
        free(log);
        s->out_len = 0;
    }
fail:
    if (s->tmp_dir[0])
        remove_tree(s->tmp_dir);
    free(s->out);
    free(s);
    return NULL;
}

int serverproc_stop(struct serverproc *s)
{
    int status = -1;

    if (!s)
        return -1;
    for (struct serverproc **pp = &live; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    reap(s, &status);
    if (s->out_fd >= 0)
        close(s->out_fd);
    if (s->tmp_dir[0])
        remove_tree(s->tmp_dir);
    else
        unlink(s->err_path);
    free(s->out);
    free(s);
    return status;
}

void serverproc_stop_all(void)
{
    while (live)
        serverproc_stop(live);
}

const char *serverproc_url(const struct serverproc *s) { return s->url; }
const char *serverproc_data_dir(const struct serverproc *s) { return s->data_dir; }
const char *serverproc_ca(const struct serverproc *s) { return s->ca_path; }
pid_t serverproc_pid(const struct serverproc *s) { return s->pid; }

const char *serverproc_stdout(struct serverproc *s)
{
    pump(s, 0);
    return s->out ? s->out : "";
}

/* ------------------------------------------------------------------ HTTPS */

struct buf {
    char *p;
    size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t n = size * nmemb;
    char *nb = realloc(b->p, b->len + n + 1);
    if (!nb)
        return 0;
    b->p = nb;
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

int serverproc_request(const struct serverproc *s, const char *method, const char *path, const char *body,
                       const char *const *headers, struct serverproc_response *out)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *list = NULL;
    struct buf b = {0}, h = {0};
    char url[2300];
    CURLcode rc;

    memset(out, 0, sizeof(*out));
    if (!curl) {
        out->body = strdup("cannot initialise libcurl");
        return -1;
    }
    snprintf(url, sizeof(url), "%s%s", s->url, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_CAINFO, s->ca_path);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &h);
    bool typed = false;
    for (int i = 0; headers && headers[i]; i++) {
        list = curl_slist_append(list, headers[i]);
        typed |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
    }
    if (body) {
        if (!typed)
            list = curl_slist_append(list, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        free(b.p);
        free(h.p);
        out->body = strdup(curl_easy_strerror(rc));
        return -1;
    }
    out->body = b.p ? b.p : strdup("");
    out->len = b.p ? b.len : 0;
    out->headers = h.p ? h.p : strdup("");
    if (b.len)
        out->json = json_loadb(out->body, b.len, 0, NULL);
    return 0;
}

void serverproc_response_free(struct serverproc_response *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

const char *serverproc_header(const struct serverproc_response *r, const char *name, char *buf, size_t buflen)
{
    size_t nl = strlen(name);

    for (const char *line = r->headers; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(line + len - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            snprintf(buf, buflen, "%.*s", (int)vl, v);
            return buf;
        }
        line = end ? end + 1 : line + len;
    }
    return NULL;
}

const char *serverproc_message(const struct serverproc_response *r)
{
    const char *m = json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    return m ? m : "";
}

long serverproc_login(const struct serverproc *s, const char *user, const char *password, char *cookie,
                      size_t cookielen, char *csrf, size_t csrflen)
{
    struct serverproc_response r;
    json_t *body = json_pack("{s:s, s:s}", "user", user, "password", password);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, setc[300];
    long status = 0;

    json_decref(body);
    cookie[0] = csrf[0] = '\0';
    if (!text)
        return 0;
    if (serverproc_request(s, "POST", "/api/v1/auth/login", text, NULL, &r) == 0) {
        status = r.status;
        if (status == 200 && serverproc_header(&r, "Set-Cookie", setc, sizeof(setc)) &&
            strncmp(setc, "yamori_session=", 15) == 0) {
            snprintf(cookie, cookielen, "%.*s", (int)strcspn(setc + 15, ";"), setc + 15);
            snprintf(csrf, csrflen, "%s", json_string_value(json_object_get(r.json, "csrf_token")) ?: "");
        }
    }
    serverproc_response_free(&r);
    free(text);
    return status;
}

long serverproc_create_token(const struct serverproc *s, const char *cookie, const char *csrf, const char *user,
                             const char *role, char *out, size_t outlen)
{
    struct serverproc_response r;
    char hc[300], hx[300], *text;
    const char *headers[] = {hc, hx, NULL};
    json_t *body = json_pack("{s:s}", "name", "serverproc");
    long status = 0;

    out[0] = '\0';
    if (!body)
        return 0;
    if (user)
        json_object_set_new(body, "user", json_string(user));
    if (role)
        json_object_set_new(body, "role", json_string(role));
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    snprintf(hc, sizeof(hc), "Cookie: yamori_session=%s", cookie);
    snprintf(hx, sizeof(hx), "X-CSRF-Token: %s", csrf);
    if (text && serverproc_request(s, "POST", "/api/v1/tokens", text, headers, &r) == 0) {
        status = r.status;
        if (status == 201)
            snprintf(out, outlen, "%s", json_string_value(json_object_get(r.json, "token")) ?: "");
        serverproc_response_free(&r);
    }
    free(text);
    return status;
}

int serverproc_admin_token(const struct serverproc *s, char *out, size_t outlen)
{
    char cookie[128], csrf[128];

    if (serverproc_login(s, "admin", SERVERPROC_ADMIN_PASSWORD, cookie, sizeof(cookie), csrf, sizeof(csrf)) != 200)
        return -1;
    return serverproc_create_token(s, cookie, csrf, NULL, NULL, out, outlen) == 201 ? 0 : -1;
}
