/*
 * ingestgen.h — event batches as agents send them (docs/wire.md), for the
 * ingest tests and bench/ingest.
 *
 * A generator plays one machine: a boot, a set of long-running processes
 * (systemd, sshd, cron, shells, services) and the commands they start, so
 * that events look like a real machine's: mostly process events with real
 * paths and command lines, then file, network, logon and device events,
 * each with its initiating process block; unique ids, pids and times that
 * hang together. The encoder turns records into a batch body: "YMB1", the
 * header length, the JSON header, the records, all in one zstd frame.
 */
#ifndef YAMORI_TESTS_INGESTGEN_H
#define YAMORI_TESTS_INGESTGEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/tlv.h"

struct ingestgen;

/* A machine named hostname, random from seed. NULL when out of memory. */
struct ingestgen *ingestgen_new(uint64_t seed, const char *hostname);
void ingestgen_free(struct ingestgen *g);

/* Appends one event to out as the wire carries it (varint length, then
 * the record) with Seq seq and Timestamp ts_ns. Returns its table
 * (SCHEMA_T_*). */
unsigned ingestgen_event(struct ingestgen *g, struct tlv_buf *out, uint64_t seq, uint64_t ts_ns);

/* The header of docs/wire.md (malloc'd text); lost_json is an object's
 * text or NULL for {}. */
char *ingestgen_header(const char *device_id, uint64_t first_seq, uint64_t last_seq, uint64_t count,
                       const char *lost_json);

struct ingestgen_encoder;
struct ingestgen_encoder *ingestgen_encoder_new(int zstd_level);
void ingestgen_encoder_free(struct ingestgen_encoder *e);

/* The batch body for header and records (length-prefixed, as
 * ingestgen_event writes them), compressed. The result belongs to e and
 * is valid until its next call; NULL on failure. */
const uint8_t *ingestgen_encode(struct ingestgen_encoder *e, const char *header, size_t header_len,
                                const void *records, size_t records_len, size_t *len);

/* Compresses any bytes as one zstd frame (for hostile bodies): malloc'd. */
uint8_t *ingestgen_zstd(const void *data, size_t len, int level, size_t *out_len);

#endif
