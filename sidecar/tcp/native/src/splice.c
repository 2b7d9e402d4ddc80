/*
 * realip splice relay: after the PROXY header, the tcp and transparent hops join the client and
 * app sockets in the kernel, so relayed bytes never enter the JavaScript heap (nor user space).
 *
 * Per direction, a pipe pair: splice(src socket -> pipe) then splice(pipe -> dst socket), with
 * SPLICE_F_NONBLOCK | SPLICE_F_MOVE, as HAProxy and go-mmproxy do (splice(2) needs a pipe at one
 * end). Pipes are taken from a small pool when a direction has bytes to move and given back as soon
 * as they are empty (HAProxy's rule), so idle connections hold no pipe.
 *
 * Threading: one reactor thread per process (per Node environment) runs epoll (edge-triggered) over
 * every relayed socket and pumps both directions of a connection whenever either socket is ready.
 * The event loop is never blocked and there is no thread per connection. JavaScript keeps control:
 * it hands over the sockets (we dup() their fds; Node keeps its own fds open and stops reading),
 * sets the timers (idle: relayIdleMs() tells how long nothing moved), aborts (drain, idle), and is
 * told once, through a napi_threadsafe_function, when a connection has ended: bytes each way and
 * which side failed with which errno. Node closes its own fds afterwards, so the kernel sends the
 * final FIN (or RST, when SO_LINGER 0 was set here) when both fds are closed.
 *
 * Semantics (same as the JavaScript relay, sidecar/tcp/pipe.ts):
 *   - bytes handed over with the sockets (our PROXY header, client bytes Node had already read) are
 *     written first, in order, then the socket's own bytes;
 *   - half-close: EOF from one side becomes shutdown(SHUT_WR) on the other once everything read
 *     before it is written; the other direction keeps flowing;
 *   - an error on one side (reset included) resets the other (SO_LINGER 0); a client-side error
 *     resets both, as Node's relay does;
 *   - done when both directions are shut.
 *
 * Lifetime: a conn is freed on the JS thread after its end was reported (refcount: the report, plus
 * one per queued abort command), so a late abort never touches freed memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "errno_code.h"

#define PIPE_POOL_MAX 64
#define SPLICE_CHUNK (1 << 20) /* ask for up to 1 MiB; the pipe bounds what moves per call */
#define BATCH 256

enum { SIDE_CLIENT = 0, SIDE_APP = 1 };

typedef struct {
  int r, w;
} pipe_t;

typedef struct {
  char *pending; /* bytes to write to dst before any spliced byte */
  size_t pending_len, pending_off;
  pipe_t pipe;    /* r = -1 when none is held */
  size_t in_pipe; /* bytes in the pipe, not yet written to dst */
  int eof;        /* src said EOF */
  int shut;       /* dst was shut down for writing */
  uint64_t bytes; /* written to dst (pending included) */
} dir_t;

typedef struct conn {
  double id;
  int fd[2];  /* [SIDE_CLIENT], [SIDE_APP]: our dup()s */
  dir_t d[2]; /* d[k]: from fd[k] to fd[1-k] */
  int done;
  int err_side; /* -1: no error */
  int first_eof; /* the side whose EOF came first (-1: none yet): who closed the connection */
  int err;
  _Atomic int64_t last_ms;
  _Atomic int refs;
  struct conn *next_done;
} conn_t;

enum { CMD_ADD, CMD_CLOSE, CMD_RESET };

typedef struct cmd {
  conn_t *conn;
  int op;
  struct cmd *next;
} cmd_t;

typedef struct {
  int ep, evfd;
  pthread_t thread;
  pthread_mutex_t mu;
  cmd_t *cmds, *cmds_tail; /* FIFO: a connection's ADD always precedes its abort */
  int stop;
  napi_threadsafe_function tsfn;
  pipe_t pool[PIPE_POOL_MAX];
  int pooled;
} reactor_t;

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_unref(conn_t *c) {
  if (atomic_fetch_sub(&c->refs, 1) == 1) {
    free(c->d[0].pending);
    free(c->d[1].pending);
    free(c);
  }
}

