// The device model shared by the two legacy v0 peers (qemu-v0-peer.c, openamp-peer.c): the v0
// frame (docs/LEGACY.md "The v0 frame": 40 bytes, 4-byte header, no token), and a virtio-rng
// device (virtio 1.2 §5.4) serving real split virtqueues (virtio 1.2 §2.7) in memory the driver
// also maps. Each peer decides how an address becomes a pointer (QEMU: offset into its memory
// file, bounds-checked; OpenAMP: the address IS the pointer) and how frames travel.
#ifndef LEGACY_V0_DEVICE_H
#define LEGACY_V0_DEVICE_H
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

// ---------------------------------------------------------------- v0 frame
#define V0_FRAME 40
#define V0_TYPE_RESPONSE 0x01
#define V0_DEVICE_INFO 0x03
#define V0_GET_FEATURES 0x04
#define V0_SET_FEATURES 0x05
#define V0_GET_CONFIG 0x06
#define V0_SET_CONFIG 0x07
#define V0_GET_CONFIG_GEN 0x08
#define V0_GET_DEVICE_STATUS 0x09
#define V0_SET_DEVICE_STATUS 0x0a
#define V0_GET_VQUEUE 0x0b
#define V0_SET_VQUEUE 0x0c
#define V0_RESET_VQUEUE 0x0d
#define V0_EVENT_CONFIG 0x10
#define V0_EVENT_AVAIL 0x11
#define V0_EVENT_USED 0x12

static inline uint16_t v0_get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t v0_get32(const uint8_t *p) { return (uint32_t)v0_get16(p) | (uint32_t)v0_get16(p + 2) << 16; }
static inline uint64_t v0_get64(const uint8_t *p) { return (uint64_t)v0_get32(p) | (uint64_t)v0_get32(p + 4) << 32; }
static inline void v0_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void v0_put32(uint8_t *p, uint32_t v) { v0_put16(p, (uint16_t)v); v0_put16(p + 2, (uint16_t)(v >> 16)); }
static inline void v0_put64(uint8_t *p, uint64_t v) { v0_put32(p, (uint32_t)v); v0_put32(p + 4, (uint32_t)(v >> 32)); }

// ---------------------------------------------------------------- virtio device state
#define VIRTIO_ID_ENTROPY 4
#define STATUS_FEATURES_OK 0x08
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define RNG_QUEUES 1

typedef struct {
  uint32_t size;
  uint64_t desc, avail, used;
  int ready;
  uint16_t last_avail;
} vq_t;

typedef struct {
  uint32_t status;
  uint64_t offered;
  uint64_t driver_features;
  vq_t vq[RNG_QUEUES];
  // How the peer turns a driver address into a pointer: NULL = outside what it can reach.
  void *(*translate)(void *ctx, uint64_t addr, uint64_t len);
  void *ctx;
  uint64_t bytes_served;
  uint64_t requests_served;
} rng_device_t;

static inline void rng_reset(rng_device_t *d) {
  d->status = 0;
  d->driver_features = 0;
  memset(d->vq, 0, sizeof d->vq);
}

// Serve every buffer the driver made available on queue q: fill each writable descriptor of the
// chain with random bytes, publish the used element. Returns the chains completed (the peer then
// sends EVENT_USED), or -1 when an address was outside reach (the peer reports and goes on).
static int rng_serve(rng_device_t *d, uint32_t q) {
  vq_t *vq = &d->vq[q];
  if (!vq->ready || vq->size == 0) return 0;
  uint16_t *avail = d->translate(d->ctx, vq->avail, 4 + 2 * (uint64_t)vq->size + 2);
  uint8_t *used = d->translate(d->ctx, vq->used, 4 + 8 * (uint64_t)vq->size + 2);
  uint8_t *desc = d->translate(d->ctx, vq->desc, 16 * (uint64_t)vq->size);
  if (avail == NULL || used == NULL || desc == NULL) return -1;
  // Acquire: the ring entries are read only after the driver's published index.
  uint16_t avail_idx = __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE);
  uint16_t *used_idx = (uint16_t *)(used + 2);
  int done = 0;
  while (vq->last_avail != avail_idx) {
    uint16_t head = avail[2 + vq->last_avail % vq->size];
    uint32_t written = 0;
    uint16_t i = head;
    for (uint32_t hops = 0; hops < vq->size; hops++) {
      if (i >= vq->size) return -1;
      uint8_t *e = desc + 16 * (uint32_t)i;
      uint64_t addr = v0_get64(e);
      uint32_t len = v0_get32(e + 8);
      uint16_t flags = v0_get16(e + 12);
      if (flags & VRING_DESC_F_WRITE) {
        uint8_t *buf = d->translate(d->ctx, addr, len);
        if (buf == NULL) return -1;
        for (uint32_t at = 0; at < len;) {
          ssize_t n = getrandom(buf + at, len - at, 0);
          if (n <= 0) break;
          at += (uint32_t)n;
        }
        written += len;
      }
      if (!(flags & VRING_DESC_F_NEXT)) break;
      i = v0_get16(e + 14);
    }
    uint16_t u = *used_idx;
    uint8_t *elem = used + 4 + 8 * (u % vq->size);
    v0_put32(elem, head);
    v0_put32(elem + 4, written);
    // Release: the element is visible before the index that covers it.
    __atomic_store_n(used_idx, (uint16_t)(u + 1), __ATOMIC_RELEASE);
    vq->last_avail++;
    d->bytes_served += written;
    d->requests_served++;
    done++;
  }
  return done;
}

#endif
