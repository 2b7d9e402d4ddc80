/*
 * realip transparent helper: the one thing Node cannot do, in C.
 *
 * connectFrom(family, srcAddr, srcPort, dstAddr, dstPort, timeoutMs, transparent) -> Promise<{fd, fallback}>
 *
 * Creates a TCP socket, sets IP_TRANSPARENT (IPV6_TRANSPARENT for v6) and SO_REUSEADDR, binds it to
 * the client's own address and port, connects to the app, and resolves with the connected,
 * non-blocking fd, which TypeScript wraps with `new net.Socket({ fd })`. The blocking part (connect
 * plus poll under the timeout) runs on a libuv worker thread (napi_async_work), never on the event loop.
 *
 * IP_TRANSPARENT lets a socket bind to an address that is not local (ip(7)); it needs CAP_NET_ADMIN
 * or CAP_NET_RAW. The app's replies to that address come back to us through the policy routing
 * that `realip init` installs (a "local" route in a dedicated table for traffic from loopback).
 *
 * If the client's port cannot be used (EADDRINUSE at bind, EADDRNOTAVAIL at connect: our previous
 * connection from the same address and port to the app still exists, e.g. in TIME_WAIT), the socket
 * is re-created on port 0 with the client's address and `fallback` is true: the app then sees the
 * right address with another port.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "errno_code.h"

/* splice.c: the relay that joins the sockets after the header. */
void splice_register(napi_env env, napi_value exports);

#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

typedef struct {
  int family; /* AF_INET or AF_INET6 */
  struct sockaddr_storage src, dst;
  socklen_t len;
  int timeout_ms;
  int transparent;
  /* results */
  int fd;
  int fallback;
  int err;
  const char *syscall;
  napi_deferred deferred;
  napi_async_work work;
} job_t;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_port(struct sockaddr_storage *ss, int family, int port) {
  if (family == AF_INET) ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  else ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/* One attempt: returns the fd (>= 0) or -1 with j->err / j->syscall set. */
static int attempt(job_t *j, int64_t deadline) {
  int one = 1;
  int fd = socket(j->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
  if (fd < 0) {
    j->err = errno;
    j->syscall = "socket";
    return -1;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    j->syscall = "setsockopt(SO_REUSEADDR)";
    goto fail;
  }
  if (j->transparent) {
    int rc = j->family == AF_INET ? setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof one)
                                  : setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof one);
    if (rc != 0) {
      j->syscall = j->family == AF_INET ? "setsockopt(IP_TRANSPARENT)" : "setsockopt(IPV6_TRANSPARENT)";
      goto fail;
    }
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&j->src, j->len) != 0) {
    j->syscall = "bind";
    goto fail;
  }
  if (connect(fd, (struct sockaddr *)&j->dst, j->len) != 0) {
    if (errno != EINPROGRESS) {
      j->syscall = "connect";
      goto fail;
    }
    for (;;) {
      int64_t left = deadline - now_ms();
      if (left <= 0) {
        errno = ETIMEDOUT;
        j->syscall = "connect";
        goto fail;
      }
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      int n = poll(&p, 1, (int)left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        j->syscall = "poll";
        goto fail;
      }
      if (n == 0) continue; /* re-check the deadline */
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
        j->syscall = "getsockopt(SO_ERROR)";
        goto fail;
      }
      if (soerr != 0) {
        errno = soerr;
        j->syscall = "connect";
        goto fail;
      }
      break;
    }
  }
  return fd;
fail:
  j->err = errno;
  close(fd);
  return -1;
}

static void execute(napi_env env, void *data) {
  (void)env;
  job_t *j = data;
  int64_t deadline = now_ms() + j->timeout_ms;
  j->fd = attempt(j, deadline);
  if (j->fd < 0 && ((j->err == EADDRINUSE && strcmp(j->syscall, "bind") == 0) ||
                    (j->err == EADDRNOTAVAIL && strcmp(j->syscall, "connect") == 0))) {
    set_port(&j->src, j->family, 0);
    j->fallback = 1;
    j->err = 0;
    j->fd = attempt(j, deadline);
  }
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  if (status == napi_ok && j->fd >= 0) {
    napi_value obj, fd, fallback;
    napi_create_object(env, &obj);
    napi_create_int32(env, j->fd, &fd);
    napi_get_boolean(env, j->fallback, &fallback);
    napi_set_named_property(env, obj, "fd", fd);
    napi_set_named_property(env, obj, "fallback", fallback);
    napi_resolve_deferred(env, j->deferred, obj);
  } else {
    char msg[256];
    int e = status == napi_ok ? j->err : ECANCELED;
    const char *sc = j->syscall ? j->syscall : "connect";
    snprintf(msg, sizeof msg, "%s failed: %s", sc, strerror(e));
    napi_value m, err, code, syscall, errnum;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
    napi_create_error(env, NULL, m, &err);
    napi_create_string_utf8(env, errno_code(e), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, sc, NAPI_AUTO_LENGTH, &syscall);
    napi_create_int32(env, e, &errnum);
    napi_set_named_property(env, err, "code", code);
    napi_set_named_property(env, err, "syscall", syscall);
    napi_set_named_property(env, err, "errno", errnum);
    napi_reject_deferred(env, j->deferred, err);
  }
  napi_delete_async_work(env, j->work);
  free(j);
}

