#include "telemetry/prometheus_text.h"

#include <charconv>
#include <cmath>

#include "telemetry/text_escape.h"

namespace railyard::telemetry {

void append_escaped_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out.append("\\\\"); break;
      case '"': out.append("\\\""); break;
      case '\n': out.append("\\n"); break;
      default: out.push_back(c);
    }
  }
}

void append_escaped_help(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      default: out.push_back(c);
    }
  }
}

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out.append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out.append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  // strconv.FormatFloat(v, 'g', -1, 64), as client_golang writes values:
  // shortest round-trip digits, exponent form when exp < -4 or exp >= 6.
  // Bucket bounds go through here too, so `le` matches what Go exporters emit.
  char sci[64];
  auto r = std::to_chars(sci, sci + sizeof sci, value, std::chars_format::scientific);
  std::string_view s(sci, static_cast<std::size_t>(r.ptr - sci));
  int exp = 0;
  const char* e = s.data() + s.find('e') + 1;
  if (*e == '+') ++e;
  std::from_chars(e, s.data() + s.size(), exp);
  if (exp < -4 || exp >= 6) {
    out.append(s);
    return;
  }
  char fixed[64];
  auto f = std::to_chars(fixed, fixed + sizeof fixed, value, std::chars_format::fixed);
  out.append(fixed, static_cast<std::size_t>(f.ptr - fixed));
}

namespace {

void append_line_start(std::string& out, const FamilyInfo& f, std::string_view suffix_text) {
  out.append(f.exposition_name);
  out.append(suffix_text);
}

// `{a="x",le="0.5"}` from the series' pre-rendered `{a="x"}`.
void append_labels_with_le(std::string& out, const SeriesInfo& s, std::string_view le) {
  if (s.text_labels.empty()) {
    out.append("{le=\"");
  } else {
    out.append(s.text_labels, 0, s.text_labels.size() - 1);
    out.append(",le=\"");
  }
  out.append(le);
  out.append("\"}");
}

}  // namespace

void render_text(const Snapshot& snapshot, std::string& out) {
  std::string le;
  for (const FamilySnapshot& fs : snapshot.families) {
    if (fs.series.empty()) continue;
    const FamilyInfo& f = *fs.family;
    out.append("# HELP ");
    out.append(f.exposition_name);
    out.push_back(' ');
    append_escaped_help(out, f.help);
    out.append("\n# TYPE ");
    out.append(f.exposition_name);
    out.push_back(' ');
    out.append(to_string(f.type));
    out.push_back('\n');
    for (const SeriesValue& v : fs.series) {
      const SeriesInfo& s = *v.series;
      if (f.type != MetricType::histogram) {
        append_line_start(out, f, "");
        out.append(s.text_labels);
        out.push_back(' ');
        append_value(out, v.value);
        out.push_back('\n');
        continue;
      }
      for (std::size_t i = 0; i < v.histogram.cumulative.size(); ++i) {
        le.clear();
        if (i < f.buckets.size()) {
          append_value(le, f.buckets[i]);
        } else {
          le = "+Inf";
        }
        append_line_start(out, f, "_bucket");
        append_labels_with_le(out, s, le);
        out.push_back(' ');
        append_value(out, static_cast<double>(v.histogram.cumulative[i]));
        out.push_back('\n');
      }
      append_line_start(out, f, "_sum");
      out.append(s.text_labels);
      out.push_back(' ');
      append_value(out, v.histogram.sum);
      out.push_back('\n');
      append_line_start(out, f, "_count");
      out.append(s.text_labels);
      out.push_back(' ');
      append_value(out, static_cast<double>(v.histogram.count));
      out.push_back('\n');
    }
  }
}

std::string render_text(const Snapshot& snapshot) {
  std::string out;
  render_text(snapshot, out);
  return out;
}

}  // namespace railyard::telemetry
