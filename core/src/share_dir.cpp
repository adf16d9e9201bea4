#include "cardbureau/core/share_dir.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

namespace cardbureau {

namespace fs = std::filesystem;

namespace {

// True when `p` is `dir` or lies below it (both canonical).
bool IsInside(const fs::path& p, const fs::path& dir) {
  if (p.empty() || dir.empty()) return false;
  const auto [dir_end, p_it] = std::mismatch(dir.begin(), dir.end(), p.begin(), p.end());
  (void)p_it;
  return dir_end == dir.end();
}

fs::path Canonical(const fs::path& p) {
  if (p.empty()) return {};
  std::error_code ec;
  fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal() : c;
}

const char* InstalledName(SharedItem item) {
  switch (item) {
    case SharedItem::kWeb:
      return "web";
    case SharedItem::kTemplates:
      return "templates";
    case SharedItem::kTestKeys:
      return nullptr;  // never installed
  }
  return nullptr;
}

const char* SourceName(SharedItem item) {
  switch (item) {
    case SharedItem::kWeb:
      return "web";
    case SharedItem::kTemplates:
      return "layout/templates";
    case SharedItem::kTestKeys:
      return "fixtures/keys";
  }
  return "";
}

}  // namespace

fs::path ExecutablePath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string s(buf, static_cast<size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";
  if (s.ends_with(kDeleted)) s.resize(s.size() - kDeleted.size());
  return fs::path(s);
}

ShareLookupInputs ShareLookupInputs::Current() {
  ShareLookupInputs in;
  in.executable = ExecutablePath();
  if (const char* env = std::getenv("CARDBUREAU_SHARE_DIR"); env != nullptr) {
    in.env_share_dir = env;
  }
#if defined(CARDBUREAU_BINARY_DIR) && defined(CARDBUREAU_SOURCE_DIR)
  in.build_dir = CARDBUREAU_BINARY_DIR;
  in.source_dir = CARDBUREAU_SOURCE_DIR;
#endif
  return in;
}

std::vector<fs::path> SharedCandidates(SharedItem item, const ShareLookupInputs& in) {
  std::vector<fs::path> out;
  const char* installed = InstalledName(item);
  if (installed != nullptr && !in.env_share_dir.empty()) {
    out.push_back(fs::path(in.env_share_dir) / installed);
  }
  const fs::path exe = in.executable.lexically_normal();
  if (installed != nullptr && !exe.empty() && exe.has_parent_path() &&
      exe.parent_path().filename() == "bin") {
    out.push_back(exe.parent_path().parent_path() / "share" / "cardbureau" / installed);
  }
  if (!in.source_dir.empty() && IsInside(exe, Canonical(in.build_dir))) {
    out.push_back(in.source_dir / SourceName(item));
  }
  return out;
}

Result<fs::path> FindShared(SharedItem item, const ShareLookupInputs& in) {
  const auto candidates = SharedCandidates(item, in);
  std::string looked;
  for (const auto& dir : candidates) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return dir;
    looked += (looked.empty() ? "" : ", ") + dir.string();
  }
  if (looked.empty())
    looked = "nowhere: the executable is not in <prefix>/bin nor in its build tree";
  return Status(Code::kNotFound, std::string("no shared folder '") + SourceName(item) +
                                     "' (looked in " + looked + ")");
}

}  // namespace cardbureau
