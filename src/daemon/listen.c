/*
 * listen: unix or TCP listening sockets for FastCGI.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"

#define LISTEN_BACKLOG 1024

static const char *
unix_path(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return spec + 5;
	if (spec[0] == '/')
		return spec;
	return NULL;
}

static int
open_unix(const char *path, int mode, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "listen: socket path too long");
		return -1;
	}
	strcpy(sun.sun_path, path);
	/* replace a socket left by a previous run, never any other file */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "listen: %s exists and is not a socket",
			    path);
			return -1;
		}
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "listen: socket: %s", strerror(errno));
		return -1;
	}
	/* no window in which the socket exists with a looser mode */
	old = umask(0777 & ~(mode_t)mode);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "listen: bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	chmod(path, (mode_t)mode);
	if (listen(fd, LISTEN_BACKLOG) == -1) {
		snprintf(err, errlen, "listen: %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
open_tcp(const char *spec, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256];
	const char *colon = strrchr(spec, ':');
	int fd = -1, one = 1, r;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
		snprintf(err, errlen, "listen: expected host:port");
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((r = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res)) != 0) {
		snprintf(err, errlen, "listen: %s: %s", spec, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, LISTEN_BACKLOG) == 0)
			break;
		snprintf(err, errlen, "listen: %s: %s", spec, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int
listen_open(const char *spec, int mode, char *err, size_t errlen)
{
	const char *path = unix_path(spec);

	return path ? open_unix(path, mode, err, errlen) :
	    open_tcp(spec, err, errlen);
}

void
listen_cleanup(const char *spec)
{
	const char *path = unix_path(spec);
	struct stat st;

	if (path != NULL && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
}