/* ---------- pipes (reactor thread only) ---------- */
static int pipe_get(reactor_t *r, pipe_t *p) {
  if (r->pooled > 0) {
    *p = r->pool[--r->pooled];
    return 0;
  }
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
  p->r = fds[0];
  p->w = fds[1];
  return 0;
}

static void pipe_put(reactor_t *r, pipe_t *p, int empty) {
  if (p->r < 0) return;
  if (empty && r->pooled < PIPE_POOL_MAX) {
    r->pool[r->pooled++] = *p;
  } else {
    close(p->r);
    close(p->w);
  }
  p->r = p->w = -1;
}

/* ---------- the relay ---------- */
static void fail(conn_t *c, int side, int err) {
  if (c->done) return;
  c->err_side = side;
  c->err = err;
}

static void set_linger0(int fd) {
  struct linger l = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

/* Moves what it can in direction k; returns when blocked, shut, or failed (c->err_side set). */
static void pump(reactor_t *r, conn_t *c, int k) {
  dir_t *d = &c->d[k];
  int src = c->fd[k], dst = c->fd[1 - k];
  if (d->shut || c->err_side >= 0) return;
  for (;;) {
    int progress = 0;
    while (d->pending_off < d->pending_len) {
      ssize_t n = send(dst, d->pending + d->pending_off, d->pending_len - d->pending_off,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        d->pending_off += (size_t)n;
        d->bytes += (uint64_t)n;
        atomic_store(&c->last_ms, mono_ms());
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      fail(c, 1 - k, n < 0 ? errno : EIO);
      return;
    }
    if (!d->eof) {
      if (d->pipe.r < 0 && pipe_get(r, &d->pipe) != 0) {
        fail(c, k, errno);
        return;
      }
      ssize_t n = splice(src, NULL, d->pipe.w, NULL, SPLICE_CHUNK, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (n > 0) {
        d->in_pipe += (size_t)n;
        progress = 1;
        atomic_store(&c->last_ms, mono_ms());
      } else if (n == 0) {
        d->eof = 1;
        if (c->first_eof < 0) c->first_eof = k;
        progress = 1;
      } else if (errno == EINTR) {
        progress = 1;
      } else if (errno != EAGAIN) {
        fail(c, k, errno);
        return;
      }
    }
    if (d->in_pipe > 0) {
      ssize_t n = splice(d->pipe.r, NULL, dst, NULL, d->in_pipe, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (n > 0) {
        d->in_pipe -= (size_t)n;
        d->bytes += (uint64_t)n;
        progress = 1;
        atomic_store(&c->last_ms, mono_ms());
      } else if (n < 0 && errno == EINTR) {
        progress = 1;
      } else if (n < 0 && errno != EAGAIN) {
        fail(c, 1 - k, errno);
        return;
      }
    }
    if (d->in_pipe == 0) pipe_put(r, &d->pipe, 1);
    if (d->eof && d->in_pipe == 0) {
      /* ENOTCONN: the peer is already gone; its error, if any, is reported by its own side. */
      shutdown(dst, SHUT_WR);
      d->shut = 1;
      return;
    }
    if (!progress) return;
  }
}

/* Ends the connection on the reactor thread; the report is sent after the current batch. */
static void finish(reactor_t *r, conn_t *c, int reset_both, conn_t **done_list) {
  if (c->done) return;
  if (c->err_side >= 0) {
    /* The other side learns of the failure as a reset; a client-side failure resets both. */
    set_linger0(c->fd[1 - c->err_side]);
    if (c->err_side == SIDE_CLIENT) set_linger0(c->fd[SIDE_CLIENT]);
  } else if (reset_both) {
    set_linger0(c->fd[0]);
    set_linger0(c->fd[1]);
  }
  c->done = 1;
  for (int k = 0; k < 2; k++) {
    pipe_put(r, &c->d[k].pipe, c->d[k].in_pipe == 0);
    /* Explicitly: an epoll registration belongs to the open file description, which Node's own
     * fd keeps alive, so close() alone would leave it registered, pointing at a freed conn. */
    epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd[k], NULL);
    close(c->fd[k]);
  }
  c->next_done = *done_list;
  *done_list = c;
}

static void service(reactor_t *r, conn_t *c, uint32_t events, int side, conn_t **done_list) {
  if (c->done) return;
  pump(r, c, SIDE_CLIENT);
  pump(r, c, SIDE_APP);
  if (c->err_side < 0 && (events & EPOLLERR)) {
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(c->fd[side], SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr != 0) fail(c, side, soerr);
  }
  if (c->err_side >= 0 || (c->d[0].shut && c->d[1].shut)) finish(r, c, 0, done_list);
}

/* Edge-triggered: the pump always runs until EAGAIN. Adding reports the sockets' current
 * readiness, so the first pump (handed-over bytes, data already queued, an EOF) runs at once. */
static void add(reactor_t *r, conn_t *c, conn_t **done_list) {
  for (int k = 0; k < 2; k++) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)((uintptr_t)c | (uintptr_t)k)};
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd[k], &ev) != 0) {
      fail(c, k, errno);
      finish(r, c, 0, done_list);
      return;
    }
  }
}

