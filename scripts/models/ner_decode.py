"""BIO decoding for the NER head, the same rules as the Rust operator (src/operators/ner/decode.rs):
a Viterbi pass over per-token log-probabilities that only allows valid IOB2 sequences (I-X follows
B-X or I-X, and never across a line break, which the tokenizer does not show the model), spans
widened to whole words, a trailing possessive 's dropped; and span-level precision/recall/F1."""

import numpy as np

import ner_data


def allowed(previous, current):
    label = ner_data.LABELS[current]
    if not label.startswith("I-"):
        return True
    if previous is None:
        return False
    before = ner_data.LABELS[previous]
    return before != "O" and before[2:] == label[2:]


TRANSITIONS = np.array([[0.0 if allowed(p, c) else -np.inf for c in range(len(ner_data.LABELS))]
                        for p in range(len(ner_data.LABELS))])
START = np.array([0.0 if allowed(None, c) else -np.inf for c in range(len(ner_data.LABELS))])


def viterbi(log_probs, restarts=None):
    """Best valid label sequence for [n, labels] log-probabilities; `restarts[t]` marks tokens
    that cannot continue an entity (the first token after a line break)."""
    n = len(log_probs)
    if n == 0:
        return []
    score = START + log_probs[0]
    back = np.zeros((n, log_probs.shape[1]), np.int64)
    for t in range(1, n):
        transitions = TRANSITIONS + START[None, :] if restarts is not None and restarts[t] else TRANSITIONS
        candidates = score[:, None] + transitions
        back[t] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_probs[t]
    path = [int(score.argmax())]
    for t in range(n - 1, 0, -1):
        path.append(int(back[t][path[-1]]))
    return path[::-1]


def widen(text, start, end):
    """Grows a span to the word boundaries around it (a name never ends inside a word), then
    drops a trailing possessive ('s, ’s)."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    if end - start > 2 and text[end - 2:end].lower() in ("'s", "\u2019s"):
        end -= 2
    return start, end


GREETINGS = {"hi", "hello", "hey", "dear", "thanks", "thank", "welcome", "bye"}


def without_greeting(text, start, end):
    """Drops a leading greeting word (`Hi Keiran`) from a span."""
    first, _, rest = text[start:end].partition(" ")
    if rest.strip() and first.rstrip(",").lower() in GREETINGS:
        return end - len(rest.lstrip())
    return start


def spans(text, offsets, labels):
    """Character spans [(start, end, type)] from per-token label ids (special tokens excluded)."""
    found, current = [], None
    for (start, end), label_id in zip(offsets, labels):
        label = ner_data.LABELS[label_id]
        if label.startswith("B-") or label == "O":
            if current:
                found.append(current)
            current = [start, end, label[2:]] if label != "O" else None
        else:
            current[1] = end
    if current:
        found.append(current)
    merged = []
    for start, end, kind in found:
        start, end = widen(text, start, end)
        start = without_greeting(text, start, end)
        if merged and merged[-1][2] == kind and merged[-1][1] >= start:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), kind)
        else:
            merged.append((start, end, kind))
    return merged


def decode(text, encoding, log_probs):
    """Spans of one text from its encoding and token log-probabilities [seq, labels]."""
    keep = [i for i, m in enumerate(encoding.special_tokens_mask) if not m and encoding.offsets[i][1] > encoding.offsets[i][0]]
    offsets = [encoding.offsets[i] for i in keep]
    restarts = [t > 0 and "\n" in text[offsets[t - 1][1]:offsets[t][0]] for t in range(len(offsets))]
    path = viterbi(log_probs[keep], restarts)
    return spans(text, offsets, path)


def scores(gold, predicted, kinds):
    """{kind: (precision, recall, f1, support)} for exact span matches."""
    result = {}
    for kind in kinds:
        tp = fp = fn = 0
        for g, p in zip(gold, predicted):
            gs = {(s, e) for s, e, k in g if k == kind}
            ps = {(s, e) for s, e, k in p if k == kind}
            tp += len(gs & ps)
            fp += len(ps - gs)
            fn += len(gs - ps)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result[kind] = (round(precision, 4), round(recall, 4), round(f1, 4), tp + fn)
    return result
