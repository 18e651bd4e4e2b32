#include "tools/bmc-sim/tls.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

namespace railyard::bmcsim {

namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(FILE* f) const { std::fclose(f); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Cert = std::unique_ptr<X509, Free>;

std::string ssl_error(std::string_view what) {
  const unsigned long e = ERR_get_error();
  char buf[256] = {0};
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  return fmt::format("{}: {}", what, e != 0 ? buf : "failed");
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Free> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

Cert make_cert(EVP_PKEY* key, EVP_PKEY* signer, X509* issuer, const std::string& cn, long serial, bool ca,
               const std::string& san) {
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * 365);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("railyard bmc-sim"),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer != nullptr ? issuer : cert.get();
  bool ok = true;
  if (ca) {
    ok = ok && add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    ok = ok && add_ext(cert.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    ok = ok && add_ext(cert.get(), iss, NID_subject_key_identifier, "hash");
  } else {
    ok = ok && add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
    ok = ok && add_ext(cert.get(), iss, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    ok = ok && add_ext(cert.get(), iss, NID_ext_key_usage, "serverAuth");
    ok = ok && add_ext(cert.get(), iss, NID_subject_key_identifier, "hash");
    ok = ok && add_ext(cert.get(), iss, NID_authority_key_identifier, "keyid");
    ok = ok && add_ext(cert.get(), iss, NID_subject_alt_name, san);
  }
  if (!ok || X509_sign(cert.get(), signer, EVP_sha256()) == 0) return nullptr;
  return cert;
}

bool write_pem(const std::filesystem::path& path, X509* cert, EVP_PKEY* key) {
  std::unique_ptr<FILE, Free> f(std::fopen(path.c_str(), "w"));
  if (!f) return false;
  if (key != nullptr) {
    ::chmod(path.c_str(), 0600);
    return PEM_write_PrivateKey(f.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  }
  return PEM_write_X509(f.get(), cert) == 1;
}

bool is_ip(const std::string& s) {
  return !s.empty() && (s.find(':') != std::string::npos ||
                        s.find_first_not_of("0123456789.") == std::string::npos);
}

}  // namespace

SelfSigned make_self_signed(const std::filesystem::path& dir, const std::vector<std::string>& names,
                            std::string& error) {
  error.clear();
  SelfSigned out{dir / "ca.pem", dir / "server.pem", dir / "server.key"};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = fmt::format("{}: {}", dir.string(), ec.message());
    return out;
  }
  Key ca_key(EVP_EC_gen("P-256"));
  Key server_key(EVP_EC_gen("P-256"));
  if (!ca_key || !server_key) {
    error = ssl_error("generating EC keys");
    return out;
  }
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  for (const auto& n : names) {
    if (n.empty() || n == "localhost" || n == "127.0.0.1" || n == "::1" || n == "0.0.0.0" || n == "::") continue;
    san += fmt::format(",{}:{}", is_ip(n) ? "IP" : "DNS", n);
  }
  Cert ca = make_cert(ca_key.get(), ca_key.get(), nullptr, "bmc-sim test CA", 1, true, "");
  if (!ca) {
    error = ssl_error("making the CA certificate");
    return out;
  }
  Cert server = make_cert(server_key.get(), ca_key.get(), ca.get(), "bmc-sim", 2, false, san);
  if (!server) {
    error = ssl_error("making the server certificate");
    return out;
  }
  if (!write_pem(out.ca_cert, ca.get(), nullptr) || !write_pem(dir / "ca.key", nullptr, ca_key.get()) ||
      !write_pem(out.server_cert, server.get(), nullptr) || !write_pem(out.server_key, nullptr, server_key.get())) {
    error = fmt::format("{}: cannot write the certificates", dir.string());
  }
  return out;
}

}  // namespace railyard::bmcsim
