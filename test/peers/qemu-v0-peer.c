// qemu-v0-peer: the device side of QEMU's legacy virtio-msg bus "linux-user" (docs/LEGACY.md
// "QEMU linux-user"), reproduced as an ordinary process for the tests: what QEMU does on the
// wire with a virtio-rng device behind it, quirks included.
//
//   - two SPSC queue files in --dir, queue-NAME-driver (driver -> device) and queue-NAME-device,
//     created 0600 without truncation (indices of an earlier run survive), 262,272 bytes each:
//     head i32 @0 (producer), tail i32 @0x40 (consumer), slot i at 0x80 + 64 i, 40 bytes used;
//   - we are the server of the doorbell socket; one byte 0xED per frame sent; on readable bytes
//     the whole incoming ring is drained; a full outgoing ring is waited out by spinning;
//   - the memory backend file (--mem, --mem-size) seen by the driver at --mem-offset;
//   - replies set the response bit; GET_FEATURES ignores its index (answers index 0, bits 0-63
//     as one u64); SET_FEATURES stores the whole u64 and answers; SET_DEVICE_STATUS, SET_VQUEUE
//     and RESET_VQUEUE get no reply; SET_VQUEUE enables the queue selected by the last
//     GET_VQUEUE, whatever index it carries; config accesses other than 1, 2 or 4 bytes abort;
//     a frame with the response bit set fails an assertion (exit); ids above 0x20 crash;
//   - iommu_platform=on: FEATURES_OK is refused unless ACCESS_PLATFORM (bit 33) was taken;
//   - every completed rng request gives two EVENT_USED frames.
//
// --mode selects a documented misbehaviour on top: no-set-reply (SET_FEATURES and SET_CONFIG
// get no reply either), no-response-bit (replies without the response bit), garbage-tail
// (EVENT_USED bytes after the index are garbage), hostile (every reply's bytes after its fields
// are garbage, one request in three is never answered, and after each reply comes an
// unsolicited garbage frame: any type and id, response bit or not). It prints one JSON line with its counters
// on SIGTERM/SIGINT or when --exit-after-ms passes.
// Build: cc -O2 -o qemu-v0-peer qemu-v0-peer.c
#include "legacy-v0-device.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_FILE_BYTES 262272
#define QUEUE_CAPACITY 4096
#define Q_HEAD 0x00
#define Q_TAIL 0x40
#define Q_SLOTS 0x80
#define Q_SLOT 64
#define DOORBELL_BYTE 0xED
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VQ_MAX_SIZE 1024
#define VENDOR_QEMU 0x554D4551u

static volatile sig_atomic_t stop_now;
static void on_signal(int s) { (void)s; stop_now = 1; }

typedef struct {
  uint8_t *base;
} spsc_t;

static int32_t *q_index(spsc_t *q, int at) { return (int32_t *)(q->base + at); }

static uint8_t *mem;
static uint64_t mem_size, mem_offset;
static int mode_no_set_reply, mode_no_response_bit, mode_garbage_tail, mode_hostile;
static uint32_t hostile_seed = 0x5eed1234;
static uint64_t unanswered, garbage_frames;
static spsc_t to_device, to_driver;
static int client = -1;
static uint64_t frames_in, frames_out, used_events, ignored_dev;
static uint32_t selected_vq;
static rng_device_t dev;

static void *translate(void *ctx, uint64_t addr, uint64_t len) {
  (void)ctx;
  if (addr < mem_offset || addr - mem_offset > mem_size || len > mem_size - (addr - mem_offset)) return NULL;
  return mem + (addr - mem_offset);
}

static void die(const char *what) {
  fprintf(stderr, "qemu-v0-peer: %s: %s\n", what, strerror(errno));
  exit(2);
}

static uint8_t *map_file(const char *path, uint64_t size, int create_mode) {
  int fd = open(path, O_RDWR | O_CREAT, create_mode);
  if (fd < 0) die(path);
  struct stat st;
  if (fstat(fd, &st) < 0) die(path);
  if ((uint64_t)st.st_size < size && ftruncate(fd, (off_t)size) < 0) die(path);
  uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die(path);
  close(fd);
  return p;
}

