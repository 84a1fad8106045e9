/*
 * config_engine: applies a table of keys (struct key, config_impl.h) to a
 * JSON object: the defaults first, then each key the object has, by its
 * type, bounds and rule.  Unknown keys are errors; JSON null leaves the
 * default.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config_impl.h"
#include "json_util.h"

/* Key names and paths come from the file: keep them short and printable. */
void
config_safe_text(char *dst, size_t size, const char *src, size_t max)
{
	size_t i, n = 0;

	for (i = 0; src[i] != '\0' && n + 4 < size; i++) {
		if (i == max) {
			memcpy(dst + n, "...", 3);
			n += 3;
			break;
		}
		dst[n++] = (src[i] < 0x20 || src[i] == 0x7f) ? '?' : src[i];
	}
	dst[n] = '\0';
}

/* Secrets are wiped before their memory goes back. */
void
config_free_secret(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
	free(s);
}

static void
join_path(char *dst, size_t size, const char *prefix, const char *key)
{
	char safe[80];

	config_safe_text(safe, sizeof(safe), key, 64);
	if (prefix[0] == '\0')
		snprintf(dst, size, "%s", safe);
	else
		snprintf(dst, size, "%s.%s", prefix, safe);
}

int
config_set_defaults(const struct key *tab, size_t n, void *base, char *err,
    size_t errlen)
{
	const struct key *k;
	char *at;
	long ncpu;
	size_t i;

	for (i = 0; i < n; i++) {
		k = &tab[i];
		at = (char *)base + k->off;
		switch (k->type) {
		case K_BOOL:
		case K_INT:
		case K_MODE:
			*(int *)(void *)at = (int)k->def;
			if (k->flags & KF_NCPU) {
				ncpu = sysconf(_SC_NPROCESSORS_ONLN);
				if (ncpu < k->min)
					ncpu = k->min;
				if (ncpu > k->max)
					ncpu = k->max;
				*(int *)(void *)at = (int)ncpu;
			}
			break;
		case K_LONG:
			*(long *)(void *)at = (long)k->def;
			break;
		case K_UINT:
			*(unsigned *)(void *)at = (unsigned)k->def;
			break;
		case K_MONEY:
			*(int64_t *)(void *)at = 0;
			break;
		case K_STR:
			if (k->sdef != NULL &&
			    (*(char **)(void *)at = strdup(k->sdef)) == NULL) {
				errbuf_set(err, errlen, "%s: out of memory",
				    k->name);
				return -1;
			}
			break;
		case K_CUSTOM:
			break;
		}
	}
	return 0;
}

static int
apply_string(const struct key *k, struct json_object *val, char *at,
    const char *path, char *err, size_t errlen)
{
	const char *s, *why;
	size_t len;
	char *copy;

	if (!json_object_is_type(val, json_type_string)) {
		errbuf_set(err, errlen, "%s: must be a string", path);
		return -1;
	}
	s = json_object_get_string(val);
	len = (size_t)json_object_get_string_len(val);
	if (len == 0) {
		errbuf_set(err, errlen, "%s: must not be empty (leave the "
		    "key out or use null)", path);
		return -1;
	}
	if ((long long)len < k->min || (long long)len > k->max) {
		errbuf_set(err, errlen, "%s: must be %lld to %lld bytes "
		    "long", path, k->min, k->max);
		return -1;
	}
	if (strlen(s) != len || config_has_control(s)) {
		errbuf_set(err, errlen, "%s: must not contain control "
		    "characters", path);
		return -1;
	}
	if (k->check != NULL && (why = k->check(s)) != NULL) {
		errbuf_set(err, errlen, "%s: %s", path, why);
		return -1;
	}
	if ((copy = strdup(s)) == NULL) {
		errbuf_set(err, errlen, "%s: out of memory", path);
		return -1;
	}
	config_free_secret(*(char **)(void *)at);
	*(char **)(void *)at = copy;
	return 0;
}

