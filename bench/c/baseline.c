/*
 * baseline.c: what the router's hot path costs when written plainly in C, on this machine, in
 * this run. bench/run.ts builds it (`cc -O2 -pthread`) and runs each case right before the
 * TypeScript/WASM case it is the yardstick for, so ratios compare numbers measured minutes
 * apart under the same host load (docs/BENCHMARKS.md).
 *
 *   baseline tput     [cap=1024 batch=1 cache=1 pad=1 n=20000000 reps=7]
 *   baseline route1   [cap=4096 batch=1 n=40000000 reps=7 copy=var|slot]
 *   baseline route2   [cap=1024 batch=1 burst=256 n=20000000 reps=7 copy=var|slot]
 *   baseline pingpong [iters=500000 reps=5 wait=spin|futex]
 *   baseline tcppingpong [ms=1000 reps=5]
 *
 * tput     two threads, one ring of 64-byte slots, 32-byte messages: raw cross-core throughput.
 * route1   one thread routing a pre-filled ring into 8 rings: read the header, check msg_size
 *          and the device table, give the frame a fresh token per output ring (remembering
 *          the old one for the way back), copy it. The C version of `bench/router-core.ts`.
 * route2   route1's step on its own thread, fed and drained by an edge thread that checks
 *          every frame's device and token sequence. The reference for `bench/pipeline.ts`.
 * pingpong one 32-byte message bounced through a ring pair: round-trip latency, busy-polled
 *          or with futex sleeps. The reference for `bench/rtt.ts`.
 * tcppingpong one request at a time over a TCP connection on 127.0.0.1 between two threads,
 *          blocking sockets with TCP_NODELAY: an 8-byte GET_DEVICE_STATUS request, a 12-byte
 *          response carrying its token, checked. Round trips per second over `ms`. The
 *          reference for `stream-tcp-d1-k1` (the gateway hop, the same frames).
 *
 * The first thread of a two-thread case runs on CPU 0, the other (and route1) on CPU 1.
 * Each case prints `RESULT <case> <unit> median=<v> min=<v> max=<v> reps=<n>`, the median,
 * minimum and maximum over its repetitions; pingpong prints p50 first, then p99 and p99.9.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "spsc-ring.h"

#define OUTPUTS 8
#define FRAME_BYTES 32
#define TABLE_FRAMES 1024 /* power of two: frame i of a run is table[i & (TABLE_FRAMES - 1)] */
#define MAX_REPS 64
#define NO_OUTPUT 0xff
#define SAVED_TOKENS 4096

/* Device numbers spread over the u16 range, one per output ring (bench/router-core.ts uses the
 * same ones, so both see the same table lookups). */
static const uint16_t DEVICES[OUTPUTS] = {3, 17, 42, 100, 257, 1000, 4096, 65000};

static uint8_t table[TABLE_FRAMES][FRAME_BYTES] __attribute__((aligned(64)));

/* GET_DEVICE_STATUS requests padded to 32 bytes; devices drawn by the same LCG as
 * bench/router-core.ts, tokens i * 7. */
static void fill_table(void) {
    uint32_t seed = 12345;
    for (uint32_t i = 0; i < TABLE_FRAMES; i++) {
        seed = seed * 1103515245u + 12345u;
        uint8_t *f = table[i];
        f[0] = 0x00; /* transport request */
        f[1] = 0x07; /* GET_DEVICE_STATUS */
        put_u16(f + 2, DEVICES[(seed >> 16) % OUTPUTS]);
        put_u16(f + 4, (uint16_t)(i * 7));
        put_u16(f + 6, FRAME_BYTES);
        for (uint32_t j = 8; j < FRAME_BYTES; j++) f[j] = (uint8_t)(i ^ j);
    }
}

static inline const uint8_t *frame_at(long i) {
    return table[i & (TABLE_FRAMES - 1)];
}

static inline uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double seconds(void) {
    return (double)monotonic_ns() * 1e-9;
}

static void pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /* One CPU only (a container, a small VM): run unpinned rather than fail. */
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) fprintf(stderr, "could not pin to CPU %d\n", cpu);
}

