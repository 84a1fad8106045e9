/*
 * listen: the FastCGI listening socket, opened once by the master and
 * inherited by every worker.
 */
#ifndef DAEMON_LISTEN_H
#define DAEMON_LISTEN_H

#include <stddef.h>

/*
 * Opens spec: "unix:/path" or "/path" (a stale socket file is replaced; the
 * socket gets `mode` so nginx's group can connect), or "host:port".
 * Returns the fd, or -1 with a reason in err.
 */
int listen_open(const char *spec, int mode, char *err, size_t errlen);

/* Removes the socket file of a unix spec (on shutdown). */
void listen_cleanup(const char *spec);

#endif