static void report(reactor_t *r, conn_t *done_list) {
  while (done_list) {
    conn_t *next = done_list->next_done;
    /* After this call the JS thread may free the conn at any time: touch nothing of it. */
    if (napi_call_threadsafe_function(r->tsfn, done_list, napi_tsfn_nonblocking) != napi_ok)
      conn_unref(done_list);
    done_list = next;
  }
}

static void *loop(void *arg) {
  reactor_t *r = arg;
  struct epoll_event ev[BATCH];
  for (;;) {
    int n = epoll_wait(r->ep, ev, BATCH, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    conn_t *done_list = NULL;
    for (int i = 0; i < n; i++) {
      if (ev[i].data.u64 == 0) {
        uint64_t v;
        if (read(r->evfd, &v, sizeof v) < 0) { /* drained */
        }
        pthread_mutex_lock(&r->mu);
        cmd_t *cmds = r->cmds;
        r->cmds = r->cmds_tail = NULL;
        int stop = r->stop;
        pthread_mutex_unlock(&r->mu);
        while (cmds) {
          cmd_t *next = cmds->next;
          conn_t *c = cmds->conn;
          if (cmds->op == CMD_ADD) add(r, c, &done_list);
          else if (!c->done) {
            if (c->err_side < 0) c->err_side = -2; /* aborted by JS: no error of its own */
            finish(r, c, cmds->op == CMD_RESET, &done_list);
          }
          conn_unref(c);
          free(cmds);
          cmds = next;
        }
        if (stop) {
          report(r, done_list);
          return NULL;
        }
        continue;
      }
      uintptr_t tag = (uintptr_t)ev[i].data.u64;
      service(r, (conn_t *)(tag & ~(uintptr_t)1), ev[i].events, (int)(tag & 1), &done_list);
    }
    report(r, done_list);
  }
  return NULL;
}

/* ---------- JS side (event loop thread) ---------- */
static void call_js(napi_env env, napi_value fn, void *context, void *data) {
  (void)context;
  conn_t *c = data;
  if (env != NULL && fn != NULL) {
    napi_value argv[6], undef;
    napi_create_double(env, c->id, &argv[0]);
    napi_create_double(env, (double)c->d[SIDE_CLIENT].bytes, &argv[1]);
    napi_create_double(env, (double)c->d[SIDE_APP].bytes, &argv[2]);
    napi_create_int32(env, c->err_side, &argv[3]);
    if (c->err_side >= 0) napi_create_string_utf8(env, errno_code(c->err), NAPI_AUTO_LENGTH, &argv[4]);
    else napi_get_undefined(env, &argv[4]);
    napi_create_int32(env, c->first_eof, &argv[5]);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, fn, 6, argv, NULL);
  }
  conn_unref(c);
}

