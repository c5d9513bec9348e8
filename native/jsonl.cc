#include "jsonl.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstring>

#include <linux/types.h>
#include <sys/socket.h>

#include "tcptrace.h"

namespace {

// The caches are cleared when full, as the decoder's are: a scan of many
// addresses costs only speed.
constexpr size_t kCacheMax = 4096;

uint64_t U64(const uint8_t *at) {
	uint64_t v;
	memcpy(&v, at, sizeof(v));
	return v;
}

uint32_t U32(const uint8_t *at) {
	uint32_t v;
	memcpy(&v, at, sizeof(v));
	return v;
}

uint16_t U16(const uint8_t *at) {
	uint16_t v;
	memcpy(&v, at, sizeof(v));
	return v;
}

void Uint(uint64_t n, std::string *out) {
	char digits[24];
	auto res = std::to_chars(digits, digits + sizeof(digits), n);
	out->append(digits, res.ptr);
}

// JavaScript's Math.round: half-way rounds up.
double JsRound(double x) {
	double r = std::floor(x);
	return x - r >= 0.5 ? r + 1 : r;
}

// n / 1000 as JavaScript prints it, n a whole number of thousandths: below
// 2^52 / 1000 a thousandth is more than half the double's spacing, so the
// shortest round-trip form is n's digits with the point three from the right,
// trailing zeros dropped.
void Thousandths(double n, std::string *out) {
	if (n >= 4.5e15 || n < 0) {
		char text[64];
		double v = n / 1000;
		auto res = v < 1e21 ? std::to_chars(text, text + sizeof(text), v, std::chars_format::fixed)
				    : std::to_chars(text, text + sizeof(text), v);
		out->append(text, res.ptr);
		return;
	}
	uint64_t whole = static_cast<uint64_t>(n) / 1000, frac = static_cast<uint64_t>(n) % 1000;
	Uint(whole, out);
	if (frac == 0)
		return;
	char f[4] = {'.', char('0' + frac / 100), char('0' + frac / 10 % 10), char('0' + frac % 10)};
	size_t len = 4;
	while (f[len - 1] == '0')
		len--;
	out->append(f, len);
}

// As src/kernel/decoder.ts's hex64: a kernel address in full, others without
// leading zeros (the low half always whole).
void Skaddr(uint64_t v, std::string *out) {
	static const char kHex[] = "0123456789abcdef";
	char d[16];
	for (int i = 0; i < 16; i++)
		d[i] = kHex[(v >> (60 - 4 * i)) & 15];
	uint32_t hi = v >> 32;
	int start = 0;
	if (hi == 0)
		start = 8;
	else if (hi < 0x10000000)
		while (d[start] == '0')
			start++;
	out->append(d + start, 16 - start);
}

// As src/kernel/addr.ts's formatIPv6: RFC 5952, IPv4-mapped as ::ffff:a.b.c.d.
std::string FormatIPv6(const uint8_t *a) {
	uint16_t g[8];
	for (int i = 0; i < 8; i++)
		g[i] = uint16_t(a[2 * i] << 8 | a[2 * i + 1]);
	if (!g[0] && !g[1] && !g[2] && !g[3] && !g[4] && g[5] == 0xffff)
		return "::ffff:" + std::to_string(a[12]) + "." + std::to_string(a[13]) + "." + std::to_string(a[14]) +
		       "." + std::to_string(a[15]);
	int best_start = -1, best_len = 0;
	for (int i = 0; i < 8;) {
		if (g[i]) {
			i++;
			continue;
		}
		int j = i;
		while (j < 8 && !g[j])
			j++;
		if (j - i > best_len) {
			best_start = i;
			best_len = j - i;
		}
		i = j;
	}
	auto hex = [](uint16_t v) {
		char t[8];
		auto res = std::to_chars(t, t + sizeof(t), v, 16);
		return std::string(t, res.ptr);
	};
	std::string text;
	if (best_len < 2) {
		for (int i = 0; i < 8; i++)
			text += (i ? ":" : "") + hex(g[i]);
		return text;
	}
	for (int i = 0; i < best_start; i++)
		text += (i ? ":" : "") + hex(g[i]);
	text += "::";
	for (int i = best_start + best_len; i < 8; i++)
		text += (i > best_start + best_len ? ":" : "") + hex(g[i]);
	return text;
}

// The bytes as JavaScript's Buffer.toString('utf8') reads them (an invalid
// sequence's maximal part becomes U+FFFD), then as JSON.stringify writes them.
std::string CommJson(const uint8_t *s, size_t n) {
	std::string out = "\"";
	auto escape = [&out](uint8_t c) {
		static const char kHex[] = "0123456789abcdef";
		switch (c) {
		case '"': out += "\\\""; break;
		case '\\': out += "\\\\"; break;
		case '\b': out += "\\b"; break;
		case '\f': out += "\\f"; break;
		case '\n': out += "\\n"; break;
		case '\r': out += "\\r"; break;
		case '\t': out += "\\t"; break;
		default:
			if (c < 0x20) {
				out += "\\u00";
				out += kHex[c >> 4];
				out += kHex[c & 15];
			} else {
				out += char(c);
			}
		}
	};
	for (size_t i = 0; i < n;) {
		uint8_t b = s[i];
		if (b < 0x80) {
			escape(b);
			i++;
			continue;
		}
		int need;
		uint8_t lo = 0x80, hi = 0xbf;
		if (b >= 0xc2 && b <= 0xdf) need = 1;
		else if (b == 0xe0) need = 2, lo = 0xa0;
		else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) need = 2;
		else if (b == 0xed) need = 2, hi = 0x9f;
		else if (b == 0xf0) need = 3, lo = 0x90;
		else if (b >= 0xf1 && b <= 0xf3) need = 3;
		else if (b == 0xf4) need = 3, hi = 0x8f;
		else need = 0;
		size_t j = i + 1;
		bool ok = need > 0;
		for (int k = 0; ok && k < need; k++, j++) {
			uint8_t l = k == 0 ? lo : 0x80, h = k == 0 ? hi : 0xbf;
			if (j >= n || s[j] < l || s[j] > h)
				ok = false;
			if (!ok)
				break;
		}
		if (ok)
			out.append(reinterpret_cast<const char *>(s + i), j - i);
		else
			out += "\xef\xbf\xbd";
		i = ok || need == 0 ? (ok ? j : i + 1) : j;
	}
	out += '"';
	return out;
}

}  // namespace

