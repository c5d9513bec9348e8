#include "tracer.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <thread>

#include "tcptrace.h"
#include "tcptrace.skel.h"

namespace {

// libbpf reports through one process-wide callback; keep what it said during
// the current operation so a failure can carry the verifier's reason.
std::string g_libbpf_log;

int capture_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args) {
	if (level == LIBBPF_DEBUG || g_libbpf_log.size() >= (4u << 20))
		return 0;
	// One message can be a whole verifier log, its reason at the very end:
	// size the buffer from the message rather than cut it.
	va_list again;
	va_copy(again, args);
	int n = vsnprintf(nullptr, 0, fmt, args);
	if (n > 0) {
		std::vector<char> text(n + 1);
		vsnprintf(text.data(), text.size(), fmt, again);
		g_libbpf_log.append(text.data(), n);
	}
	va_end(again);
	return n;
}

bool assumed_missing(const char *name, const std::vector<std::string> &assume_missing) {
	for (const std::string &missing : assume_missing)
		if (missing == name)
			return true;
	return false;
}

bool kernel_has_btf_type(const struct btf *vmlinux, const char *name, const std::vector<std::string> &assume_missing) {
	return vmlinux && !assumed_missing(name, assume_missing) && btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) >= 0;
}

// The names of a kernel enum's values, by value ("SK_RST_REASON_NO_SOCKET" at
// 1, ...), empty if this kernel has no such enum (or it is assumed missing).
std::vector<std::string> kernel_enum_names(const struct btf *vmlinux, const char *name, const std::vector<std::string> &assume_missing) {
	std::vector<std::string> names;
	if (!vmlinux || assumed_missing(name, assume_missing))
		return names;
	int id = btf__find_by_name_kind(vmlinux, name, BTF_KIND_ENUM);
	const struct btf_type *t = id >= 0 ? btf__type_by_id(vmlinux, id) : nullptr;
	for (int i = 0; t && i < btf_vlen(t); i++) {
		const struct btf_enum *e = btf_enum(t) + i;
		if (e->val < 0 || e->val > 0xfffe)
			continue;
		if (names.size() <= static_cast<size_t>(e->val))
			names.resize(e->val + 1);
		names[e->val] = btf__name_by_offset(vmlinux, e->name_off);
	}
	return names;
}

TracerError make_error(const char *code, const std::string &message) {
	return TracerError{code, message, g_libbpf_log};
}

std::string errno_text(int err) {
	return strerror(err < 0 ? -err : err);
}

bool is_permission_error(int err) {
	return err == -EPERM || err == -EACCES;
}

const char *kPermissionHint =
	"permission denied by the kernel: run as root (or with CAP_BPF and CAP_PERFMON)";

int append_record(void *ctx, void *data, size_t size) {
	// ctx is &Tracer::sink_: the batch being filled by the current Drain().
	auto *sink = *static_cast<std::vector<uint8_t> **>(ctx);
	auto *bytes = static_cast<const uint8_t *>(data);
	sink->insert(sink->end(), bytes, bytes + size);
	return 0;
}

}  // namespace

static_assert(sizeof(struct tcptrace_event) == 136, "event layout changed: update the decoder");
static_assert(sizeof(struct tcptrace_connection) == 264, "connection layout changed: update the decoder");
static_assert(sizeof(struct tcptrace_process_tally) == 40, "process tally layout changed");
static_assert(sizeof(struct tcptrace_peer_tally) == 32, "peer tally layout changed");
static_assert(sizeof(struct tcptrace_sock_rec) == 120, "socket record layout changed");
static_assert(sizeof(struct tcptrace_listener_rec) == 64, "listener record layout changed");
static_assert(sizeof(struct tcptrace_file_rec) == 48, "file record layout changed");

