#include "daemon/daemon.h"

#include <unistd.h>

#include <csignal>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/build_info.h"
#include "common/log.h"

namespace railyard::daemon {

namespace {
// Sections the running daemon cannot change in place: a reload reports them
// and keeps their running values, so `railctl status` never shows a
// configuration that is not in force.
std::vector<std::string> keep_running_sections(const config::Config& running, config::Config& next) {
  std::vector<std::string> kept;
  auto keep = [&](bool same, const char* what, auto& field, const auto& value) {
    if (same) return;
    kept.emplace_back(what);
    field = value;
  };
  keep(next.daemon.host_name == running.daemon.host_name, "daemon.host_name", next.daemon.host_name,
       running.daemon.host_name);
  keep(next.fabric == running.fabric, "[fabric]", next.fabric, running.fabric);
  keep(next.rails == running.rails, "[[rail]]", next.rails, running.rails);
  keep(next.peers == running.peers, "[[peer]]", next.peers, running.peers);
  keep(next.bmc == running.bmc, "[bmc]", next.bmc, running.bmc);
  keep(next.telemetry == running.telemetry, "[telemetry]", next.telemetry, running.telemetry);
  keep(next.dpdk == running.dpdk, "[dpdk]", next.dpdk, running.dpdk);
  keep(next.verbs == running.verbs, "[verbs]", next.verbs, running.verbs);
  keep(next.policy == running.policy, "[policy]", next.policy, running.policy);
  return kept;
}
}  // namespace

Daemon::Daemon(Options options, config::Located initial)
    : signals_(io_, SIGTERM, SIGINT, SIGHUP),
      options_(std::move(options)),
      config_(std::move(initial.config)),
      from_file_(initial.from_file),
      config_loaded_at_(std::chrono::system_clock::now()),
      started_at_(std::chrono::steady_clock::now()),
      control_service_(control_handlers()),
      control_server_(io_, control_service_),
      // A ping means the control loop runs (it sends it) and the data plane loops.
      watchdog_(io_, [this] { return !fabric_ || fabric_->data_plane_progressing(); }) {}

ControlServer::Settings Daemon::control_settings(const config::Config& c) {
  return {.socket_path = c.control.socket_path,
          .socket_mode = c.control.socket_mode,
          .group = c.control.group,
          .read_group = c.control.read_group,
          .max_message_bytes = c.control.max_message_bytes};
}

WorkloadServer::Settings Daemon::workload_settings(const config::Config& c) {
  return {.socket_path = c.fabric.workload_socket,
          .socket_mode = c.control.socket_mode,
          .group = c.control.group,
          .host_name = c.daemon.host_name};
}

ControlHandlers Daemon::control_handlers() {
  return ControlHandlers{
      .status = [this] { return status(); },
      .rails = [this] { return fabric_ ? fabric_->rails() : v1::RailsReply(); },
      .peers = [this] { return fabric_ ? fabric_->peers() : v1::PeersReply(); },
      .transfers = [this] { return fabric_ ? fabric_->transfers() : v1::TransfersReply(); },
      .bmc =
          [this] {
            if (bmc_) return bmc_->reply();
            v1::BmcReply reply;
            reply.set_state("not configured");
            return reply;
          },
      .fault =
          [this](const v1::FaultRequest& r, std::string& error, v1::FaultReply& reply) {
            if (!fabric_) {
              error = "the fabric is not running";
              return v1::STATUS_INTERNAL;
            }
            return fabric_->fault(r, error, reply);
          },
      .watch = [this](const v1::WatchRequest& r) { return telemetry_ ? telemetry_->watch(r) : v1::WatchUpdate(); },
      .send =
          [this](const v1::SendRequest& request, std::function<void(v1::Status, std::string, v1::SendReply)> done) {
            if (!fabric_) return done(v1::STATUS_INTERNAL, "the fabric is not running", {});
            fabric_->send(request, std::move(done));
          },
      // policy (issue 8)
      .policy = [this] { return policy_ ? policy_->reply() : v1::PolicyReply(); },
      .throttle =
          [this](const v1::ThrottleRequest& r, std::string& error, v1::PolicyReply& reply) {
            if (!policy_) {
              error = "the policy is not running";
              return v1::STATUS_INTERNAL;
            }
            if (!policy_->throttle(r.level(), "railctl", error)) return v1::STATUS_BAD_REQUEST;
            reply = policy_->reply();
            return v1::STATUS_OK;
          },
      .drain =
          [this] {
            if (!policy_) return v1::PolicyReply();
            policy_->set_drain("railctl");
            return policy_->reply();
          },
      // live migration (issue 9)
      .migrate =
          [this](const v1::MigrateRequest& r, std::function<void(v1::Status, std::string, v1::MigrationStatus)> done) {
            if (!migration_) return done(v1::STATUS_INTERNAL, "migration is not running", {});
            const std::vector<uint64_t> ids(r.sequences().begin(), r.sequences().end());
            std::string error;
            // Answered at the end, or now (with the first state) when not waiting.
            auto shared = std::make_shared<decltype(done)>(std::move(done));
            const bool wait = r.wait();
            const bool started = migration_->migrate(
                r.to(), ids, "operator",
                [shared, wait](const v1::MigrationStatus& status) {
                  if (wait) (*shared)(v1::STATUS_OK, "", status);
                },
                error);
            if (!started) return (*shared)(v1::STATUS_BAD_REQUEST, error, {});
            if (!wait) (*shared)(v1::STATUS_OK, "", migration_->outgoing().value_or(v1::MigrationStatus()));
          },
      .workload = [this] { return migration_ ? migration_->workload() : v1::WorkloadReply(); },
  };
}

void Daemon::apply_log_level() const { log::set_threshold(config_.daemon.log_level); }

// Start-up order; stop() undoes it in reverse.
void Daemon::start() {
  apply_log_level();
  log::info("railyardd {} starting on host {} with {}", kVersion, config_.daemon.host_name,
            from_file_ ? "config " + config_.source_path : std::string("embedded default config"));
  control_server_.open(control_settings(config_));
  fabric_ = std::make_unique<FabricService>(io_, config_, regions_);
  workloads_ = std::make_unique<WorkloadServer>(
      io_, regions_,
      TransferPort{.post = [this](uint64_t owner, const v1::PostTransfer& p) { return fabric_->post(owner, p); },
                   .abandon_owner = [this](uint64_t owner) { fabric_->abandon_owner(owner); },
                   .peer_names = [this] { return fabric_->peer_names(); }});
  fabric_->attach(*workloads_);
  workloads_->open(workload_settings(config_));
  migration_ = std::make_unique<MigrationService>(io_, MigrationService::Settings{.host = config_.daemon.host_name},
                                                  *fabric_, *workloads_);
  migration_->start();
  telemetry_ = std::make_unique<TelemetryService>(io_, config_);
  telemetry_->watch_fabric(*fabric_, config_.rails, config_.peers);
  if (!config_.bmc.url.empty())
    bmc_ = std::make_unique<BmcService>(io_, telemetry_->curl(), telemetry_->registry(), config_);
  // ---- policy (issue 8): after bmc_ and telemetry_, stopped before them ----
  policy_ = std::make_unique<PolicyService>(
      io_, telemetry_->registry(),
      PolicyService::Settings{
          .host = config_.daemon.host_name,
          .bmc_poll = std::chrono::milliseconds(config_.bmc.poll_interval_ms),
          .actuators = PolicyService::open_actuators(config_.policy, cgroup::detect(), /*workload_channel=*/true)},
      bmc_.get());
  policy_->on_apply([this](policy::Rung level, bool draining, const std::string& reason, uint64_t command) {
    v1::ThrottleCommand c;
    c.set_level(static_cast<uint32_t>(level));
    c.set_level_name(std::string(policy::to_string(level)));
    c.set_reason(reason);
    c.set_command_id(command);
    c.set_drain(draining);
    return workloads_->throttle(c) > 0;  // with no workload connected there is no answer to wait for
  });
  workloads_->on_throttle_result([this](uint64_t command, bool ok, const std::string& message) {
    if (!ok) log::warning("policy: throttle command {} failed: {}", command, message);
    // The workload channel serves the admission and batch rungs.
    policy_->report(command, std::min(policy_->applied_level(), policy::Rung::batch),
                    ok ? policy::Outcome::applied : policy::Outcome::failed);
  });
  policy_->watch_rails([this] { return fabric_->rail_congestion(); });
  // The policy's migrate action takes the operator's path (issue 9).
  policy_->on_migrate([this](const std::string& reason, std::function<void(bool)> done) {
    std::string error;
    const bool started = migration_->migrate(
        "", {}, "policy: " + reason, [done](const v1::MigrationStatus& s) { done(s.state() == "done"); }, error);
    if (!started) log::warning("policy: cannot migrate: {}", error);
    return started;
  });
  migration_->on_peer_headroom(
      [this](double share) { policy_->observe(policy::Signal::peer_headroom, share); });
  migration_->headroom_source([this](v1::Headroom& h) {
    h.set_throttle_level(static_cast<uint32_t>(policy_->applied_level()));
    h.set_draining(policy_->applied_draining());
    // Margin and congestion as the policy's last evaluation saw them (fresh readings only).
    const auto& in = policy_->last().inputs;
    auto fresh = [&](policy::Signal signal) -> const policy::SignalView* {
      const auto& v = in[policy::index(signal)];
      return v.freshness == policy::Freshness::fresh ? &v : nullptr;
    };
    if (const auto* c = fresh(policy::Signal::congestion)) h.set_congestion(c->value);
    for (const auto signal : {policy::Signal::coolant_supply_c, policy::Signal::gpu_temp_c}) {
      const auto* t = fresh(signal);
      if (t != nullptr && t->limits.has_limit())
        h.set_thermal_margin_c(std::min(h.thermal_margin_c(), t->limits.limit - t->value));
    }
  });
  policy_->start();
  // ---- end policy ----
  telemetry_->start();
  wait_for_signal();
  const auto watchdog = watchdog_.start();
  if (watchdog.count() > 0) log::info("systemd watchdog: {} ms, pinged every quarter", watchdog.count() / 1000);
  notify_ready(fmt::format("serving control socket {}", control_server_.socket_path()));
  log::notice("railyardd ready (pid {})", ::getpid());
}

void Daemon::stop() {
  notify_stopping();
  log::notice("railyardd stopping");
  watchdog_.stop();
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  if (policy_) policy_->stop();  // policy (issue 8): before the BMC and telemetry it reads
  // The BMC session is deleted asynchronously (bounded to 500 ms); the loop
  // runs until it is done.
  if (bmc_) bmc_->stop([] {});
  if (telemetry_) telemetry_->stop();
  if (migration_) migration_->stop();
  if (workloads_) workloads_->close();
  if (fabric_) fabric_->stop();
  control_server_.close();
}

void Daemon::run() {
  start();
  io_.run();
  log::notice("railyardd stopped");
}

void Daemon::wait_for_signal() {
  signals_.async_wait([this](boost::system::error_code ec, int signal) {
    if (ec) return;
    on_signal(signal);
  });
}

void Daemon::on_signal(int signal) {
  if (signal == SIGHUP) {
    reload();
    wait_for_signal();
    return;
  }
  log::notice("received {}", signal == SIGTERM ? "SIGTERM" : "SIGINT");
  stop();
}

void Daemon::reload() {
  notify_reloading();
  log::notice("SIGHUP: reloading configuration");
  try {
    // A daemon started from a file re-reads that file; one running on the
    // embedded defaults picks up a file newly placed at the default path.
    config::Located next = from_file_
                               ? config::Located{config::load_file(config_.source_path), true}
                               : config::locate_and_load(options_.config_path, kDefaultConfigPath);
    control_server_.apply(control_settings(next.config));
    const auto kept = keep_running_sections(config_, next.config);
    if (!kept.empty())
      log::warning("reload: changes to {} take effect when railyardd restarts; until then the running values stay",
                   fmt::join(kept, ", "));
    config_ = std::move(next.config);
    from_file_ = next.from_file;
    ++config_generation_;
    config_loaded_at_ = std::chrono::system_clock::now();
    apply_log_level();
    log::notice("configuration reloaded (generation {}) from {}", config_generation_,
                from_file_ ? config_.source_path : std::string("embedded defaults"));
    notify_ready("reloaded configuration");
  } catch (const std::exception& e) {
    ++reloads_refused_;
    log::err("reload refused, the running configuration stays in force:\n{}", e.what());
    notify_ready("reload refused; running the previous configuration");
  }
}

v1::StatusReply Daemon::status() const {
  v1::StatusReply reply;
  reply.set_version(std::string(kVersion));
  reply.set_host_name(config_.daemon.host_name);
  reply.set_pid(::getpid());
  reply.set_uptime_ms(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_at_)
          .count()));
  reply.set_config_path(from_file_ ? config_.source_path : "");
  reply.set_config_source(from_file_ ? "file" : "embedded defaults");
  reply.set_config_generation(config_generation_);
  reply.set_config_loaded_unix_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(config_loaded_at_.time_since_epoch()).count());
  reply.set_config_reloads_refused(reloads_refused_);
  reply.mutable_features()->set_dpdk(kHaveDpdk);
  reply.mutable_features()->set_verbs(kHaveVerbs);
  reply.mutable_features()->set_ebpf(kHaveEbpf);
  if (fabric_) fabric_->fill_status(reply);
  reply.set_workloads(workloads_ ? static_cast<uint32_t>(workloads_->workloads()) : 0);
  return reply;
}

}  // namespace railyard::daemon
