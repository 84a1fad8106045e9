/*
 * master: the parent of the workers.  Signal handlers only set flags; the
 * work happens in the loop around sigsuspend.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "jwt.h"
#include "listen.h"
#include "log.h"
#include "master.h"
#include "timeutil.h"
#include "worker.h"

#define MAX_CHILDREN 1024
#define STOP_GRACE_SEC 30        /* then in-flight requests are cut */
#define CRASH_WINDOW_USEC (10 * USEC_PER_SEC)
#define CRASH_BACKOFF_MAX_SEC 30

struct child {
	pid_t pid;
	int slot;       /* -1 once retired: it finishes and is not replaced */
	int64_t started;
};

static volatile sig_atomic_t got_chld, got_term, got_hup, got_alrm;

static struct child children[MAX_CHILDREN];
static pid_t master_pid;
static size_t nchildren;

/* per-slot crash accounting, so one broken worker backs off alone */
static struct slot_state {
	int crashes;
	int64_t last_crash;
	int64_t respawn_at;  /* 0: no respawn pending */
} slots[256];

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGCHLD: got_chld = 1; break;
	case SIGHUP: got_hup = 1; break;
	case SIGALRM: got_alrm = 1; break;
	default: got_term = 1; break;
	}
}

static void
install_signals(sigset_t *oldmask)
{
	struct sigaction sa;
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGALRM);
	/* not the master's, but blocked so that a new worker holds it until
	 * its own handler is in place */
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, oldmask);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static int
spawn(int slot, const struct billing_config *cfg, struct jwt_keys *keys,
    int listen_fd)
{
	pid_t pid;

	if (nchildren == MAX_CHILDREN)
		return -1;
	if ((pid = fork()) == -1) {
		log_warn("fork");
		return -1;
	}
	if (pid == 0)
		worker_main(cfg, keys, listen_fd, master_pid);
	children[nchildren].pid = pid;
	children[nchildren].slot = slot;
	children[nchildren].started = time_mono_usec();
	nchildren++;
	slots[slot].respawn_at = 0;
	return 0;
}

static void
signal_all(int sig, int only_retired)
{
	size_t i;

	for (i = 0; i < nchildren; i++)
		if (!only_retired || children[i].slot < 0)
			kill(children[i].pid, sig);
}

/* Exited normally (recycled, or retired): back at once.  Crashed: back off
 * when the same slot keeps crashing. */
static void
note_exit(int slot, int status, int64_t started)
{
	struct slot_state *s = &slots[slot];
	int64_t now = time_mono_usec();
	int delay;

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		s->respawn_at = now;
		return;
	}
	if (WIFSIGNALED(status))
		log_warnx("worker (slot %d) killed by signal %d", slot,
		    WTERMSIG(status));
	else
		log_warnx("worker (slot %d) exited with status %d", slot,
		    WEXITSTATUS(status));
	if (now - s->last_crash > CRASH_WINDOW_USEC ||
	    now - started > CRASH_WINDOW_USEC)
		s->crashes = 0;
	s->crashes++;
	s->last_crash = now;
	delay = s->crashes <= 3 ? 0 : 1 << (s->crashes - 4 > 5 ? 5 : s->crashes - 4);
	if (delay > CRASH_BACKOFF_MAX_SEC)
		delay = CRASH_BACKOFF_MAX_SEC;
	if (delay > 0)
		log_warnx("slot %d crashed %d times in a row: respawning in %d s",
		    slot, s->crashes, delay);
	s->respawn_at = now + (int64_t)delay * USEC_PER_SEC;
}

static void
reap(void)
{
	int status;
	pid_t pid;
	size_t i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < nchildren; i++)
			if (children[i].pid == pid)
				break;
		if (i == nchildren)
			continue;
		if (children[i].slot >= 0)
			note_exit(children[i].slot, status, children[i].started);
		children[i] = children[--nchildren];
	}
}

static int
slot_alive(int slot)
{
	size_t i;

	for (i = 0; i < nchildren; i++)
		if (children[i].slot == slot)
			return 1;
	return 0;
}

/* Starts every slot that is due; arms an alarm for the ones that wait. */
static void
fill_slots(int nworkers, const struct billing_config *cfg,
    struct jwt_keys *keys, int listen_fd)
{
	int64_t now = time_mono_usec(), next = 0;
	int slot;