bool Tracer::Open(const TracerOptions &opts, TracerError *err) {
	g_libbpf_log.clear();
	libbpf_set_print(capture_libbpf_print);

	skel_ = tcptrace_bpf__open();
	if (!skel_) {
		*err = make_error("EOPEN", "cannot open the BPF object: " + errno_text(errno));
		return false;
	}

	auto *ro = skel_->rodata;
	ro->filter_family = opts.family;
	ro->filter_state_mask = opts.state_mask;
	ro->filter_nports = opts.ports.size();
	for (size_t i = 0; i < opts.ports.size() && i < TCPTRACE_MAX_FILTER; i++)
		ro->filter_ports[i] = opts.ports[i];
	ro->filter_npids = opts.pids.size();
	for (size_t i = 0; i < opts.pids.size() && i < TCPTRACE_MAX_FILTER; i++)
		ro->filter_pids[i] = opts.pids[i];
	ro->filter_nnetns = opts.netns.size();
	for (size_t i = 0; i < opts.netns.size() && i < TCPTRACE_MAX_FILTER; i++)
		ro->filter_netns[i] = opts.netns[i];
	ro->wakeup_bytes = opts.wakeup_bytes;
	ro->emit_accepts = opts.emit_accepts;
	ro->emit_events = opts.emit_events;
	ro->emit_connections = opts.emit_connections;
	ro->count_tallies = opts.count_tallies;
	ro->count_aggregates = opts.count_aggregates || (!opts.emit_events && !opts.emit_connections);
	ro->measure_unit_ns = opts.measure_unit_ns ? opts.measure_unit_ns : 1;
	ro->learn_owners = opts.learn_owners;
	ro->follow_resets = opts.follow_resets;
	for (size_t m = 0; m < opts.bounds_ns.size() && m < TCPTRACE_NR_MEASURES; m++) {
		ro->nbounds[m] = opts.bounds_ns[m].size() < TCPTRACE_MAX_BOUNDS ? opts.bounds_ns[m].size() : TCPTRACE_MAX_BOUNDS;
		for (size_t i = 0; i < ro->nbounds[m]; i++)
			ro->bounds_ns[m][i] = opts.bounds_ns[m][i];
	}
	int cpus = libbpf_num_possible_cpus();
	ro->nr_cpus = cpus > 0 ? cpus : 1;
	ro->snapshot_full_only = opts.snapshot_full_only;
	bpf_map__set_max_entries(skel_->maps.events, opts.ring_buffer_bytes);
	ring_buffer_bytes_ = opts.ring_buffer_bytes;

	// This kernel's types, read once for every probe below.
	struct btf *vmlinux = btf__load_vmlinux_btf();

	// send/recv tracepoints arrived in Linux 6.3; without them owners are
	// still learned at connect, accept and close.
	if (!kernel_has_btf_type(vmlinux, "btf_trace_sock_send_length", opts.assume_missing)) {
		bpf_program__set_autoload(skel_->progs.on_send, false);
		bpf_program__set_autoload(skel_->progs.on_recv, false);
		skipped_ = {"on_send", "on_recv"};
	} else if (!opts.learn_owners) {
		// Not a limit of this kernel: this run needs neither owners nor idle times.
		bpf_program__set_autoload(skel_->progs.on_send, false);
		bpf_program__set_autoload(skel_->progs.on_recv, false);
	}

	// The RST's reason arrived with Linux 6.10 (enum sk_rst_reason): one of
	// the two programs for tcp_send_reset, by what this kernel's gives.
	reset_reason_names_ = kernel_enum_names(vmlinux, "sk_rst_reason", opts.assume_missing);
	btf__free(vmlinux);
	bpf_program__set_autoload(reset_reason_names_.empty() ? skel_->progs.on_send_reset : skel_->progs.on_send_reset_no_reason, false);
	if (reset_reason_names_.empty() && opts.follow_resets)
		skipped_.push_back("on_send_reset");
	if (!opts.follow_resets) {
		// No report of this run shows resets: none of their programs runs.
		bpf_program__set_autoload(skel_->progs.on_send_reset, false);
		bpf_program__set_autoload(skel_->progs.on_send_reset_no_reason, false);
		bpf_program__set_autoload(skel_->progs.on_receive_reset, false);
		bpf_program__set_autoload(skel_->progs.on_destroy_sock, false);
	}

	// A one-shot snapshot needs only the iterators: the host's TCP path is
	// left untouched, and loading and detaching are quicker.
	if (opts.iterators_only) {
		struct bpf_program *prog;
		bpf_object__for_each_program(prog, skel_->obj) {
			if (strncmp(bpf_program__section_name(prog), "iter/", 5) != 0)
				bpf_program__set_autoload(prog, false);
		}
	}

	int rc = tcptrace_bpf__load(skel_);
	if (rc) {
		if (is_permission_error(rc))
			*err = make_error("EPERM", kPermissionHint);
		else if (g_libbpf_log.find("vmlinux BTF") != std::string::npos ||
			 g_libbpf_log.find("kernel BTF") != std::string::npos)
			*err = make_error("ENOBTF", "the kernel has no usable BTF (/sys/kernel/btf/vmlinux): CONFIG_DEBUG_INFO_BTF=y is needed");
		else
			*err = make_error("ELOAD", "the kernel rejected the BPF program: " + errno_text(rc) +
							   " (run with --verbose for the verifier's reason)");
		Close();
		return false;
	}
	if (!Attach(err)) {
		Close();
		return false;
	}

	rb_ = ring_buffer__new(bpf_map__fd(skel_->maps.events), append_record, &sink_, nullptr);
	if (!rb_) {
		*err = make_error("ERINGBUF", "cannot map the ring buffer: " + errno_text(errno));
		Close();
		return false;
	}
	return true;
}

