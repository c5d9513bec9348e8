/*
 * tcpstorm: a bounded loopback TCP connection storm for benchmarks.
 *
 *   tcpstorm --duration SECONDS [--count N] [--concurrency C]
 *            [--server-closes-first | --abort] [--rate CONN_PER_S]
 *
 * Safe by construction: it only connects to 127.0.0.1 (hard-coded), to ports
 * its own server just bound there, stops by itself after --duration
 * (required, at most 600 s) or --count completed connections, then waits at
 * most 2 s for connections still in flight and prints one JSON line:
 *   {"connections":N,"failed":N,"seconds":S,"rate":R,"mode":"...","concurrency":C}
 * (mode: client-closes-first, server-closes-first or client-aborts)
 * "seconds" runs from the first connect to the end of that wait. Exit 0 on
 * success, 1 on setup errors, 2 on usage errors (both on stderr).
 *
 * Two threads: a server thread (non-blocking accept loop + epoll) and a
 * client thread (C non-blocking connects in flight + epoll). A single thread
 * would cap the rate at what one core can do; with two the storm can use
 * both cores of a small machine. Use --rate to leave headroom instead.
 *
 * Each connection: connect; then the side that closes first closes as soon as
 * it can (client: once connected; server: right after accept) and the other
 * closes when it reads EOF. No data, no SO_LINGER (but see --abort): 10 TCP
 * state transitions per connection, 5 per side:
 *   client CLOSE>SYN_SENT>ESTABLISHED>FIN_WAIT1>FIN_WAIT2>CLOSE (or the
 *     passive-close sequence below, with --server-closes-first)
 *   server LISTEN>SYN_RECV>ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSE
 * (TIME_WAIT is a separate timewait socket: no transition of its own), plus
 * CLOSE>LISTEN>CLOSE once per listening socket.
 *
 * --abort: the client closes each connection as soon as it is connected with
 * SO_LINGER {on, 0}, so the kernel sends a RST instead of a FIN (no data is
 * ever sent, so the RST is the client's only close), and the server closes
 * when its read fails with ECONNRESET. 6 transitions per connection, 3 per
 * side, and one RST (tcp:tcp_send_reset on the client, tcp:tcp_receive_reset
 * on the server):
 *   client CLOSE>SYN_SENT>ESTABLISHED>CLOSE
 *   server LISTEN>SYN_RECV>ESTABLISHED>CLOSE
 * No TIME_WAIT on either side. Not with --server-closes-first.
 *
 * TIME_WAIT lands on the side that closes first. Client-closes-first (the
 * default) leaves it on the client's (port, server port) pairs; the client
 * binds nothing and relies on net.ipv4.tcp_tw_reuse=2 (loopback reuse after
 * 1 s, the default). connect() prefers even ephemeral ports and scans them
 * all before the odd ones, so with a single server port, once ~14k even
 * ports hold fresh TIME_WAITs every connect() scans 14k ports and the storm
 * stalls for the rest of the second. The server therefore listens on NLISTEN
 * ports (all 127.0.0.1) and the client spreads connections over them, which
 * keeps each destination well under ~14k connections/s. connect() failing
 * with EADDRNOTAVAIL is counted as a failure and retried 1 ms later.
 * With --server-closes-first TIME_WAIT is on the server's side, a new SYN
 * recycles it, the client never runs out of ports, and one server port is
 * enough (fewer TIME_WAITs left behind).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DURATION_S 600
#define MAX_CONCURRENCY 16384
#define LISTEN_BACKLOG 4096
#define NLISTEN 4                /* server ports; see TIME_WAIT above */
#define DRAIN_NS (2 * NS_PER_S)  /* bounded wait for in-flight connections */
#define SERVER_GRACE_NS NS_PER_S /* server: finish accepted/queued ones */
#define RETRY_NS NS_PER_MS       /* back-off after a failed connect */
#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define MAX_EVENTS 256

enum { FREE = 0, CONNECTING, CONNECTED }; /* client fd states */
enum { OPEN = 1, LISTENER };              /* server fd states */

struct opts {
    double duration_s;
    long long count; /* 0: unbounded */
    int concurrency;
    int server_closes_first;
    int abort;      /* client closes with a RST (SO_LINGER {on, 0}) */
    long long rate; /* 0: unpaced */
};

