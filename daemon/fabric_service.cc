#include "daemon/fabric_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <net/if.h>

#include "common/build_info.h"
#include "common/clock.h"
#include "common/control_limits.h"
#include "daemon/fabric_refusals.h"
#include "common/log.h"
#include "drivers/nic/udp/udp_rail.h"
#if RAILYARD_HAVE_VERBS
#include "drivers/nic/verbs/ibv_ops.h"
#endif

namespace railyard::daemon {

namespace asio = boost::asio;

namespace {
// Most transfers a daemon accepts towards one peer before answering BUSY.
constexpr size_t kMaxOutstandingPerPeer = 16384;
constexpr auto kLinkRefresh = std::chrono::milliseconds(20);
constexpr auto kRefusalCheck = std::chrono::seconds(1);

/// What `railctl send` says of a failed probe transfer.
std::string failure_text(FabricEvent::Outcome outcome) {
  switch (outcome) {
    case FabricEvent::Outcome::rejected:
      return "the peer refused the transfer (is its probe region there?)";
    case FabricEvent::Outcome::stale:
    case FabricEvent::Outcome::conflict:
      return "the peer holds another transfer in its slot and did not take this one (forged traffic on the rails? "
             "railctl peers shows refusals by reason)";
    case FabricEvent::Outcome::checksum_failed:
      return "the bytes landed but their checksum differs";
    case FabricEvent::Outcome::backlog_full:
      return "too many transfers outstanding to the peer";
    case FabricEvent::Outcome::ok:
    case FabricEvent::Outcome::peer_restarted:
      break;
  }
  return "the peer went away";
}
constexpr unsigned kRefusalQuietChecks = 10;  // a reason quiet for 10 s ends its episode

// The peers with an address on rail `rail`, as a driver's peer list.
template <class Peer>
std::vector<Peer> rail_peers(const std::vector<config::PeerConfig>& peers, const std::string& rail, uint16_t port) {
  std::vector<Peer> out;
  for (size_t p = 0; p < peers.size(); ++p) {
    for (const auto& [name, address] : peers[p].addresses) {
      if (name == rail) out.push_back(Peer{.slot = static_cast<nic::PeerSlot>(p), .address = address, .port = port});
    }
  }
  return out;
}
constexpr int kRailSocketBuffer = 8 << 20;

std::vector<std::byte> read_key(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof())
    throw std::runtime_error(fmt::format("fabric: cannot read the key file {}; check fabric.psk_file", path));
  std::vector<std::byte> key(bytes.size());
  std::transform(bytes.begin(), bytes.end(), key.begin(), [](char c) { return static_cast<std::byte>(c); });
  return key;
}

const char* class_name(bool activation) { return activation ? "activation" : "kv"; }

std::string rail_state(const RailSnapshot& r) {
  if (r.link == nic::LinkState::down) return "down";
  if (r.up) return "up";
  switch (r.reason) {
    case fabric::DownReason::link:
      return "down";
    case fabric::DownReason::ack_silence:
      return "probing";
    case fabric::DownReason::none:
      break;
  }
  return "idle";  // no established peer uses it yet
}

std::string down_reason(const RailSnapshot& r) {
  if (r.link == nic::LinkState::down) return "link down";
  if (!r.up && r.reason == fabric::DownReason::ack_silence) return "ack silence";
  return "";
}

std::string link_name(nic::LinkState s) {
  switch (s) {
    case nic::LinkState::up:
      return "up";
    case nic::LinkState::down:
      return "down";
    case nic::LinkState::unknown:
      break;
  }
  return "unknown";
}
}  // namespace

struct FabricService::Probe {
  v1::SendRequest request;
  uint16_t peer = 0;
  uint32_t posted = 0;
  uint32_t in_flight = 0;
  v1::SendReply reply;
  std::vector<uint64_t> latencies;
  std::chrono::steady_clock::time_point started;
  std::function<void(v1::Status, std::string, v1::SendReply)> done;
};

