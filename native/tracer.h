// The kernel side, seen from user space: load, attach, drain, snapshot, detach.
// No JavaScript in here: addon.cc wraps it for Node.
#pragma once

#include <linux/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

struct tcptrace_bpf;
struct ring_buffer;
struct bpf_link;
struct bpf_program;

struct TracerOptions {
	uint32_t ring_buffer_bytes = 8u << 20;
	uint64_t wakeup_bytes = 0;      // 0: let the kernel wake us per batch
	uint8_t family = 0;             // AF_INET, AF_INET6 or 0 for both
	uint32_t state_mask = 0;        // bit per TCP state; 0 for all
	std::vector<uint16_t> ports;    // local or remote; empty for all
	std::vector<uint32_t> pids;     // owner tgid; empty for all
	std::vector<uint32_t> netns;    // network namespace inodes; empty for all
	bool emit_accepts = false;      // KIND_ACCEPT records, for the accept-queue wait
	bool emit_events = true;        // false: count in the kernel's aggregates only, send no records
	bool emit_connections = false;  // one struct tcptrace_connection per connection at its end, no transitions
	bool count_tallies = false;     // keep transitions per owner and per peer (the live view's)
	bool count_aggregates = false;  // keep the kernel's aggregates (always when nothing is sent)
	uint64_t measure_unit_ns = 1000; // the kernel's histograms' unit
	bool learn_owners = true;       // false: nothing needs owners, so send/recv are not traced
	bool follow_resets = true;      // false: nothing shows resets, so their programs are not loaded
	std::vector<std::vector<uint64_t>> bounds_ns; // per measure: fixed histogram bounds (serve's), ascending
	bool snapshot_full_only = false; // snapshot without TIME_WAIT and request sockets
	bool iterators_only = false;    // load and attach the iterators alone (snapshots, no tracing)
	std::vector<std::string> assume_missing; // kernel BTF types to probe as absent: an older kernel's path, on demand
};

// A failure with a stable code for JavaScript and, where there is one, the
// kernel's or libbpf's own account of it (verifier log) for --verbose.
struct TracerError {
	std::string code;
	std::string message;
	std::string details;
};

struct TracerCounters {
	uint64_t ring_buffer_full;   // dropped: no room in the ring buffer
	uint64_t nested_missed;      // skipped by the kernel and not caught by the understudy
	uint64_t nested_caught;      // skipped by the kernel, handled by the understudy
	uint64_t inferred;           // never run for by the kernel, deduced from the next transition
	uint64_t untracked_socks;
};

class Tracer {
public:
	// Opens, loads and attaches; on failure returns false and fills *err,
	// with everything it had made already released.
	bool Open(const TracerOptions &opts, TracerError *err);
	void Close();
	~Tracer() { Close(); }

	// Appends every record waiting in the ring buffer to *batch.
	int Drain(std::vector<uint8_t> *batch);
	int EpollFd() const;
	TracerCounters Counters() const;
	// struct tcptrace_aggregates summed over every CPU, as raw bytes.
	std::vector<uint8_t> Aggregates() const;
	// Every struct tcptrace_process_tally, or tcptrace_peer_tally, now (none once closed).
	std::vector<uint8_t> ProcessTallies() const;
	std::vector<uint8_t> PeerTallies() const;
	std::vector<std::string> SkippedPrograms() const { return skipped_; }
	// This kernel's names of its RST reasons (enum sk_rst_reason) by value; none before 6.10.
	std::vector<std::string> ResetReasonNames() const { return reset_reason_names_; }
	size_t RingBufferBytes() const { return ring_buffer_bytes_; }

	// Walk an iterator program to its end: snapshot records or state counts.
	// A socket walk covers the network namespace of netns_path (a /proc/PID/ns/net
	// or /run/netns/NAME file) if one is given, else tcptrace's own.
	bool RunIterator(const char *program, const std::string &netns_path, std::vector<uint8_t> *out, TracerError *err);
	// The next file-table walk keeps the holders of every namespace's sockets,
	// for socket walks of every namespace to take.
	void HoldersOfEveryNetns(bool every);

private:
	bool Attach(TracerError *err);
	bool AttachOne(struct bpf_program *prog, TracerError *err);

	tcptrace_bpf *skel_ = nullptr;
	ring_buffer *rb_ = nullptr;
	std::vector<std::pair<std::string, bpf_link *>> links_;
	std::vector<std::string> skipped_;
	std::vector<std::string> reset_reason_names_;
	std::vector<uint8_t> *sink_ = nullptr;
	TracerCounters final_counters_ = {};
	std::vector<uint8_t> final_aggregates_;
	size_t ring_buffer_bytes_ = 0;
};
