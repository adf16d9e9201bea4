#include "cardbureau/core/share_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace cardbureau {
namespace {

namespace fs = std::filesystem;

using V = std::vector<fs::path>;

ShareLookupInputs Inputs(const fs::path& exe) {
  ShareLookupInputs in;
  in.executable = exe;
  in.build_dir = "/src/cb/build/dev";
  in.source_dir = "/src/cb";
  return in;
}

TEST(SharedCandidates, InstalledBinaryLooksBesideItsPrefixOnly) {
  const auto in = Inputs("/usr/bin/cardbureau");
  EXPECT_EQ(SharedCandidates(SharedItem::kWeb, in), V{"/usr/share/cardbureau/web"});
  EXPECT_EQ(SharedCandidates(SharedItem::kTemplates, in), V{"/usr/share/cardbureau/templates"});
  // The test keys are never installed: an installed binary has no default.
  EXPECT_TRUE(SharedCandidates(SharedItem::kTestKeys, in).empty());
  EXPECT_EQ(SharedCandidates(SharedItem::kWeb, Inputs("/opt/cb/bin/cardbureau")),
            V{"/opt/cb/share/cardbureau/web"});
}

TEST(SharedCandidates, BuildTreeBinaryFallsBackToTheSourceTree) {
  const auto in = Inputs("/src/cb/build/dev/bin/cardbureau");
  EXPECT_EQ(SharedCandidates(SharedItem::kWeb, in),
            (V{"/src/cb/build/dev/share/cardbureau/web", "/src/cb/web"}));
  EXPECT_EQ(SharedCandidates(SharedItem::kTemplates, in),
            (V{"/src/cb/build/dev/share/cardbureau/templates", "/src/cb/layout/templates"}));
  EXPECT_EQ(SharedCandidates(SharedItem::kTestKeys, in), V{"/src/cb/fixtures/keys"});
  // A test binary elsewhere in the build tree too.
  EXPECT_EQ(SharedCandidates(SharedItem::kWeb, Inputs("/src/cb/build/dev/tests/http/t")),
            V{"/src/cb/web"});
}

TEST(SharedCandidates, CopiedBinaryNeverReachesTheSourceTree) {
  // Outside the build tree (a copy, a sibling build dir with a common prefix).
  EXPECT_TRUE(SharedCandidates(SharedItem::kWeb, Inputs("/tmp/x/cardbureau")).empty());
  EXPECT_TRUE(SharedCandidates(SharedItem::kWeb, Inputs("/src/cb/build/dev2/cardbureau")).empty());
  EXPECT_TRUE(SharedCandidates(SharedItem::kWeb, Inputs("")).empty());
}

TEST(SharedCandidates, EnvironmentOverrideComesFirst) {
  auto in = Inputs("/usr/bin/cardbureau");
  in.env_share_dir = "/srv/cb-share";
  EXPECT_EQ(SharedCandidates(SharedItem::kWeb, in),
            (V{"/srv/cb-share/web", "/usr/share/cardbureau/web"}));
  EXPECT_TRUE(SharedCandidates(SharedItem::kTestKeys, in).empty());
}

TEST(FindShared, FirstExistingDirectoryOrNotFoundNamingEveryPlace) {
  const fs::path root = fs::temp_directory_path() / ("cb-share-test-" + std::to_string(::getpid()));
  fs::create_directories(root / "bin");
  fs::create_directories(root / "share/cardbureau/web");
  ShareLookupInputs in;
  in.executable = root / "bin/cardbureau";
  auto web = FindShared(SharedItem::kWeb, in);
  ASSERT_TRUE(web.ok()) << web.status();
  EXPECT_EQ(*web, root / "share/cardbureau/web");
  auto templates = FindShared(SharedItem::kTemplates, in);
  ASSERT_FALSE(templates.ok());
  EXPECT_EQ(templates.status().code(), Code::kNotFound);
  EXPECT_NE(templates.status().message().find((root / "share/cardbureau/templates").string()),
            std::string::npos)
      << templates.status();
  fs::remove_all(root);
}

TEST(ExecutablePath, IsThisTestBinary) {
  const fs::path exe = ExecutablePath();
  ASSERT_FALSE(exe.empty());
  EXPECT_TRUE(fs::equivalent(exe, "/proc/self/exe"));
  // Built in this build tree: the source-tree fallback applies to it.
  const auto in = ShareLookupInputs::Current();
  EXPECT_EQ(in.executable, exe);
  auto web = FindShared(SharedItem::kWeb, in);
  ASSERT_TRUE(web.ok()) << web.status();
  EXPECT_TRUE(fs::exists(*web / "index.html"));
}

}  // namespace
}  // namespace cardbureau
