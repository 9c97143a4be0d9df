// Doorbell socket calls for a thread that drives a shared-memory window synchronously (the load
// engine of `vmsg bench`, src/driver/frame-engine.ts; a router shard, src/wait/poll-doorbell.ts):
// sleep until the peer rings, drain its bytes, ring it, give the CPU away while polling. Going
// through the event loop instead costs a libuv wake-up, a JS callback and a promise per ring
// (tens of microseconds each way); these are the system calls a C peer makes. The socket stays
// owned by Node (not read by it while used here).
//
// A shard sleeps in poll(2) on its links' sockets and an eventfd, which in-process wakers write
// instead of Atomics.notify (src/wait/doorbell.ts). Eventfds come from a process-wide pool and
// are never closed: a waker that read a sleeper's descriptor may write it late, after that
// sleeper stopped; into a pooled eventfd that is at most a spurious wake-up of its next user,
// never a write into whatever file reused the number.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <node_api.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>

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

// A typed-array argument of type want: 1 with *data and *len (elements) set, else 0. Success
// is the return value, not data != NULL: an empty array may have no data pointer.
static int typed_arg(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  napi_typedarray_type t;
  return napi_get_typedarray_info(env, v, &t, len, data, NULL, NULL) == napi_ok && t == want;
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

// ---- which CPU a polling shard runs on
// The call's first `want` arguments into argv, the first an Int32Array of CPU numbers (*list,
// *len elements): 1, or 0 when there are fewer arguments or the first is not an Int32Array.
static int cpu_list_args(napi_env env, napi_callback_info info, napi_value *argv, size_t want, int32_t **list, size_t *len) {
  size_t argc = want;
  void *data = NULL;
  *len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return 0;
  if (!typed_arg(env, argv[0], napi_int32_array, &data, len)) return 0;
  *list = data;
  return 1;
}

// cpus(list: Int32Array): the CPUs this thread may run on (sched_getaffinity), as many as fit in
// list; returns how many there are (-1 on failure).
static napi_value bell_cpus(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t *list;
  size_t len;
  if (!cpu_list_args(env, info, argv, 1, &list, &len)) return int_value(env, -1);
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return int_value(env, -1);
  int n = 0;
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (!CPU_ISSET(c, &set)) continue;
    if ((size_t)n < len) list[n] = c;
    n++;
  }
  return int_value(env, n);
}

// cpu(): the CPU this thread runs on now (sched_getcpu), -1 on failure.
static napi_value bell_cpu(napi_env env, napi_callback_info info) {
  (void)info;
  return int_value(env, sched_getcpu());
}

// setCpus(list: Int32Array, n): this thread runs only on CPUs list[0 .. n - 1] from now on
// (sched_setaffinity); 0 done, -1 failed.
static napi_value bell_set_cpus(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t *list;
  size_t len;
  int32_t n = 0;
  if (!cpu_list_args(env, info, argv, 2, &list, &len)) return int_value(env, -1);
  napi_get_value_int32(env, argv[1], &n);
  if (n < 1 || (size_t)n > len) return int_value(env, -1);
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int i = 0; i < n; i++) {
    int c = list[i];
    if (c < 0 || c >= CPU_SETSIZE) return int_value(env, -1);
    CPU_SET(c, &set);
  }
  return int_value(env, sched_setaffinity(0, sizeof set, &set));
}

// ---- the shard's poll sleep
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
#define POOL_MAX 256
static int pool_fd[POOL_MAX];
static int pool_used[POOL_MAX];
static int pool_n;

// eventAcquire(): an eventfd of the pool (non-blocking), -1 when none can be had.
static napi_value bell_event_acquire(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = -1;
  pthread_mutex_lock(&pool_lock);
  for (int i = 0; i < pool_n; i++) {
    if (!pool_used[i]) { pool_used[i] = 1; fd = pool_fd[i]; break; }
  }
  if (fd < 0 && pool_n < POOL_MAX) {
    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd >= 0) { pool_fd[pool_n] = fd; pool_used[pool_n] = 1; __atomic_store_n(&pool_n, pool_n + 1, __ATOMIC_RELEASE); }
  }
  pthread_mutex_unlock(&pool_lock);
  if (fd >= 0) {
    uint64_t v;
    while (read(fd, &v, sizeof v) == sizeof v) {} // a late write meant for its last user
  }
  return int_value(env, fd);
}

// eventRelease(fd): back to the pool (still open: see the top of this file).
static napi_value bell_event_release(napi_env env, napi_callback_info info) {
  int fd = arg_i32(env, info, 0, -1);
  pthread_mutex_lock(&pool_lock);
  for (int i = 0; i < pool_n; i++) if (pool_fd[i] == fd) pool_used[i] = 0;
  pthread_mutex_unlock(&pool_lock);
  return int_value(env, 0);
}

