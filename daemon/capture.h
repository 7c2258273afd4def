/* Live capture to clients (`minitcpctl capture`): every IP packet the daemon reads from or
 * writes to the TUN device, filtered per reader, pushed as pcap records in CAPTURE_DATA
 * frames over the reader's own client session (docs/ipc.md "Live capture").
 *
 * A reader never slows the stack: each has a bounded queue (its session's unsent output
 * plus the records not yet framed); a packet that does not fit is dropped for that reader
 * and counted, and the count travels in every frame and in the STOP reply. */
#ifndef MINITCP_CAPTURE_H
#define MINITCP_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "capture_filter.h"
#include "frames.h"

#define CAPTURE_QUEUE (512u * 1024u)           /* bytes a reader may have waiting in the daemon */
#define CAPTURE_BATCH (PROTO_MAX_PAYLOAD - 8u) /* records framed together */

struct session;
struct proto_hdr;

struct capture_reader {
    struct session *ss;
    struct capture_filter f;
    bool ns;
    uint32_t snaplen;
    uint8_t *batch; /* records not framed yet (CAPTURE_BATCH) */
    size_t blen;
    uint64_t packets, drops; /* delivered (queued whole) and lost */
    struct capture_reader *next, *prev;
};

/* The readers of one daemon. */
struct capture_hub {
    struct capture_reader *readers;
    unsigned n;
    uint64_t packets, drops; /* all readers, ever (stats) */
};

/* Handle PT_CAPTURE and PT_CAPTURE_STOP from a client; false for any other frame. */
bool capture_frame(struct capture_hub *hub, struct session *ss, const struct proto_msg *m);
/* One packet, in or out, seen at ts (CLOCK_REALTIME). */
void capture_packet(struct capture_hub *hub, const uint8_t *pkt, size_t len,
                    const struct timespec *ts);
/* Frames what the readers hold into their sessions' output (once per loop iteration,
 * before the sessions are written). */
void capture_flush(struct capture_hub *hub);
/* The session is closing: its reader (if any) goes. */
void capture_session_closed(struct capture_hub *hub, struct session *ss);
void capture_fini(struct capture_hub *hub);

#endif
