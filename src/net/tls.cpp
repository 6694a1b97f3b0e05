// TLS over memory BIOs: the only file in calgate that includes OpenSSL.
//
// How bytes move. Ciphertext arrives in the inner stream's buffer and is told
// to us through the observer hook; we copy it into the read BIO only when
// OpenSSL asks for more (SSL_ERROR_WANT_READ), so the inner buffer is where
// unprocessed ciphertext waits and the inner stream's own high-water mark
// stops the socket when we stop pulling (our plaintext buffer above its mark).
// Everything OpenSSL writes (handshake, records, tickets, alerts, close_notify)
// is drained from the write BIO after every SSL_* call into out_pending and
// handed to the inner stream one write at a time. A plaintext write completes
// when the inner write carrying its last byte of ciphertext has completed.
//
// Re-entrancy. All work happens in kick(): step() runs the SSL calls with
// `busy` set (callbacks that arrive meanwhile, such as an inner write that
// completes inline, only set `again`), then notify() delivers plaintext and
// wakes waiters, re-checking after each wake that the stream still exists,
// because a woken coroutine may destroy it. Plaintext is decrypted inline
// when a read() waits, and otherwise from loop callbacks, never inside the
// caller's consume() (see resume_reading()).
//
// EOF. We never signal EOF into the read BIO, so OpenSSL never sees one (no
// SSL_OP_IGNORE_UNEXPECTED_EOF needed): when the inner stream ends and OpenSSL
// has nothing left to decrypt, SSL_RECEIVED_SHUTDOWN tells a clean close
// (rt::errc::eof) from a truncation (tls_errc::truncated).
#include "net/tls.hpp"

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <optional>
#include <utility>

#include "rt/loop.hpp"
#include "rt/stop.hpp"
#include "rt/text.hpp"

namespace calgate::net {

// ------------------------------------------------------------------ errors
//
// Values of tls_category():
//   1 .. 0xff                  a tls_errc value as such
//   verify_base + X509_V_ERR   certificate verification failed for that reason
//   >= packed_min              an OpenSSL error (ERR_PACK(lib, 0, reason)) after the handshake
//   <= -packed_min             the same, during the handshake
namespace {

constexpr int verify_base = 0x10000;
constexpr int packed_min = 1 << 23;  // ERR_PACK with lib >= 1

bool is_plain(int c) noexcept { return c > 0 && c < 0x100; }
bool is_verify(int c) noexcept { return c >= verify_base && c < 2 * verify_base; }
bool is_packed_after(int c) noexcept { return c >= packed_min; }
bool is_packed_during(int c) noexcept { return c < 0 && c > INT_MIN && -c >= packed_min; }

bool is_version_reason(unsigned long packed) noexcept {
  if (ERR_GET_LIB(packed) != ERR_LIB_SSL) return false;
  switch (ERR_GET_REASON(packed)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_WRONG_SSL_VERSION:
    case SSL_R_UNSUPPORTED_SSL_VERSION:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
      return true;
    default:
      return false;
  }
}

std::string reason_text(unsigned long packed) {
  if (const char* r = ERR_reason_error_string(packed)) return r;
  char buf[48];
  std::snprintf(buf, sizeof buf, "OpenSSL error 0x%lx", packed);
  return buf;
}

class tls_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }

  std::string message(int c) const override {
    if (is_verify(c)) return std::string("certificate verify failed: ") + X509_verify_cert_error_string(c - verify_base);
    if (is_packed_during(c)) return "TLS handshake failed: " + reason_text(static_cast<unsigned long>(-c));
    if (is_packed_after(c)) return "TLS protocol error: " + reason_text(static_cast<unsigned long>(c));
    switch (static_cast<tls_errc>(c)) {
      case tls_errc::handshake_failed: return "TLS handshake failed";
      case tls_errc::verify_failed: return "certificate verify failed";
      case tls_errc::protocol_version: return "TLS handshake failed: no protocol version in common";
      case tls_errc::handshake_closed: return "TLS handshake failed: the peer closed the connection";
      case tls_errc::truncated: return "TLS connection truncated: the peer closed without close_notify";
      case tls_errc::protocol_error: return "TLS protocol error";
      case tls_errc::bad_config: return "TLS configuration error";
    }
    return "unknown TLS error";
  }

  std::error_condition default_error_condition(int c) const noexcept override {
    if (is_verify(c)) return {static_cast<int>(tls_errc::verify_failed), *this};
    if (is_packed_during(c)) {
      bool version = is_version_reason(static_cast<unsigned long>(-c));
      return {static_cast<int>(version ? tls_errc::protocol_version : tls_errc::handshake_failed), *this};
    }
    if (is_packed_after(c)) return {static_cast<int>(tls_errc::protocol_error), *this};
    return {c, *this};
  }

  using std::error_category::equivalent;
  // handshake_failed also matches every more specific handshake failure.
  bool equivalent(int code, const std::error_condition& cond) const noexcept override {
    if (default_error_condition(code) == cond) return true;
    if (cond.category() != *this || cond.value() != static_cast<int>(tls_errc::handshake_failed)) return false;
    if (is_verify(code) || is_packed_during(code)) return true;
    if (!is_plain(code)) return false;
    switch (static_cast<tls_errc>(code)) {
      case tls_errc::verify_failed:
      case tls_errc::protocol_version:
      case tls_errc::handshake_closed:
        return true;
      default:
        return false;
    }
  }
};

}  // namespace

const std::error_category& tls_category() noexcept {
  static const tls_category_impl instance;
  return instance;
}

std::error_code make_error_code(tls_errc e) noexcept { return {static_cast<int>(e), tls_category()}; }
std::error_condition make_error_condition(tls_errc e) noexcept { return {static_cast<int>(e), tls_category()}; }