FabricService::FabricService(asio::io_context& io, const config::Config& config, RegionTable& regions)
    : regions_(regions),
      host_name_(config.daemon.host_name),
      rail_config_(config.rails),
      peer_config_(config.peers),
      link_fd_(io),
      link_timer_(io),
      event_fd_(io),
      message_timer_(io),
      refusal_timer_(io),
      refusals_seen_(config.peers.size() * kPeerRefusalCount + 2, 0),
      refusal_episodes_(refusals_seen_.size(), kRefusalQuietChecks),
      peer_up_(config.peers.size(), false),
      outstanding_(config.peers.size(), 0),
      fault_injection_(config.fabric.fault_injection),
      packet_auth_(config.fabric.packet_auth) {
  if (rail_config_.empty()) {
    log::info("fabric: no rails configured; the fabric is idle (add [[rail]] and [[peer]] tables)");
    return;
  }
  links_ = std::make_unique<nic::LinkMonitor>();
  DataPlane::Settings settings;
  settings.self_node = DataPlane::node_id(host_name_);
  if (!peer_config_.empty()) settings.psk = read_key(config.fabric.psk_file);
  settings.packet_auth = config.fabric.packet_auth;
  for (size_t p = 0; p < peer_config_.size(); ++p) {
    DataPlane::Peer peer{.name = peer_config_[p].name, .node = DataPlane::node_id(peer_config_[p].name)};
    for (size_t r = 0; r < rail_config_.size(); ++r) {
      for (const auto& [rail, address] : peer_config_[p].addresses) {
        if (rail == rail_config_[r].name) peer.rail_mask |= 1u << r;
      }
    }
    settings.peers.push_back(std::move(peer));
  }
  std::vector<RailEbpf::Rail> ebpf_rails;
  for (size_t r = 0; r < rail_config_.size(); ++r) {
    const auto& rc = rail_config_[r];
    if (rc.driver == "dpdk") {
      if (!dpdk_) {
        dpdk_ = std::make_unique<DpdkRails>(config.dpdk, config::dpdk_file_prefix(config));
        settings.thread_init = &DpdkRails::register_thread;
      }
      settings.rails.push_back(dpdk_->open(
          rc, config.fabric.port, rail_peers<nic::DpdkPeer>(peer_config_, rc.name, config.fabric.port), links_.get()));
      ebpf_rails.push_back({.name = rc.name,
                            .skip = "the rail is driven by DPDK: its packets bypass the kernel's "
                                    "tc and XDP hooks here"});
      continue;
    }
    nic::UdpRailConfig udp{.name = rc.name,
                           .interface = rc.interface,
                           .address = rc.address,
                           .port = config.fabric.port,
                           .peers = rail_peers<nic::UdpPeer>(peer_config_, rc.name, config.fabric.port),
                           .send_buffer = kRailSocketBuffer,
                           .receive_buffer = kRailSocketBuffer};
    // A verbs rail's netdev carries the peer session (handshake, peer
    // channel) on this socket; its transfers go over RDMA.
    auto rail = std::make_unique<nic::UdpRail>(udp, links_.get());
    ebpf_rails.push_back({.name = rc.name, .ifindex = rail->ifindex()});
    log::info("fabric: rail {} on {} ({}:{}, max datagram {} bytes){}", rc.name, rc.interface, rc.address,
              config.fabric.port, rail->max_datagram(), rc.driver == "verbs" ? ", peer session of a verbs rail" : "");
    settings.rails.push_back(std::move(rail));
  }
  ebpf_ = std::make_unique<RailEbpf>(config.fabric.port, std::move(ebpf_rails), config.fabric.ebpf);
  // Verbs rails watch the region table from here on: the probe region too.
  if (rail_config_.front().driver == "verbs") open_verbs(io, config);
  regions_.add_internal(kProbeRegion, kProbeRegionBytes, "railctl-probe");
  const std::vector<std::byte> psk = settings.psk;
  plane_ = std::make_unique<DataPlane>(std::move(settings), regions_);
  const fabric::PeerChannelConfig channel_config{
      .max_fragment = plane_->message_datagram_limit() - fabric::kMessageHeaderSize - fabric::kTagSize};
  channels_.reserve(peer_config_.size());
  for (size_t p = 0; p < peer_config_.size(); ++p)
    channels_.emplace_back(psk, DataPlane::node_id(host_name_), DataPlane::node_id(peer_config_[p].name),
                           channel_config);
  message_rail_shift_.assign(peer_config_.size(), 0);
  message_losses_.assign(peer_config_.size(), 0);
  warned_verbs_message_.assign(peer_config_.size(), false);
  plane_->start();
  if (verbs_) verbs_->start();
  link_fd_.assign(links_->fd());
  event_fd_.assign(plane_->event_fd());
  watch_links();
  refresh_links();
  watch_events();
  watch_refusals();
  log::info("fabric: {} rails, {} peers; data plane running", rail_config_.size(), peer_config_.size());
}

void FabricService::open_verbs(asio::io_context& io, const config::Config& config) {
  VerbsPlane::Settings settings{.transport = config::verbs_transport_config(config.verbs),
                                .self_node = DataPlane::node_id(host_name_)};
  for (const auto& rc : rail_config_) {
    const unsigned ifindex = ::if_nametoindex(rc.interface.c_str());
    settings.rails.push_back(VerbsPlane::Rail{
        .device = verbs::RailDeviceConfig{.name = rc.name,
                                          .device = rc.device,
                                          .port = static_cast<uint8_t>(rc.port),
                                          .gid_index = rc.gid_index,
                                          .netdev = rc.interface,
                                          .netdev_ifindex = ifindex},
        .link = &links_->state(static_cast<int>(ifindex))});
  }
  std::vector<std::string> names;
  for (const auto& p : peer_config_) {
    settings.peer_nodes.push_back(DataPlane::node_id(p.name));
    names.push_back(p.name);
  }
#if RAILYARD_HAVE_VERBS
  verbs_ops_ = std::make_unique<verbs::IbvOps>();
#else
  throw std::runtime_error("fabric: verbs rails are configured but this railyardd was built without libibverbs");
#endif
  verbs_ = std::make_unique<VerbsFabric>(
      io, *verbs_ops_, std::move(settings), regions_, std::move(names),
      [this](const FabricEvent& event) { on_event(event); },
      [this](uint16_t peer, const v1::PeerMessage& message, std::string& error) {
        return send_to(peer, message, error);
      });
  log::info("fabric: {} verbs rails; transfers go over RDMA, the peer session over UDP on their netdevs",
            rail_config_.size());
}

