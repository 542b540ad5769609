/*
 * cmd_story.c — `yamori device story`: the process tree around one
 * process of a device, as the server tells it (GET
 * /api/v1/devices/{id}/story), drawn by story_print.c.
 *
 *   yamori device story NAME_OR_ID --process UID [--time RFC3339|NS] [--json]
 *
 * `yamori device` (cmd_devices.c) hands the verb "story" here.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/cmd_story.h"
#include "cli/story_print.h"

#define USAGE "yamori device story NAME_OR_ID --process UID [--time RFC3339|NS] [--json]"

static int usage(void)
{
    fprintf(stderr, "usage: %s\n", USAGE);
    return 2;
}

int cli_device_story(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"process", required_argument, NULL, 'p'},
        {"time", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *process = NULL, *moment = NULL, *name;
    char path[3072], esc[1024], err[600];
    struct cli_config cfg;
    struct cli_response r;
    bool as_json = false;
    int c, rc;

    /* argv[0] is "story", argv[1] the device; the options may follow in any order */
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("usage: %s\n", USAGE);
        return 0;
    }
    name = argv[1];
    optind = 0; /* argv[0] of the parse is the device name; 0 restarts GNU getopt */
    while ((c = getopt_long(argc - 1, argv + 1, "p:t:jh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': process = optarg; break;
        case 't': moment = optarg; break;
        case 'j': as_json = true; break;
        case 'h': printf("usage: %s\n", USAGE); return 0;
        default: return usage();
        }
    }
    if (optind != argc - 1 || !process || !*process || name[0] == '-')
        return usage();
    if (cli_config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori device: %s\n", err);
        return 1;
    }
    cli_url_escape(name, esc, sizeof(esc));
    snprintf(path, sizeof(path), "/api/v1/devices/%s/story?process=", esc);
    cli_url_escape(process, esc, sizeof(esc));
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s", esc);
    if (moment) {
        cli_url_escape(moment, esc, sizeof(esc));
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "&time=%s", esc);
    }
    if (cli_request(&cfg, "GET", path, NULL, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori: cannot read the story: %s\n", err);
        return 1;
    }
    if (r.status != 200 || !r.json) {
        rc = cli_fail(&r, "cannot read the story");
        cli_response_free(&r);
        return rc;
    }
    if (as_json) {
        printf("%s\n", r.body);
        rc = 0;
    } else {
        rc = story_print(stdout, r.json, NULL) == 0 ? 0 : 1;
        if (rc)
            fprintf(stderr, "yamori: the server's answer is not a story\n");
    }
    cli_response_free(&r);
    return rc;
}
