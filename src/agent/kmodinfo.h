/*
 * kmodinfo.h — kernel modules as files and as loaded: the lines of
 * /proc/modules, the taint flags of /sys/module/NAME/taint, where a
 * module's file is (the kernel's modules.dep) and who signed it (the
 * PKCS#7 signature the kernel's sign-file appends to a .ko).
 *
 * Used by the live command `drivers` and by the autostart list (the file
 * a /etc/modules line loads).
 */
#ifndef YAMORI_AGENT_KMODINFO_H
#define YAMORI_AGENT_KMODINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMODINFO_MAX 8192 /* modules listed at most */

struct kmodinfo_mod {
    char name[64];
    uint64_t size;      /* bytes of memory */
    int refcount;       /* -1 when the kernel printed '-' */
    char *used_by;      /* "nft_chain_nat,nf_tables" or "" */
    char state[16];     /* "Live", "Loading", "Unloading" */
    char taint[16];     /* the letters in parentheses ("OE"), or "" */
};

/* Parses text in the format of /proc/modules into *out (*n entries, at
 * most KMODINFO_MAX; kmodinfo_free). Malformed lines are skipped.
 * Returns 0 or -ENOMEM. */
int kmodinfo_parse(const char *text, struct kmodinfo_mod **out, size_t *n);
void kmodinfo_free(struct kmodinfo_mod *v, size_t n);

/* The taint letters of a loaded module from /sys/module/NAME/taint (root
 * prefix, "" for the machine) into out; "" when none or unreadable. */
void kmodinfo_sys_taint(const char *root, const char *name, char *out, size_t outlen);

/* The names of a module's file and its loaded form compare equal with
 * '-' and '_' taken as the same. */
bool kmodinfo_same_name(const char *a, const char *b);

/* The index of modules.dep of a kernel release. */
struct kmodinfo_dep;

/* Reads root/lib/modules/RELEASE/modules.dep (release NULL: the running
 * kernel's). Returns 0, -ENOENT when the kernel has none, or -errno. */
int kmodinfo_dep_load(const char *root, const char *release, struct kmodinfo_dep **out);
void kmodinfo_dep_free(struct kmodinfo_dep *d);

/* The absolute path (as on the machine) of module name's file, or NULL. */
const char *kmodinfo_dep_path(const struct kmodinfo_dep *d, const char *name);

/* The signer of the module file at path (the issuer's common name of the
 * appended PKCS#7 signature, as modinfo prints "signer") into out.
 * Returns 0, -ENODATA when the file carries no signature, -ENOTSUP for a
 * compressed module other than .ko.zst, or -errno. */
int kmodinfo_signer(const char *path, char *out, size_t outlen);

#endif