FabricService::~FabricService() { stop(); }

void FabricService::stop() {
  boost::system::error_code ignored;
  link_timer_.cancel();
  if (link_fd_.is_open()) {
    link_fd_.cancel(ignored);
    link_fd_.release();
  }
  if (event_fd_.is_open()) {
    event_fd_.cancel(ignored);
    event_fd_.release();
  }
  message_timer_.cancel();
  refusal_timer_.cancel();
  if (verbs_) verbs_->stop();
  if (plane_) plane_->stop();
}

void FabricService::watch_links() {
  link_fd_.async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
    if (ec) return;
    links_->poll();
    watch_links();
  });
}

void FabricService::refresh_links() {
  links_->refresh();
  link_timer_.expires_after(kLinkRefresh);
  link_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) refresh_links();
  });
}

void FabricService::watch_events() {
  event_fd_.async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
    if (ec) return;
    while (auto event = plane_->next_event()) on_event(*event);
    bool messages = false;
    while (auto datagram = plane_->next_message()) {
      on_message_datagram(*datagram);
      messages = true;
    }
    if (messages) flush_messages();  // ACKs and answers go out now; the timer covers resends
    regions_.reclaim();
    watch_events();
  });
}

void FabricService::on_event(const FabricEvent& event) {
  switch (event.kind) {
    case FabricEvent::Kind::peer_up:
      // A new session, maybe after a restart: messages of the old one are gone.
      if (peer_up_[event.peer] && peer_handler_) peer_handler_(peer_config_[event.peer].name, false);
      peer_up_[event.peer] = true;
      if (!channels_.empty()) channels_[event.peer].reset(event.session);
      if (verbs_) verbs_->on_session(event.peer, true);
      if (peer_handler_) peer_handler_(peer_config_[event.peer].name, true);
      return;
    case FabricEvent::Kind::peer_down:
      peer_up_[event.peer] = false;
      if (!channels_.empty()) channels_[event.peer].reset(0);
      if (verbs_) verbs_->on_session(event.peer, false);
      if (peer_handler_) peer_handler_(peer_config_[event.peer].name, false);
      return;
    case FabricEvent::Kind::received: {
      ++totals_.completed_in;
      totals_.bytes_in += event.bytes;
      if (event.region == kProbeRegion || workloads_ == nullptr) return;
      const auto owner = workloads_->owner_of_region(event.region);
      if (!owner) return;  // the region went away while the bytes travelled
      v1::WorkloadEvent out;
      out.set_protocol_version(1);
      auto* in = out.mutable_inbound_transfer();
      in->set_peer(peer_config_[event.peer].name);
      in->set_transfer_id(event.transfer_id);
      in->set_region_id(event.region);
      in->set_offset(event.offset);
      in->set_length(event.bytes);
      in->set_traffic_class(event.cls == fabric::TrafficClass::activation ? v1::TRAFFIC_CLASS_ACTIVATION
                                                                          : v1::TRAFFIC_CLASS_KV);
      in->set_checksum_verified(event.checksum_requested && event.outcome == FabricEvent::Outcome::ok);
      if (event.outcome == FabricEvent::Outcome::checksum_failed) {
        out.set_error(v1::WORKLOAD_ERROR_CHECKSUM);
        out.set_message("the transfer's bytes landed but their CRC32C differs from the sender's");
      }
      workloads_->deliver(*owner, out);
      return;
    }
    case FabricEvent::Kind::sent:
      break;
  }
  --outstanding_[event.peer];
  auto it = outbound_.find(event.transfer_id);
  if (it == outbound_.end()) return;  // its workload went away
  Outbound t = std::move(it->second);
  outbound_.erase(it);
  v1::WorkloadError error = v1::WORKLOAD_ERROR_NONE;
  switch (event.outcome) {
    case FabricEvent::Outcome::ok:
      break;
    case FabricEvent::Outcome::rejected:
      error = v1::WORKLOAD_ERROR_REMOTE_REJECTED;
      break;
    case FabricEvent::Outcome::stale:
      error = v1::WORKLOAD_ERROR_REMOTE_STALE;
      break;
    case FabricEvent::Outcome::conflict:
      error = v1::WORKLOAD_ERROR_REMOTE_CONFLICT;
      break;
    case FabricEvent::Outcome::peer_restarted:
      error = v1::WORKLOAD_ERROR_PEER_UNREACHABLE;
      break;
    case FabricEvent::Outcome::backlog_full:
      error = v1::WORKLOAD_ERROR_BUSY;
      break;
    case FabricEvent::Outcome::checksum_failed:
      error = v1::WORKLOAD_ERROR_CHECKSUM;
      break;
  }
  if (error == v1::WORKLOAD_ERROR_NONE) {
    ++totals_.completed_out;
    totals_.bytes_out += t.length;
  } else {
    ++totals_.failed_out;
  }
  if (t.done) return t.done(error);
  if (t.owner == 0) {
    auto waiter = probe_waiters_.find(event.transfer_id);
    if (waiter != probe_waiters_.end()) {
      auto fn = std::move(waiter->second);
      probe_waiters_.erase(waiter);
      fn(event);
    }
    return;
  }
  if (workloads_ == nullptr) return;
  v1::WorkloadEvent out;
  out.set_protocol_version(1);
  auto* c = out.mutable_transfer_completed();
  c->set_transfer_id(event.transfer_id);
  c->set_cookie(t.cookie);
  c->set_error(error);
  c->set_bytes(error == v1::WORKLOAD_ERROR_NONE ? t.length : 0);
  c->set_duration_ns(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t.posted).count()));
  workloads_->deliver(t.owner, out);
}

