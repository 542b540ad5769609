/*
 * cmd_story.h — `yamori device story`, run by `yamori device` (its verbs
 * live in cmd_devices.c; this one in cmd_story.c).
 */
#ifndef YAMORI_CLI_CMD_STORY_H
#define YAMORI_CLI_CMD_STORY_H

/* argv[0] is "story", argv[1] the device name or id, then the options.
 * Returns the exit status (0, 1 on an error, 2 on misuse). */
int cli_device_story(int argc, char **argv);

#endif
