"""Fusing several recognisers' grammatical readings of one plate.

Each recogniser proposes its best grammatical text. Every proposal is then scored by
every recogniser that can write all of its characters, with the full CTC likelihood
(all alignments), relative to that recogniser's own best: a product of experts in which
a model that cannot emit a character (``clp-rec`` has no 民 or 航) abstains instead of
vetoing. A per-position vote of the proposals (weighted by character confidence) is
proposed too, so one model's province can join another's digits. A character's
confidence is the recognisers' mean confidence in it, counting zero for a recogniser
that read something else there, so a disputed reading comes out low-confidence.

Between layouts (a plate read as one row, or as two rows joined), the inputs differ, so
likelihoods are not comparable; the mean character confidence decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detectors.plates.grammar import Decoded, PlatePattern, ctc_log_likelihood, match_pattern


@dataclass
class Candidate:
    """One layout of one plate: per recogniser, its probabilities and best reading."""

    layout: str
    probs: list[NDArray[np.float32]]
    decoded: list[Decoded | None]
    emittable: list[frozenset[str]]


@dataclass(frozen=True, slots=True)
class Fused:
    """The reading chosen for one plate."""

    text: str
    pattern: PlatePattern
    char_confidences: tuple[float, ...]
    layout: str
    score: float

    @property
    def confidence(self) -> float:
        """Mean per-character confidence."""
        return float(np.mean(self.char_confidences)) if self.char_confidences else 0.0


def _fuse_layout(cand: Candidate) -> Fused | None:
    proposals = {d.text for d in cand.decoded if d is not None}
    voted = _vote_text(cand)
    if voted is not None:
        proposals.add(voted)
    if not proposals:
        return None
    best_text, best_score = "", -np.inf
    if len(proposals) > 1:
        for text in sorted(proposals):
            score = 0.0
            for probs, dec, emit in zip(cand.probs, cand.decoded, cand.emittable, strict=True):
                if dec is None or not set(text) <= emit:
                    continue
                score += ctc_log_likelihood(probs, text) - ctc_log_likelihood(probs, dec.text)
            if score > best_score:
                best_text, best_score = text, score
    else:
        best_text, best_score = next(iter(proposals)), 0.0
    pattern = match_pattern(best_text)
    if pattern is None:
        return None
    return Fused(
        text=best_text,
        pattern=pattern,
        char_confidences=_agreement(cand, best_text),
        layout=cand.layout,
        score=best_score,
    )


def _agreement(cand: Candidate, text: str) -> tuple[float, ...]:
    """Per character: the recognisers' confidence in it, averaged over those that could
    have written it (a recogniser reading another character there counts zero)."""
    total = np.zeros(len(text))
    voters = 0
    for dec, emit in zip(cand.decoded, cand.emittable, strict=True):
        if not set(text) <= emit:
            continue  # abstains: it cannot write this plate
        voters += 1
        if dec is None or len(dec.text) != len(text):
            continue
        same = np.array([a == b for a, b in zip(dec.text, text, strict=True)])
        total += np.where(same, dec.char_confidences, 0.0)
    return tuple(float(v) for v in total / max(voters, 1))


def _vote_text(cand: Candidate) -> str | None:
    """Per-position vote across recognisers weighted by character confidence.

    Proposed as one more candidate: it can combine one model's province with another's
    digits, and the likelihoods then judge it like any other proposal.
    """
    decs = [d for d in cand.decoded if d is not None]
    if len(decs) < 2:
        return None
    by_len: dict[int, list[Decoded]] = {}
    for d in decs:
        by_len.setdefault(len(d.text), []).append(d)
    group = max(by_len.values(), key=lambda g: (len(g), sum(d.confidence for d in g)))
    chars = []
    for pos in range(len(group[0].text)):
        weight: dict[str, float] = {}
        for d in group:
            weight[d.text[pos]] = weight.get(d.text[pos], 0.0) + d.char_confidences[pos]
        chars.append(max(weight, key=lambda k: weight[k]))
    text = "".join(chars)
    return text if match_pattern(text) is not None else None


def fuse(candidates: list[Candidate]) -> Fused | None:
    """The best reading over all layouts, or ``None`` when nothing decodes."""
    fused = [f for f in (_fuse_layout(c) for c in candidates) if f is not None]
    if not fused:
        return None
    return max(fused, key=lambda f: f.confidence)
