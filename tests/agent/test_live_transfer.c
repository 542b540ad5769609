/*
 * test_live_transfer.c — live response commands that talk to the server,
 * run the way the agent runs them: the command thread polls the mock
 * server of mock_server.h (HTTPS, in this process), runs each `live`
 * command on a worker and posts its streamed output and result.
 *
 *   - command_output: findfile's matches and a script's 1.5 MB of output
 *     reach the server complete, in order, with seq from 0, in several
 *     chunks, although the server answers 503 to the first tries (the same
 *     chunk is sent again); the output is all there before the result;
 *   - getfile: the server receives the file byte for byte and the answer's
 *     SHA-256 is the file's; above the server's limit the 413 and its
 *     message fail the command; /proc and symbolic links are refused;
 *   - putfile: the library file lands in the session's directory, byte for
 *     byte, mode 0600; a wrong SHA-256 writes nothing; an existing file is
 *     kept unless -overwrite; a symbolic link at the destination is refused
 *     even with -overwrite and what it points to is untouched;
 *   - run: the script gets its parameters as argv, shell metacharacters
 *     and all, literally (nothing they would do happens), stdin is
 *     /dev/null, the environment is PATH, HOME and LANG only, it runs in
 *     the session's directory, stdout and stderr are streamed, its exit
 *     code answered; a wrong SHA-256 runs nothing; a cancel kills its
 *     process group (the background child too).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agentconf.h"
#include "agent/channel.h"
#include "agent/commands.h"
#include "agent/live.h"
#include "agent/remediate_fs.h"
#include "check.h"
#include "mock_server.h"
#include "tmpdir.h"

static char dir[256];
static struct channel *chan;
static struct commands *cmds;
static struct pki pki;
static bool curl_ready;
static int64_t next_id = 100;

static void teardown(void)
{
    if (chan)
        channel_stop(chan);
    commands_stop(cmds);
    cmds = NULL;
    live_set_channel(NULL);
    channel_free(chan);
    chan = NULL;
    mock_stop();
    pki_free(&pki);
    tmpdir_remove(dir);
}

static bool write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    bool ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;
    if (fd >= 0)
        close(fd);
    return ok && chmod(path, mode) == 0;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    *len = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static void sha256_hex(const void *data, size_t len, char *out)
{
    unsigned char d[32];
    unsigned int n = 0;
    EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* The mock, a channel to it and the command thread; dir is a fresh
 * directory (the state directory too). */
static bool start(void)
{
    struct agent_conf conf;
    char err[512];

    if (!tmpdir_make(dir, sizeof(dir), "livet"))
        return false;
    if (pki_make(&pki, "test CA") != 0 || !mock_start(&pki, "IP:127.0.0.1"))
        return false;
    agentconf_defaults(&conf);
    snprintf(conf.server_url, sizeof(conf.server_url), "https://127.0.0.1:%d", mock->port);
    snprintf(conf.device_id, sizeof(conf.device_id), "%s", DEVICE_ID);
    snprintf(conf.ca_file, sizeof(conf.ca_file), "%s/ca.pem", dir);
    snprintf(conf.secret_file, sizeof(conf.secret_file), "%s/device.secret", dir);
    if (!write_file(conf.ca_file, pki.ca_pem, strlen(pki.ca_pem), 0644) ||
        !write_file(conf.secret_file, SECRET "\n", strlen(SECRET) + 1, 0600))
        return false;
    if (!curl_ready) {
        if (channel_global_init(err, sizeof(err)) != 0)
            return false;
        curl_ready = true;
    }
    if (channel_new(&chan, &conf, err, sizeof(err)) != 0)
        return false;
    live_set_channel(chan);
    remfs_set_state_dir(dir);
    return commands_start(&cmds, chan, dir, err, sizeof(err)) == 0;
}

