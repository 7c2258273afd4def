/* Control queries of a client: daemon info, the connection list, the stack counters. */
#ifndef MINITCP_CONTROL_H
#define MINITCP_CONTROL_H

#include <stdbool.h>

#include "frames.h"

struct session;

/* Answers m when it is a control query (PT_INFO, PT_LIST_CONNS, PT_STATS); returns false
 * for any other frame. */
bool control_frame(struct session *ss, const struct proto_msg *m);

/* A query answered in steps (LIST_CONNS) leaves ss->job set: each call does one bounded
 * step and returns true when the answer is complete (ss->job is NULL again). The transport
 * calls it once per slice while the session's output has room. */
bool control_step(struct session *ss);
/* The session is closing: drops its query in progress. */
void control_abort(struct session *ss);

#endif
