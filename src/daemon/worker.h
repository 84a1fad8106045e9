/*
 * worker: one preforked process serving FastCGI requests, one at a time,
 * on its own database connection.
 */
#ifndef BILLINGD_WORKER_H
#define BILLINGD_WORKER_H

struct billing_config;
struct jwt_keys;

#define WORKER_API_PREFIX "/api/plugins/billing/"

/*
 * Serves requests from listen_fd until SIGTERM (the request in flight
 * finishes first) or until cfg->max_requests have been served.  Never
 * returns: exits 0 on a normal stop, non-zero if it could not start.
 * cfg and keys are borrowed from the master's copy inherited across fork.
 */
void worker_main(const struct billing_config *cfg, struct jwt_keys *keys,
    int listen_fd) __attribute__((noreturn));

#endif
