/*
 * The trivial FastCGI responder of bench/run, baseline (b): libfcgi, preforked
 * workers on one unix socket, every request answered "ok\n" with no other work
 * (the body, if any, is left unread: libfcgi discards it in FCGX_Finish_r).
 *
 *     cc -O2 -o trivial_fcgi bench/trivial_fcgi.c -lfcgi
 *     trivial_fcgi /path/to/socket 4
 *
 * Like billingd: a master that forks the workers and waits; the workers share
 * the listening socket (backlog 1024) and accept in turn.  Unlike billingd: no
 * poll before accept, no database, no logging.  SIGTERM to the master stops
 * all: the master passes it to its process group and reaps the workers.
 */
#include <fcgiapp.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void
serve(int fd)
{
	FCGX_Request r;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (FCGX_InitRequest(&r, fd, 0) != 0)
		_exit(1);
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_PutS("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n", r.out);
		FCGX_Finish_r(&r);
	}
	_exit(0);
}

static volatile sig_atomic_t stopping;

static void
on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

int
main(int argc, char **argv)
{
	int fd, i, n;

	if (argc != 3 || (n = atoi(argv[2])) < 1 || n > 256) {
		fprintf(stderr, "usage: trivial_fcgi SOCKET WORKERS\n");
		return 2;
	}
	if (FCGX_Init() != 0)
		return 1;
	unlink(argv[1]);
	if ((fd = FCGX_OpenSocket(argv[1], 1024)) < 0) {
		perror(argv[1]);
		return 1;
	}
	chmod(argv[1], 0666);
	setpgid(0, 0);
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_term;	/* no SA_RESTART: wait() returns EINTR */
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	for (i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			serve(fd);
		}
		if (pid < 0) {
			perror("fork");
			return 1;
		}
	}
	/* keep the pool at n workers; on SIGTERM stop them and reap them */
	for (;;) {
		if (stopping) {
			signal(SIGTERM, SIG_IGN);
			kill(0, SIGTERM);
			while (wait(NULL) > 0 || errno == EINTR)
				;
			return 0;
		}
		if (wait(NULL) < 0) {
			if (errno != EINTR)
				sleep(1);
			continue;
		}
		if (!stopping && fork() == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			serve(fd);
		}
	}
}
