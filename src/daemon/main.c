/*
 * billingd: the StreamSpace billing FastCGI daemon.
 *
 *   billingd [-c config] [-t] [-p pidfile]
 *
 * Loads and validates the config, opens the listening socket, initializes
 * the libraries once, then hands over to the master, which forks workers.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>
#include <mysql.h>

#include "config.h"
#include "jwt.h"
#include "listen.h"
#include "log.h"
#include "master.h"

static void
usage(void)
{
	fprintf(stderr, "usage: billingd [-t] [-c config] [-p pidfile]\n"
	    "  -c FILE  configuration (default $BILLING_CONFIG or %s)\n"
	    "  -t       check the configuration and exit\n"
	    "  -p FILE  write the master's pid to FILE\n",
	    config_default_path());
	exit(2);
}

/* fds 0-2 must be open so that no socket or log ends up on them. */
static void
ensure_std_fds(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

static void
write_pidfile(const char *path)
{
	FILE *f;

	if (path == NULL)
		return;
	if ((f = fopen(path, "w")) == NULL)
		log_fatal("pidfile %s", path);
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

int
main(int argc, char *argv[])
{
	const char *config_path = NULL, *pidfile = NULL;
	struct billing_config *cfg;
	struct jwt_keys *keys;
	char err[512];
	int ch, check_only = 0, fd, rc;

	ensure_std_fds();
	log_init("billingd");
	while ((ch = getopt(argc, argv, "c:p:th")) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'p': pidfile = optarg; break;
		case 't': check_only = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();

	if ((cfg = config_load(config_path, err, sizeof(err))) == NULL)
		log_fatalx("config: %s", err);
	if ((keys = master_load_keys(cfg, err, sizeof(err))) == NULL)
		log_fatalx("config: %s", err);
	if (check_only) {
		printf("configuration ok\n");
		jwt_keys_free(keys);
		config_free(cfg);
		return 0;
	}

	/* library state shared by all workers is set up once, before fork */
	if (mysql_library_init(0, NULL, NULL) != 0)
		log_fatalx("cannot initialize the MariaDB client library");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		log_fatalx("cannot initialize libcurl");
	if (FCGX_Init() != 0)
		log_fatalx("cannot initialize libfcgi");
	if ((fd = listen_open(cfg->listen, cfg->listen_mode, err,
	    sizeof(err))) == -1)
		log_fatalx("%s", err);
	/* workers poll, then accept without blocking: see worker.c */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		log_fatal("fcntl");
	write_pidfile(pidfile);

	rc = master_run(config_path, cfg, keys, fd);
	if (pidfile != NULL)
		unlink(pidfile);
	curl_global_cleanup();
	mysql_library_end();
	return rc;
}
