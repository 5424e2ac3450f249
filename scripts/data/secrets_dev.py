"""Writes a labelled secrets development set: out/eval/secrets_dev.jsonl.

Positives are our own templates (shell exports, env files, YAML, JSON, quoted passwords with
any printable characters, connection strings, Authorization headers, tokens after a label,
and the well-known provider formats) filled with random values from a fixed seed; the
gitleaks and detect-secrets rule sets were read for which families exist, nothing was copied.
Negatives are ordinary text: every sentence of ../shared/data/pii_speed_10000.jsonl and the
benign prompts of injection_dev.jsonl, plus generated code and logs without secrets (config
keys with ordinary values, UUIDs, commit hashes in commit messages, checksums, version
strings). Rows: {"text", "label": 0|1, "category": family}.

    python3 scripts/data/secrets_dev.py [--per-family 200]
"""

import argparse
import base64
import json
import os
import random
import string
import uuid

ROOT = os.path.join(os.path.dirname(__file__), "../..")
SHARED = os.environ.get("RAILYARD_SHARED_DATA", os.path.join(ROOT, "../shared/data"))
rng = random.Random(20261207)


def rand(alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64(nbytes):
    return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(nbytes))).decode()


def b64url(nbytes):
    return base64.urlsafe_b64encode(bytes(rng.getrandbits(8) for _ in range(nbytes))).decode().rstrip("=")


