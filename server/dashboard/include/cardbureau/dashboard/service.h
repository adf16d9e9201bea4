// `cardbureau serve --http HOST:PORT`: the operator dashboard beside the
// bureau. MakeHttpService loads the token file (TokenTable::Load: refused
// when group/other-writable), opens DATA/dashboard-audit.jsonl, builds a
// LineBackend over the store and the bureau's line, subscribes it to the
// bureau's job events and starts the HTTP server (the audit trail's head is
// kept in the store: http::StoreAuditHead); it logs
// "cardbureau serve: dashboard on http://HOST:PORT" on stderr. Destroying the service
// stops the server and detaches from the bureau.
//
// Errors: INVALID_CONFIG (listen address), KEY_FILE_INSECURE / IO_ERROR /
// INVALID_JSON (token file), IO_ERROR (audit trail, bind).
#pragma once

#include <memory>

#include "cardbureau/server/commands.h"

namespace cardbureau::dashboard {

Result<std::unique_ptr<server::Service>> MakeHttpService(const server::ServeContext& context);

}  // namespace cardbureau::dashboard
