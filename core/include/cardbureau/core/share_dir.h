// Where the executable finds its shared, read-only files (the dashboard
// page, the card templates), looked up at run time from the executable's own
// location, never from a path fixed at build time alone:
//
//  1. $CARDBUREAU_SHARE_DIR when set (an installed layout: web/, templates/);
//  2. <prefix>/share/cardbureau when the executable is <prefix>/bin/<name>
//     (the Debian package: /usr/bin/cardbureau -> /usr/share/cardbureau;
//     `cmake --install . --prefix P` -> P/share/cardbureau);
//  3. the source tree (web/, layout/templates/, fixtures/keys/), only while
//     the executable sits inside the build tree it was built in — a copied or
//     installed binary never reaches back into a source checkout.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cardbureau/core/status.h"

namespace cardbureau {

enum class SharedItem {
  kWeb,        // the operator dashboard page (installed: share/cardbureau/web)
  kTemplates,  // card templates (installed: share/cardbureau/templates)
  kTestKeys,   // fixtures/keys: TEST-ONLY keys, source tree only, never installed
};

// What the lookup depends on; ShareLookupInputs::Current() is this process.
struct ShareLookupInputs {
  std::filesystem::path executable;  // canonical path of the running binary
  std::string env_share_dir;         // $CARDBUREAU_SHARE_DIR ("" = unset)
  std::filesystem::path build_dir;   // the build tree this binary was built in
  std::filesystem::path source_dir;  // the source tree of that build

  static ShareLookupInputs Current();
};

// The running executable's path (/proc/self/exe, " (deleted)" stripped so a
// binary replaced by an upgrade still finds its files); empty if unreadable.
std::filesystem::path ExecutablePath();

// Every directory that may hold `item`, in lookup order (pure; no file
// system access except canonicalising the build dir).
std::vector<std::filesystem::path> SharedCandidates(SharedItem item, const ShareLookupInputs& in);

// The first candidate that is a directory, or NOT_FOUND naming every place
// looked at.
Result<std::filesystem::path> FindShared(
    SharedItem item, const ShareLookupInputs& in = ShareLookupInputs::Current());

}  // namespace cardbureau
