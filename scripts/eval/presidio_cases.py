#!/usr/bin/env python3
"""Presidio's own recognizer test cases, run through railyard's `pii_detect`.

The parametrized cases of presidio-analyzer's tests (credit card, email, IBAN, IP, URL, US SSN,
phone, US driver's licence, crypto, MAC, US passport, US bank number, ITIN, date) are read from a
checkout of https://github.com/microsoft/presidio (they are not copied into this project: the
script parses the test files with `ast` each time). Every case's text goes through `railyard run`
with a one-operator topology (`pii_detect` at its default settings, as a new user runs it); a case
passes when railyard reports exactly the expected spans of that case's entity (none when Presidio
expects none). Cases railyard disagrees with on purpose are listed in DISAGREE with the reason and
counted apart.

    python3 scripts/eval/presidio_cases.py --presidio ../presidio [--railyard target/release/railyard]
        [--out out/eval/presidio_cases.json] [--show-failures]
"""

import argparse
import ast
import json
import os
import sys
from pathlib import Path

from one_operator import findings_by_event

# test file stem -> the entity its cases expect, in railyard's label names.
FILES = {
    "test_credit_card_recognizer": "CREDIT_CARD",
    "test_email_recognizer": "EMAIL_ADDRESS",
    "test_iban_recognizer": "IBAN_CODE",
    "test_ip_recognizer": "IP_ADDRESS",
    "test_url_recognizer": "URL",
    "test_us_ssn_recognizer": "US_SSN",
    "test_phone_recognizer": "PHONE_NUMBER",
    "test_us_driver_license_recognizer": "US_DRIVER_LICENSE",
    "test_crypto_recognizer": "CRYPTO",
    "test_mac_recognizer": "MAC_ADDRESS",
    "test_us_passport_recognizer": "US_PASSPORT",
    "test_us_bank_recognizer": "US_BANK_NUMBER",
    "test_us_itin_recognizer": "US_ITIN",
    "test_date_recognizer": "DATE_TIME",
}

# Test functions whose cases depend on a recognizer setting railyard does not have (the same
# text is expected to give different results under different settings).
SETTING_DEPENDENT = {"test_when_phone_with_leniency_then_succeed"}

# (entity, text) -> why railyard reports something else on purpose.
QUOTES_ARE_NOT_URL = "the quotes around a URL are not part of it: railyard reports the URL inside them"
DISAGREE = {
    ("URL", '"https://presidio.dataprivacystack.org/"'): QUOTES_ARE_NOT_URL,
    ("URL", "'https://presidio.dataprivacystack.org/'"): QUOTES_ARE_NOT_URL,
}

# pii_detect's default threshold.
THRESHOLD = 0.5

TEXT_ARGS = ("text", "iban", "address")
LEN_ARGS = ("expected_len",)
POSITION_ARGS = ("expected_positions", "expected_res")
SCORE_ARGS = ("expected_score_ranges", "expected_scores", "expected_score", "score")


