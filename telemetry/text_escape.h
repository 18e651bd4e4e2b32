#pragma once
// Escaping and number formatting of the Prometheus text format 0.0.4
// (defined in prometheus_text.cc); shared by the registry, which pre-renders
// each series' label block once, and the renderer.

#include <string>
#include <string_view>

namespace railyard::telemetry {

/// Label value: backslash, double quote and line feed escaped.
void append_escaped_label_value(std::string& out, std::string_view value);
/// HELP text: backslash and line feed escaped.
void append_escaped_help(std::string& out, std::string_view help);
/// A sample value as Go's strconv.FormatFloat(v, 'g', -1, 64) would read it
/// back: shortest round-trip digits, "NaN", "+Inf", "-Inf".
void append_value(std::string& out, double value);

}  // namespace railyard::telemetry