namespace {

// The error of a failed SSL_* call; consumes OpenSSL's error queue.
std::error_code ssl_failure(SSL* ssl, bool handshake) {
  unsigned long e = ERR_peek_error();
  ERR_clear_error();
  if (handshake && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    long v = SSL_get_verify_result(ssl);
    if (v > 0 && v < verify_base) return {verify_base + static_cast<int>(v), tls_category()};
    return make_error_code(tls_errc::verify_failed);
  }
  if (e == 0 || ERR_SYSTEM_ERROR(e))
    return make_error_code(handshake ? tls_errc::handshake_failed : tls_errc::protocol_error);
  int packed = static_cast<int>(ERR_PACK(ERR_GET_LIB(e), 0, ERR_GET_REASON(e)));
  if (packed < packed_min) return make_error_code(handshake ? tls_errc::handshake_failed : tls_errc::protocol_error);
  return {handshake ? -packed : packed, tls_category()};
}

// OpenSSL's most recent error reason, for configuration messages.
std::string last_openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  if (ERR_SYSTEM_ERROR(e)) return std::strerror(static_cast<int>(ERR_GET_REASON(e)));
  return reason_text(ERR_PACK(ERR_GET_LIB(e), 0, ERR_GET_REASON(e)));
}

// ------------------------------------------------------------ configuration

struct ctx_deleter {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, ctx_deleter>;

int parse_version(const std::string& v) noexcept {
  if (v == "1.2") return TLS1_2_VERSION;
  if (v == "1.3") return TLS1_3_VERSION;
  return 0;
}

std::error_code config_error(std::string* detail, std::string why) {
  if (detail) *detail = std::move(why);
  ERR_clear_error();
  return make_error_code(tls_errc::bad_config);
}

// Checks that a file can be opened, to say so plainly instead of with
// OpenSSL's "system library" reason.
bool readable(const std::string& path, std::string& why) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    why = "cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::fclose(f);
  return true;
}

bool alpn_wire(const std::vector<std::string>& names, std::string& out, std::string& why) {
  out.clear();
  for (const auto& n : names) {
    if (n.empty() || n.size() > 255) {
      why = "ALPN protocol names must be 1 to 255 bytes long";
      return false;
    }
    out.push_back(static_cast<char>(n.size()));
    out += n;
  }
  if (out.size() > 0xffff) {
    why = "ALPN list too long";
    return false;
  }
  return true;
}

// A configuration file must never make the process wait for a pass phrase on
// the terminal: encrypted keys fail to load instead.
int no_passphrase(char*, int, int, void*) { return 0; }

