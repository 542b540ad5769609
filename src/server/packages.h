/*
 * packages.h — the files agents upload for their running commands
 * (packages.c): a `collect` command's investigation package and a live
 * response `getfile` command's file, both through POST
 * /api/v1/agent/commands/<id>/file, streamed to disk (never held in
 * memory) and kept under <data_dir>/packages/<id>.tar.gz and
 * <data_dir>/files/<id>. Other modules (live response) find a command's
 * file here.
 */
#ifndef YAMORI_SERVER_PACKAGES_H
#define YAMORI_SERVER_PACKAGES_H

#include <stddef.h>
#include <stdint.h>

struct server;

/* The file uploaded for command_id, if any: its path (into path, pathlen
 * bytes), SHA-256 (64 lower-case hex digits and a NUL) and size, as
 * recorded when it was received. Returns 0, -ENOENT when the command has
 * no uploaded file, or -errno (-ENAMETOOLONG: pathlen too small). */
int packages_file_info(struct server *srv, int64_t command_id, char *path, size_t pathlen, char sha256_hex[65],
                       uint64_t *bytes);

#endif