int FabricService::peer_index(const std::string& name) const {
  for (size_t i = 0; i < peer_config_.size(); ++i) {
    if (peer_config_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

void FabricService::on_message_datagram(const MessageDatagram& datagram) {
  fabric::Packet packet;
  if (datagram.peer >= channels_.size() || fabric::parse(datagram.datagram(), packet) != fabric::ParseResult::ok ||
      packet.header.type != fabric::PacketType::message)
    return;  // the data plane parsed it already; this cannot fail
  // Refusals are counted by the channel and logged per episode (watch_refusals).
  channels_[datagram.peer].on_datagram(
      packet, monotonic_ns(), [&](std::span<const std::byte> message) { on_peer_message(datagram.peer, message); });
}

void FabricService::watch_refusals() {
  refusal_timer_.expires_after(kRefusalCheck);
  refusal_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    const FabricSnapshot snap = plane_->snapshot();
    const auto now = std::chrono::steady_clock::now();
    const auto& reasons = peer_refusal_reasons();
    auto check = [&](size_t kind, uint64_t count, const std::string& from, std::string_view reason,
                     std::string_view advice, bool hostile, bool misconfigured = false) {
      const uint64_t moved = count >= refusals_seen_[kind] ? count - refusals_seen_[kind] : count;
      refusals_seen_[kind] = count;
      if (moved == 0) {
        if (auto ended = refusal_episodes_.clean(kind, now))
          log::notice("fabric: {} from {} stopped: {} refused in {:.0f} s", reason, from, ended->occurrences,
                      std::chrono::duration<double>(ended->length).count());
        return;
      }
      if (!refusal_episodes_.occurred(kind, now, moved)) return;
      const std::string line = fmt::format("fabric: refusing datagrams from {}: {} ({} in the last {} s): {}{}{}", from,
                                           reason, moved, kRefusalCheck.count(), advice, hostile ? "; " : "",
                                           hostile ? forged_advice() : "");
      if (hostile || misconfigured) {
        log::warning("{}", line);
      } else {
        log::notice("{}", line);
      }
    };
    for (size_t p = 0; p < peer_config_.size() && p < snap.peers.size(); ++p) {
      const PeerRefusals counts = peer_refusals(snap.peers[p], channels_[p].counters());
      const std::string from = "peer " + peer_config_[p].name;
      for (size_t k = 0; k < kPeerRefusalCount; ++k)
        check(p * kPeerRefusalCount + k, counts[k], from, reasons[k].name, reasons[k].advice, reasons[k].hostile,
              reasons[k].misconfigured);
    }
    const size_t host = peer_config_.size() * kPeerRefusalCount;
    check(host, snap.malformed.rejected(), "the rails", "malformed",
          "datagrams on the fabric port that are no fabric datagram of this release (railctl peers counts them by "
          "reason)",
          true);
    check(host + 1, snap.rx_unknown_source, "the rails", "unknown_source",
          "fabric datagrams from addresses no [[peer]] has: a host missing from this host's configuration?", false);
    log_rail_changes(snap, now);
    watch_refusals();
  });
}

void FabricService::log_rail_changes(const FabricSnapshot& snap, std::chrono::steady_clock::time_point now) {
  rails_seen_.resize(rail_config_.size());
  for (size_t r = 0; r < rail_config_.size() && r < snap.rails.size(); ++r) {
    const RailSnapshot& s = snap.rails[r];
    RailSeen& seen = rails_seen_[r];
    const std::string state = rail_state(s);
    const auto is_down = [](const std::string& st) { return st == "down" || st == "probing"; };
    const std::string& name = rail_config_[r].name;
    const double for_s = std::chrono::duration<double>(now - seen.since).count();
    const std::string reason = down_reason(s);
    // A new reason is news too: a rail probing after ack silence whose link then goes down.
    if (is_down(state) && (!is_down(seen.state) || reason != seen.reason)) {
      const config::RailConfig& rc = rail_config_[r];
      std::string advice =
          "Nothing came back from the peers on it: check its cable and switch port, and the peers' end of the rail "
          "(railctl rails on both hosts)";
      if (s.link == nic::LinkState::down)
        advice = rc.interface.empty() ? fmt::format("Check the port's link (DPDK device {})", rc.device)
                                      : fmt::format("Check the link: ip link show {}", rc.interface);
      log::warning("fabric: rail {} ({}) is down: {}; its traffic moves to the other rails. {}", name,
                   rc.interface.empty() ? rc.device : rc.interface, reason.empty() ? state : reason, advice);
    } else if (!is_down(state) && is_down(seen.state)) {
      log::notice("fabric: rail {} is {} again after {:.0f} s down", name, state, for_s);
    } else if (!seen.state.empty() && s.down_events > seen.down_events) {
      log::warning("fabric: rail {} went down {} time(s) and came back within {} s (railctl --json rails: down_events)",
                   name, s.down_events - seen.down_events, kRefusalCheck.count());
    }
    if (state != seen.state) seen.since = now;
    seen.state = state;
    seen.reason = reason;
    seen.down_events = s.down_events;
  }
}

void FabricService::on_peer_message(uint16_t peer, std::span<const std::byte> bytes) {
  const std::string& name = peer_config_[peer].name;
  v1::PeerMessage message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    log::warning("fabric: {} sent a message that is not a railyard.v1.PeerMessage; is it the same release?", name);
    return;
  }
  if (message.has_verbs_connection() || message.has_verbs_transfers()) {
    if (verbs_) return verbs_->on_message(peer, message);
    if (!warned_verbs_message_[peer])
      log::warning("fabric: {} runs verbs rails and this host does not: both ends of a rail need the same kind "
                   "(driver = \"verbs\" on both, or udp/dpdk on both); its transfers cannot reach this host",
                   name);
    warned_verbs_message_[peer] = true;
    return;
  }
  if (message_handler_) message_handler_(name, message);
}