ctx_ptr new_ctx(bool server, int min_version, std::string& why) {
  ctx_ptr c(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!c) {
    why = "cannot create an SSL_CTX: " + last_openssl_reason();
    return nullptr;
  }
  if (SSL_CTX_set_min_proto_version(c.get(), min_version) != 1) {
    why = "cannot set the minimum TLS version: " + last_openssl_reason();
    return nullptr;
  }
  std::uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
  if (server) opts |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  SSL_CTX_set_options(c.get(), opts);
  // Idle connections give their record buffers back.
  SSL_CTX_set_mode(c.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_default_passwd_cb(c.get(), &no_passphrase);
  return c;
}

bool load_cert_and_key(SSL_CTX* c, const std::string& cert, const std::string& key, const std::string& chain,
                       std::string& why) {
  if (cert.empty()) {
    why = "no certificate file configured";
    return false;
  }
  if (key.empty()) {
    why = "no private key file configured for certificate '" + cert + "'";
    return false;
  }
  if (!readable(cert, why)) {
    why = "certificate: " + why;
    return false;
  }
  if (SSL_CTX_use_certificate_chain_file(c, cert.c_str()) != 1) {
    why = "no usable PEM certificate in '" + cert + "': " + last_openssl_reason();
    return false;
  }
  if (!chain.empty()) {
    if (!readable(chain, why)) {
      why = "certificate chain: " + why;
      return false;
    }
    BIO* in = BIO_new_file(chain.c_str(), "r");
    if (!in) {
      why = "cannot open chain file '" + chain + "': " + last_openssl_reason();
      return false;
    }
    int added = 0;
    while (X509* x = PEM_read_bio_X509(in, nullptr, nullptr, nullptr)) {
      if (SSL_CTX_add0_chain_cert(c, x) != 1) {
        X509_free(x);
        BIO_free(in);
        why = "cannot add a chain certificate from '" + chain + "': " + last_openssl_reason();
        return false;
      }
      ++added;
    }
    BIO_free(in);
    ERR_clear_error();  // the loop ends with "no start line"
    if (added == 0) {
      why = "no PEM certificate in chain file '" + chain + "'";
      return false;
    }
  }
  if (!readable(key, why)) {
    why = "private key: " + why;
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(c, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
        (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH || ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH)) {
      ERR_clear_error();
      why = "private key '" + key + "' does not match certificate '" + cert + "'";
    } else {
      why = "no usable PEM private key in '" + key + "' (encrypted keys are not supported): " +
            last_openssl_reason();
    }
    return false;
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    ERR_clear_error();
    why = "private key '" + key + "' does not match certificate '" + cert + "'";
    return false;
  }
  return true;
}

bool is_ip_literal(const std::string& h) {
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

}  // namespace

struct tls_context::impl {
  bool server = false;
  bool verify_peer = true;
  SSL_CTX* ctx = nullptr;
  std::string alpn;  // wire format: server preference, or the client's offer
  struct sni_ctx {
    std::string name;  // lower case; "*.example.com" matches one label
    SSL_CTX* ctx;
  };
  std::vector<sni_ctx> sni;

  // Client session cache, oldest first. Each entry holds one reference.
  struct cached {
    std::string key;
    SSL_SESSION* session;
  };
  std::deque<cached> sessions;
  std::size_t max_sessions = 0;
  static constexpr std::size_t max_per_key = 4;

  impl() = default;
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;
  ~impl() {
    clear_sessions();
    for (auto& s : sni) SSL_CTX_free(s.ctx);
    SSL_CTX_free(ctx);
  }

  void clear_sessions() noexcept {
    for (auto& c : sessions) SSL_SESSION_free(c.session);
    sessions.clear();
  }

  // Takes over the caller's reference on success.
  bool put_session(const std::string& key, SSL_SESSION* s) {
    if (max_sessions == 0) return false;
    std::size_t same = 0;
    for (const auto& c : sessions) same += c.key == key;
    if (same >= max_per_key) {
      auto it = std::find_if(sessions.begin(), sessions.end(), [&](const cached& c) { return c.key == key; });
      SSL_SESSION_free(it->session);
      sessions.erase(it);
    }
    sessions.push_back({key, s});
    while (sessions.size() > max_sessions) {
      SSL_SESSION_free(sessions.front().session);
      sessions.pop_front();
    }
    return true;
  }

  // The newest usable session for key, with a reference for the caller. A TLS
  // 1.3 ticket leaves the cache (each is used once); a TLS 1.2 session stays.
  SSL_SESSION* take_session(const std::string& key) {
    const long now = static_cast<long>(std::time(nullptr));
    for (std::size_t i = sessions.size(); i-- > 0;) {
      if (sessions[i].key != key) continue;
      SSL_SESSION* s = sessions[i].session;
      const long expires = static_cast<long>(SSL_SESSION_get_time(s)) + static_cast<long>(SSL_SESSION_get_timeout(s));
      if (!SSL_SESSION_is_resumable(s) || expires <= now) {
        SSL_SESSION_free(s);
        sessions.erase(sessions.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      if (SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION) {
        sessions.erase(sessions.begin() + static_cast<std::ptrdiff_t>(i));
        return s;
      }
      SSL_SESSION_up_ref(s);
      return s;
    }
    return nullptr;
  }
};

namespace {

// Server: pick the certificate for the client's SNI (the default otherwise).
int on_servername(SSL* ssl, int*, void* arg) noexcept {
  auto* im = static_cast<tls_context::impl*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name || im->sni.empty()) return SSL_TLSEXT_ERR_OK;
  try {
    std::string n = rt::ascii_lower(name);
    for (const auto& e : im->sni) {
      bool match = e.name == n;
      if (!match && e.name.size() > 2 && e.name[0] == '*' && e.name[1] == '.') {
        std::string_view suffix = std::string_view(e.name).substr(1);  // ".example.com"
        std::size_t dot = n.find('.');
        match = dot != std::string::npos && dot > 0 && std::string_view(n).substr(dot) == suffix;
      }
      if (match) {
        SSL_set_SSL_CTX(ssl, e.ctx);
        break;
      }
    }
  } catch (...) {
    // Out of memory: serve the default certificate.
  }
  return SSL_TLSEXT_ERR_OK;
}

// Server: choose the first of our protocols that the client offers. With no
// overlap, continue without ALPN (as common servers do) rather than abort.
int on_alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                   void* arg) noexcept {
  auto* im = static_cast<tls_context::impl*>(arg);
  if (im->alpn.empty() || inlen == 0) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* sel = nullptr;
  unsigned char sel_len = 0;
  int r = SSL_select_next_proto(&sel, &sel_len, reinterpret_cast<const unsigned char*>(im->alpn.data()),
                                static_cast<unsigned int>(im->alpn.size()), in, inlen);
  if (r != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  *outlen = sel_len;
  return SSL_TLSEXT_ERR_OK;
}

int on_new_session(SSL* ssl, SSL_SESSION* session) noexcept;

bool configure_server_ctx(SSL_CTX* c, tls_context::impl* im, const std::string& cert, const std::string& key,
                          const std::string& chain, std::string& why) {
  if (!load_cert_and_key(c, cert, key, chain, why)) return false;
  static const unsigned char sid_ctx[] = "calgate";
  SSL_CTX_set_session_id_context(c, sid_ctx, sizeof sid_ctx - 1);
  // SSL_set_SSL_CTX switches the connection to an SNI context, and OpenSSL then
  // reads the ALPN callback from that context: every context gets it.
  SSL_CTX_set_alpn_select_cb(c, &on_alpn_select, im);
  return true;
}

}  // namespace

tls_context::tls_context(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
tls_context::~tls_context() = default;

bool tls_context::is_server() const noexcept { return impl_->server; }
std::size_t tls_context::cached_sessions() const noexcept { return impl_->sessions.size(); }
void tls_context::clear_session_cache() noexcept { impl_->clear_sessions(); }

rt::result<std::shared_ptr<tls_context>> tls_context::make_server(const tls_server_config& cfg, std::string* detail) {
  int version = parse_version(cfg.min_version);
  if (!version) return config_error(detail, "min_version must be \"1.2\" or \"1.3\", not \"" + cfg.min_version + "\"");
  auto im = std::make_unique<impl>();
  im->server = true;
  std::string why;
  if (!alpn_wire(cfg.alpn, im->alpn, why)) return config_error(detail, why);

  ctx_ptr c = new_ctx(true, version, why);
  if (!c) return config_error(detail, why);
  if (!configure_server_ctx(c.get(), im.get(), cfg.cert_file, cfg.key_file, cfg.chain_file, why))
    return config_error(detail, why);

  for (const auto& e : cfg.sni) {
    if (e.server_name.empty()) return config_error(detail, "an SNI entry has no server_name");
    ctx_ptr sc = new_ctx(true, version, why);
    if (!sc) return config_error(detail, why);
    if (!configure_server_ctx(sc.get(), im.get(), e.cert_file, e.key_file, e.chain_file, why))
      return config_error(detail, "SNI entry '" + e.server_name + "': " + why);
    std::string name = rt::ascii_lower(e.server_name);
    if (!name.empty() && name.back() == '.') name.pop_back();
    im->sni.push_back({std::move(name), sc.release()});
  }
  if (!im->sni.empty()) {
    SSL_CTX_set_tlsext_servername_callback(c.get(), &on_servername);
    SSL_CTX_set_tlsext_servername_arg(c.get(), im.get());
  }
  im->ctx = c.release();
  ERR_clear_error();
  return std::shared_ptr<tls_context>(new tls_context(std::move(im)));
}

rt::result<std::shared_ptr<tls_context>> tls_context::make_client(const tls_client_config& cfg, std::string* detail) {
  int version = parse_version(cfg.min_version);
  if (!version) return config_error(detail, "min_version must be \"1.2\" or \"1.3\", not \"" + cfg.min_version + "\"");
  auto im = std::make_unique<impl>();
  im->server = false;
  im->verify_peer = cfg.verify_peer;
  im->max_sessions = cfg.session_cache_size;
  std::string why;
  if (!alpn_wire(cfg.alpn, im->alpn, why)) return config_error(detail, why);

  ctx_ptr c = new_ctx(false, version, why);
  if (!c) return config_error(detail, why);
  if (cfg.verify_peer) {
    SSL_CTX_set_verify(c.get(), SSL_VERIFY_PEER, nullptr);
    if (!cfg.ca_file.empty()) {
      if (!readable(cfg.ca_file, why)) return config_error(detail, "CA file: " + why);
      if (SSL_CTX_load_verify_file(c.get(), cfg.ca_file.c_str()) != 1)
        return config_error(detail, "no usable PEM certificate in CA file '" + cfg.ca_file + "': " + last_openssl_reason());
    } else if (SSL_CTX_set_default_verify_paths(c.get()) != 1) {
      return config_error(detail, "cannot load the system trust store: " + last_openssl_reason());
    }
  } else {
    SSL_CTX_set_verify(c.get(), SSL_VERIFY_NONE, nullptr);
  }
  // Reverse convention: 0 is success.
  if (!im->alpn.empty() &&
      SSL_CTX_set_alpn_protos(c.get(), reinterpret_cast<const unsigned char*>(im->alpn.data()),
                              static_cast<unsigned int>(im->alpn.size())) != 0)
    return config_error(detail, "cannot set the ALPN list: " + last_openssl_reason());
  if (!cfg.cert_file.empty() || !cfg.key_file.empty()) {
    if (!load_cert_and_key(c.get(), cfg.cert_file, cfg.key_file, {}, why))
      return config_error(detail, "client certificate: " + why);
  }
  // Sessions live only in our cache (keyed by host, port, SNI and ALPN), never
  // in OpenSSL's, which would resume them for any host.
  SSL_CTX_set_session_cache_mode(c.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(c.get(), &on_new_session);
  im->ctx = c.release();
  ERR_clear_error();
  return std::shared_ptr<tls_context>(new tls_context(std::move(im)));
}

// ------------------------------------------------------------------ stream

namespace {

// Plaintext decrypted during step() waits here until notify() delivers it.
// One buffer per thread serves every stream; a stream layered inside another
// TLS stream's step (TLS in TLS) finds it taken and uses its own.
constexpr std::size_t stage_size = 64 * 1024;
constexpr std::size_t own_stage_size = 16 * 1024;
thread_local char tl_stage[stage_size];
thread_local bool tl_stage_taken = false;

// Ciphertext handed to the read BIO at a time (about one record), which keeps
// the BIO's buffer small.
constexpr std::size_t feed_chunk = 16 * 1024;
// Plaintext bytes per SSL_write (one record) and ciphertext produced before we
// wait for the inner stream to take it.
constexpr std::size_t record_plain = 16 * 1024;
constexpr std::size_t out_high = 64 * 1024;
// Memory BIO buffers larger than this are replaced when the connection idles.
constexpr std::size_t idle_bio_keep = 4 * 1024;

struct hs_awaiter;
struct drain_awaiter;

}  // namespace

struct tls_stream::state final : stream::observer {
  tls_stream* self = nullptr;
  std::shared_ptr<tls_context> ctx;
  tls_context::impl* im = nullptr;
  std::unique_ptr<stream> inner;
  SSL* ssl = nullptr;
  bool server = false;
  std::string cache_key;  // client: host:port|sni|alpn
  std::string sni;        // client: the name sent

  std::shared_ptr<char> life = std::make_shared<char>(0);  // expires with the stream
  bool busy = false;
  bool again = false;

  bool closed = false;        // by close() or a fatal error: no more I/O
  bool fatal = false;         // OpenSSL failed: SSL_shutdown must not be called
  bool inner_closed = false;  // we closed the inner stream
  std::error_code error;      // why closed

  bool hs_done = false;
  bool hs_failed = false;
  std::error_code hs_error;
  hs_awaiter* hs_waiter = nullptr;

  char* stage = nullptr;
  std::size_t staged = 0;
  std::size_t stage_cap = 0;
  std::unique_ptr<char[]> own_stage;
  bool want_input = false;   // a reader asked for bytes (even above high water)
  bool pump_deferred = false;  // a kick is queued on the loop
  bool read_done = false;    // no more plaintext will come
  std::error_code read_end;  // eof, truncated or the error

  write_req* cur = nullptr;  // plaintext write being encrypted (the stream's head)
  std::size_t cur_off = 0;
  std::size_t cur_total = 0;
  bool cur_sealed = false;      // all of it encrypted
  std::uint64_t cur_mark = 0;   // out_made when it was sealed
  std::error_code write_error;  // the inner stream failed a write
  bool want_close_notify = false;
  bool sent_close_notify = false;
  drain_awaiter* drain_waiter = nullptr;

  struct out_write : write_req {
    state* owner = nullptr;
  } out_req;
  std::string out_pending;   // ciphertext not yet handed to the inner stream
  std::string out_inflight;  // ciphertext the inner stream is writing
  bool out_busy = false;
  std::uint64_t out_made = 0;  // ciphertext bytes produced so far
  std::uint64_t out_sent = 0;  // and written by the inner stream

  state() = default;
  state(const state&) = delete;
  state& operator=(const state&) = delete;
  ~state() = default;

  void on_input() override { self->kick(); }
  void kick() { self->kick(); }

  static void on_out_done(write_req* w, std::error_code ec) {
    state* s = static_cast<out_write*>(w)->owner;
    s->out_busy = false;
    s->out_sent += s->out_inflight.size();
    s->out_inflight.clear();
    if (ec && !s->write_error) s->write_error = ec;
    s->kick();
  }

  // ---- helpers used by step()

  void fail(std::error_code ec) noexcept {
    fatal = true;
    if (!hs_done && !hs_failed) {
      hs_failed = true;
      hs_error = ec;
    }
    if (!error) error = ec;
    if (!read_done) {
      read_done = true;
      read_end = ec;
    }
    closed = true;
  }

  void close_inner() noexcept {
    if (inner_closed || !inner) return;
    inner_closed = true;
    inner->set_observer(nullptr);
    inner->close();
  }

  void drain_wbio() {
    BIO* w = SSL_get_wbio(ssl);
    std::size_t n = BIO_ctrl_pending(w);
    if (n == 0) return;
    std::size_t old = out_pending.size();
    out_pending.resize(old + n);
    int r = BIO_read(w, out_pending.data() + old, static_cast<int>(std::min<std::size_t>(n, INT_MAX)));
    std::size_t got = r > 0 ? static_cast<std::size_t>(r) : 0;
    out_pending.resize(old + got);
    out_made += got;
  }

  // Moves ciphertext from the inner stream into the read BIO; false if none.
  bool feed() {
    std::string_view d = inner->data();
    if (d.empty()) return false;
    std::size_t n = std::min(d.size(), feed_chunk);
    int w = BIO_write(SSL_get_rbio(ssl), d.data(), static_cast<int>(n));
    if (w <= 0) {
      fail(make_error_code(std::errc::not_enough_memory));
      return false;
    }
    inner->consume(static_cast<std::size_t>(w));
    return true;
  }

  void submit_output() {
    if (out_busy || out_pending.empty() || inner_closed) return;
    out_inflight.swap(out_pending);
    out_pending.clear();
    out_req.bufs[0] = out_inflight;
    out_req.nbufs = 1;
    out_busy = true;
    inner->submit_write(out_req);  // may complete inline (then `again` is set)
  }

  void handshake() {
    for (;;) {
      ERR_clear_error();
      int r = SSL_do_handshake(ssl);
      drain_wbio();
      if (r == 1) {
        hs_done = true;
        ERR_clear_error();
        return;
      }
      int e = SSL_get_error(ssl, r);
      if (e == SSL_ERROR_WANT_READ) {
        if (feed()) continue;
        if (fatal) return;
        if (inner->read_ended()) {
          std::error_code ie = inner->read_end();
          fail(ie == rt::errc::eof ? make_error_code(tls_errc::handshake_closed) : ie);
        } else {
          inner->request_input();
        }
        return;
      }
      fail(ssl_failure(ssl, true));
      return;
    }
  }

  void acquire_stage() {
    if (stage) return;
    if (!tl_stage_taken) {
      tl_stage_taken = true;
      stage = tl_stage;
      stage_cap = stage_size;
    } else {
      if (!own_stage) own_stage = std::make_unique<char[]>(own_stage_size);
      stage = own_stage.get();
      stage_cap = own_stage_size;
    }
    staged = 0;
  }

  void release_stage() noexcept {
    if (stage == tl_stage) tl_stage_taken = false;
    stage = nullptr;
    staged = 0;
  }

  void end_of_input() {
    read_done = true;
    std::error_code ie = inner->read_end();
    if (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) read_end = make_error_code(rt::errc::eof);
    else if (ie == rt::errc::eof) read_end = make_error_code(tls_errc::truncated);
    else read_end = ie;
  }

  void read_some() {
    if (read_done) return;
    if (self->above_high_water() && !want_input) return;  // backpressure: leave ciphertext in the inner stream
    acquire_stage();
    while (staged < stage_cap) {
      ERR_clear_error();
      int n = SSL_read(ssl, stage + staged, static_cast<int>(stage_cap - staged));
      drain_wbio();  // TLS 1.3 writes during reads (KeyUpdate replies, alerts)
      if (n > 0) {
        staged += static_cast<std::size_t>(n);
        continue;
      }
      int e = SSL_get_error(ssl, n);
      if (e == SSL_ERROR_WANT_READ) {
        if (feed()) continue;
        if (fatal) return;
        if (inner->read_ended()) end_of_input();
        else inner->request_input();
        return;
      }
      if (e == SSL_ERROR_ZERO_RETURN) {  // close_notify
        read_done = true;
        read_end = make_error_code(rt::errc::eof);
        ERR_clear_error();
        return;
      }
      fail(ssl_failure(ssl, false));
      return;
    }
  }

  void write_some() {
    while (cur && !cur_sealed && !write_error && !sent_close_notify && out_pending.size() < out_high) {
      // The next piece of the request, at most one record.
      std::string_view piece;
      std::size_t skip = cur_off;
      for (std::size_t i = 0; i < cur->nbufs; ++i) {
        if (skip >= cur->bufs[i].size()) {
          skip -= cur->bufs[i].size();
          continue;
        }
        piece = cur->bufs[i].substr(skip, record_plain);
        break;
      }
      if (piece.empty()) {
        cur_sealed = true;
        cur_mark = out_made;
        break;
      }
      ERR_clear_error();
      int n = SSL_write(ssl, piece.data(), static_cast<int>(piece.size()));
      drain_wbio();
      if (n <= 0) {
        fail(ssl_failure(ssl, false));
        return;
      }
      cur_off += static_cast<std::size_t>(n);
      if (cur_off >= cur_total) {
        cur_sealed = true;
        cur_mark = out_made;
      }
    }
  }

  void send_close_notify() {
    if (!want_close_notify || sent_close_notify || cur || fatal) return;
    sent_close_notify = true;
    ERR_clear_error();
    SSL_shutdown(ssl);  // 0: sent, the peer's is not awaited; 1: both done
    drain_wbio();
    ERR_clear_error();
  }

  bool drained() const noexcept {
    return !self->writing() && !out_busy && out_pending.empty() && (!want_close_notify || sent_close_notify);
  }

  std::error_code write_failure() const noexcept {
    if (closed) return error;
    if (write_error) return write_error;
    if (sent_close_notify && !cur_sealed) return make_error_code(rt::errc::closed);
    return {};
  }

  std::error_code pending_end() const noexcept {
    if (read_done) return read_end;
    if (closed) return error;
    return {};
  }

  // An idle connection keeps no large buffers: OpenSSL's record buffers go
  // with SSL_MODE_RELEASE_BUFFERS, and ours and the memory BIOs' go here.
  void trim_if_idle() {
    if (!hs_done || cur || out_busy || !out_pending.empty()) return;
    if (BIO_ctrl_pending(SSL_get_rbio(ssl)) != 0 || BIO_ctrl_pending(SSL_get_wbio(ssl)) != 0) return;
    BUF_MEM* bm = nullptr;
    BIO_get_mem_ptr(SSL_get_rbio(ssl), &bm);
    if (bm && bm->max > idle_bio_keep) {
      if (BIO* b = BIO_new(BIO_s_mem())) SSL_set0_rbio(ssl, b);
    }
    bm = nullptr;
    BIO_get_mem_ptr(SSL_get_wbio(ssl), &bm);
    if (bm && bm->max > idle_bio_keep) {
      if (BIO* b = BIO_new(BIO_s_mem())) SSL_set0_wbio(ssl, b);
    }
    if (out_pending.capacity() > idle_bio_keep) std::string().swap(out_pending);
    if (out_inflight.capacity() > idle_bio_keep) std::string().swap(out_inflight);
    if (!stage) own_stage.reset();
  }
};

namespace {

// Resumed by notify() when the handshake ends, or through the loop on a stop.
struct hs_awaiter {
  explicit hs_awaiter(tls_stream::state* s) noexcept : st(s) {}
  tls_stream::state* st;
  std::coroutine_handle<> h{};
  bool in_suspend = false;
  bool completed = false;
  struct on_stop {
    hs_awaiter* self;
    void operator()(rt::stop_reason r) const {
      tls_stream::state* st = self->st;
      if (st->hs_waiter != self) return;
      st->hs_waiter = nullptr;
      if (!st->hs_done && !st->hs_failed) {
        st->hs_failed = true;
        st->hs_error = rt::to_error(r);
        st->closed = true;
        st->error = st->hs_error;
        st->close_inner();  // a silent peer: drop the connection
      }
      rt::loop::current().schedule(self->h);
    }
  };
  std::optional<rt::stop_callback<on_stop>> cb;

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> hh) {
    const rt::stop_token& t = rt::detail::token_of(hh);
    if (t.stop_requested()) {
      st->hs_failed = true;
      st->hs_error = rt::to_error(t.reason());
      return false;
    }
    h = hh;
    st->hs_waiter = this;
    in_suspend = true;
    st->kick();  // the client sends its hello; either side may finish inline
    in_suspend = false;
    if (completed) return false;
    cb.emplace(t, on_stop{this});
    return true;
  }
  std::error_code await_resume() const noexcept {
    if (st->hs_failed) return st->hs_error ? st->hs_error : make_error_code(tls_errc::handshake_failed);
    return {};
  }
  void complete() {
    completed = true;
    if (in_suspend) return;
    cb.reset();
    h.resume();
  }
};

// Waits until every queued write (and the close_notify, if asked for) has
// been handed to the inner stream.
struct drain_awaiter {
  explicit drain_awaiter(tls_stream::state* s) noexcept : st(s) {}
  tls_stream::state* st;
  std::coroutine_handle<> h{};
  std::error_code stopped;
  struct on_stop {
    drain_awaiter* self;
    void operator()(rt::stop_reason r) const {
      tls_stream::state* st = self->st;
      if (st->drain_waiter != self) return;
      st->drain_waiter = nullptr;
      self->stopped = rt::to_error(r);
      st->self->close();  // bytes may be half written: the stream is done
      rt::loop::current().schedule(self->h);
    }
  };
  std::optional<rt::stop_callback<on_stop>> cb;

  bool await_ready() const noexcept { return st->closed || st->write_error || st->drained(); }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> hh) {
    const rt::stop_token& t = rt::detail::token_of(hh);
    if (t.stop_requested()) {
      stopped = rt::to_error(t.reason());
      return false;
    }
    h = hh;
    st->drain_waiter = this;
    cb.emplace(t, on_stop{this});
    return true;
  }
  std::error_code await_resume() const noexcept {
    if (stopped) return stopped;
    if (st->write_error) return st->write_error;
    if (st->closed) return st->error ? st->error : make_error_code(rt::errc::closed);
    return {};
  }
  void complete() {
    cb.reset();
    h.resume();
  }
};

// Client: TLS 1.3 tickets arrive after the handshake, TLS 1.2 sessions at its
// end. Only resumable ones are kept, under the connection's cache key.
int on_new_session(SSL* ssl, SSL_SESSION* session) noexcept {
  auto* st = static_cast<tls_stream::state*>(SSL_get_app_data(ssl));
  if (!st || !st->im || st->cache_key.empty() || !SSL_SESSION_is_resumable(session)) return 0;
  try {
    return st->im->put_session(st->cache_key, session) ? 1 : 0;  // 1: we keep the reference
  } catch (...) {
    return 0;
  }
}

}  // namespace

tls_stream::tls_stream(std::shared_ptr<tls_context> ctx, std::unique_ptr<stream> inner, bool server)
    : s_(std::make_unique<state>()) {
  state& s = *s_;
  s.self = this;
  s.im = ctx->impl_.get();
  s.ctx = std::move(ctx);
  s.inner = std::move(inner);
  s.server = server;
  s.out_req.owner = &s;
  s.out_req.done = &state::on_out_done;
  s.inner->set_observer(&s);
}

tls_stream::~tls_stream() {
  state& s = *s_;
  s.life.reset();
  s.release_stage();
  if (s.ssl && s.hs_done && !s.fatal && !(SSL_get_shutdown(s.ssl) & SSL_SENT_SHUTDOWN)) {
    // Without a shutdown OpenSSL marks the session not resumable on SSL_free.
    // The close_notify this writes stays in the BIO: close() promised none.
    ERR_clear_error();
    SSL_shutdown(s.ssl);
    ERR_clear_error();
  }
  if (s.inner) {
    s.inner->set_observer(nullptr);
    s.inner.reset();  // closes the transport; its late callbacks no longer reach us
  }
  SSL_free(s.ssl);
}

namespace {

struct ssl_setup {
  // Creates the SSL with its two memory BIOs.
  static std::error_code common(tls_stream::state& s) {
    s.ssl = SSL_new(s.im->ctx);
    if (!s.ssl) return make_error_code(std::errc::not_enough_memory);
    BIO* r = BIO_new(BIO_s_mem());
    BIO* w = BIO_new(BIO_s_mem());
    if (!r || !w) {
      BIO_free(r);
      BIO_free(w);
      return make_error_code(std::errc::not_enough_memory);
    }
    SSL_set_bio(s.ssl, r, w);  // the SSL owns both
    SSL_set_app_data(s.ssl, &s);
    if (s.server) SSL_set_accept_state(s.ssl);
    else SSL_set_connect_state(s.ssl);
    return {};
  }

  static std::error_code client(tls_stream::state& s, std::string host, std::uint16_t port) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (!host.empty() && host.back() == '.') host.pop_back();
    host = rt::ascii_lower(host);
    const bool ip = is_ip_literal(host);
    if (host.empty() && s.im->verify_peer) return make_error_code(rt::errc::bad_input);
    if (!ip && !host.empty()) {
      // SNI only for names: RFC 6066 forbids IP literals in it.
      if (SSL_set_tlsext_host_name(s.ssl, host.c_str()) != 1) {
        ERR_clear_error();
        return make_error_code(rt::errc::bad_input);
      }
      s.sni = host;
    }
    if (s.im->verify_peer) {
      int ok = 0;
      if (ip) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s.ssl), host.c_str());
      } else {
        SSL_set_hostflags(s.ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set1_host(s.ssl, host.c_str());
      }
      if (ok != 1) {
        ERR_clear_error();
        return make_error_code(rt::errc::bad_input);
      }
    }
    if (s.im->max_sessions > 0) {
      // A session resumed for another name would skip the certificate checks.
      s.cache_key = host + ':' + std::to_string(port) + '|' + s.sni + '|' + s.im->alpn;
      if (SSL_SESSION* sess = s.im->take_session(s.cache_key)) {
        SSL_set_session(s.ssl, sess);
        SSL_SESSION_free(sess);
      }
    }
    return {};
  }
};

}  // namespace