static int parse_addr(const char *text, int family, int port, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, text, &a->sin_addr) == 1;
  }
  struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
  a->sin6_family = AF_INET6;
  a->sin6_port = htons((uint16_t)port);
  return inet_pton(AF_INET6, text, &a->sin6_addr) == 1;
}

#define CHECK(call)                                                      \
  do {                                                                   \
    if ((call) != napi_ok) {                                             \
      napi_throw_error(env, "ERR_REALIP_NATIVE", "invalid arguments");   \
      return NULL;                                                       \
    }                                                                    \
  } while (0)

/* connectFrom(family: 4|6, srcAddr, srcPort, dstAddr, dstPort, timeoutMs, transparent) */
static napi_value connect_from(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "connectFrom expects 7 arguments");
    return NULL;
  }
  int32_t fam, sport, dport, timeout;
  bool transparent;
  char src[INET6_ADDRSTRLEN + 1], dst[INET6_ADDRSTRLEN + 1];
  size_t n;
  CHECK(napi_get_value_int32(env, argv[0], &fam));
  CHECK(napi_get_value_string_utf8(env, argv[1], src, sizeof src, &n));
  CHECK(napi_get_value_int32(env, argv[2], &sport));
  CHECK(napi_get_value_string_utf8(env, argv[3], dst, sizeof dst, &n));
  CHECK(napi_get_value_int32(env, argv[4], &dport));
  CHECK(napi_get_value_int32(env, argv[5], &timeout));
  CHECK(napi_get_value_bool(env, argv[6], &transparent));
  int family = fam == 6 ? AF_INET6 : AF_INET;
  if ((fam != 4 && fam != 6) || sport < 0 || sport > 65535 || dport < 1 || dport > 65535 || timeout < 1) {
    napi_throw_range_error(env, "ERR_INVALID_ARG", "connectFrom: family, port or timeout out of range");
    return NULL;
  }
  job_t *j = calloc(1, sizeof *j);
  if (!j) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  j->family = family;
  j->len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  j->timeout_ms = timeout;
  j->transparent = transparent;
  j->fd = -1;
  if (!parse_addr(src, family, sport, &j->src) || !parse_addr(dst, family, dport, &j->dst)) {
    free(j);
    napi_throw_type_error(env, "ERR_INVALID_ARG", "connectFrom: address is not of the given family");
    return NULL;
  }
  napi_value promise, name;
  CHECK(napi_create_promise(env, &j->deferred, &promise));
  CHECK(napi_create_string_utf8(env, "realip:connectFrom", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, execute, complete, j, &j->work));
  CHECK(napi_queue_async_work(env, j->work));
  return promise;
}

/* canTransparent(family: 4|6) -> undefined | errno code string: can this process set IP_TRANSPARENT? */
static napi_value can_transparent(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int32_t fam = 4;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc >= 1) CHECK(napi_get_value_int32(env, argv[0], &fam));
  int family = fam == 6 ? AF_INET6 : AF_INET;
  int one = 1;
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    CHECK(napi_create_string_utf8(env, errno_code(errno), NAPI_AUTO_LENGTH, &out));
    return out;
  }
  int rc = family == AF_INET ? setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof one)
                             : setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof one);
  int e = errno;
  close(fd);
  if (rc == 0) CHECK(napi_get_undefined(env, &out));
  else CHECK(napi_create_string_utf8(env, errno_code(e), NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"connectFrom", NULL, connect_from, NULL, NULL, NULL, napi_default, NULL},
      {"canTransparent", NULL, can_transparent, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  splice_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
