/*
 * kmodinfo.c — kernel modules (see kmodinfo.h). /proc/modules and
 * modules.dep are parsed as text; the signature of a module file is the
 * trailer the kernel's scripts/sign-file writes: the PKCS#7 (CMS) blob,
 * a 12-byte struct module_signature whose last four bytes are the blob's
 * length (big-endian), then the magic "~Module signature appended~\n".
 * The blob is read with OpenSSL's CMS parser; the signer is named by its
 * issuer's common name, or by its key id when the signature carries one
 * instead.
 */
#include "agent/kmodinfo.h"

#include <errno.h>
#include <limits.h>
#include <openssl/cms.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <zstd.h>

#include "agent/hostinv.h"

#define DEP_MAX (64u << 20)
#define MODULE_FILE_MAX (256u << 20)
#define SIG_MAGIC "~Module signature appended~\n"
#define PKEY_ID_PKCS7 2

/* ------------------------------------------------------------ /proc/modules */

int kmodinfo_parse(const char *text, struct kmodinfo_mod **out, size_t *n)
{
    struct kmodinfo_mod *v = NULL;
    size_t k = 0, cap = 0;
    const char *p = text;

    *out = NULL;
    *n = 0;
    while (p && *p && k < KMODINFO_MAX) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[4096], name[64], refs[16], deps[4000], state[16], taint[32] = "";
        unsigned long long size;
        int f;

        if (len < sizeof(line)) {
            memcpy(line, p, len);
            line[len] = '\0';
            f = sscanf(line, "%63s %llu %15s %3999s %15s %*s %31s", name, &size, refs, deps, state, taint);
            if (f >= 5) {
                struct kmodinfo_mod *m;
                if (k == cap) {
                    size_t nc = cap ? cap * 2 : 64;
                    struct kmodinfo_mod *g = realloc(v, nc * sizeof(*g));
                    if (!g) {
                        kmodinfo_free(v, k);
                        return -ENOMEM;
                    }
                    v = g;
                    cap = nc;
                }
                m = &v[k];
                memset(m, 0, sizeof(*m));
                snprintf(m->name, sizeof(m->name), "%s", name);
                m->size = size;
                m->refcount = strcmp(refs, "-") == 0 ? -1 : atoi(refs);
                snprintf(m->state, sizeof(m->state), "%s", state);
                /* "(OE)" */
                if (taint[0] == '(') {
                    size_t tl = strcspn(taint + 1, ")");
                    snprintf(m->taint, sizeof(m->taint), "%.*s", (int)tl, taint + 1);
                }
                /* "a,b," or "-" */
                if (strcmp(deps, "-") == 0)
                    deps[0] = '\0';
                else if (deps[0] && deps[strlen(deps) - 1] == ',')
                    deps[strlen(deps) - 1] = '\0';
                if (!(m->used_by = strdup(deps))) {
                    kmodinfo_free(v, k);
                    return -ENOMEM;
                }
                k++;
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    *out = v;
    *n = k;
    return 0;
}

void kmodinfo_free(struct kmodinfo_mod *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i].used_by);
    free(v);
}

void kmodinfo_sys_taint(const char *root, const char *name, char *out, size_t outlen)
{
    char path[PATH_MAX], *buf;
    size_t len;

    out[0] = '\0';
    snprintf(path, sizeof(path), "%s/sys/module/%s/taint", root ? root : "", name);
    if (hostinv_read_file(path, 64, false, &buf, &len, NULL) != 0)
        return;
    buf[strcspn(buf, "\n")] = '\0';
    snprintf(out, outlen, "%s", buf);
    free(buf);
}

bool kmodinfo_same_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x != y)
            return false;
    }
    return !*a && !*b;
}

/* ------------------------------------------------------------ modules.dep */

struct depent {
    char name[64]; /* '-' as '_' */
    char *path;
};

struct kmodinfo_dep {
    struct depent *v;
    size_t n;
};

static int cmp_dep(const void *a, const void *b)
{
    return strcmp(((const struct depent *)a)->name, ((const struct depent *)b)->name);
}

static void norm_name(const char *s, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < outlen; i++)
        out[o++] = s[i] == '-' ? '_' : s[i];
    out[o] = '\0';
}

int kmodinfo_dep_load(const char *root, const char *release, struct kmodinfo_dep **out)
{
    struct utsname u;
    char path[PATH_MAX], base[PATH_MAX], *buf, *save = NULL;
    size_t len, cap = 0;
    struct kmodinfo_dep *d;
    int e;

    *out = NULL;
    if (!release) {
        if (uname(&u) != 0)
            return -errno;
        release = u.release;
    }
    if (snprintf(base, sizeof(base), "/lib/modules/%s", release) >= (int)sizeof(base) ||
        snprintf(path, sizeof(path), "%s%s/modules.dep", root ? root : "", base) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    if ((e = hostinv_read_file(path, DEP_MAX, false, &buf, &len, NULL)) != 0)
        return e;
    if (!(d = calloc(1, sizeof(*d)))) {
        free(buf);
        return -ENOMEM;
    }
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *colon = strchr(line, ':'), *b, *ext;
        struct depent *de;
        if (!colon)
            continue;
        *colon = '\0';
        b = strrchr(line, '/') ? strrchr(line, '/') + 1 : line;
        if (!(ext = strstr(b, ".ko")))
            continue;
        if (d->n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            struct depent *g = realloc(d->v, nc * sizeof(*g));
            if (!g) {
                e = -ENOMEM;
                break;
            }
            d->v = g;
            cap = nc;
        }
        de = &d->v[d->n];
        norm_name(b, (size_t)(ext - b), de->name, sizeof(de->name));
        if (line[0] == '/')
            de->path = strdup(line);
        else if (asprintf(&de->path, "%s/%s", base, line) < 0)
            de->path = NULL;
        if (!de->path) {
            e = -ENOMEM;
            break;
        }
        d->n++;
    }
    free(buf);
    if (e) {
        kmodinfo_dep_free(d);
        return e;
    }
    if (d->n)
        qsort(d->v, d->n, sizeof(*d->v), cmp_dep);
    *out = d;
    return 0;
}