bool FabricService::send_to(uint16_t peer, const v1::PeerMessage& message, std::string& error) {
  const std::string bytes = message.SerializeAsString();
  return send_message(peer_config_[peer].name,
                      std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()), error);
}

void FabricService::flush_messages() {
  if (channels_.empty()) return;
  const uint64_t now = monotonic_ns();
  uint64_t deadline = UINT64_MAX;
  for (size_t p = 0; p < channels_.size(); ++p) {
    const auto& c = channels_[p].counters();
    const uint64_t losses = c.fragments_resent + c.duplicates;
    if (losses != message_losses_[p]) {  // lost on the rail in use, one way or the other: try the next
      message_losses_[p] = losses;
      ++message_rail_shift_[p];
    }
    channels_[p].poll(now, [&](std::span<const std::byte> datagram) {
      // A full ring: the channel resends.
      plane_->send_message(static_cast<uint16_t>(p), datagram, message_rail_shift_[p]);
    });
    deadline = std::min(deadline, channels_[p].next_deadline());
  }
  if (deadline == UINT64_MAX) return;
  message_timer_.expires_after(std::chrono::nanoseconds(deadline > now ? deadline - now : 0));
  message_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) flush_messages();
  });
}

bool FabricService::send_message(const std::string& peer, std::span<const std::byte> message, std::string& error) {
  const int p = peer_index(peer);
  if (p < 0 || channels_.empty()) {
    error = fmt::format("peer '{}' is not configured on {}", peer, host_name_);
    return false;
  }
  switch (channels_[static_cast<size_t>(p)].send(message, monotonic_ns())) {
    case fabric::ChannelSend::ok:
      flush_messages();
      return true;
    case fabric::ChannelSend::no_session:
      error = fmt::format("no session with {} (it is down or unreachable on every rail)", peer);
      return false;
    case fabric::ChannelSend::too_large:
      error = fmt::format("a message of {} bytes to {} is too large", message.size(), peer);
      return false;
    case fabric::ChannelSend::queue_full:
      error = fmt::format("messages to {} are backed up; it is not acknowledging them", peer);
      return false;
  }
  return false;
}

bool FabricService::peer_up(const std::string& peer) const {
  const int p = peer_index(peer);
  return p >= 0 && peer_up_[static_cast<size_t>(p)];
}

std::vector<std::string> FabricService::peer_names() const {
  std::vector<std::string> names;
  for (const auto& p : peer_config_) names.push_back(p.name);
  return names;
}

TransferPort::Posted FabricService::post_for(uint64_t owner, const v1::PostTransfer& request,
                                            std::function<void(v1::WorkloadError)> done) {
  auto posted = post(owner, request);
  if (posted.error == v1::WORKLOAD_ERROR_NONE) outbound_.at(posted.transfer_id).done = std::move(done);
  return posted;
}

