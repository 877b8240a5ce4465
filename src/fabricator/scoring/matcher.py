"""Which label a token at an answer position leads to, on the text the model writes.

Label scoring reads the model's probabilities for the first answer token instead of parsing what
it wrote. A token can lead to one label (" positive", " Pos"), to several that share its text
(" very" for "very positive" and "very negative"; " human" for "human" and "human being"), or to
none (" The", a quote). The matcher works on text, not on token ids, so it needs no tokenizer and
serves any backend that returns its top tokens: case and runs of white space are ignored, and a
label is complete when the text reaches its end at a word boundary. Tokens that keep several
labels open become branches, scored at the next position (see ``label_scores``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_SPACES = re.compile(r"\s+")
_LEAD = " \t\r\n\"'`*"  # what may come before the label: white space, quotes, emphasis
_END_TOKENS = ("<|", "</s>", "<eos>", "<end")


def normalize(text: str) -> str:
    """Lower case, white space runs as one space, no leading space or quote (a trailing space stays)."""
    return _SPACES.sub(" ", text.lower()).lstrip(_LEAD)


def _is_end(token: str) -> bool:
    """An end-of-answer token (empty, a new line, or a special token such as ``<|im_end|>``)."""
    return token == "" or token.startswith(("\n", *_END_TOKENS))


@dataclass
class Step:
    """What the tokens at one position did: probability mass credited to labels, and open branches."""

    labels: dict[str, float] = field(default_factory=dict)
    branches: dict[str, tuple[str, float]] = field(default_factory=dict)  # normalized -> (raw text, mass)

    def credit(self, label: str, mass: float) -> None:
        self.labels[label] = self.labels.get(label, 0.0) + mass

    def branch(self, raw: str, mass: float) -> None:
        key = normalize(raw)
        kept = self.branches.get(key)
        if kept is None:
            self.branches[key] = (raw, mass)
        else:  # " Very" and " very" are one branch: the likelier spelling is the one continued
            self.branches[key] = (kept[0] if kept[1] >= mass else raw, kept[1] + mass)


class LabelMatcher:
    """Maps answer text to labels; ``answers`` maps each accepted answer (label or synonym) to its label."""

    def __init__(self, answers: Mapping[str, str]) -> None:
        if not answers:
            raise ValueError("label scoring needs at least one label")
        self.answers = {normalize(a).rstrip(): label for a, label in answers.items() if normalize(a).strip()}
        self.labels = list(dict.fromkeys(answers.values()))

    def targets(self, text: str, *, ended: bool = False) -> tuple[set[str], set[str]]:
        """Labels ``text`` completes, and labels it is still a strict prefix of.

        ``ended``: nothing follows ``text`` (the model ended its answer), so nothing is open.
        """
        s = normalize(text)
        complete, open_ = set(), set()
        longest = -1
        for answer, label in self.answers.items():
            if s.startswith(answer) and (len(s) == len(answer) or not s[len(answer)].isalnum()):
                if len(answer) > longest:  # "human being" over "human" when the text has both
                    complete, longest = {label}, len(answer)
            elif not ended and answer.startswith(s):
                open_.add(label)
        return complete, open_

    def step(self, prefix: str, top: Iterable[tuple[str, float]], mass: float = 1.0) -> Step:
        """Spread ``mass`` (the probability of reaching ``prefix``) over the ``top`` tokens after it.

        ``top`` holds ``(token, probability)`` pairs. Mass of tokens that lead to no label is
        dropped; the caller renormalizes over what reached a label.
        """
        step = Step()
        for token, p in top:
            if p <= 0.0:
                continue
            ended = bool(prefix) and _is_end(token)
            raw = prefix if ended else prefix + token
            if not normalize(raw).strip():
                continue  # white space or a quote before any letter: no label yet
            complete, open_ = self.targets(raw, ended=ended)
            reachable = complete | open_
            if len(reachable) == 1 or (complete and not open_):
                step.credit(next(iter(complete or open_)), mass * p)
            elif reachable:
                step.branch(raw, mass * p)
        return step


__all__ = ["LabelMatcher", "Step", "normalize"]
