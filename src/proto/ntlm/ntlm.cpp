// NTLMv2 per MS-NLMP: message layouts in 2.2.1, AV pairs in 2.2.2.1, the
// NTLMv2 computations in 3.3.2, the client's use of MsvAvTimestamp in 3.1.5.1.2.
#include "proto/ntlm/ntlm.hpp"

#include <locale.h>
#include <wctype.h>

#include <chrono>
#include <optional>

#include "net/tls_crypto.hpp"
#include "rt/base64.hpp"
#include "rt/text.hpp"

namespace calgate::proto::ntlm {
namespace {

constexpr std::string_view signature{"NTLMSSP\0", 8};
constexpr std::size_t challenge_len = 8;

// AV_PAIR ids (MS-NLMP 2.2.2.1).
constexpr std::uint16_t av_eol = 0;
constexpr std::uint16_t av_nb_computer_name = 1;
constexpr std::uint16_t av_nb_domain_name = 2;
constexpr std::uint16_t av_timestamp = 7;

// Fixed parts of the messages.
constexpr std::size_t negotiate_header_len = 32;  // without the optional Version
constexpr std::size_t challenge_header_len = 48;  // up to and including TargetInfoFields
constexpr std::size_t authenticate_header_len = 64;  // without Version and MIC

// The NTLMv2 blob around the echoed target info: 28 bytes before it, Z(4) after.
constexpr std::size_t blob_fixed_len = 28;
constexpr std::size_t proof_len = 16;
// A target info longer than this would make the NT response overflow its 16-bit length.
constexpr std::size_t max_target_info = 0xffff - proof_len - blob_fixed_len - 4;

// Flags our Type 1 offers; the Type 3 keeps those the server also chose.
constexpr std::uint32_t client_flags = flag::unicode | flag::oem | flag::request_target | flag::ntlm |
                                       flag::always_sign | flag::extended_session_security | flag::n128 | flag::n56;

// Windows Server 2019 (10.0.17763, NTLM revision 15), as Exchange 2019 sends it.
constexpr std::string_view server_version{"\x0a\x00\x63\x45\x00\x00\x00\x0f", 8};

[[noreturn]] void bad_input() { rt::throw_error(rt::make_error_code(rt::errc::bad_input)); }

void put16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>(v >> 8);
}
void put32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

// Little-endian reads; the caller has checked that the bytes exist.
std::uint16_t get16(std::string_view s, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(s[at]) | (static_cast<unsigned char>(s[at + 1]) << 8));
}
std::uint32_t get32(std::string_view s, std::size_t at) {
  return static_cast<std::uint32_t>(get16(s, at)) | (static_cast<std::uint32_t>(get16(s, at + 2)) << 16);
}
std::uint64_t get64(std::string_view s, std::size_t at) {
  return static_cast<std::uint64_t>(get32(s, at)) | (static_cast<std::uint64_t>(get32(s, at + 4)) << 32);
}

// A security buffer (Len, MaxLen, Offset) at `at`, which the caller has checked
// lies inside msg. Its payload must lie inside msg and after the fixed header.
std::optional<std::string_view> payload(std::string_view msg, std::size_t at, std::size_t header_len) {
  const std::size_t len = get16(msg, at);
  const std::uint64_t offset = get32(msg, at + 4);
  if (len == 0) return std::string_view{};
  if (offset < header_len || offset + len > msg.size()) return std::nullopt;
  return msg.substr(static_cast<std::size_t>(offset), len);
}

void put_buffer_fields(std::string& out, std::size_t len, std::size_t offset) {
  put16(out, static_cast<std::uint16_t>(len));
  put16(out, static_cast<std::uint16_t>(len));
  put32(out, static_cast<std::uint32_t>(offset));
}

// --- Unicode ---

rt::result<std::u32string> decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  char32_t cp;
  for (std::size_t i = 0, n; i < s.size(); i += n) {
    if ((n = rt::utf8_sequence(s, i, cp)) == 0) return rt::errc::bad_input;
    out += cp;
  }
  return out;
}

std::string encode_utf16le(const std::u32string& cps) {
  std::string out;
  out.reserve(cps.size() * 2);
  for (char32_t cp : cps) {
    if (cp >= 0x10000) {
      cp -= 0x10000;
      put16(out, static_cast<std::uint16_t>(0xd800 + (cp >> 10)));
      put16(out, static_cast<std::uint16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      put16(out, static_cast<std::uint16_t>(cp));
    }
  }
  return out;
}

rt::result<std::string> utf16_to_utf8(std::string_view s) {
  if (s.size() % 2 != 0) return rt::errc::bad_input;
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); i += 2) {
    char32_t cp = get16(s, i);
    if (cp >= 0xdc00 && cp <= 0xdfff) return rt::errc::bad_input;  // a low surrogate first
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (i + 4 > s.size()) return rt::errc::bad_input;
      const char32_t lo = get16(s, i + 2);
      if (lo < 0xdc00 || lo > 0xdfff) return rt::errc::bad_input;
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      i += 2;
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  return out;
}