/* Hands the agent a live command; returns its id. */
static int64_t send_live(const char *command, const char *cwd, const char *args_json)
{
    int64_t id = next_id++;
    json_t *args = json_loads(args_json, 0, NULL);
    json_t *c = json_pack("{s:I,s:s,s:{s:i,s:s,s:s,s:o}}", "id", (json_int_t)id, "type", "live", "args", "session", 1,
                          "command", command, "cwd", cwd, "args", args ? args : json_null());

    pthread_mutex_lock(&mock->lock);
    json_array_append_new(mock->commands, c);
    pthread_mutex_unlock(&mock->lock);
    return id;
}

/* The result of command id, waiting for it (NULL after wait_ms). */
static json_t *result_of(int64_t id, int wait_ms)
{
    char key[32];
    json_t *r = NULL;

    snprintf(key, sizeof(key), "%lld", (long long)id);
    for (int i = 0; i < wait_ms / 20 && !r; i++) {
        pthread_mutex_lock(&mock->lock);
        r = json_incref(json_object_get(mock->results, key));
        pthread_mutex_unlock(&mock->lock);
        if (!r)
            usleep(20000);
    }
    return r;
}

static const char *status_of(json_t *r)
{
    return json_string_value(json_object_get(r, "status"));
}

static const char *error_of(json_t *r)
{
    const char *e = json_string_value(json_object_get(r, "error"));
    return e ? e : "";
}

static json_t *output_of(json_t *r)
{
    return json_object_get(r, "output");
}

/* ------------------------------------------------------------ streamed output */

static void output_in_order_and_complete(void)
{
    char args[PATH_MAX + 128], path[PATH_MAX], *text, *want = NULL;
    size_t len, wlen = 0, i;
    unsigned chunks;
    int64_t id;
    json_t *r, *row;

    CHECK(start());
    /* 3000 matches of about 100 bytes each: several chunks of output */
    snprintf(path, sizeof(path), "%s/tree", dir);
    CHECK(mkdir(path, 0755) == 0);
    for (int k = 0; k < 3000; k++) {
        snprintf(path, sizeof(path), "%s/tree/match-%04d-%s", dir, k,
                 "padding-padding-padding-padding-padding-padding-padding-padding");
        CHECK(write_file(path, "", 0, 0644));
    }
    pthread_mutex_lock(&mock->lock);
    mock->fail_output_next = 2; /* the first two tries are answered 503 and sent again */
    pthread_mutex_unlock(&mock->lock);
    snprintf(args, sizeof(args), "{\"name\": \"match-*\", \"path\": \"%s/tree\", \"max\": 5000}", dir);
    id = send_live("findfile", "/", args);
    r = result_of(id, 60000);
    CHECK_MSG(r, "findfile never answered");
    CHECK_MSG(strcmp(status_of(r), "succeeded") == 0, "%s", error_of(r));
    CHECK_INT(json_integer_value(json_object_get(output_of(r), "matches")), ==, 3000);
    /* the text streamed: one line per row, in the order of the rows */
    json_array_foreach(json_object_get(output_of(r), "rows"), i, row) {
        const char *p = json_string_value(json_object_get(row, "path"));
        want = realloc(want, wlen + strlen(p) + 2);
        memcpy(want + wlen, p, strlen(p));
        wlen += strlen(p);
        want[wlen++] = '\n';
    }
    json_decref(r);
    text = mock_output_of(mock, id, &len, &chunks);
    CHECK_MSG(text, "no output arrived");
    CHECK_INT(len, ==, wlen);
    CHECK(memcmp(text, want, wlen) == 0);
    CHECK_MSG(chunks >= 4, "%u chunks for %zu bytes", chunks, len);
    pthread_mutex_lock(&mock->lock);
    CHECK_INT(mock->fail_output_next, ==, 0);
    CHECK_INT(mock->outputs[0].gaps, ==, 0);
    pthread_mutex_unlock(&mock->lock);
    free(text);
    free(want);
}

/* ------------------------------------------------------------ getfile */

