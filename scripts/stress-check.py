#!/usr/bin/env python3
"""CI check of one racing program's `ublksim confirm --stress N --json` report: every run
judged (none lost, no executor error), run 0 the sequential control and conforming, the others
raced. Prints the hit rate. Usage: stress-check.py REPORT FINDING N"""
import json
import sys

report, finding, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
doc = json.load(open(report))
rows = [r for p in doc["presets"] for r in p["rows"] if r["finding"] == finding]
if len(rows) != 1:
    sys.exit(f"stress-check: {finding}: {len(rows)} rows in {report}")
row = rows[0]
if row.get("order", "").find("racing pair") < 0:
    sys.exit(f"stress-check: {finding} was not run as a racing program: {row.get('order')}")
texts = [o.get("evidence", "") for o in row["outcomes"]]
kinds = [o["outcome"] for o in row["outcomes"]]
problems = []
# a hit that takes the guest with it ends the program's runs (its hit rate is the runs so far)
stopped = [t for k, t in zip(kinds, texts) if k == "no_result" and "stops at a hit" in t]
if row["asked"] != n or row["runs"] + len(stopped) != n or row["runs"] < 2:
    problems.append(f"{row['runs']} of {n} runs judged (asked {row['asked']})")
if kinds.count("no_result") != len(stopped):
    problems.append("a run without a result")
if not texts or not texts[0].startswith("sequential control: conforms"):
    problems.append(f"run 0 is not a conforming sequential control: {texts[:1]}")
bad = [t for t in texts if t.startswith(("executor error", "the run ended before"))]
if bad:
    problems.append(f"{len(bad)} run(s) the executor could not race: {bad[0]}")
if problems:
    sys.exit(f"stress-check: {finding}: " + "; ".join(problems))
print(f"stress-check: {finding}: {row['hits']}/{row['runs']} runs reproduced ({row['verdict']}); "
      f"first evidence: {row['evidence'][:160]}")
