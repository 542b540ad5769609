/*
 * fallback_child.c — a process with a known shape for tests/sensor/
 * test_fallback.c: known argv, exit code, and thread layout, held until the
 * test releases it so that the test decides when it runs and ends.
 *
 *   fallback_child wait CODE      wait for a byte on stdin, exit CODE
 *   fallback_child exit CODE      exit CODE at once
 *   fallback_child threads N CODE start N threads, write 'r' to stdout, wait
 *                                 for a byte on stdin, exit CODE from the
 *                                 main thread while the threads still run
 *   fallback_child leader N CODE  start N threads, write 'r' to stdout; the
 *                                 main thread ends (pthread_exit) and one of
 *                                 the threads waits for a byte on stdin and
 *                                 exits the process with CODE
 *   fallback_child setuid ID CODE setgid(ID) and setuid(ID), write 'r' to
 *                                 stdout, wait for a byte on stdin, exit CODE
 *
 * Built without the project's libraries (tests/helpers/ rule).
 */
#include <pthread.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int code;

static void wait_byte(void)
{
    char c;
    if (read(0, &c, 1) < 0)
        _exit(120);
}

static void *idle_thread(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static void *exiting_thread(void *arg)
{
    (void)arg;
    wait_byte();
    exit(code);
}

static int start_threads(int n, void *(*last)(void *))
{
    pthread_t t;

    for (int i = 0; i < n; i++)
        if (pthread_create(&t, NULL, i == n - 1 && last ? last : idle_thread, NULL) != 0)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "wait") == 0) {
        code = atoi(argv[2]);
        wait_byte();
        return code;
    }
    if (argc == 3 && strcmp(argv[1], "exit") == 0)
        return atoi(argv[2]);
    if (argc == 4 && strcmp(argv[1], "threads") == 0) {
        code = atoi(argv[3]);
        if (start_threads(atoi(argv[2]), NULL) != 0)
            return 121;
        if (write(1, "r", 1) != 1)
            return 122;
        wait_byte();
        exit(code);
    }
    if (argc == 4 && strcmp(argv[1], "leader") == 0) {
        code = atoi(argv[3]);
        if (start_threads(atoi(argv[2]), exiting_thread) != 0)
            return 121;
        if (write(1, "r", 1) != 1)
            return 122;
        pthread_exit(NULL);
    }
    if (argc == 4 && strcmp(argv[1], "setuid") == 0) {
        int id = atoi(argv[2]);
        code = atoi(argv[3]);
        if (setgroups(0, NULL) != 0 || setgid((gid_t)id) != 0 || setuid((uid_t)id) != 0)
            return 123;
        if (write(1, "r", 1) != 1)
            return 122;
        wait_byte();
        return code;
    }
    fprintf(stderr, "usage: fallback_child wait|exit CODE | threads|leader|setuid N CODE\n");
    return 2;
}