def parametrized_cases(path: Path):
    """(test function, case dict) for every literal parametrize case in a test file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "parametrize"):
                continue
            names = [n.strip() for n in ast.literal_eval(deco.args[0]).split(",")]
            values = deco.args[1]
            if not isinstance(values, (ast.List, ast.Tuple)):
                continue
            for element in values.elts:
                try:
                    row = ast.literal_eval(element)
                except ValueError:
                    # Built by a helper at test time (e.g. a checksum function): not literal.
                    yield node.name, None
                    continue
                yield node.name, dict(zip(names, row))


def expected_scores(raw, count):
    """The highest score Presidio expects for each of `count` results, or None each."""
    if isinstance(raw, (int, float)):
        return [float(raw)] * count
    if isinstance(raw, (list, tuple)):
        out = []
        for item in list(raw)[:count]:
            numbers = [x for x in item if isinstance(x, (int, float))] if isinstance(item, (list, tuple)) else []
            if numbers:
                out.append(float(max(numbers)))
            elif isinstance(item, (int, float)):
                out.append(float(item))
            else:
                out.append(None)
        return out + [None] * (count - len(out))
    return [None] * count


def judge(case, spans, threshold):
    """'pass', or 'below_threshold' when the only differences are results Presidio itself
    scores below `threshold` (railyard's default: it does not report those), else 'fail'."""
    expected = case["expected"]
    if not expected:
        # No positions given: the count alone is checked.
        return "pass" if len(spans) == case["expected_len"] else "fail"
    required = [p for p, s in zip(expected, case["expected_scores"]) if s is None or s >= threshold]
    if sorted(spans) == sorted(expected):
        return "pass"
    if all(p in spans for p in required) and all(s in expected for s in spans):
        return "below_threshold"
    return "fail"


def field(case, names):
    return next((case[n] for n in names if n in case), None)


def load_cases(repo: Path):
    cases, skipped = [], {"not_literal": 0, "setting_dependent": 0}
    tests = repo / "presidio-analyzer" / "tests"
    for stem, entity in FILES.items():
        for function, case in parametrized_cases(tests / f"{stem}.py"):
            if case is None:
                skipped["not_literal"] += 1
                continue
            if function in SETTING_DEPENDENT:
                skipped["setting_dependent"] += 1
                continue
            text = field(case, TEXT_ARGS)
            expected_len = field(case, LEN_ARGS)
            if not isinstance(text, str) or not isinstance(expected_len, int):
                continue
            positions = [tuple(p) for p in list(field(case, POSITION_ARGS) or ())[:expected_len]]
            scores = expected_scores(field(case, SCORE_ARGS), len(positions))
            entities = case.get("entities")
            if entities:
                # Phone cases name the entity of each expected result.
                keep = [i for i, e in enumerate(entities[: len(positions)]) if e == entity]
                positions = [positions[i] for i in keep]
                scores = [scores[i] for i in keep]
                expected_len = len(positions)
            cases.append(
                {
                    "file": stem,
                    "function": function,
                    "entity": entity,
                    "text": text,
                    "expected": positions,
                    "expected_len": expected_len,
                    # Presidio's own highest expected score of each expected result (None:
                    # not given).
                    "expected_scores": scores,
                }
            )
    return cases, skipped


def run_railyard(railyard: str, cases):
    events = [{"id": f"case-{i}", "kind": "prompt", "text": case["text"]} for i, case in enumerate(cases)]
    return findings_by_event(railyard, "presidio_cases", 'type = "pii_detect"', events)


def char_span(text: str, start: int, end: int):
    """Byte offsets (railyard) as character offsets (Presidio)."""
    raw = text.encode()
    return (len(raw[:start].decode(errors="ignore")), len(raw[:end].decode(errors="ignore")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presidio", required=True, type=Path, help="a checkout of microsoft/presidio")
    parser.add_argument("--railyard", default="target/release/railyard")
    parser.add_argument("--out", type=Path, default=Path("out/eval/presidio_cases.json"))
    parser.add_argument("--show-failures", action="store_true")
    args = parser.parse_args()

    cases, skipped = load_cases(args.presidio)
    found = run_railyard(args.railyard, cases)
    per_entity = {}
    failures, disagreements = [], []
    for i, case in enumerate(cases):
        spans = sorted(
            char_span(case["text"], s["start"], s["end"])
            for f in found.get(f"case-{i}", [])
            if f["label"] == case["entity"]
            for s in f["spans"]
        )
        verdict = judge(case, spans, THRESHOLD)
        row = per_entity.setdefault(case["entity"], {"cases": 0, "pass": 0, "on_purpose": 0})
        row["cases"] += 1
        reason = DISAGREE.get((case["entity"], case["text"]))
        if verdict == "below_threshold":
            reason = (
                f"Presidio itself scores it below {THRESHOLD} (railyard's default threshold), "
                "so railyard does not report it"
            )
        if verdict == "pass":
            row["pass"] += 1
        elif reason:
            row["on_purpose"] += 1
            disagreements.append({**case, "found": spans, "reason": reason})
        else:
            failures.append({**case, "found": spans})
    total = len(cases)
    passed = sum(r["pass"] for r in per_entity.values())
    on_purpose = sum(r["on_purpose"] for r in per_entity.values())
    print(f"{'entity':<20} {'cases':>6} {'pass':>6} {'on purpose':>11}")
    for entity, r in sorted(per_entity.items()):
        print(f"{entity:<20} {r['cases']:>6} {r['pass']:>6} {r['on_purpose']:>11}")
    print(
        f"{'all':<20} {total:>6} {passed:>6} {on_purpose:>11}   pass {passed / max(total, 1):.3f}, "
        f"pass or on purpose {(passed + on_purpose) / max(total, 1):.3f}"
    )
    print(f"skipped: {skipped}")
    if args.show_failures:
        for d in disagreements:
            print(f"ON PURPOSE {d['entity']}: {d['text']!r} expected {d['expected']} found {d['found']}: {d['reason']}")
        for f in failures:
            print(f"FAIL {f['entity']}: {f['text']!r} expected {f['expected']} found {f['found']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "cases": total,
                "passed": passed,
                "on_purpose": on_purpose,
                "skipped": skipped,
                "per_entity": per_entity,
                "failures": failures,
                "disagreements": disagreements,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
