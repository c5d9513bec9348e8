/* What the bench's holders (tcphold, nsfill) do once their sockets are made:
 * hold them until the bench closes our stdin, or max_seconds pass. SIGINT and
 * SIGTERM end the process by default. */
#ifndef TCPTRACE_BENCH_HOLD_H
#define TCPTRACE_BENCH_HOLD_H

#include <poll.h>
#include <unistd.h>

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
