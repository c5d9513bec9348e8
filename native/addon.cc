// Node binding of Tracer: options in, binary batches out. No per-event JS
// objects are made here; src/decoder.ts reads the batches.
#include <napi.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstddef>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include <linux/types.h>

#include "capture.h"
#include "jsonl.h"
#include "tcptrace.h"
#include "tracer.h"

namespace {

struct AddonData {
	Napi::FunctionReference error_class;  // TcptraceError from src/errors.ts
};

Napi::Value ThrowTracerError(Napi::Env env, const TracerError &err) {
	auto *data = env.GetInstanceData<AddonData>();
	Napi::Object error;
	if (data && !data->error_class.IsEmpty())
		error = data->error_class.New({Napi::String::New(env, err.message)});
	else
		error = Napi::Error::New(env, err.message).Value();
	error.Set("code", err.code);
	error.Set("details", err.details);
	Napi::Error(env, error).ThrowAsJavaScriptException();
	return env.Undefined();
}

std::vector<uint32_t> NumberList(const Napi::Object &opts, const char *key) {
	std::vector<uint32_t> out;
	Napi::Value v = opts.Get(key);
	if (!v.IsArray())
		return out;
	auto arr = v.As<Napi::Array>();
	for (uint32_t i = 0; i < arr.Length() && i < TCPTRACE_MAX_FILTER; i++)
		out.push_back(arr.Get(i).As<Napi::Number>().Uint32Value());
	return out;
}

uint32_t NumberOr(const Napi::Object &opts, const char *key, uint32_t fallback) {
	Napi::Value v = opts.Get(key);
	return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : fallback;
}

// One list of bounds (ns) per measure, in enum tcptrace_measure's order; missing ones empty.
std::vector<std::vector<uint64_t>> BoundLists(const Napi::Object &opts, const char *key) {
	std::vector<std::vector<uint64_t>> out(TCPTRACE_NR_MEASURES);
	Napi::Value v = opts.Get(key);
	if (!v.IsArray())
		return out;
	auto lists = v.As<Napi::Array>();
	for (uint32_t m = 0; m < lists.Length() && m < TCPTRACE_NR_MEASURES; m++) {
		Napi::Value list = lists.Get(m);
		if (!list.IsArray())
			continue;
		auto bounds = list.As<Napi::Array>();
		for (uint32_t i = 0; i < bounds.Length() && i < TCPTRACE_MAX_BOUNDS; i++)
			out[m].push_back(static_cast<uint64_t>(bounds.Get(i).As<Napi::Number>().DoubleValue()));
	}
	return out;
}

std::vector<std::string> StringList(const Napi::Object &opts, const char *key) {
	std::vector<std::string> out;
	Napi::Value v = opts.Get(key);
	if (!v.IsArray())
		return out;
	auto arr = v.As<Napi::Array>();
	for (uint32_t i = 0; i < arr.Length(); i++)
		out.push_back(arr.Get(i).ToString().Utf8Value());
	return out;
}

TracerOptions ParseOptions(const Napi::Object &opts) {
	TracerOptions o;
	o.ring_buffer_bytes = NumberOr(opts, "ringBufferBytes", o.ring_buffer_bytes);
	o.wakeup_bytes = NumberOr(opts, "wakeupBytes", 0);
	o.family = NumberOr(opts, "family", 0);
	o.state_mask = NumberOr(opts, "stateMask", 0);
	for (uint32_t port : NumberList(opts, "ports"))
		o.ports.push_back(static_cast<uint16_t>(port));
	o.pids = NumberList(opts, "pids");
	o.netns = NumberList(opts, "netns");
	o.emit_accepts = opts.Get("emitAccepts").ToBoolean();
	o.emit_connections = opts.Get("emitConnections").ToBoolean();
	o.emit_events = !opts.Get("aggregateOnly").ToBoolean() && !o.emit_connections;
	o.count_aggregates = opts.Get("countAggregates").ToBoolean();
	o.count_tallies = opts.Get("countTallies").ToBoolean();
	o.measure_unit_ns = NumberOr(opts, "measureUnitNs", o.measure_unit_ns);
	o.learn_owners = !opts.Get("ownersUnneeded").ToBoolean();
	o.follow_resets = !opts.Get("resetsUnneeded").ToBoolean();
	o.bounds_ns = BoundLists(opts, "boundsNs");
	o.snapshot_full_only = opts.Get("snapshotFullSocketsOnly").ToBoolean();
	o.iterators_only = opts.Get("iteratorsOnly").ToBoolean();
	o.assume_missing = StringList(opts, "assumeMissing");
	return o;
}

// A binary capture file (capture.h): JS writes its tables; its events come
// from the reader thread (start()'s capture argument), or from JS when JS
// filters them (appendEvents).
class CaptureWrap : public Napi::ObjectWrap<CaptureWrap> {
public:
	static Napi::Function Define(Napi::Env env) {
		return DefineClass(env, "Capture", {
			InstanceMethod("writeTable", &CaptureWrap::WriteTable),
			InstanceMethod("appendEvents", &CaptureWrap::AppendEvents),
			InstanceMethod("flush", &CaptureWrap::Flush),
			InstanceMethod("takeCgroups", &CaptureWrap::TakeCgroups),
			InstanceMethod("stats", &CaptureWrap::Stats),
			InstanceMethod("close", &CaptureWrap::Close),
		});
	}

