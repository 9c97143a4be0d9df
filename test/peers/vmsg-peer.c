// vmsg-peer: the project's own external peer for the shared-memory buses (docs/BUSES.md §2 vmamp,
// §3 SPSC v1), a separate OS process written independently of the TypeScript/WASM code, as a
// kernel driver or a QEMU device model would be. It plays either side of a window:
//
//   --role device   the device side: builds the window (vmamp layout, magic last; SPSC rings
//                   zeroed), listens on the doorbell socket, serves --devices: answers every
//                   transport request (same msg_id, token echoed, status 0x0f), turns each
//                   EVENT_AVAIL into an EVENT_USED, answers GET_DEVICES and PING.
//   --role driver   the driver side: validates the window, connects the doorbell socket, optionally
//                   discovers devices (GET_DEVICES), then sends --count frames to --dev with at
//                   most --outstanding in flight (--mode req|avail|ping), checks every answer
//                   (response bit, msg_id, dev_num, token, order) and prints one JSON line.
//
// Both roles answer PINGs from the other side (keep-alives) and run the vmamp queue-head
// bring-up (INIT → magic → READY → RUN). Without --sock both sides busy-poll; with it a side
// writes one byte after publishing a batch and a woken side drains all bytes, then the ring.
//
// --sock-order says when the doorbell socket comes, as independent peers differ:
//   normal  device: listen before the window has its name, accept once it is built, then the
//           bring-up; driver: connect once the layout is valid, then the bring-up;
//   early   device: listen and block in accept before the window even exists (a QEMU chardev
//           server that waits for its client); driver: connect before looking for the window;
//   late    the bring-up first (vmamp: both queue heads READY/RUN), then serve by polling the
//           rings; after --sock-after N frames handled, the device starts listening and
//           accepts, the driver connects (a kernel driver that waits for the device's queue
//           head before it sets up interrupts); until then the peer is never rung;
//   never   the socket is never used: this side polls, whatever the other side does.
// Build: cc -O2 -o vmsg-peer vmsg-peer.c   (Linux, little-endian).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

// ---------------------------------------------------------------- virtio-msg frame
#define HDR_SIZE 8
#define TYPE_RESPONSE 0x01
#define TYPE_BUS 0x02
#define ID_EVENT_BIT 0x40
#define B_GET_DEVICES 0x02
#define B_PING 0x03
#define B_EVENT_DEVICE 0x40
#define T_GET_DEVICE_STATUS 0x07
#define T_EVENT_AVAIL 0x41
#define T_EVENT_USED 0x42
#define SLOT 64 // vmamp element and SPSC slot size: the largest frame on these buses

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void header(uint8_t *f, uint8_t type, uint8_t id, uint16_t dev, uint16_t token, uint16_t size) {
  f[0] = type; f[1] = id; put16(f + 2, dev); put16(f + 4, token); put16(f + 6, size);
}

// ---------------------------------------------------------------- one ring direction
// Producer/consumer over either layout: vmamp (u16 indices in the two queue heads) or SPSC
// (i32 indices in the ring's own region). Indices wrap by compare: capacities are not powers of two.
typedef struct {
  uint8_t *slots;
  void *pub;  // index this side publishes
  void *peer; // index the peer publishes
  uint32_t cap, local, cached;
  int idx16;
} ring_t;

static uint32_t load_peer(ring_t *r) {
  uint32_t v = r->idx16 ? __atomic_load_n((uint16_t *)r->peer, __ATOMIC_ACQUIRE) : (uint32_t)__atomic_load_n((int32_t *)r->peer, __ATOMIC_ACQUIRE);
  return v < r->cap ? v : UINT32_MAX; // a hostile or torn index is "no progress"
}
static void publish(ring_t *r) {
  if (r->idx16) __atomic_store_n((uint16_t *)r->pub, (uint16_t)r->local, __ATOMIC_RELEASE);
  else __atomic_store_n((int32_t *)r->pub, (int32_t)r->local, __ATOMIC_RELEASE);
}
static uint32_t next_idx(ring_t *r, uint32_t i) { return i + 1 == r->cap ? 0 : i + 1; }
// Slot to fill, or NULL when full (the consumer's index is re-read only when the ring looks full).
static uint8_t *tx_reserve(ring_t *r) {
  uint32_t n = next_idx(r, r->local);
  if (n == r->cached) {
    uint32_t p = load_peer(r);
    if (p == UINT32_MAX || n == p) return NULL;
    r->cached = p;
  }
  return r->slots + (size_t)r->local * SLOT;
}
static void tx_commit(ring_t *r) { r->local = next_idx(r, r->local); } // published by publish()
static uint8_t *rx_peek(ring_t *r) {
  if (r->local == r->cached) {
    uint32_t p = load_peer(r);
    if (p == UINT32_MAX || p == r->local) return NULL;
    r->cached = p;
  }
  return r->slots + (size_t)r->local * SLOT;
}
static void rx_release(ring_t *r) { r->local = next_idx(r, r->local); }