std::string utf16_or_throw(std::string_view utf8) {
  auto cps = decode_utf8(utf8);
  if (!cps) bad_input();
  return encode_utf16le(*cps);
}

// Windows uppercases user names one UTF-16 unit at a time with the simple
// (one-to-one) Unicode mapping. glibc's C.UTF-8 locale (in libc-bin, so always
// on Debian) has that mapping; without it only ASCII is mapped.
char32_t upcase(char32_t cp) {
  static const locale_t c_utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", locale_t{});
  if (cp < 0x80) return cp >= 'a' && cp <= 'z' ? cp - 0x20 : cp;
  if (cp >= 0x10000 || !c_utf8) return cp;
  const auto up = static_cast<char32_t>(towupper_l(static_cast<wint_t>(cp), c_utf8));
  return up < 0x10000 ? up : cp;
}

// Strings in an AUTHENTICATE_MESSAGE: UTF-16LE, or OEM without the Unicode
// flag, whose code page we cannot know: ASCII only.
rt::result<std::string> wire_string(std::string_view raw, bool unicode) {
  if (unicode) return utf16_to_utf8(raw);
  for (char c : raw)
    if (static_cast<unsigned char>(c) >= 0x80) return rt::errc::bad_input;
  return std::string(raw);
}

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// --- AV pairs ---

struct av_summary {
  bool ok = false;
  std::optional<std::uint64_t> timestamp;
};

// Walks an AV_PAIR list: every pair inside the buffer, terminated by MsvAvEOL,
// MsvAvTimestamp 8 bytes long. Bytes after MsvAvEOL are ignored.
av_summary scan_av_pairs(std::string_view ti) {
  av_summary r;
  std::size_t pos = 0;
  while (ti.size() - pos >= 4) {
    const std::uint16_t id = get16(ti, pos);
    const std::size_t len = get16(ti, pos + 2);
    pos += 4;
    if (ti.size() - pos < len) return r;
    if (id == av_eol) {
      r.ok = len == 0;
      return r;
    }
    if (id == av_timestamp) {
      if (len != 8) return r;
      r.timestamp = get64(ti, pos);
    }
    pos += len;
  }
  return r;  // no MsvAvEOL
}

void put_av(std::string& out, std::uint16_t id, std::string_view value) {
  put16(out, id);
  put16(out, static_cast<std::uint16_t>(value.size()));
  out += value;
}

std::string hmac(std::string_view key, std::string_view a, std::string_view b) {
  std::string data(a);
  data += b;
  return net::crypto::hmac_md5(key, data);
}

}  // namespace

// --- Unicode and keys ---

rt::result<std::string> utf8_to_utf16le(std::string_view utf8) {
  auto cps = decode_utf8(utf8);
  if (!cps) return cps.error();
  return encode_utf16le(*cps);
}

rt::result<std::string> utf16le_to_utf8(std::string_view utf16le) { return utf16_to_utf8(utf16le); }

std::string ntowfv2(std::string_view password, std::string_view user, std::string_view domain) {
  auto pw = decode_utf8(password);
  auto u = decode_utf8(user);
  auto d = decode_utf8(domain);
  if (!pw || !u || !d) bad_input();
  std::u32string name = *u;
  for (char32_t& c : name) c = upcase(c);
  name += *d;
  return net::crypto::hmac_md5(net::crypto::md4(encode_utf16le(*pw)), encode_utf16le(name));
}

credentials credentials::parse(std::string_view login, std::string password) {
  credentials c;
  c.password = std::move(password);
  if (std::size_t bs = login.find('\\'); bs != std::string_view::npos) {
    c.domain = std::string(login.substr(0, bs));
    c.user = std::string(login.substr(bs + 1));
  } else {
    c.user = std::string(login);
  }
  return c;
}

std::uint64_t filetime_now() {
  // 1601-01-01 to 1970-01-01 is 11644473600 s.
  const auto since_unix = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return static_cast<std::uint64_t>(since_unix.count() / 100) + 116444736000000000ULL;
}