/* Ring memory faulted in up front, so no case times first-touch page faults. */
static uint8_t *ring_memory(uint32_t slots) {
    void *p = mmap(NULL, ring_bytes(slots), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

static void fail(const char *what) {
    fprintf(stderr, "baseline: %s\n", what);
    exit(2);
}

/* ------------------------------------------------------------------ arguments: key=value */

static int arg_count;
static char **arg_values;

static const char *arg_text(const char *key, const char *fallback) {
    size_t n = strlen(key);
    for (int i = 2; i < arg_count; i++)
        if (strncmp(arg_values[i], key, n) == 0 && arg_values[i][n] == '=') return arg_values[i] + n + 1;
    return fallback;
}

static long arg_long(const char *key, long fallback) {
    const char *v = arg_text(key, NULL);
    if (v == NULL) return fallback;
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < 0) {
        fprintf(stderr, "baseline: %s=%s is not a non-negative integer\n", key, v);
        exit(1);
    }
    return x;
}

static int arg_reps(int fallback) {
    long reps = arg_long("reps", fallback);
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "baseline: reps must be 1..%d\n", MAX_REPS);
        exit(1);
    }
    return (int)reps;
}

static uint32_t arg_slots(uint32_t fallback) {
    long cap = arg_long("cap", fallback);
    if (cap < 2 || cap > (1l << 24)) {
        fprintf(stderr, "baseline: cap must be 2..%ld slots\n", 1l << 24);
        exit(1);
    }
    return (uint32_t)cap;
}

/* ------------------------------------------------------------------ reporting */

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, const char *unit, const double *values, int n) {
    double sorted[MAX_REPS];
    memcpy(sorted, values, (size_t)n * sizeof *values);
    qsort(sorted, (size_t)n, sizeof *sorted, by_value);
    double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    printf("RESULT %s %s median=%.4g min=%.4g max=%.4g reps=%d\n", name, unit, median, sorted[0], sorted[n - 1], n);
    fflush(stdout);
}

/* ------------------------------------------------------------------ tput */

struct tput_run {
    uint8_t *mem;
    uint32_t slots, publish_every, consumer_off;
    bool cache_peer;
    long frames;
    double started, finished;
    uint64_t checksum;
    pthread_barrier_t go;
};

static void *tput_producer(void *arg) {
    struct tput_run *t = arg;
    pin_to_cpu(0);
    struct ring_writer w;
    writer_init(&w, ring_view(t->mem, t->slots, t->consumer_off), t->publish_every, t->cache_peer);
    pthread_barrier_wait(&t->go);
    t->started = seconds();
    for (long i = 0; i < t->frames; i++) {
        uint8_t *slot;
        while ((slot = writer_claim(&w)) == NULL) spin_hint();
        memcpy(slot, frame_at(i), FRAME_BYTES);
        writer_push(&w);
    }
    writer_publish(&w);
    return NULL;
}

static void *tput_consumer(void *arg) {
    struct tput_run *t = arg;
    pin_to_cpu(1);
    struct ring_reader q;
    reader_init(&q, ring_view(t->mem, t->slots, t->consumer_off), t->publish_every, t->cache_peer);
    uint8_t copy[RING_SLOT_BYTES];
    uint64_t sum = 0;
    pthread_barrier_wait(&t->go);
    for (long i = 0; i < t->frames; i++) {
        uint8_t *slot;
        while ((slot = reader_peek(&q)) == NULL) spin_hint();
        /* Take the frame out as a receiver would (msg_size bytes), then use it. */
        uint16_t size = get_u16(slot + 6);
        if (size > RING_SLOT_BYTES) size = RING_SLOT_BYTES;
        if (size == 0) fail("tput: empty frame");
        memcpy(copy, slot, size);
        reader_pop(&q);
        sum += get_u16(copy + 4) + copy[size - 1];
    }
    reader_publish(&q);
    t->finished = seconds();
    t->checksum = sum;
    return NULL;
}