// ---------------------------------------------------------------- vmamp window (docs/BUSES.md §2.1)
#define LO_MAGIC 0x4C4F
#define QH_MAGIC 0x514F
enum { ST_INIT = 0, ST_READY = 1, ST_RUN = 2, ST_SHUTDOWN = 3, ST_PEER_DEAD = 4 };
#define ST_MASK 0x1f
// Descriptor offsets
#define D_MAGIC 0x00
#define D_LENGTH 0x02
#define D_VERSION 0x04
#define D_FEATURES 0x06
#define D_NUM_NOTIF 0x08
#define D_NUM_ELEMS 0x0A
#define D_ELEM_SIZE 0x0C
#define D_RESERVED 0x0E
#define D_DEV_QH 0x18
#define D_DEV_EL 0x20
#define D_DRV_QH 0x30
#define D_DRV_EL 0x38
#define QH_MAGIC_AT 0
#define QH_STATUS_AT 2
#define QH_TAIL_AT 4 // producer index into my own elements
#define QH_HEAD_AT 6 // consumer index into the peer's elements

static uint8_t *win;
static size_t win_size, map_size;
static int is_vmamp, is_device;
static uint8_t *my_qh, *peer_qh;
static ring_t tx, rx;
static int bell_fd = -1, listen_fd = -1;
enum { SO_NORMAL, SO_EARLY, SO_LATE, SO_NEVER };
static int sock_order = SO_NORMAL;
static const char *sock_path; // set while a late doorbell is still to come
static long sock_after;       // frames handled before a late doorbell
static const char *sock_path_given; // --sock as given (removed at exit if we listened)
static ino_t sock_ino; // the socket file we bound: removed at exit only while the path still names it
static volatile sig_atomic_t stop_flag;
static long wait_ms = 10000;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static void die(const char *fmt, const char *arg) {
  fprintf(stderr, "vmsg-peer: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  exit(2);
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }
static uint16_t qh_state(uint8_t *qh) { return __atomic_load_n((uint16_t *)(qh + QH_STATUS_AT), __ATOMIC_ACQUIRE) & ST_MASK; }
static int qh_has_magic(uint8_t *qh) { return __atomic_load_n((uint16_t *)(qh + QH_MAGIC_AT), __ATOMIC_ACQUIRE) == QH_MAGIC; }
static void set_state(uint16_t s) { __atomic_store_n((uint16_t *)(my_qh + QH_STATUS_AT), s, __ATOMIC_RELEASE); }

// The device side's build (as QEMU vmamp_shmem_dev_init): descriptor at 0, queue heads at 64/72,
// device elements at 80, driver elements after them; the whole window zeroed first, magic last.
static void vmamp_build(void) {
  uint32_t n = (uint32_t)((win_size - 80) / (2 * SLOT));
  if (win_size < 80 || n < 2) die("window of %s bytes is too small for vmamp (needs 336)", "given");
  if (n > 0xffff) n = 0xffff;
  __atomic_store_n((uint16_t *)(win + D_MAGIC), 0, __ATOMIC_RELEASE);
  memset(win + 2, 0, win_size - 2);
  put16(win + D_LENGTH, 64);
  put16(win + D_VERSION, 1);
  put16(win + D_NUM_ELEMS, (uint16_t)n);
  put16(win + D_ELEM_SIZE, SLOT);
  put32(win + D_DEV_QH, 64);
  put32(win + D_DEV_EL, 80);
  put32(win + D_DRV_QH, 72);
  put32(win + D_DRV_EL, 80 + n * SLOT);
  __atomic_store_n((uint16_t *)(win + D_MAGIC), LO_MAGIC, __ATOMIC_RELEASE);
}

// The driver side's parse: wait for the magic, then check what this peer relies on.
static void vmamp_parse(void) {
  double until = now_s() + (double)wait_ms / 1000;
  while (__atomic_load_n((uint16_t *)(win + D_MAGIC), __ATOMIC_ACQUIRE) != LO_MAGIC) {
    if (now_s() > until || stop_flag) die("no vmamp layout appeared (%s)", "timeout");
    usleep(1000);
  }
  uint32_t n = get16(win + D_NUM_ELEMS), size = get16(win + D_ELEM_SIZE);
  uint64_t devqh = get64(win + D_DEV_QH), drvqh = get64(win + D_DRV_QH), devel = get64(win + D_DEV_EL), drvel = get64(win + D_DRV_EL);
  if (get16(win + D_LENGTH) != 64 || get16(win + D_VERSION) != 1 || size != SLOT || n < 2 ||
      devqh + 8 > win_size || drvqh + 8 > win_size || devel + (uint64_t)n * SLOT > win_size || drvel + (uint64_t)n * SLOT > win_size) {
    die("vmamp layout rejected (%s)", "bad descriptor");
  }
  memset(win + drvel, 0, (size_t)n * SLOT);
}

static void vmamp_rings(void) {
  uint32_t n = get16(win + D_NUM_ELEMS);
  uint8_t *devqh = win + get64(win + D_DEV_QH), *drvqh = win + get64(win + D_DRV_QH);
  uint8_t *devel = win + get64(win + D_DEV_EL), *drvel = win + get64(win + D_DRV_EL);
  my_qh = is_device ? devqh : drvqh;
  peer_qh = is_device ? drvqh : devqh;
  // tx: my tail @myqh+4 into my own elements, peer's head @peerqh+6; rx the reverse.
  tx = (ring_t){ is_device ? devel : drvel, my_qh + QH_TAIL_AT, peer_qh + QH_HEAD_AT, n, 0, 0, 1 };
  rx = (ring_t){ is_device ? drvel : devel, my_qh + QH_HEAD_AT, peer_qh + QH_TAIL_AT, n, 0, 0, 1 };
}

// Queue bring-up (§2.2): status INIT then magic; wait for the peer's magic; zero my indices,
// READY; wait for the peer READY or RUN; RUN.
static void vmamp_bring_up(void) {
  double until = now_s() + (double)wait_ms / 1000;
  set_state(ST_INIT);
  __atomic_store_n((uint16_t *)(my_qh + QH_MAGIC_AT), QH_MAGIC, __ATOMIC_RELEASE);
  while (!qh_has_magic(peer_qh) || qh_state(peer_qh) > ST_RUN) {
    if (now_s() > until || stop_flag) die("vmamp peer did not initialise its queue head (%s)", "timeout");
    usleep(200);
  }
  __atomic_store_n((uint16_t *)(my_qh + QH_HEAD_AT), 0, __ATOMIC_RELEASE);
  __atomic_store_n((uint16_t *)(my_qh + QH_TAIL_AT), 0, __ATOMIC_RELEASE);
  set_state(ST_READY);
  for (;;) {
    uint16_t s = qh_state(peer_qh);
    if (qh_has_magic(peer_qh) && (s == ST_READY || s == ST_RUN)) break;
    if (now_s() > until || stop_flag) die("vmamp peer never became READY (%s)", "timeout");
    usleep(200);
  }
  set_state(ST_RUN);
}

// 1 while the peer is alive as far as the window says.
static int vmamp_peer_ok(void) {
  if (!is_vmamp) return 1;
  uint16_t s = qh_state(peer_qh);
  return qh_has_magic(peer_qh) && (s == ST_READY || s == ST_RUN);
}

// ---------------------------------------------------------------- SPSC pair (docs/BUSES.md §3.1)
// driver→device ring at window+0, device→driver ring at window+region; region = half the
// window in whole 64-byte lines (8 KiB → 2 × 4 KiB, as QEMU's AMP-PCI v1 BAR); capacity from
// the region size: C = floor((region - 192) / 64) + 1.
#define SPSC_HEAD 0x00 // producer index
#define SPSC_TAIL 0x40 // consumer index
#define SPSC_SLOTS 0x80
static void spsc_rings(void) {
  size_t region = win_size / 2 / 64 * 64;
  if (region < SPSC_SLOTS + 2 * SLOT) die("window of %s bytes is too small for an SPSC pair", "given");
  uint32_t cap = (uint32_t)((region - 192) / SLOT + 1);
  uint8_t *d2v = win, *v2d = win + region;
  if (is_device) memset(win, 0, win_size);
  uint8_t *txr = is_device ? v2d : d2v, *rxr = is_device ? d2v : v2d;
  tx = (ring_t){ txr + SPSC_SLOTS, txr + SPSC_HEAD, txr + SPSC_TAIL, cap, 0, 0, 0 };
  rx = (ring_t){ rxr + SPSC_SLOTS, rxr + SPSC_TAIL, rxr + SPSC_HEAD, cap, 0, 0, 0 };
  // A ring another run left behind starts where its indices are.
  tx.local = tx.cached = (uint32_t)__atomic_load_n((int32_t *)tx.pub, __ATOMIC_ACQUIRE) % cap;
  rx.local = rx.cached = (uint32_t)__atomic_load_n((int32_t *)rx.pub, __ATOMIC_ACQUIRE) % cap;
}

// ---------------------------------------------------------------- publishing the window
// Give the built window its name without replacing anything another builder put there
// meanwhile: renameat2(RENAME_NOREPLACE) in one step; link + unlink where the kernel or file
// system cannot (EINVAL / ENOSYS), which also fails on an existing name.
static void publish_window(const char *building, const char *path) {
  if (renameat2(AT_FDCWD, building, AT_FDCWD, path, RENAME_NOREPLACE) == 0) return;
  if (errno == EINVAL || errno == ENOSYS) {
    if (link(building, path) == 0) { unlink(building); return; }
  }
  unlink(building);
  die("cannot give the window its name %s (another builder published one there?)", path);
}

// ---------------------------------------------------------------- doorbell socket
static void bell_open(const char *path) {
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof a.sun_path) die("socket path too long: %s", path);
  strcpy(a.sun_path, path);
  double until = now_s() + (double)wait_ms / 1000;
  if (is_device) {
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(path);
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(listen_fd, 1) != 0) die("cannot listen on %s", path);
    struct stat st;
    if (stat(path, &st) == 0) sock_ino = st.st_ino;
    fprintf(stderr, "vmsg-peer: listening on %s\n", path);
    return; // accepted after the window is ready (bell_accept)
  }
  for (;;) {
    bell_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(bell_fd, (struct sockaddr *)&a, sizeof a) == 0) break;
    close(bell_fd);
    if (now_s() > until || stop_flag) die("cannot connect the doorbell socket %s", path);
    usleep(2000);
  }
  fcntl(bell_fd, F_SETFL, O_NONBLOCK);
}
static void bell_accept(void) {
  if (listen_fd < 0) return;
  struct pollfd p = { listen_fd, POLLIN, 0 };
  if (poll(&p, 1, (int)wait_ms) != 1) die("no driver connected the doorbell socket (%s)", "timeout");
  bell_fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (bell_fd < 0) die("accept failed: %s", strerror(errno));
}
static long bells_rung, bells_heard;
static void bell_ring(void) {
  if (bell_fd < 0) return;
  char b = 1;
  if (write(bell_fd, &b, 1) == 1) bells_rung++;
}
// Sleep until the peer rings (or `ms` pass), then drain every byte. -1 = the peer closed it.
static int bell_wait(int ms) {
  struct pollfd p = { bell_fd, POLLIN, 0 };
  if (poll(&p, 1, ms) <= 0) return 0;
  char buf[256];
  for (;;) {
    ssize_t n = read(bell_fd, buf, sizeof buf);
    if (n > 0) { bells_heard++; continue; }
    if (n == 0) return -1;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
  }
}

