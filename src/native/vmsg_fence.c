// The slow half of an asymmetric memory fence (Linux membarrier(2)), so ring publishers can
// store their index with a plain store instead of a sequentially consistent one. A wasm/JS
// seq-cst store is an x86 xchg: it drains the store buffer and measured +0.12-0.17 us per ring
// hop (docs/BENCHMARKS.md "rtt"). The doorbell protocol still needs store->load order on both
// sides (publisher: index then bell; sleeper: bell then index); the sleeper, which is about to
// block anyway, pays for both with one membarrier() that puts a full barrier into every running
// thread of this process (docs/ARCHITECTURE.md "Doorbell protocol").
#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <node_api.h>
#include <sys/syscall.h>
#include <unistd.h>

static long membarrier_call(int cmd) { return syscall(__NR_membarrier, cmd, 0, 0); }

// register(): true when this process can use MEMBARRIER_CMD_PRIVATE_EXPEDITED (registered now;
// idempotent, process-wide). False on kernels or sandboxes without it.
static napi_value register_fence(napi_env env, napi_callback_info info) {
  (void)info;
  long q = membarrier_call(MEMBARRIER_CMD_QUERY);
  bool ok = q >= 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
            membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
  napi_value v;
  napi_get_boolean(env, ok, &v);
  return v;
}

// fence(): a full memory barrier in every thread of this process that is running now (a thread
// that is not running passes one when it is scheduled). False if the call failed.
static napi_value fence(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_get_boolean(env, membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0, &v);
  return v;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    {"register", NULL, register_fence, NULL, NULL, NULL, napi_default, NULL},
    {"fence", NULL, fence, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
