/*
 * cmd_login.c — `yamori login` and `yamori logout`: connect the CLI to a
 * server, and let go of it.
 *
 *   yamori login URL [--user NAME] [--ca FILE | --fingerprint SHA256:HEX]
 *                    [--password-file FILE] [--expires 90d]
 *   yamori logout
 *
 * Login pins the server's certificate authority first: --ca names a copy
 * the person already trusts; otherwise the CA is downloaded from
 * /api/v1/ca.pem over a connection that cannot be verified yet, its
 * SHA-256 fingerprint is shown and must be confirmed (or match
 * --fingerprint), and from then on only that CA is trusted. It then signs
 * in with the password (asked without echo, or from --password-file or
 * $YAMORI_PASSWORD for scripts), creates an API token named after the
 * user and this host, ends the browser-style session it used, and saves
 * URL, CA and token with cli_config_save(). A token saved by an earlier
 * login to the same server is revoked.
 *
 * Logout revokes the saved token on the server and forgets it.
 *
 * Also the helpers the other people-and-access commands share
 * (cmd_login.h).
 */
#include "cli/cmd_login.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"

#define PASSWORD_BUF 1100 /* the server's limit is 1024 bytes */
#define CA_MAX_BYTES (64 * 1024)

/* ------------------------------------------------------------------ shared helpers */

/* Reads one line from the terminal, with echo or not. */
static int tty_line(const char *prompt, bool echo, char *out, size_t outlen)
{
    FILE *tty = fopen("/dev/tty", "r+e");
    struct termios old, quiet;
    bool restore = false;
    int e = 0;

    if (!tty)
        return -ENXIO;
    fputs(prompt, tty);
    fflush(tty);
    if (!echo && tcgetattr(fileno(tty), &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
    }
    if (!fgets(out, (int)outlen, tty)) {
        out[0] = '\0';
        e = -EIO;
    } else if (!strchr(out, '\n') && !feof(tty)) {
        e = -E2BIG;
    }
    if (restore)
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
    if (!echo)
        fputc('\n', tty);
    fclose(tty);
    out[strcspn(out, "\r\n")] = '\0';
    return e;
}

int login_read_password(const char *file, const char *env, const char *prompt, bool confirm, char *out,
                        size_t outlen, char *err, size_t errlen)
{
    const char *v = env ? getenv(env) : NULL;
    char again[PASSWORD_BUF];
    int e = 0;

    out[0] = '\0';
    if (file) {
        FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "re");
        if (!f) {
            e = -errno;
            snprintf(err, errlen, "%s: %s", file, strerror(errno));
            return e;
        }
        if (!fgets(out, (int)outlen, f))
            out[0] = '\0';
        else if (!strchr(out, '\n') && !feof(f))
            e = -E2BIG;
        if (f != stdin)
            fclose(f);
        out[strcspn(out, "\r\n")] = '\0';
        if (e) {
            snprintf(err, errlen, "%s: the password is longer than %zu bytes", file, outlen - 2);
            goto out;
        }
    } else if (v && *v) {
        if (strlen(v) >= outlen) {
            snprintf(err, errlen, "$%s: the password is longer than %zu bytes", env, outlen - 1);
            e = -E2BIG;
            goto out;
        }
        snprintf(out, outlen, "%s", v);
    } else {
        e = tty_line(prompt, false, out, outlen);
        if (e == -ENXIO) {
            snprintf(err, errlen, "no terminal to ask for the password: use --password-file FILE%s%s",
                     env ? " or $" : "", env ? env : "");
            goto out;
        }
        if (e) {
            snprintf(err, errlen, "could not read the password%s", e == -E2BIG ? ": too long" : "");
            goto out;
        }
        if (confirm) {
            e = tty_line("again: ", false, again, sizeof(again));
            if (e || strcmp(again, out) != 0) {
                snprintf(err, errlen, "the two passwords differ");
                e = -EINVAL;
            }
            OPENSSL_cleanse(again, sizeof(again));
            if (e)
                goto out;
        }
    }
    if (!out[0]) {
        snprintf(err, errlen, "the password is empty");
        e = -EINVAL;
    }
out:
    if (e)
        OPENSSL_cleanse(out, outlen);
    return e;
}