// --sock-order late: once `progress` frames were handled, listen (device) and accept without
// blocking, or connect without blocking (driver); looked at most every millisecond. Once
// connected, one byte tells the other side to look at the rings: it may have been waiting for
// us on its socket while we were not there to ring it.
static double late_next_try;
static void bell_late(long progress) {
  if (sock_path == NULL || progress < sock_after) return;
  double t = now_s();
  if (t < late_next_try) return;
  late_next_try = t + 0.001;
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  if (strlen(sock_path) >= sizeof a.sun_path) die("socket path too long: %s", sock_path);
  strcpy(a.sun_path, sock_path);
  if (is_device) {
    if (listen_fd < 0) {
      listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      unlink(sock_path);
      if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(listen_fd, 1) != 0) die("cannot listen on %s", sock_path);
      struct stat st;
      if (stat(sock_path, &st) == 0) sock_ino = st.st_ino;
    }
    bell_fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (bell_fd < 0) return; // nobody yet
  } else {
    bell_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (connect(bell_fd, (struct sockaddr *)&a, sizeof a) != 0) {
      close(bell_fd);
      bell_fd = -1;
      return; // nobody listens yet (or the backlog is full): later
    }
  }
  fprintf(stderr, "vmsg-peer: doorbell socket connected late, after %ld frames\n", progress);
  sock_path = NULL;
  bell_ring();
}