static void run_tput(void) {
    struct tput_run t = {0};
    t.slots = arg_slots(1024);
    t.publish_every = (uint32_t)arg_long("batch", 1);
    t.cache_peer = arg_long("cache", 1) != 0;
    t.consumer_off = arg_long("pad", 1) != 0 ? RING_CONSUMER_OFF : 4;
    t.frames = arg_long("n", 20000000);
    int reps = arg_reps(7);
    if (t.publish_every == 0) fail("batch must be >= 1");
    t.mem = ring_memory(t.slots);
    uint64_t expected = 0;
    for (long i = 0; i < t.frames; i++) expected += get_u16(frame_at(i) + 4) + frame_at(i)[FRAME_BYTES - 1];
    double rate[MAX_REPS];
    for (int rep = 0; rep < reps; rep++) {
        struct ring r = ring_view(t.mem, t.slots, t.consumer_off);
        ring_reset(&r);
        pthread_barrier_init(&t.go, NULL, 2);
        pthread_t producer, consumer;
        pthread_create(&producer, NULL, tput_producer, &t);
        pthread_create(&consumer, NULL, tput_consumer, &t);
        pthread_join(producer, NULL);
        pthread_join(consumer, NULL);
        pthread_barrier_destroy(&t.go);
        if (t.checksum != expected) fail("tput: the consumer did not see what the producer wrote");
        rate[rep] = (double)t.frames / (t.finished - t.started);
    }
    char name[160];
    snprintf(name, sizeof name, "c.tput.copy32.cap%u.batch%u.%s.%s", t.slots, t.publish_every,
             t.cache_peer ? "cached" : "nocache", t.consumer_off == RING_CONSUMER_OFF ? "padded" : "unpadded");
    report(name, "msgs/s", rate, reps);
}

/* ------------------------------------------------------------------ the routing step */

struct router {
    struct ring_reader in;
    struct ring_writer out[OUTPUTS];
    uint8_t output_of_device[65536]; /* NO_OUTPUT: not a known device */
    uint16_t next_token[OUTPUTS];
    uint16_t saved_token[OUTPUTS][SAVED_TOKENS]; /* the sender's token, for the way back */
    uint64_t dropped;
    bool copy_slot;                   /* copy whole 64-byte slots instead of msg_size bytes */
};

static struct router *router_new(bool copy_slot) {
    struct router *rt = aligned_alloc(64, (sizeof(struct router) + 63) & ~(size_t)63);
    if (rt == NULL) fail("out of memory");
    memset(rt, 0, sizeof *rt);
    memset(rt->output_of_device, NO_OUTPUT, sizeof rt->output_of_device);
    for (int i = 0; i < OUTPUTS; i++) rt->output_of_device[DEVICES[i]] = (uint8_t)i;
    rt->copy_slot = copy_slot;
    return rt;
}

/* Routes up to `max` frames; stops early when the input is empty. Returns the frames taken. */
static inline uint32_t route_some(struct router *rt, uint32_t max) {
    uint32_t taken = 0;
    for (; taken < max; taken++) {
        uint8_t *f = reader_peek(&rt->in);
        if (f == NULL) break;
        uint16_t device = get_u16(f + 2), token = get_u16(f + 4), size = get_u16(f + 6);
        uint32_t o = rt->output_of_device[device];
        if (__builtin_expect(size < 8 || size > RING_SLOT_BYTES || o == NO_OUTPUT, 0)) {
            rt->dropped++;
        } else {
            struct ring_writer *w = &rt->out[o];
            uint8_t *slot;
            while ((slot = writer_claim(w)) == NULL) spin_hint(); /* back-pressure: wait for room */
            uint16_t ours = rt->next_token[o]++;
            rt->saved_token[o][ours % SAVED_TOKENS] = token;
            memcpy(slot, f, rt->copy_slot ? RING_SLOT_BYTES : size);
            put_u16(slot + 4, ours);
            writer_push(w);
        }
        reader_pop(&rt->in);
    }
    return taken;
}

static inline void router_publish(struct router *rt) {
    for (int i = 0; i < OUTPUTS; i++) writer_publish(&rt->out[i]);
    reader_publish(&rt->in);
}

