#pragma once
// Prometheus text exposition format 0.0.4: HELP and TYPE per family, counters
// as "<name>_total", histograms as "_bucket{le=...}", "_sum" and "_count".

#include <string>
#include <string_view>

#include "telemetry/registry.h"

namespace railyard::telemetry {

/// The Content-Type of render_text's output.
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

/// Appends the exposition of `snapshot` to `out` (families without series
/// are left out; no timestamps, the scraper stamps them).
void render_text(const Snapshot& snapshot, std::string& out);
std::string render_text(const Snapshot& snapshot);

}  // namespace railyard::telemetry
