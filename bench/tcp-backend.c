/*
 * bench:tcp backend: a minimal epoll server so the load core spends its time on the load, not on
 * the sink. Usage: tcp-backend PORT [ADDR]. Per connection: discards everything it reads, answers
 * one byte ("y") to the first read, and shuts down its side when the peer does.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[1 << 18];
static unsigned char answered[1 << 20];

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int port = atoi(argv[1]);
  const char *addr = argc > 2 ? argv[2] : "::";
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
  struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};
  int v6 = strchr(addr, ':') != NULL;
  int ls = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1, zero = 0;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) {
    setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    inet_pton(AF_INET6, addr, &a6.sin6_addr);
  } else {
    inet_pton(AF_INET, addr, &a4.sin_addr);
  }
  if (bind(ls, v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4, v6 ? sizeof a6 : sizeof a4) != 0 ||
      listen(ls, 4096) != 0) {
    perror("bind/listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[256];
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (c >= (int)sizeof answered) { close(c); continue; }
          answered[c] = 0;
          struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
          if (!answered[fd]) {
            answered[fd] = 1;
            if (write(fd, "y", 1) < 0) {}
          }
          if (r < (ssize_t)sizeof buf) break;
          continue;
        }
        if (r == 0 || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
          close(fd); /* closing removes it from the epoll set */
        }
        break;
      }
    }
  }
}