JsonlEncoder::JsonlEncoder(double wall_offset_ms, std::vector<std::string> state_names, std::vector<std::string> source_json,
			   std::vector<std::string> reset_reason_json)
	: wall_offset_ms_(wall_offset_ms), state_names_(std::move(state_names)), source_json_(std::move(source_json)),
	  reset_reason_json_(std::move(reset_reason_json)) {
	state_names_.resize(256);
	source_json_.resize(256, "null");
	for (const std::string &reason : reset_reason_json_)
		longest_reason_ = std::max(longest_reason_, reason.size());
}

void JsonlEncoder::NameCgroup(uint64_t id, const std::string &path_json, const std::string &container_json) {
	std::string &names = cgroups_[id] = ",\"cgroup\":" + path_json + ",\"container\":" + container_json;
	longest_cgroup_ = std::max(longest_cgroup_, names.size());
}

const std::string &JsonlEncoder::Address(const uint8_t *at, uint8_t family) {
	if (family == AF_INET) {
		uint32_t key = U32(at);
		auto found = v4_.find(key);
		if (found == v4_.end()) {
			if (v4_.size() >= kCacheMax)
				v4_.clear();
			found = v4_.emplace(key, std::to_string(at[0]) + "." + std::to_string(at[1]) + "." +
							 std::to_string(at[2]) + "." + std::to_string(at[3])).first;
		}
		return found->second;
	}
	Raw16 key{U64(at), U64(at + 8)};
	auto found = v6_.find(key);
	if (found == v6_.end()) {
		if (v6_.size() >= kCacheMax)
			v6_.clear();
		found = v6_.emplace(key, FormatIPv6(at)).first;
	}
	return found->second;
}

const std::string &JsonlEncoder::Comm(const uint8_t *at) {
	Raw16 key{U64(at), U64(at + 8)};
	auto found = comms_.find(key);
	if (found == comms_.end()) {
		if (comms_.size() >= kCacheMax)
			comms_.clear();
		size_t len = strnlen(reinterpret_cast<const char *>(at), TCPTRACE_COMM_LEN);
		found = comms_.emplace(key, CommJson(at, len)).first;
	}
	return found->second;
}

namespace {

// A literal's bytes, without its terminating NUL.
template <size_t N>
void Put(char *&p, const char (&text)[N]) {
	memcpy(p, text, N - 1);
	p += N - 1;
}

void Put(char *&p, const std::string &text) {
	memcpy(p, text.data(), text.size());
	p += text.size();
}

void PutUint(char *&p, uint64_t n) {
	p = std::to_chars(p, p + 24, n).ptr;
}

}  // namespace