static bool arg_copy_slot(void) {
    const char *copy = arg_text("copy", "var");
    if (strcmp(copy, "var") != 0 && strcmp(copy, "slot") != 0) fail("copy must be var or slot");
    return strcmp(copy, "slot") == 0;
}

/* ------------------------------------------------------------------ route1 */

static void run_route1(void) {
    uint32_t slots = arg_slots(4096);
    uint32_t publish_every = (uint32_t)arg_long("batch", 1);
    long frames = arg_long("n", 40000000);
    int reps = arg_reps(7);
    bool copy_slot = arg_copy_slot();
    if (publish_every == 0) fail("batch must be >= 1");
    pin_to_cpu(1);
    uint8_t *in_mem = ring_memory(slots);
    uint8_t *out_mem[OUTPUTS];
    for (int i = 0; i < OUTPUTS; i++) out_mem[i] = ring_memory(slots);
    struct router *rt = router_new(copy_slot);
    uint32_t per_round = slots - 1; /* a full input ring; 8 empty outputs always have room */
    double rate[MAX_REPS];
    for (int rep = 0; rep < reps; rep++) {
        double timed = 0;
        long done = 0;
        while (done < frames) {
            /* Untimed: fill the input ring and empty the outputs. */
            struct ring in = ring_view(in_mem, slots, RING_CONSUMER_OFF);
            ring_reset(&in);
            struct ring_writer filler;
            writer_init(&filler, in, UINT32_MAX, true);
            for (uint32_t i = 0; i < per_round; i++) {
                memcpy(writer_claim(&filler), frame_at(done + i), FRAME_BYTES);
                writer_push(&filler);
            }
            writer_publish(&filler);
            reader_init(&rt->in, in, publish_every, true);
            for (int i = 0; i < OUTPUTS; i++) {
                struct ring out = ring_view(out_mem[i], slots, RING_CONSUMER_OFF);
                ring_reset(&out);
                writer_init(&rt->out[i], out, publish_every, true);
            }
            double t0 = seconds();
            uint32_t taken = route_some(rt, per_round);
            router_publish(rt);
            timed += seconds() - t0;
            if (taken != per_round) fail("route1: the router stopped before the input ring was empty");
            done += per_round;
        }
        rate[rep] = (double)done / timed;
    }
    if (rt->dropped != 0) fail("route1: frames were dropped");
    char name[160];
    snprintf(name, sizeof name, "c.route1.prefilled.cap%u.batch%u.copy%s", slots, publish_every, copy_slot ? "slot" : "var");
    report(name, "msgs/s", rate, reps);
}

/* ------------------------------------------------------------------ route2 */

struct route2_run {
    uint8_t *in_mem, *out_mem[OUTPUTS];
    uint32_t slots, publish_every, burst;
    long frames;
    struct router *rt;
    double started, finished;
    uint64_t errors;
    pthread_barrier_t go;
};

static void *route2_router(void *arg) {
    struct route2_run *t = arg;
    pin_to_cpu(1);
    pthread_barrier_wait(&t->go);
    for (long done = 0; done < t->frames;) {
        uint32_t taken = route_some(t->rt, 4096);
        done += taken;
        if (taken == 0) {
            router_publish(t->rt); /* idle: make everything routed so far visible */
            spin_hint();
        }
    }
    router_publish(t->rt);
    return NULL;
}

/* Injects bursts and drains the outputs, checking each frame's device and token sequence. */
static void *route2_edge(void *arg) {
    struct route2_run *t = arg;
    pin_to_cpu(0);
    struct ring_writer in;
    struct ring_reader out[OUTPUTS];
    uint16_t expected_token[OUTPUTS] = {0};
    writer_init(&in, ring_view(t->in_mem, t->slots, RING_CONSUMER_OFF), t->publish_every, true);
    for (int i = 0; i < OUTPUTS; i++) reader_init(&out[i], ring_view(t->out_mem[i], t->slots, RING_CONSUMER_OFF), t->publish_every, true);
    uint64_t errors = 0;
    long sent = 0, received = 0;
    pthread_barrier_wait(&t->go);
    t->started = seconds();
    while (received < t->frames) {
        for (uint32_t k = 0; k < t->burst && sent < t->frames; k++) {
            uint8_t *slot = writer_claim(&in);
            if (slot == NULL) break;
            memcpy(slot, frame_at(sent), FRAME_BYTES);
            writer_push(&in);
            sent++;
        }
        writer_publish(&in);
        for (int i = 0; i < OUTPUTS; i++) {
            uint8_t *f;
            while ((f = reader_peek(&out[i])) != NULL) {
                errors += (get_u16(f + 2) != DEVICES[i]) | (get_u16(f + 4) != expected_token[i]);
                expected_token[i]++;
                reader_pop(&out[i]);
                received++;
            }
        }
    }
    for (int i = 0; i < OUTPUTS; i++) reader_publish(&out[i]);
    t->finished = seconds();
    t->errors = errors;
    return NULL;
}

