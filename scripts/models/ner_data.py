"""NER data for the token-classification head: CoNLL-2003 sentences aligned to MiniLM word
pieces, the PII JSONL format, and the token shape feature.

The tokenizer is uncased, so the encoder never sees capitals, the strongest cue for names in
English. The graph therefore takes a second input, `token_shape` [batch, seq]: one id per token
computed from the original text at the token's offsets (`shape_id`). The Rust runtime
(src/inference/shape.rs) computes the same ids; tests/it/inference.rs checks both agree.
"""

import json

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
LABEL_INDEX = {label: i for i, label in enumerate(LABELS)}

# Shape ids: 0 for special and padding tokens; otherwise 1 + casing * 4 + continuation * 2 + start,
# casing one of CASINGS, continuation = the token continues a word (it starts where the previous
# token ends, and both touch with letters or digits: a word piece, not punctuation after a word),
# start = the token opens a sentence (nothing but spaces after a . ! ? or a line break, or the
# text start).
CASINGS = ["lower", "title", "upper", "mixed", "digit", "other"]
SHAPES = 1 + len(CASINGS) * 4


def casing(piece):
    """The casing class of a token's original characters."""
    letters = [c for c in piece if c.isupper() or c.islower()]
    if not letters:
        return "digit" if any("0" <= c <= "9" for c in piece) else "other"
    if all(c.islower() for c in letters):
        return "lower"
    if all(c.isupper() for c in letters):
        return "title" if len(letters) == 1 else "upper"
    if piece[0].isupper() and all(c.islower() for c in letters[1:]):
        return "title"
    return "mixed"


def opens_sentence(text, start):
    """True when only whitespace separates `start` from the text start or a sentence end."""
    i = start - 1
    while i >= 0 and text[i] in " \t\r":
        i -= 1
    return i < 0 or text[i] in ".!?\n"


def shape_ids(text, offsets, special):
    """One shape id per token; `special[i]` marks [CLS]/[SEP]."""
    ids = []
    previous_end = None
    for (start, end), is_special in zip(offsets, special):
        if is_special or end <= start:
            ids.append(0)
            previous_end = None if is_special else previous_end
            continue
        glued = previous_end is not None and start == previous_end and start > 0 \
            and text[start - 1].isalnum() and text[start].isalnum()
        ids.append(1 + CASINGS.index(casing(text[start:end])) * 4 + glued * 2 + opens_sentence(text, start))
        previous_end = end
    return ids


def read_conll(path):
    """Sentences as lists of (word, tag)."""
    sentences, current = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                if current:
                    sentences.append(current)
                current = []
                continue
            parts = line.split()
            if parts[0] == "-DOCSTART-":
                continue
            current.append((parts[0], parts[-1]))
    if current:
        sentences.append(current)
    return sentences


NO_SPACE_BEFORE = {",", ".", ":", ";", "?", "!", ")", "%", "'s", "'S", "n't", "'"}
NO_SPACE_AFTER = {"(", "$"}


def conll_example(sentence, natural=False):
    """(text, character spans [(start, end, type)]) of a sentence: words joined by spaces as in
    CoNLL, or with `natural` spacing (no space before a comma, a full stop, 's, ...)."""
    text, spans, words = "", [], []
    previous = None
    for word, tag in sentence:
        glue = natural and previous is not None and (word in NO_SPACE_BEFORE or previous in NO_SPACE_AFTER)
        if text and not glue:
            text += " "
        words.append((len(text), len(text) + len(word), tag))
        text += word
        previous = word
    current = None
    for start, end, tag in words:
        if tag.startswith("B-") or (tag.startswith("I-") and (current is None or current[2] != tag[2:])):
            if current:
                spans.append(tuple(current))
            current = [start, end, tag[2:]]
        elif tag.startswith("I-"):
            current[1] = end
        else:
            if current:
                spans.append(tuple(current))
            current = None
    if current:
        spans.append(tuple(current))
    return text, spans


