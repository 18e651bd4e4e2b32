#include "telemetry/remote_write.h"

#include <fmt/format.h>
#include <snappy.h>

#include <algorithm>
#include <bit>
#include <fstream>

#include "common/build_info.h"
#include "common/log.h"
#include "telemetry/text_escape.h"

namespace railyard::telemetry {

namespace {

// Protobuf wire format: tag = field << 3 | wire type (0 varint, 1 fixed64, 2 length-delimited).
constexpr char kTagTimeSeries = 0x0A;  // WriteRequest.timeseries = 1, LEN
constexpr char kTagLabel = 0x0A;       // TimeSeries.labels = 1, LEN
constexpr char kTagSample = 0x12;      // TimeSeries.samples = 2, LEN
constexpr char kTagName = 0x0A;        // Label.name = 1, LEN
constexpr char kTagValue = 0x12;       // Label.value = 2, LEN
constexpr char kTagSampleValue = 0x09;      // Sample.value = 1, I64 (double)
constexpr char kTagSampleTimestamp = 0x10;  // Sample.timestamp = 2, VARINT

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes `v` at `p` (at most 10 bytes); returns the end.
char* put_varint(char* p, std::uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

void put_bytes_field(std::string& out, char tag, std::string_view bytes) {  // label sets, built once
  char head[11];
  head[0] = tag;
  out.append(head, put_varint(head + 1, bytes.size()));
  out.append(bytes);
}

std::size_t sample_size(const BufferedSample& s) {
  // int64 timestamps are varints of their two's complement (10 bytes if negative).
  return 1 + 8 + 1 + varint_size(static_cast<std::uint64_t>(s.timestamp_ms));
}

}  // namespace

std::string redact_url(const std::string& url) {
  std::string out = url;
  if (auto cut = out.find_first_of("?#"); cut != std::string::npos) out.resize(cut);
  auto scheme = out.find("://");
  std::size_t host_start = scheme == std::string::npos ? 0 : scheme + 3;
  auto path = out.find('/', host_start);
  auto at = out.rfind('@', path == std::string::npos ? std::string::npos : path);
  if (at != std::string::npos && at >= host_start) out.erase(host_start, at + 1 - host_start);
  return out;
}

std::uint32_t RemoteSeriesTable::base(const SeriesInfo& series) {
  if (auto it = base_.find(&series); it != base_.end()) return it->second;
  auto first = static_cast<std::uint32_t>(encoded_.size());
  const FamilyInfo& f = *series.family;
  if (f.type != MetricType::histogram) {
    add(series, f.exposition_name, nullptr);
  } else {
    std::string le;
    for (double bound : f.buckets) {
      le.clear();
      append_value(le, bound);  // the same `le` as the text exposition
      add(series, f.name + "_bucket", &le);
    }
    le = "+Inf";
    add(series, f.name + "_bucket", &le);
    add(series, f.name + "_sum", nullptr);
    add(series, f.name + "_count", nullptr);
  }
  base_.emplace(&series, first);
  return first;
}

void RemoteSeriesTable::add(const SeriesInfo& series, const std::string& name, const std::string* le) {
  Labels l;
  l.reserve(series.label_values.size() + external_.size() + 2);
  l.emplace_back("__name__", name);
  const FamilyInfo& f = *series.family;
  for (std::size_t i = 0; i < f.labels.size(); ++i) {
    // An empty value means "no such label" to Prometheus: leave it out.
    if (!series.label_values[i].empty()) l.emplace_back(f.labels[i], series.label_values[i]);
  }
  if (le != nullptr) l.emplace_back("le", *le);
  for (const auto& [name_, value] : external_) {
    // A series' own label wins over an external one, as in Prometheus.
    bool own = std::any_of(l.begin(), l.end(), [&n = name_](const auto& p) { return p.first == n; });
    if (!own) l.emplace_back(name_, value);
  }
  std::sort(l.begin(), l.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string encoded;
  std::string label;
  for (const auto& [n, v] : l) {
    label.clear();
    put_bytes_field(label, kTagName, n);
    put_bytes_field(label, kTagValue, v);
    put_bytes_field(encoded, kTagLabel, label);
  }
  encoded_.push_back(std::move(encoded));
}

void flatten(const Snapshot& snapshot, RemoteSeriesTable& table, std::vector<BufferedSample>& out) {
  const std::int64_t ts = snapshot.timestamp_ms;
  for (const FamilySnapshot& fs : snapshot.families) {
    for (const SeriesValue& v : fs.series) {
      const std::uint32_t base = table.base(*v.series);
      if (fs.family->type != MetricType::histogram) {
        out.push_back({base, ts, v.value});
        continue;
      }
      const auto n = static_cast<std::uint32_t>(v.histogram.cumulative.size());
      for (std::uint32_t i = 0; i < n; ++i) out.push_back({base + i, ts, static_cast<double>(v.histogram.cumulative[i])});
      out.push_back({base + n, ts, v.histogram.sum});
      out.push_back({base + n + 1, ts, static_cast<double>(v.histogram.count)});
    }
  }
}

std::string encode_write_request(const RemoteSeriesTable& table, const BufferedSample* samples, std::size_t count) {
  // Group by label set, keeping first-appearance order (a counting sort over
  // the table's dense ids), and size everything before writing.
  constexpr std::uint32_t kNone = ~std::uint32_t{0};
  std::vector<std::uint32_t> group_of_set(table.size(), kNone);
  std::vector<std::uint32_t> order;   // label set of each group
  std::vector<std::uint32_t> counts;  // samples per group
  std::vector<std::uint32_t> group_of(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t& g = group_of_set[samples[i].series];
    if (g == kNone) {
      g = static_cast<std::uint32_t>(order.size());
      order.push_back(samples[i].series);
      counts.push_back(0);
    }
    group_of[i] = g;
    ++counts[g];
  }
  std::vector<std::uint32_t> start(order.size() + 1, 0);
  for (std::size_t g = 0; g < order.size(); ++g) start[g + 1] = start[g] + counts[g];
  std::vector<std::uint32_t> sorted(count);
  std::vector<std::size_t> body(order.size());
  {
    std::vector<std::uint32_t> fill(start.begin(), start.end() - 1);
    for (std::size_t i = 0; i < count; ++i) {
      sorted[fill[group_of[i]]++] = static_cast<std::uint32_t>(i);
      const std::size_t n = sample_size(samples[i]);
      body[group_of[i]] += 1 + varint_size(n) + n;
    }
  }
  std::size_t total = 0;
  for (std::size_t g = 0; g < order.size(); ++g) {
    body[g] += table.encoded_labels(order[g]).size();
    total += 1 + varint_size(body[g]) + body[g];
  }

  std::string out(total, '\0');
  char* p = out.data();
  for (std::size_t g = 0; g < order.size(); ++g) {
    const std::string& labels = table.encoded_labels(order[g]);
    *p++ = kTagTimeSeries;
    p = put_varint(p, body[g]);
    p = std::copy(labels.begin(), labels.end(), p);
    for (std::uint32_t k = start[g]; k < start[g + 1]; ++k) {
      const BufferedSample& s = samples[sorted[k]];
      *p++ = kTagSample;
      p = put_varint(p, sample_size(s));
      *p++ = kTagSampleValue;
      const auto bits = std::bit_cast<std::uint64_t>(s.value);
      for (int b = 0; b < 8; ++b) *p++ = static_cast<char>((bits >> (8 * b)) & 0xFF);  // little-endian
      *p++ = kTagSampleTimestamp;
      p = put_varint(p, static_cast<std::uint64_t>(s.timestamp_ms));
    }
  }
  return out;
}

std::string compress_snappy(const std::string& raw) {
  std::string out;
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

namespace {

std::string read_first_line(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return fmt::format("cannot read {}: {}", path, std::strerror(errno));
  std::getline(in, out);
  while (!out.empty() && (out.back() == '\r' || out.back() == ' ' || out.back() == '\t')) out.pop_back();
  if (out.empty()) return fmt::format("{} is empty: it must hold the secret on its first line", path);
  return {};
}

std::size_t collect_response(char* data, std::size_t size, std::size_t nmemb, void* user) {
  auto* out = static_cast<std::string*>(user);
  const std::size_t n = size * nmemb;
  if (out->size() < 512) out->append(data, std::min(n, 512 - out->size()));
  return n;
}

}  // namespace

struct RemoteWriter::Endpoint {
  explicit Endpoint(boost::asio::io_context& io) : timer(io) {}
  enum class State { idle, waiting, sending, backoff };

  RemoteWriteEndpoint config;
  std::string label;  // redacted URL
  // Oldest first: the batch of the current (or retried) request, then the
  // queue. batch[0, batch_skip) were dropped while the batch waited.
  std::vector<BufferedSample> batch;
  std::size_t batch_skip = 0;
  std::deque<BufferedSample> queue;
  State state = State::idle;
  std::chrono::milliseconds backoff{};
  boost::asio::steady_timer timer;
  CurlEasy easy;
  CurlSlist headers;
  std::string password;
  std::string body;
  std::string response;
  char error[CURL_ERROR_SIZE] = {};
  Counter sent_total, dropped_total, rejected_total, failed_total;
  Gauge buffered_gauge;
  EndpointStats stats;

  std::size_t buffered() const { return batch.size() - batch_skip + queue.size(); }
};

RemoteWriter::RemoteWriter(boost::asio::io_context& io, CurlMulti& curl, Registry& registry,
                           RemoteWriteOptions options)
    : io_(io),
      curl_(curl),
      registry_(registry),
      options_(std::move(options)),
      table_(options_.external_labels),
      alive_(std::make_shared<int>(0)) {
  options_.max_samples_per_send = std::max<std::size_t>(1, options_.max_samples_per_send);
  options_.buffer_samples = std::max<std::size_t>(1, options_.buffer_samples);
  auto counter = [&](const char* name, const char* help) {
    return registry_.counter_family({.name = name, .help = help, .labels = {"url"}});
  };
  auto sent = counter("railyard_remote_write_sent_samples", "Samples accepted by the remote-write endpoint.");
  auto dropped = counter("railyard_remote_write_dropped_samples",
                         "Samples dropped, oldest first, because the remote-write buffer was full.");
  auto rejected = counter("railyard_remote_write_rejected_samples",
                          "Samples the remote-write endpoint refused with a 4xx answer (never retried).");
  auto failed = counter("railyard_remote_write_failed_requests",
                        "Remote-write requests that failed with 5xx, 429 or a connection error (retried).");
  auto buffered = registry_.gauge_family({.name = "railyard_remote_write_buffered_samples",
                                          .help = "Samples waiting to be sent to the remote-write endpoint.",
                                          .labels = {"url"}});
  for (const RemoteWriteEndpoint& config : options_.endpoints) {
    auto ep = std::make_unique<Endpoint>(io_);
    ep->config = config;
    ep->label = redact_url(config.url);
    ep->stats.url = ep->label;
    ep->backoff = options_.min_backoff;
    ep->sent_total = sent.series({ep->label});
    ep->dropped_total = dropped.series({ep->label});
    ep->rejected_total = rejected.series({ep->label});
    ep->failed_total = failed.series({ep->label});
    ep->buffered_gauge = buffered.series({ep->label});
    endpoints_.push_back(std::move(ep));
  }
}

RemoteWriter::~RemoteWriter() { stop(); }

std::string RemoteWriter::start() {
  for (auto& ep_ptr : endpoints_) {
    Endpoint& ep = *ep_ptr;
    const RemoteWriteEndpoint& c = ep.config;
    if (!c.url.starts_with("http://") && !c.url.starts_with("https://")) {
      return fmt::format("remote-write url '{}' must start with http:// or https://", ep.label);
    }
    std::string token;
    if (!c.bearer_token_file.empty()) {
      if (!c.basic_auth_username.empty()) return fmt::format("remote-write {}: bearer token and basic auth both set", ep.label);
      if (auto err = read_first_line(c.bearer_token_file, token); !err.empty()) return err;
    }
    if (!c.basic_auth_username.empty()) {
      if (auto err = read_first_line(c.basic_auth_password_file, ep.password); !err.empty()) return err;
    }
    ep.easy = make_curl_easy();
    if (!ep.easy) return "cannot create a libcurl handle";
    CURL* e = ep.easy.get();
    ep.headers.reset();
    for (std::string line : {std::string("Content-Encoding: snappy"), std::string("Content-Type: application/x-protobuf"),
                             std::string("X-Prometheus-Remote-Write-Version: 0.1.0"), std::string("Expect:")}) {
      if (!append_header(ep.headers, line)) return "out of memory";
    }
    if (!token.empty() && !append_header(ep.headers, "Authorization: Bearer " + token)) return "out of memory";
    curl_easy_setopt(e, CURLOPT_URL, c.url.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, ep.headers.get());
    static const std::string user_agent = fmt::format("railyard/{}", kVersion);
    curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!c.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, c.ca_file.c_str());
    if (!c.basic_auth_username.empty()) {
      curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(e, CURLOPT_USERNAME, c.basic_auth_username.c_str());
      curl_easy_setopt(e, CURLOPT_PASSWORD, ep.password.c_str());
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &collect_response);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &ep.response);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ep.error);
  }
  started_ = true;
  for (auto& ep : endpoints_) maybe_send(*ep);
  return {};
}

void RemoteWriter::stop() {
  started_ = false;
  for (auto& ep : endpoints_) {
    if (ep->state == Endpoint::State::sending && ep->easy) curl_.cancel(ep->easy.get());
    ep->timer.cancel();
    ep->state = Endpoint::State::idle;
  }
}

void RemoteWriter::push(const Snapshot& snapshot) {
  if (endpoints_.empty()) return;
  scratch_.clear();
  flatten(snapshot, table_, scratch_);
  for (auto& ep : endpoints_) {
    enqueue(*ep, scratch_.data(), scratch_.size());
    maybe_send(*ep);
  }
}

void RemoteWriter::enqueue(Endpoint& ep, const BufferedSample* samples, std::size_t count) {
  const std::size_t cap = options_.buffer_samples;
  std::uint64_t dropped = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (ep.buffered() >= cap) {
      ++dropped;
      // The oldest sample not on the wire goes: a waiting batch's, then the queue's.
      if (ep.state != Endpoint::State::sending && ep.batch_skip < ep.batch.size()) {
        ++ep.batch_skip;
      } else if (!ep.queue.empty()) {
        ep.queue.pop_front();
      } else {
        continue;  // everything older is on the wire: this one is the oldest left
      }
    }
    ep.queue.push_back(samples[i]);
  }
  if (dropped > 0) {
    if (ep.stats.dropped == 0) {
      log::warning("telemetry: remote-write {}: buffer full ({} samples), dropping the oldest", ep.label, cap);
    }
    ep.stats.dropped += dropped;
    ep.dropped_total.inc(dropped);
  }
  ep.buffered_gauge.set(static_cast<double>(ep.buffered()));
}

