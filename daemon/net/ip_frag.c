/* IPv4 and IPv6 reassembly, IPv4 fragmentation (ip_frag.h). One instance per family: the
 * families differ in the timeout (30 s, 60 s), so each keeps its expiry list in order. */
#include "ip_frag.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "checksum.h"

/* A fragment's bytes: [start, end) of the datagram's payload. */
struct frag_piece {
    struct frag_piece *next; /* sorted by start, disjoint */
    uint32_t start, end;
    uint8_t data[];
};

/* What one source address holds (the per-source bound). */
struct frag_src {
    struct frag_src *hnext;
    struct ip_addr addr;
    uint64_t bytes;
};

/* One datagram being reassembled. */
struct frag_queue {
    struct frag_queue *hnext;         /* hash chain */
    struct frag_queue *lprev, *lnext; /* by arrival of the first fragment, = by expiry */
    struct frag_src *owner;
    struct ip_addr src, dst;
    uint32_t id;
    uint8_t proto; /* IPv4; 0 for IPv6, whose key is (src, dst, id) */
    bool v6;
    uint8_t nh_ptr; /* IPv6: the Next Header field naming the fragment header */
    bool dead;      /* discarded (overlap, inconsistent): fragments dropped until expiry */
    bool have_last; /* the fragment with MF clear arrived: total is known */
    uint32_t total; /* payload bytes of the whole datagram, once have_last */
    uint32_t received;
    uint32_t npieces;
    uint64_t expire;
    uint64_t charged; /* bytes charged to the bounds */
    uint8_t hdr_len;  /* 0 until the first fragment (offset 0) arrived */
    uint8_t quote_len;
    uint8_t hdr[IPF_QUOTE_MAX]; /* the first fragment's header(s) + 8 bytes of data */
    struct frag_piece *pieces;
};

struct ip_frag {
    struct stack_stats *stats;
    uint64_t *drops; /* ip_drop_fragment or ip6_drop_fragment */
    uint64_t mem_max, src_max, used;
    uint32_t timeout_ms;
    uint64_t key[2];
    struct frag_queue **qtab;
    uint32_t qmask;
    struct frag_src **stab;
    uint32_t smask;
    struct frag_queue *lhead, *ltail;
    uint8_t out[IPF_MAX_DGRAM + IPV6_HDR_LEN]; /* IPv6: the payload length excludes the header */
};

void ip_frag_set_drop_counter(struct ip_frag *f, uint64_t *c)
{
    f->drops = c;
}

size_t ip_frag_queue_cost(void)
{
    return sizeof(struct frag_queue);
}

size_t ip_frag_piece_cost(size_t len)
{
    return sizeof(struct frag_piece) + len;
}

static uint32_t pow2_at_least(uint64_t n, uint32_t lo, uint32_t hi)
{
    uint32_t v = lo;
    while (v < n && v < hi)
        v *= 2;
    return v;
}

struct ip_frag *ip_frag_new(uint64_t mem_max, uint32_t timeout_ms, const uint8_t key[16],
                            struct stack_stats *stats)
{
    struct ip_frag *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->stats = stats;
    f->drops = &stats->ip_drop_fragment;
    f->mem_max = mem_max;
    f->src_max = mem_max / IPF_SRC_SHARE;
    f->timeout_ms = timeout_ms;
    memcpy(f->key, key, sizeof f->key);
    uint32_t nq = pow2_at_least(mem_max / 1024, 64, 65536);
    uint32_t ns = pow2_at_least(mem_max / 16384, 64, 4096);
    f->qtab = calloc(nq, sizeof *f->qtab);
    f->stab = calloc(ns, sizeof *f->stab);
    if (!f->qtab || !f->stab) {
        ip_frag_free(f);
        return NULL;
    }
    f->qmask = nq - 1;
    f->smask = ns - 1;
    return f;
}

static uint32_t qhash(const struct ip_frag *f, struct ip_addr src, struct ip_addr dst, uint32_t id,
                      uint8_t proto)
{
    uint8_t m[37];
    memcpy(m, src.b, 16);
    memcpy(m + 16, dst.b, 16);
    put32(m + 32, id);
    m[36] = proto;
    return (uint32_t)siphash24(f->key, m, sizeof m) & f->qmask;
}

static struct frag_src **src_slot(struct ip_frag *f, struct ip_addr addr)
{
    uint8_t m[17];
    memcpy(m, addr.b, 16);
    m[16] = 'S';
    struct frag_src **pp = &f->stab[(uint32_t)siphash24(f->key, m, sizeof m) & f->smask];
    while (*pp && !ipa_eq((*pp)->addr, addr))
        pp = &(*pp)->hnext;
    return pp;
}