def json_b64url(value):
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def jwt():
    """A JWT whose header and claims decode (a key id and a subject of random bytes), and a
    random signature: 18, 30 and 32 random bytes, as the rows before it were drawn."""
    kid = bytes(rng.getrandbits(8) for _ in range(18)).hex()
    sub = bytes(rng.getrandbits(8) for _ in range(30)).hex()
    return json_b64url({"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + json_b64url({"sub": sub}) + "." + b64url(32)


def hexs(n):
    return rand("0123456789abcdef", n)


ALNUM = string.ascii_letters + string.digits
PRINTABLE = string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@[]^_{|}~ "
SECRET_NAMES = ["API_SECRET", "DB_PASSWORD", "AUTH_TOKEN", "STRIPE_SECRET_KEY", "AWS_SECRET_ACCESS_KEY",
                "SECRET_KEY", "ACCESS_TOKEN", "CLIENT_SECRET", "APP_SECRET", "JWT_SECRET", "API_KEY",
                "GITHUB_TOKEN", "SLACK_TOKEN", "PRIVATE_KEY_PASSPHRASE", "REDIS_PASSWORD"]
YAML_KEYS = ["password", "api_key", "secret", "client_secret", "access_token", "auth_token", "secret_key",
             "db_password", "apiKey", "clientSecret"]


def value():
    kind = rng.randrange(4)
    if kind == 0:
        return b64(rng.choice([24, 30, 32, 40]))
    if kind == 1:
        return hexs(rng.choice([32, 40, 64]))
    if kind == 2:
        return b64url(rng.choice([24, 32]))
    return rand(ALNUM, rng.choice([20, 32, 40]))


def password():
    n = rng.randrange(8, 24)
    p = rand(PRINTABLE, n).strip()
    while len(p) < 8:
        p += rand(ALNUM, 1)
    return p


FAMILIES = {
    "shell_export": lambda: rng.choice(["export {k}={v}", "{k}={v}", "export {k}=\"{v}\"", "{k}='{v}'",
                                        "RUN export {k}={v} && make deploy", "env {k}={v} ./server"]).format(
        k=rng.choice(SECRET_NAMES), v=value()),
    "env_file": lambda: "\n".join(["# production settings", "PORT=8080", "{k}={v}".format(k=rng.choice(SECRET_NAMES), v=value()),
                                   "LOG_LEVEL=info"]),
    "yaml": lambda: "database:\n  host: db.internal\n  {k}: {q}{v}{q}\n  port: 5432".format(
        k=rng.choice(YAML_KEYS), v=value(), q=rng.choice(["", "\"", "'"])),
    "json": lambda: json.dumps({"service": "billing", rng.choice(YAML_KEYS): value(), "retries": 3}),
    "quoted_password": lambda: rng.choice(["db_password = \"{p}\"", "PASSWORD='{p}'", "password: \"{p}\"",
                                           "conn.login(user=\"admin\", password=\"{p}\")", "mysql -u root -p'{p}'",
                                           "smtp_pass = \"{p}\""]).format(p=password().replace("\"", "").replace("'", "")),
    "connection_string": lambda: rng.choice(["postgres://app:{p}@db.internal:5432/orders",
                                             "mongodb+srv://admin:{p}@cluster0.example.net/test",
                                             "redis://:{p}@cache:6379/0", "amqp://guest:{p}@mq.local:5672/"]).format(
        p=rand(ALNUM + "!$%*", rng.randrange(10, 24))),
    "auth_header": lambda: rng.choice(["Authorization: Bearer {t}", "Authorization: Basic {b}",
                                       "Authorization: token {h}", "curl -H 'Authorization: Bearer {t}' https://api.example.com"]).format(
        t=b64url(32), b=b64(24), h=hexs(40)),
    "token_after_label": lambda: rng.choice(["token: {h}", "my api key is {v}", "access token = {v}", "here is the token {h} for CI",
                                             "secret: {v}"]).format(h=hexs(40), v=value()),
    "provider": lambda: rng.choice([
        "AKIA" + rand(string.ascii_uppercase + string.digits, 16),
        "ghp_" + rand(ALNUM, 36), "github_pat_" + rand(ALNUM + "_", 60), "glpat-" + rand(ALNUM + "_-", 20),
        "xoxb-" + rand(string.digits, 12) + "-" + rand(string.digits, 13) + "-" + rand(ALNUM, 24),
        "sk_live_" + rand(ALNUM, 24), "rk_live_" + rand(ALNUM, 24), "AIza" + rand(ALNUM + "_-", 35),
        "sk-proj-" + rand(ALNUM + "_-", 48), "sk-ant-api03-" + rand(ALNUM + "_-", 40), "hf_" + rand(ALNUM, 34),
        "npm_" + rand(ALNUM, 36), "SG." + rand(ALNUM + "_-", 22) + "." + rand(ALNUM + "_-", 43),
        jwt(),
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE" + b64(60) + "\n-----END RSA PRIVATE KEY-----",
        "dop_v1_" + hexs(64), "shpat_" + hexs(32), "pypi-AgEIcHlwaS5vcmc" + b64url(48),
        str(rng.randrange(10**8, 10**10)) + ":AA" + rand(ALNUM + "_-", 33), "sq0atp-" + rand(ALNUM + "_-", 22),
        "dapi" + hexs(32), "hvs." + rand(ALNUM + "_-", 90), "PMAK-" + hexs(24) + "-" + hexs(34),
        "NRAK-" + rand(string.ascii_uppercase + string.digits, 27), "glsa_" + rand(ALNUM, 32) + "_" + hexs(8),
    ]).join(rng.choice([("my key is ", ""), ("use ", " in the config"), ("", ""), ("token=", "")])),
}


def negatives_generated(n):
    rows = []
    makers = [
        lambda: "commit {h}\nAuthor: Ana <ana@example.com>\n\n    Fix the retry loop".format(h=hexs(40)),
        lambda: "Merge commit {h} into main after review".format(h=hexs(40)),
        lambda: "sha256: {h}  release-1.4.2.tar.gz".format(h=hexs(64)),
        lambda: "request id {u} failed with status 503".format(u=uuid.UUID(int=rng.getrandbits(128))),
        lambda: "password_min_length = 12\nsession_timeout = 30\ntoken_ttl_seconds = 3600",
        lambda: "def rotate_token(client):\n    return client.refresh(scope=\"read\")",
        lambda: "The API key must be stored in the vault, never in the repository.",
        lambda: "max_tokens: 512\ntemperature: 0.2\nmodel: gpt-4o-mini",
        lambda: "Set the environment variable API_KEY before running the script.",
        lambda: "image: registry.example.com/app:{v}\nreplicas: 3".format(v="1." + str(rng.randrange(20)) + "." + str(rng.randrange(9))),
        lambda: "Your verification code expires in 10 minutes; do not share your password.",
        lambda: "key = cache_key(user_id, \"profile\")",
        lambda: "docker pull postgres@sha256:{h}".format(h=hexs(64)),
        lambda: "The secret to a good sourdough is patience and a warm kitchen.",
    ]
    for i in range(n):
        rows.append({"text": makers[i % len(makers)](), "label": 0, "category": "negative:code_and_logs"})
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-family", type=int, default=200)
    parser.add_argument("--out", default=os.path.join(ROOT, "out/eval/secrets_dev.jsonl"))
    args = parser.parse_args()
    rows = []
    for family, make in FAMILIES.items():
        for _ in range(args.per_family):
            rows.append({"text": make(), "label": 1, "category": family})
    with open(os.path.join(SHARED, "pii_speed_10000.jsonl"), encoding="utf-8") as f:
        rows += [{"text": json.loads(l)["text"], "label": 0, "category": "negative:sentences"} for l in f]
    with open(os.path.join(SHARED, "injection_dev.jsonl"), encoding="utf-8") as f:
        for l in f:
            r = json.loads(l)
            if r["label"] == 0:
                rows.append({"text": r["text"], "label": 0, "category": "negative:prompts"})
    rows += negatives_generated(2000)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print(f"{len(rows)} rows ({sum(r['label'] for r in rows)} positive) -> {args.out}")


if __name__ == "__main__":
    main()
