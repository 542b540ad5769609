/*
 * runtime_payload.c — the scenario's payload (SCENARIO.md: "/usr/lib/runtime"),
 * harmless but behaving like the real one: it keeps running and talks to a
 * remote address, beaconing a line every two seconds and reconnecting when
 * the connection drops. It does nothing else. Only ever run inside the
 * scenario sandbox, whose network namespace holds the listener.
 *
 *   runtime [ADDRESS [PORT]]     (default 203.0.113.10 4444)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *addr = argc > 1 ? argv[1] : "203.0.113.10";
    int port = argc > 2 ? atoi(argv[2]) : 4444;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    char host[128] = "unknown";

    signal(SIGPIPE, SIG_IGN);
    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
        fprintf(stderr, "runtime: bad address %s\n", addr);
        return 2;
    }
    gethostname(host, sizeof(host) - 1);
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
            for (;;) {
                char line[256];
                int n = snprintf(line, sizeof(line), "beacon %s %ld\n", host, (long)time(NULL));
                if (write(fd, line, (size_t)n) != n)
                    break;
                sleep(2);
            }
        }
        if (fd >= 0)
            close(fd);
        sleep(2);
    }
}
