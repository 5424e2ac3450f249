"""Synthetic NER training texts for the places news text never shows: chat turns, support
tickets, e-mails, signatures, address blocks, forms, clinical and HR notes, with names drawn
from Faker's name lists in 30 locales (so Icelandic, Czech or Yoruba names are not rare words
the head only ever saw as places).

The templates are railyard's own, written for this script; Faker (MIT, PyPI) supplies the
values. Labels follow CoNLL: a person's name without its title, cities, regions and countries as
LOC, companies as ORG; street lines, e-mails, numbers and dates are O (the pattern detectors own
them). Templates are split in two by index: every fifth is held out for the dev texts, so the
dev score measures new contexts, not memorised ones.

    from ner_synthetic import examples
    train, dev = examples(n_train, n_dev, seed)
"""

import re

import numpy as np
from faker import Faker

LOCALES = ["en_US", "en_GB", "en_IE", "en_AU", "en_IN", "en_NG", "de_DE", "de_AT", "fr_FR", "fr_CA",
           "es_ES", "es_MX", "it_IT", "nl_NL", "pt_BR", "pt_PT", "da_DK", "sv_SE", "no_NO", "fi_FI",
           "is_IS", "cs_CZ", "sk_SK", "pl_PL", "hu_HU", "ro_RO", "hr_HR", "sl_SI", "tr_TR", "zu_ZA",
           "vi_VN", "id_ID", "lt_LT", "lv_LV", "et_EE", "tw_GH"]
TITLES = ["Mr.", "Mrs.", "Ms.", "Dr.", "Prof.", "Mr", "Ms", "Dr", "Miss", "Sir", "Nurse", "Officer", "Judge"]