// signal(fd): add 1 to an eventfd of the pool (wakes its poll). Only pooled descriptors are
// written: a stale number from a torn read can never reach another file.
static napi_value bell_signal(napi_env env, napi_callback_info info) {
  int fd = arg_i32(env, info, 0, -1);
  int ok = 0, m = __atomic_load_n(&pool_n, __ATOMIC_ACQUIRE);
  for (int i = 0; i < m; i++) if (pool_fd[i] == fd) { ok = 1; break; }
  if (!ok) return int_value(env, -1);
  uint64_t one = 1;
  ssize_t n;
  do n = write(fd, &one, sizeof one); while (n < 0 && errno == EINTR);
  return int_value(env, n == sizeof one ? 1 : 0); // EAGAIN: the counter is full, it is signalled
}

// Drain the bytes of socket fd: 1 some, 0 none, -1 the peer closed it or it failed.
static int drain(int fd) {
  char buf[256];
  int rang = 0;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) { rang = 1; continue; }
    if (n == 0) return -1;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? rang : -1;
  }
}

#define TAKE_MAX 64
// Per-socket modes of take() (optional sixth argument; without it every socket is a doorbell).
#define MODE_DATA 1   // a data socket its owner reads itself: report readiness, never read it here
#define MODE_NO_IN 2  // data socket: do not wait for input (the owner has no room for it)
#define MODE_OUT 4    // data socket: wait for room to write too
// take(evfd, fds: Int32Array, n, ms, status: Int32Array[, modes: Int32Array]): poll the eventfd
// (if >= 0) and the first n sockets for at most ms (fractions too; 0: just look), drain the
// doorbell sockets that rang. Doorbell socket: status[i] = 1 it rang, -1 it closed or failed, 0
// neither. Data socket: status[i] = bit 1 readable (or closed / failed: the owner's read says
// which), bit 2 writable. Returns bit 0: the eventfd was signalled, bit 1: a doorbell socket
// rang, bit 2: one closed or failed, bit 3: a data socket is ready; 0 = timed out (or a signal).
static napi_value bell_take(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  size_t argc = 6;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) return int_value(env, 0);
  int32_t evfd = -1, n = 0;
  double ms = 0;
  napi_get_value_int32(env, argv[0], &evfd);
  napi_get_value_int32(env, argv[2], &n);
  napi_get_value_double(env, argv[3], &ms);
  void *fdp = NULL, *stp = NULL;
  size_t fdl = 0, stl = 0;
  if (!typed_arg(env, argv[1], napi_int32_array, &fdp, &fdl)) return int_value(env, 0);
  if (!typed_arg(env, argv[4], napi_int32_array, &stp, &stl)) return int_value(env, 0);
  if (n < 0) n = 0;
  if ((size_t)n > fdl) n = (int32_t)fdl;
  if ((size_t)n > stl) n = (int32_t)stl;
  if (n > TAKE_MAX) n = TAKE_MAX;
  int32_t *fds = fdp, *st = stp, *modes = NULL;
  if (argc >= 6) {
    void *mp = NULL;
    size_t ml = 0;
    napi_valuetype vt;
    if (napi_typeof(env, argv[5], &vt) == napi_ok && vt == napi_object &&
        typed_arg(env, argv[5], napi_int32_array, &mp, &ml)) {
      if ((size_t)n > ml) n = (int32_t)ml;
      modes = mp;
    }
  }
  struct pollfd p[TAKE_MAX + 1];
  int k = 0;
  if (evfd >= 0) p[k++] = (struct pollfd){evfd, POLLIN, 0};
  for (int i = 0; i < n; i++) {
    int m = modes != NULL ? modes[i] : 0;
    short ev = POLLIN;
    if (m & MODE_DATA) ev = (short)(((m & MODE_NO_IN) ? 0 : POLLIN) | ((m & MODE_OUT) ? POLLOUT : 0));
    p[k++] = (struct pollfd){fds[i], ev, 0};
  }
  // ppoll: sub-millisecond sleeps (a shard's 50 µs naps) keep their length.
  if (!(ms >= 0)) ms = 0;
  if (ms > 86400000) ms = 86400000;
  struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
  int r = ppoll(p, (nfds_t)k, &ts, NULL);
  int out = 0;
  for (int i = 0; i < n; i++) st[i] = 0;
  if (r <= 0) return int_value(env, 0);
  int j = 0;
  if (evfd >= 0) {
    if (p[0].revents) {
      uint64_t v;
      while (read(evfd, &v, sizeof v) == sizeof v) {}
      out |= 1;
    }
    j = 1;
  }
  for (int i = 0; i < n; i++, j++) {
    if (p[j].revents == 0) continue;
    if (modes != NULL && (modes[i] & MODE_DATA)) {
      short re = p[j].revents;
      st[i] = ((re & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) ? 2 : 0) | ((re & POLLOUT) ? 4 : 0);
      if (st[i] != 0) out |= 8;
      continue;
    }
    int d = (p[j].revents & POLLNVAL) ? -1 : drain(fds[i]);
    st[i] = d;
    if (d > 0) out |= 2;
    else if (d < 0) out |= 4;
  }
  return int_value(env, out);
}