rt::task<rt::result<std::unique_ptr<tls_stream>>> tls_stream::connect(std::shared_ptr<tls_context> ctx,
                                                                       std::unique_ptr<stream> inner, std::string host,
                                                                       std::uint16_t port) {
  if (!inner || !inner->is_open()) co_return make_error_code(rt::errc::closed);
  if (!ctx || ctx->is_server()) {
    inner->close();
    co_return make_error_code(tls_errc::bad_config);
  }
  std::unique_ptr<tls_stream> s(new tls_stream(std::move(ctx), std::move(inner), false));
  std::error_code ec = ssl_setup::common(*s->s_);
  if (!ec) ec = ssl_setup::client(*s->s_, std::move(host), port);
  if (!ec) ec = co_await hs_awaiter{s->s_.get()};
  if (ec) {
    s->close();
    co_return ec;
  }
  co_return std::move(s);
}

rt::task<rt::result<std::unique_ptr<tls_stream>>> tls_stream::accept(std::shared_ptr<tls_context> ctx,
                                                                      std::unique_ptr<stream> inner) {
  if (!inner || !inner->is_open()) co_return make_error_code(rt::errc::closed);
  if (!ctx || !ctx->is_server()) {
    inner->close();
    co_return make_error_code(tls_errc::bad_config);
  }
  std::unique_ptr<tls_stream> s(new tls_stream(std::move(ctx), std::move(inner), true));
  std::error_code ec = ssl_setup::common(*s->s_);
  if (!ec) ec = co_await hs_awaiter{s->s_.get()};
  if (ec) {
    s->close();
    co_return ec;
  }
  co_return std::move(s);
}

