/* The client <-> daemon wire format: frame layout, encode/decode, validation, limits.
 *
 * Pure: no sockets, no allocation, no global state. Both minitcpd (daemon/uds_transport.c) and
 * libminitcp-client link it. docs/ipc.md describes the same layout for humans.
 *
 * Every frame is a 20-byte header followed by `len` payload bytes (len <= 64 KiB).
 * All integers are little-endian. Addresses are IPv4 in host order as u32 on the wire
 * (i.e. 10.0.0.2 is the u32 0x0a000002, stored little-endian). */
#ifndef MINITCP_PROTO_FRAMES_H
#define MINITCP_PROTO_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC0 0x4d /* 'M' */
#define PROTO_MAGIC1 0x54 /* 'T' */
#define PROTO_VERSION 1
#define PROTO_HDR_LEN 20
#define PROTO_MAX_PAYLOAD 65536u
#define PROTO_MAX_FRAME (PROTO_HDR_LEN + PROTO_MAX_PAYLOAD)

/* Flow-control defaults both sides agree on (docs/ipc.md "Flow control"). */
#define PROTO_DEFAULT_RCV_WINDOW (256u * 1024u) /* bytes the daemon may push per socket */
#define PROTO_MAX_RCV_WINDOW (4u * 1024u * 1024u)
#define PROTO_MAX_BACKLOG 1024u /* accept credits a listener may hold */

/* Frame types. Requests (client -> daemon) are answered by one reply frame with the same
 * req_id unless req_id is 0; events (daemon -> client) carry req_id 0. */
enum proto_type {
    /* socket requests */
    PT_SOCKET = 0x01,  /* u8 kind, u8 pad[3]                   -> REPLY (sock_id = new id) */
    PT_BIND = 0x02,    /* u32 addr, u16 port, u16 pad           -> REPLY (val0 = port) */
    PT_LISTEN = 0x03,  /* u32 backlog (= initial accept credit) -> REPLY */
    PT_CONNECT = 0x04, /* u32 addr, u16 port, u16 pad           -> REPLY (val0 laddr, val1 lport) */
    PT_SHUTDOWN = 0x05, /* u32 how (PROTO_SHUT_*)                -> REPLY */
    PT_CLOSE = 0x06,    /* empty; flag PROTO_F_ABORT = reset     -> REPLY */
    PT_SETOPT = 0x07,   /* u32 opt, i32 value                    -> REPLY */
    PT_GETOPT = 0x08,   /* u32 opt                        -> REPLY (val0 = i32 value) */
    /* control requests */
    PT_INFO = 0x10,         /* empty -> INFO_REPLY */
    PT_LIST_CONNS = 0x11,   /* empty -> CONN_LIST frames, PROTO_F_MORE on all but the last */
    PT_STATS = 0x12,        /* empty -> STATS_LIST frames, PROTO_F_MORE on all but the last */
    PT_CAPTURE = 0x13,      /* u32 host, u16 port, u8 flags, u8 pad, u32 snaplen -> REPLY (val0
                               linktype, val1 snaplen), then CAPTURE_DATA frames */
    PT_CAPTURE_STOP = 0x14, /* empty -> the last CAPTURE_DATA, then REPLY (val0 packets
                               delivered, val1 packets dropped) */
    /* data path, both directions unless noted */
    PT_DATA = 0x20,         /* stream bytes (0..64 KiB) */
    PT_DGRAM = 0x21,        /* u32 addr, u16 port, u16 pad, datagram bytes */
    PT_CREDIT = 0x22,       /* client -> daemon: u32 more bytes (stream/dgram) or accepts */
    PT_SEND_CREDIT = 0x23,  /* daemon -> client: u32 more bytes the client may send */
    PT_CAPTURE_DATA = 0x24, /* daemon -> client: u32 drops so far, u32 pad, pcap records */
    /* replies */
    PT_REPLY = 0x40,      /* u32 status (enum proto_err), u32 val0, u32 val1 */
    PT_INFO_REPLY = 0x41, /* u32 status, u32 addr, u32 pid, u32 clients, char tun[16] */
    PT_CONN_LIST = 0x42,  /* n * PROTO_CONN_REC_LEN records */
    PT_STATS_LIST = 0x43, /* stat records, see proto_stat_rec_* */
    /* events pushed by the daemon */
    PT_EV_ACCEPTED = 0x50,  /* on the listener: u32 new_id, laddr, raddr, u16 lport, rport,
                               u32 send_credit */
    PT_EV_CONNECTED = 0x51, /* u32 laddr, u16 lport, u16 pad, u32 send_credit */
    PT_EV_EOF = 0x52,       /* empty: the peer closed its side; no more DATA follows */
    PT_EV_ERROR = 0x53,     /* u32 err (enum proto_err): the connection failed or was reset */
};

