/* The C core measured through its own API (native/qbtrigger.h), with no Python in the loop:
 * what a C supervisor embedding qbtrigger gets, and how much of feed_many's time from Python is
 * the binding. Reads a workload written by benchmarks/ccore/__init__.py (jobs, callbacks, events
 * files), registers it, applies the events once with qbt_feed_many (the measured pass, on a fresh
 * network, like benchmarks.compare), and prints one JSON line.
 *
 * Built at run time: cc -O2 -Inative drive.c native/*.c. */
#define _POSIX_C_SOURCE 200809L
#include "qbtrigger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static FILE *open_or_die(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    return f;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: drive DIR\n");
        return 2;
    }
    qbt_net *net = qbt_new(0);
    if (!net)
        return 3;
    FILE *f = open_or_die(argv[1], "jobs.txt");
    unsigned job, pgrp;
    long pid;
    char label[256];
    while (fscanf(f, "%u %u %255s %ld", &job, &pgrp, label, &pid) == 4) {
        int has_label = strcmp(label, "-") != 0;
        if (qbt_add_job(net, job, pgrp, has_label ? label : NULL, has_label ? strlen(label) : 0,
                        pid < 0 ? QBT_NO_PID : (uint32_t)pid) != QBT_OK)
            return 4;
    }
    fclose(f);

    char *line = NULL;
    size_t cap = 0, ncallbacks = 0;
    ssize_t len;
    uint64_t handle;
    f = open_or_die(argv[1], "callbacks.txt");
    double t0 = now_ns();
    while ((len = getline(&line, &cap, f)) > 0) {
        line[--len] = '\0';
        char *tab = strchr(line, '\t');
        const char *expr = tab + 1;
        size_t expr_len = strlen(expr);
        if (qbt_add(net, &expr, &expr_len, 1, (uint32_t)strtoul(line, NULL, 10), 0, &handle) != QBT_OK)
            return 5;
        ncallbacks++;
    }
    double register_ns = now_ns() - t0;
    fclose(f);

    size_t n = 0, ecap = 1024;
    const char **events = malloc(ecap * sizeof *events);
    size_t *lens = malloc(ecap * sizeof *lens);
    f = open_or_die(argv[1], "events.txt");
    while (events && lens && (len = getline(&line, &cap, f)) > 0) {
        if (n == ecap) {
            ecap *= 2;
            events = realloc(events, ecap * sizeof *events);
            lens = realloc(lens, ecap * sizeof *lens);
            if (!events || !lens)
                return 3;
        }
        line[--len] = '\0';
        events[n] = strdup(line);
        lens[n++] = (size_t)len;
    }
    fclose(f);
    free(line);

    t0 = now_ns();
    if (qbt_feed_many(net, events, lens, n) != QBT_OK)
        return 6;
    double feed_ns = now_ns() - t0;
    size_t fired;
    qbt_output(net, &fired);
    qbt_stats stats;
    qbt_get_stats(net, &stats);
    printf("{\"callbacks\": %zu, \"events\": %zu, \"fired\": %zu, \"feed_many_ns_per_event\": %.1f, "
           "\"register_ns_per_callback\": %.1f, \"bytes_per_callback\": %.1f}\n",
           ncallbacks, n, fired, feed_ns / (double)n, register_ns / (double)ncallbacks,
           (double)stats.bytes / (double)ncallbacks);
    qbt_free(net);
    return 0;
}
