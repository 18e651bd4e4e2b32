#include "fabric/packet_auth.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstring>
#include <stdexcept>

#include "fabric/session_auth.h"

namespace railyard::fabric {
namespace {

constexpr std::string_view kKeyLabel = "railyard-pkt-v1";

EVP_MAC_CTX* keyed_hmac(const SessionKey& key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) throw std::runtime_error("packet MAC: OpenSSL has no HMAC");
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context holds its own reference
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (ctx == nullptr ||
      EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1) {
    EVP_MAC_CTX_free(ctx);
    throw std::runtime_error("packet MAC: OpenSSL could not key HMAC-SHA256");
  }
  return ctx;
}

}  // namespace

std::string_view packet_auth_name(PacketAuth mode) { return mode == PacketAuth::mac ? "mac" : "none"; }

PacketMac::PacketMac(std::span<const std::byte> psk, uint64_t session, uint64_t self_node, uint64_t peer_node) {
  sign_ = keyed_hmac(derive_session_key(psk, kKeyLabel, session, self_node, peer_node));
  try {
    verify_ = keyed_hmac(derive_session_key(psk, kKeyLabel, session, peer_node, self_node));
  } catch (...) {
    EVP_MAC_CTX_free(sign_);
    throw;
  }
}

PacketMac::~PacketMac() {
  EVP_MAC_CTX_free(sign_);
  EVP_MAC_CTX_free(verify_);
}

void PacketMac::tag(EVP_MAC_CTX* ctx, std::span<const std::byte> header, std::span<const std::byte> body_head,
                    std::span<const std::byte> body_tail, std::byte* out) {
  // A null key re-initialises with the key set at construction.
  std::array<unsigned char, 32> full{};
  size_t len = 0;
  EVP_MAC_init(ctx, nullptr, 0, nullptr);
  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(header.data()), header.size());
  if (!body_head.empty()) EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(body_head.data()), body_head.size());
  if (!body_tail.empty()) EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(body_tail.data()), body_tail.size());
  EVP_MAC_final(ctx, full.data(), &len, full.size());
  std::memcpy(out, full.data(), kMacSize);
}

void PacketMac::sign(std::span<std::byte> head, std::span<const std::byte> payload) {
  const size_t fixed = fixed_header_size(static_cast<PacketType>(std::to_integer<uint8_t>(head[3])));
  tag(sign_, head.first(fixed), head.subspan(fixed + kMacSize), payload, head.data() + fixed);
}

bool PacketMac::verify(const Packet& p) {
  if (p.mac.size() != kMacSize) return false;
  std::array<std::byte, kMacSize> expect{};
  // Everything after the tag: DATA's meta (if any) and payload are contiguous
  // in the datagram, as are an ACK's blocks.
  const std::byte* after = p.mac.data() + kMacSize;
  const std::byte* end = p.body.data() + p.body.size();
  tag(verify_, p.raw_header, std::span<const std::byte>(after, end), {}, expect.data());
  return CRYPTO_memcmp(expect.data(), p.mac.data(), kMacSize) == 0;
}

}  // namespace railyard::fabric
