// Maps a file (e.g. under /dev/shm) over a page-aligned range of a typed array's memory —
// in practice the shared WebAssembly.Memory — so the WASM hot path, JS views and worker
// threads read and write another process's ring in place, without a copy step.
// Node has no mmap; this is the whole addon (plain N-API, no dependencies).
//
// A peer that shrinks a mapped file (ftruncate) turns our next access to the pages past its new
// end into SIGBUS, in whichever thread touches them first: a shard's WASM, the main thread's
// bring-up, a device worker. Every range mapFile maps is registered; the SIGBUS handler, when
// the faulting address lies in one, puts private zero pages over the whole range (mmap is
// async-signal-safe), marks it lost and returns, so the access runs again on zeros. Owners poll
// windowLost() and take the link down. Faults elsewhere go to the handler that was there before.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

// The registered ranges. Written under `reg_lock` by whichever thread maps or unmaps; read
// lock-free by the signal handler (state first, acquire; start and len were stored before it).
enum { W_FREE = 0, W_MAPPED = 1, W_LOST = 2 };
#define MAX_WINDOWS 1024
static struct {
  _Atomic uintptr_t start;
  _Atomic size_t len;
  _Atomic int state;
} windows[MAX_WINDOWS];
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned long lost_total;
static struct sigaction previous;
static atomic_flag installed = ATOMIC_FLAG_INIT;

static void on_sigbus(int sig, siginfo_t *info, void *ctx) {
  uintptr_t a = (uintptr_t)info->si_addr;
  for (int i = 0; i < MAX_WINDOWS; i++) {
    int st = atomic_load_explicit(&windows[i].state, memory_order_acquire);
    if (st == W_FREE) continue;
    uintptr_t s = atomic_load_explicit(&windows[i].start, memory_order_relaxed);
    size_t l = atomic_load_explicit(&windows[i].len, memory_order_relaxed);
    if (a < s || a - s >= l) continue;
    int expect = W_MAPPED;
    // One thread replaces the mapping; another that faulted meanwhile returns and faults again
    // until the zero pages are in (a few instructions' worth).
    if (atomic_compare_exchange_strong(&windows[i].state, &expect, W_LOST)) {
      if (mmap((void *)s, l, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) break;
      atomic_fetch_add(&lost_total, 1);
    }
    return;
  }
  // Not ours (or the zero pages could not be had): whoever handled SIGBUS before us, else the
  // default action (raised again: it stays pending until we return, and a signal sent with
  // kill(2) would not come back by itself).
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(sig, info, ctx);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
  } else {
    signal(SIGBUS, SIG_DFL);
    raise(SIGBUS);
  }
}

static void install_handler(void) {
  if (atomic_flag_test_and_set(&installed)) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &previous);
}

// Register [addr, addr+len) (replacing an entry at the same address); -1 when the table is full.
static int register_range(uint8_t *addr, size_t len) {
  pthread_mutex_lock(&reg_lock);
  int slot = -1;
  for (int i = 0; i < MAX_WINDOWS; i++) {
    int st = atomic_load(&windows[i].state);
    if (st != W_FREE && atomic_load(&windows[i].start) == (uintptr_t)addr) { slot = i; break; }
    if (st == W_FREE && slot < 0) slot = i;
  }
  if (slot >= 0) {
    atomic_store(&windows[slot].state, W_FREE);
    atomic_store(&windows[slot].start, (uintptr_t)addr);
    atomic_store(&windows[slot].len, len);
    atomic_store_explicit(&windows[slot].state, W_MAPPED, memory_order_release);
  }
  pthread_mutex_unlock(&reg_lock);
  return slot;
}

// The state of the entry at `addr` (W_FREE when none).
static int range_state(uint8_t *addr, int unregister) {
  pthread_mutex_lock(&reg_lock);
  int st = W_FREE;
  for (int i = 0; i < MAX_WINDOWS; i++) {
    int s = atomic_load(&windows[i].state);
    if (s != W_FREE && atomic_load(&windows[i].start) == (uintptr_t)addr) {
      st = s;
      if (unregister) atomic_store(&windows[i].state, W_FREE);
      break;
    }
  }
  pthread_mutex_unlock(&reg_lock);
  return st;
}

