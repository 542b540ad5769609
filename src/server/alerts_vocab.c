/*
 * alerts_vocab.c — the names alerts and incidents use (REFERENCE.md,
 * "Incidents and alerts") and the pure rules built on them: incident
 * names, default verdicts, which entity values may group alerts. No I/O,
 * no clock: the store, the routes and the tests share it (alerts.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "server/alerts.h"

static const char *const severities[] = {NULL, "informational", "low", "medium", "high"};

static const char *const tactics[ALERTS_NTACTICS + 1] = {
    NULL,
    "Reconnaissance",
    "Resource development",
    "Initial access",
    "Execution",
    "Persistence",
    "Privilege escalation",
    "Defense evasion",
    "Credential access",
    "Discovery",
    "Lateral movement",
    "Collection",
    "Command and control",
    "Exfiltration",
    "Impact",
};

static const char *const alert_statuses[] = {"new", "in progress", "resolved", NULL};
static const char *const incident_statuses[] = {"active", "in progress", "resolved", "redirected", NULL};
static const char *const classifications[] = {"true positive", "informational, expected activity", "false positive",
                                              NULL};
static const char *const sources[] = {"EDR", "antivirus", "custom detection", "automated investigation",
                                      "indicators", NULL};
static const char *const types[] = {"process", "file", "persistence", "configuration", "user", "ip", "url",
                                    "ssh_key", NULL};
static const char *const roles[] = {"source", "created", "added", "edited", "attacked", "attacker",
                                    "command-and-control", "contextual", "scanned", "suspicious", NULL};
static const char *const verdicts[] = {"malicious", "suspicious", "clean", NULL};
static const char *const remediations[] = {"none", "pending approval", "remediated", "declined", "failed",
                                           "partially remediated", "not found", NULL};

/* Determinations, each with the classification it belongs to. */
static const struct {
    const char *name, *classification;
} determinations[] = {
    {"multistage attack", "true positive"},
    {"malicious user activity", "true positive"},
    {"compromised account", "true positive"},
    {"malware", "true positive"},
    {"phishing", "true positive"},
    {"unwanted software", "true positive"},
    {"security test", "informational, expected activity"},
    {"line-of-business application", "informational, expected activity"},
    {"confirmed activity", "informational, expected activity"},
    {"not malicious", "false positive"},
    {"not enough data", "false positive"},
    {"other", NULL},
};

/* Whether text names canonical: case ignored, commas ignored, '_', '-'
 * and ' ' alike. */
static bool same_word(const char *text, const char *canonical)
{
    const char *a = text, *b = canonical;

    if (!text)
        return false;
    for (;;) {
        while (*a == ',')
            a++;
        while (*b == ',')
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        char ca = (char)tolower((unsigned char)*a), cb = (char)tolower((unsigned char)*b);
        if (ca == '_' || ca == '-')
            ca = ' ';
        if (cb == '_' || cb == '-')
            cb = ' ';
        if (ca != cb)
            return false;
        a++;
        b++;
    }
}

static const char *find(const char *const *list, const char *text)
{
    for (size_t i = 0; list[i]; i++)
        if (same_word(text, list[i]))
            return list[i];
    return NULL;
}

int alerts_severity_rank(const char *name)
{
    for (int i = 1; i <= 4; i++)
        if (same_word(name, severities[i]))
            return i;
    return 0;
}

const char *alerts_severity_name(int rank)
{
    return rank >= 1 && rank <= 4 ? severities[rank] : NULL;
}

int alerts_tactic_rank(const char *name)
{
    for (int i = 1; i <= ALERTS_NTACTICS; i++)
        if (same_word(name, tactics[i]))
            return i;
    return 0;
}

const char *alerts_tactic_name(int rank)
{
    return rank >= 1 && rank <= ALERTS_NTACTICS ? tactics[rank] : NULL;
}

const char *alerts_alert_status(const char *text)
{
    return find(alert_statuses, text);
}

const char *alerts_incident_status(const char *text)
{
    return find(incident_statuses, text);
}

const char *alerts_classification(const char *text)
{
    return find(classifications, text);
}

const char *alerts_determination(const char *text, const char *classification)
{
    for (size_t i = 0; i < sizeof(determinations) / sizeof(determinations[0]); i++)
        if (same_word(text, determinations[i].name))
            return !classification || !determinations[i].classification ||
                           strcmp(classification, determinations[i].classification) == 0
                       ? determinations[i].name
                       : NULL;
    return NULL;
}

const char *alerts_determinations_for(const char *classification)
{
    if (classification && strcmp(classification, "true positive") == 0)
        return "multistage attack, malicious user activity, compromised account, malware, phishing, unwanted"
               " software, other";
    if (classification && strcmp(classification, "informational, expected activity") == 0)
        return "security test, line-of-business application, confirmed activity, other";
    if (classification && strcmp(classification, "false positive") == 0)
        return "not malicious, not enough data, other";
    return alerts_vocab_list("determination");
}