def replace_mentions(sentences, rng):
    """A copy of each sentence with every entity mention swapped for a random mention of the
    same type from the corpus (mention replacement, Dai and Adel 2020): the head learns names
    from their own embeddings and their context, not from a memorised pairing of the two."""
    mentions = {}
    for sentence in sentences:
        for words in entity_runs(sentence):
            mentions.setdefault(words[0][1][2:], []).append([w for w, _ in words])
    out = []
    for sentence in sentences:
        result, i = [], 0
        while i < len(sentence):
            word, tag = sentence[i]
            if tag == "O":
                result.append((word, tag))
                i += 1
                continue
            kind = tag[2:]
            j = i + 1
            while j < len(sentence) and sentence[j][1] == "I-" + kind:
                j += 1
            pool = mentions[kind]
            replacement = pool[int(rng.integers(0, len(pool)))]
            result.extend((w, ("B-" if k == 0 else "I-") + kind) for k, w in enumerate(replacement))
            i = j
        out.append(result)
    return out


def mention_pool(sentences, kinds):
    """Per entity type in `kinds`, the distinct mentions of the corpus as texts, sorted."""
    pool = {kind: set() for kind in kinds}
    for sentence in sentences:
        for words in entity_runs(sentence):
            kind = words[0][1][2:]
            if kind in pool:
                pool[kind].add(" ".join(w for w, _ in words))
    return {kind: sorted(v for v in values if plausible_mention(v)) for kind, values in pool.items()}


def plausible_mention(text):
    """A mention that reads like one in running text: starts with a capital letter or digit-led
    brand ("3M"), and is not a headline in capitals (short acronyms such as "BBC" stay)."""
    letters = [c for c in text if c.isalpha()]
    if len(text) < 2 or not letters or not (text[0].isupper() or text[0].isdigit()):
        return False
    return not (all(c.isupper() for c in letters) and len(letters) > 5)


def entity_runs(sentence):
    """The entity mentions of a sentence as lists of (word, tag)."""
    runs, current = [], None
    for word, tag in sentence:
        if tag.startswith("B-") or (tag.startswith("I-") and (current is None or current[-1][1][2:] != tag[2:])):
            current = [(word, "B-" + tag[2:])]
            runs.append(current)
        elif tag.startswith("I-"):
            current.append((word, tag))
        else:
            current = None
    return runs


def training_examples(sentences, rng):
    """CoNLL training texts as they appear in real traffic: half the sentences naturally spaced,
    and runs of 1-3 consecutive sentences (the same story) joined by a space, a line break or a
    blank line, so sentence starts also occur mid-text (letters, address blocks, chat)."""
    out, i = [], 0
    while i < len(sentences):
        run = int(rng.integers(1, 4))
        text, spans = "", []
        for sentence in sentences[i:i + run]:
            part, part_spans = conll_example(sentence, natural=bool(rng.integers(0, 2)))
            if text:
                ends_sentence = text[-1] in ".!?"
                text += str(rng.choice([" ", "\n", "\n\n"] if ends_sentence else ["\n", "\n\n"]))
            spans.extend((s + len(text), e + len(text), k) for s, e, k in part_spans)
            text += part
        out.append((text, spans))
        i += run
    return out


def augmented_training_examples(sentences, rng):
    """The training texts: the corpus and its mention-replaced copy, each rendered by
    `training_examples`."""
    return training_examples(sentences, rng) + training_examples(replace_mentions(sentences, rng), rng)


def token_labels(offsets, special, spans):
    """BIO label ids per token from character spans: a token inside a span is B- when it is the
    span's first token, else I-; special tokens get -100 (ignored by the loss)."""
    labels = []
    for (start, end), is_special in zip(offsets, special):
        if is_special or end <= start:
            labels.append(-100)
            continue
        label = "O"
        for s, e, kind in spans:
            if s <= start < e:
                label = ("B-" if start == s else "I-") + kind
                break
        labels.append(LABEL_INDEX.get(label, 0))
    return labels


PII_TYPES = {"PERSON": "PER", "GPE": "LOC", "LOCATION": "LOC", "ORGANIZATION": "ORG"}


def read_pii(path):
    """(text, spans of PER/LOC/ORG) from the shared PII JSONL format."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            spans = [(s["start"], s["end"], PII_TYPES[s["label"]]) for s in row["spans"] if s["label"] in PII_TYPES]
            rows.append((row["text"], spans))
    return rows
