// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * tcptrace kernel side: every TCP state transition into a ring buffer, with
 * the owning process learned where it can be known (process context), never
 * taken from whatever task a softirq happened to interrupt.
 *
 * Attach points (no kprobes, no fentry, no tracefs needed but for accept):
 *   tp_btf/inet_sock_set_state           every transition
 *   tp_btf/sock_send_length, _recv_length owner and last I/O (optional: kernel >= 6.3)
 *   tracepoint/syscalls/sys_exit_accept*  owner of accepted sockets
 *   iter/tcp, iter/task_file              start-up snapshot and state counts
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "tcptrace.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define PF_KTHREAD 0x00200000
#define SOCK_DONE 1 /* enum sock_flags: set by tcp_fin() when the peer's FIN is processed */

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by the addon before load. Filters only decide what is sent to user
 * space: socket bookkeeping below always runs, so ages and owners stay right. */
const volatile __u8 filter_family = 0;          /* 0: any */
const volatile __u32 filter_state_mask = 0;     /* bit per state, old or new; 0: any */
const volatile __u32 filter_nports = 0;
const volatile __u16 filter_ports[TCPTRACE_MAX_FILTER] = {};
const volatile __u32 filter_npids = 0;
const volatile __u32 filter_pids[TCPTRACE_MAX_FILTER] = {};
const volatile __u32 filter_nnetns = 0;
const volatile __u32 filter_netns[TCPTRACE_MAX_FILTER] = {};
const volatile __u64 wakeup_bytes = 0;          /* wake the reader only past this backlog */
const volatile bool emit_accepts = false;       /* send KIND_ACCEPT records (accept-queue wait) */
const volatile bool snapshot_full_only = false; /* snapshot_socks leaves out TIME_WAIT and request sockets */
const volatile bool emit_events = true;         /* false: count in the per-CPU aggregates only, send nothing */
const volatile bool emit_connections = false;   /* send one struct tcptrace_connection per connection, at its end, instead */
const volatile bool count_aggregates = false;   /* keep the per-CPU aggregates (a report reads them) */
const volatile bool count_tallies = false;      /* keep process_tallies and peer_tallies (the live view reads them) */
const volatile __u64 measure_unit_ns = 1000;    /* the histograms' unit */
const volatile __u32 nr_cpus = 1;               /* possible CPUs: socket ids are made per CPU */
const volatile bool learn_owners = true;        /* false: no report or filter needs owners (nor send/recv) */
const volatile bool follow_resets = true;       /* false: no report needs resets (their programs are not loaded) */
const volatile __u32 nbounds[TCPTRACE_NR_MEASURES] = {};  /* fixed bounds per measure (0: none) */
const volatile __u64 bounds_ns[TCPTRACE_NR_MEASURES][TCPTRACE_MAX_BOUNDS] = {};

struct tcptrace_counters counters = {};
__u32 state_counts[TCPTRACE_NR_STATES] = {};

/* A process as an owner, an opener or a holder is known: copied whole. */
struct process {
	__u64 cgroup_id;    /* its cgroup v2 id */
	__u32 pid;          /* tgid; 0 = not known */
	__u32 pad;
	char comm[TCPTRACE_COMM_LEN];
};

/* What one record says, besides what is read from the socket itself. */
struct record {
	__u64 ts;
	__u64 prev_state_ns;
	__u64 lifetime_ns;  /* at ->CLOSE of a socket born while traced; else 0 */
	__u8 old;
	__u8 new;
	__u8 owner_src;
	__u8 flags;
	__u8 kind;
	__u8 reset;         /* at ->CLOSE: enum tcptrace_reset */
	__u16 reset_reason;
	__u32 pad;
};

/* What we know about one socket, in its own storage. */
struct sock_info {
	__u64 id;           /* this life's id; 0 = storage just made, not started */
	__u64 state_ts;     /* entered its current state; 0 = before tracing began */
	__u64 birth_ts;
	__u64 last_io_ns;   /* last send/recv seen; 0 = none */
	__u64 fin_idle_ns;  /* at ->CLOSE_WAIT: time since last_io_ns; 0 = none seen */
	struct process owner;  /* valid unless owner_src is OWNER_NONE */
	struct process opener; /* connect()ed or accept()ed it: fds move, this does not */
	__u16 sport;        /* last local port seen: the kernel zeroes it before ->CLOSE */
	__u8 owner_src;
	__u8 birth_pending; /* child socket: its birth event waits for its addresses */
	__u8 state;         /* state after the last transition seen; 0 = not known */
	__u8 left;          /* the state that transition left: with state, which one was handled */
	__u8 in_accept_queue; /* child with an accept_queue entry: accept() may name its owner */
	__u8 reset;         /* enum tcptrace_reset: the first RST sent or received */
	__u8 close_pending; /* its ->CLOSE record waits in pending_close for the RST it sends next */
	__u16 reset_reason;
	/* The connection's story so far, kept only for emit_connections: */
	__u8 role;          /* enum tcptrace_role */
	__u8 closed_first;  /* enum tcptrace_closed_first */
	__u8 acked;         /* TCPTRACE_ACKED_* */
	__u8 pad[1];
	__u64 start_ts;     /* birth, or first sight */
	__u64 dwell_ns[TCPTRACE_DWELL_STATES];
	struct record pending_close; /* valid while close_pending */
};

/* A child socket between the handshake's end and the transition after its
 * accept(), by address (see accept_queue). */
struct accept_wait {
	__u64 sock_id;
	__u64 established_ts;
	struct process acceptor; /* accept()'s caller, once accepted */
	__u32 netns;
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 state;
	__u8 accepted;
	__u8 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TCPTRACE_DEFAULT_RING_BYTES); /* resized by the addon from --ring-buffer */
} events SEC(".maps");

