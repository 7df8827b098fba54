"""Sort an Autobahn|Testsuite run against trichat into explained groups.

    python summarize.py OUT_DIR

Reads the raw reports that bench/conformance/run.sh left in OUT_DIR (kosoku's
`index.json` and one JSON file per case, for the pass `default/` and, when present,
`large-limit/`), and writes `summary.md` and `summary.json` beside them. Standard
library only. Exit status 1 when some case falls in no explained group, i.e. a new
failure that someone has to look at (docs/conformance.md explains the known ones).

trichat is a chat server, not an echo server: every text frame it accepts is
answered with one JSON object (for the suite's payloads, which are not trichat
frames, an `error` with code `bad_request`), binary frames are refused with close
1003 and a message over MAX_FRAME_BYTES with close 1009. So a case fails for one of
those reasons, or for a reason that is not by design.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

PASSED = {"OK": "ok", "NON-STRICT": "non-strict", "INFORMATIONAL": "informational"}
CLOSE_PASSED = {"OK", "INFORMATIONAL"}
# trichat's answer to any text frame: a JSON object, `type` first (orjson keeps order)
REPLY = '{"type":'
# how the section 9 cases, which judge inline and record no events, say "no echo"
ECHO_RESULT = re.compile(
    r"^(Expected text message with payload of length \d+, but got \d+"
    r"|Echo'ed message type or length differs)"
)

GROUPS = {
    "ok": "passed: OK",
    "non-strict": "passed: NON-STRICT (allowed, below a SHOULD)",
    "informational": "passed: INFORMATIONAL (behaviour the RFC leaves open)",
    "no-echo": "failed: no echo (answered with a JSON `error` frame, or nothing)",
    "too-big-1009": "failed: closed 1009, message over MAX_FRAME_BYTES (by design)",
    "binary-1003": "failed: closed 1003, binary frames refused (by design)",
    "unimplemented": "UNIMPLEMENTED: permessage-deflate is never negotiated (by design)",
    "unexplained": "UNEXPLAINED: needs a look",
}


def case_key(case_id: str) -> list[int]:
    return [int(p) for p in case_id.split(".")]


def _others(events: list[list]) -> list[list]:
    """The events that are not messages (pings, pongs), in order."""
    return [e for e in events if e[0] != "message"]


def no_echo(r: dict) -> bool:
    """Did the case fail only because trichat answered its text with a JSON frame
    (or with nothing) instead of an echo?"""
    received = r["received"]
    for event in received:
        if event[0] == "message" and (event[2] or not str(event[1]).startswith(REPLY)):
            return False  # a message that is not trichat's JSON answer
    if r["expected"]:
        # every other expected event (the pongs) arrived, in order
        if not any(_others(exp) == _others(received) for exp in r["expected"].values()):
            return False
    elif not ECHO_RESULT.match(r["result"]):
        return False
    # the close is the one expected, or the suite dropped the connection because its
    # wait for the echo ran out (trichat itself did not fail the connection)
    code = r["remoteCloseCode"]
    return code in r["expectedClose"]["closeCode"] or (code is None and r["droppedByMe"])


def classify(r: dict) -> str:
    behavior, close = r["behavior"], r["behaviorClose"]
    if behavior in PASSED and close in CLOSE_PASSED:
        return PASSED[behavior]
    if behavior == "UNIMPLEMENTED":
        return "unimplemented"
    code = r["remoteCloseCode"]
    if code == 1003 and "2" in r["txFrameStats"]:  # the case sent a binary frame
        return "binary-1003"
    if code == 1009:
        return "too-big-1009"
    if no_echo(r):
        return "no-echo"
    return "unexplained"


def load(pass_dir: Path) -> dict[str, dict]:
    index = json.loads((pass_dir / "index.json").read_text())
    (cases,) = index.values()  # one agent: the trichat under test
    return {
        cid: json.loads((pass_dir / entry["reportfile"]).read_text())
        for cid, entry in cases.items()
    }


def ranges(case_ids: list[str]) -> str:
    """`6.22.1 6.22.2 … 6.22.34 7.1.1` → `6.22.1-6.22.34, 7.1.1`."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            out.append(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}")
            run.clear()

    for cid in sorted(case_ids, key=case_key):
        if run:
            prev, cur = case_key(run[-1]), case_key(cid)
            if not (prev[:-1] == cur[:-1] and cur[-1] == prev[-1] + 1):
                flush()
        run.append(cid)
    flush()
    return ", ".join(out)


def summarize(out_dir: Path) -> tuple[str, dict]:
    results = load(out_dir / "default")
    groups = {cid: classify(r) for cid, r in results.items()}
    large: dict[str, str] = {}
    if (out_dir / "large-limit" / "index.json").exists():
        large = {cid: classify(r) for cid, r in load(out_dir / "large-limit").items()}

    counts = Counter(groups.values())
    sections = sorted({case_key(c)[0] for c in groups})
    lines = [
        f"{len(groups)} cases: " + ", ".join(f"{counts[g]} {g}" for g in GROUPS if counts[g]),
        "",
        "| section | " + " | ".join(g for g in GROUPS if counts[g]) + " |",
        "|---" * (1 + sum(1 for g in GROUPS if counts[g])) + "|",
    ]
    for s in sections:
        per = Counter(g for c, g in groups.items() if case_key(c)[0] == s)
        cells = [str(per[g]) if per[g] else "" for g in GROUPS if counts[g]]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines.append("")
    for g, title in GROUPS.items():
        ids = [c for c, k in groups.items() if k == g]
        if ids:
            lines += [f"**{title}** ({len(ids)}): {ranges(ids)}", ""]
    if large:
        lc = Counter(large.values())
        lines += [
            f"Large-limit pass (MAX_FRAME_BYTES = 32 MiB) over {len(large)} of the "
            "1009 cases: " + ", ".join(f"{lc[g]} {g}" for g in GROUPS if lc[g]),
            "",
        ]
    details = []
    for cid in sorted(groups, key=case_key):
        r = results[cid]
        details.append(
            {
                "case": cid,
                "group": groups[cid],
                "large_limit_group": large.get(cid),
                "behavior": r["behavior"],
                "behaviorClose": r["behaviorClose"],
                "remoteCloseCode": r["remoteCloseCode"],
                "remoteCloseReason": r["remoteCloseReason"],
                "description": r["description"],
                "result": r["result"],
            }
        )
    for cid, g in sorted(large.items(), key=lambda kv: case_key(kv[0])):
        if g == "unexplained":
            lines.append(f"UNEXPLAINED in the large-limit pass: {cid}")
    return "\n".join(lines), {"counts": dict(counts), "large_limit": large, "cases": details}


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: summarize.py OUT_DIR", file=sys.stderr)
        return 2
    out_dir = Path(sys.argv[1])
    text, data = summarize(out_dir)
    (out_dir / "summary.md").write_text(text + "\n")
    (out_dir / "summary.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(text)
    bad = data["counts"].get("unexplained", 0)
    bad += sum(1 for g in data["large_limit"].values() if g == "unexplained")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
