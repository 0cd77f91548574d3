"""The fixed evaluation set: short questions with one checkable answer each.

Small on purpose (a 2-core CPU runs it twice in about a minute) and fixed, so two runs on two days compare.
An item scores when its expected answer appears in the reply, case-insensitively; `accept` lists other
spellings that also count. The set is not chosen to flatter fp32: it is what a small model should know,
and the reference's own score is reported beside the candidate's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    prompt: str
    answer: str
    accept: tuple[str, ...] = ()

    def scores(self, reply: str) -> bool:
        text = reply.lower()
        return any(a.lower() in text for a in (self.answer, *self.accept))


EVAL_SET: tuple[Item, ...] = (
    Item("What is the capital of France? Answer in one word.", "Paris"),
    Item("What is the capital of Japan? Answer in one word.", "Tokyo"),
    Item("What is the capital of Germany? Answer in one word.", "Berlin"),
    Item("What is the capital of Spain? Answer in one word.", "Madrid"),
    Item("What is the capital of the United Kingdom? Answer in one word.", "London"),
    Item("What is the largest planet in our solar system?", "Jupiter"),
    Item("Which planet is known as the Red Planet?", "Mars"),
    Item("What gas do humans need to breathe to live?", "oxygen"),
    Item("What is the chemical symbol for water?", "H2O", ("h₂o",)),
    Item("How many days are there in a week?", "seven", ("7",)),
    Item("How many legs does a spider have?", "eight", ("8",)),
    Item("What colour is the sky on a clear day?", "blue"),
    Item("What is frozen water called?", "ice"),
    Item("Who wrote Romeo and Juliet?", "Shakespeare"),
    Item("What is the opposite of hot?", "cold"),
    Item("Which animal is known as the king of the jungle?", "lion"),
    Item("What do bees make?", "honey"),
    Item("What is 2 + 2?", "4", ("four",)),
    Item("What is 10 minus 3?", "7", ("seven",)),
    Item("Which ocean is the largest?", "Pacific"),
    Item("What is the boiling point of water in degrees Celsius?", "100"),
    Item("What language is mostly spoken in Brazil?", "Portuguese"),
    Item("How many continents are there?", "seven", ("7",)),
    Item("What is the main language of the United States?", "English"),
)
