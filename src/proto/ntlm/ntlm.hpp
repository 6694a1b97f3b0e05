#pragma once
// NTLM (MS-NLMP) for HTTP authentication: NTLMv2 only, connection-oriented,
// Unicode. The client side (negotiate -> challenge -> authenticate) is what the
// EWS client sends to on-premises Exchange; the server side (challenge, parse
// and verify the answer) is what the Exchange simulator uses to check real
// clients. Messages are raw bytes here; header_value()/from_header() convert to
// and from the "NTLM <base64>" of WWW-Authenticate and Authorization.
//
// No signing, sealing or key exchange (HTTP does not use them), no NTLMv1 and
// no LM hash. Every length and offset read from the network is bounds-checked:
// a malformed message is errc::protocol_error, never an over-read.
//
// Strings are UTF-8 in this API and UTF-16LE on the wire. A credential or
// workstation that is not valid UTF-8 is a configuration error: the functions
// that build messages from it throw rt::error(errc::bad_input).
#include <cstdint>
#include <string>
#include <string_view>

#include "rt/result.hpp"

namespace calgate::proto::ntlm {

// NegotiateFlags bits used here (MS-NLMP 2.2.2.5).
namespace flag {
inline constexpr std::uint32_t unicode = 0x00000001;
inline constexpr std::uint32_t oem = 0x00000002;
inline constexpr std::uint32_t request_target = 0x00000004;
inline constexpr std::uint32_t sign = 0x00000010;
inline constexpr std::uint32_t seal = 0x00000020;
inline constexpr std::uint32_t ntlm = 0x00000200;
inline constexpr std::uint32_t anonymous = 0x00000800;
inline constexpr std::uint32_t oem_domain_supplied = 0x00001000;
inline constexpr std::uint32_t oem_workstation_supplied = 0x00002000;
inline constexpr std::uint32_t always_sign = 0x00008000;
inline constexpr std::uint32_t target_type_domain = 0x00010000;
inline constexpr std::uint32_t target_type_server = 0x00020000;
inline constexpr std::uint32_t extended_session_security = 0x00080000;
inline constexpr std::uint32_t target_info = 0x00800000;
inline constexpr std::uint32_t version = 0x02000000;
inline constexpr std::uint32_t n128 = 0x20000000;
inline constexpr std::uint32_t key_exch = 0x40000000;
inline constexpr std::uint32_t n56 = 0x80000000;
}  // namespace flag

struct credentials {
  std::string user, domain, password;
  // "DOMAIN\user" splits at the first backslash. "user@domain" (a UPN) and a bare
  // "user" stay whole with an empty domain: that is what Windows, curl and
  // requests-ntlm send for a UPN, and the domain controller resolves it (the
  // UPN suffix need not be the NetBIOS or DNS name of the account's domain).
  static credentials parse(std::string_view login, std::string password);
};

// Type 1. The workstation goes in only if it is non-empty ASCII (the field is OEM).
std::string negotiate_message(std::string_view workstation = "");

// Type 2, as the client sees it.
struct challenge {
  std::string server_challenge;  // 8 bytes
  std::string target_name;       // UTF-8 (the server's NetBIOS domain, normally)
  std::string target_info;       // raw AV_PAIR list, validated, echoed into the NTLMv2 blob
  std::uint32_t flags = 0;
};
// Requires the Unicode flag (we negotiate it; a server that refuses it is not
// supported) and the 48-byte fixed part. TargetName and TargetInfo are read
// from their fields whatever NTLMSSP_REQUEST_TARGET / NTLMSSP_NEGOTIATE_TARGET_INFO
// say (without the flags the lengths only SHOULD be zero: the MS-NLMP 4.2.4.3
// example sends a TargetName without NTLMSSP_REQUEST_TARGET), and are always
// validated: bounds, UTF-16LE, the AV_PAIR list.
rt::result<challenge> parse_challenge(std::string_view raw);

// Type 3 with the NTLMv2 response and the LMv2 response. When the challenge's
// target info carries MsvAvTimestamp, its value is used instead of `filetime`
// and the LM response is Z(24), as MS-NLMP 3.1.5.1.2 asks (and Windows does).
// client_challenge must be 8 bytes (crypto::random_bytes(8) in production).
// No MIC and no MsvAvFlags are added: the target info is echoed unchanged.
std::string authenticate_message(const credentials& creds, const challenge& ch, std::string_view client_challenge,
                                 std::uint64_t filetime, std::string_view workstation = "");

// Now, in 100 ns units since 1601-01-01 UTC (the Windows FILETIME).
std::uint64_t filetime_now();

// --- Server side (the Exchange simulator) ---

// Type 2 with the Unicode, NTLM, target-info and extended-session-security flags
// (both UNICODE and OEM are set, as Windows does: python ntlm-auth mangles its
// answer's flags otherwise), TargetName = target_name, and target info with
// MsvAvNbDomainName = target_name, MsvAvNbComputerName = computer_name and
// MsvAvTimestamp = filetime. server_challenge must be 8 bytes.
std::string challenge_message(std::string_view server_challenge, std::string_view target_name,
                              std::uint64_t filetime, std::string_view computer_name = "EXCHANGE");

// Type 3, as the server sees it. Strings are UTF-8 (UTF-16LE or, without the
// Unicode flag, ASCII-only OEM on the wire); the responses are raw bytes.
struct authenticate {
  std::string user, domain, workstation, nt_response, lm_response;
  std::uint32_t flags = 0;
};
rt::result<authenticate> parse_authenticate(std::string_view raw);

// True if nt_response is a valid NTLMv2 response for this password and server
// challenge, computed with the user and domain the client sent (MS-NLMP 3.3.2).
// NTLMv1 responses, anonymous logons and malformed blobs are false. The proof
// is compared in constant time. The MIC, if any, is not checked.
bool verify(const authenticate& auth, std::string_view password, std::string_view server_challenge);

// The NTLMSSP message type (1, 2 or 3) of raw, or 0 if raw is not an NTLMSSP message.
std::uint32_t message_type(std::string_view raw) noexcept;

// --- HTTP headers ---

// "NTLM " + base64(raw_message)
std::string header_value(std::string_view raw_message);
// The raw message from a WWW-Authenticate or Authorization value "NTLM <base64>"
// (scheme case-insensitive, surrounding blanks allowed). A bare "NTLM" (the
// server's first offer), another scheme or bad base64 is errc::bad_input.
rt::result<std::string> from_header(std::string_view www_authenticate_or_authorization_value);

// --- Building blocks, exposed for tests ---

// UTF-8 <-> UTF-16LE; invalid input (bad UTF-8, odd length, unpaired surrogate) is errc::bad_input.
rt::result<std::string> utf8_to_utf16le(std::string_view utf8);
rt::result<std::string> utf16le_to_utf8(std::string_view utf16le);
// NTOWFv2 = HMAC_MD5(MD4(UTF-16LE(password)), UTF-16LE(Uppercase(user) + domain)).
// Uppercasing is the simple Unicode mapping of each BMP character, as Windows does.
std::string ntowfv2(std::string_view password, std::string_view user, std::string_view domain);

}  // namespace calgate::proto::ntlm
