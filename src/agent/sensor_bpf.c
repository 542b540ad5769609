/*
 * sensor_bpf.c — the eBPF sensor back end.
 *
 * Loads the four BPF objects (process, file, network, security), makes them
 * share one ring buffer, one set of loss counters, one scratch area and one
 * path-class trie, fills the trie from pathclass_table, attaches every
 * program whose hook exists on this kernel, and hands records from the ring
 * buffer to the pipeline.
 *
 * Hooks: tp_btf scheduler tracepoints and sock:inet_sock_set_state (need
 * BTF, nothing else), and syscalls:* tracepoints (need tracefs, mounted here
 * at /sys/kernel/tracing when missing). No kprobes and no BPF trampolines,
 * so the sensor also works on kernels that refuse those (lockdown).
 *
 * Consumption: the programs commit records without waking the consumer until
 * the ring holds `wakeup_bytes`; poll() waits for that wake-up or the timeout
 * and then drains whatever is there, so records wait at most one poll
 * timeout and an exec storm costs one wake-up per batch.
 */
#include "agent/sensor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/pathclass.h"
#include "common/log.h"
#include "file.skel.h"
#include "network.skel.h"
#include "process.skel.h"
#include "security.skel.h"

#define TRACEFS "/sys/kernel/tracing"

struct sensor_bpf {
    struct sensor base;
    struct process_bpf *process;
    struct file_bpf *file;
    struct network_bpf *network;
    struct security_bpf *security;
    struct ring_buffer *rb;
    struct bpf_link *links[160];
    int nlinks;
    int counters_fd;
    int ncpus;
    char limits[2048];
    size_t limits_len;
    int nlimits;
    uint64_t bad_records;
};

static void add_limit(struct sensor_bpf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_limit(struct sensor_bpf *sb, const char *fmt, ...)
{
    va_list ap;
    size_t room = sizeof(sb->limits) - sb->limits_len;
    int n;

    if (room < 2)
        return;
    va_start(ap, fmt);
    n = vsnprintf(sb->limits + sb->limits_len, room - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= room - 1)
        n = (int)room - 2;
    sb->limits_len += (size_t)n;
    sb->limits[sb->limits_len++] = '\n';
    sb->limits[sb->limits_len] = '\0';
    sb->nlimits++;
}

/* libbpf's chatter goes to our log at debug level, warnings stay visible. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char line[1024];
    size_t n;

    if (level == LIBBPF_DEBUG)
        return 0;
    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    log_debug("libbpf: %s", line);
    return 0;
}

/* Mounts tracefs where the syscall tracepoints live, if nobody did. */
static int ensure_tracefs(char *err, size_t errlen)
{
    if (access(TRACEFS "/events/syscalls", F_OK) == 0)
        return 0;
    if (access("/sys/kernel/debug/tracing/events/syscalls", F_OK) == 0)
        return 0;
    if (mount("tracefs", TRACEFS, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot mount tracefs at %s: %s", TRACEFS, strerror(e));
        return -e;
    }
    log_info("mounted tracefs at %s for the syscall tracepoints", TRACEFS);
    return 0;
}

static bool tracepoint_exists(const char *category, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), TRACEFS "/events/%s/%s", category, name);
    if (access(path, F_OK) == 0)
        return true;
    snprintf(path, sizeof(path), "/sys/kernel/debug/tracing/events/%s/%s", category, name);
    return access(path, F_OK) == 0;
}

/* Leaves out programs whose tracepoint this kernel does not have. */
static void drop_missing_hooks(struct sensor_bpf *sb, struct bpf_object *obj)
{
    struct bpf_program *prog;
    bool modules_missing = false;

    bpf_object__for_each_program(prog, obj) {
        const char *sec = bpf_program__section_name(prog);
        const char *prefix = "tracepoint/";
        char category[64], name[128];
        const char *slash;

        if (strncmp(sec, prefix, strlen(prefix)) != 0)
            continue;
        sec += strlen(prefix);
        slash = strchr(sec, '/');
        if (!slash || (size_t)(slash - sec) >= sizeof(category))
            continue;
        memcpy(category, sec, (size_t)(slash - sec));
        category[slash - sec] = '\0';
        snprintf(name, sizeof(name), "%s", slash + 1);
        if (tracepoint_exists(category, name))
            continue;
        bpf_program__set_autoload(prog, false);
        if (strstr(name, "init_module"))
            modules_missing = true;
        else
            log_debug("sensor: no tracepoint %s/%s on this kernel", category, name);
    }
    if (modules_missing)
        add_limit(sb, "kernel module loads: this kernel has no module support (no init_module system calls)");
}

/* Gives every object but the first the maps the first one created. */
static int share_maps(struct bpf_object *first, struct bpf_object *obj, char *err, size_t errlen)
{
    static const char *const shared[] = {"events", "counters", "path_classes", "scratch"};

    for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
        struct bpf_map *src = bpf_object__find_map_by_name(first, shared[i]);
        struct bpf_map *dst = bpf_object__find_map_by_name(obj, shared[i]);
        int e;
        if (!src || !dst)
            continue;
        e = bpf_map__reuse_fd(dst, bpf_map__fd(src));
        if (e) {
            snprintf(err, errlen, "cannot share map %s: %s", shared[i], strerror(-e));
            return e;
        }
    }
    return 0;
}