void JsonlEncoder::Encode(const uint8_t *records, size_t bytes, std::string *out) {
	const size_t size = sizeof(struct tcptrace_event);
	// Each line's bound: its fixed part, a command name of 16 escaped bytes, the longest cgroup's names.
	const size_t line_max = 512 + 6 * TCPTRACE_COMM_LEN + longest_cgroup_ + longest_reason_;
	size_t base = out->size();
	out->resize(base + bytes / size * line_max);
	char *p = out->data() + base;
	std::string scratch;
#define AT(field) (r + offsetof(struct tcptrace_event, field))
	for (size_t i = 0; i + size <= bytes; i += size) {
		const uint8_t *r = records + i;
		// accept() records are no transition: live --json never prints them.
		if (*AT(kind) != KIND_TRANSITION)
			continue;
		uint8_t source = *AT(owner_src);
		bool known = source_json_[source] != "null";
		uint8_t family = *AT(family);
		uint64_t cgroup_id = known ? U64(AT(cgroup_id)) : 0;
		Put(p, "{\"ts\":");
		scratch.clear();
		Thousandths(JsRound((double(U64(AT(ts_ns))) / 1e6 + wall_offset_ms_) * 1000), &scratch);
		Put(p, scratch);
		Put(p, ",\"sk\":");
		PutUint(p, U64(AT(sock_id)));
		Put(p, ",\"skaddr\":\"");
		scratch.clear();
		Skaddr(U64(AT(skaddr)), &scratch);
		Put(p, scratch);
		if (family == AF_INET)
			Put(p, "\",\"family\":4,\"saddr\":\"");
		else
			Put(p, "\",\"family\":6,\"saddr\":\"");
		Put(p, Address(AT(saddr), family));
		Put(p, "\",\"sport\":");
		PutUint(p, U16(AT(sport)));
		Put(p, ",\"daddr\":\"");
		Put(p, Address(AT(daddr), family));
		Put(p, "\",\"dport\":");
		PutUint(p, U16(AT(dport)));
		Put(p, ",\"oldstate\":\"");
		Put(p, state_names_[*AT(oldstate)]);
		Put(p, "\",\"newstate\":\"");
		Put(p, state_names_[*AT(newstate)]);
		Put(p, "\",\"pid\":");
		if (known) {
			PutUint(p, U32(AT(pid)));
			Put(p, ",\"comm\":");
			Put(p, Comm(AT(comm)));
		} else {
			Put(p, "null,\"comm\":null");
		}
		Put(p, ",\"ownerSource\":");
		Put(p, source_json_[source]);
		Put(p, ",\"prevStateMs\":");
		uint64_t prev = U64(AT(prev_state_ns));
		if (prev) {
			scratch.clear();
			Thousandths(JsRound(double(prev) / 1e3), &scratch);
			Put(p, scratch);
		} else {
			Put(p, "null");
		}
		Put(p, ",\"netns\":");
		PutUint(p, U32(AT(netns)));
		Put(p, ",\"cgroupId\":");
		auto names = cgroup_id ? cgroups_.find(cgroup_id) : cgroups_.end();
		if (cgroup_id)
			PutUint(p, cgroup_id);
		else
			Put(p, "null");
		if (names != cgroups_.end())
			Put(p, names->second);
		else
			Put(p, ",\"cgroup\":null,\"container\":null");
		if (*AT(reset) == RESET_RECEIVED) {
			Put(p, ",\"reset\":\"received\",\"resetReason\":null");
		} else if (*AT(reset) == RESET_SENT) {
			uint16_t reason = U16(AT(reset_reason));
			Put(p, ",\"reset\":\"sent\",\"resetReason\":");
			if (reason == TCPTRACE_RESET_REASON_NOT_KNOWN) {
				Put(p, "null");
			} else if (reason < reset_reason_json_.size()) {
				Put(p, reset_reason_json_[reason]);
			} else {
				Put(p, "\"reason ");
				PutUint(p, reason);
				Put(p, "\"");
			}
		} else {
			Put(p, ",\"reset\":null,\"resetReason\":null");
		}
		if (*AT(flags) & TCPTRACE_EVENT_INFERRED)
			Put(p, ",\"inferred\":true}\n");
		else
			Put(p, ",\"inferred\":false}\n");
	}
#undef AT
	out->resize(p - out->data());
}
