/* Live capture to clients (capture.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "capture.h"
#include "pcap.h"
#include "uds_transport.h"

/* Moves the reader's records into its session's output as one CAPTURE_DATA frame. */
static void frame_batch(struct capture_reader *r)
{
    if (!r->blen) return;
    struct proto_msg m = {.h = {.type = PT_CAPTURE_DATA}};
    m.u.capdata.drops = r->drops > UINT32_MAX ? UINT32_MAX : (uint32_t)r->drops;
    m.u.capdata.ptr = r->batch;
    m.u.capdata.len = r->blen;
    out_msg(r->ss, &m); /* room was reserved against CAPTURE_QUEUE as records came */
    r->blen = 0;
}

static void reader_del(struct capture_hub *hub, struct capture_reader *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        hub->readers = r->next;
    if (r->next) r->next->prev = r->prev;
    hub->n--;
    r->ss->cap = NULL;
    free(r->batch);
    free(r);
}

static void req_capture(struct capture_hub *hub, struct session *ss, const struct proto_msg *m)
{
    int e = access_capture(ss->rights);
    if (!e && ss->cap) e = EALREADY;
    struct capture_reader *r = NULL;
    if (!e && (!(r = calloc(1, sizeof *r)) || !(r->batch = malloc(CAPTURE_BATCH)))) {
        free(r);
        e = ENOMEM;
    }
    if (e) {
        reply(ss, &m->h, 0, e, 0, 0);
        return;
    }
    r->ss = ss;
    r->f.host = m->u.capture.host;
    r->f.port = m->u.capture.port;
    r->ns = (m->u.capture.flags & PROTO_CAPTURE_NS) != 0;
    r->snaplen = m->u.capture.snaplen;
    if (!r->snaplen || r->snaplen > PCAP_SNAPLEN_DEFAULT) r->snaplen = PCAP_SNAPLEN_DEFAULT;
    /* a record never spans two frames */
    if (r->snaplen > CAPTURE_BATCH - PCAP_REC_HDR) r->snaplen = CAPTURE_BATCH - PCAP_REC_HDR;
    ss->cap = r;
    r->next = hub->readers;
    if (hub->readers) hub->readers->prev = r;
    hub->readers = r;
    hub->n++;
    reply(ss, &m->h, 0, 0, PCAP_LINKTYPE_RAW, r->snaplen);
}

static void req_stop(struct capture_hub *hub, struct session *ss, const struct proto_msg *m)
{
    struct capture_reader *r = ss->cap;
    if (!r) {
        reply(ss, &m->h, 0, EINVAL, 0, 0);
        return;
    }
    frame_batch(r); /* the last records before the reply */
    uint32_t packets = r->packets > UINT32_MAX ? UINT32_MAX : (uint32_t)r->packets;
    uint32_t drops = r->drops > UINT32_MAX ? UINT32_MAX : (uint32_t)r->drops;
    reader_del(hub, r);
    reply(ss, &m->h, 0, 0, packets, drops);
}

bool capture_frame(struct capture_hub *hub, struct session *ss, const struct proto_msg *m)
{
    switch (m->h.type) {
    case PT_CAPTURE:
        req_capture(hub, ss, m);
        return true;
    case PT_CAPTURE_STOP:
        req_stop(hub, ss, m);
        return true;
    default:
        return false;
    }
}

void capture_packet(struct capture_hub *hub, const uint8_t *pkt, size_t len,
                    const struct timespec *ts)
{
    for (struct capture_reader *r = hub->readers; r; r = r->next) {
        if (!capture_match(&r->f, pkt, len)) continue;
        size_t cap = len < r->snaplen ? len : r->snaplen;
        size_t rec = PCAP_REC_HDR + cap;
        /* what waits for this reader: unsent output, the records held, the frame header */
        if (out_pending(r->ss) + r->blen + rec + PROTO_HDR_LEN + 8 > CAPTURE_QUEUE) {
            r->drops++;
            hub->drops++;
            continue;
        }
        if (r->blen + rec > CAPTURE_BATCH) frame_batch(r);
        pcap_encode_record_header(r->batch + r->blen, r->ns, ts, (uint32_t)cap, (uint32_t)len);
        memcpy(r->batch + r->blen + PCAP_REC_HDR, pkt, cap);
        r->blen += rec;
        r->packets++;
        hub->packets++;
    }
}

void capture_flush(struct capture_hub *hub)
{
    for (struct capture_reader *r = hub->readers; r; r = r->next)
        frame_batch(r);
}

void capture_session_closed(struct capture_hub *hub, struct session *ss)
{
    if (ss->cap) reader_del(hub, ss->cap);
}

void capture_fini(struct capture_hub *hub)
{
    while (hub->readers)
        reader_del(hub, hub->readers);
}
