"""Deterministic text rules of the update decision (see `memory.store`): normalising a fact, the
attribute 'slot' it sets, and the entities it names.

English only, and deliberately small: a slot is detected only for first-person statements of
attributes a person has one value of at a time (where I live, my name, my job, my favourite X, my
age, ...). Facts about other people ("my sister lives in Berlin") and open-ended facts ("I have a
dog named Rex", "I'm allergic to peanuts") get no slot, so they never replace each other by rule.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

_PROFESSIONS = (
    'engineer|developer|programmer|teacher|nurse|doctor|physician|surgeon|lawyer|attorney|accountant|'
    'designer|architect|manager|chef|cook|scientist|researcher|writer|journalist|consultant|analyst|'
    'pharmacist|dentist|electrician|plumber|carpenter|mechanic|firefighter|police officer|pilot|student|'
    'professor|lecturer|librarian|photographer|artist|musician|veterinarian|vet|therapist|psychologist|'
    'salesperson|cashier|waiter|waitress|barista|driver|farmer|banker|entrepreneur|freelancer|'
    'translator|editor|paramedic|economist|recruiter|product owner|tester|administrator|technician'
)
_CHILDREN_COUNT = r'(?:\d+|no|one|two|three|four|five|six|seven|eight|nine|ten)'

# (slot, pattern) over the normalised text; the first match wins, so the more specific come first.
_SLOT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (slot, re.compile(pattern))
    for slot, pattern in (
        ('name', r"\bmy (?:first |full |given )?name(?: is|'s)\b|^(?:you can |please |just )?call me\b"),
        ('name', r"\bi(?: am|'m) called\b|\bi go by\b"),
        (
            'partner_name',
            r"\bmy (?:wife|husband|partner|spouse|girlfriend|boyfriend|fiancee?)(?:'s name is| is (?:called|named)\b)"
            r"|\bi(?: am|'m) (?:married|engaged) to\b",
        ),
        (
            'residence',
            r'\b(?:i|we)(?: now| currently| still)? (?:live|reside) (?:in|at|near|outside|just outside|on)\b'
            r"|\b(?:i(?: am|'m)|we(?: are|'re))(?: now| currently| still)? (?:living|residing|based|located) (?:in|at|near|out of)\b"
            r"|\b(?:i|we)(?: have|'ve)?(?: just| recently| finally)? (?:moved|relocated)(?: back)? (?:to|into)\b"
            r'|\bmy (?:home|house|apartment|flat) is (?:in|at|near)\b',
        ),
        (
            'hometown',
            r"\bi(?: am|'m)(?: originally)? from\b|\bi come from\b|\bi grew up in\b"
            r'|\bi was born (?:and raised )?in\b|\bmy hometown is\b',
        ),
        (
            'job',
            r"\bi(?: now| currently)? work as\b|\bi(?: am|'m) (?:employed|working) as\b"
            r'|\bmy (?:job|occupation|profession|job title) is\b'
            r"|\bi(?: have|'ve)?(?: just)? (?:got a job as|started working as)\b"
            rf"|^i(?: am|'m)(?: now| currently)? (?:a|an) (?:[a-z-]+ ){{0,3}}(?:{_PROFESSIONS})\b",
        ),
        (
            'employer',
            r'\bi(?: now| currently)? work (?:at|for)\b|\bmy (?:employer|company) is\b'
            r"|\bi(?: am|'m) employed (?:at|by)\b",
        ),
        (
            'age',
            r'\bmy age is\b|\bi(?: just| recently)? turned \d{1,3}\b'
            r"|\bi(?: am|'m)(?: now)? \d{1,3}(?: years? old| yo)?(?:$|[,;!]| and\b| now\b)",
        ),
        ('birthday', r'\bmy (?:birthday|date of birth|birth date|bday) is\b|\bi was born on\b'),
        ('email', r'\bmy (?:e-?mail|e-?mail address) is\b'),
        ('phone', r'\bmy (?:phone|mobile|cell)(?: phone)?(?: number)? is\b'),
        (
            'timezone',
            r"\bmy time ?zone is\b|\bi(?: am|'m) (?:in|on) (?:the )?[a-z0-9/_+ ]{1,20} time ?zone\b",
        ),
        ('pronouns', r'\bmy pronouns are\b'),
        ('native_language', r'\bmy (?:native|first|mother) (?:language|tongue) is\b|\bmy mother tongue is\b'),
        ('children_count', rf'\bi have {_CHILDREN_COUNT} (?:kids|children)\b'),
        (
            'height',
            r"\bmy height is\b|\bi(?: am|'m) \d(?:'| ?ft\b| foot\b| feet\b)|\bi(?: am|'m) 1[.,]\d\d ?m\b",
        ),
        ('weight', r'\bmy weight is\b|\bi(?: now)? weigh\b'),
        (
            'diet',
            r"^i(?: am|'m)(?: now)?(?: a)? (?:vegetarian|vegan|pescatarian|flexitarian)\b"
            r"|\bi(?: no longer|'m no longer| don't| do not| stopped| quit| now)? eat(?:ing)? meat\b",
        ),
    )
)

# 'My favourite X is Y' and 'Y is my favourite X': one slot per X.
_FAVOURITE_RULES = (
    re.compile(
        r'\bmy (?:all[- ]time |absolute |very )?favou?rite ([a-z][a-z ]{0,30}?)'
        r' (?:is|are|was|were|would be|has to be|right now is|these days is)\b'
    ),
    re.compile(r'\bis my (?:all[- ]time |absolute |very )?favou?rite ([a-z][a-z ]{0,30}?)(?:$|[,;!])'),
)
_FAVOURITE_SYNONYMS = {'colour': 'color', 'film': 'movie', 'tv show': 'show', 'tv series': 'show'}

_RELATION_NOUNS = frozenset(
    'wife husband partner spouse girlfriend boyfriend fiance fiancee sister brother sibling mother mom '
    'mum father dad parent son daughter kid child children baby grandmother grandma grandfather grandpa '
    'aunt uncle cousin niece nephew friend boss colleague coworker roommate neighbor neighbour dog cat '
    'puppy kitten pet bird parrot fish hamster rabbit horse'.split()
)
# Capitalised only because they start a sentence: not names.
_SENTENCE_WORDS = frozenset(
    "i i'm i've i'll i'd my me we our the a an it this that he she they please also actually honestly "
    'now today recently currently lately just so and but oh well yes no remember note btw fyi by'.split()
)
_WORD = re.compile(r"[\w'’-]+")


def normalise(text: str) -> str:
    """The form facts are compared in: NFKC, straight apostrophes, one space, casefolded, no final stop."""
    text = unicodedata.normalize('NFKC', text).replace('’', "'").replace('‘', "'")
    return ' '.join(text.split()).casefold().rstrip(' .!')


def slot_of(text: str) -> str | None:
    """The attribute a first-person fact sets (`residence`, `favorite:color`, ...), or None."""
    norm = normalise(text)
    for rule in _FAVOURITE_RULES:
        if match := rule.search(norm):
            return f'favorite:{_favourite_topic(match.group(1))}'
    for slot, rule in _SLOT_RULES:
        if rule.search(norm):
            return slot
    return None


def _favourite_topic(topic: str) -> str:
    words = topic.split()
    last = words[-1]
    if last.endswith('s') and not last.endswith('ss') and len(last) > 3:
        words[-1] = last[:-1]  # 'my favourite movies are' and 'my favourite movie is' share a slot
    topic = ' '.join(_FAVOURITE_SYNONYMS.get(w, w) for w in words)
    return _FAVOURITE_SYNONYMS.get(topic, topic)


def anchors(text: str) -> frozenset[str]:
    """The entities a fact names: numbers, capitalised names and the people or pets it is about.

    Two facts naming different entities ("a dog named Rex" / "a dog named Max", "my wife" / "my
    sister") are different facts however similar their embeddings are.
    """
    found: set[str] = set()
    for raw in _WORD.findall(unicodedata.normalize('NFKC', text)):
        word = raw.replace('’', "'").strip("'-")
        lower = word.casefold().removesuffix("'s")
        # 'Mondays' and 'Monday', 'dogs' and 'dog' name the same thing.
        singular = lower[:-1] if lower.endswith('s') and not lower.endswith('ss') else lower
        if any(c.isdigit() for c in word):
            found.add(lower)
        elif word[:1].isupper() and lower not in _SENTENCE_WORDS:
            found.add(singular)
        elif singular in _RELATION_NOUNS or lower in _RELATION_NOUNS:
            found.add(singular)
    return frozenset(found)


# --- What a new statement does to the memory it is about (the offline decision) ----------------

CONFLICT_WINDOW_SECONDS = 24 * 3600
"""Two contradicting statements this close in time, neither saying that something changed, are a
conflict to ask about; a contradiction of an older statement is taken as the newer truth."""
SAME_SUBJECT_SIMILARITY = 0.45
"""Cosine from which a candidate is about the same thing even without a shared word. Measured on
tests/memory_data/natural.json: a replacement scores 0.34-0.73 with the statement it replaces, and
the best other statement of the same user scores 0.14-0.45 with it."""
SHARED_WORD_SIMILARITY = 0.3
"""Cosine from which a candidate sharing a content word with the statement is about the same thing."""

_CHANGE = re.compile(
    r'\b(?:now|anymore|any more|no longer|not any ?more|no more|quit|quitting|moved|relocated|switched|'
    r'changed|finally|promoted|went up|gone up|goes up|raised|lowered|dropped|down to|up to|paid off|'
    r'back from|in the end|ended up|instead|replaced|extended|postponed|cancell?ed|used to|these days|'
    r"nowadays|since then|it's been|have been|got back|turned|became|become)\b"
)
_PLAN = re.compile(
    r'\b(?:plan|planning|planned|going to|gonna|thinking of|thinking about|want to|wanna|hoping|hope to|'
    r"saving up|saving for|will|'ll|getting|next|soon|booked|trying to|might)\b"
)
_PAST = re.compile(r'\b(?:was|were|went|got|did|had|bought|finished|made it|done|over)\b|\b\w{3,}ed\b')
_STOPWORDS = frozenset(
    "i i'm i've i'd i'll me my mine we we're we've our us you your the a an and or but so of to in on "
    'at for with from by about as is are was were be been being am do does did have has had it its '
    "it's this that these those what which who whom whose when where why how can could would should "
    'will may might must not no yes there here than then too very just really also still any some all '
    'more most much many few one get got go going want like up out over into after before again ever '
    "never don't can't didn't isn't now finally new".split()
)

Verdict = Literal['add', 'restated', 'supersede', 'conflict']


@dataclass(frozen=True)
class Candidate:
    """A current memory near a new statement: its text, slot, cosine to it and age in seconds."""

    text: str
    slot: str | None
    similarity: float
    age_seconds: float


def content_stems(text: str) -> frozenset[str]:
    """Content words cut to six letters: a crude stem ('therapist' and 'therapy' meet)."""
    words = (w.strip("'-").removesuffix("'s") for w in _WORD.findall(normalise(text)))
    return frozenset(w[:6] for w in words if len(w) > 2 and w not in _STOPWORDS)


def says_change(text: str) -> bool:
    """The statement says something changed ('I quit ...', 'went up to', 'moved to', 'now')."""
    return bool(_CHANGE.search(normalise(text)))


def same_subject(text: str, slot: str | None, candidate: Candidate) -> bool:
    """The candidate is about what the new statement is about: same slot, or close and not about
    another named person, pet or number-less thing."""
    if slot and candidate.slot:
        return slot == candidate.slot
    mine, theirs = _named(text), _named(candidate.text)
    if mine and theirs and not mine & theirs:
        return False  # 'my dog Rex' is not 'my dog Max'; 'my wife' is not 'my sister'
    if candidate.similarity >= SAME_SUBJECT_SIMILARITY:
        return True
    return candidate.similarity >= SHARED_WORD_SIMILARITY and bool(
        content_stems(text) & content_stems(candidate.text)
    )


def decide(text: str, slot: str | None, candidates: list[Candidate]) -> tuple[Verdict, int | None]:
    """What a new statement does, by rule: `restated` or `supersede` candidate i, `conflict` with
    candidate i (ask the user), or `add`. The candidate it is about is the one holding its slot,
    else the nearest sharing a content word, else the nearest close enough."""
    stems = content_stems(text)
    about = [(i, c) for i, c in enumerate(candidates) if same_subject(text, slot, c)]
    if not about:
        return 'add', None
    i, candidate = max(
        about,
        key=lambda ic: (
            bool(slot) and ic[1].slot == slot,
            bool(stems & content_stems(ic[1].text)),
            ic[1].similarity,
        ),
    )
    if candidate.similarity >= UPDATE_SIMILARITY_RULE and anchors(text) == anchors(candidate.text):
        return 'restated', i
    if says_change(text) or (_is_plan(candidate.text) and _is_past(text)):
        return 'supersede', i
    # Without a word of change, only an attribute a person has one value of contradicts: two
    # numbers ('code number 1 is ...', 'code number 2 is ...') may well both be true.
    if bool(slot) and slot == candidate.slot:
        if candidate.age_seconds < CONFLICT_WINDOW_SECONDS:
            return 'conflict', i
        return 'supersede', i
    return 'add', None  # related, not replacing: both are kept


UPDATE_SIMILARITY_RULE = 0.9
"""Cosine from which a statement naming the same entities restates the memory (`store` rule 3)."""


_WHEN = frozenset(
    'monday tuesday wednesday thursday friday saturday sunday january february march april may june '
    'july august september october november december'.split()
)


def _named(text: str) -> frozenset[str]:
    """The people, pets and places a statement names (not its numbers, days or months: values)."""
    return frozenset(a for a in anchors(text) if not any(c.isdigit() for c in a) and a not in _WHEN)


def _is_plan(text: str) -> bool:
    return bool(_PLAN.search(normalise(text)))


def _is_past(text: str) -> bool:
    return bool(_PAST.search(normalise(text)))