static napi_value throw_errno(napi_env env, const char *what, const char *path) {
  char msg[4608]; // room for the longest path plus the error text
  snprintf(msg, sizeof msg, "%s %s: %s", what, path ? path : "", strerror(errno));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

// Resolve (view, offset, length) to a page-aligned address inside the view.
static int target_range(napi_env env, napi_value *argv, uint8_t **addr, size_t *len) {
  napi_typedarray_type type;
  size_t count, byte_offset;
  void *data;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[0], &type, &count, &data, &ab, &byte_offset) != napi_ok) {
    napi_throw_type_error(env, NULL, "first argument must be a typed array over the memory to map into");
    return -1;
  }
  double off, l;
  if (napi_get_value_double(env, argv[1], &off) != napi_ok || napi_get_value_double(env, argv[2], &l) != napi_ok) {
    napi_throw_type_error(env, NULL, "offset and length must be numbers");
    return -1;
  }
  long page = sysconf(_SC_PAGESIZE);
  size_t elem = type == napi_uint8_array || type == napi_int8_array || type == napi_uint8_clamped_array ? 1
              : type == napi_int16_array || type == napi_uint16_array ? 2
              : type == napi_float64_array || type == napi_bigint64_array || type == napi_biguint64_array ? 8 : 4;
  uint8_t *p = (uint8_t *)data + (size_t)off;
  if (off < 0 || l <= 0 || (size_t)off + (size_t)l > count * elem) {
    napi_throw_range_error(env, NULL, "range [offset, offset+length) must lie inside the typed array");
    return -1;
  }
  if (((uintptr_t)p % (uintptr_t)page) != 0 || ((size_t)l % (size_t)page) != 0) {
    napi_throw_range_error(env, NULL, "address and length must be multiples of the page size");
    return -1;
  }
  *addr = p;
  *len = (size_t)l;
  return 0;
}

// mapFile(view, offset, length, path, create): map `length` bytes of the file at `path` over
// view[offset, offset+length). create=true makes the file (owner-only permissions) and sizes it.
static napi_value map_file(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "mapFile(view, offset, length, path, create)");
    return NULL;
  }
  uint8_t *addr;
  size_t len;
  if (target_range(env, argv, &addr, &len) != 0) return NULL;
  char path[4096];
  size_t plen;
  if (napi_get_value_string_utf8(env, argv[3], path, sizeof path, &plen) != napi_ok) {
    napi_throw_type_error(env, NULL, "path must be a string");
    return NULL;
  }
  bool create;
  napi_get_value_bool(env, argv[4], &create);
  int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
  if (fd < 0) return throw_errno(env, "open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) { close(fd); return throw_errno(env, "fstat", path); }
  if ((size_t)st.st_size < len) {
    if (!create) {
      close(fd);
      errno = EINVAL;
      napi_throw_range_error(env, NULL, "file is smaller than the requested mapping");
      return NULL;
    }
    if (ftruncate(fd, (off_t)len) != 0) { close(fd); return throw_errno(env, "ftruncate", path); }
  }
  void *m = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
  int saved = errno;
  close(fd);
  if (m == MAP_FAILED) { errno = saved; return throw_errno(env, "mmap", path); }
  if (register_range(addr, len) < 0) {
    mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    napi_throw_range_error(env, NULL, "too many mapped files at once (1024)");
  }
  return NULL;
}

// unmapFile(view, offset, length): put private zero pages back where a file was mapped, so
// the memory stays valid for the WASM instance after the peer is gone.
static napi_value unmap_file(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "unmapFile(view, offset, length)");
    return NULL;
  }
  uint8_t *addr;
  size_t len;
  if (target_range(env, argv, &addr, &len) != 0) return NULL;
  void *m = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (m == MAP_FAILED) return throw_errno(env, "mmap", "(anonymous)");
  // Zero pages are in: nothing here can fault any more. The owner stopped every thread that
  // used the range before unmapping it, so no fault of the old mapping is still on its way.
  range_state(addr, 1);
  return NULL;
}

// windowLost(view, offset, length): true once the file mapped there shrank under us and the
// range became zero pages (the SIGBUS handler above).
static napi_value window_lost(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "windowLost(view, offset, length)");
    return NULL;
  }
  uint8_t *addr;
  size_t len;
  if (target_range(env, argv, &addr, &len) != 0) return NULL;
  napi_value v;
  napi_get_boolean(env, range_state(addr, 0) == W_LOST, &v);
  return v;
}

// lostTotal(): ranges the SIGBUS handler has replaced since the process started.
static napi_value lost_total_count(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_double(env, (double)atomic_load(&lost_total), &v);
  return v;
}

