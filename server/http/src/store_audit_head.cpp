#include "cardbureau/http/store_audit_head.h"

namespace cardbureau::http {

Result<std::shared_ptr<StoreAuditHead>> StoreAuditHead::Open(
    server::JobStore& store, const std::filesystem::path& data_dir) {
  std::shared_ptr<StoreAuditHead> heads(new StoreAuditHead(store));
  const auto file = data_dir / std::string(kAuditHeadFileName);
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return heads;
  // An earlier version's head file: into the store (unless it has one), then gone.
  CB_ASSIGN_OR_RETURN(auto stored, store.AuditHead());
  if (!stored) {
    CB_ASSIGN_OR_RETURN(auto old, ReadAuditHead(data_dir));
    if (old) CB_RETURN_IF_ERROR(store.SetAuditHead(old->entries, old->last_hash));
  }
  std::filesystem::remove(file, ec);
  if (ec) return Status(Code::kIoError, "cannot remove " + file.string() + ": " + ec.message());
  return heads;
}

Result<std::optional<AuditHead>> StoreAuditHead::Read() {
  CB_ASSIGN_OR_RETURN(auto h, store_.AuditHead());
  if (!h) return std::optional<AuditHead>();
  return std::optional<AuditHead>(AuditHead{h->entries, h->last_hash});
}

Status StoreAuditHead::Write(const AuditHead& head) {
  return store_.SetAuditHead(head.entries, head.last_hash);
}

std::string StoreAuditHead::Describe() const { return "the store's audit_head (bureau.db)"; }

}  // namespace cardbureau::http