// ---- data sockets a thread reads and writes itself (a router shard serving a stream link)
static int byte_range(napi_env env, napi_callback_info info, int *fd, uint8_t **at, size_t *len) {
  napi_value argv[4];
  size_t argc = 4;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return 0;
  int32_t f = -1;
  double off = 0, n = 0;
  napi_get_value_int32(env, argv[0], &f);
  napi_get_value_double(env, argv[2], &off);
  napi_get_value_double(env, argv[3], &n);
  void *data = NULL;
  size_t l = 0;
  if (!typed_arg(env, argv[1], napi_uint8_array, &data, &l)) return 0;
  if (!(off >= 0) || !(n >= 0) || off + n > (double)l) return 0;
  *fd = f;
  *at = (uint8_t *)data + (size_t)off;
  *len = (size_t)n;
  return 1;
}

// recvInto(fd, u8, off, len): read at most len bytes into u8[off..] without blocking. Returns
// the bytes read, 0 = none waiting, -1 = the peer closed the connection, -2 = it failed
// (errno in lastError()), -3 = bad arguments.
// sendFrom(fd, u8, off, len): write at most len bytes from u8[off..] without blocking. Returns
// the bytes written (0 = the socket buffer is full), -2 = failed (errno in lastError()), -3 =
// bad arguments.
static __thread int last_errno;
static napi_value byte_io(napi_env env, napi_callback_info info, int out) {
  int fd;
  uint8_t *at;
  size_t len;
  if (!byte_range(env, info, &fd, &at, &len)) return int_value(env, -3);
  if (len == 0) return int_value(env, 0);
  for (;;) {
    ssize_t n = out ? send(fd, at, len, MSG_DONTWAIT | MSG_NOSIGNAL) : recv(fd, at, len, MSG_DONTWAIT);
    if (n > 0 || (n == 0 && out)) return int_value(env, (int32_t)n);
    if (n == 0) return int_value(env, -1); // recv: end of file
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return int_value(env, 0);
    last_errno = errno;
    return int_value(env, -2);
  }
}

static napi_value bell_recv_into(napi_env env, napi_callback_info info) {
  return byte_io(env, info, 0);
}

static napi_value bell_send_from(napi_env env, napi_callback_info info) {
  return byte_io(env, info, 1);
}

// lastError(): the errno of this thread's last failed recvInto / sendFrom.
static napi_value bell_last_error(napi_env env, napi_callback_info info) {
  (void)info;
  return int_value(env, last_errno);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    {"wait", NULL, bell_wait, NULL, NULL, NULL, napi_default, NULL},
    {"ring", NULL, bell_ring, NULL, NULL, NULL, napi_default, NULL},
    {"yield", NULL, bell_yield, NULL, NULL, NULL, napi_default, NULL},
    {"cpus", NULL, bell_cpus, NULL, NULL, NULL, napi_default, NULL},
    {"cpu", NULL, bell_cpu, NULL, NULL, NULL, napi_default, NULL},
    {"setCpus", NULL, bell_set_cpus, NULL, NULL, NULL, napi_default, NULL},
    {"dup", NULL, bell_dup, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, bell_close, NULL, NULL, NULL, napi_default, NULL},
    {"eventAcquire", NULL, bell_event_acquire, NULL, NULL, NULL, napi_default, NULL},
    {"eventRelease", NULL, bell_event_release, NULL, NULL, NULL, napi_default, NULL},
    {"signal", NULL, bell_signal, NULL, NULL, NULL, napi_default, NULL},
    {"take", NULL, bell_take, NULL, NULL, NULL, napi_default, NULL},
    {"recvInto", NULL, bell_recv_into, NULL, NULL, NULL, napi_default, NULL},
    {"sendFrom", NULL, bell_send_from, NULL, NULL, NULL, napi_default, NULL},
    {"lastError", NULL, bell_last_error, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
