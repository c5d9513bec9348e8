// The binary capture (docs/trace-format.md, "Binary capture"): the kernel's
// event records as they come, in LZ4-compressed blocks, and the JSON tables
// they refer to. Written from the reader thread (events) and the JS thread
// (tables); no JavaScript in here: addon.cc wraps it for Node.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace capture {

// "\x89TCPCAP\x1a": not text, not JSON, not gzip, so a reader can sniff it.
constexpr uint8_t kMagic[8] = {0x89, 'T', 'C', 'P', 'C', 'A', 'P', 0x1a};
constexpr uint16_t kMajor = 1;
constexpr uint16_t kMinor = 0;
// magic, u16 major, u16 minor, u16 record size, u16 zero.
constexpr size_t kFileHeaderBytes = 16;
// u32 type, u8 codec, u8[3] zero, u32 stored bytes, u32 raw bytes, u32 count, u32 CRC-32 of the stored bytes.
constexpr size_t kBlockHeaderBytes = 24;

// Block types: four ASCII letters, as they appear in the file.
constexpr uint32_t FourCc(const char (&s)[5]) {
	return uint32_t(uint8_t(s[0])) | uint32_t(uint8_t(s[1])) << 8 | uint32_t(uint8_t(s[2])) << 16 |
	       uint32_t(uint8_t(s[3])) << 24;
}
constexpr uint32_t kRecords = FourCc("RECS");  // struct tcptrace_event records
constexpr uint32_t kHeader = FourCc("HEAD");   // JSON Lines: the header line
constexpr uint32_t kSnapshot = FourCc("SNAP"); // JSON Lines: a snapshot's mark, sockets and files
constexpr uint32_t kCgroups = FourCc("CGRP");  // JSON Lines: cgroup lines
constexpr uint32_t kLost = FourCc("LOST");     // JSON Lines: lost lines
constexpr uint32_t kFooter = FourCc("FOOT");   // JSON Lines: the footer line

constexpr uint8_t kStored = 0;
constexpr uint8_t kLz4 = 1;

// Records per block: about 1.1 MB raw, small enough that a crash loses
// little, large enough that LZ4 finds each socket's repeats.
constexpr size_t kBlockRecords = 8192;
// A block is written once it is this old even if not full: what a crash loses at most.
constexpr auto kFlushAfter = std::chrono::milliseconds(1000);

}  // namespace capture

class CaptureFile {
public:
	// Creates (or empties) the file and writes its header; on failure returns errno.
	int Open(const std::string &path, size_t record_size);
	~CaptureFile() { Close(); }

	// Whole records, from the reader thread (or JS, when JS filters them).
	void AppendEvents(const uint8_t *data, size_t bytes);
	// A table block of JSON lines; the events appended before it are written first.
	void WriteTable(uint32_t type, const std::string &text, uint32_t lines);
	// Writes the pending records now, or only if the oldest waited kFlushAfter.
	void Flush();
	void FlushIfDue();
	// Cgroup ids that owners carried for the first time since the last call, with a pid each.
	std::vector<std::pair<uint64_t, uint32_t>> TakeNewCgroups();

	uint64_t Events();
	uint64_t Bytes();
	// The first write error's errno, 0 if none: the file then holds its whole blocks only.
	int Error();
	void Close();

private:
	void FlushLocked();
	void WriteBlockLocked(uint32_t type, const uint8_t *raw, size_t raw_bytes, uint32_t count);
	void WriteAllLocked(const uint8_t *data, size_t bytes);
	void NoteCgroupsLocked(const uint8_t *records, size_t count);

	std::mutex mu_;
	int fd_ = -1;
	size_t record_size_ = 0;
	std::vector<uint8_t> pending_;
	std::chrono::steady_clock::time_point pending_since_;
	std::vector<char> compressed_;
	uint64_t events_ = 0;
	uint64_t committed_ = 0;  // bytes of whole blocks in the file
	int error_ = 0;
	uint64_t last_cgroup_ = 0;
	std::unordered_set<uint64_t> cgroups_seen_;
	std::vector<std::pair<uint64_t, uint32_t>> new_cgroups_;
};