/* Header flags. Unknown bits are a decoding error. */
#define PROTO_F_MORE 0x0001u  /* a multi-frame reply continues */
#define PROTO_F_ABORT 0x0002u /* PT_CLOSE: reset the connection (RST) instead of FIN */
#define PROTO_F_ALL (PROTO_F_MORE | PROTO_F_ABORT)

#define PROTO_CAPTURE_NS 0x01 /* PT_CAPTURE flags: nanosecond timestamps */

enum proto_sock_kind { PROTO_SOCK_STREAM = 1, PROTO_SOCK_DGRAM = 2 };
enum proto_shut { PROTO_SHUT_RD = 1, PROTO_SHUT_WR = 2, PROTO_SHUT_RDWR = 3 };
enum proto_opt {
    PROTO_OPT_LINGER_ZERO = 1,  /* value != 0: close() resets the connection (SO_LINGER 0) */
    PROTO_OPT_CONGESTION = 2,   /* value: congestion control, 0 newreno, 1 cubic (stack.h's
                                   STACK_CC_*); other values: EINVAL */
    PROTO_OPT_NODELAY = 3,      /* value != 0: Nagle's algorithm off (TCP_NODELAY) */
    PROTO_OPT_KEEPALIVE = 4,    /* value != 0: keepalive on (SO_KEEPALIVE) */
    PROTO_OPT_KEEPIDLE = 5,     /* seconds of idle before the first probe, 1..32767 */
    PROTO_OPT_KEEPINTVL = 6,    /* seconds between unanswered probes, 1..32767 */
    PROTO_OPT_KEEPCNT = 7,      /* unanswered probes before the reset, 1..127 */
    PROTO_OPT_USER_TIMEOUT = 8, /* ms data may stay unacknowledged, >= 0 (0: default) */
};

/* Error codes carried in REPLY.status and EV_ERROR. Independent of the host's errno
 * numbering; proto_err_to_errno / proto_err_from_errno translate. */
enum proto_err {
    PE_OK = 0,
    PE_INVAL = 1,
    PE_BADF = 2,
    PE_ADDRINUSE = 3,
    PE_CONNREFUSED = 4,
    PE_CONNRESET = 5,
    PE_TIMEDOUT = 6,
    PE_PIPE = 7,
    PE_NOTCONN = 8,
    PE_ISCONN = 9,
    PE_MFILE = 10,
    PE_NOMEM = 11,
    PE_AGAIN = 12,
    PE_OPNOTSUPP = 13,
    PE_MSGSIZE = 14,
    PE_ADDRNOTAVAIL = 15,
    PE_NETUNREACH = 16,
    PE_HOSTUNREACH = 17,
    PE_PROTO = 18,
    PE_NOPROTOOPT = 19,
    PE_ALREADY = 20,
    PE_CONNABORTED = 21,
    PE_NOBUFS = 22,
    PE_INPROGRESS = 23,
    PE_USERS = 24, /* a client session refused: too many clients of its uid */
    PE_NFILE = 25, /* a client session refused: the daemon serves its maximum */
    PE_ACCES = 26, /* not allowed (a port below 1024, a capture: docs/security.md) */
    PE_PERM = 27,  /* not allowed on another uid's object */
    PE_OTHER = 255,
};
int proto_err_to_errno(uint32_t err);
uint32_t proto_err_from_errno(int e); /* e positive */
const char *proto_err_name(uint32_t err);

