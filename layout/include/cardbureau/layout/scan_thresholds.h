// Every limit and threshold of scan QA (layout/scan.h) in one place.
//
// How they were chosen (docs/qa.md has the figures): the capture simulator
// of the tests (tests/layout/capture_sim.h) made genuine captures over the
// whole range the issue names (rotation, up to 30 degrees of tilt, card
// 35-90 % of the image width, wood and cluttered backgrounds, lighting
// gradient, colour cast, blur, noise, JPEG q70-95, flatbed scans at
// 300-600 dpi) and tampered captures (one field changed each). The
// evaluation tool (scan_eval) printed, per field, the highest score of a
// genuine capture and the lowest score of a capture tampered in that field;
// each threshold sits between the two, nearer the tampered side where the
// gap allows (a false FAIL costs a reprint, a false PASS ships a wrong card).
// Scores are "lower is better": 0 = the scan matches the re-rendered face.
#pragma once

namespace cardbureau::layout::scan {

// ---- SCAN_UNUSABLE limits ----
// The card's longer side in the capture, pixels: below this the 6-9 pt
// digits are under ~4 px high and cannot be told apart.
inline constexpr double kMinCardLongSidePx = 480.0;
// The card must cover at least this fraction of the image width or height
// (the issue: >= 35 %; a margin below it for tilt).
inline constexpr double kMinCardFraction = 0.25;
// Mean luma (0..255) of the card's white background in the capture.
inline constexpr double kMinWhiteLuma = 45.0;
// Contrast (white minus ink, 0..255) of the card's text in the capture.
inline constexpr double kMinInkContrast = 25.0;
// Sharpness: the rectified card's high-frequency energy relative to the
// re-rendered face's, after both are brought to the same contrast. A
// Gaussian blur of sigma ~2.5 px at 300 dpi gives ~0.2; sharp captures 0.5+.
inline constexpr double kMinSharpnessRatio = 0.12;
// How well the found quadrilateral, once rectified, matches the expected
// face (normalised cross-correlation of the whole card at low resolution,
// QR box excluded): below this no card of this template was found.
inline constexpr double kMinCardMatch = 0.35;

// ---- Field verdict thresholds ----
// Text fields: the largest mean residual in a 1 mm window after the scan
// is aligned, lit and blurred like the re-render, as a fraction of the ink
// contrast. From the 200 + 200 evaluation (docs/qa.md; single threshold
// 0.07 then): genuine maxima name 0.050, gender 0.066, level text 0.064,
// digits (education_id, card_no, valid_until) 0.033, school 0.083 (flatbed
// scans at 450-520 dpi); tampered minima name 0.36, gender 0.18, card_no
// 0.14, valid_until 0.092, education_id 0.064 (one digit changed).
// Name, gender and the level's text:
inline constexpr double kTextMaxResidual = 0.08;
// The digit fields: education_id, card_no, valid_until (one changed digit
// must fail).
inline constexpr double kDigitsMaxResidual = 0.05;
// The school name (small type, the longest line; no school tamper in the
// evaluation, another school's name leaves residuals far above this).
inline constexpr double kSchoolMaxResidual = 0.10;
// Window over which the text residual is averaged, in mm (about one digit).
inline constexpr double kTextWindowMm = 1.0;
// Photo: 1 - normalised cross-correlation of the photo box (grey, smoothed).
// Another child's photo gives 0.4+; genuine captures stay under ~0.15.
inline constexpr double kPhotoMaxDissimilarity = 0.25;
// Level colour band: d(expected) / (d(expected) + d(nearest other level))
// of the band's white-balanced colour; 0.5 = halfway to another level.
inline constexpr double kLevelMaxColorRatio = 0.35;

}  // namespace cardbureau::layout::scan
