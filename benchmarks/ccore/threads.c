/* The C core's own thread scaling, no Python and no GIL: two threads feeding two networks against
 * one thread feeding both, through the C API (what a C supervisor gets). The work is
 * benchmarks.threads': DIR's events (a workload written by benchmarks/ccore/__init__.py), repeated
 * to about 200,000 per network, fed with qbt_feed_many in batches of 20,000 into freshly registered
 * networks (every firing is counted: the two sides must agree). Each round measures both sides back to back (the order alternating); the feeding
 * threads are started before the clock and released together by a barrier. Prints one JSON line
 * per round and a last one with the medians.
 *
 * usage: threads DIR ROUNDS. Built at run time: cc -O2 -pthread -Inative threads.c and the sources
 * of native/. */
#define _POSIX_C_SOURCE 200809L
#include "qbtrigger.h"
#include "workload.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 20000
#define EVENTS_PER_NETWORK 200000

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const char *dir;
static const char **events;
static size_t *lens, nevents;

static qbt_net *fresh_network(void) {
    qbt_net *net = qbt_new(0);
    size_t njobs;
    unsigned *jobs = net ? add_jobs(net, dir, &njobs) : NULL;
    if (!jobs || !register_callbacks(net, dir)) {
        fprintf(stderr, "threads: could not register %s\n", dir);
        exit(4);
    }
    free(jobs);
    return net;
}

/* The events a network is fed: DIR's, repeated to about EVENTS_PER_NETWORK (whole repeats, as
 * benchmarks.threads makes them), the batches cut across the repeats. */
static const char **stream;
static size_t *stream_lens, nstream;

/* Feeds the stream in batches; returns the firings (exits on an error). */
static size_t feed_all(qbt_net *net) {
    size_t fired = 0, count;
    for (size_t i = 0; i < nstream; i += BATCH) {
        size_t n = nstream - i < BATCH ? nstream - i : BATCH;
        if (qbt_feed_many(net, stream + i, stream_lens + i, n) != QBT_OK) {
            fprintf(stderr, "threads: qbt_feed_many failed\n");
            exit(6);
        }
        qbt_output(net, &count);
        fired += count;
    }
    return fired;
}

typedef struct {
    qbt_net *nets[2];
    int nnets;
    pthread_barrier_t *start;
    double end, cpu;
    size_t fired;
} feeder;

static void *feed_thread(void *arg) {
    feeder *f = arg;
    pthread_barrier_wait(f->start);
    double c = cpu_s();
    for (int k = 0; k < f->nnets; k++)
        f->fired += feed_all(f->nets[k]);
    f->cpu = cpu_s() - c;
    f->end = now_s();
    return NULL;
}

/* Runs the feeders in threads of their own, released together; returns seconds from the release
 * to the last one's end, with their CPU seconds and firings summed. */
static double run(feeder *feeders, int n, double *cpu, size_t *fired) {
    pthread_barrier_t start;
    pthread_t threads[2];
    if (pthread_barrier_init(&start, NULL, (unsigned)n + 1) != 0)
        exit(3);
    for (int k = 0; k < n; k++) {
        feeders[k].start = &start;
        if (pthread_create(&threads[k], NULL, feed_thread, &feeders[k]) != 0)
            exit(3);
    }
    nanosleep(&(struct timespec){0, 10000000}, NULL); /* every thread waiting at the barrier */
    /* The clock starts before this thread's own wait, which opens the barrier: read after it, it
     * could be read late, when a released feeder takes this thread's CPU first. */
    double t0 = now_s(), end = 0;
    pthread_barrier_wait(&start);
    *cpu = 0;
    *fired = 0;
    for (int k = 0; k < n; k++) {
        pthread_join(threads[k], NULL);
        end = feeders[k].end > end ? feeders[k].end : end;
        *cpu += feeders[k].cpu;
        *fired += feeders[k].fired;
    }
    pthread_barrier_destroy(&start);
    return end - t0;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int rounds = argc == 3 ? atoi(argv[2]) : 0;
    if (rounds < 1) {
        fprintf(stderr, "usage: threads DIR ROUNDS\n");
        return 2;
    }
    dir = argv[1];
    events = read_events(dir, &nevents, &lens);
    if (!events || !nevents)
        return 3;
    size_t repeats = EVENTS_PER_NETWORK / nevents ? EVENTS_PER_NETWORK / nevents : 1;
    nstream = repeats * nevents;
    stream = malloc(nstream * sizeof *stream);
    stream_lens = malloc(nstream * sizeof *stream_lens);
    double *speedup = malloc((size_t)rounds * sizeof *speedup), *cpu_ratio = malloc((size_t)rounds * sizeof *cpu_ratio);
    if (!stream || !stream_lens || !speedup || !cpu_ratio)
        return 3;
    for (size_t i = 0; i < nstream; i++) {
        stream[i] = events[i % nevents];
        stream_lens[i] = lens[i % nevents];
    }
    for (int r = 0; r < rounds; r++) {
        double one = 0, two = 0, cpu_one = 0, cpu_two = 0;
        size_t fired_one = 0, fired_two = 0;
        for (int half = 0; half < 2; half++) {
            qbt_net *a = fresh_network(), *b = fresh_network();
            if ((half == 0) == (r % 2 == 0)) {
                feeder f = {{a, b}, 2, NULL, 0, 0, 0};
                one = run(&f, 1, &cpu_one, &fired_one);
            } else {
                feeder f[2] = {{{a, NULL}, 1, NULL, 0, 0, 0}, {{b, NULL}, 1, NULL, 0, 0, 0}};
                two = run(f, 2, &cpu_two, &fired_two);
            }
            qbt_free(a);
            qbt_free(b);
        }
        if (fired_one != fired_two) {
            fprintf(stderr, "threads: one thread fired %zu times, two threads %zu\n", fired_one, fired_two);
            return 7;
        }
        speedup[r] = one / two;
        cpu_ratio[r] = cpu_two / cpu_one;
        printf("{\"round\": %d, \"one_ms\": %.2f, \"two_ms\": %.2f, \"speedup\": %.3f, \"cpu_two_over_one\": %.3f}\n",
               r + 1, one * 1e3, two * 1e3, speedup[r], cpu_ratio[r]);
    }
    qsort(speedup, (size_t)rounds, sizeof *speedup, by_value);
    qsort(cpu_ratio, (size_t)rounds, sizeof *cpu_ratio, by_value);
    printf("{\"rounds\": %d, \"speedup\": %.3f, \"speedup_q1\": %.3f, \"speedup_q3\": %.3f, \"cpu_two_over_one\": %.3f}\n",
           rounds, speedup[rounds / 2], speedup[rounds / 4], speedup[(3 * rounds) / 4], cpu_ratio[rounds / 2]);
    for (size_t i = 0; i < nevents; i++)
        free((void *)events[i]);
    free(events);
    free(lens);
    free(stream);
    free(stream_lens);
    free(speedup);
    free(cpu_ratio);
    return 0;
}