static void getfile_brings_the_file(void)
{
    char path[PATH_MAX], args[PATH_MAX + 64], sha[65];
    size_t n = 3u << 20, got;
    unsigned char *data = malloc(n);
    char *back;
    int64_t id;
    json_t *r;

    CHECK(data);
    CHECK(start());
    for (size_t off = 0; off < n;) {
        ssize_t k = getrandom(data + off, n - off, 0);
        CHECK(k > 0);
        off += (size_t)k;
    }
    snprintf(path, sizeof(path), "%s/evidence.bin", dir);
    CHECK(write_file(path, data, n, 0600));
    sha256_hex(data, n, sha);
    snprintf(args, sizeof(args), "{\"path\": \"%s\"}", path);
    id = send_live("getfile", "/", args);
    r = result_of(id, 60000);
    CHECK_MSG(r, "getfile never answered");
    CHECK_MSG(strcmp(status_of(r), "succeeded") == 0, "%s", error_of(r));
    CHECK_STR(json_string_value(json_object_get(output_of(r), "sha256")), sha);
    CHECK_INT(json_integer_value(json_object_get(output_of(r), "size")), ==, (long long)n);
    CHECK_STR(json_string_value(json_object_get(output_of(r), "path")), path);
    json_decref(r);
    back = mock_file_of(mock, id, &got);
    CHECK_MSG(back, "the server received nothing");
    CHECK_INT(got, ==, n);
    CHECK(memcmp(back, data, n) == 0);
    free(back);
    free(data);

    /* above the server's limit: its answer says why */
    pthread_mutex_lock(&mock->lock);
    mock->max_file_bytes = 1000;
    pthread_mutex_unlock(&mock->lock);
    id = send_live("getfile", "/", args);
    r = result_of(id, 60000);
    CHECK(r);
    CHECK_STR(status_of(r), "failed");
    CHECK_MSG(strstr(error_of(r), "413") && strstr(error_of(r), "max_getfile_bytes"), "%s", error_of(r));
    json_decref(r);

    /* kernel state and links are refused, nothing sent */
    id = send_live("getfile", "/", "{\"path\": \"/proc/self/environ\"}");
    r = result_of(id, 30000);
    CHECK(r);
    CHECK_STR(status_of(r), "failed");
    CHECK_MSG(strstr(error_of(r), "/proc"), "%s", error_of(r));
    json_decref(r);
    snprintf(path, sizeof(path), "%s/link", dir);
    CHECK(symlink("/etc/shadow", path) == 0);
    snprintf(args, sizeof(args), "{\"path\": \"%s\"}", path);
    id = send_live("getfile", "/", args);
    r = result_of(id, 30000);
    CHECK(r);
    CHECK_STR(status_of(r), "failed");
    CHECK_MSG(strstr(error_of(r), "symbolic link"), "%s", error_of(r));
    json_decref(r);
    CHECK(mock_file_of(mock, id, &got) == NULL);
}

/* ------------------------------------------------------------ putfile */

static bool no_temporary_left(const char *d)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -q yamori-putfile", d);
    return system(cmd) != 0;
}