struct shared {
    struct opts o;
    int nlisten;
    int listen_fd[NLISTEN];
    uint16_t port[NLISTEN]; /* network byte order */
    int nfds;               /* size of the per-fd state arrays */
    atomic_llong connected; /* client sockets that reached ESTABLISHED */
    atomic_int client_done;
};

struct client {
    struct shared *sh;
    int ep;
    unsigned char *state; /* by fd */
    int inflight;
    long long completed, failed;
    long long tokens_milli; /* token bucket, 1/1000 connection units */
    long long last_refill_ms;
    long long retry_at;     /* no new connects before this (ns) */
    unsigned next_port;     /* round-robin over the server ports */
    long long start_ns, end_ns;
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "tcpstorm: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ---------------------------------------------------------------- options */

static void usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "tcpstorm: %s\n", msg);
    fprintf(stderr, "usage: tcpstorm --duration SECONDS [--count N] [--concurrency C]\n"
                    "                [--server-closes-first | --abort] [--rate CONN_PER_S]\n"
                    "  --duration S   required, 0 < S <= %d\n"
                    "  --count N      stop after N completed connections\n"
                    "  --concurrency  connections in flight, 1..%d (default 64)\n"
                    "  --rate R       start at most R connections per second\n"
                    "  --server-closes-first  the server closes first (TIME_WAIT on its side)\n"
                    "  --abort        the client closes with a RST (SO_LINGER {on, 0}), not a FIN\n",
            MAX_DURATION_S, MAX_CONCURRENCY);
    exit(2);
}

static long long parse_ll(const char *s, long long lo, long long hi, const char *name)
{
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || *end || end == s || v < lo || v > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "bad value for %s", name);
        usage(msg);
    }
    return v;
}

static struct opts parse_opts(int argc, char **argv)
{
    struct opts o = { .duration_s = 0, .count = 0, .concurrency = 64 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--duration")) {
            char *end;
            o.duration_s = v ? strtod(v, &end) : 0;
            if (!v || *end || end == v || !(o.duration_s > 0 && o.duration_s <= MAX_DURATION_S))
                usage("bad value for --duration");
            i++;
        } else if (!strcmp(a, "--count")) {
            o.count = parse_ll(v, 1, LLONG_MAX / 2, a), i++;
        } else if (!strcmp(a, "--concurrency")) {
            o.concurrency = (int)parse_ll(v, 1, MAX_CONCURRENCY, a), i++;
        } else if (!strcmp(a, "--rate")) {
            o.rate = parse_ll(v, 1, 100000000, a), i++;
        } else if (!strcmp(a, "--server-closes-first")) {
            o.server_closes_first = 1;
        } else if (!strcmp(a, "--abort")) {
            o.abort = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(NULL);
        } else {
            usage("unknown argument");
        }
    }
    if (o.duration_s <= 0)
        usage("--duration is required");
    if (o.abort && o.server_closes_first)
        usage("--abort is the client's close: not with --server-closes-first");
    return o;
}

/* ------------------------------------------------------------------ setup */

/* Each connection holds up to two fds (client + server side). */
static int ensure_fd_limit(int concurrency)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)concurrency * 2 + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit");
    if (rl.rlim_cur < need) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
            fprintf(stderr, "tcpstorm: RLIMIT_NOFILE hard limit %llu < %llu needed\n",
                    (unsigned long long)rl.rlim_max, (unsigned long long)need);
            exit(1);
        }
        rl.rlim_cur = need;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            die("setrlimit");
    }
    return (int)need + 256; /* per-fd arrays: fds are allocated lowest first */
}

static struct sockaddr_in loopback(uint16_t port_be)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = port_be };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* 127.0.0.1, never anything else */
    return sa;
}

static void setup_listener(struct shared *sh, int i)
{
    int one = 1;
    struct sockaddr_in sa = loopback(0);
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        die("SO_REUSEADDR");
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind 127.0.0.1:0");
    if (listen(fd, LISTEN_BACKLOG) < 0)
        die("listen");
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        die("getsockname");
    sh->listen_fd[i] = fd;
    sh->port[i] = sa.sin_port;
}