static void ring_doorbell(void) {
  if (client < 0) return;
  uint8_t b = DOORBELL_BYTE;
  if (write(client, &b, 1) < 0 && errno != EAGAIN) { close(client); client = -1; }
}

// Device -> driver: spin while the ring is full (QEMU does), then one doorbell byte per frame.
static void send_frame(const uint8_t *f) {
  for (;;) {
    int32_t head = __atomic_load_n(q_index(&to_driver, Q_HEAD), __ATOMIC_RELAXED);
    int32_t tail = __atomic_load_n(q_index(&to_driver, Q_TAIL), __ATOMIC_ACQUIRE);
    int32_t next = head + 1 == QUEUE_CAPACITY ? 0 : head + 1;
    if (next != tail) {
      uint8_t *slot = to_driver.base + Q_SLOTS + Q_SLOT * head;
      memcpy(slot, f, V0_FRAME);
      __atomic_store_n(q_index(&to_driver, Q_HEAD), next, __ATOMIC_RELEASE);
      frames_out++;
      ring_doorbell();
      return;
    }
    if (stop_now) return;
  }
}

static uint32_t hostile_rand(void) {
  hostile_seed ^= hostile_seed << 13;
  hostile_seed ^= hostile_seed >> 17;
  hostile_seed ^= hostile_seed << 5;
  return hostile_seed;
}

static void reply(uint8_t *f) {
  if (mode_hostile) {
    if (hostile_rand() % 3 == 0) { unanswered++; return; }
    // The longest v0 reply uses 16 bytes: everything after is the tail.
    for (int i = 16; i < V0_FRAME; i++) f[i] = (uint8_t)hostile_rand();
  }
  if (!mode_no_response_bit) f[0] |= V0_TYPE_RESPONSE;
  send_frame(f);
  if (mode_hostile) {
    uint8_t g[V0_FRAME];
    for (int i = 0; i < V0_FRAME; i++) g[i] = (uint8_t)hostile_rand();
    g[0] &= 3;
    g[2] = g[3] = 0;
    send_frame(g);
    garbage_frames++;
  }
}

static uint64_t config_read(uint32_t offset, uint8_t size) {
  (void)offset;
  (void)size;
  return 0; // virtio-rng has no config space: every byte reads 0
}

static void event_used(uint32_t q) {
  uint8_t f[V0_FRAME];
  memset(f, 0, sizeof f);
  f[1] = V0_EVENT_USED;
  v0_put32(f + 4, q);
  if (mode_garbage_tail) for (int i = 8; i < V0_FRAME; i++) f[i] = (uint8_t)(0xA5 ^ (i * 37));
  send_frame(f);
  used_events++;
}

