"""Question-answer pairs of our own, in the pair format `railyard eval` reads, for calibrating
`hallucination_check` on answers to a question (the `question` profile).

HaluEval QA is reserved for evaluation, so the question profile is trained on pairs built here
from the other two HaluEval tasks' sources: the news articles of summarization and the knowledge
triples of dialogue. For a sentence of a source that holds a name (capitalised words) or a
number, the passage is a window of sentences around it, the question is the sentence with that
name or number asked for, with a few of its words around ("... opened in which year?"), and:
- the right answer says the name or number: bare, in a short sentence, or as the sentence
  itself (every word supported by the passage or the question);
- the hallucinated answer is one of: another name (from another row's source, found nowhere in
  this passage) or another number, bare or in the same sentence forms; the right answer
  followed by a claim from elsewhere in the same source, or from another row's source when the
  passage is all there is (an unsupported elaboration, on topic where possible); or, for one
  pair in ten, another name or number of the same passage (wrong, but every word is in the
  passage: no lexical signal can tell, which keeps the calibration honest).
Both answers' forms are drawn independently, so an answer's length says nothing of its label.

`--split dev` reads rows whose index is not 3 mod 4 (training), `--split held` the others (the
report). No row of HaluEval QA is read.

    python scripts/models/qa_pairs.py dev --out .cache/halueval/qa_pairs_dev.jsonl
"""

import argparse
import random
import re

from datasets import halueval_rows, write_jsonl

SEED = 11
NAME = re.compile(r"\b[A-Z][a-z]+(?: (?:of |de |van |von )?[A-Z][a-z]+)+\b")
NUMBER = re.compile(r"\b\d{1,3}(?:,\d{3})+\b|\b\d{1,4}\b")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
# Dialogue knowledge runs triples together ("... Robert Downey Jr.Robert Downey Jr. starred ...").
GLUED = re.compile(r"(?<=[a-z.)])(?=[A-Z][a-z]+ )")
# Sentences in a passage: at least the first, at most the second.
WINDOW = (2, 5)
# Words a question keeps on each side of what it asks: at least the first, at most the second.
QUESTION_CONTEXT = (3, 9)
# Answer forms; some add words of their own that no passage holds ("believe", "likely").
SHORT_FORMS = ("{a}", "{a}", "{a}", "{a}.", "The answer is {a}.", "It is {a}.", "{a}, according to the passage.",
               "I believe it is {a}.", "That would be {a}.", "Most likely {a}.", "From what the text says, {a}.")


def sentences(text, task):
    if task == "dialogue":
        text = GLUED.sub(". ", text)
    return [s.strip() for s in SENTENCE_END.split(text) if 4 <= len(s.split()) <= 60]


def question_of(sentence, match, kind, rng):
    if kind == "number":
        ask = rng.choice(["how many", "which number", "what figure"])
        if 1000 <= int(match.group().replace(",", "")) <= 2100:
            ask = rng.choice(["which year", "what year"])
    else:
        ask = rng.choice(["who", "what", "which one", "whom"])
    # Questions keep only a few words around what they ask, as people ask them.
    head = " ".join(sentence[:match.start()].split()[-rng.randint(*QUESTION_CONTEXT):])
    tail = " ".join(sentence[match.end():].strip().rstrip(".!\"'").split()[:rng.randint(*QUESTION_CONTEXT)])
    asked = f"{head} {ask} {tail}".strip()
    return rng.choice(["", "According to the passage, ", "Based on the text, "]) + asked[0].upper() + asked[1:] + "?"


def other_number(value, rng):
    number = int(value.replace(",", ""))
    if 1000 <= number <= 2100:
        return str(number + rng.choice([-9, -5, -3, -2, -1, 1, 2, 3, 5, 11]))
    if number <= 31:
        return str(number % 28 + 1 + rng.choice([1, 2, 3]))
    new = number + max(1, number // rng.choice([2, 3, 5, 10])) * rng.choice([-1, 1])
    return f"{new:,}" if "," in value else str(new)


def answer(sentence, match, value, rng, long_ok=True):
    """`value` said as an answer: bare, in a short form, or in the sentence itself."""
    if long_ok and rng.random() < 0.35:
        return sentence[:match.start()] + value + sentence[match.end():]
    return rng.choice(SHORT_FORMS).format(a=value)


def pairs_of(rows, task, split, limit, rng):
    field = {"dialogue": "knowledge", "summarization": "document"}[task]
    sources = [(i, sentences(r[field], task)) for i, r in enumerate(rows) if (i % 4 == 3) == (split == "held")]
    names = [n for _, ss in sources for s in ss for n in NAME.findall(s)]
    claims = [s for _, ss in sources for s in ss if 6 <= len(s.split()) <= 25]
    out = []
    for _, ss in sources:
        elsewhere = [s for s in ss if 6 <= len(s.split()) <= 25]
        candidates = [(k, m, kind) for k, s in enumerate(ss)
                      for kind, pattern in (("name", NAME), ("number", NUMBER)) for m in pattern.finditer(s)
                      if m.start() > 0 or kind == "number"]
        if not candidates:
            continue
        k, match, kind = rng.choice(candidates)
        start = max(0, k - rng.randint(0, WINDOW[1] - WINDOW[0]))
        passage = " ".join(ss[start:max(k + 1, start + rng.randint(*WINDOW))])
        sentence = ss[k]
        question = question_of(sentence, match, kind, rng)
        right = answer(sentence, match, match.group(), rng)
        wrong_form = rng.random()
        same_passage = [m for m in (NAME if kind == "name" else NUMBER).finditer(passage)
                        if m.group() != match.group() and m.group() not in question]
        if wrong_form < 0.1 and same_passage:
            wrong = answer(sentence, match, rng.choice(same_passage).group(), rng)
        elif wrong_form < 0.35:
            # On topic where possible: a sentence of the same source outside the passage.
            outside = [e for e in elsewhere if e not in passage]
            elaboration = rng.choice(outside) if outside else rng.choice(claims)
            while elaboration in passage:
                elaboration = rng.choice(claims)
            wrong = f"{answer(sentence, match, match.group(), rng, long_ok=False).rstrip('.')}. {elaboration}"
        else:
            if kind == "number":
                value = other_number(match.group(), rng)
            else:
                value = rng.choice(names)
                while value.split()[0] in passage or value.split()[-1] in passage or value in question:
                    value = rng.choice(names)
            wrong = answer(sentence, match, value, rng)
        out.append({"knowledge": passage, "question": question, "right_answer": right,
                    "hallucinated_answer": wrong, "source": task})
        if len(out) == limit:
            break
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("split", choices=("dev", "held"))
    parser.add_argument("--limit", type=int, default=3000, help="most pairs per source task")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rng = random.Random(SEED)
    pairs = []
    for task in ("summarization", "dialogue"):
        pairs += pairs_of(halueval_rows(task), task, args.split, args.limit, rng)
    random.Random(SEED).shuffle(pairs)
    write_jsonl(args.out, pairs)
    print(f"{args.out}: {len(pairs)} question-answer pairs ({args.split} rows)")


if __name__ == "__main__":
    main()
