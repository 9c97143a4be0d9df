/*
 * spsc-ring.h: the single-producer single-consumer ring the C baseline (baseline.c) measures.
 *
 * Layout in memory, the same shape as the router's native ring and an SPSC v1 bus ring
 * (docs/BUSES.md §3):
 *   +0    producer index, i32: the next slot the producer will fill
 *   +64   consumer index, i32: the next slot the consumer will read. On its own cache line so
 *         the two sides never write the same line (tail_off = 4 puts both on one, to show why).
 *   +128  `slots` slots of 64 bytes. One slot always stays empty: equal indices mean empty.
 *
 * Each side keeps its own position privately and a copy of the other side's index that it
 * re-reads only when the ring looks full (producer) or empty (consumer): reading the peer's
 * line on every message is what makes a naive ring slow. Publishing its own index can be
 * batched (every `publish_every` messages), but a side that is about to wait always publishes
 * first, or both sides could wait for each other.
 */
#ifndef VMSG_BENCH_SPSC_RING_H
#define VMSG_BENCH_SPSC_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    RING_PRODUCER_OFF = 0,
    RING_CONSUMER_OFF = 64,
    RING_SLOTS_OFF = 128,
    RING_SLOT_BYTES = 64,
};

/* A polite busy-wait step: tells the core we spin (x86 `pause`, Arm `yield`). */
static inline void spin_hint(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

struct ring {
    uint8_t *mem;
    _Atomic int32_t *producer;
    _Atomic int32_t *consumer;
    uint32_t slots;
};

static inline size_t ring_bytes(uint32_t slots) {
    return RING_SLOTS_OFF + (size_t)slots * RING_SLOT_BYTES;
}

/* Views `mem` as a ring; `consumer_off` is RING_CONSUMER_OFF except for the false-sharing demo. */
static inline struct ring ring_view(uint8_t *mem, uint32_t slots, uint32_t consumer_off) {
    struct ring r = {
        .mem = mem,
        .producer = (_Atomic int32_t *)(mem + RING_PRODUCER_OFF),
        .consumer = (_Atomic int32_t *)(mem + consumer_off),
        .slots = slots,
    };
    return r;
}

/* Empties the ring. Only while neither side runs. */
static inline void ring_reset(struct ring *r) {
    atomic_store(r->producer, 0);
    atomic_store(r->consumer, 0);
}

static inline uint8_t *ring_slot(const struct ring *r, uint32_t i) {
    return r->mem + RING_SLOTS_OFF + (size_t)i * RING_SLOT_BYTES;
}

static inline uint32_t ring_next(const struct ring *r, uint32_t i) {
    return i + 1 == r->slots ? 0 : i + 1; /* capacities need not be powers of two */
}

/* An index read from shared memory is checked before use: a broken peer must not send us
 * writing outside the ring. */
static inline uint32_t ring_load_index(const struct ring *r, _Atomic int32_t *word) {
    uint32_t v = (uint32_t)atomic_load_explicit(word, memory_order_acquire);
    if (v >= r->slots) {
        fprintf(stderr, "ring index %u out of range (%u slots)\n", v, r->slots);
        abort();
    }
    return v;
}

struct ring_writer {
    struct ring ring;
    uint32_t next;          /* slot the next message goes to */
    uint32_t seen_consumer; /* the consumer index as last read */
    uint32_t unpublished;   /* messages written but not yet visible */
    uint32_t publish_every;
    bool cache_peer;        /* false: re-read the consumer index for every message */
};

struct ring_reader {
    struct ring ring;
    uint32_t next;
    uint32_t seen_producer;
    uint32_t unpublished;
    uint32_t publish_every;
    bool cache_peer;
};

static inline void writer_init(struct ring_writer *w, struct ring r, uint32_t publish_every, bool cache_peer) {
    memset(w, 0, sizeof *w);
    w->ring = r;
    w->publish_every = publish_every;
    w->cache_peer = cache_peer;
}

static inline void reader_init(struct ring_reader *q, struct ring r, uint32_t publish_every, bool cache_peer) {
    memset(q, 0, sizeof *q);
    q->ring = r;
    q->publish_every = publish_every;
    q->cache_peer = cache_peer;
}

/* Release: the slot bytes written before become visible with the index. */
static inline void writer_publish(struct ring_writer *w) {
    if (w->unpublished == 0) return;
    atomic_store_explicit(w->ring.producer, (int32_t)w->next, memory_order_release);
    w->unpublished = 0;
}

static inline void reader_publish(struct ring_reader *q) {
    if (q->unpublished == 0) return;
    atomic_store_explicit(q->ring.consumer, (int32_t)q->next, memory_order_release);
    q->unpublished = 0;
}

/* The slot to fill next, or NULL when the ring is full (pending messages are published first). */
static inline uint8_t *writer_claim(struct ring_writer *w) {
    uint32_t after = ring_next(&w->ring, w->next);
    if (!w->cache_peer || after == w->seen_consumer) {
        w->seen_consumer = ring_load_index(&w->ring, w->ring.consumer);
        if (after == w->seen_consumer) {
            writer_publish(w);
            return NULL;
        }
    }
    return ring_slot(&w->ring, w->next);
}

/* The claimed slot is filled: move on, publishing every `publish_every` messages. */
static inline void writer_push(struct ring_writer *w) {
    w->next = ring_next(&w->ring, w->next);
    if (++w->unpublished >= w->publish_every) writer_publish(w);
}

/* The next message, or NULL when the ring is empty (slots already read are released first). */
static inline uint8_t *reader_peek(struct ring_reader *q) {
    if (!q->cache_peer || q->next == q->seen_producer) {
        q->seen_producer = ring_load_index(&q->ring, q->ring.producer);
        if (q->next == q->seen_producer) {
            reader_publish(q);
            return NULL;
        }
    }
    return ring_slot(&q->ring, q->next);
}

static inline void reader_pop(struct ring_reader *q) {
    q->next = ring_next(&q->ring, q->next);
    if (++q->unpublished >= q->publish_every) reader_publish(q);
}

/* Little-endian u16 fields of a frame (memcpy: no alignment or aliasing assumptions). */
static inline uint16_t get_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void put_u16(uint8_t *p, uint16_t v) {
    memcpy(p, &v, sizeof v);
}

#endif