// lockFd(fd): take flock(LOCK_EX|LOCK_NB) on an open descriptor: true when we hold it now,
// false when another open file (another process serving that window) holds it. The lock lasts
// until the descriptor is closed, also by the kernel when the process dies however it dies.
static napi_value lock_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "lockFd(fd)");
    return NULL;
  }
  int r;
  do r = flock(fd, LOCK_EX | LOCK_NB); while (r != 0 && errno == EINTR);
  if (r != 0 && errno != EWOULDBLOCK) return throw_errno(env, "flock", "");
  napi_value v;
  napi_get_boolean(env, r == 0, &v);
  return v;
}

// renameNoReplace(from, to): give the file at `from` the name `to` unless `to` exists, in one
// step (renameat2 RENAME_NOREPLACE): no moment with two names, so nothing is left behind however
// the process dies. Returns 0, or the errno (EEXIST: something is there; EINVAL / ENOSYS: this
// kernel or file system cannot, the caller falls back to link + unlink).
static napi_value rename_no_replace(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char from[4096], to[4096];
  size_t n;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], from, sizeof from, &n) != napi_ok || n >= sizeof from - 1 ||
      napi_get_value_string_utf8(env, argv[1], to, sizeof to, &n) != napi_ok || n >= sizeof to - 1) {
    napi_throw_type_error(env, NULL, "renameNoReplace(from, to)");
    return NULL;
  }
  int r = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
  napi_value v;
  napi_create_int32(env, r == 0 ? 0 : errno, &v);
  return v;
}

// listenUnix(path, backlog): a listening Unix stream socket bound at `path`, mode 0600, as a
// descriptor for net.Server.listen({ fd }). Node's own listen(path) makes libuv unlink the path
// when the server closes, whatever is there by then (another router's socket); a server given a
// descriptor leaves the path alone and its owner removes it only while it is still its own.
// Throws with the errno's name as `code` (EADDRINUSE when something is at the path).
static napi_value listen_unix(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t n;
  int32_t backlog = 511;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], sa.sun_path, sizeof sa.sun_path, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "listenUnix(path, backlog)");
    return NULL;
  }
  if (argc >= 2) napi_get_value_int32(env, argv[1], &backlog);
  const char *why = NULL;
  int fd = -1, err = 0;
  if (n >= sizeof sa.sun_path - 1) { err = ENAMETOOLONG; why = "bind"; }
  else if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) { err = errno; why = "socket"; }
  else if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { err = errno; why = "bind"; }
  else if (chmod(sa.sun_path, 0600) != 0 || listen(fd, backlog) != 0) {
    err = errno; why = "listen";
    unlink(sa.sun_path); // ours: bound a moment ago
  }
  if (why != NULL) {
    if (fd >= 0) close(fd);
    const char *code = err == EADDRINUSE ? "EADDRINUSE" : err == EACCES ? "EACCES" : err == ENOENT ? "ENOENT"
      : err == ENAMETOOLONG ? "ENAMETOOLONG" : err == ENOTDIR ? "ENOTDIR" : "EIO";
    char msg[4608];
    snprintf(msg, sizeof msg, "%s %s %s: %s", code, why, sa.sun_path, strerror(err));
    napi_throw_error(env, code, msg);
    return NULL;
  }
  napi_value v;
  napi_create_int32(env, fd, &v);
  return v;
}

static napi_value page_size(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_double(env, (double)sysconf(_SC_PAGESIZE), &v);
  return v;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    {"mapFile", NULL, map_file, NULL, NULL, NULL, napi_default, NULL},
    {"unmapFile", NULL, unmap_file, NULL, NULL, NULL, napi_default, NULL},
    {"pageSize", NULL, page_size, NULL, NULL, NULL, napi_default, NULL},
    {"windowLost", NULL, window_lost, NULL, NULL, NULL, napi_default, NULL},
    {"lostTotal", NULL, lost_total_count, NULL, NULL, NULL, napi_default, NULL},
    {"lockFd", NULL, lock_fd, NULL, NULL, NULL, napi_default, NULL},
    {"renameNoReplace", NULL, rename_no_replace, NULL, NULL, NULL, napi_default, NULL},
    {"listenUnix", NULL, listen_unix, NULL, NULL, NULL, napi_default, NULL},
  };
  install_handler();
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
