#include "tests/unit/bmc/mockup_service.h"

#include <boost/json.hpp>

#include <deque>
#include <fstream>
#include <iterator>

namespace railyard::redfish::mock {
namespace json = boost::json;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::filesystem::path MockupService::file_for(std::string_view uri) const {
  constexpr std::string_view kRoot = "/redfish/v1";
  std::string_view rest = uri.substr(kRoot.size());
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  return rest.empty() ? root_ / "index.json" : root_ / std::string(rest) / "index.json";
}

std::optional<std::string> MockupService::get(std::string_view uri, bool expand) {
  requests_.emplace_back(uri);
  if (!uri.starts_with("/redfish/v1") || uri.find("..") != std::string_view::npos) {
    return std::nullopt;
  }
  const auto path = file_for(uri);
  if (!std::filesystem::exists(path)) return std::nullopt;
  std::string body = read_file(path);
  if (!expand) return body;
  json::value doc = json::parse(body);
  auto* members = doc.as_object().if_contains("Members");
  if (members == nullptr || !members->is_array()) return body;
  for (auto& m : members->as_array()) {
    const auto& id = m.as_object().at("@odata.id").as_string();
    const auto member_path = file_for(std::string_view(id.data(), id.size()));
    if (std::filesystem::exists(member_path)) m = json::parse(read_file(member_path));
  }
  return json::serialize(doc);
}

Walk discover(Discovery& discovery, MockupService& service, bool honour_expand) {
  Walk walk;
  std::deque<Fetch> queue;
  auto root = service.get("/redfish/v1");
  ++walk.gets;
  for (auto& f : discovery.start(*root)) queue.push_back(std::move(f));
  while (!queue.empty()) {
    const Fetch f = std::move(queue.front());
    queue.pop_front();
    ++walk.gets;
    auto body = service.get(f.uri, f.expand && honour_expand);
    if (!body) {
      walk.not_found.insert(f.uri);
      discovery.on_failure(f.uri);
      continue;
    }
    for (auto& next : discovery.on_document(f.uri, *body)) queue.push_back(std::move(next));
  }
  walk.targets = discovery.poll_targets();
  return walk;
}

Sweep poll(const std::vector<PollTarget>& targets, MockupService& service, TimePoint now) {
  Sweep sweep;
  std::vector<Reading> all;
  for (const auto& t : targets) {
    auto body = service.get(t.uri, t.expand);
    if (!body) continue;
    auto result = extract(t.uri, *body, {.chassis_id = t.chassis_id, .read_at = now, .hint = t.kind});
    sweep.problems.merge(result.problems);
    for (auto& r : result.readings) all.push_back(std::move(r));
  }
  sweep.readings = merge_sweep(std::move(all));
  return sweep;
}

}  // namespace railyard::redfish::mock
