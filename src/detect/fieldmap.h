/*
 * fieldmap.h — how Sigma log sources and Sysmon-for-Linux field names map
 * onto Yamori's event schema (docs/events.md).
 *
 * Yamori events are sorted into classes by ActionType (and, for logons,
 * by Protocol). Each class says which Sigma log sources select it
 * (process_creation selects ProcessCreated events, ...) and how the field
 * names SigmaHQ's Linux rules use read Yamori's fields in it: an alias
 * (Image reads FolderPath in a process event, InitiatingProcessFolderPath
 * in a file or network event) or a value derived from the event
 * (Initiated is "true" for an outbound connection, Hashes is
 * "SHA256=<hash>"). Yamori's own field names always work as written.
 *
 * The tables are documented, with reasons, in docs/rules.md; keep the two
 * in step.
 */
#ifndef YAMORI_DETECT_FIELDMAP_H
#define YAMORI_DETECT_FIELDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fieldmap_alias {
    const char *sigma;         /* the name rules use */
    const char *yamori;        /* the Yamori field it reads */
};

enum fieldmap_derive { FIELDMAP_CONST, FIELDMAP_PREFIX_UPPER, FIELDMAP_IS_IPV6 };

struct fieldmap_derived {
    const char *sigma;
    enum fieldmap_derive kind;
    const char *src;           /* field read (PREFIX_UPPER, IS_IPV6) */
    const char *text;          /* CONST: the value; PREFIX_UPPER: the prefix */
};

struct fieldmap_class {
    const char *name;
    const char *event_type;            /* EventType of its events */
    const char *const *action_types;   /* NULL-terminated */
    const char *protocol;              /* logon classes: Protocol, NULL: any other */
    const char *const *categories;     /* Sigma categories that select it */
    const char *const *services;       /* Sigma services that select it */
    const struct fieldmap_alias *aliases;     /* {NULL, NULL}-terminated */
    const struct fieldmap_derived *derived;   /* {NULL}-terminated */
};

extern const struct fieldmap_class fieldmap_classes[];
extern const size_t fieldmap_nclasses;

/* Index of the class for events whose ActionType is unknown, by EventType
 * (NULL or unknown EventType: the "other" class). */
size_t fieldmap_fallback(const char *event_type, size_t len);

/* True when a rule with this log source (each part NULL when absent, lower
 * case) is evaluated on events of class c. */
bool fieldmap_selects(const struct fieldmap_class *c, const char *product,
                      const char *category, const char *service);

/* The fields of Yamori events that hold free text (command lines, paths,
 * names, log lines): where keywords (search identifiers without field
 * names) are searched. NULL-terminated. */
extern const char *const fieldmap_text_fields[];

/* True when `name` is a field of Yamori's event schema that events carry
 * (reserved columns excluded). */
bool fieldmap_schema_field(const char *name);

/* True when `name` is a schema column no sensor fills yet. */
bool fieldmap_reserved_field(const char *name);

/* True when `name` is an alias or derived field of class c. */
bool fieldmap_class_field(const struct fieldmap_class *c, const char *name);

#endif