static void putfile_writes_safely(void)
{
    static const char tool[] = "#!/bin/sh\necho a tool from the library\n";
    char dest[512], path[600], args[512], sha[65], wrong[65];
    size_t len;
    char *back;
    struct stat st;
    int64_t id;
    json_t *r;

    CHECK(start());
    sha256_hex(tool, strlen(tool), sha);
    memset(wrong, 'a', 64);
    wrong[64] = '\0';
    mock_library_put(mock, "tool.sh", tool, strlen(tool));
    snprintf(dest, sizeof(dest), "%s/dest", dir);
    CHECK(mkdir(dest, 0755) == 0);
    snprintf(path, sizeof(path), "%s/tool.sh", dest);

    /* a wrong SHA-256: nothing written */
    snprintf(args, sizeof(args), "{\"name\": \"tool.sh\", \"sha256\": \"%s\"}", wrong);
    id = send_live("putfile", dest, args);
    r = result_of(id, 30000);
    CHECK(r);
    CHECK_STR(status_of(r), "failed");
    CHECK_MSG(strstr(error_of(r), "SHA-256"), "%s", error_of(r));
    json_decref(r);
    CHECK(access(path, F_OK) != 0);
    CHECK(no_temporary_left(dest));

    /* the right one */
    snprintf(args, sizeof(args), "{\"name\": \"tool.sh\", \"sha256\": \"%s\"}", sha);
    id = send_live("putfile", dest, args);
    r = result_of(id, 30000);
    CHECK(r);
    CHECK_MSG(strcmp(status_of(r), "succeeded") == 0, "%s", error_of(r));
    CHECK_STR(json_string_value(json_object_get(output_of(r), "path")), path);
    json_decref(r);
    back = read_all(path, &len);
    CHECK(back && len == strlen(tool) && memcmp(back, tool, len) == 0);
    free(back);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK(no_temporary_left(dest));

    /* it exists now: kept without -overwrite */
    CHECK(write_file(path, "mine", 4, 0644));
    id = send_live("putfile", dest, args);
    r = result_of(id, 30000);
    CHECK(r);
    CHECK_STR(status_of(r), "failed");
    CHECK_MSG(strstr(error_of(r), "-overwrite"), "%s", error_of(r));
    json_decref(r);
    back = read_all(path, &len);
    CHECK(back && len == 4 && memcmp(back, "mine", 4) == 0);
    free(back);

    /* replaced with it */
    snprintf(args, sizeof(args), "{\"name\": \"tool.sh\", \"sha256\": \"%s\", \"overwrite\": true}", sha);
    id = send_live("putfile", dest, args);
    r = result_of(id, 30000);
    CHECK(r);
    CHECK_MSG(strcmp(status_of(r), "succeeded") == 0, "%s", error_of(r));
    CHECK(json_is_true(json_object_get(output_of(r), "replaced")));
    json_decref(r);
    back = read_all(path, &len);
    CHECK(back && len == strlen(tool) && memcmp(back, tool, len) == 0);
    free(back);

    /* a symbolic link at the destination: refused, even with -overwrite */
    {
        char victim[PATH_MAX];
        snprintf(victim, sizeof(victim), "%s/victim", dir);
        CHECK(write_file(victim, "precious", 8, 0644));
        CHECK(unlink(path) == 0);
        CHECK(symlink(victim, path) == 0);
        id = send_live("putfile", dest, args);
        r = result_of(id, 30000);
        CHECK(r);
        CHECK_STR(status_of(r), "failed");
        CHECK_MSG(strstr(error_of(r), "symbolic link"), "%s", error_of(r));
        json_decref(r);
        back = read_all(victim, &len);
        CHECK(back && len == 8 && memcmp(back, "precious", 8) == 0);
        free(back);
        CHECK(lstat(path, &st) == 0 && S_ISLNK(st.st_mode));
        CHECK(no_temporary_left(dest));
    }

    /* a name the library does not have */
    snprintf(args, sizeof(args), "{\"name\": \"nothing.sh\", \"sha256\": \"%s\"}", sha);
    id = send_live("putfile", dest, args);
    r = result_of(id, 30000);
    CHECK(r);
    CHECK_STR(status_of(r), "failed");
    CHECK_MSG(strstr(error_of(r), "404"), "%s", error_of(r));
    json_decref(r);
}

/* ------------------------------------------------------------ run */

#define ARGV_SCRIPT                                                                                          \
    "#!/bin/sh\n"                                                                                            \
    "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n"                                                    \
    "echo \"env: PATH=$PATH HOME=$HOME LANG=$LANG SECRET=${YAMORI_TEST_SECRET:-unset}\"\n"                   \
    "echo \"vars: $(env | grep -cv '^PWD=\\|^SHLVL=\\|^_=\\|^OLDPWD=')\"\n"                                   \
    "if read line; then echo \"stdin: $line\"; else echo 'stdin: empty'; fi\n"                               \
    "echo \"cwd: $(pwd)\"\n"                                                                                 \
    "echo 'to stderr' >&2\n"                                                                                 \
    "exit 3\n"

