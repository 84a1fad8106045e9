/*
 * app: what every request handler and job needs, in one place.  Built once
 * per worker after fork (or once per helper run); borrowed by handlers.
 */
#ifndef BILLING_APP_H
#define BILLING_APP_H

struct billing_config;
struct db;
struct jwt_keys;

struct app {
	const struct billing_config *cfg; /* borrowed from the master */
	struct db *db;                    /* this process's own connection */
	struct jwt_keys *keys;            /* NULL in helpers */
};

#endif