int login_parse_duration(const char *s, long long *seconds)
{
    static const char units[] = "smhdw";
    static const long long mult[] = {1, 60, 3600, 86400, 7 * 86400};
    size_t len = strlen(s);
    const char *u;
    char *end;
    long long n;

    if (len < 2 || len > 12 || !isdigit((unsigned char)s[0]) || !(u = strchr(units, s[len - 1])) || !*u)
        return -EINVAL;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno || end != s + len - 1 || n <= 0 || n > 100LL * 365 * 86400)
        return -EINVAL;
    n *= mult[u - units];
    if (n > 100LL * 365 * 86400)
        return -EINVAL;
    *seconds = n;
    return 0;
}

const char *login_short_time(json_t *v, char *buf, size_t buflen)
{
    const char *s = json_string_value(v);
    if (!s || strlen(s) < 19 || buflen < 21)
        return cli_json_text(v, buf, buflen);
    memcpy(buf, s, 19);
    buf[19] = 'Z';
    buf[20] = '\0';
    return buf;
}

void login_print_json(const char *body)
{
    size_t n = body ? strlen(body) : 0;
    fputs(body ? body : "", stdout);
    if (!n || body[n - 1] != '\n')
        fputc('\n', stdout);
}

/* ------------------------------------------------------------------ HTTPS for login */

struct target {
    const char *url;
    const char *ca_file;   /* a trusted CA file, or */
    const char *ca_pem;    /* a CA held in memory, or neither: unverified (the CA download only) */
};

struct answer {
    long status;
    char *body;
    size_t len;
    json_t *json;
    char session[128];     /* the yamori_session cookie it set */
};

static void answer_free(struct answer *a)
{
    free(a->body);
    json_decref(a->json);
    OPENSSL_cleanse(a->session, sizeof(a->session));
    memset(a, 0, sizeof(*a));
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct answer *a = ud;
    size_t n = size * nmemb;
    char *nb;

    if (a->len + n > (4u << 20))
        return 0;
    nb = realloc(a->body, a->len + n + 1);
    if (!nb)
        return 0;
    a->body = nb;
    memcpy(a->body + a->len, ptr, n);
    a->len += n;
    a->body[a->len] = '\0';
    return n;
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct answer *a = ud;
    size_t n = size * nmemb;
    static const char name[] = "set-cookie:";

    if (n > sizeof(name) && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
        const char *p = buf + sizeof(name) - 1, *end = buf + n;
        while (p < end && *p == ' ')
            p++;
        if ((size_t)(end - p) > 15 && strncmp(p, "yamori_session=", 15) == 0) {
            const char *v = p + 15;
            size_t l = 0;
            while (v + l < end && v[l] != ';' && v[l] != '\r' && v[l] != '\n')
                l++;
            if (l < sizeof(a->session)) {
                memcpy(a->session, v, l);
                a->session[l] = '\0';
            }
        }
    }
    return n;
}

/* One request to t. cookie and csrf may be NULL. Returns 0 when an answer
 * came, -errno with err otherwise. */
static int call(const struct target *t, const char *method, const char *path, json_t *body, const char *cookie,
                const char *csrf, struct answer *out, char *err, size_t errlen)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    char url[2048], line[300], *payload = NULL;
    CURLcode rc;
    int e = 0;

    memset(out, 0, sizeof(*out));
    if (!curl) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -ENOMEM;
    }
    snprintf(url, sizeof(url), "%s%s", t->url, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    if (t->ca_file) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, t->ca_file);
    } else if (t->ca_pem) {
        struct curl_blob blob = {.data = (void *)t->ca_pem, .len = strlen(t->ca_pem), .flags = CURL_BLOB_COPY};
        curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
    } else {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
    headers = curl_slist_append(headers, "Accept: application/json");
    if (cookie) {
        snprintf(line, sizeof(line), "Cookie: yamori_session=%s", cookie);
        headers = curl_slist_append(headers, line);
    }
    if (csrf) {
        snprintf(line, sizeof(line), "X-CSRF-Token: %s", csrf);
        headers = curl_slist_append(headers, line);
    }
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload ? payload : "");
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    rc = curl_easy_perform(curl);
    OPENSSL_cleanse(line, sizeof(line));
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot reach %s: %s", t->url, curl_easy_strerror(rc));
        e = -EHOSTUNREACH;
        answer_free(out);
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    if (!out->body)
        out->body = strdup("");
    if (out->len)
        out->json = json_loadb(out->body, out->len, 0, NULL);
out:
    if (payload) {
        OPENSSL_cleanse(payload, strlen(payload));
        free(payload);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return e;
}

static int answer_fail(const struct answer *a, const char *what)
{
    struct cli_response r = {.status = a->status, .body = a->body, .len = a->len, .json = a->json};
    return cli_fail(&r, what);
}

/* ------------------------------------------------------------------ the CA */