/*
 * Per-socket state in the socket's own storage: no insert or delete on the
 * hot path, no size limit, and it dies with the socket, so a reused address
 * never inherits another socket's state. BPF_F_CLONE: a child socket starts
 * as a copy of its listener's, which names the listening process without a
 * lookup.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct sock_info);
} socks SEC(".maps");

/*
 * The one map keyed by socket address: accept()'s exit is a classic
 * tracepoint that holds the socket only as a plain address (found through
 * the fd table), where socket storage cannot be used. A child has an entry
 * from the handshake's end until its first transition after accept() (or
 * its close); LRU, so an entry whose end was never seen cannot fill it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct accept_wait);
} accept_queue SEC(".maps");

/* Transitions per owner and per peer, for the live view without events:
 * a hash update each is far cheaper than a record each. LRU: a host with
 * more processes or peers than fit keeps the busiest. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TCPTRACE_MAX_TALLIES);
	__type(key, __u32);
	__type(value, struct tcptrace_process_tally);
} process_tallies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TCPTRACE_MAX_TALLIES);
	__type(key, struct tcptrace_peer_key);
	__type(value, struct tcptrace_peer_tally);
} peer_tallies SEC(".maps");

/* Who holds a socket of this network namespace, from the file-table walk,
 * for the socket walk that runs next: iter/task_file reaches a socket only
 * through an untrusted pointer, where its storage cannot be used. The socket
 * walk takes each entry it visits out again. */
struct holder {
	struct process process;
	__u32 walk;         /* file-table walk that wrote it (holder_walk) */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, __u64);
	__type(value, struct holder);
} holders SEC(".maps");

__u32 holder_walk = 0;
/* Set by user space for a file-table walk followed by a socket walk of every
 * network namespace: then every namespace's holders are kept, not only the
 * walker's, since each is taken out again. */
__u8 holders_every_netns = 0;

/*
 * The kernel runs a tracing program at most once per CPU at a time: when a
 * softirq interrupts on_set_state and changes another socket's state, that
 * nested run is skipped (counted in the program's recursion_misses). So a
 * second program, attached after the first and therefore run after it for
 * every transition, handles the ones on_set_state did not record having seen
 * on this CPU. The last few are kept because a nested transition may land
 * between the two programs' runs for an outer one.
 */
#define RECENT_SLOTS 4

struct recent_transitions {
	__u64 sk[RECENT_SLOTS];
	__u32 states[RECENT_SLOTS];
	__u32 next;
	__u32 pad;
};

/* Per CPU, so neither costs a shared cache line: found once per transition.
 * The aggregates come first: the addon reads them at offset 0 of each CPU's value. */
struct per_cpu_state {
	struct tcptrace_aggregates aggregates;
	struct recent_transitions recent;
	__u64 ids_made;     /* socket ids this CPU has given out */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct per_cpu_state);
} per_cpu SEC(".maps");

static __always_inline struct per_cpu_state *this_cpu(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&per_cpu, &zero);
}

/* floor(log2(v)) for v >= 1 (bcc's bits.bpf.h), 0 for 0. */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xFFFFFFFF) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/* The first bound the value does not exceed (le, as Prometheus counts). */
static __always_inline void measure_bounded(struct tcptrace_bounded_hist *b, __u32 kind, __u64 ns)
{
	__u32 i;

	for (i = 0; i < TCPTRACE_MAX_BOUNDS; i++)
		if (i >= nbounds[kind] || ns <= bounds_ns[kind][i])
			break;
	__sync_fetch_and_add(&b->counts[i], 1);
	__sync_fetch_and_add(&b->sum_ns, ns);
}

static __always_inline void measure(struct per_cpu_state *pc, __u32 kind, __u64 ns)
{
	struct tcptrace_hist *h;
	__u64 v = ns / measure_unit_ns;
	__u32 bucket = log2_u64(v);

	if (!pc || kind >= TCPTRACE_NR_MEASURES)
		return;
	if (bucket >= TCPTRACE_HIST_BUCKETS)
		bucket = TCPTRACE_HIST_BUCKETS - 1;
	/* Atomic although per CPU: the nested program may interrupt this one mid-add. */
	h = &pc->aggregates.hist[kind];
	__sync_fetch_and_add(&h->buckets[bucket], 1);
	__sync_fetch_and_add(&h->sum, v);
	if (nbounds[kind])
		measure_bounded(&pc->aggregates.bounded[kind], kind, ns);
}

/* The reset slot of a reason: the last one for reasons not known or beyond the table. */
static __always_inline __u32 reset_slot(__u16 reason)
{
	return (reason < TCPTRACE_RESET_REASONS - 1 ? reason : TCPTRACE_RESET_REASONS - 1) & (TCPTRACE_RESET_REASONS - 1);
}

static __always_inline void count_reset(struct per_cpu_state *pc, __u8 reset, __u16 reason)
{
	if (reset == RESET_RECEIVED)
		__sync_fetch_and_add(&pc->aggregates.resets_received, 1);
	else if (reset == RESET_SENT)
		__sync_fetch_and_add(&pc->aggregates.resets_sent[reset_slot(reason)], 1);
}

/* What one transition adds to the aggregates: the tracker's (src/model/tracker.ts)
 * measures, from what the kernel knows of the socket, and the RST that ended
 * a connection. Inferred transitions carry no time and are not measured. */
static __always_inline void aggregate(struct per_cpu_state *pc, const struct record *r)
{
	int old = r->old, new = r->new;
	__u64 prev_state_ns = r->flags & TCPTRACE_EVENT_INFERRED ? 0 : r->prev_state_ns;
	__u64 lifetime_ns = r->lifetime_ns;

	if (!pc)
		return;
	__sync_fetch_and_add(&pc->aggregates.transitions[old & 15][new & 15], 1);
	if (r->reset)
		count_reset(pc, r->reset, r->reset_reason);
	if (prev_state_ns) {
		if (old == TCP_SYN_SENT && new == TCP_ESTABLISHED)
			measure(pc, MEASURE_CONNECT, prev_state_ns);
		else if (old == TCP_CLOSE_WAIT)
			measure(pc, MEASURE_CLOSE_WAIT, prev_state_ns);
		else if (old == TCP_FIN_WAIT2)
			measure(pc, MEASURE_FIN_WAIT2, prev_state_ns);
	}
	if (new == TCP_CLOSE && lifetime_ns)
		measure(pc, MEASURE_LIFETIME, lifetime_ns);
}

/* Every caller holds a BTF pointer: plain loads, no probe-read helper calls. */
static __always_inline __u32 netns_of(const struct sock_common *skc)
{
	return skc->skc_net.net->ns.inum;
}