	// new Capture(path): throws an Error whose code is the errno's name (ENOENT, EACCES, ...).
	explicit CaptureWrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<CaptureWrap>(info) {
		std::string path = info[0].As<Napi::String>();
		int err = file_.Open(path, sizeof(struct tcptrace_event));
		if (err) {
			Napi::Error error = Napi::Error::New(info.Env(), strerror(err));
			error.Set("code", strerrorname_np(err) ? strerrorname_np(err) : "EIO");
			error.ThrowAsJavaScriptException();
		}
	}

	CaptureFile *File() { return &file_; }

private:
	// writeTable(type, text, lines): type is the block's four letters.
	Napi::Value WriteTable(const Napi::CallbackInfo &info) {
		std::string type = info[0].As<Napi::String>();
		std::string text = info[1].As<Napi::String>();
		if (type.size() == 4)
			file_.WriteTable(uint32_t(uint8_t(type[0])) | uint32_t(uint8_t(type[1])) << 8 |
						 uint32_t(uint8_t(type[2])) << 16 | uint32_t(uint8_t(type[3])) << 24,
					 text, info[2].As<Napi::Number>().Uint32Value());
		return info.Env().Undefined();
	}

	Napi::Value AppendEvents(const Napi::CallbackInfo &info) {
		auto records = info[0].As<Napi::Uint8Array>();
		file_.AppendEvents(records.Data(), records.ByteLength());
		return info.Env().Undefined();
	}

	Napi::Value Flush(const Napi::CallbackInfo &info) {
		file_.Flush();
		return info.Env().Undefined();
	}

	// [id, pid, id, pid, ...]: cgroup ids fit a double (they are inode numbers).
	Napi::Value TakeCgroups(const Napi::CallbackInfo &info) {
		auto taken = file_.TakeNewCgroups();
		Napi::Array out = Napi::Array::New(info.Env(), taken.size() * 2);
		for (size_t i = 0; i < taken.size(); i++) {
			out.Set(2 * i, static_cast<double>(taken[i].first));
			out.Set(2 * i + 1, static_cast<double>(taken[i].second));
		}
		return out;
	}

	Napi::Value Stats(const Napi::CallbackInfo &info) {
		Napi::Object out = Napi::Object::New(info.Env());
		out.Set("events", static_cast<double>(file_.Events()));
		out.Set("bytes", static_cast<double>(file_.Bytes()));
		int err = file_.Error();
		const char *name = err ? strerrorname_np(err) : nullptr;
		out.Set("errorCode", err ? Napi::Value(Napi::String::New(info.Env(), name ? name : "EIO")) : info.Env().Null());
		out.Set("errorMessage", err ? Napi::Value(Napi::String::New(info.Env(), strerror(err))) : info.Env().Null());
		return out;
	}

	Napi::Value Close(const Napi::CallbackInfo &info) {
		file_.Close();
		return info.Env().Undefined();
	}

