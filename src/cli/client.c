/*
 * client.c — see client.h.
 */
#include "cli/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_config_path(char *out, size_t outlen)
{
    const char *env = getenv("YAMORI_CONFIG");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");

    if (env && *env)
        snprintf(out, outlen, "%s", env);
    else if (xdg && *xdg)
        snprintf(out, outlen, "%s/yamori/config.json", xdg);
    else
        snprintf(out, outlen, "%s/.config/yamori/config.json", home ? home : "/root");
}

static void copy_str(char *dst, size_t len, json_t *v)
{
    snprintf(dst, len, "%s", json_is_string(v) ? json_string_value(v) : "");
}

int cli_config_load(struct cli_config *c, char *err, size_t errlen)
{
    char path[PATH_MAX];
    json_error_t jerr;
    json_t *root;

    memset(c, 0, sizeof(*c));
    cli_config_path(path, sizeof(path));
    root = json_load_file(path, 0, &jerr);
    if (!root) {
        if (access(path, F_OK) != 0) {
            snprintf(err, errlen, "not logged in: run `yamori login URL` first (no %s)", path);
            return -ENOENT;
        }
        snprintf(err, errlen, "%s: %s (line %d)", path, jerr.text, jerr.line);
        return -EINVAL;
    }
    copy_str(c->url, sizeof(c->url), json_object_get(root, "url"));
    copy_str(c->ca_path, sizeof(c->ca_path), json_object_get(root, "ca"));
    copy_str(c->token, sizeof(c->token), json_object_get(root, "token"));
    json_decref(root);
    if (!c->url[0]) {
        snprintf(err, errlen, "%s has no server URL: run `yamori login URL`", path);
        return -EINVAL;
    }
    return 0;
}

static int mkdirs_for(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return 0;
}

int cli_config_save(const struct cli_config *c, char *err, size_t errlen)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    json_t *root = json_pack("{s:s, s:s, s:s}", "url", c->url, "ca", c->ca_path, "token", c->token);
    int fd, e = 0;
    char *text;

    cli_config_path(path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
    json_decref(root);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (mkdirs_for(path) != 0 || (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        e = -errno;
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        free(text);
        return e;
    }
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) != 0)
        e = -EIO;
    close(fd);
    free(text);
    if (!e && rename(tmp, path) != 0)
        e = -errno;
    if (e) {
        unlink(tmp);
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(-e));
    }
    return e;
}

struct sink {
    CURL *curl;
    FILE *file;       /* a 2xx body goes here when set */
    bool file_failed; /* writing it failed */
    char *buf;
    size_t len, cap;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    long status = 0;

    if (s->file) {
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            if (fwrite(ptr, 1, n, s->file) != n) {
                s->file_failed = true;
                return 0;
            }
            return n;
        }
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8192;
        while (cap < s->len + n + 1)
            cap *= 2;
        if (cap > (256u << 20))
            return 0; /* refuse answers over 256 MiB */
        char *nb = realloc(s->buf, cap);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, ptr, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

/* libcurl calls this about once a second, and more often while data flows. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    const volatile sig_atomic_t *stop = ud;
    return stop && *stop ? 1 : 0;
}

int cli_request(const struct cli_config *c, const char *method, const char *path, json_t *body,
                struct cli_response *out, char *err, size_t errlen)
{
    struct cli_transfer t = {.method = method, .path = path, .json = body};
    return cli_transfer(c, &t, out, err, errlen);
}

int cli_transfer(const struct cli_config *c, const struct cli_transfer *t, struct cli_response *out, char *err,
                 size_t errlen)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    struct sink s = {.curl = curl, .file = t->download};
    char url[2048], auth[600];
    char *payload = NULL;
    CURLcode rc;
    int e = 0;

    memset(out, 0, sizeof(*out));
    if (!curl) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -ENOMEM;
    }
    snprintf(url, sizeof(url), "%s%s", c->url, t->path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, t->method);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    if (c->ca_path[0])
        curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca_path);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, t->timeout_s > 0 ? t->timeout_s : 300L);
    if (t->stop) {
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)t->stop);
    }
    headers = curl_slist_append(headers, "Accept: application/json");
    if (c->token[0]) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
        headers = curl_slist_append(headers, auth);
    }
    if (t->json) {
        payload = json_dumps(t->json, JSON_COMPACT);
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload ? payload : "");
    } else if (t->upload) {
        headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
        headers = curl_slist_append(headers, "Expect:");
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READDATA, t->upload);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)t->upload_size);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        if (rc == CURLE_ABORTED_BY_CALLBACK) {
            snprintf(err, errlen, "interrupted");
            e = -EINTR;
        } else if (s.file_failed) {
            snprintf(err, errlen, "cannot write the downloaded file: %s", strerror(errno));
            e = -EIO;
        } else {
            snprintf(err, errlen, "cannot reach %s: %s", c->url, curl_easy_strerror(rc));
            e = -EHOSTUNREACH;
        }
        free(s.buf);
        out->body = strdup("");
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = s.buf ? s.buf : strdup("");
    out->len = s.len;
    if (out->len)
        out->json = json_loadb(out->body, out->len, 0, NULL);
out:
    free(payload);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return e;
}

void cli_response_free(struct cli_response *r)
{
    if (!r)
        return;
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

int cli_fail(const struct cli_response *r, const char *what)
{
    json_t *msg = json_object_get(json_object_get(r->json, "error"), "message");
    fprintf(stderr, "yamori: %s: %s (HTTP %ld)\n", what,
            json_is_string(msg) ? json_string_value(msg) : (r->body && *r->body ? r->body : "no answer"), r->status);
    return 1;
}

void cli_url_escape(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < outlen; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

struct cli_table {
    int ncols;
    char **cells; /* rows * ncols, row 0 the header */
    size_t rows, cap;
};

