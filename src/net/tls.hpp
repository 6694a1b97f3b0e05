#pragma once
// TLS for calgate: OpenSSL 3 driven through two memory BIOs, layered on any
// connected net::stream (normally a tcp_stream). This header deliberately
// includes no OpenSSL header; everything OpenSSL-typed lives in tls.cpp.
//
// A tls_context wraps one configured SSL_CTX (server or client) and is shared
// by every connection made with it. A tls_stream is a net::stream whose bytes
// are the plaintext; its ciphertext goes through the inner stream's layering
// hooks (observer, request_input, submit_write).
//
// Errors: every failure is a std::error_code in tls_category(). The code
// carries the specific reason, so ec.message() reads like
//   "certificate verify failed: hostname mismatch" or
//   "TLS handshake failed: unsupported protocol",
// and tls_errc values are error *conditions* (like std::errc) for tests:
//   ec == net::tls_errc::verify_failed, ec == net::tls_errc::handshake_failed.
// handshake_failed matches every failure that happened during the handshake
// (verification, protocol version, the peer closing, OpenSSL errors). A stop
// (rt::errc::timed_out / canceled) and a transport error during the handshake
// (for example ECONNRESET) are reported as such.
//
// Reading ends with rt::errc::eof after the peer's close_notify, and with
// tls_errc::truncated when the transport ends without one (OpenSSL never sees
// the transport's EOF; SSL_OP_IGNORE_UNEXPECTED_EOF is not used).
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "net/stream.hpp"
#include "rt/result.hpp"
#include "rt/task.hpp"

namespace calgate::net {

enum class tls_errc {
  handshake_failed = 1,  // the handshake failed (any reason)
  verify_failed,         // the peer's certificate chain or name did not verify
  protocol_version,      // no TLS version in common (for example a TLS 1.1 peer)
  handshake_closed,      // the peer closed the connection during the handshake
  truncated,             // the peer closed without close_notify: data may be missing
  protocol_error,        // an OpenSSL error after the handshake (bad record, ...)
  bad_config,            // unusable certificate, key, CA file, version or ALPN list
};

const std::error_category& tls_category() noexcept;
std::error_code make_error_code(tls_errc e) noexcept;
std::error_condition make_error_condition(tls_errc e) noexcept;

struct tls_server_config {
  std::string cert_file;   // PEM: the leaf certificate, optionally followed by its chain
  std::string key_file;    // PEM private key (unencrypted)
  std::string chain_file;  // PEM intermediates to send after the leaf (optional)
  std::string min_version = "1.2";  // "1.2" or "1.3"; anything else is an error
  std::vector<std::string> alpn = {"http/1.1"};  // in order of preference; empty: no ALPN
  struct sni_entry {
    std::string server_name;  // exact name, or "*.example.com" for one label
    std::string cert_file, key_file, chain_file;
  };
  std::vector<sni_entry> sni;  // extra certificates chosen by the client's SNI
};

struct tls_client_config {
  std::string ca_file;       // empty: system trust store (SSL_CTX_set_default_verify_paths)
  bool verify_peer = true;   // false only for tests and explicit operator opt-out
  std::string min_version = "1.2";
  std::vector<std::string> alpn;  // e.g. {"http/1.1"}
  std::string cert_file, key_file;  // optional client certificate (both or neither)
  // Resumable sessions kept, keyed by host, port, SNI and ALPN (a session
  // resumed for another name would skip the certificate checks). TLS 1.3
  // tickets are used once each; at most 4 are kept per key. 0 disables resumption.
  std::size_t session_cache_size = 64;
};

class tls_context {
 public:
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  // On failure the code is tls_errc::bad_config and *detail (when given) says
  // which file or setting is wrong and why.
  static rt::result<std::shared_ptr<tls_context>> make_server(const tls_server_config& cfg,
                                                              std::string* detail = nullptr);
  static rt::result<std::shared_ptr<tls_context>> make_client(const tls_client_config& cfg,
                                                              std::string* detail = nullptr);

  bool is_server() const noexcept;
  // Sessions held by the client session cache (for metrics and tests).
  std::size_t cached_sessions() const noexcept;
  void clear_session_cache() noexcept;

  struct impl;

 private:
  friend class tls_stream;
  explicit tls_context(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> impl_;
};

class tls_stream final : public stream {
 public:
  ~tls_stream() override;

  // Handshakes over `inner` (a connected stream; the TLS stream owns it). The
  // awaiting coroutine's stop token ends the handshake (callers put a deadline
  // on it with rt::with_timeout) with canceled/timed_out. On any failure the
  // inner stream is closed. `host` is checked against the certificate (a DNS
  // name, sent as SNI; or an IP literal, optionally in brackets, matched
  // against IP SANs and not sent as SNI); `port` is part of the session cache
  // key. Application bytes that arrived with the end of the handshake may
  // already be in data() when these return.
  // The server does not ask for client certificates.
  [[nodiscard]] static rt::task<rt::result<std::unique_ptr<tls_stream>>> connect(
      std::shared_ptr<tls_context> ctx, std::unique_ptr<stream> inner, std::string host, std::uint16_t port);
  [[nodiscard]] static rt::task<rt::result<std::unique_ptr<tls_stream>>> accept(std::shared_ptr<tls_context> ctx,
                                                                                std::unique_ptr<stream> inner);

  std::string alpn() const;         // negotiated protocol, empty if none
  bool session_reused() const;      // the handshake resumed a cached session
  std::string server_name() const;  // server: the SNI the client sent; client: the SNI sent
  std::string version() const;      // "TLSv1.3", ...
  std::string cipher() const;

  // close_notify after pending writes drained, then the inner stream's shutdown.
  // Keeps the session resumable. Reading may continue until the peer closes.
  [[nodiscard]] rt::task<std::error_code> shutdown() override;
  // Abrupt close: no close_notify is sent (a truncated body must not look
  // complete). Destroying the stream is the same; either way the session stays
  // resumable (OpenSSL's shutdown flag is set locally before SSL_free).
  void close() noexcept override;
  bool is_open() const noexcept override;
  std::string peer() const override;

  // The transport underneath (for liveness checks on pooled connections).
  stream& inner() noexcept;

  struct state;  // OpenSSL objects and pump state (tls.cpp)

 protected:
  void resume_reading() override;
  void pause_reading() override;
  void start_write(write_req& w) override;

 private:
  tls_stream(std::shared_ptr<tls_context> ctx, std::unique_ptr<stream> inner, bool server);
  void kick();
  void step();
  bool notify();
  std::unique_ptr<state> s_;
};

// Wraps accepted connections in TLS (for net::http::server_options::handshake)
// and opens client connections over it, as plain net::stream pointers.
using stream_upgrade = std::function<rt::task<rt::result<std::unique_ptr<stream>>>(std::unique_ptr<stream>)>;
stream_upgrade tls_acceptor(std::shared_ptr<tls_context> ctx);
[[nodiscard]] rt::task<rt::result<std::unique_ptr<stream>>> tls_connect(std::shared_ptr<tls_context> ctx,
                                                                         std::unique_ptr<stream> inner,
                                                                         std::string host, std::uint16_t port);

}  // namespace calgate::net

template <>
struct std::is_error_condition_enum<calgate::net::tls_errc> : std::true_type {};