	CaptureFile file_;
};

// export --jsonl's encoder (jsonl.h): records in, JSON Lines bytes out.
class JsonlEncoderWrap : public Napi::ObjectWrap<JsonlEncoderWrap> {
public:
	static Napi::Function Define(Napi::Env env) {
		return DefineClass(env, "JsonlEncoder", {
			InstanceMethod("nameCgroup", &JsonlEncoderWrap::NameCgroup),
			InstanceMethod("encode", &JsonlEncoderWrap::Encode),
		});
	}

	// new JsonlEncoder(wallOffsetMs, stateNames, sourceJson, resetReasonJson)
	explicit JsonlEncoderWrap(const Napi::CallbackInfo &info)
		: Napi::ObjectWrap<JsonlEncoderWrap>(info),
		  encoder_(info[0].As<Napi::Number>().DoubleValue(), Strings(info[1]), Strings(info[2]), Strings(info[3])) {}

private:
	static std::vector<std::string> Strings(Napi::Value v) {
		std::vector<std::string> out;
		auto arr = v.As<Napi::Array>();
		for (uint32_t i = 0; i < arr.Length(); i++)
			out.push_back(arr.Get(i).ToString().Utf8Value());
		return out;
	}

	// nameCgroup(id, pathJson, containerJson)
	Napi::Value NameCgroup(const Napi::CallbackInfo &info) {
		encoder_.NameCgroup(static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue()),
				    info[1].As<Napi::String>().Utf8Value(), info[2].As<Napi::String>().Utf8Value());
		return info.Env().Undefined();
	}

	Napi::Value Encode(const Napi::CallbackInfo &info) {
		auto records = info[0].As<Napi::Uint8Array>();
		std::string out;
		encoder_.Encode(records.Data(), records.ByteLength(), &out);
		return Napi::Buffer<char>::Copy(info.Env(), out.data(), out.size());
	}

	JsonlEncoder encoder_;
};

// Drains the ring buffer on its own thread, so a busy event loop never
// stalls the kernel side, and hands each batch to JS in order through a
// thread-safe function. Deletes itself once the last batch is delivered.
class Reader {
public:
	using Batch = std::vector<uint8_t>;

	// With a capture, every batch is written to it here, and handed to JS
	// only if `deliver`: `record` needs no event in JavaScript at all.
	static Reader *Start(Napi::Env env, Tracer *tracer, Napi::Function on_batch,
			     Napi::Function on_end, int poll_ms, Napi::Object capture, bool deliver) {
		auto *reader = new Reader(tracer, poll_ms);
		reader->on_end_ = Napi::Persistent(on_end);
		if (!capture.IsEmpty()) {
			reader->capture_ = CaptureWrap::Unwrap(capture)->File();
			reader->capture_ref_ = Napi::Persistent(capture);  // kept alive while the thread writes to it
			reader->deliver_ = deliver;
		}
		reader->tsfn_ = Tsfn::New(env, on_batch, "tcptrace-reader", 0, 1, reader,
					  [](Napi::Env env, void *, Reader *r) { r->Finish(env); });
		reader->thread_ = std::thread([reader] { reader->Run(); });
		return reader;
	}

	// Ends the thread after one last drain; batches still queued are delivered,
	// then on_end runs. The kernel side may be closed as soon as this returns.
	void Stop() {
		stopping_ = true;
		uint64_t one = 1;
		if (write(wake_fd_, &one, sizeof(one)) < 0) { /* the poll timeout wakes it */ }
		thread_.join();
		tsfn_.Release();
	}

private:
	static void CallJs(Napi::Env env, Napi::Function on_batch, Reader *reader, Batch *batch) {
		reader->pending_bytes_ -= batch->size();
		if (!env) {
			delete batch;
			return;
		}
		// Lent to JavaScript for the call only: then detached (every view of
		// it is empty from then on) and freed here. Freed by the garbage
		// collector instead, batches piled up (V8 is not told of memory it
		// does not own: GBs under a storm); copied into memory V8 owns, they
		// made it collect constantly (half the CPU).
		Napi::ArrayBuffer bytes = Napi::ArrayBuffer::New(env, batch->data(), batch->size(),
			[](Napi::Env, void *) { /* freed below, after the detach */ });
		on_batch.Call({Napi::Uint8Array::New(env, batch->size(), bytes, 0)});
		bytes.Detach();
		delete batch;
	}
	using Tsfn = Napi::TypedThreadSafeFunction<Reader, Batch, CallJs>;

