"""Trains the NER head over frozen MiniLM token states; writes models/heads/minilm_ner.npz
(float16 weights and a JSON report) and
prints span-level F1 on CoNLL-2003 dev and on the shared PII sentences.

The head (exported into the same ONNX graph by minilm_graph.py, so one encoder pass serves
toxicity, injection, embeddings and NER): the hidden states of LAYERS concatenated with a learned
embedding of the token shape id (ner_data.shape_ids: casing, word continuation, sentence start),
a linear projection with ReLU, one bidirectional LSTM over the window's tokens, and a linear
layer to the 9 IOB2 logits. Only the head is trained (PyTorch, CPU, fixed seed, deterministic
algorithms, one thread), on CoNLL-2003 train and the synthetic PII-style texts of
ner_synthetic.py; the epoch is chosen on CoNLL dev and the synthetic texts of held-out templates.
The PII sentences are never trained on.

    python scripts/models/train_ner.py --minilm DIR [--out models/heads/minilm_ner.npz]
"""

import argparse
import json
import os
import time

import numpy as np
import torch
from torch import nn

import features
import ner_data
import ner_decode
import ner_features
import ner_synthetic

SEED = 20261129
LAYERS = [4, 5, 6]
SHAPE_DIM = 16
PROJECTION = 128
HIDDEN = 96
EPOCHS = 6
BATCH = 32
SYNTHETIC_TRAIN = 12000
SYNTHETIC_DEV = 1500
CONLL = "../shared/data/ner_conll2003"
PII = "../shared/data/pii_dev_3000.jsonl"


class Head(nn.Module):
    def __init__(self, state_dim):
        super().__init__()
        self.shape = nn.Embedding(ner_data.SHAPES, SHAPE_DIM)
        self.projection = nn.Linear(state_dim + SHAPE_DIM, PROJECTION)
        self.dropout = nn.Dropout(0.3)
        self.lstm = nn.LSTM(PROJECTION, HIDDEN, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * HIDDEN, len(ner_data.LABELS))

    def forward(self, states, shapes, lengths):
        x = torch.cat([self.dropout(states), self.shape(shapes)], dim=-1)
        x = self.dropout(torch.relu(self.projection(x)))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=states.shape[1])
        return self.out(self.dropout(y))


def batch_tensors(rows):
    width = max(len(r["labels"]) for r in rows)
    dim = rows[0]["states"].shape[1]
    states = np.zeros((len(rows), width, dim), np.float32)
    shapes = np.zeros((len(rows), width), np.int64)
    labels = np.full((len(rows), width), -100, np.int64)
    for i, r in enumerate(rows):
        n = len(r["labels"])
        states[i, :n] = r["states"]
        shapes[i, :n] = r["shapes"]
        labels[i, :n] = r["labels"]
    lengths = torch.tensor([len(r["labels"]) for r in rows])
    return torch.from_numpy(states), torch.from_numpy(shapes), torch.from_numpy(labels), lengths


def predict(head, rows):
    head.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(rows), 256):
            chunk = rows[start:start + 256]
            states, shapes, _, lengths = batch_tensors(chunk)
            logp = torch.log_softmax(head(states, shapes, lengths), dim=-1).numpy()
            out.extend(logp[i, :len(r["labels"])] for i, r in enumerate(chunk))
    return out


def evaluate(head, rows, examples, kinds):
    predicted = [ner_decode.decode(text, r["encoding"], lp)
                 for (text, _), r, lp in zip(examples, rows, predict(head, rows))]
    return ner_decode.scores([s for _, s in examples], predicted, kinds)


def select(rows, layers):
    """Keeps the states of `layers` (the cache holds all 7)."""
    cols = np.concatenate([np.arange(i * 384, (i + 1) * 384) for i in layers])
    return [dict(r, states=r["states"][:, cols]) for r in rows]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm", required=True)
    parser.add_argument("--out", default="models/heads/minilm_ner.npz")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    tok = features.load_tokenizer(os.path.join(args.minilm, "tokenizer.json"), 128, 32)
    rng = np.random.default_rng(SEED)
    train_sentences = ner_data.read_conll(os.path.join(CONLL, "train.txt"))
    train_ex = ner_data.augmented_training_examples(train_sentences, rng)
    dev_ex = [ner_data.conll_example(s) for s in ner_data.read_conll(os.path.join(CONLL, "dev.txt"))]
    pii_ex = ner_data.read_pii(PII)
    pools = ner_data.mention_pool(train_sentences, ["ORG", "LOC"])
    synthetic_train_ex, synthetic_dev_ex = ner_synthetic.examples(SYNTHETIC_TRAIN, SYNTHETIC_DEV, SEED, pools)
    every = list(range(7))
    train = select(ner_features.extract(args.minilm, tok, train_ex, every, "train"), LAYERS)
    train += select(ner_features.extract(args.minilm, tok, synthetic_train_ex, every, "synthetic_train"), LAYERS)
    synthetic_dev = select(ner_features.extract(args.minilm, tok, synthetic_dev_ex, every, "synthetic_dev"), LAYERS)
    dev = select(ner_features.extract(args.minilm, tok, dev_ex, every, "dev"), LAYERS)
    pii = select(ner_features.extract(args.minilm, tok, pii_ex, every, "pii"), LAYERS)

    head = Head(train[0]["states"].shape[1])
    optimiser = torch.optim.Adam(head.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    kinds = ["PER", "LOC", "ORG", "MISC"]
    best = None
    for epoch in range(args.epochs):
        head.train()
        started = time.time()
        order = rng.permutation(len(train))
        total = 0.0
        for start in range(0, len(order), BATCH):
            states, shapes, labels, lengths = batch_tensors([train[i] for i in order[start:start + BATCH]])
            logits = head(states, shapes, lengths)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item()
        dev_scores = evaluate(head, dev, dev_ex, kinds)
        synthetic_scores = evaluate(head, synthetic_dev, synthetic_dev_ex, ["PER", "LOC", "ORG"])
        # Chosen on both dev sets: news, and the held-out templates of the synthetic texts.
        score = np.mean([dev_scores[k][2] for k in kinds]) + np.mean([synthetic_scores[k][2] for k in ["PER", "LOC", "ORG"]])
        print(f"epoch {epoch + 1}: loss {total:.1f} dev {dev_scores} synthetic dev {synthetic_scores} "
              f"({time.time() - started:.0f}s)", flush=True)
        if best is None or score > best[0]:
            best = (score, epoch + 1, {k: v.clone() for k, v in head.state_dict().items()}, dev_scores)
    _, epoch, state, _ = best
    # The committed weights are float16 (half the size); the figures are those of the rounded head.
    state = {k: v.half().float() if v.is_floating_point() else v for k, v in state.items()}
    head.load_state_dict(state)
    dev_scores = evaluate(head, dev, dev_ex, kinds)
    synthetic_scores = evaluate(head, synthetic_dev, synthetic_dev_ex, ["PER", "LOC", "ORG"])
    pii_scores = evaluate(head, pii, pii_ex, ["PER", "LOC", "ORG"])
    print("chosen epoch", epoch, "dev", dev_scores, "synthetic dev", synthetic_scores, "pii", pii_scores)
    arrays = {k: v.numpy().astype(np.float16) for k, v in state.items()}
    report = {"epoch": epoch, "layers": LAYERS, "seed": SEED, "conll_dev": dev_scores,
              "synthetic_dev": synthetic_scores, "pii_dev_3000": pii_scores,
              "labels": ner_data.LABELS}
    np.savez_compressed(args.out, report=np.frombuffer(json.dumps(report).encode(), np.uint8), **arrays)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
