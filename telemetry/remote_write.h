#pragma once
// Prometheus remote-write 1.0 push: snapshots become protobuf WriteRequests,
// snappy-compressed, POSTed with the protocol's headers to one or more
// endpoints through CurlMulti (never blocking the loop).
//
// Each endpoint has its own bounded buffer of samples and sends one request
// at a time, oldest samples first, so a series' samples arrive in order. A
// 5xx, 429 or connection error is retried with exponential backoff; any
// other answer (4xx) drops the batch and counts it. While a collector is
// away the buffer fills; past its size the oldest samples are dropped and
// counted in railyard_remote_write_dropped_samples_total{url=...}.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "telemetry/curl_asio.h"
#include "telemetry/registry.h"

namespace railyard::telemetry {

struct RemoteWriteEndpoint {
  std::string url;  ///< http:// or https://
  /// Sends "Authorization: Bearer <first line of the file>".
  std::string bearer_token_file;
  /// Basic auth: the user name and a file holding the password (first line).
  std::string basic_auth_username;
  std::string basic_auth_password_file;
  /// PEM trust anchors for TLS; empty: the system's. TLS is always verified.
  std::string ca_file;
};

struct RemoteWriteOptions {
  std::vector<RemoteWriteEndpoint> endpoints;
  /// Samples buffered per endpoint while it is slow or away.
  std::size_t buffer_samples = 100000;
  std::size_t max_samples_per_send = 2000;
  /// A partial batch waits at most this long for more samples.
  std::chrono::milliseconds batch_deadline{1000};
  std::chrono::milliseconds min_backoff{30};
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds request_timeout{10000};
  /// Labels added to every series (e.g. host), like Prometheus' external_labels.
  std::vector<std::pair<std::string, std::string>> external_labels;
};

/// One sample waiting to be sent: a label set (see RemoteWriter::labels) and
/// a timestamped value.
struct BufferedSample {
  std::uint32_t series;
  std::int64_t timestamp_ms;
  double value;
};

/// The label sets remote-write sends, one per exported sample name and labels
/// ("x_total{...}", "h_bucket{...,le="0.5"}", "h_sum{...}"...), built once
/// per registry series; sorted by name, with __name__ and external labels.
class RemoteSeriesTable {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;
  explicit RemoteSeriesTable(Labels external) : external_(std::move(external)) {}
  /// Index of the first label set of `series`; a histogram's are consecutive:
  /// buckets (incl. +Inf), then _sum, then _count.
  std::uint32_t base(const SeriesInfo& series);
  /// The label set as the `labels` fields of a prometheus.TimeSeries, encoded.
  const std::string& encoded_labels(std::uint32_t id) const { return encoded_[id]; }
  std::size_t size() const { return encoded_.size(); }

 private:
  void add(const SeriesInfo& series, const std::string& name, const std::string* le);
  Labels external_;
  std::vector<std::string> encoded_;
  std::unordered_map<const SeriesInfo*, std::uint32_t> base_;
};

/// Appends `snapshot`'s samples to `out` (label sets from `table`).
void flatten(const Snapshot& snapshot, RemoteSeriesTable& table, std::vector<BufferedSample>& out);

/// A prometheus.WriteRequest holding `samples`, serialised: one TimeSeries
/// per label set in order of first appearance, its samples in the order
/// given. Written directly in the protobuf wire format from pre-encoded label
/// sets, so a flush builds no message objects; the unit tests decode it with
/// the generated code from remote_write.proto.
std::string encode_write_request(const RemoteSeriesTable& table, const BufferedSample* samples, std::size_t count);
std::string compress_snappy(const std::string& raw);

class RemoteWriter {
 public:
  /// Registers its own metrics in `registry` (labelled url=...). `curl` and
  /// `registry` must outlive the writer.
  RemoteWriter(boost::asio::io_context& io, CurlMulti& curl, Registry& registry, RemoteWriteOptions options);
  ~RemoteWriter();
  RemoteWriter(const RemoteWriter&) = delete;
  RemoteWriter& operator=(const RemoteWriter&) = delete;

  /// Reads credential files and prepares the requests. On failure returns
  /// what is wrong, naming the file; nothing is sent then.
  std::string start();
  /// Ends in-flight requests and timers; buffered samples are kept.
  void stop();

  /// Queues every sample of `snapshot` on every endpoint.
  void push(const Snapshot& snapshot);

  struct EndpointStats {
    std::string url;
    std::size_t buffered = 0;  ///< waiting, including an in-flight batch
    std::uint64_t sent = 0;
    std::uint64_t dropped = 0;   ///< overflow
    std::uint64_t rejected = 0;  ///< refused with 4xx
    std::uint64_t failed_attempts = 0;
    bool healthy = true;  ///< the last attempt succeeded
  };
  std::vector<EndpointStats> stats() const;

 private:
  struct Endpoint;
  void enqueue(Endpoint& ep, const BufferedSample* samples, std::size_t count);
  void maybe_send(Endpoint& ep);
  void send_now(Endpoint& ep);
  void on_done(Endpoint& ep, CURLcode rc);
  void retry_later(Endpoint& ep, const std::string& why);

  boost::asio::io_context& io_;
  CurlMulti& curl_;
  Registry& registry_;
  RemoteWriteOptions options_;
  RemoteSeriesTable table_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::vector<BufferedSample> scratch_;
  bool started_ = false;
  std::shared_ptr<int> alive_;
};

/// The URL without user info, query or fragment: safe as a label and in logs.
std::string redact_url(const std::string& url);

}  // namespace railyard::telemetry
