#include "drivers/bmc/redfish/json_reader.h"

#include <boost/json/parse.hpp>
#include <fmt/format.h>

#include <exception>
#include <new>

namespace railyard::redfish {
namespace json = boost::json;

namespace {

std::string_view kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "bool";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
  }
  return "?";
}

}  // namespace

std::optional<json::value> parse_json(std::string_view text, std::string_view uri,
                                      Problems& problems) {
  json::error_code ec;
  json::parse_options options;  // strict JSON, max_depth 32
  json::value v;
  try {
    v = json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    // Limits (string or array too large) surface as exceptions.
    problems.add(ProblemKind::malformed_json, uri, "", e.what());
    return std::nullopt;
  }
  if (ec) {
    problems.add(ProblemKind::malformed_json, uri, "", ec.message());
    return std::nullopt;
  }
  return v;
}

std::string linked_chassis(const json::object& doc) {
  const auto* links = doc.if_contains("Links");
  if (links == nullptr || !links->is_object()) return {};
  const auto* chassis = links->as_object().if_contains("Chassis");
  if (chassis == nullptr) return {};
  const json::object* first = nullptr;
  if (const auto* a = chassis->if_array(); a != nullptr && !a->empty()) {
    first = (*a)[0].if_object();
  } else {
    first = chassis->if_object();
  }
  if (first == nullptr) return {};
  const auto* id = first->if_contains("@odata.id");
  if (id == nullptr || !id->is_string()) return {};
  const auto& s = id->as_string();
  return last_segment(std::string_view(s.data(), s.size()));
}

std::string pointer(std::string_view base, std::string_view key) {
  std::string out;
  out.reserve(base.size() + key.size() + 1);
  out.append(base);
  out.push_back('/');
  // RFC 6901 escaping; Redfish names rarely need it but DataSourceUri-like
  // keys ("@odata.id") and '/' in OEM names do occur.
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string pointer(std::string_view base, std::size_t index) {
  return fmt::format("{}/{}", base, index);
}

void JsonReader::report(ProblemKind kind, std::string_view where, std::string_view detail) {
  problems_.add(kind, uri_, where, detail);
}

void JsonReader::missing(std::string_view where, std::string_view key) {
  report(ProblemKind::missing_property, pointer(where, key), fmt::format("no {}", key));
}

void JsonReader::wrong_type(std::string_view where, std::string_view key,
                            std::string_view expected) {
  report(ProblemKind::wrong_type, pointer(where, key), fmt::format("{} is not {}", key, expected));
}

std::optional<double> JsonReader::number(const json::object& obj, std::string_view key,
                                         std::string_view where) {
  const auto* v = obj.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (const auto* d = v->if_double()) return *d;
  if (const auto* i = v->if_int64()) return static_cast<double>(*i);
  if (const auto* u = v->if_uint64()) return static_cast<double>(*u);
  report(ProblemKind::wrong_type, pointer(where, key),
         fmt::format("{} is {}, not number", key, kind_name(*v)));
  return std::nullopt;
}

std::optional<std::string_view> JsonReader::string(const json::object& obj, std::string_view key,
                                                   std::string_view where) {
  const auto* v = obj.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (const auto* s = v->if_string()) return std::string_view(s->data(), s->size());
  report(ProblemKind::wrong_type, pointer(where, key),
         fmt::format("{} is {}, not string", key, kind_name(*v)));
  return std::nullopt;
}

const json::object* JsonReader::object(const json::object& obj, std::string_view key,
                                       std::string_view where) {
  const auto* v = obj.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr || v->is_null()) return nullptr;
  if (const auto* o = v->if_object()) return o;
  report(ProblemKind::wrong_type, pointer(where, key),
         fmt::format("{} is {}, not object", key, kind_name(*v)));
  return nullptr;
}

const json::array* JsonReader::array(const json::object& obj, std::string_view key,
                                     std::string_view where) {
  const auto* v = obj.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr || v->is_null()) return nullptr;
  if (const auto* a = v->if_array()) return a;
  report(ProblemKind::wrong_type, pointer(where, key),
         fmt::format("{} is {}, not array", key, kind_name(*v)));
  return nullptr;
}

std::string JsonReader::link(const json::object& obj, std::string_view key,
                             std::string_view where) {
  const auto* target = object(obj, key, where);
  if (target == nullptr) return {};
  const auto id = string(*target, "@odata.id", pointer(where, key));
  if (!id) {
    if (!target->contains("@odata.id")) missing(pointer(where, key), "@odata.id");
    return {};
  }
  return std::string(*id);
}

}  // namespace railyard::redfish