bool Tracer::AttachOne(struct bpf_program *prog, TracerError *err) {
	const char *name = bpf_program__name(prog);
	const char *section = bpf_program__section_name(prog);
	struct bpf_link *link = strncmp(section, "iter/", 5) == 0
		? bpf_program__attach_iter(prog, nullptr)
		: bpf_program__attach(prog);
	if (!link) {
		int e = -errno;
		if (strncmp(section, "tracepoint/", 11) == 0 && e == -ENOENT)
			*err = make_error("ETRACEFS", std::string("cannot attach to ") + (section + 11) +
							 ": tracefs is not mounted at /sys/kernel/tracing");
		else if (is_permission_error(e))
			*err = make_error("EPERM", kPermissionHint);
		else
			*err = make_error("EATTACH", std::string("cannot attach ") + name + " (" + section +
							"): " + errno_text(e));
		return false;
	}
	links_.emplace_back(name, link);
	return true;
}

bool Tracer::Attach(TracerError *err) {
	// The understudy must run after on_set_state for every transition, and
	// a tracepoint calls its programs in the order they were attached.
	struct bpf_program *understudy = skel_->progs.on_set_state_nested;
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, skel_->obj) {
		if (prog != understudy && bpf_program__autoload(prog) && !AttachOne(prog, err))
			return false;
	}
	return !bpf_program__autoload(understudy) || AttachOne(understudy, err);
}

void Tracer::Close() {
	// Still readable after detach.
	final_counters_ = Counters();
	final_aggregates_ = Aggregates();
	ring_buffer__free(rb_);
	rb_ = nullptr;
	for (auto &named : links_)
		bpf_link__destroy(named.second);
	links_.clear();
	tcptrace_bpf__destroy(skel_);
	skel_ = nullptr;
}

int Tracer::Drain(std::vector<uint8_t> *batch) {
	if (!rb_)
		return -EBADF;
	// The ring buffer callback writes through sink_: point it at this batch.
	sink_ = batch;
	int rc = ring_buffer__consume(rb_);
	sink_ = nullptr;
	return rc;
}

int Tracer::EpollFd() const {
	return rb_ ? ring_buffer__epoll_fd(rb_) : -1;
}

// Transitions the kernel skipped because on_set_state was already running on
// that CPU (see on_set_state_nested in the BPF program).
static uint64_t recursion_misses(const struct bpf_program *prog) {
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);
	if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
		return 0;
	return info.recursion_misses;
}

TracerCounters Tracer::Counters() const {
	if (!skel_)
		return final_counters_;
	const volatile struct tcptrace_counters *c = &skel_->bss->counters;
	uint64_t skipped = recursion_misses(skel_->progs.on_set_state);
	uint64_t caught = c->nested_caught;
	return {c->ring_buffer_full, skipped > caught ? skipped - caught : 0, caught, c->inferred, c->untracked_socks};
}

