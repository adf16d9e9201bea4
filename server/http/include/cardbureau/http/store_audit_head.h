// StoreAuditHead: the dashboard audit trail's chain head kept in the bureau's
// job store (bureau.db, table audit_head; JobStore::AuditHead/SetAuditHead),
// so that a truncated trail is detected by `cardbureau audit verify`.
//
// Open migrates the head of an earlier version, DATA/dashboard-audit.head:
// when the store has no head yet, the file's is stored and the file
// removed; when the store has one, the store's is the head and a left-over
// file is removed. A head file that cannot be read is STORAGE_ERROR (the
// trail cannot be checked; nothing is changed).
//
// Thread-safety: as JobStore. The store must outlive this object.
#pragma once

#include <filesystem>
#include <memory>

#include "cardbureau/http/audit_trail.h"
#include "cardbureau/server/job_store.h"

namespace cardbureau::http {

class StoreAuditHead final : public AuditHeadStore {
 public:
  static Result<std::shared_ptr<StoreAuditHead>> Open(server::JobStore& store,
                                                      const std::filesystem::path& data_dir);
  Result<std::optional<AuditHead>> Read() override;
  Status Write(const AuditHead& head) override;
  std::string Describe() const override;

 private:
  explicit StoreAuditHead(server::JobStore& store) : store_(store) {}
  server::JobStore& store_;
};

}  // namespace cardbureau::http