TransferPort::Posted FabricService::post(uint64_t owner, const v1::PostTransfer& request) {
  using Posted = TransferPort::Posted;
  const int peer = peer_index(request.peer());
  if (peer < 0) {
    std::string known;
    for (const auto& p : peer_config_) known += (known.empty() ? "" : ", ") + p.name;
    return Posted{.error = v1::WORKLOAD_ERROR_UNKNOWN_PEER,
                  .message = fmt::format("peer '{}' is not configured on {}; configured peers: {}", request.peer(),
                                         host_name_, known.empty() ? "none" : known)};
  }
  if (!plane_) return Posted{.error = v1::WORKLOAD_ERROR_PEER_UNREACHABLE, .message = "the fabric has no rails"};
  if (request.remote_region() == 0 || request.remote_region() >= RegionTable::kMaxRegions)
    return Posted{.error = v1::WORKLOAD_ERROR_BAD_REQUEST,
                  .message = fmt::format("remote region {} is not a region id (1 to {})", request.remote_region(),
                                         RegionTable::kMaxRegions - 1)};
  const size_t outstanding = outstanding_[peer];
  if (outstanding >= kMaxOutstandingPerPeer)
    return Posted{.error = v1::WORKLOAD_ERROR_BUSY,
                  .message = fmt::format("{} transfers to {} are outstanding; post again after a completion",
                                         outstanding, request.peer())};
  RegionTable::Pin pin;
  std::string message;
  const auto pinned =
      regions_.pin(request.local_region(), owner, request.local_offset(), request.length(), pin, message);
  if (pinned != RegionTable::Error::none)
    return Posted{.error = pinned == RegionTable::Error::unknown ? v1::WORKLOAD_ERROR_UNKNOWN_REGION
                                                                 : v1::WORKLOAD_ERROR_OUT_OF_RANGE,
                  .message = message};
  const bool activation = request.traffic_class() == v1::TRAFFIC_CLASS_ACTIVATION;
  const uint64_t id = next_transfer_id_++;
  FabricCommand command{.peer = static_cast<uint16_t>(peer),
                        .transfer_id = id,
                        .source = pin,
                        .dest_region = request.remote_region(),
                        .dest_offset = request.remote_offset(),
                        .cls = activation ? fabric::TrafficClass::activation : fabric::TrafficClass::kv,
                        .checksum = request.checksum()};
  if (!submit(command, request.local_region(), request.local_offset())) {
    RegionTable::unpin(pin);
    return Posted{.error = v1::WORKLOAD_ERROR_BUSY, .message = "the fabric's command queue is full; post again"};
  }
  ++outstanding_[peer];
  outbound_[id] = Outbound{.owner = owner,
                           .cookie = request.cookie(),
                           .peer = static_cast<uint16_t>(peer),
                           .length = request.length(),
                           .activation = activation,
                           .posted = std::chrono::steady_clock::now()};
  return Posted{.error = v1::WORKLOAD_ERROR_NONE, .message = {}, .transfer_id = id};
}

bool FabricService::submit(const FabricCommand& command, uint32_t local_region, uint64_t local_offset) {
  if (!verbs_) return plane_->submit(command);
  verbs_->post(command, local_region, local_offset);
  return true;
}

void FabricService::abandon_owner(uint64_t owner) {
  std::vector<std::function<void(v1::WorkloadError)>> orphaned;
  for (auto& [id, t] : outbound_) {
    if (t.owner == owner && t.done) orphaned.push_back(std::move(t.done));
  }
  std::erase_if(outbound_, [owner](const auto& entry) { return entry.second.owner == owner; });
  for (auto& done : orphaned) done(v1::WORKLOAD_ERROR_UNKNOWN_REGION);  // its region went with it
}

std::string FabricService::check_send(const v1::SendRequest& request) {
  if (request.size() == 0 || request.size() > kProbeRegionBytes)
    return fmt::format("--size must be 1 byte to {} MiB, not {}", kProbeRegionBytes >> 20, request.size());
  // 0 means the default (1 transfer, 4 at once).
  if (request.count() > control::kMaxProbeTransfers)
    return fmt::format("--count must be 1 to {}, not {}", control::kMaxProbeTransfers, request.count());
  if (request.concurrency() > control::kMaxProbeConcurrency)
    return fmt::format("--concurrency must be 1 to {}, not {}", control::kMaxProbeConcurrency, request.concurrency());
  return {};
}

std::string FabricService::check_fault(const v1::FaultRequest& request) {
  // Written so that NaN fails too.
  const auto probability = [](double p) { return p >= 0 && p <= 1; };
  if (!probability(request.drop()) || !probability(request.ecn()))
    return fmt::format("--drop and --ecn take a probability from 0 to 1, not {} and {}", request.drop(), request.ecn());
  if (!request.traffic_class().empty() && request.traffic_class() != "kv" && request.traffic_class() != "activation")
    return "--class is kv or activation";
  return {};
}

void FabricService::send(const v1::SendRequest& request,
                         std::function<void(v1::Status, std::string, v1::SendReply)> done) {
  if (std::string error = check_send(request); !error.empty()) return done(v1::STATUS_BAD_REQUEST, error, {});
  const int peer = peer_index(request.peer());
  if (peer < 0) return done(v1::STATUS_BAD_REQUEST, fmt::format("peer '{}' is not configured", request.peer()), {});
  if (!plane_ || !peer_up_[peer])
    return done(v1::STATUS_INTERNAL,
                fmt::format("no session with peer {} yet: is railyardd running there, with the same fabric.psk_file, "
                            "and are the rails up? (railctl peers)",
                            request.peer()),
                {});
  auto probe = std::make_shared<Probe>();
  probe->request = request;
  if (probe->request.count() == 0) probe->request.set_count(1);
  if (probe->request.concurrency() == 0) probe->request.set_concurrency(4);
  probe->peer = static_cast<uint16_t>(peer);
  probe->started = std::chrono::steady_clock::now();
  probe->done = std::move(done);
  probe->latencies.reserve(probe->request.count());
  probe_next(probe);
}

