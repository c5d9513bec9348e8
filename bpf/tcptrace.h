/* SPDX-License-Identifier: MIT */
/*
 * The one definition of what the kernel side hands to user space.
 * Included by the BPF program (bpf/tcptrace.bpf.c) and by the addon
 * (native/addon.cc). Every struct is laid out by hand with no implicit
 * padding; the addon asserts the sizes and exports the offsets so the
 * TypeScript decoder can be checked against them.
 */
#ifndef TCPTRACE_H
#define TCPTRACE_H

#define TCPTRACE_COMM_LEN 16
#define TCPTRACE_MAX_FILTER 8
/* The ring buffer's size unless --ring-buffer says otherwise. */
#define TCPTRACE_DEFAULT_RING_BYTES (8 << 20)

/* Where the owner (pid, comm) on an event or record came from. */
enum tcptrace_owner_src {
	OWNER_NONE = 0,     /* not known: never guessed from the interrupted task */
	OWNER_SYSCALL = 1,  /* this transition ran in the owner's own syscall */
	OWNER_CACHED = 2,   /* learned earlier in process context (connect, accept, I/O, close) */
	OWNER_LISTENER = 3, /* child not accepted yet: the process listening on its port */
	OWNER_SNAPSHOT = 4, /* from the open file tables when tracing started */
};

/* Event flags. */
#define TCPTRACE_EVENT_INFERRED 0x1 /* not seen: deduced from the socket's next transition */

/* What an event record reports. */
enum tcptrace_event_kind {
	KIND_TRANSITION = 0, /* oldstate -> newstate */
	KIND_ACCEPT = 1,     /* accept() returned this socket; prev_state_ns = time queued since ESTABLISHED */
	KIND_CONNECTION = 2, /* struct tcptrace_connection: a connection's ->CLOSE with its whole story */
};

/* A reset that ended a connection: carried by its ->CLOSE. */
enum tcptrace_reset {
	RESET_NONE = 0,
	RESET_RECEIVED = 1,  /* the peer's RST (tcp_receive_reset) */
	RESET_SENT = 2,      /* this side's RST (tcp_send_reset): an abort */
};

/* reset_reason when the kernel gives none (before Linux 6.10): otherwise enum sk_rst_reason. */
#define TCPTRACE_RESET_REASON_NOT_KNOWN 0xffff

/* One TCP state transition (or accept). 136 bytes. */
struct tcptrace_event {
	__u64 ts_ns;         /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 skaddr;        /* kernel address of the sock: reused after free */
	__u64 sock_id;       /* unique per socket life in this trace (never 0) */
	__u64 prev_state_ns; /* time spent in oldstate; 0 = not known */
	__u8 saddr[16];      /* IPv4 in the first 4 bytes, or IPv6 */
	__u8 daddr[16];
	__u32 netns;         /* network namespace inode */
	__u32 pid;           /* owner tgid; 0 = not known */
	__u16 sport;         /* host byte order */
	__u16 dport;         /* host byte order */
	__u8 family;         /* AF_INET or AF_INET6 */
	__u8 oldstate;
	__u8 newstate;
	__u8 owner_src;      /* enum tcptrace_owner_src */
	char comm[TCPTRACE_COMM_LEN];
	__u8 flags;          /* TCPTRACE_EVENT_* */
	__u8 kind;           /* enum tcptrace_event_kind */
	__u8 peer_fin;       /* at ->CLOSE: 1 if the peer's FIN was processed (SOCK_DONE) */
	__u8 reset;          /* at ->CLOSE: enum tcptrace_reset */
	__u16 sk_err;        /* at ->CLOSE: the socket's error (ECONNREFUSED, ETIMEDOUT, ...) */
	__u16 reset_reason;  /* with reset: the kernel's enum sk_rst_reason, or TCPTRACE_RESET_REASON_NOT_KNOWN */
	__u64 tx_bytes;      /* tcp_sock.bytes_acked: counts an acked SYN and FIN too */
	__u64 rx_bytes;      /* tcp_sock.bytes_received: counts the peer's FIN too */
	__u64 idle_ns;       /* time since the owner's last send/recv on it; 0 = none seen */
	__u64 cgroup_id;     /* owner's cgroup v2 id (its directory's inode); 0 = not known */
};

/* Connection states a socket can spend time in are below this (CLOSING = 11). */
#define TCPTRACE_DWELL_STATES 12