static void cleanup(void *arg) {
  reactor_t *r = arg;
  pthread_mutex_lock(&r->mu);
  r->stop = 1;
  pthread_mutex_unlock(&r->mu);
  uint64_t one = 1;
  if (write(r->evfd, &one, sizeof one) < 0) { /* the thread may be gone already */
  }
  pthread_join(r->thread, NULL);
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
}

/* Takes a reference for the command; the reactor drops it once the command ran. */
static int enqueue(reactor_t *r, conn_t *c, int op) {
  cmd_t *cmd = malloc(sizeof *cmd);
  if (!cmd) return -1;
  cmd->conn = c;
  cmd->op = op;
  cmd->next = NULL;
  atomic_fetch_add(&c->refs, 1);
  pthread_mutex_lock(&r->mu);
  int wake = r->cmds == NULL; /* else a wake-up is already pending for the queue */
  if (r->cmds_tail) r->cmds_tail->next = cmd;
  else r->cmds = cmd;
  r->cmds_tail = cmd;
  pthread_mutex_unlock(&r->mu);
  uint64_t one = 1;
  if (wake && write(r->evfd, &one, sizeof one) < 0) { /* EAGAIN: the counter is full, the thread is awake */
  }
  return 0;
}

static napi_value throw_errno(napi_env env, const char *what, int e) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s failed: %s", what, strerror(e));
  napi_throw_error(env, errno_code(e), msg);
  return NULL;
}

#define CHECK(call)                                                    \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error(env, "ERR_REALIP_NATIVE", "invalid arguments"); \
      return NULL;                                                     \
    }                                                                  \
  } while (0)

static reactor_t *reactor_of(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok) return NULL;
  return data;
}

/* relayInit(onEnd(id, toApp, toClient, errSide, errCode)): starts the reactor thread, once. */
static napi_value relay_init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (reactor_of(env)) {
    napi_throw_error(env, "ERR_REALIP_NATIVE", "relayInit: already started");
    return NULL;
  }
  reactor_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "calloc", ENOMEM);
  r->ep = epoll_create1(EPOLL_CLOEXEC);
  r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->ep < 0 || r->evfd < 0) {
    int e = errno;
    if (r->ep >= 0) close(r->ep);
    if (r->evfd >= 0) close(r->evfd);
    free(r);
    return throw_errno(env, "epoll_create1/eventfd", e);
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
  epoll_ctl(r->ep, EPOLL_CTL_ADD, r->evfd, &ev);
  pthread_mutex_init(&r->mu, NULL);
  CHECK(napi_create_string_utf8(env, "realip:splice", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &r->tsfn));
  /* Node's own sockets keep the loop alive while a relay runs; the reactor never does by itself. */
  napi_unref_threadsafe_function(env, r->tsfn);
  int rc = pthread_create(&r->thread, NULL, loop, r);
  if (rc != 0) {
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    close(r->ep);
    close(r->evfd);
    free(r);
    return throw_errno(env, "pthread_create", rc);
  }
  napi_set_instance_data(env, r, NULL, NULL);
  napi_add_env_cleanup_hook(env, cleanup, r);
  return NULL;
}

static int copy_prefix(napi_env env, napi_value v, dir_t *d) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined || t == napi_null) return 0;
  bool is_buf = false;
  void *data;
  size_t len;
  if (napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf) return -1;
  if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) return -1;
  if (len == 0) return 0;
  d->pending = malloc(len);
  if (!d->pending) return -1;
  memcpy(d->pending, data, len);
  d->pending_len = len;
  return 0;
}