static void run_route2(void) {
    struct route2_run t = {0};
    t.slots = arg_slots(1024);
    t.publish_every = (uint32_t)arg_long("batch", 1);
    t.burst = (uint32_t)arg_long("burst", 256);
    t.frames = arg_long("n", 20000000);
    int reps = arg_reps(7);
    bool copy_slot = arg_copy_slot();
    if (t.publish_every == 0 || t.burst == 0) fail("batch and burst must be >= 1");
    t.in_mem = ring_memory(t.slots);
    for (int i = 0; i < OUTPUTS; i++) t.out_mem[i] = ring_memory(t.slots);
    double rate[MAX_REPS];
    for (int rep = 0; rep < reps; rep++) {
        t.rt = router_new(copy_slot);
        struct ring in = ring_view(t.in_mem, t.slots, RING_CONSUMER_OFF);
        ring_reset(&in);
        reader_init(&t.rt->in, in, t.publish_every, true);
        for (int i = 0; i < OUTPUTS; i++) {
            struct ring out = ring_view(t.out_mem[i], t.slots, RING_CONSUMER_OFF);
            ring_reset(&out);
            writer_init(&t.rt->out[i], out, t.publish_every, true);
        }
        pthread_barrier_init(&t.go, NULL, 2);
        pthread_t edge, router;
        pthread_create(&edge, NULL, route2_edge, &t);
        pthread_create(&router, NULL, route2_router, &t);
        pthread_join(edge, NULL);
        pthread_join(router, NULL);
        pthread_barrier_destroy(&t.go);
        if (t.errors != 0) {
            fprintf(stderr, "baseline: route2: %llu frames with a wrong device or token\n", (unsigned long long)t.errors);
            exit(2);
        }
        free(t.rt);
        rate[rep] = (double)t.frames / (t.finished - t.started);
    }
    char name[160];
    snprintf(name, sizeof name, "c.route2.pipeline.cap%u.batch%u.burst%u.copy%s", t.slots, t.publish_every, t.burst, copy_slot ? "slot" : "var");
    report(name, "msgs/s", rate, reps);
}

/* ------------------------------------------------------------------ pingpong */

#define PINGPONG_SLOTS 64

struct pingpong_run {
    uint8_t *there_mem, *back_mem;
    long iters, warmup;
    bool sleep;      /* futex: wait in the kernel instead of spinning */
    uint64_t *ns;    /* round-trip times of the measured iterations */
    pthread_barrier_t go;
};

static long futex(_Atomic int32_t *word, int op, int value) {
    return syscall(SYS_futex, (int32_t *)word, op, value, NULL, NULL, 0);
}

static inline uint8_t *await_frame(struct ring_reader *q, bool sleep) {
    uint8_t *f;
    /* Empty means the producer index still equals our position: sleep while it does. */
    while ((f = reader_peek(q)) == NULL) {
        if (sleep) futex(q->ring.producer, FUTEX_WAIT_PRIVATE, (int32_t)q->next);
        else spin_hint();
    }
    return f;
}

static inline void send_frame(struct ring_writer *w, const uint8_t *frame, bool sleep) {
    uint8_t *slot;
    while ((slot = writer_claim(w)) == NULL) spin_hint();
    memcpy(slot, frame, FRAME_BYTES);
    writer_push(w);
    if (sleep) futex(w->ring.producer, FUTEX_WAKE_PRIVATE, 1);
}

