/*
 * c2_listener.c — the scenario's "remote address": accepts connections on
 * ADDRESS:PORT inside the scenario's network namespace and appends every
 * line it receives to FILE, so a test can see the payload talked.
 *
 *   c2_listener ADDRESS PORT FILE
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct pollfd pfd[64];
    int one = 1, nfd = 1, lfd;
    FILE *out;

    if (argc != 4 || inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
        fprintf(stderr, "usage: c2_listener ADDRESS PORT FILE\n");
        return 2;
    }
    sin.sin_port = htons((unsigned short)atoi(argv[2]));
    out = fopen(argv[3], "a");
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (!out || lfd < 0) {
        perror("c2_listener");
        return 1;
    }
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(lfd, 16) != 0) {
        perror("c2_listener: bind");
        return 1;
    }
    setvbuf(out, NULL, _IOLBF, 0);
    pfd[0].fd = lfd;
    pfd[0].events = POLLIN;
    for (;;) {
        if (poll(pfd, (nfds_t)nfd, -1) < 0)
            continue;
        if ((pfd[0].revents & POLLIN) && nfd < 64) {
            int c = accept(lfd, NULL, NULL);
            if (c >= 0) {
                pfd[nfd].fd = c;
                pfd[nfd].events = POLLIN;
                nfd++;
            }
        }
        for (int i = 1; i < nfd; i++) {
            char buf[512];
            ssize_t n;
            if (!(pfd[i].revents & (POLLIN | POLLHUP)))
                continue;
            n = read(pfd[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                close(pfd[i].fd);
                pfd[i] = pfd[--nfd];
                i--;
                continue;
            }
            fwrite(buf, 1, (size_t)n, out);
        }
    }
}