struct cli_table *cli_table_new(int ncols, const char *const *headers)
{
    struct cli_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ncols = ncols;
    cli_table_add(t, headers);
    return t;
}

void cli_table_add(struct cli_table *t, const char *const *cells)
{
    if (!t)
        return;
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **nc = realloc(t->cells, cap * (size_t)t->ncols * sizeof(char *));
        if (!nc)
            return;
        t->cells = nc;
        t->cap = cap;
    }
    for (int i = 0; i < t->ncols; i++)
        t->cells[t->rows * (size_t)t->ncols + (size_t)i] = strdup(cells[i] && *cells[i] ? cells[i] : "-");
    t->rows++;
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
    size_t width[32] = {0};
    if (!t)
        return;
    for (size_t r = 0; r < t->rows; r++)
        for (int i = 0; i < t->ncols && i < 32; i++) {
            const char *c = t->cells[r * (size_t)t->ncols + (size_t)i];
            size_t l = c ? strlen(c) : 0;
            if (l > width[i])
                width[i] = l;
        }
    for (size_t r = 0; r < t->rows; r++) {
        for (int i = 0; i < t->ncols && i < 32; i++) {
            const char *c = t->cells[r * (size_t)t->ncols + (size_t)i];
            if (i == t->ncols - 1)
                fprintf(f, "%s", c ? c : "");
            else
                fprintf(f, "%-*s  ", (int)width[i], c ? c : "");
        }
        fputc('\n', f);
    }
}

void cli_table_free(struct cli_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->rows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

const char *cli_json_text(json_t *v, char *buf, size_t buflen)
{
    buf[0] = '\0';
    if (json_is_string(v))
        snprintf(buf, buflen, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, buflen, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, buflen, "%g", json_real_value(v));
    else if (json_is_true(v))
        snprintf(buf, buflen, "yes");
    else if (json_is_false(v))
        snprintf(buf, buflen, "no");
    return buf;
}

void cli_progress_draw(json_t *progress)
{
    json_t *pct = json_object_get(progress, "percent"), *msg = json_object_get(progress, "message");
    double percent = json_is_number(pct) ? json_number_value(pct) : -1;
    char bar[31];
    int fill;

    if (!json_is_object(progress))
        return;
    fill = percent < 0 ? 0 : (int)(percent * 30 / 100);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    if (percent >= 0)
        printf("\r\033[K[%s] %5.1f%%", bar, percent);
    else
        printf("\r\033[K[%s]", bar);
    if (json_is_integer(json_object_get(progress, "files")))
        printf("  %lld files", (long long)json_integer_value(json_object_get(progress, "files")));
    if (json_is_integer(json_object_get(progress, "findings")))
        printf("  %lld findings", (long long)json_integer_value(json_object_get(progress, "findings")));
    if (json_is_string(msg) && *json_string_value(msg))
        printf("  %.40s", json_string_value(msg));
    fflush(stdout);
}
