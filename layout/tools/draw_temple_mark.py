#!/usr/bin/env python3
"""Draws the bjt-student back mark: our own simple red drawing in the style of
a round three-tiered temple hall on a three-step terrace (no copied artwork).

Writes layout/templates/temple-mark.png (RGB, white background, 4x
supersampled then box-filtered). Pure Python (zlib only), deterministic:
    python3 layout/tools/draw_temple_mark.py [OUT.png]
"""
import struct
import sys
import zlib

W, H = 240, 240  # 20 x 20 mm at 300 dpi (the template scales it to its box)
SS = 4
RED = (200, 16, 46)
WHITE = (255, 255, 255)


def shapes():
    """(kind, params) in a 0..1 x 0..1 square, y down; drawn in order."""
    s = []
    # Finial: a small ball on a short spike.
    s.append(("ellipse", (0.5, 0.085, 0.030, 0.030)))
    s.append(("rect", (0.49, 0.10, 0.51, 0.15)))
    # Three conical roofs (trapezoids with flared eaves), each over a
    # drum (rectangle) with vertical window slits cut out in white.
    roofs = [(0.15, 0.27, 0.10, 0.30), (0.29, 0.43, 0.16, 0.38), (0.45, 0.60, 0.22, 0.46)]
    drums = [(0.27, 0.29, 0.24), (0.43, 0.45, 0.32), (0.60, 0.69, 0.36)]
    for top, bottom, half_top, half_bottom in roofs:
        s.append(("trapezoid", (top, bottom, half_top * 0.35, half_bottom)))
        # upturned eave tips
        s.append(("ellipse", (0.5 - half_bottom, bottom - 0.012, 0.022, 0.016)))
        s.append(("ellipse", (0.5 + half_bottom, bottom - 0.012, 0.022, 0.016)))
    for top, bottom, half in drums:
        s.append(("rect", (0.5 - half, top, 0.5 + half, bottom)))
    # Doors / columns on the lowest drum, in white.
    for i in range(7):
        x = 0.5 - 0.30 + i * 0.10
        s.append(("white_rect", (x - 0.018, 0.615, x + 0.018, 0.685)))
    # Three-step circular terrace (flattened), each with a white balustrade line.
    steps = [(0.70, 0.76, 0.40), (0.77, 0.83, 0.45), (0.84, 0.91, 0.49)]
    for top, bottom, half in steps:
        s.append(("rect", (0.5 - half, top, 0.5 + half, bottom)))
        s.append(("white_rect", (0.5 - half + 0.02, top + 0.012, 0.5 + half - 0.02, top + 0.02)))
    # Stairway up the middle of the terrace.
    s.append(("white_rect", (0.46, 0.70, 0.54, 0.91)))
    for k in range(6):
        y = 0.715 + k * 0.033
        s.append(("rect", (0.46, y, 0.54, y + 0.010)))
    return s


def inside(kind, p, x, y):
    if kind in ("rect", "white_rect"):
        x0, y0, x1, y1 = p
        return x0 <= x <= x1 and y0 <= y <= y1
    if kind == "ellipse":
        cx, cy, rx, ry = p
        return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0
    if kind == "trapezoid":
        top, bottom, half_top, half_bottom = p
        if not top <= y <= bottom:
            return False
        t = (y - top) / (bottom - top)
        # a slightly concave roof line: eaves flare out towards the bottom
        half = half_top + (half_bottom - half_top) * (t ** 1.6)
        return abs(x - 0.5) <= half
    return False


def render():
    sh = shapes()
    rows = []
    for py in range(H):
        row = bytearray()
        for px in range(W):
            acc = [0, 0, 0]
            for sy in range(SS):
                for sx in range(SS):
                    x = (px + (sx + 0.5) / SS) / W
                    y = (py + (sy + 0.5) / SS) / H
                    colour = WHITE
                    for kind, p in sh:
                        if inside(kind, p, x, y):
                            colour = WHITE if kind == "white_rect" else RED
                    for c in range(3):
                        acc[c] += colour[c]
            row += bytes(round(a / (SS * SS)) for a in acc)
        rows.append(bytes(row))
    return rows


def write_png(path, rows):
    raw = b"".join(b"\x00" + r for r in rows)

    def chunk(tag, data):
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9))
    png += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "layout/templates/temple-mark.png"
    write_png(out, render())