/* Takes values, not the socket: each caller reads them the cheapest way its
 * pointer allows (plain loads through a BTF pointer, probe reads otherwise). */
static __always_inline bool is_tcp_inet(__u16 protocol, __u16 family)
{
	return protocol == IPPROTO_TCP && (family == AF_INET || family == AF_INET6);
}

/* Transitions that only ever happen inside a syscall of the socket's owner
 * (connect, listen, close, shutdown). Every other one may run in softirq. */
static __always_inline bool runs_in_owner_syscall(int old, int new)
{
	return (old == TCP_CLOSE && (new == TCP_SYN_SENT || new == TCP_LISTEN)) ||
	       (old == TCP_LISTEN && new == TCP_CLOSE) ||
	       (old == TCP_ESTABLISHED && new == TCP_FIN_WAIT1) ||
	       (old == TCP_SYN_RECV && new == TCP_FIN_WAIT1) ||
	       (old == TCP_CLOSE_WAIT && new == TCP_LAST_ACK);
}

static __always_inline bool current_is_user_task(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	return !(task->flags & PF_KTHREAD);
}

static __always_inline void current_process(struct process *p)
{
	p->cgroup_id = bpf_get_current_cgroup_id();
	p->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(p->comm, sizeof(p->comm));
}

static __always_inline void own_by_current(struct sock_info *si, __u8 src)
{
	current_process(&si->owner);
	si->owner_src = src;
}

/* The socket's storage, made on first sight (NULL only when the kernel has no memory for it). */
static __always_inline struct sock_info *storage_of(const struct sock *sk)
{
	struct sock_info *si = bpf_sk_storage_get(&socks, (struct sock *)sk, NULL,
						  BPF_SK_STORAGE_GET_F_CREATE);

	if (!si)
		__sync_fetch_and_add(&counters.untracked_socks, 1);
	return si;
}

/* A new socket id, unique in this trace and never 0: made per CPU, since one
 * counter for all would bounce between CPUs at every birth. Atomic although
 * per CPU: a transition in softirq may interrupt an iterator mid-add. */
static __always_inline __u64 new_sock_id(struct per_cpu_state *pc)
{
	__u64 made;

	if (!pc)
		return 0;
	made = __sync_fetch_and_add(&pc->ids_made, 1) + 1;
	return made * nr_cpus + bpf_get_smp_processor_id();
}

/* Who had closed, and whether our FIN was acked, for a connection first seen
 * in `state` (the tracker's closingSoFar). */
static __always_inline void closing_so_far(struct sock_info *si, int state)
{
	if (state == TCP_FIN_WAIT1 || state == TCP_CLOSING || state == TCP_FIN_WAIT2)
		si->closed_first = CLOSED_FIRST_LOCAL;
	else if (state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK)
		si->closed_first = CLOSED_FIRST_REMOTE;
	if (state == TCP_FIN_WAIT2)
		si->acked |= TCPTRACE_ACKED_FIN;
}

/* A new life in this storage: a birth, or a socket first seen after tracing
 * began (state_ts = 0: when it entered its state is not known), `first_state`
 * being the state it is seen in. A child keeps the owner its listener's
 * storage gave it (BPF_F_CLONE), as the listening process. */
static __always_inline void start_life(struct per_cpu_state *pc, struct sock_info *si, __u64 now,
				       bool born, bool child_born, int first_state)
{
	bool owner_from_listener = child_born && si->owner_src != OWNER_NONE;

	si->id = new_sock_id(pc);
	si->state_ts = born ? now : 0;
	si->birth_ts = si->state_ts;
	si->last_io_ns = 0;
	si->fin_idle_ns = 0;
	si->opener.pid = 0;
	si->birth_pending = 0;
	si->in_accept_queue = 0;
	si->sport = 0;
	si->state = 0;
	si->reset = RESET_NONE;
	si->reset_reason = 0;
	si->close_pending = 0;
	if (emit_connections) {
		si->start_ts = now;
		si->role = child_born ? ROLE_SERVER : born ? ROLE_CLIENT : ROLE_NOT_KNOWN;
		si->closed_first = CLOSED_FIRST_NOT_KNOWN;
		si->acked = 0;
		__builtin_memset(si->dwell_ns, 0, sizeof(si->dwell_ns));
		if (!born)
			closing_so_far(si, first_state);
	}
	if (owner_from_listener) {
		si->owner_src = OWNER_LISTENER;
		return;
	}
	__builtin_memset(&si->owner, 0, sizeof(si->owner));
	si->owner_src = OWNER_NONE;
}

static __always_inline bool in_filter_u32(const volatile __u32 *set, __u32 n, __u32 v)
{
	for (int i = 0; i < TCPTRACE_MAX_FILTER; i++)
		if (i < n && set[i] == v)
			return true;
	return false;
}

static __always_inline bool port_in_filter(__u16 sport, __u16 dport)
{
	for (int i = 0; i < TCPTRACE_MAX_FILTER; i++)
		if (i < filter_nports && (filter_ports[i] == sport || filter_ports[i] == dport))
			return true;
	return false;
}

static __always_inline bool wanted(__u8 family, int old, int new, __u16 sport,
				   __u16 dport, __u32 pid, __u32 netns)
{
	if (filter_family && family != filter_family)
		return false;
	if (filter_nnetns && !in_filter_u32(filter_netns, filter_nnetns, netns))
		return false;
	if (filter_state_mask && !(filter_state_mask & ((1u << old) | (1u << new))))
		return false;
	if (filter_nports && !port_in_filter(sport, dport))
		return false;
	if (filter_npids && !in_filter_u32(filter_pids, filter_npids, pid))
		return false;
	return true;
}

static __always_inline void read_addrs(const struct sock_common *skc, __u8 family,
				       __u8 *saddr, __u8 *daddr)
{
	__builtin_memset(saddr, 0, 16);
	__builtin_memset(daddr, 0, 16);
	/* Both callers hold BTF pointers (the tracepoint's, the iterator's): plain loads. */
	if (family == AF_INET) {
		*(__u32 *)saddr = skc->skc_rcv_saddr;
		*(__u32 *)daddr = skc->skc_daddr;
	} else {
		__builtin_memcpy(saddr, &skc->skc_v6_rcv_saddr, 16);
		__builtin_memcpy(daddr, &skc->skc_v6_daddr, 16);
	}
}