void FabricService::probe_next(const std::shared_ptr<Probe>& probe) {
  const auto& r = probe->request;
  while (probe->in_flight < r.concurrency() && probe->posted < r.count()) {
    RegionTable::Pin pin;
    std::string message;
    regions_.pin(kProbeRegion, 0, 0, r.size(), pin, message);
    const uint64_t id = next_transfer_id_++;
    FabricCommand command{.peer = probe->peer,
                          .transfer_id = id,
                          .source = pin,
                          .dest_region = kProbeRegion,
                          .dest_offset = 0,
                          .cls = r.activation() ? fabric::TrafficClass::activation : fabric::TrafficClass::kv,
                          .checksum = r.checksum()};
    if (!submit(command, kProbeRegion, 0)) {
      RegionTable::unpin(pin);
      break;  // the ring drains as events come back; continue from the next completion
    }
    const auto posted_at = std::chrono::steady_clock::now();
    ++outstanding_[probe->peer];
    outbound_[id] = Outbound{
        .owner = 0, .peer = probe->peer, .length = r.size(), .activation = r.activation(), .posted = posted_at};
    probe_waiters_[id] = [this, probe, posted_at](const FabricEvent& event) {
      --probe->in_flight;
      const auto now = std::chrono::steady_clock::now();
      if (event.outcome == FabricEvent::Outcome::ok) {
        probe->reply.set_completed(probe->reply.completed() + 1);
        probe->reply.set_bytes(probe->reply.bytes() + probe->request.size());
        probe->latencies.push_back(
            static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - posted_at).count()));
      } else {
        probe->reply.set_failed(probe->reply.failed() + 1);
        if (probe->reply.first_error().empty())
          probe->reply.set_first_error(failure_text(event.outcome));
      }
      if (probe->reply.completed() + probe->reply.failed() < probe->request.count()) return probe_next(probe);
      const uint64_t ns =
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - probe->started).count());
      probe->reply.set_duration_ns(ns);
      probe->reply.set_goodput_bps(ns ? static_cast<double>(probe->reply.bytes()) * 8e9 / static_cast<double>(ns) : 0);
      auto& l = probe->latencies;
      std::sort(l.begin(), l.end());
      if (!l.empty()) {
        probe->reply.set_latency_p50_ns(l[l.size() / 2]);
        probe->reply.set_latency_p99_ns(l[std::min(l.size() - 1, l.size() * 99 / 100)]);
        probe->reply.set_latency_max_ns(l.back());
      }
      probe->done(v1::STATUS_OK, {}, probe->reply);
    };
    ++probe->posted;
    ++probe->in_flight;
  }
}

v1::RailsReply FabricService::rails() const {
  v1::RailsReply reply;
  if (!plane_) return reply;
  const FabricSnapshot snap = plane_->snapshot();
  for (size_t r = 0; r < rail_config_.size(); ++r) {
    const RailSnapshot& s = snap.rails[r];
    auto* out = reply.add_rails();
    out->set_name(rail_config_[r].name);
    out->set_driver(rail_config_[r].driver);
    out->set_state(rail_state(s));
    out->set_interface(rail_config_[r].interface);
    out->set_address(rail_config_[r].address);
    out->set_link(link_name(s.link));
    out->set_down_reason(down_reason(s));
    out->set_tx_goodput_bps(static_cast<double>(s.delivery_rate_Bps) * 8);
    out->set_tx_bps(s.tx_bps);
    out->set_rx_bps(s.rx_bps);
    out->set_rtt_us(static_cast<double>(s.srtt_ns) / 1000);
    out->set_window_bytes(s.window_bytes);
    out->set_inflight_bytes(s.inflight_bytes);
    out->set_retransmits(s.retransmits);
    out->set_timeouts(s.timeouts);
    out->set_spurious_timeouts(s.spurious_timeouts);
    out->set_keepalives(s.keepalives);
    out->set_tx_packets(s.counters.tx_frames);
    out->set_tx_bytes(s.counters.tx_bytes);
    out->set_rx_packets(s.counters.rx_frames);
    out->set_rx_bytes(s.counters.rx_bytes);
    out->set_ecn_marks(s.counters.rx_ecn_ce);
    out->set_tx_would_block(s.counters.tx_would_block);
    out->set_down_events(s.down_events);
    if (rail_config_[r].driver == "dpdk" && dpdk_) {
      out->set_device(rail_config_[r].device);
      dpdk_->describe(rail_config_[r].name, *out);
    }
    if (verbs_) verbs_->fill_rail(r, *out);
    ebpf_->fill(r, *out->mutable_ebpf());
  }
  return reply;
}

std::vector<RailCongestion> FabricService::rail_congestion() const {
  const FabricSnapshot snap = snapshot();
  std::vector<RailCongestion> out;
  for (size_t r = 0; r < rail_config_.size() && r < snap.rails.size(); ++r) {
    const RailSnapshot& s = snap.rails[r];
    out.push_back({.name = rail_config_[r].name,
                   .up = s.up,
                   .srtt_ns = s.srtt_ns,
                   .rx_frames = s.counters.rx_frames,
                   .rx_ecn_ce = s.counters.rx_ecn_ce});
  }
  return out;
}

bool FabricService::data_plane_progressing() {
  if (!plane_) return true;
  const uint64_t now = plane_->heartbeat();
  const bool moved = now != last_heartbeat_;
  last_heartbeat_ = now;
  // Both threads are checked every time (each keeps its own last heartbeat).
  const bool verbs_moved = !verbs_ || verbs_->progressing();
  return moved && verbs_moved;
}

v1::EbpfRail FabricService::ebpf(size_t r) const {
  v1::EbpfRail out;
  if (ebpf_ && r < rail_config_.size()) ebpf_->fill(r, out);
  return out;
}