/* relayStart(id, clientFd, appFd, toAppFirst?: Buffer, toClientFirst?: Buffer) -> handle */
static napi_value relay_start(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], handle;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor_t *r = reactor_of(env);
  if (!r || argc < 5) {
    napi_throw_error(env, "ERR_REALIP_NATIVE", "relayStart: call relayInit first, with 5 arguments");
    return NULL;
  }
  double id;
  int32_t cfd, afd;
  CHECK(napi_get_value_double(env, argv[0], &id));
  CHECK(napi_get_value_int32(env, argv[1], &cfd));
  CHECK(napi_get_value_int32(env, argv[2], &afd));
  conn_t *c = calloc(1, sizeof *c);
  if (!c) return throw_errno(env, "calloc", ENOMEM);
  c->id = id;
  c->err_side = -1;
  c->first_eof = -1;
  c->fd[0] = c->fd[1] = -1;
  for (int k = 0; k < 2; k++) c->d[k].pipe.r = c->d[k].pipe.w = -1;
  atomic_store(&c->refs, 1);
  atomic_store(&c->last_ms, mono_ms());
  if (copy_prefix(env, argv[3], &c->d[SIDE_CLIENT]) != 0 || copy_prefix(env, argv[4], &c->d[SIDE_APP]) != 0) {
    conn_unref(c);
    napi_throw_type_error(env, "ERR_REALIP_NATIVE", "relayStart: prefixes must be Buffers");
    return NULL;
  }
  c->fd[SIDE_CLIENT] = fcntl(cfd, F_DUPFD_CLOEXEC, 0);
  c->fd[SIDE_APP] = c->fd[SIDE_CLIENT] < 0 ? -1 : fcntl(afd, F_DUPFD_CLOEXEC, 0);
  if (c->fd[SIDE_APP] < 0) {
    int e = errno;
    if (c->fd[SIDE_CLIENT] >= 0) close(c->fd[SIDE_CLIENT]);
    conn_unref(c);
    return throw_errno(env, "dup", e);
  }
  /* No O_NONBLOCK to set: Node's sockets and connectFrom's are non-blocking, and the file status
   * flags are shared with the dup; every call here passes SPLICE_F_NONBLOCK / MSG_DONTWAIT too. */
  if (napi_create_external(env, c, NULL, NULL, &handle) != napi_ok || enqueue(r, c, CMD_ADD) != 0) {
    close(c->fd[0]);
    close(c->fd[1]);
    conn_unref(c);
    return throw_errno(env, "relayStart", ENOMEM);
  }
  return handle;
}

/* relayAbort(handle, reset: boolean): ends a running relay (RST both sides when reset). */
static napi_value relay_abort(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *p;
  bool reset = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor_t *r = reactor_of(env);
  if (!r || argc < 2) return NULL;
  CHECK(napi_get_value_external(env, argv[0], &p));
  CHECK(napi_get_value_bool(env, argv[1], &reset));
  if (enqueue(r, p, reset ? CMD_RESET : CMD_CLOSE) != 0) return throw_errno(env, "relayAbort", ENOMEM);
  return NULL;
}

/* relayIdleMs(handle) -> ms since a byte last moved either way. */
static napi_value relay_idle_ms(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  void *p;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_external(env, argv[0], &p));
  conn_t *c = p;
  CHECK(napi_create_double(env, (double)(mono_ms() - atomic_load(&c->last_ms)), &out));
  return out;
}

void splice_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"relayInit", NULL, relay_init, NULL, NULL, NULL, napi_default, NULL},
      {"relayStart", NULL, relay_start, NULL, NULL, NULL, napi_default, NULL},
      {"relayAbort", NULL, relay_abort, NULL, NULL, NULL, napi_default, NULL},
      {"relayIdleMs", NULL, relay_idle_ms, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
