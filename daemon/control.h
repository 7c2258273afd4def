/* Control queries of a client: daemon info, the connection list, the stack counters. */
#ifndef MINITCP_CONTROL_H
#define MINITCP_CONTROL_H

#include <stdbool.h>

#include "frames.h"

struct session;

/* Answers m when it is a control query (PT_INFO, PT_LIST_CONNS, PT_STATS); returns false
 * for any other frame. */
bool control_frame(struct session *ss, const struct proto_msg *m);

#endif
