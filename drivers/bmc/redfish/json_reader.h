#pragma once
// Typed, non-throwing access to a parsed Redfish document that records every
// wrong type in a Problems list. Internal to drivers/bmc/redfish.

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "drivers/bmc/redfish/resource.h"

namespace railyard::redfish {

/// Parses without throwing; on failure records malformed_json and returns
/// nothing. Depth is capped (Boost.JSON's default, 32) so hostile nesting
/// cannot exhaust the stack.
std::optional<boost::json::value> parse_json(std::string_view text, std::string_view uri,
                                             Problems& problems);

class JsonReader {
 public:
  JsonReader(std::string_view uri, Problems& problems) : uri_(uri), problems_(problems) {}

  std::string_view uri() const { return uri_; }
  Problems& problems() { return problems_; }

  /// Absent or null: nothing, silently. A number: its value. Anything else:
  /// wrong_type and nothing.
  std::optional<double> number(const boost::json::object& obj, std::string_view key,
                               std::string_view where);
  /// Absent or null: nothing. Not a string: wrong_type and nothing.
  std::optional<std::string_view> string(const boost::json::object& obj, std::string_view key,
                                         std::string_view where);
  /// Absent or null: nullptr. Not an object: wrong_type and nullptr.
  const boost::json::object* object(const boost::json::object& obj, std::string_view key,
                                    std::string_view where);
  /// Absent or null: nullptr. Not an array: wrong_type and nullptr.
  const boost::json::array* array(const boost::json::object& obj, std::string_view key,
                                  std::string_view where);
  /// obj[key]["@odata.id"] as a string; "" when absent or mistyped (recorded).
  std::string link(const boost::json::object& obj, std::string_view key, std::string_view where);

  void missing(std::string_view where, std::string_view key);
  void wrong_type(std::string_view where, std::string_view key, std::string_view expected);
  void report(ProblemKind kind, std::string_view where, std::string_view detail);

 private:
  std::string_view uri_;
  Problems& problems_;
};

/// The chassis a resource names in Links.Chassis (an array in CoolingUnit
/// and ComputerSystem, a single link in CoolingLoop): its last URI segment,
/// "" when absent.
std::string linked_chassis(const boost::json::object& doc);

/// JSON-pointer concatenation: pointer("/Temperatures", 3) = "/Temperatures/3".
std::string pointer(std::string_view base, std::string_view key);
std::string pointer(std::string_view base, std::size_t index);

}  // namespace railyard::redfish
