/*
 * worker: one preforked process serving FastCGI requests, one at a time,
 * on its own database connection.
 */
#ifndef BILLINGD_WORKER_H
#define BILLINGD_WORKER_H

#include <sys/types.h>

struct billing_config;
struct jwt_keys;

/*
 * Serves requests from listen_fd (non-blocking) until SIGTERM (it then
 * serves what is queued, up to 5 s, and exits), SIGUSR2 (it exits after
 * the request in flight) or cfg->max_requests.  Never returns: exits 0 on a
 * normal stop, non-zero if it could not start; also exits when its parent is
 * no longer `master`.  cfg and keys are borrowed from the master's copy
 * inherited across fork.
 */
void worker_main(const struct billing_config *cfg, struct jwt_keys *keys,
    int listen_fd, pid_t master) __attribute__((noreturn));

#endif
