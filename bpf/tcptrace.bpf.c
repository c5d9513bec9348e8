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
#define S_IFMT 00170000
#define S_IFSOCK 0140000
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

struct tcptrace_counters counters = {};
__u64 next_sock_id = 0;
__u32 state_counts[TCPTRACE_NR_STATES] = {};

/* What we know about one live socket, keyed by its address. */
struct sock_info {
	__u64 id;
	__u64 state_ts;     /* entered its current state; 0 = before tracing began */
	__u64 birth_ts;
	__u64 last_io_ns;   /* last send/recv seen; 0 = none */
	__u64 established_ts; /* entered ESTABLISHED; 0 = not seen */
	__u64 cgroup_id;    /* owner's cgroup, learned with pid and comm */
	__u32 pid;
	__u8 owner_src;
	__u8 birth_pending; /* child socket: its birth event waits for its addresses */
	__u16 sport;        /* last local port seen: the kernel zeroes it before ->CLOSE */
	char comm[TCPTRACE_COMM_LEN];
	__u8 state;         /* state after the last transition seen; 0 = not known */
	__u8 pad[7];
};

struct listen_key {
	__u32 netns;
	__u32 port;
};

struct listen_owner {
	__u64 skaddr;
	__u64 cgroup_id;
	__u32 pid;
	__u32 pad;
	char comm[TCPTRACE_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TCPTRACE_DEFAULT_RING_BYTES); /* resized by the addon from --ring-buffer */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCPTRACE_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, struct sock_info);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct listen_key);
	__type(value, struct listen_owner);
} listeners SEC(".maps");

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

static __always_inline void own_by_current(struct sock_info *si, __u8 src)
{
	si->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(si->comm, sizeof(si->comm));
	si->cgroup_id = bpf_get_current_cgroup_id();
	si->owner_src = src;
}

static __always_inline struct sock_info *track_new(__u64 key, __u64 state_ts)
{
	struct sock_info fresh = {
		.id = __sync_fetch_and_add(&next_sock_id, 1) + 1,
		.state_ts = state_ts,
		.birth_ts = state_ts,
	};

	if (bpf_map_update_elem(&socks, &key, &fresh, BPF_ANY)) {
		__sync_fetch_and_add(&counters.untracked_socks, 1);
		return NULL;
	}
	return bpf_map_lookup_elem(&socks, &key);
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

/* What one record says, besides what is read from the socket itself. */
struct record {
	__u64 ts;
	__u64 prev_state_ns;
	__u8 old;
	__u8 new;
	__u8 owner_src;
	__u8 flags;
	__u8 kind;
};

static __always_inline void emit(const struct sock *sk, const struct sock_info *si,
				 const struct record *r)
{
	/* sk is the tracepoint's own BTF pointer: plain loads, no probe reads. */
	const struct sock_common *skc = &sk->__sk_common;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	__u8 family = skc->skc_family;
	__u16 sport = skc->skc_num ?: (si ? si->sport : 0);
	__u16 dport = bpf_ntohs(skc->skc_dport);
	__u32 pid = r->owner_src == OWNER_NONE ? 0 : si->pid;
	__u32 netns = netns_of(skc);
	struct tcptrace_event *e;

	if (!wanted(family, r->old, r->new, sport, dport, pid, netns))
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&counters.ring_buffer_full, 1);
		return;
	}
	e->ts_ns = r->ts;
	e->skaddr = (__u64)sk;
	e->sock_id = si ? si->id : 0;
	e->prev_state_ns = r->prev_state_ns;
	read_addrs(skc, family, e->saddr, e->daddr);
	e->netns = netns;
	e->pid = pid;
	e->sport = sport;
	e->dport = dport;
	e->family = family;
	e->oldstate = r->old;
	e->newstate = r->new;
	e->owner_src = r->owner_src;
	if (r->owner_src == OWNER_NONE) {
		__builtin_memset(e->comm, 0, sizeof(e->comm));
		e->cgroup_id = 0;
	} else {
		__builtin_memcpy(e->comm, si->comm, sizeof(e->comm));
		e->cgroup_id = si->cgroup_id;
	}
	e->flags = r->flags;
	e->kind = r->kind;
	e->pad0 = 0;
	e->pad1 = 0;
	/* Why the socket ended: only meaningful once it has. */
	/* Not sk_shutdown: close() sets RCV_SHUTDOWN on orphans whatever the peer did. */
	e->peer_fin = r->new == TCP_CLOSE ? (skc->skc_flags >> SOCK_DONE) & 1 : 0;
	e->sk_err = r->new == TCP_CLOSE ? sk->sk_err : 0;
	e->tx_bytes = tp ? tp->bytes_acked : 0;
	e->rx_bytes = tp ? tp->bytes_received : 0;
	/* For ->CLOSE_WAIT: how long the connection sat idle before the peer's FIN. */
	e->idle_ns = si && si->last_io_ns ? r->ts - si->last_io_ns : 0;
	bpf_ringbuf_submit(e, wakeup_flags());
}

