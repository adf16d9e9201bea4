#!/usr/bin/env python3
"""Writes the demo's jobs.jsonl: 44 valid jobs over four schools, every level,
new and reissue, 1K and 4K, the valid names of names.md, plus one invalid job
for each of 12 rejection rules. The photo of each job is named by its
"photo_file" field (fixtures/photos/), which the reference centre sends as
frame 1 and strips from the JSON.

Usage: make_demo_jobs.py OUT.jsonl
"""
import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import make_jobs as mj  # noqa: E402

NAMES = [("张三", "M"), ("欧阳娜娜", "F"), ("李䶮", "M"), ("王𠀁", "F"),
         ("阿卜杜热合曼·买买提依明", "M"), ("张", "F"), ("Anna Müller", "F")]
LEVELS = [("primary", "2031-07", "20160301"), ("junior", "2029-07", "20130415"),
          ("senior", "2028-07", "20100705")]


def valid_jobs(n):
    jobs = []
    for i in range(n):
        name, gender = NAMES[i % len(NAMES)]
        level, grad, birth = LEVELS[i % len(LEVELS)]
        kind = "reissue" if i % 2 == 0 else "new"
        ctype = "mifare-classic-4k" if i % 5 == 4 else "mifare-classic-1k"
        j = mj.base(f"DEMO-{i + 1:04d}", name=name, gender=gender, level=level,
                    graduation=grad, kind=kind, card_type=ctype, birth=birth,
                    seq=f"{i % 1000:03d}", school=mj.SCHOOLS[i % len(mj.SCHOOLS)])
        j["student"]["education_id"] = f"{20260000 + i:08d}"
        j["card"]["card_no"] = f"10007512{34000000 + i:08d}"
        jobs.append(j)
    return jobs


def invalid_jobs():
    out = []

    def add(suffix, fn=None, **kw):
        j = mj.base(f"DEMO-BAD-{suffix}", **kw)
        if fn:
            fn(j)
        out.append(j)

    add("eid", lambda j: j["student"].update(education_id="1234567"))
    add("checksum", lambda j: j["student"].update(
        student_no=j["student"]["student_no"][:-1] +
        ("0" if j["student"]["student_no"][-1] != "0" else "1")))
    add("expired", lambda j: j["card"].update(valid_until="2026-01-31"))
    add("glyph", name="赵𪛗")
    add("card-no", lambda j: j["card"].update(card_no="12345"))
    add("no-face", photo="chelsea.png")
    add("dark", photo="astronaut-dark.png")
    add("blurred", photo="astronaut-blurred.png")
    add("small", photo="astronaut-small.png")
    add("two-faces", photo="astronaut-two.png")
    add("hash", lambda j: j["photo"].update(sha256=mj.sha("coffee.png")))
    add("school", lambda j: j["school"].update(code="123"))
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    jobs = valid_jobs(44) + invalid_jobs()
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        for j in jobs:
            f.write(json.dumps(j, ensure_ascii=False) + "\n")
    print(f"{len(jobs)} demo jobs written to {sys.argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
