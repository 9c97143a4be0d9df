// Doorbell socket calls for a thread that drives a shared-memory window synchronously (the load
// engine of `vmsg bench`, src/driver/frame-engine.ts): sleep until the peer rings, drain its
// bytes, ring it, give the CPU away while polling. Going through the event loop instead costs a
// libuv wake-up, a JS callback and a promise per ring (tens of microseconds each way); these are
// the system calls a C peer makes. The socket stays owned by Node (paused while used here).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <node_api.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

static int32_t arg_i32(napi_env env, napi_callback_info info, size_t i, int32_t dflt) {
  napi_value argv[2];
  size_t argc = 2;
  int32_t v = dflt;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && i < argc) napi_get_value_int32(env, argv[i], &v);
  return v;
}

static napi_value int_value(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

// wait(fd, ms): 1 = the peer rang (every pending byte drained), 0 = nothing within ms (or a
// signal), -1 = the peer closed the socket or it failed.
static napi_value bell_wait(napi_env env, napi_callback_info info) {
  int fd = arg_i32(env, info, 0, -1), ms = arg_i32(env, info, 1, 0);
  struct pollfd p = {fd, POLLIN, 0};
  int r = poll(&p, 1, ms);
  if (r <= 0) return int_value(env, r < 0 && errno != EINTR ? -1 : 0);
  char buf[256];
  int rang = 0;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) { rang = 1; continue; }
    if (n == 0) return int_value(env, -1);
    if (errno == EINTR) continue;
    return int_value(env, errno == EAGAIN || errno == EWOULDBLOCK ? rang : -1);
  }
}

// ring(fd): write one byte. 1 = written, 0 = the socket buffer is full (the peer has bytes
// enough to wake up), -1 = failed (peer gone).
static napi_value bell_ring(napi_env env, napi_callback_info info) {
  int fd = arg_i32(env, info, 0, -1);
  char b = 1;
  for (;;) {
    ssize_t n = send(fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == 1) return int_value(env, 1);
    if (n < 0 && errno == EINTR) continue;
    return int_value(env, n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1);
  }
}

// dup(fd): a descriptor of our own for the same socket (-1 on failure), so a thread that rings
// it never writes to a number Node closed and reused meanwhile; close(fd) when done with it.
static napi_value bell_dup(napi_env env, napi_callback_info info) {
  return int_value(env, fcntl(arg_i32(env, info, 0, -1), F_DUPFD_CLOEXEC, 0));
}

static napi_value bell_close(napi_env env, napi_callback_info info) {
  return int_value(env, close(arg_i32(env, info, 0, -1)));
}

// yield(): sched_yield(2), so a polling thread lets a peer waiting for this CPU run.
static napi_value bell_yield(napi_env env, napi_callback_info info) {
  (void)info;
  return int_value(env, sched_yield());
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    {"wait", NULL, bell_wait, NULL, NULL, NULL, napi_default, NULL},
    {"ring", NULL, bell_ring, NULL, NULL, NULL, napi_default, NULL},
    {"yield", NULL, bell_yield, NULL, NULL, NULL, napi_default, NULL},
    {"dup", NULL, bell_dup, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, bell_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