/* Decoder results (negative) */
enum proto_result {
    PROTO_OK = 0,
    PROTO_ETRUNC = -1,   /* not enough bytes yet for the header or the whole frame */
    PROTO_EMAGIC = -2,   /* first two bytes are not 'M' 'T' */
    PROTO_EVERSION = -3, /* version byte != PROTO_VERSION */
    PROTO_ETYPE = -4,    /* unknown frame type */
    PROTO_ELEN = -5,     /* payload length > PROTO_MAX_PAYLOAD */
    PROTO_EFLAGS = -6,   /* unknown flag bits or non-zero reserved field */
    PROTO_EPAYLOAD = -7, /* payload length or content invalid for this type */
    PROTO_ENOSPC = -8,   /* encoder: output buffer too small */
};
const char *proto_result_str(int r);

struct proto_hdr {
    uint8_t type;
    uint16_t flags;
    uint32_t req_id;
    uint32_t sock_id;
    uint32_t len; /* payload bytes */
};

/* Who may send a type: bit 0 client -> daemon, bit 1 daemon -> client. 0 = unknown. */
#define PROTO_DIR_C2D 1u
#define PROTO_DIR_D2C 2u
unsigned proto_type_dir(uint8_t type);
const char *proto_type_name(uint8_t type);

/* A decoded frame. Pointers (data) are views into the decoded buffer, never copies. */
struct proto_msg {
    struct proto_hdr h;
    union {
        struct {
            uint8_t kind;
        } socket;
        struct {
            uint32_t addr;
            uint16_t port;
        } addr; /* BIND, CONNECT */
        struct {
            uint32_t backlog;
        } listen;
        struct {
            uint32_t how;
        } shutdown;
        struct {
            uint32_t opt;
            int32_t value;
        } setopt; /* SETOPT; GETOPT uses opt only */
        struct {
            const uint8_t *ptr;
            size_t len;
        } data; /* DATA, CONN_LIST, STATS_LIST (raw records) */
        struct {
            uint32_t addr;
            uint16_t port;
            const uint8_t *ptr;
            size_t len;
        } dgram;
        struct {
            uint32_t n;
        } credit; /* CREDIT, SEND_CREDIT */
        struct {
            uint32_t status, val0, val1;
        } reply;
        struct {
            uint32_t status, addr, pid, clients;
            char tun[17]; /* NUL-terminated */
        } info;
        struct {
            uint32_t new_id, laddr, raddr;
            uint16_t lport, rport;
            uint32_t send_credit;
        } accepted;
        struct {
            uint32_t laddr;
            uint16_t lport;
            uint32_t send_credit;
        } connected;
        struct {
            uint32_t err;
        } error;
        struct {
            uint32_t host;    /* IPv4 address either end, 0 = any */
            uint16_t port;    /* TCP/UDP port either end, 0 = any */
            uint8_t flags;    /* PROTO_CAPTURE_* */
            uint32_t snaplen; /* 0 = the daemon's default */
        } capture;
        struct {
            uint32_t drops;     /* packets this reader lost so far */
            const uint8_t *ptr; /* pcap records (record header + bytes), whole */
            size_t len;
        } capdata;
    } u;
};

/* Header only: needs PROTO_HDR_LEN bytes (PROTO_ETRUNC otherwise, but a wrong magic or
 * version is reported as soon as those bytes are present). Checks magic, version, type,
 * flags, reserved and the length bound. */
