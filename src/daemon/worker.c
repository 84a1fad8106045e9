/*
 * worker: accept, dispatch, log, repeat.  Everything costly (config, keys,
 * the listening socket) was prepared by the master; the database connection
 * is this process's own, opened here after fork.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "app.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "router.h"
#include "timeutil.h"
#include "worker.h"

/* SIGTERM: the service stops; serve what is already queued, then exit.
 * SIGUSR2: this worker retires (reload, recycle): exit after the request
 * in flight, the others take the queue. */
static volatile sig_atomic_t worker_stop, worker_retire;

#define DRAIN_MAX_USEC (5 * USEC_PER_SEC)

static void
on_signal(int sig)
{
	/* no FCGX_ShutdownPending(): it would stop libfcgi from accepting the
	 * connections still queued, and poll() already returns on a signal */
	if (sig == SIGUSR2)
		worker_retire = 1;
	else
		worker_stop = 1;
}

static int
sink_fcgx(void *ctx, const char *buf, size_t len)
{
	FCGX_Stream *out = ctx;

	while (len > 0) {
		int chunk = len > 65536 ? 65536 : (int)len;

		if (FCGX_PutStr(buf, chunk, out) != chunk)
			return -1;
		buf += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

static long
source_fcgx(void *ctx, char *buf, size_t len)
{
	FCGX_Stream *in = ctx;
	int n = FCGX_GetStr(buf, len > 65536 ? 65536 : (int)len, in);

	return n < 0 ? -1 : n;
}

static void
access_log(const struct http_request *req)
{
	char path[256], user[96];
	int64_t us = time_mono_usec() - req->start_mono_usec;

	log_escape(path, sizeof(path), req->path ? req->path : "",
	    req->path ? strlen(req->path) : 0);
	log_escape(user, sizeof(user), req->authenticated ? req->claims.sub : "-",
	    req->authenticated ? strlen(req->claims.sub) : 1);
	log_info("req=%s %s /%s %d %lld.%03lldms user=%s role=%s bytes=%zu%s%s",
	    req->request_id, req->method ? req->method : "-", path, req->status,
	    (long long)(us / 1000), (long long)(us % 1000), user,
	    req->authenticated ? jwt_role_name(req->claims.role) : "-",
	    req->bytes_out, req->error_code ? " error=" : "",
	    req->error_code ? req->error_code : "");
}

static void
serve_one(struct app *app, FCGX_Request *fr)
{
	struct http_request req;

	memset(&req, 0, sizeof(req));
	req.start_mono_usec = time_mono_usec();
	req.sink.write = sink_fcgx;
	req.sink.ctx = fr->out;
	req.source.read = source_fcgx;
	req.source.ctx = fr->in;
	if (http_request_from_env(&req, fr->envp, http_api_prefixes) != 0) {
		req.path = "";
		http_send_error(&req, 404, "not_found", "no such endpoint",
		    NULL, NULL);
	} else
		router_dispatch(app, &req);
	access_log(&req);
	http_request_reset(&req);
}

static void
install_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: poll() must return */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * Waits for a connection.  The listening socket is non-blocking (set by the
 * master), so a worker that loses the race for a connection gets EAGAIN
 * instead of blocking where a signal could not reach it.
 * Returns 1 when one may be ready, 0 when the worker should exit.
 */
static int
wait_for_connection(int listen_fd, int64_t *drain_until)
{
	struct pollfd pfd;
	int n;

	for (;;) {
		if (worker_retire)
			return 0;
		if (worker_stop) {
			/* the master has unlinked the socket: drain the queue */
			if (*drain_until == 0)
				*drain_until = time_mono_usec() + DRAIN_MAX_USEC;
			if (time_mono_usec() > *drain_until)
				return 0;
		}
		pfd.fd = listen_fd;
		pfd.events = POLLIN;
		n = poll(&pfd, 1, worker_stop ? 0 : -1);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0; /* stopping and nothing queued */
		if (errno != EINTR)
			log_fatal("poll");
	}
}

void
worker_main(const struct billing_config *cfg, struct jwt_keys *keys,
    int listen_fd, pid_t master)
{
	struct app app;
	FCGX_Request fr;
	int64_t drain_until = 0;
	long served = 0;
	int rc;

	install_signals();
	/* a worker must not outlive its master */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master)
		exit(0);
	srandom((unsigned)(getpid() ^ time_now_usec()));

	memset(&app, 0, sizeof(app));
	app.cfg = cfg;
	app.keys = keys;
	if ((app.db = db_new(&cfg->database)) == NULL)
		log_fatalx("out of memory");
	/* a database that is down now is retried on each request */
	if (db_connect(app.db) != DB_OK)
		log_warnx("database not reachable yet: %s", db_error(app.db));

	if (FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		log_fatalx("FCGX_InitRequest failed");
	while (wait_for_connection(listen_fd, &drain_until)) {
		rc = FCGX_Accept_r(&fr);
		if (rc == -EAGAIN || rc == -EWOULDBLOCK || rc == -EINTR)
			continue; /* another worker took it, or a signal came */
		if (rc < 0) {
			log_warnx("accept failed: %s", strerror(-rc));
			break;
		}
		serve_one(&app, &fr);
		FCGX_Finish_r(&fr);
		if (cfg->max_requests > 0 && ++served >= cfg->max_requests) {
			log_debug("recycling after %ld requests", served);
			break;
		}
	}
	FCGX_Free(&fr, 1);
	db_free(app.db);
	exit(0);
}