std::uint32_t message_type(std::string_view raw) noexcept {
  if (raw.size() < 12 || raw.substr(0, 8) != signature) return 0;
  const std::uint32_t t = get32(raw, 8);
  return t >= 1 && t <= 3 ? t : 0;
}

// --- Client side ---

std::string negotiate_message(std::string_view workstation) {
  const bool with_ws = !workstation.empty() && is_ascii(workstation) && workstation.size() <= 0xffff;
  std::uint32_t flags = client_flags;
  if (with_ws) flags |= flag::oem_workstation_supplied;
  std::string m(signature);
  put32(m, 1);
  put32(m, flags);
  put_buffer_fields(m, 0, negotiate_header_len);  // DomainNameFields
  put_buffer_fields(m, with_ws ? workstation.size() : 0, negotiate_header_len);
  if (with_ws) m += workstation;
  return m;
}

rt::result<challenge> parse_challenge(std::string_view raw) {
  // The fixed part (up to and including TargetInfoFields) is always there
  // (MS-NLMP 2.2.1.2), so both security buffers are always bounds-checked.
  if (raw.size() < challenge_header_len || raw.substr(0, 8) != signature || get32(raw, 8) != 2)
    return rt::errc::protocol_error;
  challenge ch;
  ch.flags = get32(raw, 20);
  if (!(ch.flags & flag::unicode)) return rt::errc::protocol_error;
  ch.server_challenge = std::string(raw.substr(24, challenge_len));
  // TargetName is read whatever NTLMSSP_REQUEST_TARGET says: without the flag
  // its length only SHOULD be zero, and the spec's own example (4.2.4.3) sends
  // "Server" without it. Unicode was negotiated, so it must be valid UTF-16LE.
  auto name = payload(raw, 12, challenge_header_len);
  if (!name) return rt::errc::protocol_error;
  auto utf8 = utf16_to_utf8(*name);
  if (!utf8) return rt::errc::protocol_error;
  ch.target_name = std::move(*utf8);
  // TargetInfo likewise; NTLMv2 echoes whatever the server sent (3.3.2).
  auto ti = payload(raw, 40, challenge_header_len);
  if (!ti || ti->size() > max_target_info) return rt::errc::protocol_error;
  if (!ti->empty() && !scan_av_pairs(*ti).ok) return rt::errc::protocol_error;
  ch.target_info = std::string(*ti);
  return ch;
}

std::string authenticate_message(const credentials& creds, const challenge& ch, std::string_view client_challenge,
                                 std::uint64_t filetime, std::string_view workstation) {
  if (client_challenge.size() != challenge_len || ch.server_challenge.size() != challenge_len) bad_input();
  // An empty target info (servers before Windows 2003 SP1) still needs the MsvAvEOL.
  const std::string target_info = ch.target_info.empty() ? std::string(4, '\0') : ch.target_info;
  const av_summary av = scan_av_pairs(target_info);
  if (!av.ok || target_info.size() > max_target_info) bad_input();
  const std::uint64_t timestamp = av.timestamp.value_or(filetime);

  const std::string key = ntowfv2(creds.password, creds.user, creds.domain);  // LMOWFv2 is the same
  std::string temp{"\x01\x01\0\0\0\0\0\0", 8};  // RespType, HiRespType, Reserved1, Reserved2
  put64(temp, timestamp);
  temp += client_challenge;
  put32(temp, 0);
  temp += target_info;
  put32(temp, 0);
  const std::string nt = hmac(key, ch.server_challenge, temp) + temp;
  const std::string lm = av.timestamp ? std::string(24, '\0') : hmac(key, ch.server_challenge, client_challenge) +
                                                                    std::string(client_challenge);

  const std::string domain = utf16_or_throw(creds.domain);
  const std::string user = utf16_or_throw(creds.user);
  const std::string ws = utf16_or_throw(workstation);
  if (domain.size() > 0xffff || user.size() > 0xffff || ws.size() > 0xffff) bad_input();

  const std::uint32_t flags = ((ch.flags & client_flags) | flag::unicode | (ch.flags & flag::target_info)) & ~flag::oem;
  std::string m(signature);
  put32(m, 3);
  std::size_t at = authenticate_header_len;
  const std::size_t domain_at = at, user_at = (at += domain.size()), ws_at = (at += user.size()),
                    lm_at = (at += ws.size()), nt_at = (at += lm.size()), end = (at += nt.size());
  put_buffer_fields(m, lm.size(), lm_at);
  put_buffer_fields(m, nt.size(), nt_at);
  put_buffer_fields(m, domain.size(), domain_at);
  put_buffer_fields(m, user.size(), user_at);
  put_buffer_fields(m, ws.size(), ws_at);
  put_buffer_fields(m, 0, end);  // EncryptedRandomSessionKey: no key exchange
  put32(m, flags);
  m += domain;
  m += user;
  m += ws;
  m += lm;
  m += nt;
  return m;
}