/* "SHA256:hex" of the first certificate in pem; -EINVAL when pem holds no
 * CA certificate. */
static int ca_fingerprint(const char *pem, char *out, size_t outlen, char *subject, size_t subjlen)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    size_t pos;
    int e = 0;

    if (!x || X509_check_ca(x) < 1 || !X509_digest(x, EVP_sha256(), md, &n)) {
        e = -EINVAL;
        goto out;
    }
    pos = (size_t)snprintf(out, outlen, "SHA256:");
    for (unsigned i = 0; i < n && pos + 3 < outlen; i++)
        pos += (size_t)snprintf(out + pos, outlen - pos, "%02x", md[i]);
    X509_NAME_oneline(X509_get_subject_name(x), subject, (int)subjlen);
out:
    X509_free(x);
    BIO_free(b);
    return e;
}

/* Compares a fingerprint someone typed ("SHA256:AB:CD...", any case, with
 * or without colons) with ours ("SHA256:abcd..."). */
static bool fingerprint_matches(const char *typed, const char *ours)
{
    char norm[200];
    size_t o = 0;

    if (strncasecmp(typed, "SHA256:", 7) == 0)
        typed += 7;
    for (; *typed && o + 1 < sizeof(norm); typed++) {
        if (*typed == ':' || *typed == ' ')
            continue;
        norm[o++] = (char)tolower((unsigned char)*typed);
    }
    norm[o] = '\0';
    return strcmp(norm, ours + 7) == 0;
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

/* Writes the pinned CA next to the configuration file; its path into out
 * (outlen bytes). */
static int save_ca(const char *pem, char *out, size_t outlen, char *err, size_t errlen)
{
    static const char leaf[] = "/server-ca.pem";
    char cfg[PATH_MAX], tmp[PATH_MAX + 8], *slash;
    size_t len = strlen(pem), dirlen;
    int fd, e = 0;

    cli_config_path(cfg, sizeof(cfg));
    slash = strrchr(cfg, '/');
    dirlen = slash ? (size_t)(slash - cfg) : 1;
    if (!slash)
        snprintf(cfg, sizeof(cfg), ".");
    if (dirlen + sizeof(leaf) > outlen) {
        snprintf(err, errlen, "the configuration directory's path is too long");
        return -ENAMETOOLONG;
    }
    memcpy(out, cfg, dirlen);
    memcpy(out + dirlen, leaf, sizeof(leaf));
    snprintf(tmp, sizeof(tmp), "%s.tmp", out);
    if (mkdirs_for(out) != 0 || (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        e = -errno;
        snprintf(err, errlen, "cannot write %.400s: %s", out, strerror(errno));
        return e;
    }
    if (write(fd, pem, len) != (ssize_t)len || fsync(fd) != 0)
        e = -EIO;
    close(fd);
    if (!e && rename(tmp, out) != 0)
        e = -errno;
    if (e) {
        unlink(tmp);
        snprintf(err, errlen, "cannot write %.400s: %s", out, strerror(-e));
    }
    return e;
}

/* Downloads the CA without verification and has it confirmed. The PEM is
 * returned in *pem (the caller frees it). */
static int fetch_ca(const char *url, const char *expected, char **pem, char *err, size_t errlen)
{
    struct target t = {.url = url};
    struct answer a;
    char fp[120], subject[256] = "", yes[16];
    int e;

    *pem = NULL;
    e = call(&t, "GET", "/api/v1/ca.pem", NULL, NULL, NULL, &a, err, errlen);
    if (e)
        return e;
    if (a.status != 200 || a.len > CA_MAX_BYTES || ca_fingerprint(a.body, fp, sizeof(fp), subject, sizeof(subject))) {
        snprintf(err, errlen, "%s/api/v1/ca.pem did not answer with a CA certificate (HTTP %ld): is this a Yamori "
                 "server?", url, a.status);
        e = -EPROTO;
        goto out;
    }
    if (expected) {
        if (!fingerprint_matches(expected, fp)) {
            snprintf(err, errlen, "the server's CA has the fingerprint %s, not %s: refusing to trust it", fp,
                     expected);
            e = -EPERM;
            goto out;
        }
    } else {
        fprintf(stderr, "The server presents this certificate authority:\n  %s\n  %s\n"
                        "Compare the fingerprint with the server's own, read on the server with\n"
                        "  openssl x509 -noout -fingerprint -sha256 -in DATA_DIR/tls/ca.pem\n"
                        "(case and colons do not matter).\n",
                subject, fp);
        e = tty_line("Trust it? [y/N] ", true, yes, sizeof(yes));
        if (e == -ENXIO) {
            snprintf(err, errlen, "no terminal to confirm the CA: pass --fingerprint %s (after checking it) or --ca "
                     "FILE", fp);
            goto out;
        }
        if (e || (strcasecmp(yes, "y") != 0 && strcasecmp(yes, "yes") != 0)) {
            snprintf(err, errlen, "not trusted: nothing saved");
            e = -EPERM;
            goto out;
        }
    }
    *pem = a.body;
    a.body = NULL;
    e = 0;
out:
    answer_free(&a);
    return e;
}

/* ------------------------------------------------------------------ yamori login */

static int run_login(int argc, char **argv);

static const struct cli_command login_command = {
    .name = "login",
    .summary = "sign in to a Yamori server and save an API token",
    .usage = "yamori login URL [--user NAME] [--ca FILE | --fingerprint SHA256:HEX] [--password-file FILE] "
             "[--expires 90d]",
    .run = run_login,
};
CLI_COMMAND(login_command);

static int run_login(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"user", required_argument, NULL, 'u'},
        {"ca", required_argument, NULL, 'c'},
        {"fingerprint", required_argument, NULL, 'f'},
        {"password-file", required_argument, NULL, 'p'},
        {"expires", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL, *ca = NULL, *fingerprint = NULL, *pwfile = NULL, *expires = NULL;
    char url[512], err[600], password[PASSWORD_BUF], prompt[700], host[256] = "localhost", tname[80];
    char real[PATH_MAX], *ca_pem = NULL, *csrf = NULL;
    struct cli_config cfg, old;
    struct answer a = {0}, tok = {0}, bye = {0};
    struct target t = {0};
    json_t *body = NULL;
    long long lifetime = 0;
    bool have_old;
    int c, rc = 1;

    password[0] = '\0';
    optind = 1;
    while ((c = getopt_long(argc, argv, "u:", longopts, NULL)) != -1) {
        switch (c) {
        case 'u': user = optarg; break;
        case 'c': ca = optarg; break;
        case 'f': fingerprint = optarg; break;
        case 'p': pwfile = optarg; break;
        case 'e': expires = optarg; break;
        case 'h': printf("usage: %s\n", login_command.usage); return 0;
        default: return cli_usage(&login_command);
        }
    }
    if (optind + 1 != argc || (ca && fingerprint))
        return cli_usage(&login_command);
    if (strncmp(argv[optind], "https://", 8) != 0 || strlen(argv[optind]) >= sizeof(url) - 1) {
        fprintf(stderr, "yamori login: expected an https:// URL such as https://yamori.example:8443\n");
        return 2;
    }
    snprintf(url, sizeof(url), "%s", argv[optind]);
    while (strlen(url) > 8 && url[strlen(url) - 1] == '/')
        url[strlen(url) - 1] = '\0';
    if (expires && login_parse_duration(expires, &lifetime) != 0) {
        fprintf(stderr, "yamori login: --expires expects a duration such as 12h, 30d or 2w\n");
        return 2;
    }
    if (!user) {
        struct passwd *pw = getpwuid(getuid());
        user = getenv("USER");
        if ((!user || !*user) && pw)
            user = pw->pw_name;
        if (!user || !*user) {
            fprintf(stderr, "yamori login: say who you are with --user NAME\n");
            return 2;
        }
    }
    gethostname(host, sizeof(host) - 1);
    have_old = cli_config_load(&old, err, sizeof(err)) == 0;

    /* 1. the CA */
    t.url = url;
    if (ca) {
        if (!realpath(ca, real)) {
            fprintf(stderr, "yamori login: %s: %s\n", ca, strerror(errno));
            goto out;
        }
        if (strlen(real) >= sizeof(cfg.ca_path)) {
            fprintf(stderr, "yamori login: %s: path too long (at most %zu bytes)\n", ca, sizeof(cfg.ca_path) - 1);
            goto out;
        }
        t.ca_file = real;
    } else {
        if (fetch_ca(url, fingerprint, &ca_pem, err, sizeof(err)) != 0) {
            fprintf(stderr, "yamori login: %s\n", err);
            goto out;
        }
        t.ca_pem = ca_pem;
    }

    /* 2. the password, 3. sign in */
    snprintf(prompt, sizeof(prompt), "password for %s at %s: ", user, url);
    if (login_read_password(pwfile, "YAMORI_PASSWORD", prompt, false, password, sizeof(password), err,
                            sizeof(err)) != 0) {
        fprintf(stderr, "yamori login: %s\n", err);
        goto out;
    }
    body = json_pack("{s:s, s:s}", "user", user, "password", password);
    OPENSSL_cleanse(password, sizeof(password));
    if (!body || call(&t, "POST", "/api/v1/auth/login", body, NULL, NULL, &a, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori login: %s\n", body ? err : "out of memory");
        goto out;
    }
    if (a.status != 200 || !a.session[0] || !json_is_string(json_object_get(a.json, "csrf_token"))) {
        rc = answer_fail(&a, "login");
        goto out;
    }
    csrf = strdup(json_string_value(json_object_get(a.json, "csrf_token")));
    json_decref(body);

    /* 4. an API token for this host */
    snprintf(tname, sizeof(tname), "%.26s@%.37s", user, host); /* at most 64 bytes */
    body = lifetime ? json_pack("{s:s, s:I}", "name", tname, "expires_in_seconds", (json_int_t)lifetime)
                    : json_pack("{s:s}", "name", tname);
    if (!body || !csrf || call(&t, "POST", "/api/v1/tokens", body, a.session, csrf, &tok, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori login: %s\n", body && csrf ? err : "out of memory");
        goto out;
    }
    if (tok.status != 201 || !json_is_string(json_object_get(tok.json, "token"))) {
        rc = answer_fail(&tok, "create an API token");
        goto out;
    }
    /* the session was only a means: end it */
    (void)call(&t, "POST", "/api/v1/auth/logout", NULL, a.session, csrf, &bye, err, sizeof(err));

    /* 5. save */
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.url, sizeof(cfg.url), "%s", url);
    if (ca_pem && save_ca(ca_pem, cfg.ca_path, sizeof(cfg.ca_path), err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori login: %s\n", err);
        goto out;
    }
    if (!ca_pem)
        memcpy(cfg.ca_path, real, strlen(real) + 1);
    snprintf(cfg.token, sizeof(cfg.token), "%s", json_string_value(json_object_get(tok.json, "token")));
    if (cli_config_save(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori login: %s\n", err);
        goto out;
    }
    if (have_old && old.token[0] && strcmp(old.url, cfg.url) == 0 && strcmp(old.token, cfg.token) != 0) {
        struct cli_response r;
        snprintf(old.ca_path, sizeof(old.ca_path), "%s", cfg.ca_path);
        if (cli_request(&old, "POST", "/api/v1/auth/logout", NULL, &r, err, sizeof(err)) == 0)
            cli_response_free(&r);
    }
    cli_config_path(prompt, sizeof(prompt));
    printf("logged in to %s as %s (%s); API token \"%s\" saved in %s\n", url,
           json_string_value(json_object_get(a.json, "user")), json_string_value(json_object_get(a.json, "role")),
           tname, prompt);
    rc = 0;
out:
    OPENSSL_cleanse(password, sizeof(password));
    OPENSSL_cleanse(&old, sizeof(old));
    OPENSSL_cleanse(&cfg, sizeof(cfg));
    json_decref(body);
    answer_free(&a);
    answer_free(&tok);
    answer_free(&bye);
    free(csrf);
    free(ca_pem);
    return rc;
}

/* ------------------------------------------------------------------ yamori logout */

static int run_logout(int argc, char **argv);

static const struct cli_command logout_command = {
    .name = "logout",
    .summary = "revoke the saved API token and forget it",
    .usage = "yamori logout",
    .run = run_logout,
};
CLI_COMMAND(logout_command);

static int run_logout(int argc, char **argv)
{
    struct cli_config cfg;
    struct cli_response r;
    char err[600];
    int rc = 0;

    (void)argv;
    if (argc != 1)
        return cli_usage(&logout_command);
    if (cli_config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori logout: %s\n", err);
        return 1;
    }
    if (!cfg.token[0]) {
        printf("not logged in to %s\n", cfg.url);
        return 0;
    }
    if (cli_request(&cfg, "POST", "/api/v1/auth/logout", NULL, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori logout: %s; the token is forgotten here but may still be valid on the server: "
                "revoke it from another login (yamori tokens)\n", err);
        rc = 1;
    } else {
        if (r.status != 200 && r.status != 401) {
            cli_fail(&r, "revoke the token");
            rc = 1;
        }
        cli_response_free(&r);
    }
    OPENSSL_cleanse(cfg.token, sizeof(cfg.token));
    if (cli_config_save(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori logout: %s\n", err);
        return 1;
    }
    if (rc == 0)
        printf("logged out of %s\n", cfg.url);
    return rc;
}