static __always_inline __u64 wakeup_flags(void)
{
	if (!wakeup_bytes)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
		       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}


/* The tally at key to add one to, or NULL when this call made it from
 * `fresh` (which counts this one already). Another CPU may make it between
 * the lookup and the insert: then the count goes to that one. */
static __always_inline void *tally_to_add_to(void *map, const void *key, const void *fresh)
{
	void *tally = bpf_map_lookup_elem(map, key);

	if (tally || bpf_map_update_elem(map, key, fresh, BPF_NOEXIST) == 0)
		return tally;
	return bpf_map_lookup_elem(map, key);
}

/* One more transition for its owner and its peer, as the live view counts them. */
static __always_inline void tally(const struct sock *sk, const struct sock_info *si, __u32 pid, __u16 dport)
{
	const struct sock_common *skc = &sk->__sk_common;

	if (pid) {
		struct tcptrace_process_tally *p, fresh = { .pid = pid, .transitions = 1,
							    .cgroup_id = si->owner.cgroup_id };

		__builtin_memcpy(fresh.comm, si->owner.comm, sizeof(fresh.comm));
		p = tally_to_add_to(&process_tallies, &pid, &fresh);
		if (p)
			__sync_fetch_and_add(&p->transitions, 1);
	}
	if (dport) {
		struct tcptrace_peer_tally *t, fresh = { .peer.family = skc->skc_family, .transitions = 1 };
		__u8 saddr[16];

		read_addrs(skc, fresh.peer.family, saddr, fresh.peer.addr);
		t = tally_to_add_to(&peer_tallies, &fresh.peer, &fresh);
		if (t)
			__sync_fetch_and_add(&t->transitions, 1);
	}
}

/* A transition's record, from the socket and what its storage knows. */
static __always_inline void fill_event(struct tcptrace_event *e, const struct sock *sk,
				       const struct sock_info *si, const struct record *r,
				       __u16 sport, __u16 dport, __u32 pid, __u32 netns)
{
	/* sk is the tracepoint's own BTF pointer: plain loads, no probe reads. */
	const struct sock_common *skc = &sk->__sk_common;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

	e->ts_ns = r->ts;
	e->skaddr = (__u64)sk;
	e->sock_id = si ? si->id : 0;
	e->prev_state_ns = r->prev_state_ns;
	read_addrs(skc, skc->skc_family, e->saddr, e->daddr);
	e->netns = netns;
	e->pid = pid;
	e->sport = sport;
	e->dport = dport;
	e->family = skc->skc_family;
	e->oldstate = r->old;
	e->newstate = r->new;
	e->owner_src = r->owner_src;
	if (r->owner_src == OWNER_NONE) {
		__builtin_memset(e->comm, 0, sizeof(e->comm));
		e->cgroup_id = 0;
	} else {
		__builtin_memcpy(e->comm, si->owner.comm, sizeof(e->comm));
		e->cgroup_id = si->owner.cgroup_id;
	}
	e->flags = r->flags;
	e->kind = r->kind;
	e->reset = r->reset;
	e->reset_reason = r->reset ? r->reset_reason : 0;
	/* Why the socket ended: only meaningful once it has. */
	/* Not sk_shutdown: close() sets RCV_SHUTDOWN on orphans whatever the peer did. */
	e->peer_fin = r->new == TCP_CLOSE ? (skc->skc_flags >> SOCK_DONE) & 1 : 0;
	e->sk_err = r->new == TCP_CLOSE ? sk->sk_err : 0;
	e->tx_bytes = tp ? tp->bytes_acked : 0;
	e->rx_bytes = tp ? tp->bytes_received : 0;
	/* For ->CLOSE_WAIT: how long the connection sat idle before the peer's FIN. */
	e->idle_ns = si && si->last_io_ns ? r->ts - si->last_io_ns : 0;
}

/* A connection's ->CLOSE with the story its storage kept (emit_connections). */
static __always_inline void emit_connection(const struct sock *sk, const struct sock_info *si,
					    const struct record *r, __u16 sport, __u16 dport,
					    __u32 pid, __u32 netns)
{
	struct tcptrace_connection *c = bpf_ringbuf_reserve(&events, sizeof(*c), 0);

	if (!c) {
		__sync_fetch_and_add(&counters.ring_buffer_full, 1);
		return;
	}
	fill_event(&c->last, sk, si, r, sport, dport, pid, netns);
	c->last.kind = KIND_CONNECTION;
	c->start_ns = si->start_ts;
	__builtin_memcpy(c->dwell_ns, si->dwell_ns, sizeof(c->dwell_ns));
	c->opener_pid = si->opener.pid;
	__builtin_memcpy(c->opener_comm, si->opener.comm, sizeof(c->opener_comm));
	c->role = si->role;
	c->closed_first = si->closed_first;
	c->acked = si->acked;
	c->born = si->birth_ts != 0;
	bpf_ringbuf_submit(c, wakeup_flags());
}

/* Counts the transition in the aggregates and sends what the run asks for:
 * its record, or at a connection's end the connection's. Only if it passes
 * the filters. */
static __always_inline void emit(struct per_cpu_state *pc, const struct sock *sk,
				 const struct sock_info *si, const struct record *r)
{
	const struct sock_common *skc = &sk->__sk_common;
	__u16 sport = skc->skc_num ?: (si ? si->sport : 0);
	__u16 dport = bpf_ntohs(skc->skc_dport);
	__u32 pid = r->owner_src == OWNER_NONE ? 0 : si->owner.pid;
	bool sends = emit_events || emit_connections;
	/* Read only where a filter or the record needs it: this runs for every transition. */
	__u32 netns = filter_nnetns || sends ? netns_of(skc) : 0;
	struct tcptrace_event *e;

	if (!wanted(skc->skc_family, r->old, r->new, sport, dport, pid, netns))
		return;
	if (count_aggregates)
		aggregate(pc, r);
	if (count_tallies)
		tally(sk, si, pid, dport);
	/* A listener's end is no connection's; nor is a socket with no storage. */
	if (emit_connections && r->new == TCP_CLOSE && r->old != TCP_LISTEN && si)
		emit_connection(sk, si, r, sport, dport, pid, netns);
	if (!emit_events)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&counters.ring_buffer_full, 1);
		return;
	}
	fill_event(e, sk, si, r, sport, dport, pid, netns);
	bpf_ringbuf_submit(e, wakeup_flags());
}

