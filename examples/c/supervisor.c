/*
 * supervisor.c: a small supervisor loop on libqbtrigger (docs/embedding.md).
 *
 * A composite job waits on the frames of two render jobs. The loop registers its callbacks, feeds
 * the farm's events one batch at a time and "runs" each callback that fires (here: prints it).
 * Halfway it checkpoints with qbt_snapshot, then plays a restart: a new network is restored from
 * the checkpoint and fed the rest, beside the original, and both must fire the same callbacks.
 * A damaged checkpoint is refused with a message and changes nothing.
 *
 * Build against an installed library:  cc supervisor.c $(pkg-config --cflags --libs qbtrigger)
 */
#include <qbtrigger.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAMES 3

/* Stops the program on anything but QBT_OK, with the network's own message. */
static void check(qbt_net *net, qbt_status st, const char *what) {
    if (st == QBT_OK)
        return;
    size_t len;
    const char *msg = qbt_error_message(net, &len);
    fprintf(stderr, "%s failed (status %d): %.*s\n", what, (int)st, (int)len, msg);
    exit(1);
}

static uint64_t add(qbt_net *net, const char *expr, uint32_t owner, uint32_t maximum) {
    size_t len = strlen(expr);
    uint64_t handle;
    check(net, qbt_add(net, &expr, &len, 1, owner, maximum, &handle), expr);
    return handle;
}

/* Feeds one batch; returns how many callbacks fired and writes "event:handle" pairs to out. */
static size_t feed(qbt_net *net, const char *const *events, size_t n, char *out, size_t cap) {
    size_t lens[16];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(events[i]);
    check(net, qbt_feed_many(net, events, lens, n), "feed");
    size_t count, used = 0;
    const qbt_firing *fired = qbt_output(net, &count);
    out[0] = '\0';
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(out + used, cap - used, " %s:%llu", events[fired[i].key],
                                 (unsigned long long)fired[i].handle);
    return count;
}

int main(void) {
    if (strcmp(qbt_version(), QBT_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", QBT_VERSION_STRING, qbt_version());
        return 1;
    }
    qbt_net *net = qbt_new(1); /* state-aware */
    if (!net)
        return 1;
    check(net, qbt_add_job(net, 100, 100, "comp", 4, QBT_NO_PID), "add_job 100");
    check(net, qbt_add_job(net, 101, 100, "A", 1, 100), "add_job 101");
    check(net, qbt_add_job(net, 102, 100, "B", 1, 100), "add_job 102");
    char expr[96];
    for (int f = 1; f <= FRAMES; f++) {
        snprintf(expr, sizeof expr, "complete-work-A-%d && complete-work-B-%d", f, f);
        printf("callback %llu: %s\n", (unsigned long long)add(net, expr, 100, 0), expr);
    }
    printf("callback %llu: done-job-A && done-job-B (once)\n",
           (unsigned long long)add(net, "done-job-A && done-job-B", 100, 1));

    static const char *const first[] = {"complete-work-101-1", "complete-work-102-2", "complete-work-102-1"};
    static const char *const second[] = {"complete-work-101-2", "complete-work-101-3", "complete-job-101",
                                         "complete-work-102-3", "failed-job-102"};
    char out[512], out2[512];
    feed(net, first, 3, out, sizeof out);
    printf("batch 1 fired:%s\n", out);

    uint8_t *checkpoint;
    size_t size;
    check(net, qbt_snapshot(net, &checkpoint, &size), "snapshot");
    printf("checkpoint: %zu bytes, format %d\n", size, QBT_SNAPSHOT_VERSION);

    qbt_net *restarted = qbt_new(0);
    if (!restarted)
        return 1;
    qbt_status st = qbt_restore(restarted, checkpoint, size - 1); /* a torn write */
    size_t len;
    const char *msg = qbt_error_message(restarted, &len);
    printf("torn checkpoint refused: %s (%.*s)\n", st == QBT_ESNAPSHOT ? "yes" : "NO", (int)len, msg);
    check(restarted, qbt_restore(restarted, checkpoint, size), "restore");
    qbt_snapshot_free(checkpoint);
    printf("restored: state-aware %d, clock %llu\n", qbt_state_aware(restarted),
           (unsigned long long)qbt_clock(restarted));

    size_t a = feed(net, second, 5, out, sizeof out);
    size_t b = feed(restarted, second, 5, out2, sizeof out2);
    printf("batch 2 fired:%s\n", out);
    printf("restarted network fired the same: %s\n", a == b && strcmp(out, out2) == 0 ? "yes" : "NO");
    qbt_stats stats;
    qbt_get_stats(restarted, &stats);
    printf("left: %zu callbacks, %zu jobs\n", stats.callbacks, stats.jobs);
    qbt_free(net);
    qbt_free(restarted);
    return a == b && strcmp(out, out2) == 0 ? 0 : 1;
}
