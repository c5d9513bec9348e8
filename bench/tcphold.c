// SPDX-License-Identifier: MIT
/*
 * tcphold: holds N idle loopback TCP connections open, so the benchmark can
 * measure tcptrace with many live sockets (2N: both ends are on this host).
 *
 *   tcphold --connections N [--max-seconds S]
 *
 * Connects only to listeners of its own on 127.0.0.1, prints
 * {"held":N,"sockets":2N} once all are established, then holds them until
 * stdin closes, SIGINT/SIGTERM, or --max-seconds (default 900) pass.
 * RLIMIT_NOFILE cannot be raised past its hard limit without
 * CAP_SYS_RESOURCE, so the connections are spread over worker processes,
 * each within the limit it inherited.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hold.h"

#define MAX_CONNECTIONS 500000
#define MAX_WORKERS 256

static void die(const char *what)
{
	fprintf(stderr, "tcphold: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long parse_arg(const char *name, const char *v, long min, long max)
{
	char *end;
	long n = v ? strtol(v, &end, 10) : 0;

	if (!v || *end || n < min || n > max) {
		fprintf(stderr, "tcphold: %s must be %ld..%ld\n", name, min, max);
		exit(2);
	}
	return n;
}

/* Connections one process can hold: two fds each, within its soft/hard limit. */
static long connections_per_process(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl); /* raising the soft limit needs no privilege */
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	return ((long)(rl.rlim_cur > 1000000 ? 1000000 : rl.rlim_cur) - 64) / 2;
}

static int listener(struct sockaddr_in *sa)
{
	int fd = loopback_listener(sa);

	if (fd < 0)
		die("listener on 127.0.0.1");
	return fd;
}

/* One connection: connect (the handshake completes in the kernel), then accept its other end. */
static void hold_one(int lfd, const struct sockaddr_in *sa)
{
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (c < 0 || connect(c, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		die("connect");
	if (accept4(lfd, NULL, NULL, SOCK_CLOEXEC) < 0)
		die("accept");
}

/* A worker: its share of connections, then hold them until the parent goes. */
static void hold_share(long share, int ready_fd, long max_seconds)
{
	struct sockaddr_in sa;
	int lfd;

	prctl(PR_SET_PDEATHSIG, SIGKILL); /* however the parent ends, so do we */
	lfd = listener(&sa);
	for (long i = 0; i < share; i++)
		hold_one(lfd, &sa);
	if (write(ready_fd, "r", 1) != 1)
		die("write");
	close(ready_fd);
	/* Ends with the parent or after max_seconds at the latest. */
	alarm((unsigned)max_seconds + 5);
	for (;;)
		pause();
}

static void stop_workers(const pid_t *workers, int n)
{
	for (int i = 0; i < n; i++)
		kill(workers[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(workers[i], NULL, 0);
}

int main(int argc, char **argv)
{
	long connections = 0, max_seconds = 900;

	for (int i = 1; i < argc; i += 2) {
		if (!strcmp(argv[i], "--connections"))
			connections = parse_arg(argv[i], argv[i + 1], 1, MAX_CONNECTIONS);
		else if (!strcmp(argv[i], "--max-seconds"))
			max_seconds = parse_arg(argv[i], argv[i + 1], 1, 3600);
		else {
			fprintf(stderr, "usage: tcphold --connections N [--max-seconds S]\n");
			return 2;
		}
	}
	if (!connections) {
		fprintf(stderr, "usage: tcphold --connections N [--max-seconds S]\n");
		return 2;
	}

	long per = connections_per_process();
	pid_t workers[MAX_WORKERS];
	int nworkers = 0, ready[2];

	if (per < 1 || (connections + per - 1) / per > MAX_WORKERS) {
		fprintf(stderr, "tcphold: RLIMIT_NOFILE too low for %ld connections\n", connections);
		return 1;
	}
	if (pipe(ready) < 0)
		die("pipe");
	for (long first = 0; first < connections; first += per) {
		long share = connections - first < per ? connections - first : per;
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			hold_share(share, ready[1], max_seconds);
			_exit(0);
		}
		workers[nworkers++] = pid;
	}
	close(ready[1]);
	/* One byte per worker once it holds its share; EOF early means one died. */
	char byte;
	for (int i = 0; i < nworkers; i++)
		if (read(ready[0], &byte, 1) != 1) {
			fprintf(stderr, "tcphold: a worker failed\n");
			stop_workers(workers, nworkers);
			return 1;
		}
	printf("{\"held\":%ld,\"sockets\":%ld}\n", connections, connections * 2);
	fflush(stdout);

	hold_until_stdin_closes(max_seconds);
	stop_workers(workers, nworkers);
	return 0;
}