/* accept() returned a socket: who and how long it queued. Readers need only
 * the id, time, owner and wait, so the socket itself (known here only as a
 * plain address) is not read again. */
static __always_inline void emit_accept(__u64 skaddr, const struct accept_wait *w)
{
	struct tcptrace_event *e;
	__u64 now = bpf_ktime_get_ns();

	if (!wanted(w->family, w->state, w->state, w->sport, w->dport, w->acceptor.pid, w->netns))
		return;
	if (count_aggregates)
		measure(this_cpu(), MEASURE_ACCEPT, now - w->established_ts);
	if (!emit_events || !emit_accepts)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&counters.ring_buffer_full, 1);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->skaddr = skaddr;
	e->sock_id = w->sock_id;
	e->prev_state_ns = now - w->established_ts;
	e->pid = w->acceptor.pid;
	e->netns = w->netns;
	e->dport = w->dport;
	e->family = w->family;
	e->oldstate = w->state;
	e->newstate = w->state;
	e->owner_src = OWNER_SYSCALL;
	e->kind = KIND_ACCEPT;
	e->sport = w->sport;
	__builtin_memcpy(e->comm, w->acceptor.comm, sizeof(e->comm));
	e->cgroup_id = w->acceptor.cgroup_id;
	bpf_ringbuf_submit(e, wakeup_flags());
}

/* A child's handshake is done: it waits in the accept queue, where accept()'s
 * exit can find it by address. */
static __always_inline void enter_accept_queue(const struct sock *sk, struct sock_info *si, __u64 now)
{
	const struct sock_common *skc = &sk->__sk_common;
	__u64 skaddr = (__u64)sk;
	struct accept_wait w = { .sock_id = si->id, .established_ts = now,
				 .netns = netns_of(skc), .sport = si->sport,
				 .dport = bpf_ntohs(skc->skc_dport), .family = skc->skc_family,
				 .state = TCP_ESTABLISHED };

	if (bpf_map_update_elem(&accept_queue, &skaddr, &w, BPF_ANY) == 0)
		si->in_accept_queue = 1;
}

/* The process that accepted a child opened it, and owns it unless its own
 * send/recv has named another since. */
static __always_inline void take_accept_owner(struct sock_info *si, const struct accept_wait *w)
{
	si->opener = w->acceptor;
	if (si->owner_src == OWNER_SYSCALL)
		return;
	si->owner = w->acceptor;
	si->owner_src = OWNER_SYSCALL;
}

/* The child's first transition after accept(): the process that accepted it
 * becomes its owner, unless its own send/recv has named one since. Until
 * then the entry follows the child's state for the accept record. */
static __always_inline void leave_accept_queue(__u64 skaddr, struct sock_info *si, __u8 new)
{
	struct accept_wait *w = bpf_map_lookup_elem(&accept_queue, &skaddr);

	if (w && !w->accepted && new != TCP_CLOSE) {
		w->state = new;
		return;
	}
	si->in_accept_queue = 0;
	if (!w)
		return;
	if (w->accepted)
		take_accept_owner(si, w);
	bpf_map_delete_elem(&accept_queue, &skaddr);
}

/* What a transition tells of its connection, for the record at its end
 * (the tracker's leave() in src/model/tracker.ts). */
static __always_inline void follow_connection(struct sock_info *si, int old, int new, __u64 prev_state_ns)
{
	if (!emit_connections)
		return;
	if (prev_state_ns && (__u32)old < TCPTRACE_DWELL_STATES && old != TCP_CLOSE && old != TCP_LISTEN)
		si->dwell_ns[old] += prev_state_ns;
	if (si->closed_first == CLOSED_FIRST_NOT_KNOWN) {
		if (new == TCP_FIN_WAIT1)
			si->closed_first = CLOSED_FIRST_LOCAL;
		else if (new == TCP_CLOSE_WAIT)
			si->closed_first = CLOSED_FIRST_REMOTE;
	}
	if (old == TCP_SYN_SENT && new == TCP_ESTABLISHED)
		si->acked |= TCPTRACE_ACKED_SYN;
	if (old == TCP_FIN_WAIT1 && new == TCP_FIN_WAIT2)
		si->acked |= TCPTRACE_ACKED_FIN;
}

/* The states a connection is aborted from with a RST (the kernel's
 * tcp_need_reset), but FIN_WAIT2: an orphan leaves it for its timewait socket
 * in close() itself, with no RST, far more often than it is aborted. */
static __always_inline bool needs_reset(int state)
{
	return state == TCP_ESTABLISHED || state == TCP_CLOSE_WAIT || state == TCP_FIN_WAIT1 ||
	       state == TCP_SYN_RECV;
}

/*
 * This ->CLOSE looks like this side's abort (close() with unread data,
 * SO_LINGER 0, a disconnect), which moves to CLOSE first and sends its RST
 * just after: in a process's context, from a state that needs a RST, with no
 * RST received, no error, and not ended by the peer's FIN (the TIME_WAIT
 * path, which on loopback may run in a process's context). A look-alike that
 * sends no RST is let go when the socket is destroyed.
 */
static __always_inline bool aborts_now(const struct sock *sk, const struct sock_info *si, int old)
{
	bool peer_fin = (sk->__sk_common.skc_flags >> SOCK_DONE) & 1;

	if (!follow_resets || si->reset || sk->sk_err || !needs_reset(old) || !current_is_user_task())
		return false;
	return !(peer_fin && old == TCP_FIN_WAIT1);
}

/* A ->CLOSE record kept back for the RST that follows it goes now. */
static __always_inline void let_close_go(struct per_cpu_state *pc, const struct sock *sk, struct sock_info *si)
{
	if (!si->close_pending)
		return;
	si->close_pending = 0;
	emit(pc, sk, si, &si->pending_close);
}

