/* libFuzzer target: the frame decoder, fed a byte stream as the daemon's session reader
 * sees it (frames back to back, stopping at the first error or truncation). Every decoded
 * frame is re-encoded and must decode to the same header. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frames.h"

static uint8_t out[PROTO_MAX_FRAME];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        struct proto_msg m;
        size_t fl = 0;
        int rc = proto_decode(data + off, size - off, &m, &fl);
        if (rc != PROTO_OK) break;
        if (fl < PROTO_HDR_LEN || fl > size - off) __builtin_trap();
        if (m.h.type == PT_STATS_LIST) {
            size_t so = 0;
            struct proto_stat_rec r;
            while (proto_stat_rec_next(m.u.data.ptr, m.u.data.len, &so, &r) == 1) {
            }
        } else if (m.h.type == PT_CONN_LIST) {
            for (size_t i = 0; i + PROTO_CONN_REC_LEN <= m.u.data.len; i += PROTO_CONN_REC_LEN) {
                struct proto_conn_rec r;
                proto_conn_rec_decode(m.u.data.ptr + i, &r);
            }
        }
        long n = proto_encode(&m, out, sizeof out);
        if (n < 0) __builtin_trap();
        struct proto_msg m2;
        size_t fl2;
        if (proto_decode(out, (size_t)n, &m2, &fl2) != PROTO_OK) __builtin_trap();
        if (m2.h.type != m.h.type || m2.h.len != m.h.len || m2.h.sock_id != m.h.sock_id)
            __builtin_trap();
        off += fl;
    }
    return 0;
}
