/*
 * pki.c — the server's own certificate authority.
 *
 * At first start the server creates, in <data_dir>/tls/, a CA (ECDSA P-256,
 * 3650 days) and a server certificate it signs (825 days, the longest a
 * TLS server certificate may last for macOS and iOS clients) naming the
 * host, localhost, 127.0.0.1, ::1 and the public URL's host. Agents and the CLI
 * pin this CA: the onboarding package carries it. The server certificate
 * is reissued by the same CA when it has less than 30 days left or no
 * longer names the public host. Private keys are 0600 and never leave the
 * data directory.
 */
#include "server/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server/server.h"

struct pki {
    char *ca_pem;
    char *cert_pem;
    char *key_pem;
    char fingerprint[100];
};

static const struct server_module pki_module;

static int write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    char tmp[1024];
    FILE *f;
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -errno;
    }
    if (fwrite(data, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        unlink(tmp);
        return -EIO;
    }
    fclose(f);
    return rename(tmp, path) == 0 ? 0 : -errno;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n <= 0 || n > 1 << 20) {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

static char *pem_of_cert(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;

    if (b && PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &data)) > 0 && (out = malloc((size_t)n + 1))) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(b);
    return out;
}

static char *pem_of_key(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;

    if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1 && (n = BIO_get_mem_data(b, &data)) > 0 &&
        (out = malloc((size_t)n + 1))) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(b);
    return out;
}

static X509 *cert_of_pem(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static EVP_PKEY *key_of_pem(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ex;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ex) {
        X509_add_ext(cert, ex, -1);
        X509_EXTENSION_free(ex);
    }
}

static X509 *new_cert(EVP_PKEY *key, const char *cn, long days)
{
    X509 *x = X509_new();
    BIGNUM *bn = BN_new();
    unsigned char serial[16];

    if (!x || !bn)
        goto fail;
    X509_set_version(x, 2);
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f;
    BN_bin2bn(serial, sizeof(serial), bn);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC, (const unsigned char *)"Yamori", -1, -1, 0);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    BN_free(bn);
    return x;
fail:
    BN_free(bn);
    X509_free(x);
    return NULL;
}

/* The host of the public URL ("https://host:port/..." -> "host"). */
static void public_host(const struct server_config *cfg, char *out, size_t outlen)
{
    char url[300];
    const char *p, *end;

    config_public_url(cfg, url, sizeof(url));
    p = strstr(url, "://");
    p = p ? p + 3 : url;
    if (*p == '[') {
        end = strchr(p, ']');
        p++;
    } else {
        end = strpbrk(p, ":/");
    }
    snprintf(out, outlen, "%.*s", end ? (int)(end - p) : (int)strlen(p), p);
}

static bool is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Whether cert names host (as DNS or IP SAN). */
static bool cert_names(X509 *cert, const char *host)
{
    if (is_ip(host))
        return X509_check_ip_asc(cert, host, 0) == 1;
    return X509_check_host(cert, host, 0, 0, NULL) == 1;
}

static int issue_server_cert(const struct server_config *cfg, X509 *ca, EVP_PKEY *ca_key, char **cert_pem,
                             char **key_pem)
{
    char hostname[256] = "localhost", phost[256], san[1024];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = NULL;
    int e = -EIO;

    gethostname(hostname, sizeof(hostname) - 1);
    public_host(cfg, phost, sizeof(phost));
    snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1,DNS:%s", hostname);
    if (phost[0] && strcmp(phost, hostname) && strcmp(phost, "localhost")) {
        size_t n = strlen(san);
        snprintf(san + n, sizeof(san) - n, ",%s:%s", is_ip(phost) ? "IP" : "DNS", phost);
    }
    if (!key || !(x = new_cert(key, hostname, 825)))
        goto out;
    X509_set_issuer_name(x, X509_get_subject_name(ca));
    add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_ext(x, ca, NID_ext_key_usage, "serverAuth");
    add_ext(x, ca, NID_subject_alt_name, san);
    add_ext(x, ca, NID_authority_key_identifier, "keyid:always");
    if (!X509_sign(x, ca_key, EVP_sha256()))
        goto out;
    *cert_pem = pem_of_cert(x);
    *key_pem = pem_of_key(key);
    e = *cert_pem && *key_pem ? 0 : -ENOMEM;
out:
    X509_free(x);
    EVP_PKEY_free(key);
    return e;
}

static int create_ca(char **ca_pem, char **ca_key_pem)
{
    char hostname[200] = "localhost", cn[256];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = NULL;
    int e = -EIO;

    gethostname(hostname, sizeof(hostname) - 1);
    snprintf(cn, sizeof(cn), "Yamori CA %s", hostname);
    if (!key || !(x = new_cert(key, cn, 3650)))
        goto out;
    X509_set_issuer_name(x, X509_get_subject_name(x));
    add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(x, x, NID_subject_key_identifier, "hash");
    if (!X509_sign(x, key, EVP_sha256()))
        goto out;
    *ca_pem = pem_of_cert(x);
    *ca_key_pem = pem_of_key(key);
    e = *ca_pem && *ca_key_pem ? 0 : -ENOMEM;
out:
    X509_free(x);
    EVP_PKEY_free(key);
    return e;
}

static void fingerprint(const char *pem, char *out, size_t outlen)
{
    X509 *x = cert_of_pem(pem);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    size_t pos;

    out[0] = '\0';
    if (!x || !X509_digest(x, EVP_sha256(), md, &n)) {
        X509_free(x);
        return;
    }
    pos = (size_t)snprintf(out, outlen, "SHA256:");
    for (unsigned i = 0; i < n && pos + 3 < outlen; i++)
        pos += (size_t)snprintf(out + pos, outlen - pos, "%02x", md[i]);
    X509_free(x);
}

