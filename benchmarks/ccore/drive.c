/* The C core measured through its own API (native/qbtrigger.h), with no Python in the loop:
 * what a C supervisor embedding qbtrigger gets, and how much of feed_many's time from Python is
 * the binding. Reads a workload written by benchmarks/ccore/__init__.py (jobs, callbacks, events
 * files), registers it, applies the events once with qbt_feed_many (the measured pass, on a fresh
 * network, like benchmarks.compare), and prints one JSON line.
 *
 * When DIR holds keys.txt, the C floor (qbtrigger/bench/floor.c, linked in) runs right after the
 * measured pass, in this process, on the same events: its figure shares the pass's moment, cache
 * and CPU, so their ratio is far less moved by the machine than two figures taken apart.
 *
 * An optional MODE after DIR drives more of the core, for instruction counts (valgrind
 * --tool=callgrind) rather than timings: `feed` applies the events one qbt_feed at a time; `aware`
 * makes a state-aware network, then registers every callback again (catch-up fires them), drains
 * the catch-up queue with its events, adds clock atoms per job and advances the clock, and
 * removes every job.
 *
 * Built at run time: cc -O2 -Inative drive.c floor.c and the sources of native/ (workload.h reads
 * DIR). */
#define _POSIX_C_SOURCE 200809L
#include "qbtrigger.h"
#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* CPU time of this thread: on a shared machine, less moved by other processes than the clock. */
static double cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* floor.c */
double qbt_floor_run(const char *events, size_t events_len, const char *keys, size_t keys_len, uint64_t *out);

/* The whole of DIR/NAME in a malloc'd buffer (*len bytes, less a final newline); NULL if absent. */
static char *slurp(const char *dir, const char *name, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "drive: out of memory reading %s\n", path);
        exit(3);
    }
    *len = n && buf[n - 1] == '\n' ? n - 1 : n;
    return buf;
}

/* ns/event of the C floor on DIR's events and keys, -1 without keys.txt. */
static double floor_ns(const char *dir) {
    size_t events_len, keys_len;
    char *keys = slurp(dir, "keys.txt", &keys_len);
    if (!keys)
        return -1.0;
    char *events = slurp(dir, "events.txt", &events_len);
    uint64_t out[3];
    double ns = events ? qbt_floor_run(events, events_len, keys, keys_len, out) : -1.0;
    free(events);
    free(keys);
    if (ns < 0) {
        fprintf(stderr, "drive: the C floor could not run\n");
        exit(3);
    }
    return ns;
}

/* The clock's part of the `aware` mode: a repeat and a one-shot time atom per job, then the clock
 * moved on in steps, asking for the next moment due before each. */
static int drive_clock(qbt_net *net, const unsigned *jobs, size_t njobs) {
    char expr[64];
    uint64_t handle;
    for (size_t i = 0; i < njobs; i++) {
        const char *p = expr;
        size_t n = (size_t)snprintf(expr, sizeof expr, "tick-repeat-self-%zu-7 || t-time-self-%zu", i % 7, 50 + i % 500);
        if (qbt_add(net, &p, &n, 1, jobs[i], (uint32_t)(i % 3), &handle) != QBT_OK)
            return 1;
    }
    for (uint64_t now = 10; now <= 1000; now += 10) {
        if (qbt_next_due(net, 1) == 0 && qbt_next_due(net, 0) == 0)
            break;
        if (qbt_advance(net, now) != QBT_OK)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: drive DIR [batch|feed|aware]\n");
        return 2;
    }
    const char *mode = argc == 3 ? argv[2] : "batch";
    int aware = strcmp(mode, "aware") == 0, one_by_one = strcmp(mode, "feed") == 0;
    if (!aware && !one_by_one && strcmp(mode, "batch") != 0) {
        fprintf(stderr, "drive: unknown mode %s\n", mode);
        return 2;
    }
    qbt_net *net = qbt_new(aware);
    if (!net)
        return 3;
    size_t njobs;
    unsigned *jobs = add_jobs(net, argv[1], &njobs);
    if (!jobs)
        return 4;
    double t0 = now_ns();
    size_t ncallbacks = register_callbacks(net, argv[1]);
    double register_ns = now_ns() - t0;
    if (!ncallbacks)
        return 5;
    size_t n;
    size_t *lens;
    const char **events = read_events(argv[1], &n, &lens);
    if (!events)
        return 3;

    t0 = now_ns();
    double c0 = cpu_ns();
    size_t fired = 0, count;
    if (one_by_one) {
        for (size_t i = 0; i < n; i++) {
            if (qbt_feed(net, events[i], lens[i]) != QBT_OK)
                return 6;
            qbt_output(net, &count);
            fired += count;
        }
    } else {
        if (qbt_feed_many(net, events, lens, n) != QBT_OK)
            return 6;
        qbt_output(net, &fired);
    }
    double feed_ns = now_ns() - t0, feed_cpu_ns = cpu_ns() - c0;
    double floor = floor_ns(argv[1]);
    if (aware) {
        const qbt_catch_up_event *caught;
        if (register_callbacks(net, argv[1]) != ncallbacks || qbt_drain_catch_up_events(net, &caught, &count) != QBT_OK)
            return 7;
        if (drive_clock(net, jobs, njobs) != 0)
            return 8;
        for (size_t i = 0; i < njobs; i++)
            if (qbt_remove_job(net, jobs[i]) != QBT_OK)
                return 9;
    }
    qbt_stats stats;
    qbt_get_stats(net, &stats);
    printf("{\"callbacks\": %zu, \"events\": %zu, \"fired\": %zu, \"feed_many_ns_per_event\": %.1f, "
           "\"feed_many_cpu_ns_per_event\": %.1f, \"register_ns_per_callback\": %.1f, \"bytes_per_callback\": %.1f, "
           "\"floor_ns_per_event\": %.1f}\n",
           ncallbacks, n, fired, feed_ns / (double)n, feed_cpu_ns / (double)n, register_ns / (double)ncallbacks,
           (double)stats.bytes / (double)ncallbacks, floor);
    qbt_free(net);
    for (size_t i = 0; i < n; i++)
        free((void *)events[i]);
    free(events);
    free(lens);
    free(jobs);
    return 0;
}