v1::Status FabricService::fault(const v1::FaultRequest& request, std::string& error, v1::FaultReply& reply) {
  if (!fault_injection_) {
    error =
        "fault injection is off on this host: set fabric.fault_injection = true in railyard.toml and restart railyardd "
        "(meant for test racks; rack-sim turns it on)";
    return v1::STATUS_BAD_REQUEST;
  }
  size_t r = 0;
  while (r < rail_config_.size() && rail_config_[r].name != request.rail()) ++r;
  if (r == rail_config_.size() || !ebpf_) {
    error = fmt::format("no rail '{}' on this host (railctl rails lists them)", request.rail());
    return v1::STATUS_BAD_REQUEST;
  }
  error = check_fault(request);
  if (!error.empty()) return v1::STATUS_BAD_REQUEST;
  error = ebpf_->set_fault(r, request);
  if (!error.empty()) return v1::STATUS_INTERNAL;
  ebpf_->fill(r, *reply.mutable_rail());
  return v1::STATUS_OK;
}

v1::PeersReply FabricService::peers() const {
  v1::PeersReply reply;
  FabricSnapshot snap;
  if (plane_) snap = plane_->snapshot();
  for (size_t p = 0; p < peer_config_.size(); ++p) {
    auto* out = reply.add_peers();
    out->set_name(peer_config_[p].name);
    for (const auto& [rail, address] : peer_config_[p].addresses) {
      auto* pr = out->add_rails();
      pr->set_rail(rail);
      pr->set_address(address);
    }
    if (p >= snap.peers.size()) {
      out->set_state("connecting");
      continue;
    }
    const PeerSnapshot& s = snap.peers[p];
    out->set_state(s.established ? "established" : "connecting");
    out->set_session_id(s.session);
    out->set_bytes_sent(s.bytes_sent);
    out->set_bytes_received(s.bytes_received);
    out->set_handshakes(s.handshakes);
    out->set_handshake_failures(s.handshake_failures);
    out->set_confirmed(s.confirmed);
    out->set_sessions_replaced(s.sessions_replaced);
    out->set_sessions_desynchronized(s.sessions_desynchronized);
    out->set_duplicates(s.receiver.duplicates);
  }
  const auto& reasons = peer_refusal_reasons();
  for (size_t p = 0; p < channels_.size(); ++p) {
    const auto& c = channels_[p].counters();
    auto* peer = reply.mutable_peers(static_cast<int>(p));
    peer->set_packet_auth(std::string(fabric::packet_auth_name(packet_auth_)));
    auto* m = peer->mutable_messages();
    m->set_sent(c.messages_sent);
    m->set_delivered(c.messages_delivered);
    m->set_fragments_resent(c.fragments_resent);
    m->set_lost(c.dropped);
    m->set_out_of_order(c.out_of_order);
    m->set_duplicates(c.duplicates);
    if (p >= snap.peers.size()) continue;
    const PeerRefusals counts = peer_refusals(snap.peers[p], c);
    for (size_t k = 0; k < kPeerRefusalCount; ++k)
      if (counts[k] != 0) (*peer->mutable_refused())[std::string(reasons[k].name)] = counts[k];
  }
  for (size_t p = 0; p < peer_config_.size(); ++p) {
    reply.mutable_peers(static_cast<int>(p))->set_transfers_in_flight(outstanding_[p]);
    if (verbs_) verbs_->fill_peer(static_cast<uint16_t>(p), *reply.mutable_peers(static_cast<int>(p))->mutable_verbs());
  }
  auto* f = reply.mutable_fabric();
  f->set_rx_unknown_source(snap.rx_unknown_source);
  f->set_messages_dropped(snap.messages_dropped);
  for (size_t r = 1; r < fabric::kParseResultCount; ++r) {
    const uint64_t n = snap.malformed.by_result[r];
    if (n != 0)
      (*f->mutable_malformed())[std::string(fabric::parse_result_name(static_cast<fabric::ParseResult>(r)))] = n;
  }
  return reply;
}

std::vector<fabric::PeerChannelCounters> FabricService::message_counters() const {
  std::vector<fabric::PeerChannelCounters> out;
  out.reserve(channels_.size());
  for (const auto& c : channels_) out.push_back(c.counters());
  return out;
}

v1::TransfersReply FabricService::transfers() const {
  v1::TransfersReply reply;
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [id, t] : outbound_) {
    auto* out = reply.add_transfers();
    out->set_id(id);
    out->set_peer(peer_config_[t.peer].name);
    out->set_direction("out");
    out->set_traffic_class(class_name(t.activation));
    out->set_length(t.length);
    out->set_age_ms(
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now - t.posted).count()));
  }
  reply.set_completed_out(totals_.completed_out);
  reply.set_failed_out(totals_.failed_out);
  reply.set_completed_in(totals_.completed_in);
  reply.set_bytes_out(totals_.bytes_out);
  reply.set_bytes_in(totals_.bytes_in);
  return reply;
}

void FabricService::fill_status(v1::StatusReply& status) const {
  // Whole: a RailStatus or PeerStatus with only its name and state filled
  // printed every counter as 0 in `railctl --json status`.
  *status.mutable_rails() = rails().rails();
  v1::PeersReply p = peers();
  *status.mutable_peers() = std::move(*p.mutable_peers());
  *status.mutable_fabric() = p.fabric();
}

}  // namespace railyard::daemon
