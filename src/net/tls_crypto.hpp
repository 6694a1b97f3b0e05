#pragma once
// Hashes, MACs and random bytes for the protocol code (NTLM, OAuth, ...).
// Only net/tls* files include OpenSSL; this header deliberately includes none,
// so every value is raw bytes in a std::string.
//
// All functions are thread-safe. A failure inside OpenSSL (which does not happen
// with a working installation) throws rt::error with rt::errc::unavailable.
#include <cstddef>
#include <string>
#include <string_view>

namespace calgate::net::crypto {

// MD4 (RFC 1320), 16 bytes. OpenSSL 3 keeps MD4 in its "legacy" provider, which
// is loaded on first use (once, alongside the default provider). Throws
// rt::error(errc::unavailable) with the reason if that provider cannot be loaded.
std::string md4(std::string_view data);
// True if md4() works here; lets a server that needs NTLM fail at startup.
bool md4_available() noexcept;

std::string md5(std::string_view data);                             // 16 bytes
std::string hmac_md5(std::string_view key, std::string_view data);  // 16 bytes
std::string sha256(std::string_view data);                          // 32 bytes
std::string hmac_sha256(std::string_view key, std::string_view data);  // 32 bytes

// n bytes from OpenSSL's CSPRNG.
std::string random_bytes(std::size_t n);

// Compares two secrets without a data-dependent early exit (lengths are not
// secret: different lengths compare unequal at once).
bool equal_constant_time(std::string_view a, std::string_view b) noexcept;

}  // namespace calgate::net::crypto
