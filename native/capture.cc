#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstring>

#include <linux/types.h>

#include "tcptrace.h"

namespace {

void PutU16(uint8_t *at, uint16_t v) {
	at[0] = v & 0xff;
	at[1] = v >> 8;
}

void PutU32(uint8_t *at, uint32_t v) {
	for (int i = 0; i < 4; i++)
		at[i] = (v >> (8 * i)) & 0xff;
}

}  // namespace

int CaptureFile::Open(const std::string &path, size_t record_size) {
	fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd_ < 0)
		return errno;
	record_size_ = record_size;
	uint8_t header[capture::kFileHeaderBytes] = {};
	memcpy(header, capture::kMagic, sizeof(capture::kMagic));
	PutU16(header + 8, capture::kMajor);
	PutU16(header + 10, capture::kMinor);
	PutU16(header + 12, static_cast<uint16_t>(record_size));
	std::lock_guard<std::mutex> lock(mu_);
	WriteAllLocked(header, sizeof(header));
	return error_;
}

void CaptureFile::AppendEvents(const uint8_t *data, size_t bytes) {
	std::lock_guard<std::mutex> lock(mu_);
	if (fd_ < 0 || error_ || record_size_ == 0)
		return;
	size_t count = bytes / record_size_;
	NoteCgroupsLocked(data, count);
	const size_t block_bytes = capture::kBlockRecords * record_size_;
	for (size_t done = 0; done < count * record_size_;) {
		if (pending_.empty())
			pending_since_ = std::chrono::steady_clock::now();
		size_t take = std::min(block_bytes - pending_.size(), count * record_size_ - done);
		pending_.insert(pending_.end(), data + done, data + done + take);
		done += take;
		if (pending_.size() >= block_bytes)
			FlushLocked();
	}
	events_ += count;
}

void CaptureFile::NoteCgroupsLocked(const uint8_t *records, size_t count) {
	for (size_t i = 0; i < count; i++) {
		const uint8_t *r = records + i * record_size_;
		uint64_t id;
		memcpy(&id, r + offsetof(struct tcptrace_event, cgroup_id), sizeof(id));
		// Most records carry the last one's id: skip the set for them.
		if (id == 0 || id == last_cgroup_ || r[offsetof(struct tcptrace_event, owner_src)] == OWNER_NONE)
			continue;
		last_cgroup_ = id;
		if (cgroups_seen_.insert(id).second) {
			uint32_t pid;
			memcpy(&pid, r + offsetof(struct tcptrace_event, pid), sizeof(pid));
			new_cgroups_.emplace_back(id, pid);
		}
	}
}

void CaptureFile::WriteTable(uint32_t type, const std::string &text, uint32_t lines) {
	std::lock_guard<std::mutex> lock(mu_);
	FlushLocked();
	WriteBlockLocked(type, reinterpret_cast<const uint8_t *>(text.data()), text.size(), lines);
}

void CaptureFile::Flush() {
	std::lock_guard<std::mutex> lock(mu_);
	FlushLocked();
}

void CaptureFile::FlushIfDue() {
	std::lock_guard<std::mutex> lock(mu_);
	if (!pending_.empty() && std::chrono::steady_clock::now() - pending_since_ >= capture::kFlushAfter)
		FlushLocked();
}

void CaptureFile::FlushLocked() {
	if (pending_.empty())
		return;
	WriteBlockLocked(capture::kRecords, pending_.data(), pending_.size(), pending_.size() / record_size_);
	pending_.clear();
}

// One write per block, header and payload together, so that a crash leaves
// whole blocks and at most one partial one at the end.
void CaptureFile::WriteBlockLocked(uint32_t type, const uint8_t *raw, size_t raw_bytes, uint32_t count) {
	if (fd_ < 0 || error_)
		return;
	size_t bound = LZ4_compressBound(static_cast<int>(raw_bytes));
	compressed_.resize(capture::kBlockHeaderBytes + bound);
	char *payload = compressed_.data() + capture::kBlockHeaderBytes;
	int packed = raw_bytes ? LZ4_compress_default(reinterpret_cast<const char *>(raw), payload,
						      static_cast<int>(raw_bytes), static_cast<int>(bound))
			       : 0;
	uint8_t codec = capture::kLz4;
	size_t stored = static_cast<size_t>(packed);
	// Incompressible (or tiny): kept as it is.
	if (packed <= 0 || stored >= raw_bytes) {
		codec = capture::kStored;
		stored = raw_bytes;
		if (raw_bytes)
			memcpy(payload, raw, raw_bytes);
	}
	auto *header = reinterpret_cast<uint8_t *>(compressed_.data());
	PutU32(header, type);
	header[4] = codec;
	header[5] = header[6] = header[7] = 0;
	PutU32(header + 8, static_cast<uint32_t>(stored));
	PutU32(header + 12, static_cast<uint32_t>(raw_bytes));
	PutU32(header + 16, count);
	PutU32(header + 20, crc32(0, reinterpret_cast<const Bytef *>(payload), static_cast<uInt>(stored)));
	WriteAllLocked(header, capture::kBlockHeaderBytes + stored);
}

void CaptureFile::WriteAllLocked(const uint8_t *data, size_t bytes) {
	size_t done = 0;
	while (done < bytes) {
		ssize_t n = write(fd_, data + done, bytes - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			error_ = n < 0 ? errno : EIO;
			// A block cut half-way: leave the file at its last whole one.
			struct stat st;
			if (done > 0 && fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && ftruncate(fd_, committed_) != 0) {
				/* left as it is: the reader stops at a partial last block too */
			}
			return;
		}
		done += n;
	}
	committed_ += bytes;
}

std::vector<std::pair<uint64_t, uint32_t>> CaptureFile::TakeNewCgroups() {
	std::lock_guard<std::mutex> lock(mu_);
	std::vector<std::pair<uint64_t, uint32_t>> out;
	out.swap(new_cgroups_);
	return out;
}

uint64_t CaptureFile::Events() {
	std::lock_guard<std::mutex> lock(mu_);
	return events_;
}

uint64_t CaptureFile::Bytes() {
	std::lock_guard<std::mutex> lock(mu_);
	return committed_;
}

int CaptureFile::Error() {
	std::lock_guard<std::mutex> lock(mu_);
	return error_;
}

void CaptureFile::Close() {
	std::lock_guard<std::mutex> lock(mu_);
	if (fd_ < 0)
		return;
	FlushLocked();
	if (close(fd_) != 0 && !error_)
		error_ = errno;
	fd_ = -1;
}