// Nothing to do: sleep on the doorbell, or (busy-poll) spin, yielding now and then so a
// shared machine keeps moving. Returns -1 when the peer is gone. The doorbell wait is bounded
// (--bell-timeout-ms, default 2): a side whose send ring is full is not rung when room appears
// (only published frames ring), so it looks again after the timeout.
static int bell_timeout_ms = 2;
static int last_wait_timed_out;
static int idle_wait(long *spins) {
  if (!vmamp_peer_ok()) return -1;
  if (bell_fd >= 0) {
    int r = bell_wait(bell_timeout_ms);
    last_wait_timed_out = r == 0;
    return r < 0 ? -1 : 0;
  }
  if ((++*spins & 1023) == 0) sched_yield();
  return 0;
}

// ---------------------------------------------------------------- frames both roles answer
// A PING from the other side: echo data and token. Returns 1 if handled (0 = tx full, retry).
static int answer_ping(const uint8_t *f) {
  uint8_t *o = tx_reserve(&tx);
  if (o == NULL) return 0;
  header(o, TYPE_BUS | TYPE_RESPONSE, B_PING, 0, get16(f + 4), 12);
  memcpy(o + 8, f + 8, 4);
  tx_commit(&tx);
  return 1;
}

// ---------------------------------------------------------------- device role
static uint8_t served[8192]; // bitmap of device numbers this device side serves
// Transport requests answered, the most found in one look at the ring (all in flight at once:
// each is answered before the next look), and the range of their tokens: what a bus model in
// front of this device shows (e.g. one request at a time, token 1).
static long dev_requests, dev_batch, dev_batch_max;
static long dev_token_min = 65536, dev_token_max = -1;

