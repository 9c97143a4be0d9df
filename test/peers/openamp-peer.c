// openamp-peer: the device side of OpenAMP's legacy virtio-msg bus "amp_static_queue" (the ST
// Linux + Zephyr demo; docs/LEGACY.md "OpenAMP amp_static_queue"), reproduced as an ordinary
// process for the tests: what the OpenAMP library does on the wire with a virtio-rng device
// behind it, quirks included.
//
//   - it starts first: zeroes the message region and writes the 56-byte queue definition at
//     offset 0 (magic 0x1A2B3C4D, version 1, 4 elements of 40 bytes per direction, device head
//     56 / data 64, driver head 224 / data 232) and its own head READY; it never initialises
//     the driver's head and waits for the driver to mark it READY;
//   - the stride quirk: slot k of a queue is at data + k * num_elts (4 bytes apart), so frames
//     overlap and only one per direction may be outstanding;
//   - it polls (no doorbell) and advances its r_idx once it has handled a frame;
//   - replies are the request edited in place: type echoed (no response bit), unwritten payload
//     bytes echoed; DEVICE_INFO leaves device_version as it came; GET_FEATURES answers index 0
//     only (one 32-bit word @8); GET_DEVICE_STATUS the last value written (0 resets nothing);
//     GET_VQUEUE any index, max_size 16. Everything else, another dev_id, and GET_FEATURES with
//     index != 0 are consumed without a reply. SET_FEATURES at status 0 replaces the offered word;
//   - ring and buffer addresses are CPU pointers: the file is mapped at --base (identity
//     mapping), so an address outside it faults; vq indices are not bounds-checked (EVENT_AVAIL
//     or SET_VQUEUE with a bad index crashes it);
//   - EVENT_USED carries the queue index and stack bytes after it (garbage tail).
//
// --mode clean-tail zero-fills the EVENT_USED tail instead. Prints one JSON line with its
// counters on SIGTERM/SIGINT or when --exit-after-ms passes.
// Build: cc -O2 -o openamp-peer openamp-peer.c
#include "legacy-v0-device.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define QDEF_MAGIC 0x1A2B3C4Du
#define QDEF_VERSION 1
#define ELT_SIZE 40
#define NUM_ELTS 4
#define DEV_HEAD 56
#define DEV_DATA 64
#define DRV_HEAD 224 // align8(DEV_DATA + NUM_ELTS * ELT_SIZE)
#define DRV_DATA 232
#define HEAD_READY 1
#define VQ_MAX_SIZE 16
#define VENDOR_OPENAMP 0x4D41504Fu

static volatile sig_atomic_t stop_now;
static void on_signal(int s) { (void)s; stop_now = 1; }

// Queue head: status u16 @0, reserved u16 @2, w_idx u16 @4 (producer into own data), r_idx u16 @6 (consumer of the peer's).
typedef struct {
  volatile uint16_t status, reserved, w_idx, r_idx;
} qhead_t;

static uint8_t *shm;
static uint64_t shm_size;
static qhead_t *dev_head, *drv_head;
static int mode_clean_tail;
static uint16_t dev_id_registered;
static uint64_t frames_in, frames_out, used_events, unanswered;
static rng_device_t dev;

// Identity mapping: the driver's address is the pointer. Nothing is checked (as in OpenAMP).
static void *translate(void *ctx, uint64_t addr, uint64_t len) {
  (void)ctx;
  (void)len;
  return (void *)(uintptr_t)addr;
}