static int epoll_add(int ep, int fd, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* ----------------------------------------------------------------- server */

struct server {
    struct shared *sh;
    int ep;
    unsigned char *open; /* by fd: OPEN (accepted, waiting for EOF), LISTENER */
    int nopen;
    long long accepted;
};

/* Returns 1 if the peer's FIN was read (or the socket failed): close it. */
static int read_eof(int fd)
{
    char buf[64];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return 1;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno != EINTR;
        /* unexpected data: discard and keep reading */
    }
}

static void server_close(struct server *s, int fd)
{
    if (s->open[fd] == OPEN) {
        s->open[fd] = 0;
        s->nopen--;
    }
    close(fd);
}

static void server_accept_all(struct server *s, int listen_fd)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: epoll will call again */
        s->accepted++;
        if (s->sh->o.server_closes_first || read_eof(fd) || fd >= s->sh->nfds) {
            close(fd); /* server closes first, or the client's FIN already arrived */
            continue;
        }
        if (epoll_add(s->ep, fd, EPOLLIN | EPOLLRDHUP) < 0) {
            close(fd);
            continue;
        }
        s->open[fd] = OPEN;
        s->nopen++;
    }
}

/* Done once the client has finished and every connection it saw established
 * has been accepted and closed here, or after a grace period. */
static int server_finished(struct server *s, long long *grace_end)
{
    if (!atomic_load(&s->sh->client_done))
        return 0;
    if (!*grace_end)
        *grace_end = now_ns() + SERVER_GRACE_NS;
    if (s->nopen == 0 && s->accepted >= atomic_load(&s->sh->connected))
        return 1;
    return now_ns() >= *grace_end;
}

static void *server_main(void *arg)
{
    struct server s = { .sh = arg };
    struct epoll_event evs[MAX_EVENTS];
    long long grace_end = 0;

    s.open = calloc((size_t)s.sh->nfds, 1);
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!s.open || s.ep < 0)
        die("server setup");
    for (int i = 0; i < s.sh->nlisten; i++) {
        if (epoll_add(s.ep, s.sh->listen_fd[i], EPOLLIN) < 0)
            die("server epoll_ctl");
        s.open[s.sh->listen_fd[i]] = LISTENER;
    }

    while (!server_finished(&s, &grace_end)) {
        int n = epoll_wait(s.ep, evs, MAX_EVENTS, 10);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (s.open[fd] == LISTENER)
                server_accept_all(&s, fd);
            else if (read_eof(fd))
                server_close(&s, fd);
        }
    }
    for (int fd = 0; fd < s.sh->nfds; fd++)
        if (s.open[fd] == OPEN)
            server_close(&s, fd);
    close(s.ep);
    free(s.open);
    return NULL;
}

/* ----------------------------------------------------------------- client */

/* The next close() sends a RST and drops the connection at once (no FIN, no
 * TIME_WAIT). A failure here would turn the RST into a FIN: count it failed. */
static int linger_zero(int fd)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0;
}

static void client_close(struct client *c, int fd, int ok)
{
    c->state[fd] = FREE;
    c->inflight--;
    close(fd);
    if (ok)
        c->completed++;
    else
        c->failed++;
}

/* Token bucket: R tokens per second, refilled per elapsed ms, 10 ms burst. */
static int take_token(struct client *c, long long now)
{
    long long rate = c->sh->o.rate, ms = (now - c->start_ns) / NS_PER_MS;
    if (!rate)
        return 1;
    if (ms > c->last_refill_ms) {
        long long cap = rate * 10 > 1000 ? rate * 10 : 1000;
        c->tokens_milli += (ms - c->last_refill_ms) * rate;
        if (c->tokens_milli > cap)
            c->tokens_milli = cap;
        c->last_refill_ms = ms;
    }
    if (c->tokens_milli < 1000)
        return 0;
    c->tokens_milli -= 1000;
    return 1;
}

/* Starts one non-blocking connect. Returns 0 if the caller should stop
 * starting connections for now (failure: back off). */
static int start_connection(struct client *c, long long now)
{
    struct sockaddr_in sa = loopback(c->sh->port[c->next_port++ % c->sh->nlisten]);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || fd >= c->sh->nfds) {
        if (fd >= 0)
            close(fd);
        c->failed++;
        c->retry_at = now + RETRY_NS;
        return 0;
    }
    c->state[fd] = CONNECTING;
    c->inflight++;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        /* EADDRNOTAVAIL: ephemeral ports exhausted (TIME_WAIT); retry later */
        client_close(c, fd, 0);
        c->retry_at = now + RETRY_NS;
        return 0;
    }
    if (epoll_add(c->ep, fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP | EPOLLET) < 0) {
        client_close(c, fd, 0);
        c->retry_at = now + RETRY_NS;
        return 0;
    }
    return 1;
}