static void *pingpong_echo(void *arg) {
    struct pingpong_run *t = arg;
    pin_to_cpu(1);
    struct ring_reader there;
    struct ring_writer back;
    reader_init(&there, ring_view(t->there_mem, PINGPONG_SLOTS, RING_CONSUMER_OFF), 1, true);
    writer_init(&back, ring_view(t->back_mem, PINGPONG_SLOTS, RING_CONSUMER_OFF), 1, true);
    pthread_barrier_wait(&t->go);
    for (long i = 0; i < t->warmup + t->iters; i++) {
        uint8_t frame[FRAME_BYTES];
        memcpy(frame, await_frame(&there, t->sleep), FRAME_BYTES);
        reader_pop(&there);
        send_frame(&back, frame, t->sleep);
    }
    return NULL;
}

static void *pingpong_ping(void *arg) {
    struct pingpong_run *t = arg;
    pin_to_cpu(0);
    struct ring_writer there;
    struct ring_reader back;
    writer_init(&there, ring_view(t->there_mem, PINGPONG_SLOTS, RING_CONSUMER_OFF), 1, true);
    reader_init(&back, ring_view(t->back_mem, PINGPONG_SLOTS, RING_CONSUMER_OFF), 1, true);
    pthread_barrier_wait(&t->go);
    for (long i = 0; i < t->warmup + t->iters; i++) {
        uint64_t t0 = monotonic_ns();
        send_frame(&there, frame_at(i), t->sleep);
        uint8_t *echo = await_frame(&back, t->sleep);
        if (get_u16(echo + 4) != get_u16(frame_at(i) + 4)) fail("pingpong: the echo is not the frame sent");
        reader_pop(&back);
        uint64_t t1 = monotonic_ns();
        if (i >= t->warmup) t->ns[i - t->warmup] = t1 - t0;
    }
    return NULL;
}

static int by_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void run_pingpong(void) {
    struct pingpong_run t = {0};
    t.iters = arg_long("iters", 500000);
    t.warmup = t.iters / 10;
    int reps = arg_reps(5);
    const char *wait = arg_text("wait", "spin");
    if (strcmp(wait, "spin") != 0 && strcmp(wait, "futex") != 0) fail("wait must be spin or futex");
    if (t.iters < 1) fail("iters must be >= 1");
    t.sleep = strcmp(wait, "futex") == 0;
    t.there_mem = ring_memory(PINGPONG_SLOTS);
    t.back_mem = ring_memory(PINGPONG_SLOTS);
    t.ns = malloc(sizeof(uint64_t) * (size_t)t.iters);
    if (t.ns == NULL) fail("out of memory");
    double p50[MAX_REPS], p99[MAX_REPS], p999[MAX_REPS];
    for (int rep = 0; rep < reps; rep++) {
        struct ring there = ring_view(t.there_mem, PINGPONG_SLOTS, RING_CONSUMER_OFF);
        struct ring back = ring_view(t.back_mem, PINGPONG_SLOTS, RING_CONSUMER_OFF);
        ring_reset(&there);
        ring_reset(&back);
        pthread_barrier_init(&t.go, NULL, 2);
        pthread_t ping, echo;
        pthread_create(&ping, NULL, pingpong_ping, &t);
        pthread_create(&echo, NULL, pingpong_echo, &t);
        pthread_join(ping, NULL);
        pthread_join(echo, NULL);
        pthread_barrier_destroy(&t.go);
        qsort(t.ns, (size_t)t.iters, sizeof *t.ns, by_u64);
        p50[rep] = (double)t.ns[t.iters / 2] / 1000.0;
        p99[rep] = (double)t.ns[(long)((double)t.iters * 0.99)] / 1000.0;
        p999[rep] = (double)t.ns[(long)((double)t.iters * 0.999)] / 1000.0;
    }
    char name[160];
    snprintf(name, sizeof name, "c.pingpong.%s.rtt_p50", wait);
    report(name, "us", p50, reps);
    snprintf(name, sizeof name, "c.pingpong.%s.rtt_p99", wait);
    report(name, "us", p99, reps);
    snprintf(name, sizeof name, "c.pingpong.%s.rtt_p999", wait);
    report(name, "us", p999, reps);
    free(t.ns);
}

