/*
 * utf8: see utf8.h.
 */
#include "utf8.h"

size_t
utf8_char(const char *str, unsigned *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned c = s[0], v, lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0x01 && c <= 0x7f) {
		n = 1;
		v = c;
	} else if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
		lo = c == 0xe0 ? 0xa0 : 0x80;   /* not overlong */
		hi = c == 0xed ? 0x9f : 0xbf;   /* not a surrogate */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
		lo = c == 0xf0 ? 0x90 : 0x80;   /* not overlong */
		hi = c == 0xf4 ? 0x8f : 0xbf;   /* not above U+10FFFF */
	} else
		return 0;
	for (i = 1; i < n; i++) {
		/* a NUL here fails too: the string ends inside the character */
		if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xbf))
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (cp != NULL)
		*cp = v;
	return n;
}

int
utf8_valid(const char *s)
{
	size_t n;

	while (*s != '\0') {
		if ((n = utf8_char(s, NULL)) == 0)
			return 0;
		s += n;
	}
	return 1;
}
