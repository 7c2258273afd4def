/* Placeholder until the client protocol lands: no client socket is served. */
#include "daemon.h"

int server_start(struct daemon *d)
{
    (void)d;
    return 0;
}
void server_stop(struct daemon *d)
{
    (void)d;
}
void server_on_stack_event(struct daemon *d, int handle, unsigned events)
{
    (void)d;
    (void)handle;
    (void)events;
}
