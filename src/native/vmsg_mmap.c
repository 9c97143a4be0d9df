// Maps a file (e.g. under /dev/shm) over a page-aligned range of a typed array's memory —
// in practice the shared WebAssembly.Memory — so the WASM hot path, JS views and worker
// threads read and write another process's ring in place, without a copy step.
// Node has no mmap; this is the whole addon (plain N-API, no dependencies).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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
  return NULL;
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
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
