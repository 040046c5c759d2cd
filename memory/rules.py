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
            r'\bi(?: now| currently| still)? (?:live|reside) (?:in|at|near|outside|just outside|on)\b'
            r"|\bi(?: am|'m)(?: now| currently| still)? (?:living|residing|based|located) (?:in|at|near|out of)\b"
            r"|\bi(?: have|'ve)?(?: just| recently| finally)? (?:moved|relocated)(?: back)? (?:to|into)\b"
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