// ------------------------------------------------------------------ pump

void tls_stream::kick() {
  state& s = *s_;
  if (s.busy) {
    s.again = true;
    return;
  }
  s.busy = true;
  try {
    do {
      s.again = false;
      step();
    } while (s.again);
  } catch (...) {
    // Out of memory inside the pump; no exception may reach a C callback.
    s.fail(make_error_code(std::errc::not_enough_memory));
    s.close_inner();
  }
  s.busy = false;
  notify();
}

void tls_stream::step() {
  state& s = *s_;
  if (s.closed || !s.ssl) return;
  if (!s.hs_done) {
    if (s.hs_failed) return;
    s.handshake();
    s.submit_output();  // the hello, or the alert that explains a failure
    if (s.fatal) s.close_inner();
    if (!s.hs_done) return;
  }
  s.read_some();
  if (!s.fatal) s.write_some();
  if (!s.fatal) s.send_close_notify();
  s.submit_output();
  if (s.fatal) s.close_inner();
}

bool tls_stream::notify() {
  state& s = *s_;
  std::weak_ptr<char> alive = s.life;
  // Plaintext first: nothing may read ahead of it.
  if (s.stage) {
    char* p = s.stage;
    std::size_t n = s.staged;
    s.release_stage();  // deliver() copies before it wakes anyone
    if (n > 0 && !read_ended()) {
      s.want_input = false;
      try {
        deliver(p, n);
      } catch (...) {
        s.fail(make_error_code(std::errc::not_enough_memory));
        s.close_inner();
      }
      if (alive.expired()) return false;
    }
  }
  if (s.hs_waiter && (s.hs_done || s.hs_failed)) {
    hs_awaiter* w = std::exchange(s.hs_waiter, nullptr);
    w->complete();
    if (alive.expired()) return false;
  }
  if (s.cur) {
    std::error_code err = s.write_failure();
    if (err && !s.out_busy) {
      s.cur = nullptr;
      write_done(err);
      if (alive.expired()) return false;
    } else if (!err && s.cur_sealed && s.out_sent >= s.cur_mark) {
      s.cur = nullptr;
      write_done({});
      if (alive.expired()) return false;
    }
  }
  if (std::error_code end = s.hs_done || s.closed ? s.pending_end() : std::error_code{}; end && !read_ended()) {
    deliver_end(end);
    if (alive.expired()) return false;
  }
  if (s.drain_waiter && (s.closed || s.write_error || s.drained())) {
    drain_awaiter* d = std::exchange(s.drain_waiter, nullptr);
    d->complete();
    if (alive.expired()) return false;
  }
  if (!s.busy && !s.closed) {
    try {
      s.trim_if_idle();
    } catch (...) {
    }
  }
  return true;
}