static __always_inline void handle_transition(struct per_cpu_state *pc, const struct sock *sk,
					      int old, int new)
{
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns(), prev_state_ns = 0;
	bool child_born = old == TCP_LISTEN && new == TCP_SYN_RECV;
	bool born = old == TCP_CLOSE || child_born;
	struct sock_info *si;
	__u8 owner_src;

	if (!is_tcp_inet(sk->sk_protocol, sk->__sk_common.skc_family))
		return;

	si = storage_of(sk);
	if (!si) {
		struct record r = { .ts = now, .old = old, .new = new };

		emit(pc, sk, NULL, &r);
		return;
	}
	let_close_go(pc, sk, si); /* a look-alike abort whose socket lives on */
	if (born || !si->id)
		start_life(pc, si, now, born, child_born, old);

	if (child_born) {
		/* Its ports and addresses are still the listener's: emit the birth
		 * with the next transition, when they are the child's own. */
		si->birth_pending = 1;
		si->left = old;
		si->state = new;
		return;
	}
	if (sk->__sk_common.skc_num)
		si->sport = sk->__sk_common.skc_num;
	if (si->birth_pending) {
		si->birth_pending = 0;
		struct record birth = { .ts = si->birth_ts, .old = TCP_LISTEN, .new = TCP_SYN_RECV,
					.owner_src = si->owner_src };

		emit(pc, sk, si, &birth);
	}

	if (si->in_accept_queue)
		leave_accept_queue(key, si, new);
	owner_src = si->owner_src == OWNER_SYSCALL ? OWNER_CACHED : si->owner_src;
	if (!born && si->state && si->state != old) {
		/* Rarely the kernel does not run its BPF programs for a transition
		 * (and counts it nowhere); this one shows it happened. When, and so
		 * the time spent in either state, is not known. */
		struct record missed = { .ts = now, .old = si->state, .new = old,
					 .owner_src = owner_src, .flags = TCPTRACE_EVENT_INFERRED };

		__sync_fetch_and_add(&counters.inferred, 1);
		follow_connection(si, si->state, old, 0);
		emit(pc, sk, si, &missed);
		si->state_ts = 0;
	}
	if (!born && si->state_ts)
		prev_state_ns = now - si->state_ts;
	/* Not the last: the connection's record carries that one whole. */
	if (new != TCP_CLOSE)
		follow_connection(si, old, new, prev_state_ns);
	si->state_ts = now;
	si->left = old;
	si->state = new;
	if (old == TCP_SYN_RECV && new == TCP_ESTABLISHED)
		enter_accept_queue(sk, si, now);

	if (new == TCP_CLOSE_WAIT)
		si->fin_idle_ns = si->last_io_ns ? now - si->last_io_ns : 0;

	if (learn_owners && runs_in_owner_syscall(old, new) && current_is_user_task()) {
		own_by_current(si, OWNER_SYSCALL);
		owner_src = OWNER_SYSCALL;
		if (new == TCP_SYN_SENT) {
			si->opener = si->owner;
		}
	}

	struct record r = { .ts = now, .prev_state_ns = prev_state_ns, .old = old, .new = new,
			    .owner_src = owner_src };

	/* A listener's life is not a connection's. */
	if (new == TCP_CLOSE && old != TCP_LISTEN) {
		if (si->birth_ts)
			r.lifetime_ns = now - si->birth_ts;
		r.reset = si->reset;
		r.reset_reason = si->reset_reason;
		if (aborts_now(sk, si, old)) {
			/* Its record waits for the RST, to say why. */
			si->pending_close = r;
			si->close_pending = 1;
			return;
		}
	}
	emit(pc, sk, si, &r);
}


SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state, const struct sock *sk, const int old, const int new)
{
	struct per_cpu_state *pc = this_cpu();

	if (pc) {
		struct recent_transitions *r = &pc->recent;
		__u32 slot = r->next++ % RECENT_SLOTS;

		r->sk[slot] = (__u64)sk;
		r->states[slot] = old << 8 | new;
	}
	handle_transition(pc, sk, old, new);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state_nested, const struct sock *sk, const int old, const int new)
{
	struct per_cpu_state *pc = this_cpu();

	if (!pc)
		return 0;
	struct sock_info *si;

	for (int i = 0; i < RECENT_SLOTS; i++)
		if (pc->recent.sk[i] == (__u64)sk && pc->recent.states[i] == (old << 8 | new))
			return 0;
	/* Out of the slots already (a burst of transitions in a softirq between the
	 * two programs' runs): the socket's storage says whether it was handled. */
	si = bpf_sk_storage_get(&socks, (struct sock *)sk, NULL, 0);
	if (si && si->id && si->left == old && si->state == new)
		return 0;
	__sync_fetch_and_add(&counters.nested_caught, 1);
	handle_transition(pc, sk, old, new);
	return 0;
}

/* A RST sent with no connection to end (no socket, or a timewait one), as
 * the reset counts of a run with no filter have it. */
static __always_inline void count_socketless_reset(__u16 reason)
{
	struct per_cpu_state *pc;

	if (!count_aggregates || filter_family || filter_nnetns || filter_state_mask || filter_nports || filter_npids)
		return;
	pc = this_cpu();
	if (pc)
		count_reset(pc, RESET_SENT, reason);
}

/* This side sent a RST on sk (NULL or not a full socket: none to follow). An
 * abort's ->CLOSE waiting for it goes now, saying why. */
static __always_inline int reset_sent(const struct sock *sk, __u16 reason)
{
	struct sock_info *si = sk ? bpf_sk_storage_get(&socks, (struct sock *)sk, NULL, 0) : NULL;

	if (!si || !si->id) {
		count_socketless_reset(reason);
		return 0;
	}
	if (si->close_pending) {
		si->pending_close.reset = RESET_SENT;
		si->pending_close.reset_reason = reason;
		let_close_go(this_cpu(), sk, si);
	} else if (!si->reset) {
		si->reset = RESET_SENT;
		si->reset_reason = reason;
	}
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_send_reset, const struct sock *sk, const struct sk_buff *skb, int reason)
{
	return reset_sent(sk, reason);
}