static void run_passes_argv_literally(void)
{
    char args[2048], sha[65], pwned[512], pwned2[512], cwd[512], want[8192], *text;
    size_t len;
    int64_t id;
    json_t *r;

    CHECK(start());
    setenv("YAMORI_TEST_SECRET", "leaked", 1);
    sha256_hex(ARGV_SCRIPT, strlen(ARGV_SCRIPT), sha);
    mock_library_put(mock, "argv.sh", ARGV_SCRIPT, strlen(ARGV_SCRIPT));
    snprintf(pwned, sizeof(pwned), "%s/pwned", dir);
    snprintf(pwned2, sizeof(pwned2), "%s/pwned2", dir);
    snprintf(cwd, sizeof(cwd), "%s/work", dir);
    CHECK(mkdir(cwd, 0755) == 0);
    snprintf(args, sizeof(args),
             "{\"script\": \"argv.sh\", \"sha256\": \"%s\", \"parameters\": [\"a; touch %s\", \"$(touch %s)\", "
             "\"`id`\", \"two words\", \"\"]}",
             sha, pwned, pwned2);
    id = send_live("run", cwd, args);
    r = result_of(id, 60000);
    unsetenv("YAMORI_TEST_SECRET");
    CHECK_MSG(r, "run never answered");
    CHECK_MSG(strcmp(status_of(r), "succeeded") == 0, "%s", error_of(r));
    CHECK_INT(json_integer_value(json_object_get(output_of(r), "exit_code")), ==, 3);
    CHECK(json_is_null(json_object_get(output_of(r), "signal")));
    text = mock_output_of(mock, id, &len, NULL);
    CHECK_MSG(text, "no output arrived");
    snprintf(want, sizeof(want),
             "[a; touch %s]\n[$(touch %s)]\n[`id`]\n[two words]\n[]\n"
             "env: PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 SECRET=unset\n"
             "vars: 3\nstdin: empty\ncwd: %s\nto stderr\n",
             pwned, pwned2, cwd);
    CHECK_MSG(strcmp(text, want) == 0, "output:\n%s\nwanted:\n%s", text, want);
    CHECK_INT(json_integer_value(json_object_get(output_of(r), "output_bytes")), ==, (long long)len);
    free(text);
    json_decref(r);
    CHECK_MSG(access(pwned, F_OK) != 0 && access(pwned2, F_OK) != 0, "a parameter reached a shell");
    /* the private copy is gone */
    {
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof(cmd), "ls -d '%s'/run.* >/dev/null 2>&1", dir);
        CHECK_MSG(system(cmd) != 0, "a run.* directory was left in the state directory");
    }
}

static void run_streams_large_output(void)
{
    static const char script[] = "#!/bin/sh\n"
                                 "i=0\n"
                                 "while [ $i -lt 30000 ]; do echo \"line $i of a long listing ....................\"; "
                                 "i=$((i+1)); done\n";
    char args[512], sha[65], line[96], *text, *want;
    size_t len, wlen = 0;
    unsigned chunks;
    int64_t id;
    json_t *r;

    CHECK(start());
    sha256_hex(script, strlen(script), sha);
    mock_library_put(mock, "long.sh", script, strlen(script));
    snprintf(args, sizeof(args), "{\"script\": \"long.sh\", \"sha256\": \"%s\"}", sha);
    id = send_live("run", "/", args);
    r = result_of(id, 120000);
    CHECK_MSG(r, "run never answered");
    CHECK_MSG(strcmp(status_of(r), "succeeded") == 0, "%s", error_of(r));
    CHECK_INT(json_integer_value(json_object_get(output_of(r), "exit_code")), ==, 0);
    json_decref(r);
    want = malloc(30000 * 64);
    CHECK(want);
    for (int i = 0; i < 30000; i++) {
        int n = snprintf(line, sizeof(line), "line %d of a long listing ....................\n", i);
        memcpy(want + wlen, line, (size_t)n);
        wlen += (size_t)n;
    }
    CHECK(wlen > COMMAND_OUTPUT_UNSENT);
    text = mock_output_of(mock, id, &len, &chunks);
    CHECK_MSG(text, "no output arrived");
    CHECK_INT(len, ==, wlen);
    CHECK(memcmp(text, want, wlen) == 0);
    CHECK_MSG(chunks >= wlen / COMMAND_OUTPUT_CHUNK, "%u chunks for %zu bytes", chunks, wlen);
    free(text);
    free(want);
}