	Reader(Tracer *tracer, int poll_ms)
		: tracer_(tracer), poll_ms_(poll_ms),
		  max_pending_bytes_(kPendingRingBuffers * tracer->RingBufferBytes()) {
		wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event ev = {};
		ev.events = EPOLLIN;
		epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, tracer->EpollFd(), &ev);
		epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
	}

	~Reader() {
		close(wake_fd_);
		close(epoll_fd_);
	}

	void Run() {
		struct epoll_event ev[2];
		while (!stopping_) {
			// JS is far behind: leave records in the ring, where a full ring
			// is counted exactly as lost events, rather than grow without
			// bound. Sleep meanwhile: the ring's fd stays readable, so
			// epoll_wait would return at once and spin.
			if (pending_bytes_ >= max_pending_bytes_) {
				std::this_thread::sleep_for(std::chrono::milliseconds(1));
				continue;
			}
			epoll_wait(epoll_fd_, ev, 2, poll_ms_);
			Drain();
		}
		Drain();
		if (capture_)
			capture_->Flush();
	}

	void Drain() {
		if (!capture_ || deliver_)
			return Hand(TakeBatch());
		// Only the capture wants the records: one buffer, emptied and
		// refilled, instead of one grown from nothing per wake-up.
		recorded_.clear();
		tracer_->Drain(&recorded_);
		if (!recorded_.empty())
			capture_->AppendEvents(recorded_.data(), recorded_.size());
		capture_->FlushIfDue();
	}

	Batch *TakeBatch() {
		auto *batch = new Batch();
		tracer_->Drain(batch);
		return batch;
	}

	void Hand(Batch *batch) {
		if (capture_) {
			if (!batch->empty())
				capture_->AppendEvents(batch->data(), batch->size());
			capture_->FlushIfDue();
		}
		if (batch->empty()) {
			delete batch;
			return;
		}
		pending_bytes_ += batch->size();
		if (tsfn_.BlockingCall(batch) != napi_ok) {
			pending_bytes_ -= batch->size();
			delete batch;
		}
	}

	void Finish(Napi::Env env) {
		Napi::FunctionReference on_end = std::move(on_end_);
		capture_ref_.Reset();
		delete this;
		if (env && !on_end.IsEmpty())
			on_end.Call({});
	}

	// Records waiting for JavaScript, in ring buffers' worth: with the ring,
	// 9 x --ring-buffer (72 MB by default) absorbs a burst the reports are
	// slow to digest before anything is lost.
	static constexpr size_t kPendingRingBuffers = 8;
	Tracer *tracer_;
	int poll_ms_;
	size_t max_pending_bytes_;
	int wake_fd_ = -1;
	int epoll_fd_ = -1;
	std::atomic<bool> stopping_{false};
	std::atomic<size_t> pending_bytes_{0};
	std::thread thread_;
	Tsfn tsfn_;
	Napi::FunctionReference on_end_;
	CaptureFile *capture_ = nullptr;
	Napi::ObjectReference capture_ref_;
	bool deliver_ = true;
	Batch recorded_;  // capture only: reused
};

class TracerWrap : public Napi::ObjectWrap<TracerWrap> {
public:
	static Napi::Function Define(Napi::Env env) {
		return DefineClass(env, "Tracer", {
			InstanceMethod("start", &TracerWrap::Start),
			InstanceMethod("stop", &TracerWrap::Stop),
			InstanceMethod("counters", &TracerWrap::GetCounters),
			InstanceMethod("aggregates", &TracerWrap::GetAggregates),
			InstanceMethod("processTallies", &TracerWrap::GetProcessTallies),
			InstanceMethod("peerTallies", &TracerWrap::GetPeerTallies),
			InstanceMethod("runIterator", &TracerWrap::RunIterator),
			InstanceMethod("holdersOfEveryNetns", &TracerWrap::HoldersOfEveryNetns),
			InstanceMethod("skippedPrograms", &TracerWrap::SkippedPrograms),
			InstanceMethod("resetReasonNames", &TracerWrap::ResetReasonNames),
		});
	}

