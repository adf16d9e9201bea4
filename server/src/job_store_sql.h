// Private to the JobStore's .cpp files: SQL text more than one of them uses.
#pragma once

namespace cardbureau::server {

inline constexpr const char* kJobColumns =
    "job_id, state, school_code, card_no, student_name, job_json, photo_sha256, report_id, "
    "received_at, updated_at, acked_at, purged_at, reprint_of, reprinted_by, voided_at, card_uid";

}  // namespace cardbureau::server