static int pki_init(struct server *srv, char *err, size_t errlen)
{
    struct pki *p = calloc(1, sizeof(*p));
    char dir[600], ca_path[700], cakey_path[700], cert_path[700], key_path[700], phost[256];
    char *ca_key_pem = NULL;
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *ca_key = NULL;
    bool reissue = false;
    int e = 0;

    if (!p)
        return -ENOMEM;
    snprintf(dir, sizeof(dir), "%s/tls", srv->cfg.data_dir);
    snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
    snprintf(cakey_path, sizeof(cakey_path), "%s/ca.key", dir);
    snprintf(cert_path, sizeof(cert_path), "%s/server.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/server.key", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        e = -errno;
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    p->ca_pem = read_file(ca_path);
    ca_key_pem = read_file(cakey_path);
    if (!p->ca_pem || !ca_key_pem) {
        free(p->ca_pem);
        free(ca_key_pem);
        p->ca_pem = ca_key_pem = NULL;
        e = create_ca(&p->ca_pem, &ca_key_pem);
        if (!e)
            e = write_file(cakey_path, ca_key_pem, strlen(ca_key_pem), 0600);
        if (!e)
            e = write_file(ca_path, p->ca_pem, strlen(p->ca_pem), 0644);
        if (e) {
            snprintf(err, errlen, "cannot create the certificate authority in %s: %s", dir, strerror(-e));
            goto out;
        }
        log_info("created a certificate authority in %s", dir);
        reissue = true;
    }
    ca = cert_of_pem(p->ca_pem);
    ca_key = key_of_pem(ca_key_pem);
    if (!ca || !ca_key) {
        e = -EINVAL;
        snprintf(err, errlen, "%s or %s is not a valid certificate/key", ca_path, cakey_path);
        goto out;
    }
    p->cert_pem = read_file(cert_path);
    p->key_pem = read_file(key_path);
    cert = p->cert_pem ? cert_of_pem(p->cert_pem) : NULL;
    public_host(&srv->cfg, phost, sizeof(phost));
    if (!reissue && (!cert || !p->key_pem)) {
        reissue = true;
    } else if (!reissue) {
        time_t soon = time(NULL) + 30 * 86400;
        if (X509_cmp_time(X509_get0_notAfter(cert), &soon) < 0 || (phost[0] && !cert_names(cert, phost)) ||
            X509_verify(cert, ca_key) != 1)
            reissue = true;
    }
    if (reissue) {
        free(p->cert_pem);
        free(p->key_pem);
        p->cert_pem = p->key_pem = NULL;
        e = issue_server_cert(&srv->cfg, ca, ca_key, &p->cert_pem, &p->key_pem);
        if (!e)
            e = write_file(key_path, p->key_pem, strlen(p->key_pem), 0600);
        if (!e)
            e = write_file(cert_path, p->cert_pem, strlen(p->cert_pem), 0644);
        if (e) {
            snprintf(err, errlen, "cannot issue the server certificate: %s", strerror(-e));
            goto out;
        }
        log_info("issued the server certificate (%s)", cert_path);
    }
    fingerprint(p->ca_pem, p->fingerprint, sizeof(p->fingerprint));
    srv->tls_cert_pem = p->cert_pem;
    srv->tls_key_pem = p->key_pem;
    server_set_module_state(srv, &pki_module, p);
    p = NULL;
out:
    if (ca_key_pem) {
        OPENSSL_cleanse(ca_key_pem, strlen(ca_key_pem));
        free(ca_key_pem);
    }
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(ca_key);
    if (p) {
        free(p->ca_pem);
        free(p->cert_pem);
        free(p->key_pem);
        free(p);
    }
    return e;
}

static void pki_fini(struct server *srv)
{
    struct pki *p = server_module_state(srv, &pki_module);
    if (!p)
        return;
    free(p->ca_pem);
    free(p->cert_pem);
    if (p->key_pem) {
        OPENSSL_cleanse(p->key_pem, strlen(p->key_pem));
        free(p->key_pem);
    }
    free(p);
    srv->tls_cert_pem = srv->tls_key_pem = NULL;
}

const char *pki_ca_pem(struct server *srv)
{
    struct pki *p = server_module_state(srv, &pki_module);
    return p ? p->ca_pem : NULL;
}

const char *pki_ca_fingerprint(struct server *srv)
{
    struct pki *p = server_module_state(srv, &pki_module);
    return p ? p->fingerprint : NULL;
}

/* GET /api/v1/ca.pem: the CA certificate (public), so a client can pin it
 * after comparing its fingerprint with what `yamori server` printed. */
static void get_ca(struct http_request *rq, struct http_response *rs)
{
    const char *pem = pki_ca_pem(http_server(rq));
    if (!pem) {
        http_error(rs, 503, "no certificate authority");
        return;
    }
    http_body_raw(rs, pem, strlen(pem), "application/x-pem-file");
}

static const struct route pki_routes[] = {
    {HTTP_GET, "/api/v1/ca.pem", ACCESS_PUBLIC, ROLE_NONE, 0, get_ca, "the server's CA certificate (PEM)"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct server_module pki_module = {
    .name = "pki",
    .order = 10,
    .init = pki_init,
    .fini = pki_fini,
    .routes = pki_routes,
};
SERVER_MODULE(pki_module);