/* A fragment of either family, as frag_input takes it. */
struct frag_in {
    struct ip_addr src, dst;
    uint32_t id;
    uint8_t proto; /* the queue key's protocol (IPv6: 0) */
    bool v6;
    uint8_t nh_ptr;     /* IPv6 */
    uint32_t start;     /* offset of the data in the datagram's payload */
    bool mf;            /* more fragments */
    const uint8_t *hdr; /* IPv4: the header; IPv6: unfragmentable part + fragment header */
    size_t hdr_len;
    const uint8_t *payload;
    uint32_t len;
};

/* Charges n bytes to the bounds; false when either would pass. frag_mem is the sum over
 * both families' instances. */
static bool charge(struct ip_frag *f, struct frag_queue *q, uint64_t n)
{
    if (f->used + n > f->mem_max || q->owner->bytes + n > f->src_max) return false;
    f->used += n;
    q->owner->bytes += n;
    q->charged += n;
    f->stats->frag_mem += n;
    return true;
}

static void uncharge(struct ip_frag *f, struct frag_queue *q, uint64_t n)
{
    f->used -= n;
    q->owner->bytes -= n;
    q->charged -= n;
    f->stats->frag_mem -= n;
}

static void free_pieces(struct ip_frag *f, struct frag_queue *q)
{
    struct frag_piece *p = q->pieces;
    while (p) {
        struct frag_piece *n = p->next;
        uncharge(f, q, sizeof *p + (p->end - p->start));
        free(p);
        p = n;
    }
    q->pieces = NULL;
    q->npieces = 0;
    q->received = 0;
}

static void queue_free(struct ip_frag *f, struct frag_queue *q)
{
    struct frag_queue **pp = &f->qtab[qhash(f, q->src, q->dst, q->id, q->proto)];
    while (*pp != q)
        pp = &(*pp)->hnext;
    *pp = q->hnext;
    if (q->lprev)
        q->lprev->lnext = q->lnext;
    else
        f->lhead = q->lnext;
    if (q->lnext)
        q->lnext->lprev = q->lprev;
    else
        f->ltail = q->lprev;
    free_pieces(f, q);
    uncharge(f, q, sizeof *q);
    struct frag_src *o = q->owner;
    if (o->bytes == 0) {
        struct frag_src **sp = src_slot(f, o->addr);
        *sp = o->hnext;
        free(o);
    }
    free(q);
    f->stats->frag_queues--;
}

void ip_frag_free(struct ip_frag *f)
{
    if (!f) return;
    while (f->lhead)
        queue_free(f, f->lhead);
    free(f->qtab);
    free(f->stab);
    free(f);
}

/* Finds the queue of ip's datagram, or creates it (NULL when over a bound). */
static struct frag_queue *queue_get(struct ip_frag *f, const struct frag_in *ip, uint64_t now)
{
    uint32_t h = qhash(f, ip->src, ip->dst, ip->id, ip->proto);
    for (struct frag_queue *q = f->qtab[h]; q; q = q->hnext)
        if (ipa_eq(q->src, ip->src) && ipa_eq(q->dst, ip->dst) && q->id == ip->id &&
            q->proto == ip->proto)
            return q;
    struct frag_src **sp = src_slot(f, ip->src);
    uint64_t held = *sp ? (*sp)->bytes : 0;
    if (f->used + sizeof(struct frag_queue) > f->mem_max ||
        held + sizeof(struct frag_queue) > f->src_max)
        return NULL;
    struct frag_queue *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    if (!*sp) {
        *sp = calloc(1, sizeof **sp);
        if (!*sp) {
            free(q);
            return NULL;
        }
        (*sp)->addr = ip->src;
    }
    q->owner = *sp;
    q->src = ip->src;
    q->dst = ip->dst;
    q->id = ip->id;
    q->proto = ip->proto;
    q->v6 = ip->v6;
    q->expire = now + f->timeout_ms;
    charge(f, q, sizeof *q); /* checked above */
    q->hnext = f->qtab[h];
    f->qtab[h] = q;
    q->lprev = f->ltail;
    if (f->ltail)
        f->ltail->lnext = q;
    else
        f->lhead = q;
    f->ltail = q;
    f->stats->frag_queues++;
    return q;
}

