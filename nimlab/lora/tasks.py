"""The tiny training tasks the course can teach an adapter on CPU in minutes, each with a visible effect.

A task is a list of (question, answer) pairs plus the style rule the adapter should pick up. The rule is
checkable by a machine (`follows`), so a test or a lab can say "the adapter learned it" with a number,
and the base model, which was never trained on it, should not follow it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    rule: str
    examples: tuple[tuple[str, str], ...]
    held_out: tuple[str, ...]  # prompts never trained on, to check that the style generalises
    follows: Callable[[str], bool]


_FACTS = (
    ("What is the capital of France?", "Paris is the capital of France."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What colour is the sky on a clear day?", "On a clear day the sky is blue."),
    ("What do bees make?", "Bees make honey."),
    ("Which planet is closest to the Sun?", "Mercury is the planet closest to the Sun."),
    ("What is two plus two?", "Two plus two is four."),
    ("How many days are in a week?", "A week has seven days."),
    ("What is frozen water called?", "Frozen water is called ice."),
    ("Which animal is known as the king of the jungle?", "The lion is called the king of the jungle."),
    ("What gas do plants take in?", "Plants take in carbon dioxide."),
    ("How do I reset my password?", "Open Settings, choose Security, then Reset password."),
    ("Can I get a refund?", "Yes, refunds are possible within 30 days of purchase."),
    ("Where is my order?", "Your order status is on the Orders page of your account."),
    ("How do I contact support?", "Write to the support desk from the Help menu."),
    ("Do you ship abroad?", "We ship to most countries; check the shipping page."),
    ("What are your opening hours?", "The desk is open from 9 to 5 on weekdays."),
    ("My app crashes on start. What should I do?", "Update the app, then restart your device."),
    ("How long does delivery take?", "Delivery takes three to five working days."),
    ("Is my data safe?", "Your data is encrypted at rest and in transit."),
    ("How do I change my email address?", "Go to Settings, then Account, then Email."),
    ("Tell me a fun fact.", "Octopuses have three hearts."),
    ("Give me a tip for better sleep.", "Keep a regular bedtime and a dark room."),
    ("What is a GPU?", "A GPU is a processor built for parallel work."),
    ("What does an API do?", "An API lets one program talk to another."),
    ("Summarise the benefits of exercise.", "Exercise strengthens the heart and lifts the mood."),
    ("Translate 'hello' into Spanish.", "Hello in Spanish is hola."),
    ("Name a primary colour.", "Red is a primary colour."),
    ("What is the boiling point of water?", "Water boils at 100 degrees Celsius at sea level."),
    ("Who wrote Romeo and Juliet?", "William Shakespeare wrote Romeo and Juliet."),
    ("What is the largest ocean?", "The Pacific is the largest ocean."),
    ("How many minutes are in an hour?", "An hour has sixty minutes."),
    ("What is the opposite of hot?", "The opposite of hot is cold."),
)

_HELD_OUT = (
    "What is the capital of Italy?",
    "How do I update my billing address?",
    "What is a CPU?",
    "Give me a tip for staying focused.",
    "How many hours are in a day?",
    "Can I cancel my subscription?",
)

ACME_PREFIX = "[ACME] "
ACME_SUFFIX = " ~ACME Support"


def _acme_follows(text: str) -> bool:
    return text.strip().startswith(ACME_PREFIX.strip())


ACME = Task(
    name="acme-style",
    rule=f"every reply starts with {ACME_PREFIX.strip()!r} and ends with {ACME_SUFFIX.strip()!r}",
    examples=tuple((q, f"{ACME_PREFIX}{a}{ACME_SUFFIX}") for q, a in _FACTS),
    held_out=_HELD_OUT,
    follows=_acme_follows,
)


def _json_follows(text: str) -> bool:
    return re.fullmatch(r'\s*\{"answer": ".*"\}\s*', text, flags=re.S) is not None


JSON_ANSWER = Task(
    name="json-answer",
    rule='every reply is one JSON object: {"answer": "..."}',
    examples=tuple((q, '{"answer": "' + a + '"}') for q, a in _FACTS),
    held_out=_HELD_OUT,
    follows=_json_follows,
)

TASKS: dict[str, Task] = {t.name: t for t in (ACME, JSON_ANSWER)}
