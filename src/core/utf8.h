/*
 * utf8: the one rule for well-formed UTF-8 (Unicode's table 3-7: no
 * overlong forms, no surrogates, nothing above U+10FFFF), for every check
 * of text that comes from outside.
 */
#ifndef BILLING_UTF8_H
#define BILLING_UTF8_H

#include <stddef.h>

/* The length (1 to 4) of the well-formed character that starts s, with its
 * code point in *cp (may be NULL); 0 when the bytes there are not one (a
 * NUL, which ends the string, is not one either). */
size_t utf8_char(const char *s, unsigned *cp);

/* 1 when the string s is well-formed UTF-8, else 0. */
int utf8_valid(const char *s);

#endif
