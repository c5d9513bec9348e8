// SPDX-License-Identifier: MIT
/*
 * nsfill: fills network namespaces with loopback TCP sockets in known states,
 * so the benchmark can measure walks over every namespace of a host.
 *
 *   nsfill --established K --close-wait C --time-wait T [--max-seconds S] NETNS_FILE...
 *
 * For each NETNS_FILE (/run/netns/NAME), it enters the namespace (setns),
 * brings its lo up, and makes on 127.0.0.1 there: a listener, K established
 * connections (2K sockets), C connections the server closed and the client
 * did not (CLOSE_WAIT on the client, FIN_WAIT2 on the server: 2C sockets),
 * and T connections the client closed first (TIME_WAIT on the client, the
 * server's end gone: T sockets). Then it goes back to its own namespace.
 * Traffic stays on the loopback of the namespaces it is given.
 *
 * Prints {"namespaces":N,"sockets":S} once every socket is made, then holds
 * them until stdin closes, SIGINT/SIGTERM, or --max-seconds (default 120)
 * pass. Its TIME_WAIT sockets last 60 s, or until their namespace goes.
 * Exit 0; 1 on a setup error, 2 on a usage error (both on stderr).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hold.h"

#define MAX_NAMESPACES 1000
#define MAX_PER_STATE 10000
#define MAX_SECONDS 3600

static void die(const char *what, const char *where)
{
	fprintf(stderr, "nsfill: %s%s%s: %s\n", what, where ? " in " : "", where ? where : "", strerror(errno));
	exit(1);
}

static void usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "nsfill: %s\n", msg);
	fprintf(stderr, "usage: nsfill --established K --close-wait C --time-wait T [--max-seconds S] NETNS_FILE...\n");
	exit(2);
}

static long parse_arg(const char *name, const char *v, long min, long max)
{
	char *end;
	long n = v ? strtol(v, &end, 10) : 0;

	if (!v || !*v || *end || n < min || n > max) {
		fprintf(stderr, "nsfill: %s must be %ld..%ld\n", name, min, max);
		exit(2);
	}
	return n;
}

/* A new namespace's loopback is down: connecting to 127.0.0.1 would fail. */
static void lo_up(const char *where)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		die("reading lo's flags", where);
	if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			die("bringing lo up", where);
	}
	close(fd);
}

static int listener(struct sockaddr_in *sa, const char *where)
{
	int fd = loopback_listener(sa);

	if (fd < 0)
		die("listener on 127.0.0.1", where);
	return fd;
}

/* One connection to our own listener: its client and server ends. */
static void connect_one(int lfd, const struct sockaddr_in *sa, int *client, int *server, const char *where)
{
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*client < 0 || connect(*client, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		die("connect", where);
	*server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*server < 0)
		die("accept", where);
}

/* The client closes first; the server reads its FIN, then closes: TIME_WAIT on the client's side. */
static void time_wait_one(int lfd, const struct sockaddr_in *sa, const char *where)
{
	int client, server;
	char byte;

	connect_one(lfd, sa, &client, &server, where);
	close(client);
	if (read(server, &byte, 1) != 0)
		die("waiting for the client's FIN", where);
	close(server);
}

/* Every socket of one namespace; returns how many it made. */
static long fill(const char *netns_file, long established, long close_wait, long time_wait)
{
	struct sockaddr_in sa;
	int ns = open(netns_file, O_RDONLY | O_CLOEXEC), lfd, client, server;

	if (ns < 0 || setns(ns, CLONE_NEWNET) < 0)
		die("entering", netns_file);
	close(ns);
	lo_up(netns_file);
	lfd = listener(&sa, netns_file);
	for (long i = 0; i < established; i++)
		connect_one(lfd, &sa, &client, &server, netns_file); /* both ends kept */
	for (long i = 0; i < close_wait; i++) {
		connect_one(lfd, &sa, &client, &server, netns_file);
		close(server); /* the client never closes: CLOSE_WAIT */
	}
	for (long i = 0; i < time_wait; i++)
		time_wait_one(lfd, &sa, netns_file);
	return 1 + 2 * established + 2 * close_wait + time_wait;
}

/* Raises the soft fd limit to the hard one (no privilege needed); fails if the fill needs more. */
static void enough_fds(long needed)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit", NULL);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit", NULL);
	if ((rlim_t)needed + 64 > rl.rlim_cur) {
		fprintf(stderr, "nsfill: %ld fds needed, RLIMIT_NOFILE is %llu\n", needed, (unsigned long long)rl.rlim_cur);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	long established = -1, close_wait = -1, time_wait = -1, max_seconds = 120, sockets = 0;
	int first_ns = argc, home;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--", 2)) {
			first_ns = i;
			break;
		}
		if (i + 1 >= argc)
			usage("an option needs a value");
		if (!strcmp(argv[i], "--established"))
			established = parse_arg(argv[i], argv[i + 1], 0, MAX_PER_STATE);
		else if (!strcmp(argv[i], "--close-wait"))
			close_wait = parse_arg(argv[i], argv[i + 1], 0, MAX_PER_STATE);
		else if (!strcmp(argv[i], "--time-wait"))
			time_wait = parse_arg(argv[i], argv[i + 1], 0, MAX_PER_STATE);
		else if (!strcmp(argv[i], "--max-seconds"))
			max_seconds = parse_arg(argv[i], argv[i + 1], 1, MAX_SECONDS);
		else
			usage("unknown option");
		i++;
	}
	long namespaces = argc - first_ns;

	if (established < 0 || close_wait < 0 || time_wait < 0)
		usage("--established, --close-wait and --time-wait are required");
	if (namespaces < 1 || namespaces > MAX_NAMESPACES)
		usage("give 1..1000 namespace files");

	prctl(PR_SET_PDEATHSIG, SIGKILL); /* however the bench ends, so do we */
	alarm((unsigned)max_seconds + 5); /* and whatever happens, by then */
	enough_fds(namespaces * (1 + 2 * established + close_wait));
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0)
		die("opening our own namespace", NULL);
	for (int i = first_ns; i < argc; i++)
		sockets += fill(argv[i], established, close_wait, time_wait);
	if (setns(home, CLONE_NEWNET) < 0)
		die("going back to our own namespace", NULL);
	close(home);
	printf("{\"namespaces\":%ld,\"sockets\":%ld}\n", namespaces, sockets);
	fflush(stdout);

	hold_until_stdin_closes(max_seconds);
	return 0;
}
