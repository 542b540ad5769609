/*
 * test_collect.c — the investigation package (src/agent/collect.c, issue
 * 5). The builder, run in this process: the archive it writes is read back
 * with libarchive and holds the README, the process list with this test's
 * own pid, its lineage, the mounts, the connections with a socket this
 * test listens on owned by this pid, and the persistence listing; the
 * summary counts what was collected and names what was not. A package
 * that cannot be written fails with a reason and leaves nothing behind.
 * The SHA-256 helper agrees with a known digest.
 */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/collect.h"
#include "check.h"

#define MAX_ENTRIES 4096

struct entry {
    char *name;
    char *data;
    size_t len;
};

static struct entry entries[MAX_ENTRIES];
static size_t nentries;
static char tmpdir[64];

static void free_entries(void)
{
    for (size_t i = 0; i < nentries; i++) {
        free(entries[i].name);
        free(entries[i].data);
    }
    nentries = 0;
}

static void teardown(void)
{
    free_entries();
    if (tmpdir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        (void)!system(cmd);
        tmpdir[0] = '\0';
    }
}

/* Reads every entry of the tar.gz at path into entries[]. */
static int read_archive(const char *path)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    int rc = 0;

    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
        archive_read_free(a);
        return -1;
    }
    while (nentries < MAX_ENTRIES && (rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        struct entry *x = &entries[nentries++];
        la_int64_t size = archive_entry_size(e);
        x->name = strdup(archive_entry_pathname(e));
        x->data = malloc((size_t)size + 1);
        x->len = (size_t)size;
        if (!x->name || !x->data || archive_read_data(a, x->data, (size_t)size) != size) {
            rc = ARCHIVE_FATAL;
            break;
        }
        x->data[size] = '\0';
    }
    archive_read_free(a);
    return rc == ARCHIVE_EOF ? 0 : -1;
}

static const struct entry *entry(const char *name)
{
    char full[512];
    snprintf(full, sizeof(full), "%s/%s", COLLECT_TOP, name);
    for (size_t i = 0; i < nentries; i++)
        if (strcmp(entries[i].name, full) == 0)
            return &entries[i];
    return NULL;
}

static void builds_package(void)
{
    char path[128], line[64], port_field[32];
    json_t *summary = NULL;
    const struct entry *x;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    int lfd = -1;
    char err[512] = "";
    const char *p;
    bool found = false;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/yamori-collect-XXXXXX");
    CHECK(mkdtemp(tmpdir));
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0);
    CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 1) == 0);
    CHECK(getsockname(lfd, (struct sockaddr *)&sa, &slen) == 0);
    snprintf(path, sizeof(path), "%s/p.tar.gz", tmpdir);
    {
        int e = collect_build(path, NULL, &summary, err, sizeof(err));
        close(lfd);
        CHECK_MSG(e == 0, "collect_build: %s", err);
    }
    CHECK(json_integer_value(json_object_get(json_object_get(summary, "items"), "processes")) > 1);
    CHECK(json_integer_value(json_object_get(json_object_get(summary, "items"), "mounts")) > 0);
    CHECK(json_integer_value(json_object_get(json_object_get(summary, "items"), "connections")) > 0);
    CHECK(json_is_array(json_object_get(summary, "missing")));
    {
        struct stat st;
        CHECK(stat(path, &st) == 0 && (st.st_mode & 077) == 0);
    }
    CHECK_MSG(read_archive(path) == 0, "the package is not a readable tar.gz");
    CHECK((x = entry("README.txt")) && strstr(x->data, "Not collected:") && strstr(x->data, "processes/processes.tsv"));
    CHECK(entry("system/system.txt") && strstr(entry("system/system.txt")->data, "sysname\tLinux"));
    CHECK((x = entry("processes/processes.tsv")));
    snprintf(line, sizeof(line), "\n%d\t%d\t", (int)getpid(), (int)getppid());
    CHECK_MSG(strstr(x->data, line), "this test's pid %d is not in the process list", (int)getpid());
    CHECK((x = entry("processes/lineage.tsv")));
    snprintf(line, sizeof(line), "\n%d\t%d", (int)getpid(), (int)getppid());
    CHECK(strstr(x->data, line));
    CHECK((x = entry("processes/open_files.tsv")) && x->len > 20);
    CHECK((x = entry("volumes/mountinfo.txt")) && x->len > 0);
    CHECK((x = entry("volumes/usage.tsv")) && strstr(x->data, "\n/\t"));
    CHECK((x = entry("network/connections.tsv")));
    /* the listening socket, owned by this pid */
    snprintf(port_field, sizeof(port_field), "\t127.0.0.1\t%u\t", (unsigned)ntohs(sa.sin_port));
    for (p = x->data; (p = strstr(p, port_field)); p++) {
        const char *eol = strchr(p, '\n'), *last = eol;
        char pidtext[32];
        while (last > p && last[-1] != '\t')
            last--;
        snprintf(pidtext, sizeof(pidtext), "%d", (int)getpid());
        if (eol && strstr(p, "LISTEN") && strstr(p, "LISTEN") < eol && strncmp(last, pidtext, strlen(pidtext)) == 0)
            found = true;
    }
    CHECK_MSG(found, "the test's listening socket (port %u) is not listed with its pid",
              (unsigned)ntohs(sa.sin_port));
    CHECK((x = entry("network/listening.tsv")) && strstr(x->data, port_field));
    CHECK(entry("network/unix.tsv") && entry("network/addresses.tsv"));
    CHECK((x = entry("persistence/listing.tsv")) && strncmp(x->data, "kind\tpath\t", 10) == 0);
    CHECK(entry("sudoers/listing.tsv"));
    /* sizes in the README agree with the entries */
    {
        char want[256];
        x = entry("processes/processes.tsv");
        snprintf(want, sizeof(want), "processes/processes.tsv (%zu bytes)", x->len);
        CHECK(strstr(entry("README.txt")->data, want));
    }
    json_decref(summary);
}

static void unwritable_leaves_nothing(void)
{
    json_t *summary = NULL;
    char err[512] = "";
    int e;

    e = collect_build("/nonexistent-yamori-dir/p.tar.gz", NULL, &summary, err, sizeof(err));
    CHECK(e < 0);
    CHECK(summary == NULL);
    CHECK_MSG(strstr(err, "/nonexistent-yamori-dir/p.tar.gz"), "the error does not name the path: %s", err);
    CHECK(access("/nonexistent-yamori-dir/p.tar.gz", F_OK) != 0);
}

static void sha256_of_file(void)
{
    char path[128], hex[65];
    uint64_t bytes = 0;
    FILE *f;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/yamori-collect-XXXXXX");
    CHECK(mkdtemp(tmpdir));
    snprintf(path, sizeof(path), "%s/abc", tmpdir);
    CHECK((f = fopen(path, "w")) && fputs("abc", f) >= 0 && fclose(f) == 0);
    CHECK(collect_sha256_file(path, hex, &bytes) == 0);
    CHECK(bytes == 3);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    CHECK(collect_sha256_file("/nonexistent-yamori-file", hex, &bytes) == -ENOENT);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"builds_package", builds_package},
        {"unwritable_leaves_nothing", unwritable_leaves_nothing},
        {"sha256_of_file", sha256_of_file},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("collect", cases, argc, argv);
}