	for (slot = 0; slot < nworkers; slot++) {
		if (slot_alive(slot))
			continue;
		if (slots[slot].respawn_at > now) {
			if (next == 0 || slots[slot].respawn_at < next)
				next = slots[slot].respawn_at;
			continue;
		}
		if (spawn(slot, cfg, keys, listen_fd) != 0) {
			slots[slot].respawn_at = now + USEC_PER_SEC;
			next = next ? next : slots[slot].respawn_at;
		}
	}
	if (next != 0)
		alarm((unsigned)((next - now) / USEC_PER_SEC + 1));
}

struct jwt_keys *
master_load_keys(const struct billing_config *cfg, char *err, size_t errlen)
{
	struct jwt_keys *keys;
	char why[256];

	if ((keys = jwt_keys_new(cfg->jwt_secret, cfg->jwt_public_key_file, err,
	    errlen)) == NULL)
		return NULL;
	if (jwt_keys_set_claims(keys,
	    (const char *const *)cfg->jwt_user_claims, cfg->n_jwt_user_claims,
	    cfg->jwt_issuer, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "jwtUserClaims: %s", why);
		jwt_keys_free(keys);
		return NULL;
	}
	return keys;
}

/* Re-reads the config; on success every worker is replaced, new ones first. */
static void
reload(const char *config_path, struct billing_config **cfg,
    struct jwt_keys **keys, int *nworkers)
{
	struct billing_config *ncfg;
	struct jwt_keys *nkeys;
	char err[512];
	size_t i;

	if ((ncfg = config_load(config_path, err, sizeof(err))) == NULL) {
		log_warnx("reload refused, keeping the running config: %s", err);
		return;
	}
	if ((nkeys = master_load_keys(ncfg, err, sizeof(err))) == NULL) {
		log_warnx("reload refused, keeping the running config: %s", err);
		config_free(ncfg);
		return;
	}
	if (strcmp(ncfg->listen, (*cfg)->listen) != 0)
		log_warnx("listen changed: it takes effect on restart only");
	for (i = 0; i < nchildren; i++)
		children[i].slot = -1;
	for (i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
		memset(&slots[i], 0, sizeof(slots[i]));
	/* the old config stays valid in the workers' own copies */
	config_free(*cfg);
	jwt_keys_free(*keys);
	*cfg = ncfg;
	*keys = nkeys;
	*nworkers = ncfg->workers;
	log_info("configuration reloaded: replacing workers (%d)", *nworkers);
}

/*
 * Graceful stop: the socket's path goes first, so that nothing new queues
 * on it, then the workers serve what is already queued and their requests
 * in flight, then they exit.
 */
static void
stop_all(const char *listen_spec)
{
	int64_t deadline = time_mono_usec() + STOP_GRACE_SEC * USEC_PER_SEC;
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	listen_cleanup(listen_spec);
	signal_all(SIGTERM, 0);
	while (nchildren > 0 && time_mono_usec() < deadline) {
		reap();
		if (nchildren > 0)
			nanosleep(&ts, NULL);
	}
	if (nchildren > 0) {
		log_warnx("%zu workers still busy after %d s: killing them",
		    nchildren, STOP_GRACE_SEC);
		signal_all(SIGKILL, 0);
		while (nchildren > 0 && waitpid(-1, NULL, 0) > 0)
			reap();
	}
}

int
master_run(const char *config_path, struct billing_config *cfg,
    struct jwt_keys *keys, int listen_fd)
{
	sigset_t oldmask;
	int nworkers = cfg->workers;

	if (nworkers > (int)(sizeof(slots) / sizeof(slots[0])))
		nworkers = (int)(sizeof(slots) / sizeof(slots[0]));
	master_pid = getpid();
	install_signals(&oldmask);
	log_info("listening on %s with %d workers", cfg->listen, nworkers);
	fill_slots(nworkers, cfg, keys, listen_fd);
	for (;;) {
		sigsuspend(&oldmask);
		if (got_term)
			break;
		if (got_chld) {
			got_chld = 0;
			reap();
		}
		if (got_hup) {
			got_hup = 0;
			reload(config_path, &cfg, &keys, &nworkers);
			if (nworkers > (int)(sizeof(slots) / sizeof(slots[0])))
				nworkers = (int)(sizeof(slots) / sizeof(slots[0]));
			fill_slots(nworkers, cfg, keys, listen_fd);
			signal_all(SIGUSR2, 1); /* retire after the request in flight */
			continue;
		}
		got_alrm = 0;
		fill_slots(nworkers, cfg, keys, listen_fd);
	}
	log_info("stopping: serving queued and in-flight requests first");
	stop_all(cfg->listen);
	close(listen_fd);
	config_free(cfg);
	jwt_keys_free(keys);
	log_info("stopped");
	return 0;
}
