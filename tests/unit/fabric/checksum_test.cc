#include "fabric/checksum.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "tests/unit/fabric/test_util.h"

namespace railyard::fabric {
namespace {

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

TEST(Checksum, Crc32cCheckValue) {
  // The CRC-32C check value (RFC 3720, appendix B.4).
  EXPECT_EQ(crc32c(bytes("123456789")), 0xe3069283u);
  EXPECT_EQ(crc32c_portable(bytes("123456789")), 0xe3069283u);
  EXPECT_EQ(crc32c({}), 0u);
  // 32 zero bytes (RFC 3720, B.4).
  const std::vector<std::byte> zeros(32);
  EXPECT_EQ(crc32c(zeros), 0x8a9136aau);
}

TEST(Checksum, TheCpuPathAgreesWithTheTablesAtEveryLengthAndAlignment) {
  const std::vector<std::byte> data = testing::pattern(4096 + 16, 9);
  for (size_t start = 0; start < 16; ++start) {
    for (size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 65u, 1000u, 4096u}) {
      const auto s = std::span(data).subspan(start, len);
      EXPECT_EQ(crc32c(s), crc32c_portable(s)) << start << " " << len;
    }
  }
  // Continuing from an earlier value is the same as one pass.
  const auto all = std::span(data).first(3000);
  EXPECT_EQ(crc32c(all.subspan(1234), crc32c(all.first(1234))), crc32c(all));
}

}  // namespace
}  // namespace railyard::fabric
