/*
 * errbuf: the one way a function writes its error message into the
 * caller's buffer (char *err, size_t errlen), as the config loader and the
 * JWT verifier report theirs.
 */
#ifndef BILLING_ERRBUF_H
#define BILLING_ERRBUF_H

#include <stddef.h>

/* printf into err (errlen bytes, truncated); nothing when err is NULL or
 * errlen 0. */
void errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