static void run_refuses_wrong_hash(void)
{
    char script[PATH_MAX + 64], args[512], sha[65], marker[PATH_MAX];
    int64_t id;
    json_t *r;

    CHECK(start());
    snprintf(marker, sizeof(marker), "%s/ran", dir);
    snprintf(script, sizeof(script), "#!/bin/sh\ntouch '%s'\n", marker);
    mock_library_put(mock, "marker.sh", script, strlen(script));
    sha256_hex("something else", 14, sha);
    snprintf(args, sizeof(args), "{\"script\": \"marker.sh\", \"sha256\": \"%s\"}", sha);
    id = send_live("run", "/", args);
    r = result_of(id, 30000);
    CHECK(r);
    CHECK_STR(status_of(r), "failed");
    CHECK_MSG(strstr(error_of(r), "SHA-256"), "%s", error_of(r));
    json_decref(r);
    CHECK(access(marker, F_OK) != 0);
}

static void run_cancel_kills_the_group(void)
{
    static const char script[] = "#!/bin/sh\nsleep 1000 &\necho \"child $!\"\nwait\n";
    char args[512], sha[65], *text = NULL;
    size_t len = 0;
    int child = 0;
    int64_t id;
    json_t *r;

    CHECK(start());
    sha256_hex(script, strlen(script), sha);
    mock_library_put(mock, "hang.sh", script, strlen(script));
    snprintf(args, sizeof(args), "{\"script\": \"hang.sh\", \"sha256\": \"%s\"}", sha);
    id = send_live("run", "/", args);
    for (int i = 0; i < 1500 && !child; i++) {
        free(text);
        text = mock_output_of(mock, id, &len, NULL);
        if (text)
            sscanf(text, "child %d", &child);
        if (!child)
            usleep(20000);
    }
    free(text);
    CHECK_MSG(child > 0, "the script's output never arrived");
    CHECK(kill(child, 0) == 0);
    pthread_mutex_lock(&mock->lock);
    mock->cancel_id = id; /* a person cancels: the next answer says so */
    pthread_mutex_unlock(&mock->lock);
    r = result_of(id, 60000);
    CHECK_MSG(r, "the cancelled run never answered");
    CHECK_STR(status_of(r), "failed");
    CHECK_MSG(strstr(error_of(r), "cancelled"), "%s", error_of(r));
    json_decref(r);
    /* its background child went with the group (gone, or a zombie of its reaper) */
    for (int i = 0; i < 250; i++) {
        char path[64], stat[256] = "";
        FILE *f;
        snprintf(path, sizeof(path), "/proc/%d/stat", child);
        f = fopen(path, "r");
        if (!f)
            break;
        (void)!fgets(stat, sizeof(stat), f);
        fclose(f);
        if (strstr(stat, ") Z "))
            break;
        CHECK_MSG(i < 249, "the script's child %d still runs", child);
        usleep(20000);
    }
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"output_in_order_and_complete", output_in_order_and_complete},
        {"getfile_brings_the_file", getfile_brings_the_file},
        {"putfile_writes_safely", putfile_writes_safely},
        {"run_passes_argv_literally", run_passes_argv_literally},
        {"run_streams_large_output", run_streams_large_output},
        {"run_refuses_wrong_hash", run_refuses_wrong_hash},
        {"run_cancel_kills_the_group", run_cancel_kills_the_group},
        {NULL, NULL},
    };
    int r;

    check_set_teardown(teardown);
    r = check_main("live_transfer", cases, argc, argv);
    if (curl_ready)
        channel_global_cleanup();
    return r;
}