static void fill(struct client *c, long long now)
{
    const struct opts *o = &c->sh->o;
    while (c->inflight < o->concurrency && now >= c->retry_at) {
        if (o->count && c->completed + c->inflight >= o->count)
            return;
        if (!take_token(c, now) || !start_connection(c, now))
            return;
    }
}

static void on_client_event(struct client *c, int fd, uint32_t events)
{
    if (c->state[fd] == CONNECTING) {
        if (events & (EPOLLERR | EPOLLHUP) || !(events & EPOLLOUT)) {
            if (events & (EPOLLERR | EPOLLHUP))
                client_close(c, fd, 0);
            return;
        }
        c->state[fd] = CONNECTED;
        atomic_fetch_add(&c->sh->connected, 1);
        if (!c->sh->o.server_closes_first) {
            /* client closes first: with a FIN, or with --abort a RST */
            client_close(c, fd, !c->sh->o.abort || linger_zero(fd));
            return;
        }
    }
    /* server closes first: close when its FIN (EOF) arrives */
    char buf[64];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        ;
    if (n == 0)
        client_close(c, fd, 1);
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        client_close(c, fd, 0);
}

/* epoll_wait timeout: short while pacing or backing off, bounded so the
 * deadline is noticed. */
static int wait_ms(const struct client *c, long long now, long long until)
{
    long long ms = (until - now + NS_PER_MS - 1) / NS_PER_MS;
    if (c->sh->o.rate || c->retry_at > now)
        ms = 1;
    if (ms > 50)
        ms = 50;
    return ms < 0 ? 0 : (int)ms;
}

static void client_run(struct client *c)
{
    const struct opts *o = &c->sh->o;
    struct epoll_event evs[MAX_EVENTS];
    long long deadline = c->start_ns + (long long)(o->duration_s * NS_PER_S);
    long long drain_end = 0;

    for (;;) {
        long long now = now_ns();
        int stopping = now >= deadline || (o->count && c->completed >= o->count);
        if (stopping && !drain_end)
            drain_end = now + DRAIN_NS;
        if (stopping && (c->inflight == 0 || now >= drain_end))
            break;
        if (!stopping)
            fill(c, now);
        int n = epoll_wait(c->ep, evs, MAX_EVENTS, wait_ms(c, now, stopping ? drain_end : deadline));
        for (int i = 0; i < n; i++)
            on_client_event(c, evs[i].data.fd, evs[i].events);
    }
    /* Drain timed out: abandon what is left (counted as failed). */
    for (int fd = 0; fd < c->sh->nfds && c->inflight; fd++)
        if (c->state[fd] != FREE)
            client_close(c, fd, 0);
    c->end_ns = now_ns();
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    struct shared sh = { .o = parse_opts(argc, argv) };
    struct client c = { .sh = &sh };
    pthread_t server;

    sh.nfds = ensure_fd_limit(sh.o.concurrency);
    sh.nlisten = sh.o.server_closes_first ? 1 : NLISTEN;
    for (int i = 0; i < sh.nlisten; i++)
        setup_listener(&sh, i);
    c.state = calloc((size_t)sh.nfds, 1);
    c.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!c.state || c.ep < 0)
        die("client setup");
    errno = pthread_create(&server, NULL, server_main, &sh);
    if (errno)
        die("pthread_create");

    c.start_ns = now_ns();
    client_run(&c);
    atomic_store(&sh.client_done, 1);
    pthread_join(server, NULL);
    for (int i = 0; i < sh.nlisten; i++)
        close(sh.listen_fd[i]);

    double secs = (double)(c.end_ns - c.start_ns) / NS_PER_S;
    printf("{\"connections\":%lld,\"failed\":%lld,\"seconds\":%.3f,\"rate\":%.0f,"
           "\"mode\":\"%s\",\"concurrency\":%d}\n",
           c.completed, c.failed, secs, secs > 0 ? (double)c.completed / secs : 0.0,
           sh.o.server_closes_first ? "server-closes-first" : sh.o.abort ? "client-aborts" : "client-closes-first",
           sh.o.concurrency);
    return 0;
}