static int fill_path_classes(int fd, char *err, size_t errlen)
{
    for (const struct pathclass_entry *e = pathclass_table; e->prefix; e++) {
        struct ys_lpm_key key;
        size_t n = strlen(e->prefix);
        uint32_t bits = e->bits;

        if (n >= YS_LPM_DATA_MAX)
            continue;
        memset(&key, 0, sizeof(key));
        key.prefixlen = (uint32_t)(n * 8);
        memcpy(key.data, e->prefix, n);
        if (bpf_map_update_elem(fd, &key, &bits, BPF_ANY) != 0) {
            int e2 = errno;
            snprintf(err, errlen, "cannot fill the path-class trie: %s", strerror(e2));
            return -e2;
        }
    }
    return 0;
}

/* Attaches each loaded program on its own, so that one hook refusing does
 * not take the others down. */
static int attach_all(struct sensor_bpf *sb, struct bpf_object *obj, const char *family)
{
    struct bpf_program *prog;
    int attached = 0;

    bpf_object__for_each_program(prog, obj) {
        struct bpf_link *link;
        if (!bpf_program__autoload(prog))
            continue;
        link = bpf_program__attach(prog);
        if (!link) {
            add_limit(sb, "%s: cannot attach %s (%s): %s", family, bpf_program__name(prog),
                      bpf_program__section_name(prog), strerror(errno));
            continue;
        }
        attached++;
        if (sb->nlinks < (int)(sizeof(sb->links) / sizeof(sb->links[0])))
            sb->links[sb->nlinks++] = link;
        else
            bpf_link__destroy(link); /* cannot happen: there are fewer programs */
    }
    return attached;
}

static int on_ring_record(void *ctx, void *data, size_t size)
{
    struct sensor_bpf *sb = ctx;
    const struct ys_hdr *h = data;

    if (size < sizeof(*h) || h->version != YS_ABI_VERSION || h->size > size || h->size < sizeof(*h) ||
        h->type == 0 || h->type >= YS_TYPE_MAX) {
        sb->bad_records++;
        return 0;
    }
    sb->base.emit(sb->base.emit_ctx, data, h->size);
    return 0;
}

static int bpf_fd(struct sensor *s)
{
    struct sensor_bpf *sb = (struct sensor_bpf *)s;
    return ring_buffer__epoll_fd(sb->rb);
}

static int bpf_poll(struct sensor *s, int timeout_ms)
{
    struct sensor_bpf *sb = (struct sensor_bpf *)s;
    int n = ring_buffer__poll(sb->rb, timeout_ms);
    int m;

    if (n < 0 && n != -EINTR)
        return n;
    /* records committed without a wake-up are there too */
    m = ring_buffer__consume(sb->rb);
    if (m < 0)
        return m;
    return (n > 0 ? n : 0) + m;
}

static void bpf_stats(struct sensor *s, struct sensor_stats *out)
{
    struct sensor_bpf *sb = (struct sensor_bpf *)s;
    struct ys_counters *per_cpu;
    uint32_t zero = 0;

    memset(out, 0, sizeof(*out));
    per_cpu = calloc((size_t)sb->ncpus, sizeof(*per_cpu));
    if (!per_cpu)
        return;
    if (bpf_map_lookup_elem(sb->counters_fd, &zero, per_cpu) == 0) {
        for (int c = 0; c < sb->ncpus; c++) {
            for (int t = 0; t < YS_TYPE_MAX; t++) {
                out->emitted[t] += per_cpu[c].emitted[t];
                out->dropped[t] += per_cpu[c].dropped[t];
                out->filtered[t] += per_cpu[c].filtered[t];
                out->errors[t] += per_cpu[c].errors[t];
            }
        }
    }
    out->errors[0] += sb->bad_records;
    free(per_cpu);
}

static int bpf_limitations(struct sensor *s, char *out, size_t outlen)
{
    struct sensor_bpf *sb = (struct sensor_bpf *)s;
    snprintf(out, outlen, "%s", sb->limits);
    return sb->nlimits;
}

static void bpf_free(struct sensor *s)
{
    struct sensor_bpf *sb = (struct sensor_bpf *)s;

    if (!sb)
        return;
    ring_buffer__free(sb->rb);
    for (int i = 0; i < sb->nlinks; i++)
        bpf_link__destroy(sb->links[i]);
    security_bpf__destroy(sb->security);
    network_bpf__destroy(sb->network);
    file_bpf__destroy(sb->file);
    process_bpf__destroy(sb->process);
    free(sb);
}

static const struct sensor_ops bpf_ops = {
    .name = "ebpf",
    .fd = bpf_fd,
    .poll = bpf_poll,
    .stats = bpf_stats,
    .limitations = bpf_limitations,
    .free = bpf_free,
};