/* Before Linux 6.10 the tracepoint gives no reason. */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_send_reset_no_reason, const struct sock *sk, const struct sk_buff *skb)
{
	return reset_sent(sk, TCPTRACE_RESET_REASON_NOT_KNOWN);
}

/* The peer's RST, before the ->CLOSE it causes. */
SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_receive_reset, struct sock *sk)
{
	struct sock_info *si = bpf_sk_storage_get(&socks, sk, NULL, 0);

	if (si && si->id && !si->reset) {
		si->reset = RESET_RECEIVED;
		si->reset_reason = 0;
	}
	return 0;
}

/* The socket is gone: a ->CLOSE still waiting for a RST that never came goes. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_destroy_sock, struct sock *sk)
{
	struct sock_info *si = bpf_sk_storage_get(&socks, sk, NULL, 0);

	if (si && si->close_pending)
		let_close_go(this_cpu(), sk, si);
	return 0;
}

/* Owner and last activity from send/recv: always the caller's own context. */
static __always_inline int learn_from_io(struct sock *sk)
{
	struct sock_info *si;
	__u32 pid;

	if (!sk || !is_tcp_inet(sk->sk_protocol, sk->__sk_common.skc_family))
		return 0;
	si = bpf_sk_storage_get(&socks, sk, NULL, 0);
	if (!si || !si->id)
		return 0;
	si->last_io_ns = bpf_ktime_get_ns();
	pid = bpf_get_current_pid_tgid() >> 32;
	if ((si->owner.pid != pid || si->owner_src == OWNER_NONE) && current_is_user_task())
		own_by_current(si, OWNER_SYSCALL);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_send, struct sock *sk, int ret, int flags)
{
	return learn_from_io(sk);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_recv, struct sock *sk, int ret, int flags)
{
	return learn_from_io(sk);
}

/* The socket behind one of the task's fds. Plain loads through the task's
 * BTF pointer down to the fd table; the fd's slot (a variable index) and what
 * it points to need probe reads. No check that the file is a socket: accept()
 * just returned it, and any other file (swapped in by another thread since)
 * gives an address no accept_queue entry has. */
