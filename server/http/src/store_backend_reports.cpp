// StoreBackend::PendingReports: the store's outbox (reports the centre has
// not acked) with the centre's `error` answers (JobStore::CentreAnswers).
#include "cardbureau/http/store_backend.h"

namespace cardbureau::http {

Result<std::vector<PendingReport>> StoreBackend::PendingReports() {
  CB_ASSIGN_OR_RETURN(auto pending, store_.PendingReports());
  CB_ASSIGN_OR_RETURN(auto answers, store_.CentreAnswers());
  std::vector<PendingReport> out;
  out.reserve(pending.size());
  for (const auto& p : pending) {
    PendingReport r;
    r.report_id = p.report_id;
    r.job_id = p.job_id;
    r.type = p.type;
    r.created_at_ms = p.created_at_ms;
    if (auto it = answers.find(p.report_id); it != answers.end()) {
      r.answer_code = it->second.code;
      r.answer_message = it->second.message;
      r.answered_at_ms = it->second.last_at_ms;
      r.answers = it->second.count;
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace cardbureau::http
