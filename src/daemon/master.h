/*
 * master: forks the workers, replaces the ones that die, recycles them on
 * SIGHUP with a freshly loaded config, and stops them gracefully on
 * SIGTERM/SIGINT.
 */
#ifndef BILLINGD_MASTER_H
#define BILLINGD_MASTER_H

#include <stddef.h>

struct billing_config;
struct jwt_keys;

/*
 * The token rules of cfg: its keys (jwtSecret, jwtPublicKeyFile), the
 * claims that name the user (jwtUserClaims) and the issuer (jwtIssuer).
 * Returns keys the caller frees with jwt_keys_free, or NULL with err set.
 */
struct jwt_keys *master_load_keys(const struct billing_config *cfg,
    char *err, size_t errlen);

/*
 * Runs until SIGTERM/SIGINT.  Consumes cfg and keys (they are replaced on
 * reload and freed at exit).  config_path is re-read on SIGHUP.
 * Returns the process exit code.
 */
int master_run(const char *config_path, struct billing_config *cfg,
    struct jwt_keys *keys, int listen_fd);

#endif