static int device_answer(const uint8_t *f) {
  uint8_t type = f[0], id = f[1];
  uint16_t dev = get16(f + 2), token = get16(f + 4), size = get16(f + 6);
  if (size < HDR_SIZE || size > SLOT) return 1; // malformed: dropped
  if (type & TYPE_BUS) {
    if (type & TYPE_RESPONSE) return 1;
    if (id == B_PING && size == 12) return answer_ping(f);
    if (id == B_GET_DEVICES && size == 12) {
      uint32_t off = get16(f + 8), cnt = get16(f + 10);
      if ((off & 7) || (cnt & 7)) return 1; // the responder must enforce alignment: dropped
      if (cnt > (SLOT - 14) * 8) cnt = (SLOT - 14) * 8;
      if (off + cnt > 65536) cnt = 65536 - off;
      uint8_t *o = tx_reserve(&tx);
      if (o == NULL) return 0;
      uint32_t next = 0;
      for (uint32_t d = off + cnt; d < 65536; d++) {
        if (served[d >> 3] & (1 << (d & 7))) { next = d & ~7u; break; }
      }
      header(o, TYPE_BUS | TYPE_RESPONSE, B_GET_DEVICES, 0, token, (uint16_t)(14 + cnt / 8));
      put16(o + 8, (uint16_t)off);
      put16(o + 10, (uint16_t)cnt);
      put16(o + 12, (uint16_t)next);
      memcpy(o + 14, served + off / 8, cnt / 8);
      tx_commit(&tx);
    }
    return 1;
  }
  if ((type & TYPE_RESPONSE) || !(served[dev >> 3] & (1 << (dev & 7)))) return 1;
  if (id & ID_EVENT_BIT) {
    if (id != T_EVENT_AVAIL || size < 16) return 1;
    uint8_t *o = tx_reserve(&tx);
    if (o == NULL) return 0;
    header(o, 0, T_EVENT_USED, dev, 0, 12);
    memcpy(o + 8, f + 8, 4); // vq_index
    tx_commit(&tx);
    return 1;
  }
  uint8_t *o = tx_reserve(&tx);
  if (o == NULL) return 0;
  dev_requests++;
  if (++dev_batch > dev_batch_max) dev_batch_max = dev_batch;
  if (token < dev_token_min) dev_token_min = token;
  if (token > dev_token_max) dev_token_max = token;
  header(o, TYPE_RESPONSE, id, dev, token, 12); // the device copies the token it received
  put32(o + 8, 0x0f);
  tx_commit(&tx);
  return 1;
}

static int run_device(double duration) {
  double end = duration > 0 ? now_s() + duration : 0;
  long handled = 0, spins = 0;
  // Frames found after a doorbell wait timed out: a missed wake-up. Not counted when we slept
  // with our ring to the driver full: room appearing rings nobody (the timeout is the retry).
  long timeouts_with_work = 0;
  int status = 0, tx_full = 0;
  last_wait_timed_out = 0;
  while (!stop_flag && (end == 0 || now_s() < end)) {
    int did = 0, after_timeout = last_wait_timed_out && !tx_full;
    last_wait_timed_out = 0;
    tx_full = 0;
    bell_late(handled);
    dev_batch = 0;
    for (uint8_t *f; (f = rx_peek(&rx)) != NULL;) {
      if (!device_answer(f)) { tx_full = 1; break; } // our ring to the driver is full: the rest waits
      rx_release(&rx);
      did++;
    }
    if (did) {
      publish(&rx);
      publish(&tx);
      bell_ring(); // one byte per batch
      handled += did;
      if (after_timeout) timeouts_with_work++;
      continue;
    }
    if (idle_wait(&spins) < 0) { status = 3; break; }
  }
  if (is_vmamp && status == 0) set_state(ST_SHUTDOWN);
  fprintf(stderr, "vmsg-peer device: handled %ld frames, rang %ld, heard %ld, timeouts_with_work %ld, requests %ld, requests_at_once %ld, tokens %ld..%ld%s\n",
          handled, bells_rung, bells_heard, timeouts_with_work, dev_requests, dev_batch_max, dev_requests ? dev_token_min : 0, dev_requests ? dev_token_max : 0,
          status ? " (peer gone)" : "");
  return status;
}