void kmodinfo_dep_free(struct kmodinfo_dep *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].path);
    free(d->v);
    free(d);
}

const char *kmodinfo_dep_path(const struct kmodinfo_dep *d, const char *name)
{
    struct depent key;
    const struct depent *f;

    if (!d || !d->n)
        return NULL;
    norm_name(name, strlen(name), key.name, sizeof(key.name));
    f = bsearch(&key, d->v, d->n, sizeof(key), cmp_dep);
    return f ? f->path : NULL;
}

/* ------------------------------------------------------------ signer */

/* The whole content of a .ko.zst into *out. */
static int unzstd(const char *data, size_t len, char **out, size_t *outlen)
{
    ZSTD_DStream *z = ZSTD_createDStream();
    ZSTD_inBuffer in = {data, len, 0};
    char *buf = NULL;
    size_t cap = 0, n = 0;
    int e = 0;

    if (!z)
        return -ENOMEM;
    ZSTD_initDStream(z);
    while (in.pos < in.size) {
        ZSTD_outBuffer ob;
        size_t r;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : (1u << 20);
            char *g;
            if (nc > MODULE_FILE_MAX) {
                e = -EFBIG;
                break;
            }
            if (!(g = realloc(buf, nc))) {
                e = -ENOMEM;
                break;
            }
            buf = g;
            cap = nc;
        }
        ob.dst = buf + n;
        ob.size = cap - n;
        ob.pos = 0;
        r = ZSTD_decompressStream(z, &ob, &in);
        if (ZSTD_isError(r)) {
            e = -EBADMSG;
            break;
        }
        n += ob.pos;
        if (r == 0 && in.pos == in.size)
            break;
    }
    ZSTD_freeDStream(z);
    if (e) {
        free(buf);
        return e;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

int kmodinfo_signer(const char *path, char *out, size_t outlen)
{
    char *buf = NULL, *plain = NULL;
    const char *data;
    size_t len, plen, mlen = sizeof(SIG_MAGIC) - 1;
    size_t l = strlen(path);
    const unsigned char *sig, *p;
    uint32_t siglen;
    CMS_ContentInfo *cms = NULL;
    STACK_OF(CMS_SignerInfo) *sis;
    int e;

    out[0] = '\0';
    if ((l > 6 && strcmp(path + l - 6, ".ko.xz") == 0) || (l > 6 && strcmp(path + l - 6, ".ko.gz") == 0))
        return -ENOTSUP;
    if ((e = hostinv_read_file(path, MODULE_FILE_MAX, false, &buf, &len, NULL)) != 0)
        return e;
    data = buf;
    plen = len;
    if (l > 7 && strcmp(path + l - 7, ".ko.zst") == 0) {
        if ((e = unzstd(buf, len, &plain, &plen)) != 0)
            goto out;
        data = plain;
    }
    if (plen < mlen + 12 || memcmp(data + plen - mlen, SIG_MAGIC, mlen) != 0) {
        e = -ENODATA;
        goto out;
    }
    {
        const unsigned char *ms = (const unsigned char *)data + plen - mlen - 12;
        siglen = (uint32_t)ms[8] << 24 | (uint32_t)ms[9] << 16 | (uint32_t)ms[10] << 8 | ms[11];
        if (ms[2] != PKEY_ID_PKCS7 || siglen == 0 || siglen > plen - mlen - 12) {
            e = -EBADMSG;
            goto out;
        }
        sig = ms - siglen;
    }
    p = sig;
    if (!(cms = d2i_CMS_ContentInfo(NULL, &p, (long)siglen)) || !(sis = CMS_get0_SignerInfos(cms)) ||
        sk_CMS_SignerInfo_num(sis) < 1) {
        e = -EBADMSG;
        goto out;
    }
    {
        ASN1_OCTET_STRING *keyid = NULL;
        X509_NAME *issuer = NULL;
        ASN1_INTEGER *sno = NULL;
        if (CMS_SignerInfo_get0_signer_id(sk_CMS_SignerInfo_value(sis, 0), &keyid, &issuer, &sno) != 1) {
            e = -EBADMSG;
            goto out;
        }
        if (issuer) {
            if (X509_NAME_get_text_by_NID(issuer, NID_commonName, out, (int)outlen) < 0)
                X509_NAME_oneline(issuer, out, (int)outlen);
        } else if (keyid) {
            size_t o = (size_t)snprintf(out, outlen, "key id ");
            for (int i = 0; i < ASN1_STRING_length(keyid) && o + 3 < outlen; i++)
                o += (size_t)snprintf(out + o, outlen - o, "%02x", ASN1_STRING_get0_data(keyid)[i]);
        }
    }
out:
    CMS_ContentInfo_free(cms);
    free(plain);
    free(buf);
    return e;
}