	explicit TracerWrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<TracerWrap>(info) {
		Napi::Object opts = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>()
									: Napi::Object::New(info.Env());
		TracerError err;
		if (!tracer_.Open(ParseOptions(opts), &err))
			ThrowTracerError(info.Env(), err);
	}

	~TracerWrap() override {
		if (reader_)
			reader_->Stop();
	}

private:
	// start(onBatch, onEnd, pollMs[, capture, deliver]): batches arrive when the
	// kernel wakes the reader (backlog past wakeupBytes) or every pollMs at the
	// latest; onEnd runs after stop(), once the last batch has been delivered.
	// With a capture the reader thread writes every batch to it, and hands
	// batches to JS only if deliver.
	Napi::Value Start(const Napi::CallbackInfo &info) {
		Napi::Object capture = info.Length() > 3 && info[3].IsObject() ? info[3].As<Napi::Object>() : Napi::Object();
		bool deliver = info.Length() <= 4 || info[4].ToBoolean();
		if (!reader_)
			reader_ = Reader::Start(info.Env(), &tracer_, info[0].As<Napi::Function>(),
						info[1].As<Napi::Function>(), info[2].As<Napi::Number>().Int32Value(),
						capture, deliver);
		return info.Env().Undefined();
	}

	// stop(): detach now. Batches already read are still delivered, then onEnd.
	Napi::Value Stop(const Napi::CallbackInfo &info) {
		if (reader_) {
			reader_->Stop();
			reader_ = nullptr;
		}
		tracer_.Close();
		return info.Env().Undefined();
	}

	Napi::Value GetCounters(const Napi::CallbackInfo &info) {
		TracerCounters c = tracer_.Counters();
		Napi::Object out = Napi::Object::New(info.Env());
		out.Set("lostEvents", static_cast<double>(c.ring_buffer_full + c.nested_missed));
		out.Set("lostRingBufferFull", static_cast<double>(c.ring_buffer_full));
		out.Set("lostNested", static_cast<double>(c.nested_missed));
		out.Set("nestedCaught", static_cast<double>(c.nested_caught));
		out.Set("inferred", static_cast<double>(c.inferred));
		out.Set("untrackedSockets", static_cast<double>(c.untracked_socks));
		return out;
	}

	Napi::Value GetAggregates(const Napi::CallbackInfo &info) {
		std::vector<uint8_t> out = tracer_.Aggregates();
		return Napi::Buffer<uint8_t>::Copy(info.Env(), out.data(), out.size());
	}

	Napi::Value GetProcessTallies(const Napi::CallbackInfo &info) {
		std::vector<uint8_t> out = tracer_.ProcessTallies();
		return Napi::Buffer<uint8_t>::Copy(info.Env(), out.data(), out.size());
	}

	Napi::Value GetPeerTallies(const Napi::CallbackInfo &info) {
		std::vector<uint8_t> out = tracer_.PeerTallies();
		return Napi::Buffer<uint8_t>::Copy(info.Env(), out.data(), out.size());
	}

	// runIterator(name, netnsPath?)
	Napi::Value RunIterator(const Napi::CallbackInfo &info) {
		std::string name = info[0].As<Napi::String>();
		std::string netns = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
		std::vector<uint8_t> out;
		TracerError err;
		if (!tracer_.RunIterator(name.c_str(), netns, &out, &err))
			return ThrowTracerError(info.Env(), err);
		return Napi::Buffer<uint8_t>::Copy(info.Env(), out.data(), out.size());
	}

	Napi::Value HoldersOfEveryNetns(const Napi::CallbackInfo &info) {
		tracer_.HoldersOfEveryNetns(info.Length() > 0 && info[0].ToBoolean());
		return info.Env().Undefined();
	}

	Napi::Value ResetReasonNames(const Napi::CallbackInfo &info) {
		std::vector<std::string> names = tracer_.ResetReasonNames();
		Napi::Array out = Napi::Array::New(info.Env(), names.size());
		for (uint32_t i = 0; i < names.size(); i++)
			out.Set(i, names[i]);
		return out;
	}