int proto_decode_hdr(const uint8_t *buf, size_t avail, struct proto_hdr *h);
/* One whole frame from the start of buf: header + payload validated for the type.
 * On PROTO_OK *frame_len is PROTO_HDR_LEN + h.len. */
int proto_decode(const uint8_t *buf, size_t avail, struct proto_msg *m, size_t *frame_len);

/* Writes the 20-byte header. */
void proto_encode_hdr(uint8_t *out, uint8_t type, uint16_t flags, uint32_t req_id, uint32_t sock_id,
                      uint32_t len);
/* Encodes m (header from m->h, payload from the union; m->h.len is ignored and
 * computed). Returns the frame length, PROTO_ENOSPC or PROTO_EPAYLOAD/PROTO_ETYPE. */
long proto_encode(const struct proto_msg *m, uint8_t *out, size_t cap);
/* Payload length the encoder will produce for m (or <0 on error). */
long proto_payload_len(const struct proto_msg *m);

/* ---- connection records (PT_CONN_LIST) ---- */
#define PROTO_CONN_REC_LEN 160
#define PROTO_STATE_LEN 12
#define PROTO_CC_LEN 15
#define PROTO_CONN_SACK 0x01 /* proto_conn_rec.opts: SACK-permitted negotiated */
#define PROTO_CONN_TS 0x02   /* timestamps negotiated */
#define PROTO_CONN_WS 0x04   /* window scaling negotiated */
struct proto_conn_rec {
    uint8_t proto; /* 6 TCP, 17 UDP */
    char state[PROTO_STATE_LEN + 1];
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    uint32_t snd_una, snd_nxt, snd_wnd, rcv_nxt, rcv_wnd;
    uint32_t send_queue, recv_queue;
    uint32_t rto_ms, srtt_ms, retransmits;
    uint32_t pid, uid; /* owner (0 = none: released or built-in service) */
    uint32_t sock_id;  /* the owner's socket id */
    /* what `ss -ti` shows (TCP; 0 for UDP and half-open entries) */
    char cc[PROTO_CC_LEN + 1]; /* congestion control name */
    uint32_t cwnd, ssthresh;   /* bytes */
    uint32_t rttvar_ms;
    uint32_t in_flight, sacked, lost; /* bytes */
    uint32_t reord_seen, dup_segs_rcvd;
    uint64_t delivery_rate; /* bytes/s */
    uint8_t opts;           /* PROTO_CONN_* */
    uint8_t snd_wscale, rcv_wscale;
};
void proto_conn_rec_encode(uint8_t *out, const struct proto_conn_rec *r);
void proto_conn_rec_decode(const uint8_t *in, struct proto_conn_rec *r);

/* ---- stat records (PT_STATS_LIST) ----
 * u8 layer_len, layer, u8 name_len, name, u8 desc_len, desc, u64 value. Strings are not
 * NUL-terminated on the wire, 1..255 bytes (desc 0..255). */
struct proto_stat_rec {
    char layer[256], name[256], desc[256];
    uint64_t value;
};
/* Returns bytes written, or PROTO_ENOSPC / PROTO_EPAYLOAD (a string too long/empty). */
long proto_stat_rec_encode(uint8_t *out, size_t cap, const char *layer, const char *name,
                           const char *desc, uint64_t value);
/* Iterates records in buf[0..len): 1 and *off advanced, 0 at the end, PROTO_EPAYLOAD if
 * malformed. */
int proto_stat_rec_next(const uint8_t *buf, size_t len, size_t *off, struct proto_stat_rec *r);

/* ---- little-endian helpers ---- */
static inline void proto_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void proto_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void proto_put64(uint8_t *p, uint64_t v)
{
    proto_put32(p, (uint32_t)v);
    proto_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t proto_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t proto_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t proto_get64(const uint8_t *p)
{
    return (uint64_t)proto_get32(p) | (uint64_t)proto_get32(p + 4) << 32;
}

#endif