static int
apply_mode(struct json_object *val, char *at, const char *path, char *err,
    size_t errlen)
{
	const char *s;
	int64_t v;
	size_t i;

	if (json_object_is_type(val, json_type_int)) {
		v = json_object_get_int64(val);
		if (v >= 0 && v <= 0777) {
			*(int *)(void *)at = (int)v;
			return 0;
		}
	} else if (json_object_is_type(val, json_type_string)) {
		/* octal digits, as chmod takes them: "660" or "0660" */
		s = json_object_get_string(val);
		for (i = 0, v = 0; i < 4 && s[i] >= '0' && s[i] <= '7'; i++)
			v = v * 8 + (s[i] - '0');
		if (i > 0 && s[i] == '\0' && v <= 0777) {
			*(int *)(void *)at = (int)v;
			return 0;
		}
	}
	errbuf_set(err, errlen, "%s: must be an octal string such as "
	    "\"0660\" or an integer from 0 to 511", path);
	return -1;
}

static int
apply_key(const struct key *k, struct json_object *val, void *base,
    const char *path, char *err, size_t errlen)
{
	char *at = (char *)base + k->off;
	int64_t v;

	switch (k->type) {
	case K_BOOL:
		if (!json_object_is_type(val, json_type_boolean)) {
			errbuf_set(err, errlen, "%s: must be true or false",
			    path);
			return -1;
		}
		*(int *)(void *)at = json_object_get_boolean(val) ? 1 : 0;
		return 0;
	case K_INT:
	case K_LONG:
	case K_UINT:
		/* json-c clamps huge integers to INT64_MAX: the bounds catch it */
		if (!json_object_is_type(val, json_type_int) ||
		    (v = json_object_get_int64(val)) < k->min || v > k->max) {
			errbuf_set(err, errlen, "%s: must be an integer "
			    "from %lld to %lld", path, k->min, k->max);
			return -1;
		}
		if (k->type == K_INT)
			*(int *)(void *)at = (int)v;
		else if (k->type == K_LONG)
			*(long *)(void *)at = (long)v;
		else
			*(unsigned *)(void *)at = (unsigned)v;
		return 0;
	case K_MODE:
		return apply_mode(val, at, path, err, errlen);
	case K_MONEY:
		/* from the number's own text: 0.1 is exactly 100000 */
		if (json_get_money(val, k->decimals, &v) == -1 || v < 0) {
			errbuf_set(err, errlen, "%s: must be a non-negative "
			    "decimal with at most %d decimals", path,
			    k->decimals);
			return -1;
		}
		*(int64_t *)(void *)at = v;
		return 0;
	case K_STR:
		return apply_string(k, val, at, path, err, errlen);
	case K_CUSTOM:
		return k->parse(val, base, path, err, errlen);
	}
	return -1;
}

/*
 * Applies tab to the JSON object obj, storing into base.  Unknown keys are
 * errors (they are typos); JSON null leaves the default.
 */
int
config_parse_object(struct json_object *obj, const struct key *tab, size_t n,
    void *base, const char *prefix, char *err, size_t errlen)
{
	struct json_object_iterator it, end;
	struct json_object *val;
	const char *name;
	char path[PATH_TEXT];
	uint64_t seen = 0;
	size_t i;

	it = json_object_iter_begin(obj);
	end = json_object_iter_end(obj);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		name = json_object_iter_peek_name(&it);
		val = json_object_iter_peek_value(&it);
		join_path(path, sizeof(path), prefix, name);
		for (i = 0; i < n; i++)
			if (strcmp(tab[i].name, name) == 0)
				break;
		if (i == n) {
			errbuf_set(err, errlen, "%s: unknown key", path);
			return -1;
		}
		if (val == NULL)
			continue;
		seen |= (uint64_t)1 << i;
		if (apply_key(&tab[i], val, base, path, err, errlen) == -1)
			return -1;
	}
	for (i = 0; i < n; i++) {
		if ((tab[i].flags & KF_REQUIRED) && !(seen & ((uint64_t)1 << i))) {
			join_path(path, sizeof(path), prefix, tab[i].name);
			errbuf_set(err, errlen, "%s: required", path);
			return -1;
		}
	}
	return 0;
}