// ---------------------------------------------------------------- driver role
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct { uint16_t token; uint8_t id; uint32_t data; double t0; } pending_t;

static int run_driver(const char *mode, long count, long outstanding, uint16_t dev, int discover, long idle_ms, double seconds) {
  long sent = 0, received = 0, errors = 0, order = 0, spins = 0;
  long timeouts_with_work = 0; // answers found after a doorbell wait timed out: a missed wake-up
  pending_t *q = calloc((size_t)outstanding, sizeof *q);
  long lat_cap = count < 20000000 ? (count > 0 ? count : 1) : 20000000; // latencies kept for the percentiles
  double *lat = calloc((size_t)lat_cap, sizeof *lat);
  long qh = 0, qn = 0; // FIFO of requests in flight
  int m = strcmp(mode, "ping") == 0 ? 1 : strcmp(mode, "avail") == 0 ? 2 : 0;
  char devices[4096] = "";
  size_t dlen = 0;
  if (discover) { // GET_DEVICES walk, before the load
    uint32_t off = 0;
    double until = now_s() + (double)wait_ms / 1000;
    for (int more = 1; more && !stop_flag;) {
      uint8_t *o;
      while ((o = tx_reserve(&tx)) == NULL) if (now_s() > until) die("discovery: %s", "tx full");
      header(o, TYPE_BUS, B_GET_DEVICES, 0, 1, 12); // token 1, as the kernel's TOKEN_FIXED
      put16(o + 8, (uint16_t)off);
      put16(o + 10, 400);
      tx_commit(&tx);
      publish(&tx);
      bell_ring();
      for (;;) {
        uint8_t *f = rx_peek(&rx);
        if (f == NULL) {
          bell_late(0);
          if (now_s() > until) die("discovery: %s", "no GET_DEVICES answer");
          if (idle_wait(&spins) < 0) die("discovery: %s", "peer gone");
          continue;
        }
        if (f[0] == (TYPE_BUS | TYPE_RESPONSE) && f[1] == B_GET_DEVICES) {
          uint32_t o16 = get16(f + 8), cnt = get16(f + 10), next = get16(f + 12);
          for (uint32_t i = 0; i < cnt; i++) {
            if (f[14 + i / 8] & (1 << (i % 8))) dlen += (size_t)snprintf(devices + dlen, sizeof devices - dlen, "%s%u", dlen ? "," : "", o16 + i);
          }
          rx_release(&rx);
          publish(&rx);
          more = next != 0 && next > off;
          off = next;
          break;
        }
        if (f[0] == TYPE_BUS && f[1] == B_PING) {
          if (!answer_ping(f)) continue;
          publish(&tx);
          bell_ring();
        }
        rx_release(&rx);
        publish(&rx);
      }
    }
  }
  last_wait_timed_out = 0;
  double t0 = now_s(), last = t0;
  while (!stop_flag && (received < count || qn > 0)) {
    bell_late(received);
    int did = 0, after_timeout = last_wait_timed_out;
    last_wait_timed_out = 0;
    for (uint8_t *f; (f = rx_peek(&rx)) != NULL;) {
      uint8_t type = f[0], id = f[1];
      if ((type & TYPE_BUS) && !(type & TYPE_RESPONSE) && id == B_PING) {
        if (!answer_ping(f)) break; // keep-alive from the other side
      } else if ((type & TYPE_BUS) && !(type & TYPE_RESPONSE)) {
        // EVENT_DEVICE and other bus events: nothing to do
      } else if (m != 2 && !(type & TYPE_RESPONSE)) {
        // unsolicited transport event (EVENT_USED / EVENT_CONFIG) in req/ping mode
      } else if (qn == 0) {
        errors++; // an answer nobody asked for
      } else {
        pending_t *h = &q[qh];
        int ok;
        if (m == 1) ok = type == (TYPE_BUS | TYPE_RESPONSE) && id == B_PING && get32(f + 8) == h->data;
        else if (m == 2) ok = type == 0 && id == T_EVENT_USED && get16(f + 2) == dev && get32(f + 8) == h->data;
        else ok = type == TYPE_RESPONSE && id == h->id && get16(f + 2) == dev && get16(f + 4) == h->token;
        if (!ok) {
          // It belongs to a later request (out of order), or to none (error).
          int later = 0;
          for (long i = 1; i < qn && !later; i++) {
            pending_t *p = &q[(qh + i) % outstanding];
            later = m == 1 ? get32(f + 8) == p->data : m == 2 ? get32(f + 8) == p->data : get16(f + 4) == p->token;
          }
          if (later) order++; else errors++;
        }
        if (received < lat_cap) lat[received] = now_s() - h->t0;
        received++;
        qh = (qh + 1) % outstanding;
        qn--;
      }
      rx_release(&rx);
      did++;
    }
    if (did) publish(&rx);
    if (did && after_timeout) timeouts_with_work++;
    int sent_now = 0;
    if (seconds > 0 && sent < count && now_s() - t0 > seconds) count = sent; // --seconds: stop sending, collect what is in flight
    while (sent < count && qn < outstanding) {
      uint8_t *o = tx_reserve(&tx);
      if (o == NULL) break;
      pending_t *p = &q[(qh + qn) % outstanding];
      uint16_t token = (uint16_t)((sent & 0xffff) == 0 ? 1 : sent & 0xffff);
      p->token = token;
      p->data = (uint32_t)sent;
      p->t0 = now_s();
      if (m == 1) {
        header(o, TYPE_BUS, B_PING, 0, token, 12);
        put32(o + 8, p->data);
      } else if (m == 2) {
        p->data = (uint32_t)(sent % 65536); // distinct queue per frame in flight: never coalesced
        header(o, 0, T_EVENT_AVAIL, dev, 0, 16);
        put32(o + 8, p->data);
        put32(o + 12, (uint32_t)sent);
      } else {
        p->id = T_GET_DEVICE_STATUS;
        header(o, 0, p->id, dev, token, 8);
      }
      tx_commit(&tx);
      sent++;
      qn++;
      sent_now++;
    }
    if (sent_now || did) {
      publish(&tx);
      if (sent_now) bell_ring();
      last = now_s();
      continue;
    }
    if (now_s() - last > (double)idle_ms / 1000) { errors += qn; break; } // answers stopped coming
    if (idle_wait(&spins) < 0) { errors += qn; break; }
  }
  double secs = now_s() - t0;
  long n = received < lat_cap ? received : lat_cap;
  qsort(lat, (size_t)n, sizeof *lat, cmp_double);
  double p50 = n ? lat[(n * 50 + 99) / 100 - 1 < 0 ? 0 : (n * 50 + 99) / 100 - 1] * 1e6 : 0;
  double p99 = n ? lat[(n * 99 + 99) / 100 - 1 < 0 ? 0 : (n * 99 + 99) / 100 - 1] * 1e6 : 0;
  printf("{\"mode\":\"%s\",\"sent\":%ld,\"received\":%ld,\"errors\":%ld,\"order_violations\":%ld,\"seconds\":%.6f,"
         "\"round_trips_per_s\":%.0f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"devices\":[%s],\"bells_rung\":%ld,\"bells_heard\":%ld,\"timeouts_with_work\":%ld}\n",
         mode, sent, received, errors, order, secs, secs > 0 ? (double)received / secs : 0, p50, p99, devices, bells_rung, bells_heard, timeouts_with_work);
  fflush(stdout);
  if (is_vmamp) set_state(ST_SHUTDOWN); // tell the device side we are gone
  return errors == 0 && order == 0 && received == count ? 0 : 1;
}