/* Who closed first (enum in struct tcptrace_connection). */
enum tcptrace_closed_first {
	CLOSED_FIRST_NOT_KNOWN = 0,
	CLOSED_FIRST_LOCAL = 1,  /* this side sent the first FIN (-> FIN_WAIT1) */
	CLOSED_FIRST_REMOTE = 2, /* the peer's FIN came first (-> CLOSE_WAIT) */
};

/* How the connection began. */
enum tcptrace_role {
	ROLE_NOT_KNOWN = 0,  /* first seen mid-life */
	ROLE_CLIENT = 1,     /* connect()ed: born CLOSE -> SYN_SENT */
	ROLE_SERVER = 2,     /* a listener's child: born LISTEN -> SYN_RECV */
};

/* What the kernel knew of a connection just before its last transition. */
#define TCPTRACE_ACKED_SYN 0x1 /* our SYN was acked (SYN_SENT -> ESTABLISHED): counted in tx_bytes */
#define TCPTRACE_ACKED_FIN 0x2 /* our FIN was acked (FIN_WAIT1 -> FIN_WAIT2): counted in tx_bytes */

/*
 * One finished connection, sent at its ->CLOSE instead of its transitions
 * (tcplife's way) when only a per-connection report is wanted. 264 bytes.
 * `last` is that ->CLOSE transition, whole; the rest is the connection as it
 * stood before it, for user space to apply `last` to as it would to a
 * followed connection.
 */
struct tcptrace_connection {
	struct tcptrace_event last; /* kind = KIND_CONNECTION */
	__u64 start_ns;      /* birth, or first sight (snapshot or mid-life) when born = 0 */
	__u64 dwell_ns[TCPTRACE_DWELL_STATES]; /* completed time per state, where its start was seen */
	__u32 opener_pid;    /* the process that connected or accept()ed it; 0 = not seen */
	__u8 role;           /* enum tcptrace_role */
	__u8 closed_first;   /* enum tcptrace_closed_first */
	__u8 acked;          /* TCPTRACE_ACKED_* */
	__u8 born;           /* 1: born while traced, start_ns is its birth */
	char opener_comm[TCPTRACE_COMM_LEN];
};

/* The live view's busiest processes and peers, counted in the kernel
 * (count_tallies): transitions since loading, per owner and per remote
 * address, of at most this many of each (least recently counted go first). */
#define TCPTRACE_MAX_TALLIES 4096

struct tcptrace_process_tally {
	__u32 pid;           /* the owner's tgid (transitions with no known owner are not counted) */
	__u32 pad;
	__u64 transitions;
	__u64 cgroup_id;     /* as first counted */
	char comm[TCPTRACE_COMM_LEN];
};

struct tcptrace_peer_key {
	__u8 addr[16];       /* the remote address, as daddr */
	__u8 family;
	__u8 pad[3];
};

struct tcptrace_peer_tally {
	struct tcptrace_peer_key peer; /* transitions with no remote port yet are not counted */
	__u32 pad;
	__u64 transitions;
};

/* One socket found by a snapshot (BPF iter/tcp). 120 bytes. */
struct tcptrace_sock_rec {
	__u64 skaddr;
	__u64 sock_id;       /* 0 for TIME_WAIT and request sockets: not tracked */
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 netns;
	__u32 uid;
	__u32 inode;         /* socket inode, as ss and /proc/net/tcp show; 0 if none */
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 state;          /* skc_state: TIME_WAIT for every timewait socket */
	__u8 tw_substate;    /* timewait sockets: TIME_WAIT, or FIN_WAIT2 for an orphan still
	                      * waiting for the peer's FIN (what ss shows); 0 otherwise */
	__u8 pad0;
	__u32 ack_backlog;   /* LISTEN: connections waiting in the accept queue */
	__u32 max_ack_backlog; /* LISTEN: the queue's limit, min(listen() backlog, somaxconn) */
	__u32 opener_pid;    /* the process that connected or accept()ed it; 0 = not seen */
	/* What the kernel side knows of a tracked socket (0 = not known), so a
	 * report on its sockets now needs no event: */
	__u64 state_since_ns; /* entered its current state (bpf_ktime_get_ns) */
	__u64 fin_idle_ns;   /* CLOSE_WAIT: from the owner's last send/recv to the peer's FIN */
	char opener_comm[TCPTRACE_COMM_LEN];
	__u32 listen_drops;  /* LISTEN: SYNs and handshakes dropped since it began listening, as the
	                      * kernel counts them for ListenDrops (mostly: its accept queue was full) */
	__u32 pad1;
};