static void die(const char *what) {
  fprintf(stderr, "openamp-peer: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void pause_briefly(void) {
  struct timespec ts = {0, 20000}; // 20 us: polling, but without owning a core
  nanosleep(&ts, NULL);
}

// Device -> driver at the quirky stride; waits while the queue is full (OpenAMP returns EBUSY and retries).
static void send_frame(const uint8_t *f) {
  for (;;) {
    uint16_t w = dev_head->w_idx;
    uint16_t next = (uint16_t)((w + 1) % NUM_ELTS);
    if (next != __atomic_load_n(&drv_head->r_idx, __ATOMIC_ACQUIRE)) {
      memcpy(shm + DEV_DATA + (uint32_t)w * NUM_ELTS, f, V0_FRAME);
      __atomic_store_n(&dev_head->w_idx, next, __ATOMIC_RELEASE);
      frames_out++;
      return;
    }
    if (stop_now) return;
    pause_briefly();
  }
}

static void event_used(uint32_t q) {
  uint8_t f[V0_FRAME];
  // The frame is built on the stack with only the header and the index written: the rest is
  // whatever the stack held (made visible here on purpose).
  for (int i = 0; i < V0_FRAME; i++) f[i] = mode_clean_tail ? 0 : (uint8_t)(0x5A + 13 * i + (uint8_t)used_events);
  f[0] = 0;
  f[1] = V0_EVENT_USED;
  v0_put16(f + 2, dev_id_registered);
  v0_put32(f + 4, q);
  send_frame(f);
  used_events++;
}

static void handle(uint8_t *f) {
  uint8_t id = f[1];
  if (v0_get16(f + 2) != dev_id_registered) { unanswered++; return; }
  switch (id) {
  case V0_DEVICE_INFO:
    v0_put32(f + 8, VIRTIO_ID_ENTROPY); // device_version @4 is left as it came
    v0_put32(f + 12, VENDOR_OPENAMP);
    send_frame(f);
    return;
  case V0_GET_FEATURES:
    if (v0_get32(f + 4) != 0) break; // only 32 feature bits: other words are never answered
    v0_put32(f + 8, (uint32_t)dev.offered); // bytes after it stay the request's
    send_frame(f);
    return;
  case V0_SET_FEATURES:
    dev.driver_features = v0_get32(f + 8);
    if (dev.status == 0) dev.offered = dev.driver_features; // replaces the offered word
    break;
  case V0_GET_DEVICE_STATUS:
    v0_put32(f + 4, dev.status);
    send_frame(f);
    return;
  case V0_SET_DEVICE_STATUS:
    dev.status = v0_get32(f + 4); // 0 resets nothing
    break;
  case V0_GET_VQUEUE:
    v0_put32(f + 8, VQ_MAX_SIZE); // any index
    send_frame(f);
    return;
  case V0_SET_VQUEUE: {
    uint32_t q = v0_get32(f + 4);
    if (q >= RNG_QUEUES) {
      fprintf(stderr, "openamp-peer: SET_VQUEUE index %u writes past the queue array\n", q);
      raise(SIGSEGV);
    }
    vq_t *vq = &dev.vq[q];
    vq->size = v0_get32(f + 12);
    vq->desc = v0_get64(f + 16);
    vq->avail = v0_get64(f + 24);
    vq->used = v0_get64(f + 32);
    vq->ready = vq->size != 0 && vq->size <= VQ_MAX_SIZE;
    vq->last_avail = 0;
    break;
  }
  case V0_EVENT_AVAIL: {
    uint32_t q = v0_get32(f + 4);
    if (q >= RNG_QUEUES) {
      fprintf(stderr, "openamp-peer: EVENT_AVAIL index %u reads past the queue array\n", q);
      raise(SIGSEGV);
    }
    int n = rng_serve(&dev, q); // an address outside the mapping faults here, as in OpenAMP
    if (n > 0) event_used(q);
    return;
  }
  default:
    break;
  }
  unanswered++; // consumed without a reply
}

static void usage(void) {
  fprintf(stderr, "usage: openamp-peer --file PATH --base ADDR [--size BYTES] [--msg-size BYTES] [--dev-id N] [--mode normal|clean-tail] [--exit-after-ms MS]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *path = NULL;
  uint64_t base = 0, msg_size = 4096;
  long exit_after_ms = 0;
  shm_size = 1 << 20;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v == NULL) usage();
    if (!strcmp(a, "--file")) path = v;
    else if (!strcmp(a, "--base")) base = strtoull(v, NULL, 0);
    else if (!strcmp(a, "--size")) shm_size = strtoull(v, NULL, 0);
    else if (!strcmp(a, "--msg-size")) msg_size = strtoull(v, NULL, 0);
    else if (!strcmp(a, "--dev-id")) dev_id_registered = (uint16_t)strtoul(v, NULL, 0);
    else if (!strcmp(a, "--exit-after-ms")) exit_after_ms = strtol(v, NULL, 0);
    else if (!strcmp(a, "--mode")) {
      if (!strcmp(v, "clean-tail")) mode_clean_tail = 1;
      else if (strcmp(v, "normal")) usage();
    } else usage();
    i++;
  }
  if (path == NULL || base == 0 || msg_size < DRV_DATA + NUM_ELTS * ELT_SIZE || msg_size >= shm_size) usage();
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  int fd = open(path, O_RDWR | O_CREAT, 0600);
  if (fd < 0) die(path);
  if (ftruncate(fd, (off_t)shm_size) < 0) die(path);
  // The driver's addresses are used as pointers, so the file must sit exactly at --base.
  shm = mmap((void *)(uintptr_t)base, shm_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
  if (shm == MAP_FAILED || (uintptr_t)shm != base) die("mmap at --base");
  close(fd);

  // Start first: zero the message region, then the queue definition, then our head READY.
  memset(shm, 0, msg_size);
  dev_head = (qhead_t *)(shm + DEV_HEAD);
  drv_head = (qhead_t *)(shm + DRV_HEAD);
  v0_put32(shm + 4, QDEF_VERSION);
  v0_put32(shm + 8, 0);
  v0_put32(shm + 12, 0);
  v0_put16(shm + 16, ELT_SIZE);
  v0_put16(shm + 18, NUM_ELTS);
  v0_put16(shm + 20, ELT_SIZE);
  v0_put16(shm + 22, NUM_ELTS);
  v0_put64(shm + 24, DRV_HEAD);
  v0_put64(shm + 32, DRV_DATA);
  v0_put64(shm + 40, DEV_HEAD);
  v0_put64(shm + 48, DEV_DATA);
  __atomic_store_n((uint32_t *)shm, QDEF_MAGIC, __ATOMIC_RELEASE);
  __atomic_store_n(&dev_head->status, HEAD_READY, __ATOMIC_RELEASE);
  dev.offered = 0; // virtio-rng has no device features; VERSION_1 does not exist in 32 bits
  dev.translate = translate;

  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  unsigned idle = 0;
  while (!stop_now) {
    if (exit_after_ms > 0 && (idle & 255) == 0) {
      struct timespec t;
      clock_gettime(CLOCK_MONOTONIC, &t);
      if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= exit_after_ms) break;
    }
    if (!(__atomic_load_n(&drv_head->status, __ATOMIC_ACQUIRE) & HEAD_READY)) { idle++; pause_briefly(); continue; }
    uint16_t r = dev_head->r_idx;
    if (r == __atomic_load_n(&drv_head->w_idx, __ATOMIC_ACQUIRE)) { idle++; pause_briefly(); continue; }
    idle = 0;
    uint8_t f[V0_FRAME];
    memcpy(f, shm + DRV_DATA + (uint32_t)r * NUM_ELTS, V0_FRAME);
    frames_in++;
    handle(f);
    __atomic_store_n(&dev_head->r_idx, (uint16_t)((r + 1) % NUM_ELTS), __ATOMIC_RELEASE);
  }
  printf("{\"frames_in\":%llu,\"frames_out\":%llu,\"used_events\":%llu,\"requests_served\":%llu,\"bytes_served\":%llu,\"unanswered\":%llu,\"status\":%u}\n",
         (unsigned long long)frames_in, (unsigned long long)frames_out, (unsigned long long)used_events,
         (unsigned long long)dev.requests_served, (unsigned long long)dev.bytes_served, (unsigned long long)unanswered, dev.status);
  fflush(stdout);
  return 0;
}
