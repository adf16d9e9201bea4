// The field rules of protocol.md, applied to a parsed Job. Pure functions of
// their inputs and the injected clock; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/clock.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"

namespace cardbureau {

// Optional glyph check for student.name / school.name: returns OK or
// UNRENDERABLE_GLYPH naming the code points. Layout provides the real one
// (font chain); core cannot see fonts.
using GlyphCheck = std::function<Status(std::u32string_view text)>;

struct ValidationOptions {
  const Clock* clock = &SystemClock::Instance();
  GlyphCheck glyph_check;  // empty = skip the font check
};

// Validates every field rule and fills in card.valid_until when absent
// (30 September of the graduation year). Returns the first violation:
// INVALID_FIELD, INVALID_CHECKSUM or EXPIRED with the field path, or
// UNRENDERABLE_GLYPH from the glyph check.
Status ValidateJob(Job& job, const ValidationOptions& options);

// Photo frame checks that need only the bytes: size limit (INPUT_TOO_LARGE
// as PHOTO_UNREADABLE), sha256 match (PHOTO_HASH_MISMATCH), and that the
// magic bytes match photo.format (PHOTO_UNREADABLE). Face and quality checks
// are layout's.
Status ValidatePhotoBytes(const Job& job, ByteView photo);

// Individual rules, exposed for tests and for other parsers.
bool IsValidJobId(std::string_view id);
// GB 11643-1999 citizen number: 17 digits + MOD 11-2 check char, real birth
// date at positions 7-14 (1-based). Returns OK, INVALID_FIELD (form or date)
// or INVALID_CHECKSUM.
Status CheckCitizenNumber(std::string_view id18);
// ISO 7064 MOD 11-2 check character of 17 digits ('0'-'9' or 'X').
char Mod11_2CheckChar(std::string_view digits17);

// Decodes UTF-8 strictly (no overlongs, no surrogates, no > U+10FFFF).
Result<std::u32string> DecodeUtf8(std::string_view text);
std::string EncodeUtf8(std::u32string_view text);

// True for code points in any CJK Unified Ideographs block (URO, Ext-A..G,
// compatibility ideographs).
bool IsHan(char32_t cp);

}  // namespace cardbureau