/* accept() returned a socket: who and how long it queued. Readers need only
 * the id, time, owner and wait, so the socket itself (known here only as a
 * plain address) is not read again. */
static __always_inline void emit_accept(__u64 skaddr, const struct sock_info *si)
{
	struct tcptrace_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u64 now = bpf_ktime_get_ns();

	if (!e) {
		__sync_fetch_and_add(&counters.ring_buffer_full, 1);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->skaddr = skaddr;
	e->sock_id = si->id;
	e->prev_state_ns = si->established_ts ? now - si->established_ts : 0;
	e->pid = si->pid;
	e->family = AF_INET;
	e->oldstate = si->state;
	e->newstate = si->state;
	e->owner_src = OWNER_SYSCALL;
	e->kind = KIND_ACCEPT;
	e->sport = si->sport;
	__builtin_memcpy(e->comm, si->comm, sizeof(e->comm));
	e->cgroup_id = si->cgroup_id;
	bpf_ringbuf_submit(e, wakeup_flags());
}

/* The listeners map key for a socket: sk is a BTF pointer (plain loads). */
static __always_inline struct listen_key listen_key_of(const struct sock *sk)
{
	struct listen_key key = { .netns = netns_of(&sk->__sk_common),
				  .port = sk->__sk_common.skc_num };

	return key;
}

static __always_inline void remember_listener(const struct listen_key *key, __u64 skaddr,
					      const struct sock_info *si)
{
	struct listen_owner owner = { .skaddr = skaddr, .cgroup_id = si->cgroup_id,
				      .pid = si->pid };

	__builtin_memcpy(owner.comm, si->comm, sizeof(owner.comm));
	bpf_map_update_elem(&listeners, key, &owner, BPF_ANY);
}

static __always_inline void forget_listener(const struct sock *sk)
{
	struct listen_key key = listen_key_of(sk);
	struct listen_owner *owner = bpf_map_lookup_elem(&listeners, &key);

	/* SO_REUSEPORT: another listener may have taken the slot since. */
	if (owner && owner->skaddr == (__u64)sk)
		bpf_map_delete_elem(&listeners, &key);
}

/* A child socket is cloned from its listener: until accept() the listening
 * process is the best owner we can name, and we say that is where it came from. */
static __always_inline void own_by_listener(const struct sock *child, struct sock_info *si)
{
	struct listen_key key = listen_key_of(child);
	struct listen_owner *owner = bpf_map_lookup_elem(&listeners, &key);

	if (!owner)
		return;
	si->pid = owner->pid;
	si->cgroup_id = owner->cgroup_id;
	__builtin_memcpy(si->comm, owner->comm, sizeof(si->comm));
	si->owner_src = OWNER_LISTENER;
}

static __always_inline void handle_transition(const struct sock *sk, int old, int new)
{
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns(), prev_state_ns = 0;
	bool child_born = old == TCP_LISTEN && new == TCP_SYN_RECV;
	bool born = old == TCP_CLOSE || child_born;
	struct sock_info *si = NULL;
	__u8 owner_src;

	if (!is_tcp_inet(sk->sk_protocol, sk->__sk_common.skc_family))
		return;

	if (!born)
		si = bpf_map_lookup_elem(&socks, &key);
	if (!si)
		si = track_new(key, born ? now : 0);
	if (!si) {
		struct record r = { .ts = now, .old = old, .new = new };

		emit(sk, NULL, &r);
		return;
	}

	if (child_born) {
		/* Its ports and addresses are still the listener's: emit the birth
		 * with the next transition, when they are the child's own. */
		own_by_listener(sk, si);
		si->birth_pending = 1;
		si->state = new;
		return;
	}
	if (sk->__sk_common.skc_num)
		si->sport = sk->__sk_common.skc_num;
	if (si->birth_pending) {
		si->birth_pending = 0;
		struct record birth = { .ts = si->birth_ts, .old = TCP_LISTEN, .new = TCP_SYN_RECV,
					.owner_src = si->owner_src };

		emit(sk, si, &birth);
	}

	owner_src = si->owner_src == OWNER_SYSCALL ? OWNER_CACHED : si->owner_src;
	if (!born && si->state && si->state != old) {
		/* Rarely the kernel does not run its BPF programs for a transition
		 * (and counts it nowhere); this one shows it happened. When, and so
		 * the time spent in either state, is not known. */
		struct record missed = { .ts = now, .old = si->state, .new = old,
					 .owner_src = owner_src, .flags = TCPTRACE_EVENT_INFERRED };

		__sync_fetch_and_add(&counters.inferred, 1);
		emit(sk, si, &missed);
		si->state_ts = 0;
	}
	if (!born && si->state_ts)
		prev_state_ns = now - si->state_ts;
	si->state_ts = now;
	si->state = new;
	if (new == TCP_ESTABLISHED)
		si->established_ts = now;

	if (runs_in_owner_syscall(old, new) && current_is_user_task()) {
		own_by_current(si, OWNER_SYSCALL);
		owner_src = OWNER_SYSCALL;
	}

	if (new == TCP_LISTEN) {
		struct listen_key lkey = listen_key_of(sk);

		remember_listener(&lkey, key, si);
	}
	else if (old == TCP_LISTEN)
		forget_listener(sk);

	struct record r = { .ts = now, .prev_state_ns = prev_state_ns, .old = old, .new = new,
			    .owner_src = owner_src };

	emit(sk, si, &r);

	if (new == TCP_CLOSE)
		bpf_map_delete_elem(&socks, &key);
}

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

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct recent_transitions);
} recent SEC(".maps");