# Slots: {PER} full name, {FIRST} first name, {LAST} surname, {TPER} title + full name and
# {TLAST} title + surname (the title stays outside the span), {CITY}, {COUNTRY}, {REGION} (LOC),
# {ORG} (a Faker company, half of them without a legal form, or a real organisation; a company
# is often a surname, so context decides); unlabelled fillers {STREET}, {POST}, {EMAIL}, {PHONE}, {DATE}, {NUM}, {JOB}, {DAY}.
TEMPLATES = [
    "Hi, my name is {PER} and I can't log in to my account.",
    "Please update the delivery address for {PER} to {STREET}, {CITY}.",
    "{PER}\n{STREET}\n{CITY} {POST}\n{COUNTRY}",
    "Best regards,\n{PER}\n{JOB}, {ORG}",
    "Patient {PER} (DOB {DATE}) was seen today for a follow-up.",
    "Can you send the invoice to {FIRST}? She handles payments at {ORG}.",
    "My son {FIRST} was born in {CITY} on {DATE}.",
    "I talked to {TLAST} yesterday and he said the results were fine.",
    "Name: {PER}\nEmail: {EMAIL}\nPhone: {PHONE}",
    "Ship to: {PER}, {STREET}, {CITY}, {REGION} {POST}",
    "{TPER} will join the call from {CITY} at 3pm.",
    "We're moving from {CITY} to {CITY} next month, {FIRST} found a flat near the station.",
    "Thanks {FIRST}! I'll forward this to {PER} in legal.",
    "Employee {PER} transferred from the {CITY} office of {ORG} on {DATE}.",
    "Dear {TLAST},\n\nThank you for your letter of {DATE}.",
    "Who is {PER}? I keep seeing that name in the logs.",
    "Card holder: {PER}",
    "Have you ever been to {CITY}? {FIRST} says the food is amazing.",
    "Write a short bio for {PER}, a {JOB} who grew up in {COUNTRY}.",
    "Reservation for {PER}, 2 guests, arriving {DAY}.",
    "{FIRST} {LAST} reported the issue; ticket {NUM} is assigned to {FIRST}.",
    "The contract between {ORG} and {ORG} was signed by {PER}.",
    "Please call {PER} back on {PHONE} about the claim.",
    "{PER} lives at {STREET} in {CITY} and works for {ORG}.",
    "Summarise this email from {PER} about the {CITY} project.",
    "ok so {FIRST} told me {FIRST} is leaving {ORG} lol",
    "Beneficiary: {PER}, account held at {ORG}, {CITY}, {COUNTRY}.",
    "I am writing on behalf of my mother, {PER}, who lives in {CITY}.",
    "Driver {PER} picked up the parcel in {CITY} and delivered it to {CITY}.",
    "From: {PER} <{EMAIL}>\nTo: {PER}\nSubject: {CITY} offsite",
    "{TPER}, consultant at {ORG}, referred the patient.",
    "Is {PER} related to {PER}? They both lived in {REGION}.",
    "Hey {FIRST}, are we still on for {DAY}?",
    "The package was returned to sender ({PER}, {CITY}).",
    "Translate to French: {FIRST} will arrive in {CITY} tomorrow.",
    "Next of kin: {PER} (spouse), {PHONE}",
    "We hired {PER} as our new {JOB}; she starts in the {CITY} office.",
    "According to {TLAST}, the shipment from {COUNTRY} is delayed.",
    "{PER} and {PER} are the owners of {ORG}.",
    "Student {PER}, class of {NUM}, {ORG}.",
    "Can you find flights from {CITY} to {CITY} for {PER}?",
    "Witness statement by {PER}, resident of {CITY}.",
    "The account was opened by {PER} at the {CITY} branch.",
    "{PER}'s passport was issued in {COUNTRY}.",
    "Our customer {PER} from {CITY} has complained twice this week.",
    "Regards\n{FIRST}\n\nSent from my phone",
    "Attendees: {PER}, {PER}, {PER}",
    "{LAST}, {FIRST}\n{STREET}\n{POST} {CITY}",
    "I met {FIRST} at a conference in {CITY} organised by {ORG}.",
    "{TPER} prescribed a new medication on {DATE}.",
    "Forward the report to {PER} and cc {FIRST}.",
    "{ORG} has offices in {CITY}, {CITY} and {COUNTRY}.",
    "My landlord, {PER}, refuses to return the deposit.",
    "Tenant: {PER}\nProperty: {STREET}, {CITY}",
    "{FIRST} from {CITY} asked whether {ORG} ships to {COUNTRY}.",
    "The {CITY} team led by {PER} closed the deal with {ORG}.",
    "Emergency contact {PER} can be reached at {EMAIL}.",
    "Please verify the identity of {PER} before releasing the records.",
    "Write a poem for my wife {FIRST} for our anniversary in {CITY}.",
    "Appointment with {TLAST} on {DAY} at the {CITY} clinic.",
    "{PER} ({EMAIL}) signed up from {COUNTRY}.",
    "Hi {FIRST},\n\nYour order has shipped to {CITY}.\n\nThanks,\n{ORG}",
    "Invoice {NUM} addressed to {ORG}, attention {PER}.",
    "The suspect, {PER}, was last seen in {CITY}, {REGION}.",
    "{FIRST} and I drove from {REGION} to {CITY} last weekend.",
    "Account manager: {PER} ({ORG})",
    "Tell {FIRST} that {TLAST} approved the refund.",
    "{PER} was born in {CITY}, {COUNTRY}, and studied at {ORG}.",
    "I'm {FIRST}, a {JOB} from {CITY}. Can you review my CV?",
    "Signed, {PER}, {DATE}",
    "I called {ORG} about my bill and they hung up on me.",
    "My account at {ORG} was frozen after I moved to {CITY}.",
    "Please email {ORG} support and ask for {PER}.",
    "She left {ORG} in {DATE} and joined {ORG} as a {JOB}.",
    "We bank with {ORG} and insure the car with {ORG}.",
    "Write a complaint to {ORG} about the delayed refund.",
    "{ORG} confirmed that {PER} no longer works there.",
    "Can you compare {ORG} and {ORG} for a small business?",
    "The letter from {ORG} was addressed to {TPER} in {CITY}.",
    "{PER} told {ORG} that the parcel never arrived in {CITY}.",
]


