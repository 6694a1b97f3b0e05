// Hashes, MACs and random bytes on OpenSSL 3's EVP interface. Like tls.cpp, one
// of the few files allowed to include OpenSSL.
//
// Digests are fetched once and kept for the life of the process: the implicit
// fetch behind EVP_md5() and friends repeats a provider lookup on every call.
#include "net/tls_crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>

#include "rt/error.hpp"

namespace calgate::net::crypto {
namespace {

// The queued OpenSSL errors as one line (and the queue emptied).
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string("no OpenSSL error queued") : out;
}

[[noreturn]] void fail(const char* what) {
  rt::throw_error(rt::make_error_code(rt::errc::unavailable), std::string(what) + ": " + openssl_errors());
}

struct fetched_md {
  const EVP_MD* md = nullptr;
  std::string error;  // why md is null
};

fetched_md fetch(const char* name) {
  fetched_md f;
  f.md = EVP_MD_fetch(nullptr, name, nullptr);
  if (!f.md) f.error = std::string("OpenSSL has no ") + name + " digest (" + openssl_errors() + ")";
  return f;
}

const fetched_md& md4_md() {
  // A static's initialisation runs once even with concurrent first callers.
  static const fetched_md md4 = [] {
    // Loading a provider explicitly switches off the implicit loading of the
    // default one, unless retain_fallbacks is set: with 1, everything else
    // (SHA-256, the TLS code) keeps working as before.
    if (!OSSL_PROVIDER_try_load(nullptr, "legacy", 1)) {
      fetched_md f;
      f.error = "MD4 unavailable: cannot load the OpenSSL 3 \"legacy\" provider (legacy.so in the "
                "ossl-modules directory; set OPENSSL_MODULES if it lives elsewhere): " +
                openssl_errors();
      return f;
    }
    return fetch("MD4");
  }();
  return md4;
}

const EVP_MD* required(const fetched_md& f) {
  if (!f.md) rt::throw_error(rt::make_error_code(rt::errc::unavailable), f.error);
  return f.md;
}

const EVP_MD* md5_md() {
  static const fetched_md md5 = fetch("MD5");
  return required(md5);
}

const EVP_MD* sha256_md() {
  static const fetched_md sha256 = fetch("SHA256");
  return required(sha256);
}

std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out, &n, md, nullptr) != 1) fail("digest failed");
  return std::string(reinterpret_cast<const char*>(out), n);
}

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  if (key.size() > static_cast<std::size_t>(INT_MAX)) rt::throw_error(rt::make_error_code(rt::errc::bad_input));
  // HMAC() reads a null key as "keep the previous key"; an empty key is a valid,
  // distinct key, so give it a real (zero-length) buffer.
  static const unsigned char empty = 0;
  const unsigned char* k = key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
  const unsigned char* d = data.empty() ? &empty : reinterpret_cast<const unsigned char*>(data.data());
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!HMAC(md, k, static_cast<int>(key.size()), d, data.size(), out, &n)) fail("HMAC failed");
  return std::string(reinterpret_cast<const char*>(out), n);
}

}  // namespace

std::string md4(std::string_view data) { return digest(required(md4_md()), data); }

bool md4_available() noexcept {
  try {
    return md4_md().md != nullptr;
  } catch (...) {  // allocation failure while building the message
    return false;
  }
}

std::string md5(std::string_view data) { return digest(md5_md(), data); }
std::string hmac_md5(std::string_view key, std::string_view data) { return hmac(md5_md(), key, data); }
std::string sha256(std::string_view data) { return digest(sha256_md(), data); }
std::string hmac_sha256(std::string_view key, std::string_view data) { return hmac(sha256_md(), key, data); }

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  std::size_t done = 0;
  while (done < n) {
    int chunk = static_cast<int>(std::min<std::size_t>(n - done, 1 << 20));
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data() + done), chunk) != 1) fail("RAND_bytes failed");
    done += static_cast<std::size_t>(chunk);
  }
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace calgate::net::crypto