static void handle(const uint8_t *in) {
  uint8_t f[V0_FRAME];
  memcpy(f, in, V0_FRAME);
  uint8_t id = f[1];
  if (f[0] & V0_TYPE_RESPONSE) {
    fprintf(stderr, "qemu-v0-peer: assertion failed: !(msg->type & VIRTIO_MSG_TYPE_RESPONSE) (id 0x%02x)\n", id);
    exit(134);
  }
  if (id > 0x20) {
    // QEMU indexes its handler table with the id: past its end it jumps through garbage.
    fprintf(stderr, "qemu-v0-peer: id 0x%02x read past the handler table\n", id);
    raise(SIGSEGV);
  }
  if (v0_get16(f + 2) != 0) { ignored_dev++; return; } // one device per bus: other dev_ids are consumed unanswered
  memset(f + 4, 0, V0_FRAME - 4);
  switch (id) {
  case V0_DEVICE_INFO:
    v0_put32(f + 4, 1);
    v0_put32(f + 8, VIRTIO_ID_ENTROPY);
    v0_put32(f + 12, VENDOR_QEMU);
    reply(f);
    break;
  case V0_GET_FEATURES:
    v0_put32(f + 4, 0); // the index asked is ignored
    v0_put64(f + 8, dev.offered);
    reply(f);
    break;
  case V0_SET_FEATURES:
    dev.driver_features = v0_get64(in + 8); // the whole u64, whatever the index
    v0_put32(f + 4, v0_get32(in + 4));
    v0_put64(f + 8, dev.driver_features);
    if (!mode_no_set_reply) reply(f);
    break;
  case V0_GET_CONFIG:
  case V0_SET_CONFIG: {
    uint8_t size = in[7];
    if (size != 1 && size != 2 && size != 4) {
      fprintf(stderr, "qemu-v0-peer: config access of %u bytes: abort\n", size);
      abort();
    }
    uint32_t offset = v0_get16(in + 4) | (uint32_t)in[6] << 16;
    memcpy(f + 4, in + 4, 4);
    v0_put64(f + 8, id == V0_GET_CONFIG ? config_read(offset, size) : v0_get64(in + 8));
    if (id == V0_GET_CONFIG || !mode_no_set_reply) reply(f);
    break;
  }
  case V0_GET_CONFIG_GEN:
    v0_put32(f + 4, 0);
    reply(f);
    break;
  case V0_GET_DEVICE_STATUS:
    v0_put32(f + 4, dev.status);
    reply(f);
    break;
  case V0_SET_DEVICE_STATUS: {
    uint32_t s = v0_get32(in + 4);
    if (s == 0) {
      uint64_t offered = dev.offered;
      rng_reset(&dev);
      dev.offered = offered;
    } else {
      // iommu_platform=on: the feature set is refused without ACCESS_PLATFORM.
      if ((s & STATUS_FEATURES_OK) && !(dev.driver_features >> VIRTIO_F_ACCESS_PLATFORM & 1)) s &= ~(uint32_t)STATUS_FEATURES_OK;
      dev.status = s;
    }
    break; // no reply
  }
  case V0_GET_VQUEUE: {
    uint32_t q = v0_get32(in + 4);
    selected_vq = q;
    v0_put32(f + 4, q);
    v0_put32(f + 8, q < RNG_QUEUES ? VQ_MAX_SIZE : 0);
    reply(f);
    break;
  }
  case V0_SET_VQUEUE: {
    // Enables the queue selected earlier, not the index carried.
    if (selected_vq < RNG_QUEUES) {
      vq_t *vq = &dev.vq[selected_vq];
      vq->size = v0_get32(in + 8);
      vq->desc = v0_get64(in + 12);
      vq->avail = v0_get64(in + 20);
      vq->used = v0_get64(in + 28);
      vq->ready = vq->size != 0 && vq->size <= VQ_MAX_SIZE;
      vq->last_avail = 0;
    }
    break; // no reply
  }
  case V0_RESET_VQUEUE:
    break; // ignored
  case V0_EVENT_AVAIL: {
    uint32_t q = v0_get32(in + 4);
    if (q >= RNG_QUEUES) break;
    int n = rng_serve(&dev, q);
    if (n < 0) fprintf(stderr, "qemu-v0-peer: queue %u: a ring or buffer address is outside guest memory\n", q);
    // One virtio_notify per request, and the bus sends two EVENT_USED for it.
    for (int i = 0; i < n; i++) { event_used(q); event_used(q); }
    break;
  }
  default:
    break; // CONNECT/DISCONNECT, soft-IOMMU and unknown ids below 0x20: nothing
  }
}

static void drain(void) {
  for (;;) {
    int32_t tail = __atomic_load_n(q_index(&to_device, Q_TAIL), __ATOMIC_RELAXED);
    int32_t head = __atomic_load_n(q_index(&to_device, Q_HEAD), __ATOMIC_ACQUIRE);
    if (tail == head || head < 0 || head >= QUEUE_CAPACITY || tail < 0 || tail >= QUEUE_CAPACITY) return;
    uint8_t f[V0_FRAME];
    memcpy(f, to_device.base + Q_SLOTS + Q_SLOT * tail, V0_FRAME);
    __atomic_store_n(q_index(&to_device, Q_TAIL), tail + 1 == QUEUE_CAPACITY ? 0 : tail + 1, __ATOMIC_RELEASE);
    frames_in++;
    handle(f);
  }
}