// --- Server side ---

std::string challenge_message(std::string_view server_challenge, std::string_view target_name, std::uint64_t filetime,
                              std::string_view computer_name) {
  if (server_challenge.size() != challenge_len) bad_input();
  const std::string name = utf16_or_throw(target_name);
  const std::string computer = utf16_or_throw(computer_name);
  if (name.size() > 1024 || computer.size() > 1024) bad_input();  // NetBIOS names have 15 characters
  std::string ti;
  put_av(ti, av_nb_domain_name, name);
  put_av(ti, av_nb_computer_name, computer);
  std::string ts;
  put64(ts, filetime);
  put_av(ti, av_timestamp, ts);
  put_av(ti, av_eol, "");

  constexpr std::uint32_t flags = flag::unicode | flag::oem | flag::request_target | flag::ntlm | flag::always_sign |
                                  flag::target_type_domain | flag::extended_session_security | flag::target_info |
                                  flag::version | flag::n128 | flag::n56;
  constexpr std::size_t header_len = challenge_header_len + server_version.size();
  std::string m(signature);
  put32(m, 2);
  put_buffer_fields(m, name.size(), header_len);
  put32(m, flags);
  m += server_challenge;
  m.append(8, '\0');  // Reserved
  put_buffer_fields(m, ti.size(), header_len + name.size());
  m += server_version;
  m += name;
  m += ti;
  return m;
}

rt::result<authenticate> parse_authenticate(std::string_view raw) {
  if (raw.size() < authenticate_header_len || raw.substr(0, 8) != signature || get32(raw, 8) != 3)
    return rt::errc::protocol_error;
  authenticate a;
  a.flags = get32(raw, 60);
  const auto lm = payload(raw, 12, authenticate_header_len);
  const auto nt = payload(raw, 20, authenticate_header_len);
  const auto domain = payload(raw, 28, authenticate_header_len);
  const auto user = payload(raw, 36, authenticate_header_len);
  const auto ws = payload(raw, 44, authenticate_header_len);
  const auto session_key = payload(raw, 52, authenticate_header_len);
  if (!lm || !nt || !domain || !user || !ws || !session_key) return rt::errc::protocol_error;
  const bool unicode = a.flags & flag::unicode;
  auto d = wire_string(*domain, unicode);
  auto u = wire_string(*user, unicode);
  auto w = wire_string(*ws, unicode);
  if (!d || !u || !w) return rt::errc::protocol_error;
  a.domain = std::move(*d);
  a.user = std::move(*u);
  a.workstation = std::move(*w);
  a.lm_response = std::string(*lm);
  a.nt_response = std::string(*nt);
  return a;
}

bool verify(const authenticate& auth, std::string_view password, std::string_view server_challenge) {
  if (server_challenge.size() != challenge_len || auth.user.empty()) return false;
  // NTLMv2: NTProofStr, then the blob. 24 bytes would be an NTLMv1 response.
  if (auth.nt_response.size() < proof_len + blob_fixed_len) return false;
  // Not UTF-8: only possible for the password or a hand-made struct.
  if (!decode_utf8(password) || !decode_utf8(auth.user) || !decode_utf8(auth.domain)) return false;
  const std::string key = ntowfv2(password, auth.user, auth.domain);
  const std::string_view proof = std::string_view(auth.nt_response).substr(0, proof_len);
  const std::string_view blob = std::string_view(auth.nt_response).substr(proof_len);
  return net::crypto::equal_constant_time(hmac(key, server_challenge, blob), proof);
}

// --- HTTP ---

std::string header_value(std::string_view raw_message) { return "NTLM " + rt::base64_encode(raw_message); }

rt::result<std::string> from_header(std::string_view value) {
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!value.empty() && blank(value.front())) value.remove_prefix(1);
  while (!value.empty() && blank(value.back())) value.remove_suffix(1);
  std::size_t sp = 0;
  while (sp < value.size() && !blank(value[sp])) ++sp;
  if (rt::ascii_lower(value.substr(0, sp)) != "ntlm") return rt::errc::bad_input;
  std::string_view token = value.substr(sp);
  while (!token.empty() && blank(token.front())) token.remove_prefix(1);
  if (token.empty()) return rt::errc::bad_input;
  return rt::base64_decode(token);
}

}  // namespace calgate::proto::ntlm