/* One open file that is a TCP socket (BPF iter/task_file). 48 bytes. */
struct tcptrace_file_rec {
	__u64 skaddr;
	__u64 sock_id;       /* 0 from the kernel: user space joins it from the socket records */
	__u32 pid;           /* tgid holding the fd */
	__u32 fd;
	char comm[TCPTRACE_COMM_LEN];
	__u64 cgroup_id;     /* the holder's cgroup v2 id */
};

/* A listener as count_states finds it: its accept queue and what it has
 * dropped. count_states writes one per listener as it walks, then the state
 * counts (TCPTRACE_NR_STATES __u32s) last. 64 bytes. */
struct tcptrace_listener_rec {
	__u64 skaddr;
	__u8 saddr[16];
	__u32 netns;
	__u32 ack_backlog;     /* connections waiting in the accept queue */
	__u32 max_ack_backlog; /* the queue's limit, min(listen() backlog, somaxconn) */
	__u32 listen_drops;    /* as tcptrace_sock_rec's, since it began listening */
	__u32 owner_pid;       /* its owner as the kernel side knows it; 0 = not known */
	__u16 sport;
	__u8 family;
	__u8 pad;
	char owner_comm[TCPTRACE_COMM_LEN];
};

/* Counters kept by the BPF program, read by the addon. */
struct tcptrace_counters {
	__u64 ring_buffer_full; /* events dropped: no room in the ring buffer */
	__u64 untracked_socks; /* no memory for a socket's storage: it has no id, age or owner */
	__u64 nested_caught;   /* transitions on_set_state_nested handled for on_set_state */
	__u64 inferred;        /* transitions the kernel never ran us for, deduced afterwards */
};

#define TCPTRACE_NR_STATES 16

/* The durations every report measures, one log2 histogram each, in the
 * order of the TypeScript model's MEASURES (src/model/latency.ts). */
enum tcptrace_measure {
	MEASURE_CONNECT = 0,     /* SYN_SENT -> ESTABLISHED */
	MEASURE_ACCEPT = 1,      /* ESTABLISHED -> accept() returns it */
	MEASURE_LIFETIME = 2,    /* birth -> CLOSE, for sockets born while traced */
	MEASURE_CLOSE_WAIT = 3,  /* time in CLOSE_WAIT */
	MEASURE_FIN_WAIT2 = 4,   /* time in FIN_WAIT2 */
	TCPTRACE_NR_MEASURES = 5,
};

/* Bucket 0 holds 0 and 1; bucket i holds [2^i, 2^(i+1) - 1], of the value in
 * the run's unit (floor(ns / unit)); the last bucket also holds all above. */
#define TCPTRACE_HIST_BUCKETS 64

struct tcptrace_hist {
	__u64 buckets[TCPTRACE_HIST_BUCKETS];
	__u64 sum;           /* of the values in the unit */
};

/* The same durations against fixed upper bounds given at load (serve's
 * Prometheus buckets, in ns): counts[i] holds bounds[i - 1] < ns <= bounds[i],
 * the one after the last bound everything above it. */
#define TCPTRACE_MAX_BOUNDS 24

struct tcptrace_bounded_hist {
	__u64 counts[TCPTRACE_MAX_BOUNDS + 1];
	__u64 sum_ns;
};

/* What the kernel counts for reports that need no per-transition record,
 * per CPU (summed by the addon). Only what passes the filters is counted. */
/* Resets sent per enum sk_rst_reason; the last slot also holds reasons not
 * known (older kernels) and any beyond it. */
#define TCPTRACE_RESET_REASONS 32

struct tcptrace_aggregates {
	struct tcptrace_hist hist[TCPTRACE_NR_MEASURES];
	__u64 transitions[TCPTRACE_NR_STATES][TCPTRACE_NR_STATES]; /* [old][new], inferred ones too */
	struct tcptrace_bounded_hist bounded[TCPTRACE_NR_MEASURES]; /* only measures given bounds */
	/* The RSTs that ended connections (after the filters), by reason if sent; and RSTs
	 * sent with no connection to end (to a closed port, ...), in a run with no filter. */
	__u64 resets_sent[TCPTRACE_RESET_REASONS];
	__u64 resets_received;
};

#endif /* TCPTRACE_H */