const char *alerts_detection_source(const char *text)
{
    return find(sources, text);
}

const char *alerts_evidence_type(const char *text)
{
    return find(types, text);
}

const char *alerts_evidence_role(const char *text)
{
    return find(roles, text);
}

const char *alerts_verdict(const char *text)
{
    return find(verdicts, text);
}

const char *alerts_remediation_status(const char *text)
{
    return find(remediations, text);
}

const char *alerts_vocab_list(const char *which)
{
    if (strcmp(which, "status") == 0)
        return "new, in progress, resolved";
    if (strcmp(which, "incident status") == 0)
        return "active, in progress, resolved";
    if (strcmp(which, "classification") == 0)
        return "true positive, informational expected activity, false positive";
    if (strcmp(which, "determination") == 0)
        return "with true positive: multistage attack, malicious user activity, compromised account, malware,"
               " phishing, unwanted software, other; with informational expected activity: security test,"
               " line-of-business application, confirmed activity, other; with false positive: not malicious,"
               " not enough data, other";
    if (strcmp(which, "severity") == 0)
        return "informational, low, medium, high";
    if (strcmp(which, "verdict") == 0)
        return "malicious, suspicious, clean";
    if (strcmp(which, "remediation status") == 0)
        return "none, pending approval, remediated, declined, failed, partially remediated, not found";
    return "";
}

const char *alerts_default_verdict(const char *role, int severity_rank)
{
    if (!role)
        return "suspicious";
    if (strcmp(role, "attacker") == 0 || strcmp(role, "command-and-control") == 0)
        return "malicious";
    if (strcmp(role, "contextual") == 0 || strcmp(role, "scanned") == 0)
        return "clean";
    if (strcmp(role, "attacked") == 0)
        return "suspicious";
    return severity_rank >= 4 ? "malicious" : "suspicious";
}

/* Addresses that every machine shares. */
static bool generic_ip(const char *value)
{
    unsigned char a[16];

    if (inet_pton(AF_INET, value, a) == 1)
        return a[0] == 127 || a[0] == 0 || (a[0] == 169 && a[1] == 254) ||
               (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255) || a[0] >= 224;
    if (inet_pton(AF_INET6, value, a) == 1) {
        static const unsigned char zero[16];
        bool unspecified = memcmp(a, zero, 16) == 0;
        bool loopback = memcmp(a, zero, 15) == 0 && a[15] == 1;
        bool v4mapped_loop = memcmp(a, zero, 10) == 0 && a[10] == 0xff && a[11] == 0xff && a[12] == 127;
        return unspecified || loopback || v4mapped_loop || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || a[0] == 0xff;
    }
    return false;
}

bool alerts_key_shareable(const char *kind, const char *value)
{
    if (!kind || !value || !*value)
        return false;
    if (strcmp(kind, "process") == 0 || strcmp(kind, "ssh_key") == 0 || strcmp(kind, "persistence") == 0)
        return true;
    if (strcmp(kind, "logon") == 0)
        return strcmp(value, "0") != 0 && strcmp(value, "4294967295") != 0 && strcmp(value, "-1") != 0;
    if (strcmp(kind, "file") == 0 || strcmp(kind, "configuration") == 0) {
        const char *slash;
        if (value[0] != '/')
            return strcmp(kind, "configuration") == 0; /* a configuration may be named otherwise */
        slash = strchr(value + 1, '/');
        /* "/", "/tmp", "/etc/" ... name directories everybody uses */
        return slash != NULL && slash[1] != '\0';
    }
    if (strcmp(kind, "ip") == 0)
        return !generic_ip(value);
    if (strcmp(kind, "sha256") == 0)
        return strlen(value) == 64 &&
               strcmp(value, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") != 0;
    return false;
}

void alerts_incident_name(const int *tactic_ranks, size_t ntactics, const char *first_title, size_t ndevices,
                          char *out, size_t outlen)
{
    char where[48];

    if (ndevices > 1)
        snprintf(where, sizeof(where), "on %zu endpoints", ndevices);
    else
        snprintf(where, sizeof(where), "on one endpoint");
    if (ntactics >= 2 && ntactics <= 3) {
        if (ntactics == 2)
            snprintf(out, outlen, "Multi-stage incident involving %s and %s %s", alerts_tactic_name(tactic_ranks[0]),
                     alerts_tactic_name(tactic_ranks[1]), where);
        else
            snprintf(out, outlen, "Multi-stage incident involving %s, %s and %s %s",
                     alerts_tactic_name(tactic_ranks[0]), alerts_tactic_name(tactic_ranks[1]),
                     alerts_tactic_name(tactic_ranks[2]), where);
        return;
    }
    if (ntactics > 3) {
        snprintf(out, outlen, "Multi-stage incident involving %s and %s %s", alerts_tactic_name(tactic_ranks[0]),
                 alerts_tactic_name(tactic_ranks[ntactics - 1]), where);
        return;
    }
    snprintf(out, outlen, "%s %s", first_title && *first_title ? first_title : "Alert", where);
}