// ---------------------------------------------------------------- main
static void on_signal(int s) { (void)s; stop_flag = 1; }

static void usage(void) {
  fprintf(stderr,
    "usage: vmsg-peer --bus vmamp|spsc --role device|driver --path FILE --size BYTES [--sock PATH [--bell-timeout-ms T]\n"
    "                 [--sock-order normal|early|late|never] [--sock-after N]] [--wait-ms T]\n"
    "  device: [--devices 1,2,...] [--duration S]\n"
    "  driver: [--mode req|avail|ping] [--count N] [--seconds S] [--outstanding K] [--dev D] [--discover] [--idle-ms T]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *bus = NULL, *role = NULL, *path = NULL, *sock = NULL, *mode = "req", *devs = "1";
  long size = 0, count = 1000, outstanding = 1, dev = 1, idle_ms = 5000;
  double duration = 0, seconds = 0;
  int discover = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v != NULL && ++i)
    if (OPT("--bus")) bus = v;
    else if (OPT("--role")) role = v;
    else if (OPT("--path")) path = v;
    else if (OPT("--size")) size = atol(v);
    else if (OPT("--sock")) sock = sock_path_given = v;
    else if (OPT("--devices")) devs = v;
    else if (OPT("--duration")) duration = atof(v);
    else if (OPT("--seconds")) seconds = atof(v);
    else if (OPT("--mode")) mode = v;
    else if (OPT("--count")) count = atol(v);
    else if (OPT("--outstanding")) outstanding = atol(v);
    else if (OPT("--dev")) dev = atol(v);
    else if (OPT("--wait-ms")) wait_ms = atol(v);
    else if (OPT("--idle-ms")) idle_ms = atol(v);
    else if (OPT("--bell-timeout-ms")) bell_timeout_ms = atoi(v);
    else if (OPT("--sock-after")) sock_after = atol(v);
    else if (OPT("--sock-order")) {
      sock_order = strcmp(v, "normal") == 0 ? SO_NORMAL : strcmp(v, "early") == 0 ? SO_EARLY
                 : strcmp(v, "late") == 0 ? SO_LATE : strcmp(v, "never") == 0 ? SO_NEVER : -1;
      if (sock_order < 0) usage();
    }
    else if (strcmp(a, "--discover") == 0) discover = 1;
    else usage();
  }
  if (!bus || !role || !path || size <= 0 || outstanding < 1 || count < 0 || sock_after < 0) usage();
  if (sock_order == SO_NEVER) sock = NULL; // told the path, polls all the same
  if (sock_order == SO_LATE) { sock_path = sock; sock = NULL; } // comes in the run loop (bell_late)
  is_vmamp = strcmp(bus, "vmamp") == 0;
  if (!is_vmamp && strcmp(bus, "spsc") != 0) usage();
  is_device = strcmp(role, "device") == 0;
  if (!is_device && strcmp(role, "driver") != 0) usage();
  for (const char *p = devs; *p;) {
    long d = strtol(p, (char **)&p, 10);
    if (d >= 0 && d < 65536) served[d >> 3] |= (uint8_t)(1 << (d & 7));
    if (*p == ',') p++; else if (*p) usage();
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  // The window file: the device side builds it (owner-only, whole pages) under a temporary name
  // and renames it into place when it is ready, so a driver waiting for the file never sees it
  // half built (SPSC has no magic to say so); the driver side waits for it to exist.
  long page = sysconf(_SC_PAGESIZE);
  win_size = (size_t)size;
  map_size = (win_size + (size_t)page - 1) / (size_t)page * (size_t)page;
  if (sock && sock_order == SO_EARLY) { // the socket before anything of the window exists
    bell_open(sock);
    bell_accept();
  }
  int fd, lock_fd = -1;
  double until = now_s() + (double)wait_ms / 1000;
  char building[4200];
  snprintf(building, sizeof building, "%s.building-%d", path, (int)getpid());
  if (is_device) {
    // The builder of a window holds flock(LOCK_EX) on its file while it serves it (vmsg route
    // does too): a window another process serves is left to it; one nobody holds is a leftover.
    int old = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (old >= 0) {
      if (flock(old, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) die("window file %s is in use by another process", path);
      // Removed while we hold its lock, so no other builder takes it meanwhile; a driver must not
      // attach to an earlier window while we build this one.
      struct stat held, now;
      if (fstat(old, &held) == 0 && lstat(path, &now) == 0 && held.st_ino == now.st_ino) unlink(path);
      close(old);
    }
    fd = open(building, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)map_size) != 0) die("cannot create %s", building);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) die("cannot lock %s", building);
    lock_fd = dup(fd); // the lock lives as long as this descriptor: until we exit
  } else {
    struct stat st;
    for (;;) {
      fd = open(path, O_RDWR | O_CLOEXEC);
      if (fd >= 0 && fstat(fd, &st) == 0 && (size_t)st.st_size >= win_size) break;
      if (fd >= 0) close(fd);
      if (now_s() > until || stop_flag) die("window file %s did not appear", path);
      usleep(2000);
    }
    if ((size_t)st.st_size < map_size && ftruncate(fd, (off_t)map_size) != 0) die("cannot grow %s to whole pages", path);
  }
  win = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (win == MAP_FAILED) die("cannot map %s", path);

  if (sock && is_device && sock_order == SO_NORMAL) bell_open(sock); // listen before the window says "ready"
  if (is_vmamp) {
    if (is_device) vmamp_build(); else vmamp_parse();
    vmamp_rings();
  } else {
    spsc_rings();
  }
  if (is_device) publish_window(building, path);
  if (sock && !is_device && sock_order == SO_NORMAL) bell_open(sock);
  if (sock && sock_order == SO_NORMAL) bell_accept();
  if (is_vmamp) vmamp_bring_up();
  fprintf(stderr, "vmsg-peer: %s %s up on %s (%zu bytes, %u slots per direction, %s)\n", bus, role, path, win_size, tx.cap,
          sock ? "doorbell socket" : sock_path ? "polling until the doorbell socket connects" : "busy-poll");
  int status = is_device ? run_device(duration) : run_driver(mode, count, outstanding, (uint16_t)dev, discover, idle_ms, seconds);
  if (listen_fd >= 0) {
    close(listen_fd);
    struct stat st;
    if (stat(sock_path_given, &st) == 0 && st.st_ino == sock_ino) unlink(sock_path_given);
  }
  if (lock_fd >= 0) close(lock_fd);
  return status;
}
