#!/usr/bin/env python3
"""detect-secrets' own plugin test cases, run through railyard's `secret_detect`.

A held-out measure for secrets: the parametrized cases of detect-secrets' plugin tests (a line
and whether the plugin should flag it, or the secret it should find) are read from a checkout of
https://github.com/Yelp/detect-secrets by importing its test modules (they are not copied into
this project), so the Python running this script needs `detect-secrets` and `pytest`. Every
case's line goes through `railyard run` with a one-operator topology (`secret_detect` at its
default settings, as a new user runs it); a case agrees when railyard reports a secret exactly
when detect-secrets expects one. `ip_public` is left out: a public IP address is personal data
in railyard (`pii_detect`'s IP_ADDRESS), not a secret.

    python -m venv /tmp/ds && /tmp/ds/bin/pip install detect-secrets==1.5.0 pytest
    git clone https://github.com/Yelp/detect-secrets /tmp/detect-secrets
    /tmp/ds/bin/python scripts/eval/detect_secrets_cases.py --detect-secrets /tmp/detect-secrets
"""

import argparse
import importlib.util
import inspect
import json
import sys
from pathlib import Path

from one_operator import findings_by_event

SKIPPED = {"ip_public_test", "base_test"}
TEXT_ARGS = ("line", "payload", "token", "secret", "content")
EXPECT_ARGS = ("should_flag", "expected_secret", "expected", "should_match")

def cases_of(path):
    """(plugin, line, should flag) of every parametrized case of one test module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a plugin this detect-secrets release does not have
        print(f"skipped {path.name}: {error}", file=sys.stderr)
        return []
    functions = [f for _, f in inspect.getmembers(module, inspect.isfunction)]
    for _, cls in inspect.getmembers(module, inspect.isclass):
        functions += [f for _, f in inspect.getmembers(cls, inspect.isfunction)]
    out = []
    plugin = path.stem.removesuffix("_test")
    for function in functions:
        for mark in getattr(function, "pytestmark", []):
            if mark.name != "parametrize":
                continue
            names = [n.strip() for n in (mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0])]
            text = next((n for n in TEXT_ARGS if n in names), None)
            expect = next((n for n in EXPECT_ARGS if n in names), None)
            if text is None or expect is None:
                continue
            for values in list(mark.args[1]):
                values = values.values if hasattr(values, "values") else values
                row = dict(zip(names, values if isinstance(values, (list, tuple)) else [values]))
                line, expected = row.get(text), row.get(expect)
                if isinstance(line, str) and line.strip():
                    out.append((plugin, line, bool(expected)))
    return out


def flagged(railyard, lines):
    events = [{"id": str(i), "kind": "prompt", "text": line} for i, line in enumerate(lines)]
    found = findings_by_event(railyard, "detect_secrets_cases", 'type = "secret_detect"', events)
    return [bool(found[str(i)]) for i in range(len(lines))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detect-secrets", required=True, type=Path, help="a checkout of Yelp/detect-secrets")
    parser.add_argument("--railyard", default="target/release/railyard")
    parser.add_argument("--out", type=Path, default=Path("out/eval/detect_secrets_cases.json"))
    parser.add_argument("--show-disagreements", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(args.detect_secrets))
    cases = []
    for path in sorted((args.detect_secrets / "tests" / "plugins").glob("*_test.py")):
        if path.stem not in SKIPPED:
            cases += cases_of(path)
    found = flagged(args.railyard, [line for _, line, _ in cases])
    table = {}
    for (plugin, line, expected), got in zip(cases, found):
        row = table.setdefault(plugin, {"cases": 0, "agree": 0, "expected_flag": 0, "caught": 0,
                                        "expected_clean": 0, "false_positives": 0, "disagreements": []})
        row["cases"] += 1
        row["agree"] += expected == got
        if expected:
            row["expected_flag"] += 1
            row["caught"] += got
        else:
            row["expected_clean"] += 1
            row["false_positives"] += got
        if expected != got:
            row["disagreements"].append({"line": line[:200], "expected": expected, "railyard": got})
    print(f"{'plugin':<22} {'cases':>5} {'agree':>6} {'recall':>12} {'false pos.':>12}")
    total = {k: 0 for k in ("cases", "agree", "expected_flag", "caught", "expected_clean", "false_positives")}
    for plugin, r in sorted(table.items()):
        for k in total:
            total[k] += r[k]
        print(f"{plugin:<22} {r['cases']:>5} {r['agree']:>6} {r['caught']:>5}/{r['expected_flag']:<6} "
              f"{r['false_positives']:>5}/{r['expected_clean']:<6}")
        if args.show_disagreements:
            for d in r["disagreements"]:
                print(f"    expected {d['expected']!s:<5} railyard {d['railyard']!s:<5} {d['line']!r}")
    t = total
    print(f"{'all':<22} {t['cases']:>5} {t['agree']:>6} {t['caught']:>5}/{t['expected_flag']:<6} "
          f"{t['false_positives']:>5}/{t['expected_clean']:<6}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"total": total, "plugins": table}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