static __always_inline struct sock *sock_of_fd(struct task_struct *task, long fd)
{
	struct fdtable *fdt = task->files->fdt;
	struct file **fds = NULL;
	struct file *file = NULL;
	struct socket *sock;

	if (fd < 0 || fd >= fdt->max_fds)
		return NULL;
	bpf_probe_read_kernel(&fds, sizeof(fds), &fdt->fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* accept() returned: the caller now holds the child socket. Its storage is
 * out of reach here; the child takes the owner at its next transition. */
static __always_inline int learn_from_accept(long fd)
{
	struct accept_wait *w;
	struct sock *sk;
	__u64 key;

	if (fd < 0)
		return 0;
	sk = sock_of_fd(bpf_get_current_task_btf(), fd);
	if (!sk)
		return 0;
	key = (__u64)sk;
	w = bpf_map_lookup_elem(&accept_queue, &key);
	if (!w || w->accepted)
		return 0;
	current_process(&w->acceptor);
	w->accepted = 1;
	emit_accept(key, w);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int on_accept4_exit(struct trace_event_raw_sys_exit *ctx)
{
	return learn_from_accept(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int on_accept_exit(struct trace_event_raw_sys_exit *ctx)
{
	return learn_from_accept(ctx->ret);
}

/* A timewait socket's state as ss and /proc/net/tcp show it: TIME_WAIT, or
 * FIN_WAIT2 for an orphan still waiting for the peer's FIN. 0 for others. */
static __always_inline __u8 tw_substate_of(struct sock_common *skc)
{
	struct tcp_timewait_sock *tw;

	if (skc->skc_state != TCP_TIME_WAIT)
		return 0;
	tw = bpf_skc_to_tcp_timewait_sock(skc);
	return tw ? tw->tw_sk.tw_substate : TCP_TIME_WAIT;
}

/* A listener's drops as ListenDrops counts them (tcp_listendrop): sk_drops,
 * plus the per-NUMA counters newer kernels keep beside it when a socket has them. */
struct numa_drop_counters___tcptrace {
	atomic_t drops0;
	atomic_t drops1;
} __attribute__((preserve_access_index));

/* A kernel's struct sock with its per-NUMA drop counters (6.18+): the
 * build's own vmlinux.h may predate them. */
struct sock___numa_drops {
	struct numa_drop_counters___tcptrace *sk_drop_counters;
} __attribute__((preserve_access_index));

static __always_inline __u32 listen_drops_of(struct sock *sk)
{
	__u32 drops = sk->sk_drops.counter;
	struct numa_drop_counters___tcptrace *numa;

	if (bpf_core_field_exists(struct sock___numa_drops, sk_drop_counters)) {
		numa = BPF_CORE_READ((struct sock___numa_drops *)sk, sk_drop_counters);
		if (numa)
			drops += BPF_CORE_READ(numa, drops0.counter) + BPF_CORE_READ(numa, drops1.counter);
	}
	return drops;
}

/* A socket that predates the trace takes the process holding it (found by
 * the file-table walk just before) as its owner, until one is seen at work.
 * A listener's owner also names its future children (BPF_F_CLONE). */
static __always_inline void own_by_holder(__u64 skaddr, struct sock_info *si)
{
	struct holder *h = bpf_map_lookup_elem(&holders, &skaddr);

	if (!h)
		return;
	if (h->walk == holder_walk && si->owner_src == OWNER_NONE) {
		si->owner = h->process;
		si->owner_src = OWNER_SNAPSHOT;
	}
	bpf_map_delete_elem(&holders, &skaddr);
}

/* What the kernel side knows of a tracked socket, into its snapshot record. */
static __always_inline void describe_tracked(__u64 skaddr, struct sock_info *si,
					     struct tcptrace_sock_rec *rec)
{
	own_by_holder(skaddr, si);
	/* Accepted, with no transition since to take the accept's owner: take it now. */
	if (si->in_accept_queue) {
		struct accept_wait *w = bpf_map_lookup_elem(&accept_queue, &skaddr);

		if (w && w->accepted)
			take_accept_owner(si, w);
	}
	rec->sock_id = si->id;
	rec->state_since_ns = si->state_ts;
	rec->fin_idle_ns = si->fin_idle_ns;
	rec->opener_pid = si->opener.pid;
	__builtin_memcpy(rec->opener_comm, si->opener.comm, sizeof(rec->opener_comm));
}

/* Start-up snapshot: every TCP socket of this network namespace, and
 * storage with an id for each full socket so its next transition has one.
 * Run after snapshot_files, whose holders it takes. */
SEC("iter/tcp")
int snapshot_socks(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcptrace_sock_rec rec = {};
	struct sock_info *si;
	struct tcp_sock *tp;
	__u64 key;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	/* A host drowning in TIME_WAIT has hundreds of thousands: only reports
	 * about them need them (and count_states counts them anyway). */
	if (!tp && snapshot_full_only)
		return 0;
	key = (__u64)skc;
	rec.skaddr = key;
	rec.family = skc->skc_family;
	rec.state = skc->skc_state;
	rec.sport = skc->skc_num;
	rec.dport = bpf_ntohs(skc->skc_dport);
	rec.netns = netns_of(skc);
	rec.uid = ctx->uid;
	read_addrs(skc, rec.family, rec.saddr, rec.daddr);

	rec.tw_substate = tw_substate_of(skc);
	if (tp) {
		rec.inode = BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_socket, file, f_inode, i_ino);
		if (rec.state == TCP_LISTEN) {
			rec.ack_backlog = tp->inet_conn.icsk_inet.sk.sk_ack_backlog;
			rec.max_ack_backlog = tp->inet_conn.icsk_inet.sk.sk_max_ack_backlog;
			rec.listen_drops = listen_drops_of(&tp->inet_conn.icsk_inet.sk);
		}
		si = bpf_sk_storage_get(&socks, tp, NULL, BPF_SK_STORAGE_GET_F_CREATE);
		/* A life started by a transition since attach is newer: keep it. */
		if (si && !si->id) {
			start_life(this_cpu(), si, bpf_ktime_get_ns(), false, false, rec.state);
			si->sport = rec.sport;
			si->state = rec.state;
		}
		if (si)
			describe_tracked(key, si, &rec);
	}
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

/* The first holder the walk finds, for a socket in the walker's own network
 * namespace (the one snapshot_socks walks next). */
static __always_inline void remember_holder(const struct sock *sk, const struct tcptrace_file_rec *rec)
{
	struct task_struct *walker = bpf_get_current_task_btf();
	__u64 key = (__u64)sk;
	struct holder *seen, h = { .process = { .cgroup_id = rec->cgroup_id, .pid = rec->pid },
				   .walk = holder_walk };

	/* Only what the socket walks will visit and take out again: the walker's
	 * namespace (or every one), and no unconnected socket (a walk sees hashed
	 * ones only). */
	if (sk->__sk_common.skc_state == TCP_CLOSE ||
	    (!holders_every_netns && netns_of(&sk->__sk_common) != walker->nsproxy->net_ns->ns.inum))
		return;
	seen = bpf_map_lookup_elem(&holders, &key);
	if (seen && seen->walk == holder_walk)
		return;
	__builtin_memcpy(h.process.comm, rec->comm, sizeof(h.process.comm));
	bpf_map_update_elem(&holders, &key, &h, BPF_ANY);
}

/* Who holds which TCP socket: the truth about owners, as `ss -p` reads it.
 * sock_id is left 0: user space joins the records to snapshot_socks' by address. */
SEC("iter/task_file")
int snapshot_files(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct tcptrace_file_rec rec = {};
	struct socket *sock;
	struct sock *sk;

	if (ctx->meta->seq_num == 0)
		holder_walk++;
	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	/* BTF pointers from here on: plain loads, and the socket's storage. */
	sk = sock->sk;
	if (!sk || !is_tcp_inet(sk->sk_protocol, sk->__sk_common.skc_family))
		return 0;

	rec.skaddr = (__u64)sk;
	rec.pid = task->tgid;
	rec.fd = ctx->fd;
	BPF_CORE_READ_STR_INTO(&rec.comm, task, comm);
	rec.cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);

	remember_holder(sk, &rec);
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

/* A listener's queue, drops and owner, for count_states. */
static __always_inline void write_listener(struct seq_file *seq, struct sock_common *skc)
{
	struct tcptrace_listener_rec rec = {};
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
	struct sock_info *si;
	struct sock *sk;
	__u8 unused_daddr[16];

	if (!tp)
		return;
	sk = &tp->inet_conn.icsk_inet.sk;
	rec.skaddr = (__u64)skc;
	rec.family = skc->skc_family;
	rec.sport = skc->skc_num;
	rec.netns = netns_of(skc);
	read_addrs(skc, rec.family, rec.saddr, unused_daddr);
	rec.ack_backlog = sk->sk_ack_backlog;
	rec.max_ack_backlog = sk->sk_max_ack_backlog;
	rec.listen_drops = listen_drops_of(sk);
	si = bpf_sk_storage_get(&socks, tp, NULL, 0);
	if (si && si->owner_src != OWNER_NONE) {
		rec.owner_pid = si->owner.pid;
		__builtin_memcpy(rec.owner_comm, si->owner.comm, sizeof(rec.owner_comm));
	}
	bpf_seq_write(seq, &rec, sizeof(rec));
}

/* Sockets per state right now (as `ss -tan` would count them), honouring
 * the family and port filters, written out once at the end of the walk; and
 * each listener as it is passed (write_listener). */
SEC("iter/tcp")
int count_states(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	__u32 state;

	if (ctx->meta->seq_num == 0)
		__builtin_memset(state_counts, 0, sizeof(state_counts));
	if (!skc) {
		bpf_seq_write(ctx->meta->seq, state_counts, sizeof(state_counts));
		return 0;
	}
	if (filter_family && skc->skc_family != filter_family)
		return 0;
	if (filter_nports && !port_in_filter(skc->skc_num, bpf_ntohs(skc->skc_dport)))
		return 0;
	state = tw_substate_of(skc) ?: skc->skc_state;
	barrier_var(state); /* one register, checked and then used to index */
	if (state < TCPTRACE_NR_STATES)
		state_counts[state]++;
	if (state == TCP_LISTEN)
		write_listener(ctx->meta->seq, skc);
	return 0;
}