// ------------------------------------------------------------------ stream hooks

void tls_stream::resume_reading() {
  state& s = *s_;
  s.want_input = true;
  if (reader_waiting() || !s.hs_done || s.closed || s.read_done) {
    kick();  // a read() being suspended may complete inline
    return;
  }
  // Called from consume() (or request_input()): decrypting now would add bytes
  // to data() inside the caller's consume(), so a following read(), which waits
  // for bytes beyond those, could wait for ever. Like a TCP stream, let them
  // arrive from the loop instead.
  if (s.inner->data().empty() && !SSL_has_pending(s.ssl)) {
    s.inner->request_input();
    return;
  }
  if (s.pump_deferred) return;
  s.pump_deferred = true;
  rt::loop::current().defer([this, alive = std::weak_ptr<char>(s.life)] {
    if (alive.expired()) return;
    s_->pump_deferred = false;
    kick();
  });
}

// Nothing to stop: read_some() checks the high-water mark before pulling.
void tls_stream::pause_reading() { s_->want_input = false; }

void tls_stream::start_write(write_req& w) {
  state& s = *s_;
  s.cur = &w;
  s.cur_off = 0;
  s.cur_total = w.total();
  s.cur_sealed = false;
  s.cur_mark = 0;
  kick();
}

rt::task<std::error_code> tls_stream::shutdown() {
  state& s = *s_;
  if (s.closed) co_return s.error ? s.error : make_error_code(rt::errc::closed);
  if (std::error_code ec = co_await drain_awaiter{&s}) co_return ec;
  s.want_close_notify = true;
  kick();
  if (std::error_code ec = co_await drain_awaiter{&s}) co_return ec;
  co_return co_await s.inner->shutdown();
}

