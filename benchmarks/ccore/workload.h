/* Reading a workload folder written by benchmarks/ccore/__init__.py (jobs.txt, callbacks.txt,
 * events.txt) into a network, for the C drivers beside it (drive.c, threads.c). Header-only: each
 * driver is one program built from its own .c and native/. */
#ifndef QBT_BENCH_WORKLOAD_H
#define QBT_BENCH_WORKLOAD_H

#include "qbtrigger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Adds the jobs of DIR/jobs.txt; returns their ids (malloc'd, *njobs of them), NULL on a failure. */
static unsigned *add_jobs(qbt_net *net, const char *dir, size_t *njobs) {
    unsigned *jobs = NULL, job, pgrp;
    size_t cap = 0;
    long pid;
    char label[256];
    FILE *f = open_or_die(dir, "jobs.txt");
    *njobs = 0;
    while (fscanf(f, "%u %u %255s %ld", &job, &pgrp, label, &pid) == 4) {
        int has_label = strcmp(label, "-") != 0;
        if (*njobs == cap) {
            cap = cap ? 2 * cap : 64;
            unsigned *bigger = realloc(jobs, cap * sizeof *jobs);
            if (!bigger)
                break;
            jobs = bigger;
        }
        if (qbt_add_job(net, job, pgrp, has_label ? label : NULL, has_label ? strlen(label) : 0,
                        pid < 0 ? QBT_NO_PID : (uint32_t)pid) != QBT_OK)
            break;
        jobs[(*njobs)++] = job;
    }
    int complete = feof(f);
    fclose(f);
    if (!complete || !jobs) {
        free(jobs);
        return NULL;
    }
    return jobs;
}

/* Registers the callbacks of DIR/callbacks.txt; returns how many (0 on a failure). */
static size_t register_callbacks(qbt_net *net, const char *dir) {
    char *line = NULL;
    size_t cap = 0, ncallbacks = 0;
    ssize_t len;
    uint64_t handle;
    FILE *f = open_or_die(dir, "callbacks.txt");
    while ((len = getline(&line, &cap, f)) > 0) {
        line[--len] = '\0';
        char *tab = strchr(line, '\t');
        const char *expr = tab + 1;
        size_t expr_len = strlen(expr);
        if (qbt_add(net, &expr, &expr_len, 1, (uint32_t)strtoul(line, NULL, 10), 0, &handle) != QBT_OK) {
            ncallbacks = 0;
            break;
        }
        ncallbacks++;
    }
    free(line);
    fclose(f);
    return ncallbacks;
}

/* The events of DIR/events.txt, each a string of its own allocated in file order (as a supervisor
 * reading a batch has them), and (*lens_out) their lengths; *n of them. NULL when out of memory. */
static const char **read_events(const char *dir, size_t *n, size_t **lens_out) {
    size_t cap = 1024, line_cap = 0;
    ssize_t len;
    char *line = NULL;
    const char **events = malloc(cap * sizeof *events);
    size_t *lens = malloc(cap * sizeof *lens);
    int ok = events && lens;
    FILE *f = open_or_die(dir, "events.txt");
    *n = 0;
    while (ok && (len = getline(&line, &line_cap, f)) > 0) {
        if (*n == cap) {
            const char **more_events = realloc(events, 2 * cap * sizeof *events);
            if (more_events)
                events = more_events;
            size_t *more_lens = more_events ? realloc(lens, 2 * cap * sizeof *lens) : NULL;
            if (more_lens)
                lens = more_lens;
            if (!more_events || !more_lens)
                break;
            cap *= 2;
        }
        line[--len] = '\0';
        char *copy = strdup(line);
        if (!copy)
            break;
        events[*n] = copy;
        lens[(*n)++] = (size_t)len;
    }
    ok = ok && feof(f);
    fclose(f);
    free(line);
    if (!ok) {
        for (size_t i = 0; events && i < *n; i++)
            free((void *)events[i]);
        free(events);
        free(lens);
        return NULL;
    }
    *lens_out = lens;
    return events;
}

#endif /* QBT_BENCH_WORKLOAD_H */