	Napi::Value SkippedPrograms(const Napi::CallbackInfo &info) {
		Napi::Array out = Napi::Array::New(info.Env());
		uint32_t i = 0;
		for (const std::string &name : tracer_.SkippedPrograms())
			out.Set(i++, name);
		return out;
	}

	Tracer tracer_;
	Reader *reader_ = nullptr;
};

Napi::Object CaptureLayout(Napi::Env env);

#define FIELD(obj, type, field) obj.Set(#field, static_cast<double>(offsetof(type, field)))

// Where every field sits, from the compiler that built the addon: the
// decoder's own table is checked against this in test/decoder.test.ts.
Napi::Object Layout(Napi::Env env) {
	Napi::Object event = Napi::Object::New(env);
	event.Set("size", static_cast<double>(sizeof(tcptrace_event)));
	FIELD(event, tcptrace_event, ts_ns);
	FIELD(event, tcptrace_event, skaddr);
	FIELD(event, tcptrace_event, sock_id);
	FIELD(event, tcptrace_event, prev_state_ns);
	FIELD(event, tcptrace_event, saddr);
	FIELD(event, tcptrace_event, daddr);
	FIELD(event, tcptrace_event, netns);
	FIELD(event, tcptrace_event, pid);
	FIELD(event, tcptrace_event, sport);
	FIELD(event, tcptrace_event, dport);
	FIELD(event, tcptrace_event, family);
	FIELD(event, tcptrace_event, oldstate);
	FIELD(event, tcptrace_event, newstate);
	FIELD(event, tcptrace_event, owner_src);
	FIELD(event, tcptrace_event, comm);
	FIELD(event, tcptrace_event, flags);
	FIELD(event, tcptrace_event, kind);
	FIELD(event, tcptrace_event, peer_fin);
	FIELD(event, tcptrace_event, reset);
	FIELD(event, tcptrace_event, sk_err);
	FIELD(event, tcptrace_event, reset_reason);
	FIELD(event, tcptrace_event, tx_bytes);
	FIELD(event, tcptrace_event, rx_bytes);
	FIELD(event, tcptrace_event, idle_ns);
	FIELD(event, tcptrace_event, cgroup_id);

	Napi::Object sock = Napi::Object::New(env);
	sock.Set("size", static_cast<double>(sizeof(tcptrace_sock_rec)));
	FIELD(sock, tcptrace_sock_rec, skaddr);
	FIELD(sock, tcptrace_sock_rec, sock_id);
	FIELD(sock, tcptrace_sock_rec, saddr);
	FIELD(sock, tcptrace_sock_rec, daddr);
	FIELD(sock, tcptrace_sock_rec, netns);
	FIELD(sock, tcptrace_sock_rec, uid);
	FIELD(sock, tcptrace_sock_rec, inode);
	FIELD(sock, tcptrace_sock_rec, sport);
	FIELD(sock, tcptrace_sock_rec, dport);
	FIELD(sock, tcptrace_sock_rec, family);
	FIELD(sock, tcptrace_sock_rec, state);
	FIELD(sock, tcptrace_sock_rec, tw_substate);
	FIELD(sock, tcptrace_sock_rec, ack_backlog);
	FIELD(sock, tcptrace_sock_rec, max_ack_backlog);
	FIELD(sock, tcptrace_sock_rec, opener_pid);
	FIELD(sock, tcptrace_sock_rec, state_since_ns);
	FIELD(sock, tcptrace_sock_rec, fin_idle_ns);
	FIELD(sock, tcptrace_sock_rec, opener_comm);
	FIELD(sock, tcptrace_sock_rec, listen_drops);

	Napi::Object file = Napi::Object::New(env);
	file.Set("size", static_cast<double>(sizeof(tcptrace_file_rec)));
	FIELD(file, tcptrace_file_rec, skaddr);
	FIELD(file, tcptrace_file_rec, sock_id);
	FIELD(file, tcptrace_file_rec, pid);
	FIELD(file, tcptrace_file_rec, fd);
	FIELD(file, tcptrace_file_rec, comm);
	FIELD(file, tcptrace_file_rec, cgroup_id);

	Napi::Object listener = Napi::Object::New(env);
	listener.Set("size", static_cast<double>(sizeof(tcptrace_listener_rec)));
	FIELD(listener, tcptrace_listener_rec, skaddr);
	FIELD(listener, tcptrace_listener_rec, saddr);
	FIELD(listener, tcptrace_listener_rec, netns);
	FIELD(listener, tcptrace_listener_rec, ack_backlog);
	FIELD(listener, tcptrace_listener_rec, max_ack_backlog);
	FIELD(listener, tcptrace_listener_rec, listen_drops);
	FIELD(listener, tcptrace_listener_rec, owner_pid);
	FIELD(listener, tcptrace_listener_rec, sport);
	FIELD(listener, tcptrace_listener_rec, family);
	FIELD(listener, tcptrace_listener_rec, owner_comm);

	Napi::Object connection = Napi::Object::New(env);
	connection.Set("size", static_cast<double>(sizeof(tcptrace_connection)));
	FIELD(connection, tcptrace_connection, last);
	FIELD(connection, tcptrace_connection, start_ns);
	FIELD(connection, tcptrace_connection, dwell_ns);
	FIELD(connection, tcptrace_connection, opener_pid);
	FIELD(connection, tcptrace_connection, role);
	FIELD(connection, tcptrace_connection, closed_first);
	FIELD(connection, tcptrace_connection, acked);
	FIELD(connection, tcptrace_connection, born);
	FIELD(connection, tcptrace_connection, opener_comm);
	connection.Set("dwellStates", static_cast<double>(TCPTRACE_DWELL_STATES));

	Napi::Object processTally = Napi::Object::New(env);
	processTally.Set("size", static_cast<double>(sizeof(tcptrace_process_tally)));
	FIELD(processTally, tcptrace_process_tally, pid);
	FIELD(processTally, tcptrace_process_tally, transitions);
	FIELD(processTally, tcptrace_process_tally, cgroup_id);
	FIELD(processTally, tcptrace_process_tally, comm);

	Napi::Object peerTally = Napi::Object::New(env);
	peerTally.Set("size", static_cast<double>(sizeof(tcptrace_peer_tally)));
	peerTally.Set("addr", static_cast<double>(offsetof(tcptrace_peer_tally, peer) + offsetof(tcptrace_peer_key, addr)));
	peerTally.Set("family", static_cast<double>(offsetof(tcptrace_peer_tally, peer) + offsetof(tcptrace_peer_key, family)));
	FIELD(peerTally, tcptrace_peer_tally, transitions);

	Napi::Object owner = Napi::Object::New(env);
	owner.Set("none", static_cast<double>(OWNER_NONE));
	owner.Set("syscall", static_cast<double>(OWNER_SYSCALL));
	owner.Set("cached", static_cast<double>(OWNER_CACHED));
	owner.Set("listener", static_cast<double>(OWNER_LISTENER));
	owner.Set("snapshot", static_cast<double>(OWNER_SNAPSHOT));

	Napi::Object layout = Napi::Object::New(env);
	layout.Set("event", event);
	layout.Set("sockRec", sock);
	layout.Set("fileRec", file);
	layout.Set("listenerRec", listener);
	layout.Set("connection", connection);
	layout.Set("processTally", processTally);
	layout.Set("peerTally", peerTally);
	Napi::Object story = Napi::Object::New(env);
	story.Set("kind", static_cast<double>(KIND_CONNECTION));
	story.Set("client", static_cast<double>(ROLE_CLIENT));
	story.Set("server", static_cast<double>(ROLE_SERVER));
	story.Set("closedLocal", static_cast<double>(CLOSED_FIRST_LOCAL));
	story.Set("closedRemote", static_cast<double>(CLOSED_FIRST_REMOTE));
	story.Set("ackedSyn", static_cast<double>(TCPTRACE_ACKED_SYN));
	story.Set("ackedFin", static_cast<double>(TCPTRACE_ACKED_FIN));
	layout.Set("connectionCodes", story);
	layout.Set("ownerSource", owner);
	Napi::Object flags = Napi::Object::New(env);
	flags.Set("inferred", static_cast<double>(TCPTRACE_EVENT_INFERRED));
	layout.Set("eventFlags", flags);
	Napi::Object kinds = Napi::Object::New(env);
	kinds.Set("transition", static_cast<double>(KIND_TRANSITION));
	kinds.Set("accept", static_cast<double>(KIND_ACCEPT));
	layout.Set("eventKinds", kinds);
	layout.Set("stateCountsSize", static_cast<double>(TCPTRACE_NR_STATES * sizeof(uint32_t)));
	Napi::Object aggregates = Napi::Object::New(env);
	aggregates.Set("size", static_cast<double>(sizeof(tcptrace_aggregates)));
	FIELD(aggregates, tcptrace_aggregates, hist);
	FIELD(aggregates, tcptrace_aggregates, transitions);
	aggregates.Set("histSize", static_cast<double>(sizeof(tcptrace_hist)));
	FIELD(aggregates, tcptrace_aggregates, bounded);
	aggregates.Set("boundedSize", static_cast<double>(sizeof(tcptrace_bounded_hist)));
	aggregates.Set("maxBounds", static_cast<double>(TCPTRACE_MAX_BOUNDS));
	aggregates.Set("buckets", static_cast<double>(TCPTRACE_HIST_BUCKETS));
	aggregates.Set("measures", static_cast<double>(TCPTRACE_NR_MEASURES));
	FIELD(aggregates, tcptrace_aggregates, resets_sent);
	FIELD(aggregates, tcptrace_aggregates, resets_received);
	aggregates.Set("resetReasons", static_cast<double>(TCPTRACE_RESET_REASONS));
	Napi::Object resets = Napi::Object::New(env);
	resets.Set("received", static_cast<double>(RESET_RECEIVED));
	resets.Set("sent", static_cast<double>(RESET_SENT));
	resets.Set("reasonNotKnown", static_cast<double>(TCPTRACE_RESET_REASON_NOT_KNOWN));
	layout.Set("resets", resets);
	layout.Set("aggregates", aggregates);
	layout.Set("defaultRingBytes", static_cast<double>(TCPTRACE_DEFAULT_RING_BYTES));
	layout.Set("capture", CaptureLayout(env));
	return layout;
}