void tls_stream::close() noexcept {
  state& s = *s_;
  if (s.closed) return;
  s.closed = true;
  if (!s.error) s.error = make_error_code(rt::errc::closed);
  s.close_inner();
  // Completes what can complete now: the reader, a write whose ciphertext is
  // not in flight (one in flight completes when the inner stream cancels it).
  kick();
}

bool tls_stream::is_open() const noexcept { return !s_->closed; }

std::string tls_stream::peer() const { return s_->inner ? s_->inner->peer() : std::string(); }

stream& tls_stream::inner() noexcept { return *s_->inner; }

std::string tls_stream::alpn() const {
  if (!s_->ssl) return {};
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(s_->ssl, &p, &n);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

bool tls_stream::session_reused() const { return s_->ssl && SSL_session_reused(s_->ssl) == 1; }

std::string tls_stream::server_name() const {
  if (!s_->server) return s_->sni;
  const char* n = s_->ssl ? SSL_get_servername(s_->ssl, TLSEXT_NAMETYPE_host_name) : nullptr;
  return n ? std::string(n) : std::string();
}

std::string tls_stream::version() const { return s_->ssl ? SSL_get_version(s_->ssl) : ""; }

std::string tls_stream::cipher() const {
  const SSL_CIPHER* c = s_->ssl ? SSL_get_current_cipher(s_->ssl) : nullptr;
  return c ? SSL_CIPHER_get_name(c) : "";
}

stream_upgrade tls_acceptor(std::shared_ptr<tls_context> ctx) {
  return [ctx = std::move(ctx)](std::unique_ptr<stream> s) -> rt::task<rt::result<std::unique_ptr<stream>>> {
    auto r = co_await tls_stream::accept(ctx, std::move(s));
    if (!r) co_return r.error();
    co_return std::unique_ptr<stream>(std::move(*r));
  };
}

rt::task<rt::result<std::unique_ptr<stream>>> tls_connect(std::shared_ptr<tls_context> ctx,
                                                          std::unique_ptr<stream> inner, std::string host,
                                                          std::uint16_t port) {
  auto r = co_await tls_stream::connect(std::move(ctx), std::move(inner), std::move(host), port);
  if (!r) co_return r.error();
  co_return std::unique_ptr<stream>(std::move(*r));
}

}  // namespace calgate::net