static __always_inline struct recent_transitions *recent_on_this_cpu(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&recent, &zero);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state, const struct sock *sk, const int old, const int new)
{
	struct recent_transitions *r = recent_on_this_cpu();

	if (r) {
		__u32 slot = r->next++ % RECENT_SLOTS;

		r->sk[slot] = (__u64)sk;
		r->states[slot] = old << 8 | new;
	}
	handle_transition(sk, old, new);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state_nested, const struct sock *sk, const int old, const int new)
{
	struct recent_transitions *r = recent_on_this_cpu();

	if (!r)
		return 0;
	for (int i = 0; i < RECENT_SLOTS; i++)
		if (r->sk[i] == (__u64)sk && r->states[i] == (old << 8 | new))
			return 0;
	__sync_fetch_and_add(&counters.nested_caught, 1);
	handle_transition(sk, old, new);
	return 0;
}

/* Owner and last activity from send/recv: always the caller's own context. */
static __always_inline int learn_from_io(struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct sock_info *si;
	__u32 pid;

	if (!sk || !is_tcp_inet(sk->sk_protocol, sk->__sk_common.skc_family))
		return 0;
	si = bpf_map_lookup_elem(&socks, &key);
	if (!si)
		return 0;
	si->last_io_ns = bpf_ktime_get_ns();
	pid = bpf_get_current_pid_tgid() >> 32;
	if ((si->pid != pid || si->owner_src == OWNER_NONE) && current_is_user_task())
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

static __always_inline struct sock *sock_of_fd(struct task_struct *task, long fd)
{
	struct files_struct *files = BPF_CORE_READ(task, files);
	struct fdtable *fdt = BPF_CORE_READ(files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	struct socket *sock;

	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* accept() returned: the caller now holds the child socket. */
static __always_inline int learn_from_accept(long fd)
{
	struct sock *sk;
	struct sock_info *si;
	__u64 key;

	if (fd < 0)
		return 0;
	sk = sock_of_fd(bpf_get_current_task_btf(), fd);
	if (!sk)
		return 0;
	key = (__u64)sk;
	si = bpf_map_lookup_elem(&socks, &key);
	if (!si)
		return 0;
	own_by_current(si, OWNER_SYSCALL);
	if (emit_accepts)
		emit_accept(key, si);
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

/* Start-up snapshot: every TCP socket of this network namespace, and a
 * tracking entry for each full socket so its next transition has an id. */
SEC("iter/tcp")
int snapshot_socks(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcptrace_sock_rec rec = {};
	struct sock_info fresh = {}, *si;
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
		}
		fresh.id = __sync_fetch_and_add(&next_sock_id, 1) + 1;
		fresh.sport = rec.sport;
		fresh.state = rec.state;
		/* An entry made by a transition since attach is newer: keep it. */
		bpf_map_update_elem(&socks, &key, &fresh, BPF_NOEXIST);
		si = bpf_map_lookup_elem(&socks, &key);
		rec.sock_id = si ? si->id : 0;
	}
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

/* Who holds which TCP socket: the truth about owners, as `ss -p` reads it. */
SEC("iter/task_file")
int snapshot_files(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct tcptrace_file_rec rec = {};
	struct sock_info *si;
	struct socket *sock;
	struct sock *sk;
	__u64 key;

	if (!task || !file)
		return 0;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || !is_tcp_inet(BPF_CORE_READ(sk, sk_protocol), BPF_CORE_READ(sk, __sk_common.skc_family)))
		return 0;

	key = (__u64)sk;
	rec.skaddr = key;
	rec.pid = task->tgid;
	rec.fd = ctx->fd;
	BPF_CORE_READ_STR_INTO(&rec.comm, task, comm);
	rec.cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);

	si = bpf_map_lookup_elem(&socks, &key);
	if (si) {
		rec.sock_id = si->id;
		if (si->owner_src == OWNER_NONE) {
			si->pid = rec.pid;
			si->cgroup_id = rec.cgroup_id;
			__builtin_memcpy(si->comm, rec.comm, sizeof(si->comm));
			si->owner_src = OWNER_SNAPSHOT;
		}
		if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_LISTEN) {
			/* sk is a plain address here: probe reads. */
			struct listen_key lkey = { .netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum),
						   .port = BPF_CORE_READ(sk, __sk_common.skc_num) };

			remember_listener(&lkey, key, si);
		}
	}
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

/* Sockets per state right now (as `ss -tan` would count them), honouring
 * the family and port filters. Written out once, at the end of the walk. */
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
	return 0;
}
