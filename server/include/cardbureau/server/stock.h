// Card stock lots (issue 21): blank student-card stock arrives from the
// transit operator in lots, with a manifest naming every card's UID, its
// transit card number (市政交通一卡通卡号) and its card type. Every card is a
// controlled item: the store keeps each one as unused, produced (bound to a
// job) or spoiled (reject hopper, with the reason and the time), and the
// report per lot balances: received = produced + spoiled + remaining.
//
// Tables (schema 7, job_store.cpp's migrations): stock_lots (one row per
// imported lot), stock_cards (one row per card of a lot). The store code is
// in stock_store.cpp behind JobStore (job_store.h); the lot file parser here
// is pure.
//
// How cards change status (in the same transaction as the history rows of
// the job that used them):
//   - unused -> produced: the job's card is bound to the job (advance to
//     `encoded`, JobStore::AdvanceWith);
//   - unused -> spoiled, or produced -> spoiled by the same job: a history
//     row "card"/"rejected" carrying the UID (the reject hopper), with the
//     row's code as the reason;
//   - a card produced by another job, or already spoiled, keeps its status.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"

namespace cardbureau::server {

// One card of an operator's lot file.
struct StockCardLine {
  int line = 0;            // 1-based line of the file (the header is line 1)
  std::string uid;         // upper-case hex, 8 or 14 digits
  std::string transit_no;  // 10-20 digits
  CardType card_type = CardType::kMifareClassic1K;
  std::string expires;  // "YYYY-MM-DD" or ""
};

struct StockLotFile {
  std::string lot_id;
  std::string sha256;  // of the file's bytes (hex): the same file is never imported twice
  std::vector<StockCardLine> cards;
};

// Lot ids: 1-64 of [A-Za-z0-9._-], not starting with '.'.
bool IsValidLotId(std::string_view lot_id);
// "LOT-7.csv" -> "LOT-7" (the file name without its extension).
std::string LotIdFromFileName(std::string_view file_name);
// Accepts "mifare-classic-1k" / "mifare-classic-4k" (also "1k" / "4k").
Result<CardType> ParseStockCardType(std::string_view text);

// Parses a lot file: a header `uid,transit_no,card_type` or
// `uid,transit_no,card_type,expires`, then one card per line (blank lines
// and CR LF endings allowed, fields trimmed). STOCK_LOT_INVALID listing
// every bad line ("line 7: UID 04A1 is not hex of 4 or 7 bytes; ...") when
// any line is bad: a UID not hex of 4 or 7 bytes, a UID twice in the file,
// a transit number that is not 10-20 digits, an unknown card type, an
// expiry not YYYY-MM-DD, a wrong number of fields; also for a bad header,
// no card at all, or a bad lot id. Pure.
Result<StockLotFile> ParseStockLot(std::string_view text, std::string_view lot_id);

// The line's stock check answer: the card's lot row (empty lot_id when the
// check was skipped: no lot imported and stock.required false).
struct StockCardInfo {
  std::string lot_id;
  std::string uid;
  std::string transit_no;
  CardType card_type = CardType::kMifareClassic1K;
};

struct StockProduced {
  std::string uid;
  std::string job_id;
  int64_t at_ms = 0;
};

struct StockSpoiled {
  std::string lot_id;
  std::string uid;
  std::string transit_no;
  std::string job_id;  // the job whose card it was ("" when none)
  std::string reason;  // catalogue code (the reject's code)
  std::string message;
  int64_t at_ms = 0;
};

// One lot as the report shows it: received = produced + spoiled + remaining.
struct StockLotReport {
  std::string lot_id;
  int64_t imported_at_ms = 0;
  int64_t received = 0;
  int64_t produced = 0;
  int64_t spoiled = 0;
  int64_t remaining = 0;
  std::vector<StockProduced> produced_cards;  // oldest first
  std::vector<StockSpoiled> spoiled_cards;    // oldest first
};

// Remaining unused cards per card type (the dashboard's stock gauge).
struct StockByType {
  CardType card_type = CardType::kMifareClassic1K;
  int64_t received = 0;
  int64_t remaining = 0;
};

}  // namespace cardbureau::server
