#include "cardbureau/encoder/personalizer.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>

#include "card_session.h"
#include "cardbureau/encoder/diversify.h"
#include "cardbureau/encoder/sector_trailer.h"

namespace cardbureau::encoder {
namespace {

using devices::KeyType;

std::string SectorName(int sector) { return "sector " + std::to_string(sector); }

enum class OpenedWith { kKeyB, kTransportA };

// The state of one Encode call. Lives on the caller's stack only.
class EncodeRun {
 public:
  EncodeRun(const KeySet& keys, const PersonalizerConfig& config, CardSession& session,
            const UidCheck& check_uid)
      : keys_(keys), config_(config), s_(session), check_uid_(check_uid) {}

  Result<EncodeOutcome> Run(const Job& job, const StudentRecord& wanted, size_t record_size,
                            devices::CardSize size);

 private:
  Status DeriveKeys();
  Result<OpenedWith> Open(int sector);
  Result<bool> InspectExistingRecord(const Job& job);
  ByteView TargetBlock(int block) const;

  const KeySet& keys_;
  const PersonalizerConfig& config_;
  CardSession& s_;
  const UidCheck& check_uid_;

  Bytes uid_;
  std::optional<SectorPlan> plan_;
  std::map<int, MifareKey> key_a_, key_b_;
  AesKey mac_key_;
  Bytes target_;                  // the record area to leave on the card
  std::map<int, size_t> offset_;  // data block -> offset in the record area
  std::map<int, Bytes> known_;    // sector -> its data as read in this call
  int key_b_loaded_for_ = -1;
};

Status EncodeRun::DeriveKeys() {
  const uint16_t aid = plan_->student_aid();
  for (int sector : plan_->student_sectors()) {
    const auto sec = static_cast<uint8_t>(sector);
    CB_ASSIGN_OR_RETURN(MifareKey a, DeriveKeyA(keys_, uid_, aid, sec));
    CB_ASSIGN_OR_RETURN(MifareKey b, DeriveKeyB(keys_, uid_, aid, sec));
    key_a_.emplace(sector, std::move(a));
    key_b_.emplace(sector, std::move(b));
  }
  CB_ASSIGN_OR_RETURN(mac_key_, DeriveMacKey(keys_, uid_, aid));
  size_t offset = 0;
  for (int block : plan_->record_blocks()) {
    offset_[block] = offset;
    offset += devices::kBlockSize;
  }
  return Status::Ok();
}

ByteView EncodeRun::TargetBlock(int block) const {
  return ByteView(target_).subspan(offset_.at(block), devices::kBlockSize);
}

// Diversified key B first (the sector was personalized by an earlier
// attempt), then the transport key A (blank).
Result<OpenedWith> EncodeRun::Open(int sector) {
  if (key_b_loaded_for_ != sector) {
    CB_RETURN_IF_ERROR(s_.LoadKey(kSlotSectorKey, key_b_.at(sector)));
    key_b_loaded_for_ = sector;
  }
  const Status b = s_.Authenticate(sector, KeyType::kB, kSlotSectorKey);
  if (b.ok()) return OpenedWith::kKeyB;
  if (b.code() != Code::kAuthFailed) return b;
  const Status a = s_.Authenticate(sector, KeyType::kA, kSlotTransport);
  if (a.ok()) return OpenedWith::kTransportA;
  if (a.code() != Code::kAuthFailed) return a;
  return Status(
      Code::kAuthFailed,
      SectorName(sector) + " opens with neither its diversified key B nor the transport key");
}

// Called when the last student sector already carries our key B, i.e. an
// earlier attempt (of some job) got at least that far. Looks at the magic
// before anything is written. Returns true when the card holds this job's
// complete record (adopted as the target), false when the record is partial
// (no magic: safe to overwrite).
Result<bool> EncodeRun::InspectExistingRecord(const Job& job) {
  const std::vector<int>& sectors = plan_->student_sectors();
  CB_ASSIGN_OR_RETURN(OpenedWith first_opened, Open(sectors.front()));
  (void)first_opened;
  CB_ASSIGN_OR_RETURN(Bytes magic_block, s_.ReadBlock(plan_->magic_block()));
  if (!std::equal(kRecordMagic.begin(), kRecordMagic.end(), magic_block.begin())) return false;

  // The magic is written last of all: the whole record is there. Read it.
  Bytes area;
  for (int sector : sectors) {
    if (sector != sectors.front()) {
      CB_ASSIGN_OR_RETURN(OpenedWith opened, Open(sector));
      (void)opened;
    }
    Bytes data;
    for (int block : plan_->DataBlocksOf(sector)) {
      Bytes got;
      if (block == plan_->magic_block()) {
        got = magic_block;
      } else {
        CB_ASSIGN_OR_RETURN(got, s_.ReadBlock(block));
      }
      data.insert(data.end(), got.begin(), got.end());
    }
    area.insert(area.end(), data.begin(), data.end());
    known_[sector] = std::move(data);
  }
  auto parsed = ParseRecord(area);
  if (!parsed.ok()) {
    return Status(
        Code::kCardAlreadyPersonalized,
        "the card holds a student record that does not parse (" + parsed.status().ToString() + ")");
  }
  if (!VerifyRecordMac(area, *parsed, uid_, mac_key_).ok()) {
    return Status(Code::kCardAlreadyPersonalized,
                  "the card holds a student record whose MAC does not verify");
  }
  if (parsed->record.job_id != job.job_id) {
    return Status(Code::kCardAlreadyPersonalized,
                  "the card holds the complete record of job " + parsed->record.job_id);
  }
  target_ = std::move(area);
  return true;
}

Result<EncodeOutcome> EncodeRun::Run(const Job& job, const StudentRecord& wanted,
                                     size_t record_size, devices::CardSize size) {
  // 1. UID, MAD, student sectors.
  CB_ASSIGN_OR_RETURN(uid_, s_.GetUid());
  if (check_uid_) CB_RETURN_IF_ERROR(check_uid_(uid_));
  CB_ASSIGN_OR_RETURN(MadDirectory mad, ReadMad(s_, size));
  CB_ASSIGN_OR_RETURN(SectorPlan plan, SectorPlan::FromMad(mad, config_.aids));
  plan_.emplace(std::move(plan));
  s_.SetPlan(&*plan_);
  if (record_size > plan_->capacity()) {
    return Status(Code::kCardStockInvalid,
                  "the card's " + std::to_string(plan_->student_sectors().size()) +
                      " student sectors hold " + std::to_string(plan_->capacity()) +
                      " bytes, the record needs " + std::to_string(record_size));
  }
  CB_RETURN_IF_ERROR(DeriveKeys());
  CB_ASSIGN_OR_RETURN(
      target_, EncodeRecord(wanted, uid_, mac_key_, plan_->capacity(), config_.max_record_bytes));
  CB_RETURN_IF_ERROR(s_.LoadKey(kSlotTransport, TransportKey()));

  // 2. Each student sector from the last to the first.
  const std::vector<int>& sectors = plan_->student_sectors();
  EncodeKind kind = EncodeKind::kWritten;
  bool adopted = false;
  bool wrote = false;
  std::map<int, Bytes> final_data;
  for (auto it = sectors.rbegin(); it != sectors.rend(); ++it) {
    const int sector = *it;
    CB_ASSIGN_OR_RETURN(OpenedWith opened, Open(sector));
    if (it == sectors.rbegin() && opened == OpenedWith::kKeyB) {
      // Trailers are written last sector first: only a card whose last
      // sector already has our key B can hold a complete record.
      kind = EncodeKind::kResumed;
      CB_ASSIGN_OR_RETURN(adopted, InspectExistingRecord(job));
      CB_ASSIGN_OR_RETURN(opened, Open(sector));
    }

    std::vector<int> blocks = plan_->DataBlocksOf(sector);
    if (sector == sectors.front()) {
      // The block holding the magic goes last of all.
      std::rotate(blocks.begin(), blocks.begin() + 1, blocks.end());
    }
    std::map<int, Bytes> sector_data;
    const auto known = known_.find(sector);
    for (int block : blocks) {
      const ByteView want = TargetBlock(block);
      if (known != known_.end()) {
        const ByteView have =
            ByteView(known->second)
                .subspan(static_cast<size_t>(block - devices::FirstBlockOfSector(sector)) *
                             devices::kBlockSize,
                         devices::kBlockSize);
        if (std::equal(want.begin(), want.end(), have.begin())) {
          sector_data[block] = Bytes(have.begin(), have.end());
          continue;
        }
      }
      CB_RETURN_IF_ERROR(s_.WriteDataBlock(block, want));
      wrote = true;
      CB_ASSIGN_OR_RETURN(Bytes got, s_.ReadBlock(block));
      if (!std::equal(want.begin(), want.end(), got.begin(), got.end())) {
        return Status(Code::kVerifyMismatch, "block " + std::to_string(block) +
                                                 " reads back differently from what was written");
      }
      sector_data[block] = std::move(got);
    }

    if (opened == OpenedWith::kTransportA) {
      CB_ASSIGN_OR_RETURN(SectorTrailer trailer,
                          SectorTrailer::Build(key_a_.at(sector), StudentAccessConditions(), 0x00,
                                               key_b_.at(sector)));
      CB_RETURN_IF_ERROR(s_.WriteTrailer(sector, trailer));
      wrote = true;
      const Status reauth = s_.Authenticate(sector, KeyType::kB, kSlotSectorKey);
      if (!reauth.ok()) {
        if (reauth.code() != Code::kAuthFailed) return reauth;
        return Status(Code::kAuthFailed, "the new key B does not open " + SectorName(sector) +
                                             " after its trailer write");
      }
      for (int block : plan_->DataBlocksOf(sector)) {
        CB_ASSIGN_OR_RETURN(Bytes got, s_.ReadBlock(block));
        const ByteView want = TargetBlock(block);
        if (!std::equal(want.begin(), want.end(), got.begin(), got.end())) {
          return Status(Code::kVerifyMismatch, "block " + std::to_string(block) +
                                                   " differs when read back with the new key B");
        }
        sector_data[block] = std::move(got);
      }
    }
    Bytes data;
    for (auto& [block, bytes] : sector_data) data.insert(data.end(), bytes.begin(), bytes.end());
    final_data[sector] = std::move(data);
  }

  // 3. Done only when the whole record, as read back under the final keys,
  //    carries a good MAC and is exactly what we meant to leave.
  Bytes area;
  for (int sector : sectors)
    area.insert(area.end(), final_data[sector].begin(), final_data[sector].end());
  if (area != target_) {
    return Status(Code::kVerifyMismatch, "the record read back differs from the record written");
  }
  auto decoded = DecodeRecord(area, uid_, mac_key_);
  if (!decoded.ok()) {
    return Status(Code::kVerifyMismatch,
                  "the record read back does not verify: " + decoded.status().ToString());
  }
  if (decoded->job_id != job.job_id) {
    return Status(Code::kVerifyMismatch, "the record read back names another job");
  }
  if (adopted) kind = wrote ? EncodeKind::kResumed : EncodeKind::kAlreadyDone;

  EncodeOutcome out;
  out.uid = uid_;
  out.size = size;
  out.kind = kind;
  out.student_sectors = sectors;
  out.record = std::move(*decoded);
  return out;
}

}  // namespace

std::string_view ToString(EncodeKind kind) {
  switch (kind) {
    case EncodeKind::kWritten:
      return "written";
    case EncodeKind::kResumed:
      return "resumed";
    case EncodeKind::kAlreadyDone:
      return "already-done";
  }
  return "written";
}

Personalizer::Personalizer(KeySet keys, PersonalizerConfig config)
    : keys_(std::move(keys)), config_(std::move(config)) {}

Result<EncodeOutcome> Personalizer::Encode(devices::CardChannel& channel, const Job& job,
                                           const EncodeParams& params,
                                           const UidCheck& check_uid) const {
  const StudentRecord wanted = RecordFromJob(job, params.issued_on, params.issue_sequence);
  // RECORD_TOO_LARGE is the job's fault: say so before touching the card.
  CB_ASSIGN_OR_RETURN(size_t record_size, EncodedRecordSize(wanted, config_.max_record_bytes));
  CB_ASSIGN_OR_RETURN(devices::CardSize size, CardSizeFromAtr(channel.Atr()));
  const devices::CardSize wanted_size = job.card.card_type == CardType::kMifareClassic4K
                                            ? devices::CardSize::k4K
                                            : devices::CardSize::k1K;
  if (size != wanted_size) {
    return Status(Code::kCardStockInvalid, "the job asks for " +
                                               std::string(ToString(job.card.card_type)) +
                                               " but the card in the reader is MIFARE Classic " +
                                               (size == devices::CardSize::k4K ? "4K" : "1K"));
  }
  CardSession session(channel);
  EncodeRun run(keys_, config_, session, check_uid);
  auto out = run.Run(job, wanted, record_size, size);
  if (!out.ok()) return out;
  out->apdus = session.apdu_count();
  return out;
}

int MinimumApdusForBlankCard(devices::CardSize size, int student_sectors,
                             int data_blocks_per_sector) {
  const int d = data_blocks_per_sector;
  int n = 1;       // get UID
  n += 1 + 1 + 2;  // load MAD key, authenticate sector 0, read blocks 1-2
  if (size == devices::CardSize::k4K) n += 1 + 3;  // authenticate sector 16, read 64-66
  n += 1;                                          // load the transport key
  // per sector: load key B, key-B attempt, transport key A, write+read back
  // each block, trailer, authenticate with the new key B, read back all.
  n += student_sectors * (1 + 1 + 1 + 2 * d + 1 + 1 + d);
  return n;
}

}  // namespace cardbureau::encoder