/* The shortest first fragment that holds the transport header (RFC 1858 §3.2). */
static size_t min_first(uint8_t proto)
{
    return proto == IP_PROTO_TCP ? 20 : 8; /* UDP header, ICMP header */
}

static enum ip_frag_result drop(struct ip_frag *f, uint64_t *counter, const char **why,
                                const char *reason)
{
    (*counter)++;
    (*f->drops)++;
    *why = reason;
    return IPF_DROP;
}

/* Discards the datagram's fragments; later ones are dropped until the timeout. */
static void discard(struct ip_frag *f, struct frag_queue *q)
{
    free_pieces(f, q);
    q->dead = true;
}

/* Builds the whole datagram in f->out and frees q. */
static enum ip_frag_result complete(struct ip_frag *f, struct frag_queue *q, const uint8_t **out,
                                    size_t *out_len, const char **why)
{
    size_t hl = q->hdr_len;
    if (q->v6) hl -= 8; /* the fragment header goes */
    if (hl + q->total > IPF_MAX_DGRAM + (q->v6 ? IPV6_HDR_LEN : 0)) {
        f->stats->frag_too_big++;
        *why = "reassembled datagram larger than 65535 bytes";
        discard(f, q);
        return IPF_DROP;
    }
    memcpy(f->out, q->hdr, hl);
    if (q->v6) {
        f->out[q->nh_ptr] = q->hdr[hl]; /* the fragment header's next header */
        put16(f->out + 4, (uint16_t)(hl - IPV6_HDR_LEN + q->total));
    } else {
        put16(f->out + 2, (uint16_t)(hl + q->total));
        put16(f->out + 6, 0);
        put16(f->out + 10, 0);
        put16(f->out + 10, inet_checksum(f->out, hl));
    }
    for (struct frag_piece *p = q->pieces; p; p = p->next)
        memcpy(f->out + hl + p->start, p->data, p->end - p->start);
    *out = f->out;
    *out_len = hl + q->total;
    f->stats->frag_reassembled++;
    queue_free(f, q);
    return IPF_COMPLETE;
}

static enum ip_frag_result frag_input(struct ip_frag *f, const struct frag_in *ip, uint64_t now,
                                      const uint8_t **out, size_t *out_len, const char **why)
{
    struct stack_stats *s = f->stats;
    uint32_t start = ip->start;
    uint32_t len = ip->len;
    uint32_t end = start + len;
    s->frag_rx++;
    if (len == 0) return drop(f, &s->frag_bad, why, "empty fragment");
    if (ip->mf && (len & 7)) return drop(f, &s->frag_bad, why, "length not a multiple of 8");
    if ((ip->v6 ? ip->hdr_len - 8 - IPV6_HDR_LEN : ip->hdr_len) + end > IPF_MAX_DGRAM)
        return drop(f, &s->frag_too_big, why, "past 65535 bytes");
    if (!ip->v6 && start == 0 && len < min_first(ip->proto))
        return drop(f, &s->frag_tiny, why, "tiny first fragment");
    if (!ip->v6 && start == 8 && ip->proto == IP_PROTO_TCP)
        return drop(f, &s->frag_tiny, why, "TCP fragment at offset 8");
    struct frag_queue *q = queue_get(f, ip, now);
    if (!q) return drop(f, &s->frag_mem_drops, why, "reassembly memory full");
    if (q->dead) return drop(f, &s->frag_discarded, why, "datagram already discarded");

    /* where it goes, and whether it agrees with what is there */
    struct frag_piece **pp = &q->pieces;
    while (*pp && (*pp)->end <= start)
        pp = &(*pp)->next;
    struct frag_piece *nx = *pp; /* first piece ending after start */
    if (nx && nx->start < end) {
        if (nx->start == start && nx->end == end && !memcmp(nx->data, ip->payload, len))
            return drop(f, &s->frag_dups, why, "duplicate fragment");
        discard(f, q);
        return drop(f, &s->frag_overlaps, why, "overlapping fragments: datagram discarded");
    }
    /* the last fragment ends the datagram: nothing held may lie beyond it (nx, when there
     * is one, lies beyond), and no other fragment may pass it */
    bool last = !ip->mf;
    if ((last && (nx || (q->have_last && end != q->total))) ||
        (!last && q->have_last && end >= q->total)) {
        discard(f, q);
        return drop(f, &s->frag_bad, why, "fragment disagrees with the datagram's end");
    }
    if (q->npieces >= IPF_MAX_PIECES) {
        discard(f, q);
        return drop(f, &s->frag_bad, why, "too many fragments");
    }
    if (!charge(f, q, sizeof(struct frag_piece) + len)) {
        s->frag_mem_drops++;
        (*f->drops)++;
        *why = "reassembly memory full";
        if (!q->pieces && !q->hdr_len) queue_free(f, q); /* nothing held: no empty queue */
        return IPF_DROP;
    }
    struct frag_piece *p = malloc(sizeof *p + len);
    if (!p) {
        uncharge(f, q, sizeof *p + len);
        s->frag_mem_drops++;
        (*f->drops)++;
        *why = "out of memory";
        return IPF_DROP;
    }
    p->start = start;
    p->end = end;
    memcpy(p->data, ip->payload, len);
    p->next = *pp;
    *pp = p;
    q->npieces++;
    q->received += len;
    if (last) {
        q->have_last = true;
        q->total = end;
    }
    if (start == 0) {
        size_t ql = len < 8 ? len : 8;
        memcpy(q->hdr, ip->hdr, ip->hdr_len);
        memcpy(q->hdr + ip->hdr_len, ip->payload, ql);
        q->hdr_len = (uint8_t)ip->hdr_len;
        q->quote_len = (uint8_t)(ip->hdr_len + ql);
        q->nh_ptr = ip->nh_ptr;
    }
    if (q->have_last && q->hdr_len && q->received == q->total)
        return complete(f, q, out, out_len, why);
    return IPF_HELD;
}

