// `export --jsonl`: struct tcptrace_event records straight to the JSON lines
// `live --json` prints (src/format/event-json.ts's eventJsonLine), with no
// JavaScript object or string per event. The state and owner-source names
// and the cgroups' JSON come from JavaScript; test/unit/export-jsonl.test.ts
// holds every line equal to eventJsonLine's.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

// 16 raw bytes (an IPv6 address, a command name) as a map key.
struct Raw16 {
	uint64_t lo, hi;
	bool operator==(const Raw16 &o) const { return lo == o.lo && hi == o.hi; }
};
struct Raw16Hash {
	size_t operator()(const Raw16 &k) const { return std::hash<uint64_t>()(k.lo * 0x9e3779b97f4a7c15ull ^ k.hi); }
};

class JsonlEncoder {
public:
	// state_names[i]: the name of state i (0..255); source_json[i]: owner source i as JSON ("null" if none);
	// reset_reason_json[i]: RST reason i's name as JSON (a code past it is written "reason N").
	JsonlEncoder(double wall_offset_ms, std::vector<std::string> state_names, std::vector<std::string> source_json,
		     std::vector<std::string> reset_reason_json);
	// A cgroup id's path and container, each already JSON (a string or null).
	void NameCgroup(uint64_t id, const std::string &path_json, const std::string &container_json);
	// Appends one line per whole transition record (accept records have none).
	void Encode(const uint8_t *records, size_t bytes, std::string *out);

private:
	const std::string &Address(const uint8_t *at, uint8_t family);
	const std::string &Comm(const uint8_t *at);

	double wall_offset_ms_;
	std::vector<std::string> state_names_;
	std::vector<std::string> source_json_;
	std::vector<std::string> reset_reason_json_;
	size_t longest_reason_ = 0;
	std::unordered_map<uint64_t, std::string> cgroups_;  // `,"cgroup":P,"container":C`
	size_t longest_cgroup_ = 0;
	std::unordered_map<uint32_t, std::string> v4_;
	std::unordered_map<Raw16, std::string, Raw16Hash> v6_;
	std::unordered_map<Raw16, std::string, Raw16Hash> comms_;  // as JSON
};
