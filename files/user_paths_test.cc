#include "files/user_paths.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace fp4moe::files {
namespace {

TEST(UserPathTest, RelativePathsResolveAgainstTheDirectoryBazelRanFrom) {
  ASSERT_EQ(::setenv("BUILD_WORKING_DIRECTORY", "/home/user/work", 1), 0);
  EXPECT_EQ(UserPath("model/config.json"), "/home/user/work/model/config.json");
  EXPECT_EQ(UserPath("/abs/x.safetensors"), "/abs/x.safetensors");
  EXPECT_EQ(UserPath(""), "");
  ASSERT_EQ(::unsetenv("BUILD_WORKING_DIRECTORY"), 0);
  EXPECT_EQ(UserPath("model/config.json"), "model/config.json");
}

}  // namespace
}  // namespace fp4moe::files
