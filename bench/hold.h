/* What the bench's holders (tcphold, nsfill) share: a listener on 127.0.0.1,
 * and holding their sockets until the bench closes our stdin, or max_seconds
 * pass. SIGINT and SIGTERM end the process by default. */
#ifndef TCPTRACE_BENCH_HOLD_H
#define TCPTRACE_BENCH_HOLD_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A listener on an ephemeral port of 127.0.0.1, its address in *sa; -1 on failure. */
static int loopback_listener(struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &len) < 0)
		return -1;
	return fd;
}

static void hold_until_stdin_closes(long max_seconds)
{
	struct pollfd in = { .fd = 0, .events = POLLIN };
	char buf[64];

	for (long waited = 0; waited < max_seconds * 1000; waited += 200) {
		if (poll(&in, 1, 200) > 0 && read(0, buf, sizeof(buf)) <= 0)
			break;
	}
}

#endif