static void usage(void) {
  fprintf(stderr, "usage: qemu-v0-peer --dir DIR --name NAME --sock PATH --mem FILE --mem-size BYTES --mem-offset ADDR "
                  "[--mode normal|no-set-reply|no-response-bit|garbage-tail|hostile]... [--exit-after-ms MS]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *dir = NULL, *name = NULL, *sock = NULL, *mem_path = NULL;
  long exit_after_ms = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v == NULL) usage();
    if (!strcmp(a, "--dir")) dir = v;
    else if (!strcmp(a, "--name")) name = v;
    else if (!strcmp(a, "--sock")) sock = v;
    else if (!strcmp(a, "--mem")) mem_path = v;
    else if (!strcmp(a, "--mem-size")) mem_size = strtoull(v, NULL, 0);
    else if (!strcmp(a, "--mem-offset")) mem_offset = strtoull(v, NULL, 0);
    else if (!strcmp(a, "--exit-after-ms")) exit_after_ms = strtol(v, NULL, 0);
    else if (!strcmp(a, "--mode")) {
      if (!strcmp(v, "no-set-reply")) mode_no_set_reply = 1;
      else if (!strcmp(v, "no-response-bit")) mode_no_response_bit = 1;
      else if (!strcmp(v, "garbage-tail")) mode_garbage_tail = 1;
      else if (!strcmp(v, "hostile")) mode_hostile = 1;
      else if (strcmp(v, "normal")) usage();
    } else usage();
    i++;
  }
  if (!dir || !name || !sock || !mem_path || mem_size == 0) usage();
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);

  char path[4096];
  snprintf(path, sizeof path, "%s/queue-%s-driver", dir, name);
  to_device.base = map_file(path, QUEUE_FILE_BYTES, 0600);
  snprintf(path, sizeof path, "%s/queue-%s-device", dir, name);
  to_driver.base = map_file(path, QUEUE_FILE_BYTES, 0600);
  mem = map_file(mem_path, mem_size, 0600);
  dev.offered = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_ACCESS_PLATFORM;
  dev.translate = translate;

  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (lfd < 0) die("socket");
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(sock) >= sizeof sa.sun_path) { fprintf(stderr, "qemu-v0-peer: socket path too long\n"); return 2; }
  strcpy(sa.sun_path, sock);
  unlink(sock);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0) die(sock);

  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!stop_now) {
    if (exit_after_ms > 0) {
      struct timespec t;
      clock_gettime(CLOCK_MONOTONIC, &t);
      if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= exit_after_ms) break;
    }
    // wait=off server: one driver at a time; a new connection after the old one closed.
    struct pollfd p = {.fd = client >= 0 ? client : lfd, .events = POLLIN};
    int r = poll(&p, 1, 50);
    if (r <= 0) continue;
    if (client < 0) {
      client = accept(lfd, NULL, NULL);
      continue;
    }
    uint8_t kicks[128];
    ssize_t n = read(client, kicks, sizeof kicks);
    if (n <= 0) { close(client); client = -1; continue; }
    drain();
  }
  printf("{\"frames_in\":%llu,\"frames_out\":%llu,\"used_events\":%llu,\"requests_served\":%llu,\"bytes_served\":%llu,\"ignored_dev\":%llu,\"status\":%u,\"unanswered\":%llu,\"garbage_frames\":%llu}\n",
         (unsigned long long)frames_in, (unsigned long long)frames_out, (unsigned long long)used_events,
         (unsigned long long)dev.requests_served, (unsigned long long)dev.bytes_served, (unsigned long long)ignored_dev, dev.status,
         (unsigned long long)unanswered, (unsigned long long)garbage_frames);
  fflush(stdout);
  unlink(sock);
  return 0;
}