void RemoteWriter::maybe_send(Endpoint& ep) {
  using State = Endpoint::State;
  if (!started_ || ep.state == State::sending || ep.state == State::backoff) return;
  if (ep.buffered() == 0) return;
  if (ep.batch_skip < ep.batch.size() || ep.queue.size() >= options_.max_samples_per_send) {
    ep.timer.cancel();
    send_now(ep);
    return;
  }
  if (ep.state == State::waiting) return;
  ep.state = State::waiting;
  ep.timer.expires_after(options_.batch_deadline);
  ep.timer.async_wait([this, &ep, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired() || ep.state != Endpoint::State::waiting) return;
    send_now(ep);
  });
}

void RemoteWriter::send_now(Endpoint& ep) {
  if (ep.batch_skip >= ep.batch.size()) {
    ep.batch.clear();
    ep.batch_skip = 0;
    const std::size_t n = std::min(ep.queue.size(), options_.max_samples_per_send);
    ep.batch.assign(ep.queue.begin(), ep.queue.begin() + static_cast<std::ptrdiff_t>(n));
    ep.queue.erase(ep.queue.begin(), ep.queue.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (ep.batch.empty()) {
    ep.state = Endpoint::State::idle;
    return;
  }
  ep.body = compress_snappy(
      encode_write_request(table_, ep.batch.data() + ep.batch_skip, ep.batch.size() - ep.batch_skip));
  ep.response.clear();
  ep.error[0] = '\0';
  curl_easy_setopt(ep.easy.get(), CURLOPT_POSTFIELDS, ep.body.data());
  curl_easy_setopt(ep.easy.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(ep.body.size()));
  ep.state = Endpoint::State::sending;
  bool ok = curl_.submit(ep.easy.get(), [this, &ep, alive = std::weak_ptr<int>(alive_)](CURLcode rc) {
    if (!alive.expired()) on_done(ep, rc);
  });
  if (!ok) retry_later(ep, "libcurl refused the request");
}

void RemoteWriter::on_done(Endpoint& ep, CURLcode rc) {
  long code = 0;
  curl_easy_getinfo(ep.easy.get(), CURLINFO_RESPONSE_CODE, &code);
  const std::size_t n = ep.batch.size() - ep.batch_skip;
  if (rc != CURLE_OK) {
    retry_later(ep, ep.error[0] != '\0' ? std::string(ep.error) : std::string(curl_easy_strerror(rc)));
    return;
  }
  if (code >= 500 || code == 429) {
    retry_later(ep, fmt::format("HTTP {}: {}", code, ep.response));
    return;
  }
  if (code / 100 == 2) {
    ep.stats.sent += n;
    ep.sent_total.inc(n);
    if (!ep.stats.healthy) log::notice("telemetry: remote-write {}: delivering again", ep.label);
    ep.stats.healthy = true;
  } else {
    ep.stats.rejected += n;
    ep.rejected_total.inc(n);
    log::warning("telemetry: remote-write {}: HTTP {}, dropped {} samples: {}", ep.label, code, n, ep.response);
  }
  ep.batch.clear();
  ep.batch_skip = 0;
  ep.backoff = options_.min_backoff;
  ep.state = Endpoint::State::idle;
  ep.buffered_gauge.set(static_cast<double>(ep.buffered()));
  maybe_send(ep);
}

void RemoteWriter::retry_later(Endpoint& ep, const std::string& why) {
  ++ep.stats.failed_attempts;
  ep.failed_total.inc();
  if (ep.stats.healthy) {
    log::warning("telemetry: remote-write {}: {}; buffering and retrying", ep.label, why);
  } else {
    log::debug("telemetry: remote-write {}: {}; retry in {} ms", ep.label, why, ep.backoff.count());
  }
  ep.stats.healthy = false;
  ep.state = Endpoint::State::backoff;
  ep.timer.expires_after(ep.backoff);
  ep.backoff = std::min(ep.backoff * 2, options_.max_backoff);
  ep.timer.async_wait([this, &ep, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired() || ep.state != Endpoint::State::backoff) return;
    send_now(ep);
  });
}

std::vector<RemoteWriter::EndpointStats> RemoteWriter::stats() const {
  std::vector<EndpointStats> out;
  for (const auto& ep : endpoints_) {
    EndpointStats s = ep->stats;
    s.buffered = ep->buffered();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace railyard::telemetry
