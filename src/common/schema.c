/*
 * schema.c — lookups over the field table of schema.h.
 */
#include "common/schema.h"

#include <string.h>

const struct schema_field_info schema_fields[] = {
#define SCHEMA_ROW(e, id, name, type, tables) {id, type, tables, name},
    SCHEMA_FIELDS(SCHEMA_ROW)
#undef SCHEMA_ROW
    {0, 0, 0, NULL},
};

static const struct schema_field_info *by_id[F_MAX_ID];
static int indexed;

static void build_index(void)
{
    for (const struct schema_field_info *f = schema_fields; f->id; f++)
        if (f->id < F_MAX_ID)
            by_id[f->id] = f;
    indexed = 1;
}

const struct schema_field_info *schema_field(unsigned id)
{
    if (!indexed)
        build_index();
    return id < F_MAX_ID ? by_id[id] : NULL;
}

const struct schema_field_info *schema_field_by_name(const char *name, size_t len)
{
    for (const struct schema_field_info *f = schema_fields; f->id; f++)
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0)
            return f;
    return NULL;
}

static const struct {
    unsigned bit;
    const char *event_type;
    const char *table;
} tables[] = {
    {SCHEMA_T_PROCESS, "process", "DeviceProcessEvents"},
    {SCHEMA_T_FILE, "file", "DeviceFileEvents"},
    {SCHEMA_T_NETWORK, "network", "DeviceNetworkEvents"},
    {SCHEMA_T_LOGON, "logon", "DeviceLogonEvents"},
    {SCHEMA_T_DEVICE, "device", "DeviceEvents"},
};

unsigned schema_table_of_event_type(const char *event_type, size_t len)
{
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (strlen(tables[i].event_type) == len && memcmp(tables[i].event_type, event_type, len) == 0)
            return tables[i].bit;
    return 0;
}

const char *schema_table_name(unsigned table_bit)
{
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (tables[i].bit == table_bit)
            return tables[i].table;
    return NULL;
}

const char *schema_event_type_name(unsigned table_bit)
{
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (tables[i].bit == table_bit)
            return tables[i].event_type;
    return NULL;
}