std::vector<uint8_t> Tracer::Aggregates() const {
	if (!skel_)
		return final_aggregates_;
	constexpr size_t kWords = sizeof(struct tcptrace_aggregates) / sizeof(uint64_t);
	std::vector<uint64_t> total(kWords, 0);
	struct bpf_map *map = skel_->maps.per_cpu;
	int ncpus = libbpf_num_possible_cpus();
	// Per-CPU values are each rounded up to 8 bytes; ours begin with the aggregates.
	size_t stride = (bpf_map__value_size(map) + 7) & ~size_t(7);
	std::vector<uint64_t> values(stride / sizeof(uint64_t) * (ncpus > 0 ? ncpus : 0));
	uint32_t zero = 0;
	if (ncpus > 0 && stride >= sizeof(struct tcptrace_aggregates) &&
	    bpf_map__lookup_elem(map, &zero, sizeof(zero), values.data(), values.size() * sizeof(uint64_t), 0) == 0) {
		for (int cpu = 0; cpu < ncpus; cpu++)
			for (size_t i = 0; i < kWords; i++)
				total[i] += values[cpu * stride / sizeof(uint64_t) + i];
	}
	auto *bytes = reinterpret_cast<const uint8_t *>(total.data());
	return std::vector<uint8_t>(bytes, bytes + sizeof(struct tcptrace_aggregates));
}

namespace {

// Every value of a hash map, read in batches: a walk by next key restarts
// from the first when its key is evicted meanwhile, and would count twice.
std::vector<uint8_t> hash_map_values(struct bpf_map *map) {
	int fd = bpf_map__fd(map);
	size_t key_size = bpf_map__key_size(map), value_size = bpf_map__value_size(map);
	uint32_t max = bpf_map__max_entries(map), total = 0, token = 0;
	std::vector<uint8_t> keys(key_size * max), values(value_size * max);
	bool first = true;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);

	while (total < max) {
		uint32_t count = max - total;
		uint32_t in = token;
		int err = bpf_map_lookup_batch(fd, first ? nullptr : &in, &token, keys.data() + total * key_size,
					       values.data() + total * value_size, &count, &opts);
		total += count;
		if (err)
			break; // ENOENT: every bucket read
		first = false;
	}
	values.resize(total * value_size);
	return values;
}

}  // namespace

std::vector<uint8_t> Tracer::ProcessTallies() const {
	return skel_ ? hash_map_values(skel_->maps.process_tallies) : std::vector<uint8_t>();
}

std::vector<uint8_t> Tracer::PeerTallies() const {
	return skel_ ? hash_map_values(skel_->maps.peer_tallies) : std::vector<uint8_t>();
}

namespace {

// An iterator's walk, started in another network namespace: a socket walk
// covers the namespace of the task that opens it. setns() moves only the
// calling thread, so a thread of its own does it and the process stays put.
int iter_create_in(int link_fd, const std::string &netns_path) {
	if (netns_path.empty())
		return bpf_iter_create(link_fd);
	int ns = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		return -1;
	int fd = -1, saved = 0;
	std::thread([&] {
		if (setns(ns, CLONE_NEWNET) == 0)
			fd = bpf_iter_create(link_fd);
		saved = errno;
	}).join();
	close(ns);
	errno = saved;
	return fd;
}

}  // namespace

void Tracer::HoldersOfEveryNetns(bool every) {
	if (skel_)
		skel_->bss->holders_every_netns = every;
}

bool Tracer::RunIterator(const char *program, const std::string &netns_path, std::vector<uint8_t> *out, TracerError *err) {
	g_libbpf_log.clear();
	for (auto &named : links_) {
		if (named.first != program)
			continue;
		int fd = iter_create_in(bpf_link__fd(named.second), netns_path);
		if (fd < 0) {
			std::string where = netns_path.empty() ? "" : " in " + netns_path;
			*err = make_error("EITER", std::string("cannot start iterator ") + program + where + ": " + errno_text(errno));
			return false;
		}
		uint8_t chunk[65536];
		ssize_t n;
		while ((n = read(fd, chunk, sizeof(chunk))) > 0)
			out->insert(out->end(), chunk, chunk + n);
		int read_errno = errno;
		close(fd);
		if (n < 0) {
			*err = make_error("EITER", std::string("iterator ") + program + " failed: " + errno_text(read_errno));
			return false;
		}
		return true;
	}
	*err = make_error("EITER", std::string("no attached iterator named ") + program);
	return false;
}