// The capture's constants (capture.h), for test/unit/capture.test.ts to hold
// src/trace/capture.ts to them.
Napi::Object CaptureLayout(Napi::Env env) {
	Napi::Object out = Napi::Object::New(env);
	Napi::Array magic = Napi::Array::New(env, sizeof(capture::kMagic));
	for (size_t i = 0; i < sizeof(capture::kMagic); i++)
		magic.Set(i, static_cast<double>(capture::kMagic[i]));
	out.Set("magic", magic);
	out.Set("major", static_cast<double>(capture::kMajor));
	out.Set("minor", static_cast<double>(capture::kMinor));
	out.Set("fileHeaderSize", static_cast<double>(capture::kFileHeaderBytes));
	out.Set("blockHeaderSize", static_cast<double>(capture::kBlockHeaderBytes));
	out.Set("blockRecords", static_cast<double>(capture::kBlockRecords));
	out.Set("stored", static_cast<double>(capture::kStored));
	out.Set("lz4", static_cast<double>(capture::kLz4));
	Napi::Object types = Napi::Object::New(env);
	for (uint32_t type : {capture::kRecords, capture::kHeader, capture::kSnapshot, capture::kCgroups, capture::kLost, capture::kFooter}) {
		char name[5] = {char(type & 0xff), char((type >> 8) & 0xff), char((type >> 16) & 0xff), char(type >> 24), 0};
		types.Set(name, static_cast<double>(type));
	}
	out.Set("types", types);
	return out;
}

Napi::Value SetErrorClass(const Napi::CallbackInfo &info) {
	info.Env().GetInstanceData<AddonData>()->error_class = Napi::Persistent(info[0].As<Napi::Function>());
	return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
	env.SetInstanceData(new AddonData());
	exports.Set("Tracer", TracerWrap::Define(env));
	exports.Set("Capture", CaptureWrap::Define(env));
	exports.Set("JsonlEncoder", JsonlEncoderWrap::Define(env));
	exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
	exports.Set("layout", Layout(env));
	return exports;
}

}  // namespace

NODE_API_MODULE(tcptrace, Init)