/* Sets the tunables every object shares. */
#define SET_RODATA(skel, opt)                                                  \
    do {                                                                       \
        (skel)->rodata->self_tgid = (opt)->self_tgid;                          \
        (skel)->rodata->wakeup_bytes = wakeup;                                 \
    } while (0)

int sensor_bpf_open(struct sensor **out, const struct sensor_options *opt, sensor_record_fn emit,
                    void *emit_ctx, char *err, size_t errlen)
{
    struct sensor_bpf *sb;
    struct bpf_object *first;
    uint64_t wakeup;
    int e;

    *out = NULL;
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
        snprintf(err, errlen, "this kernel has no BTF (/sys/kernel/btf/vmlinux); eBPF sensor unavailable");
        return -ENOTSUP;
    }
    if (opt->ring_bytes < 4096 || (opt->ring_bytes & (opt->ring_bytes - 1))) {
        snprintf(err, errlen, "ring buffer size %zu is not a power of two of at least 4096", opt->ring_bytes);
        return -EINVAL;
    }
    sb = calloc(1, sizeof(*sb));
    if (!sb) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    sb->base.ops = &bpf_ops;
    sb->base.emit = emit;
    sb->base.emit_ctx = emit_ctx;
    libbpf_set_print(libbpf_print);
    sb->ncpus = libbpf_num_possible_cpus();
    if (sb->ncpus <= 0) {
        e = sb->ncpus ? sb->ncpus : -EINVAL;
        snprintf(err, errlen, "cannot count CPUs");
        goto fail;
    }
    wakeup = opt->wakeup_bytes;
    if (wakeup == 0 || wakeup > opt->ring_bytes / 4)
        wakeup = opt->ring_bytes / 4;

    if (opt->enable_file || opt->enable_network || opt->enable_security) {
        e = ensure_tracefs(err, errlen);
        if (e)
            goto fail;
    }

    /* process: creates the shared maps */
    sb->process = process_bpf__open();
    if (!sb->process) {
        e = -errno;
        snprintf(err, errlen, "cannot open the process BPF object: %s", strerror(errno));
        goto fail;
    }
    SET_RODATA(sb->process, opt);
    bpf_map__set_max_entries(sb->process->maps.events, (uint32_t)opt->ring_bytes);
    bpf_map__set_max_entries(sb->process->maps.scratch, (uint32_t)sb->ncpus);
    e = process_bpf__load(sb->process);
    if (e) {
        snprintf(err, errlen, "cannot load the process BPF programs: %s", strerror(-e));
        goto fail;
    }
    first = sb->process->obj;
    e = fill_path_classes(bpf_map__fd(sb->process->maps.path_classes), err, errlen);
    if (e)
        goto fail;
    sb->counters_fd = bpf_map__fd(sb->process->maps.counters);

#define OPEN_FAMILY(field, kind, enabled, label)                                            \
    do {                                                                                     \
        if (!(enabled))                                                                      \
            break;                                                                           \
        sb->field = kind##_bpf__open();                                                      \
        if (!sb->field) {                                                                    \
            add_limit(sb, "%s events: cannot open the BPF object: %s", label, strerror(errno)); \
            break;                                                                           \
        }                                                                                    \
        SET_RODATA(sb->field, opt);                                                          \
        drop_missing_hooks(sb, sb->field->obj);                                              \
        e = share_maps(first, sb->field->obj, err, errlen);                                  \
        if (!e)                                                                              \
            e = kind##_bpf__load(sb->field);                                                 \
        if (e) {                                                                             \
            add_limit(sb, "%s events: cannot load the BPF programs: %s", label, strerror(-e)); \
            kind##_bpf__destroy(sb->field);                                                  \
            sb->field = NULL;                                                                \
            e = 0;                                                                           \
        }                                                                                    \
    } while (0)

    OPEN_FAMILY(file, file, opt->enable_file, "file");
    OPEN_FAMILY(network, network, opt->enable_network, "network");
    OPEN_FAMILY(security, security, opt->enable_security, "security");
#undef OPEN_FAMILY
    if (!opt->enable_file)
        add_limit(sb, "file events: disabled by configuration");
    if (!opt->enable_network)
        add_limit(sb, "network events: disabled by configuration");
    if (!opt->enable_security)
        add_limit(sb, "module, ptrace, credential, memfd and bpf events: disabled by configuration");

    sb->rb = ring_buffer__new(bpf_map__fd(sb->process->maps.events), on_ring_record, sb, NULL);
    if (!sb->rb) {
        e = -errno;
        snprintf(err, errlen, "cannot map the ring buffer: %s", strerror(errno));
        goto fail;
    }

    if (attach_all(sb, sb->process->obj, "process") < 3) {
        e = -EPERM;
        snprintf(err, errlen, "cannot attach the process programs (exec, fork, exit)");
        goto fail;
    }
    if (sb->file)
        attach_all(sb, sb->file->obj, "file");
    if (sb->network)
        attach_all(sb, sb->network->obj, "network");
    if (sb->security)
        attach_all(sb, sb->security->obj, "security");

    *out = &sb->base;
    return 0;

fail:
    bpf_free(&sb->base);
    return e ? e : -EINVAL;
}
