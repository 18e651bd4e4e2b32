#include "daemon/fabric_refusals.h"

namespace railyard::daemon {
namespace {

constexpr std::string_view kForged =
    "forged or corrupted datagrams on the rails, or a peer running another release; set fabric.packet_auth = \"mac\" "
    "on every host to refuse anything not sent by a holder of the key";

constexpr std::array<RefusalReason, kPeerRefusalCount> kReasons{{
    {"no_session", "datagrams of a session that does not exist here (yet): normal for a moment after a restart"},
    {"stale_session", "datagrams of another session: a restarted peer's late packets, or replayed ones"},
    {"handshake_bad_tag", "handshakes with a wrong HMAC: check that both hosts use the same fabric.psk_file", false, true},
    {"handshake_wrong_node", "handshakes naming another host: check daemon.host_name and [[peer]] names on both hosts", false, true},
    {"handshake_stale", "handshakes stamped more than 30 s away from our clock: check NTP/PTP on both hosts", false, true},
    {"handshake_replayed", "an INIT not newer than the last one answered: a replay, or the peer's clock went back"},
    {"handshake_unexpected", "a REPLY or CONFIRM answering no handshake of ours: a replay, or a lost race (harmless)"},
    {"handshake_malformed", "a handshake of the wrong type or too large an answer"},
    {"mac_missing", "packets without a MAC: the peer runs fabric.packet_auth = \"none\"; set the same on every host", false, true},
    {"mac_unexpected", "packets with a MAC: the peer runs fabric.packet_auth = \"mac\"; set the same on every host", false, true},
    {"mac_bad", "packets whose MAC does not verify: forged or altered on the rails, or sent with another key", true},
    {"ack_unsent", "ACKs naming sequences this host never sent (refused whole)", true},
    {"probe_reply_unmatched", "probe replies echoing no probe sent lately: replayed, forged, or very late"},
    {"data_out_of_window", "DATA beyond the sequence or chunk window a sender must keep to", true},
    {"data_transfer_out_of_window", "DATA opening a transfer id far above any seen: refused before it takes a slot",
     true},
    {"data_stale_transfer", "DATA of a transfer older than the one in its slot: answered as stale, never as delivered"},
    {"data_conflict", "DATA disagreeing with its transfer's slot: answered as a conflict, never as delivered", true},
    {"data_refused", "DATA for a region this host does not have, or beyond its end: the sender's transfer fails"},
    {"data_malformed", "DATA with transfer id 0 or an unknown rail", true},
    {"data_unopened", "chunks without meta whose transfer is not open here (its first chunks were lost): sent again"},
    {"message_bad_tag", "peer-channel messages whose HMAC does not verify: forged, reflected, or another key", true},
    {"message_stale_session", "peer-channel messages of another session, or before any"},
    {"message_too_large", "a peer-channel message beyond its size limit: the peer runs another release?"},
}};

}  // namespace

const std::array<RefusalReason, kPeerRefusalCount>& peer_refusal_reasons() { return kReasons; }

std::string_view forged_advice() { return kForged; }

PeerRefusals peer_refusals(const PeerSnapshot& s, const fabric::PeerChannelCounters& m) {
  using fabric::AuthResult;
  auto hs = [&s](AuthResult r) { return s.handshake_refused[static_cast<size_t>(r)]; };
  return {
      s.no_session,
      s.session_refused.stale_session + s.sender.stale_session + s.receiver.stale_session +
          s.receiver.probes_stale_session,
      hs(AuthResult::bad_tag),
      hs(AuthResult::wrong_node),
      hs(AuthResult::stale),
      hs(AuthResult::replayed),
      hs(AuthResult::unexpected_reply),
      hs(AuthResult::bad_type) + hs(AuthResult::no_room),
      s.session_refused.mac_missing,
      s.session_refused.mac_unexpected,
      s.session_refused.mac_bad,
      s.sender.ack_unsent,
      s.sender.probe_replies_unmatched,
      s.receiver.out_of_window,
      s.receiver.transfer_out_of_window,
      s.receiver.stale_transfer,
      s.receiver.conflicts,
      s.receiver.rejected,
      s.receiver.protocol_errors,
      s.receiver.unopened,
      m.bad_tag,
      m.stale_session + s.message_stale_session,
      m.too_large,
  };
}

}  // namespace railyard::daemon