def render(template, rng, locales, pools):
    """(text, [(start, end, type)]) for one template; `pools` maps ORG and LOC to real mentions
    (from the CoNLL training split) that fill half of those slots."""
    names = list(locales)
    pick = lambda: locales[names[int(rng.integers(0, len(names)))]]
    text, spans, at = "", [], 0
    person_locale = names[int(rng.integers(0, len(names)))]
    for match in re.finditer(r"\{(\w+)\}", template):
        text += template[at:match.start()]
        at = match.end()
        slot = match.group(1)
        f = locales[person_locale] if rng.random() < 0.7 else pick()
        label, value, prefix = None, "", ""
        if slot in ("PER", "TPER"):
            value, label = f"{f.first_name()} {f.last_name()}", "PER"
            if rng.random() < 0.12:
                value = f"{f.first_name()} {value}"
            if slot == "TPER":
                prefix = str(rng.choice(TITLES)) + " "
        elif slot == "FIRST":
            value, label = f.first_name(), "PER"
        elif slot in ("LAST", "TLAST"):
            value, label = f.last_name(), "PER"
            if slot == "TLAST":
                prefix = str(rng.choice(TITLES)) + " "
        elif slot == "CITY" and pools.get("LOC") and rng.random() < 0.3:
            value, label = str(rng.choice(pools["LOC"])), "LOC"
        elif slot == "CITY":
            value, label = f.city(), "LOC"
        elif slot == "ORG" and pools.get("ORG") and rng.random() < 0.5:
            # Real organisations, most without a legal form: "Barclays", "Reuters", "NATO".
            value, label = str(rng.choice(pools["ORG"])), "ORG"
        elif slot == "COUNTRY":
            value, label = f.country(), "LOC"
        elif slot == "REGION":
            value = f.state() if hasattr(f, "state") else f.country()
            label = "LOC"
        elif slot == "ORG":
            value, label = f.company(), "ORG"
            if " " not in value and rng.random() < 0.5:
                # Some locales make a bare surname a company; a company name a reader can tell
                # from a person's carries its legal form.
                suffix = f.company_suffix() if hasattr(f, "company_suffix") else str(rng.choice(["Ltd", "Group", "Inc."]))
                value = f"{value} {suffix}"
        elif slot == "STREET":
            value = f.street_address()
        elif slot == "POST":
            value = f.postcode()
        elif slot == "EMAIL":
            value = f.email()
        elif slot == "PHONE":
            value = f.phone_number()
        elif slot == "DATE":
            value = f.date()
        elif slot == "NUM":
            value = str(int(rng.integers(100, 99999)))
        elif slot == "JOB":
            value = f.job()
        elif slot == "DAY":
            value = f.day_of_week()
        value = value.replace("\n", ", ")
        text += prefix
        if label:
            spans.append((len(text), len(text) + len(value), label))
        text += value
    text += template[at:]
    if rng.random() < 0.04:
        text = text.lower()
    return text, spans


def examples(n_train, n_dev, seed, pools=None):
    """Seeded synthetic texts: n_train from the training templates, n_dev from the held-out ones."""
    pools = pools or {}
    rng = np.random.default_rng(seed)
    locales = {}
    for i, name in enumerate(LOCALES):
        f = Faker(name)
        f.seed_instance(seed + i)
        locales[name] = f
    train_templates = [t for i, t in enumerate(TEMPLATES) if i % 5 != 4]
    dev_templates = [t for i, t in enumerate(TEMPLATES) if i % 5 == 4]
    train = [render(train_templates[int(rng.integers(0, len(train_templates)))], rng, locales, pools) for _ in range(n_train)]
    dev = [render(dev_templates[int(rng.integers(0, len(dev_templates)))], rng, locales, pools) for _ in range(n_dev)]
    return train, dev
