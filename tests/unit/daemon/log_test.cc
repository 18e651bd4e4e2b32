#include "common/log.h"

#include <gtest/gtest.h>

namespace railyard::log {
namespace {

// "reload refused ...:\n<the reasons>" put the reasons on lines without a
// priority, which journald files at info: `journalctl -p err` showed the
// first line only.
TEST(Log, EveryLineOfAMessageCarriesItsPriority) {
  EXPECT_EQ(format(Level::err, "reload refused:\nfile:3:1: unknown key"),
            "<3>reload refused:\n<3>file:3:1: unknown key\n");
  EXPECT_EQ(format(Level::warning, "one line"), "<4>one line\n");
  EXPECT_EQ(format(Level::info, "ends with a newline\n"), "<6>ends with a newline\n");
  EXPECT_EQ(format(Level::notice, "a\n\nb"), "<5>a\n<5>\n<5>b\n");
  EXPECT_EQ(format(Level::debug, ""), "<7>\n");
}

}  // namespace
}  // namespace railyard::log