/* ------------------------------------------------------------------ tcppingpong */

struct tcp_run {
    int listener;
};

/* Exactly n bytes, or false at end of stream / error. */
static bool read_full(int fd, uint8_t *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        got += (size_t)r;
    }
    return true;
}

static bool write_full(int fd, const uint8_t *buf, size_t n) {
    size_t put = 0;
    while (put < n) {
        ssize_t r = write(fd, buf + put, n - put);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        put += (size_t)r;
    }
    return true;
}

static void no_delay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) fail("setsockopt TCP_NODELAY");
}

/* The device side: answer each GET_DEVICE_STATUS with its token and a status word. */
static void *tcp_server(void *arg) {
    struct tcp_run *t = arg;
    int fd = accept(t->listener, NULL, NULL);
    if (fd < 0) fail("accept");
    no_delay(fd);
    uint8_t req[8], resp[12] = {0x01, 0x07, 0, 0, 0, 0, 12, 0, 0x0f, 0, 0, 0};
    while (read_full(fd, req, sizeof req)) {
        memcpy(resp + 2, req + 2, 4); /* dev_num and token */
        if (!write_full(fd, resp, sizeof resp)) break;
    }
    close(fd);
    return NULL;
}

static void run_tcppingpong(void) {
    long ms = arg_long("ms", 1000);
    int reps = arg_reps(5);
    if (ms < 1) fail("ms must be >= 1");
    double rates[MAX_REPS];
    for (int rep = 0; rep < reps; rep++) {
        struct tcp_run t = {0};
        t.listener = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
        socklen_t len = sizeof addr;
        if (t.listener < 0 || bind(t.listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(t.listener, 1) != 0 ||
            getsockname(t.listener, (struct sockaddr *)&addr, &len) != 0) fail("listen on 127.0.0.1");
        pthread_t server;
        pthread_create(&server, NULL, tcp_server, &t);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) fail("connect");
        no_delay(fd);
        uint8_t req[8] = {0x00, 0x07, 1, 0, 0, 0, 8, 0}, resp[12];
        long n = 0;
        double t0 = seconds(), until = t0 + (double)ms / 1000.0 / 10.0; /* a tenth as warm-up */
        for (int phase = 0; phase < 2; phase++) {
            if (phase == 1) {
                n = 0;
                t0 = seconds();
                until = t0 + (double)ms / 1000.0;
            }
            for (;;) {
                uint16_t token = (uint16_t)(n % 0xffff + 1);
                req[4] = (uint8_t)token;
                req[5] = (uint8_t)(token >> 8);
                if (!write_full(fd, req, sizeof req) || !read_full(fd, resp, sizeof resp)) fail("tcp round trip");
                if (resp[0] != 0x01 || resp[1] != 0x07 || resp[4] != req[4] || resp[5] != req[5]) fail("tcp: wrong answer");
                n++;
                if ((n & 63) == 0 && seconds() >= until) break;
            }
        }
        rates[rep] = (double)n / (seconds() - t0);
        close(fd);
        pthread_join(server, NULL);
        close(t.listener);
    }
    report("c.tcppingpong.rtps", "round trips/s", rates, reps);
}

int main(int argc, char **argv) {
    arg_count = argc;
    arg_values = argv;
    fill_table();
    const char *mode = argc >= 2 ? argv[1] : "";
    if (strcmp(mode, "tput") == 0) run_tput();
    else if (strcmp(mode, "route1") == 0) run_route1();
    else if (strcmp(mode, "route2") == 0) run_route2();
    else if (strcmp(mode, "pingpong") == 0) run_pingpong();
    else if (strcmp(mode, "tcppingpong") == 0) run_tcppingpong();
    else {
        fprintf(stderr, "usage: %s tput|route1|route2|pingpong|tcppingpong [key=value ...]\n", argv[0]);
        return 1;
    }
    return 0;
}