enum ip_frag_result ip_frag_input(struct ip_frag *f, const struct ip_view *ip, uint64_t now,
                                  const uint8_t **out, size_t *out_len, const char **why)
{
    struct frag_in in = {.src = ipa_from_v4(ip->src),
                         .dst = ipa_from_v4(ip->dst),
                         .id = ip->id,
                         .proto = ip->proto,
                         .start = ip->frag_off,
                         .mf = ip->mf,
                         .hdr = ip->hdr,
                         .hdr_len = ip->hdr_len,
                         .payload = ip->payload,
                         .len = (uint32_t)ip->payload_len};
    return frag_input(f, &in, now, out, out_len, why);
}

enum ip_frag_result ip6_frag_input(struct ip_frag *f, const struct ip6_view *v, uint64_t now,
                                   const uint8_t **out, size_t *out_len, const char **why)
{
    struct frag_in in = {.src = ipa_from_v6(v->src),
                         .dst = ipa_from_v6(v->dst),
                         .id = v->frag_id,
                         .v6 = true,
                         .nh_ptr = (uint8_t)v->nh_ptr,
                         .start = v->frag_off,
                         .mf = v->frag_mf,
                         .hdr = v->hdr,
                         .hdr_len = v->frag_at + 8,
                         .payload = v->payload,
                         .len = (uint32_t)v->payload_len};
    return frag_input(f, &in, now, out, out_len, why);
}

bool ip_frag_expire(struct ip_frag *f, uint64_t now, struct ip_frag_expired *out)
{
    while (f->lhead && f->lhead->expire <= now) {
        struct frag_queue *q = f->lhead;
        bool report = !q->dead && q->hdr_len;
        if (!q->dead) f->stats->frag_timeouts++;
        if (report) {
            out->src = q->src;
            out->hdr_len = q->hdr_len;
            out->len = q->quote_len;
            memcpy(out->quote, q->hdr, q->quote_len);
        }
        queue_free(f, q);
        if (report) return true;
    }
    return false;
}

uint64_t ip_frag_deadline(const struct ip_frag *f)
{
    return f->lhead ? f->lhead->expire : UINT64_MAX;
}

size_t ip_fragment(uint8_t *buf, size_t len, uint32_t src, uint32_t dst, uint8_t proto, uint16_t id,
                   uint16_t mtu, void (*emit)(void *ctx, const uint8_t *pkt, size_t pkt_len),
                   void *ctx)
{
    size_t chunk = ((size_t)mtu - IPV4_HDR_LEN) & ~(size_t)7;
    size_t n = 0;
    for (size_t off = 0; off < len; off += chunk, n++) {
        size_t part = len - off < chunk ? len - off : chunk;
        bool more = off + part < len;
        uint8_t *h = buf + off; /* the 20 bytes before this fragment's data */
        ip_build_frag(h, src, dst, proto, id, part, (uint16_t)((more ? IP_MF : 0) | (off / 8)));
        emit(ctx, h, IPV4_HDR_LEN + part);
    }
    return n;
}
