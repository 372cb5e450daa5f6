"""Chinese plate grammar, and CTC decoding constrained by it.

A plate is one of a few fixed patterns (GA 36-2018 and the special series): the
province abbreviation, the issuing-authority letter, then five characters, or the
new-energy, police, learner, cross-border, embassy, consulate, armed-police and
civil-aviation forms. Each pattern is a sequence of *slots*, each slot the set of
characters allowed there.

:func:`constrained_decode` finds, for every pattern at once, the best CTC path whose
collapsed text fits the pattern (a Viterbi search over the CTC states with the label
at each position restricted to its slot), and returns the best-scoring pattern. The
grammar therefore steers the reading ("0" against "D" at a digit-only position) rather
than merely rejecting a free reading afterwards.

Example:
    >>> match_pattern("沪AF71017").name
    'new_energy_small'
    >>> is_valid_plate("皖AI2345")   # no I or O on Chinese plates
    False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, no O
DIGITS = "0123456789"
ALNUM = DIGITS + LETTERS
SUFFIXES = "警学港澳领使挂"
SPECIAL = "民航"
#: Every character a plate can hold, in a fixed order (the decoder's column order).
ALPHABET = ALNUM + PROVINCES + SUFFIXES + SPECIAL

PlateKind = Literal[
    "regular",
    "new_energy_small",
    "new_energy_large",
    "police",
    "learner",
    "trailer",
    "hong_kong",
    "macau",
    "consulate",
    "embassy",
    "armed_police",
    "civil_aviation",
    "agricultural",
]


@dataclass(frozen=True, slots=True)
class PlatePattern:
    """One plate form: a name, and the characters allowed at each position."""

    name: PlateKind
    slots: tuple[str, ...]
    description: str

    def __len__(self) -> int:
        return len(self.slots)

    def fits(self, text: str) -> bool:
        """Whether ``text`` is a plate of this form."""
        return len(text) == len(self.slots) and all(
            c in s for c, s in zip(text, self.slots, strict=True)
        )


def _p(name: PlateKind, description: str, *slots: str) -> PlatePattern:
    return PlatePattern(name, tuple(slots), description)


_P, _A, _X, _D = PROVINCES, LETTERS, ALNUM, DIGITS

#: The plate forms, most common first.
PATTERNS: tuple[PlatePattern, ...] = (
    _p("regular", "blue/yellow: 京A12345", _P, _A, _X, _X, _X, _X, _X),
    _p("new_energy_small", "green, small car: 沪AF71017", _P, _A, "DF", _X, _D, _D, _D, _D),
    _p("new_energy_large", "yellow-green, large: 青A00109D", _P, _A, _D, _D, _D, _D, _D, "DF"),
    _p("police", "white: 鄂F8888警", _P, _A, _X, _X, _X, _X, "警"),
    _p("learner", "yellow coach: 京A6716学", _P, _A, _X, _X, _X, _X, "学"),
    _p("trailer", "yellow trailer: 鲁A1234挂", _P, _A, _X, _X, _X, _X, "挂"),
    _p("hong_kong", "black cross-border: 粤ZEV52港", _P, _A, _X, _X, _X, _X, "港"),
    _p("macau", "black cross-border: 粤ZJ541澳", _P, _A, _X, _X, _X, _X, "澳"),
    _p("consulate", "black consulate: 沪A1707领", _P, _A, _X, _X, _X, _X, "领"),
    _p("embassy", "black embassy: 使198476", "使", _D, _D, _D, _D, _D, _D),
    _p("armed_police", "white armed police: WJ粤6788B", "W", "J", _P, _X, _X, _X, _X, _X),
    _p("civil_aviation", "civil aviation: 民航B9016", "民", "航", _X, _X, _X, _X, _X),
    _p("agricultural", "agricultural vehicle: 皖1946673", _P, _D, _D, _D, _D, _D, _D, _D),
)
PATTERN_BY_NAME: dict[str, PlatePattern] = {p.name: p for p in PATTERNS}


def match_pattern(text: str) -> PlatePattern | None:
    """The first pattern ``text`` fits, or ``None`` if it is not a plate."""
    for pattern in PATTERNS:
        if pattern.fits(text):
            return pattern
    return None


def is_valid_plate(text: str) -> bool:
    """Whether ``text`` (no separators) is a well-formed Chinese plate."""
    return match_pattern(text) is not None


def normalise(text: str) -> str:
    """Upper-case and strip the separators people write (``京A·12345`` -> ``京A12345``)."""
    return "".join(c for c in text.upper() if c not in " ·.-_:•")


@dataclass(frozen=True, slots=True)
class Decoded:
    """The best grammatical reading of one CTC output.

    Attributes:
        text: the plate text (fits ``pattern``).
        pattern: the plate form chosen.
        char_confidences: per character, its peak probability over the frames it holds.
        log_score: log-probability of the best CTC path (comparable across patterns).
        free_log_score: log-probability of the unconstrained best path (an upper bound);
            the gap to ``log_score`` says how much the grammar had to bend the reading.
    """

    text: str
    pattern: PlatePattern
    char_confidences: tuple[float, ...]
    log_score: float
    free_log_score: float

    @property
    def confidence(self) -> float:
        """Mean of the per-character confidences."""
        return float(np.mean(self.char_confidences)) if self.char_confidences else 0.0


_NEG = -1e9


def _masks(patterns: tuple[PlatePattern, ...]) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    lmax = max(len(p) for p in patterns)
    col = {c: i for i, c in enumerate(ALPHABET)}
    mask = np.zeros((len(patterns), lmax, len(ALPHABET)), dtype=bool)
    for i, p in enumerate(patterns):
        for k, slot in enumerate(p.slots):
            mask[i, k, [col[c] for c in slot]] = True
    lengths = np.array([len(p) for p in patterns], dtype=np.int64)
    return mask, lengths


_MASK, _LENGTHS = _masks(PATTERNS)


def constrained_decode(
    probs: NDArray[np.float32], patterns: tuple[PlatePattern, ...] = PATTERNS
) -> Decoded | None:
    """Best CTC reading of ``probs`` that fits one of ``patterns``.

    Args:
        probs: (T, 1 + len(ALPHABET)) per-frame probabilities; column 0 is the CTC blank,
            column 1 + i is ``ALPHABET[i]`` (see :mod:`detectors.plates.recognize`, which
            maps each model's vocabulary to this layout).
        patterns: the forms allowed (default: all).

    Returns:
        The best reading, or ``None`` when the output has too few frames for any pattern.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != 1 + len(ALPHABET):
        raise ValueError(f"probs: expected (T, {1 + len(ALPHABET)}), got {probs.shape}")
    mask, lengths = (_MASK, _LENGTHS) if patterns is PATTERNS else _masks(patterns)
    logp = np.log(np.clip(probs, 1e-12, None))
    n_frames = len(logp)
    n_pat, lmax, n_chr = mask.shape
    free = float(logp.max(axis=1).sum())
    if n_frames < int(lengths.min()):
        return None
    lab = np.full((n_pat, lmax, n_chr), _NEG)
    blank = np.full((n_pat, lmax + 1), _NEG)
    # backpointers: for labels 0 stay, 1 from blank, 2 from the previous label;
    # for blanks 0 stay, 1 from the label before
    lab_src = np.zeros((n_frames, n_pat, lmax, n_chr), dtype=np.int8)
    lab_prev = np.zeros((n_frames, n_pat, lmax, n_chr), dtype=np.int16)
    blank_src = np.zeros((n_frames, n_pat, lmax + 1), dtype=np.int8)
    blank_prev = np.zeros((n_frames, n_pat, lmax + 1), dtype=np.int16)
    chars = np.arange(n_chr)
    for t in range(n_frames):
        lp_chr, lp_blank = logp[t, 1:], logp[t, 0]
        if t == 0:
            lab[:, 0, :] = np.where(mask[:, 0, :], lp_chr, _NEG)
            lab_src[0, :, 0, :] = 1
            blank[:, 0] = lp_blank
            continue
        # best and second-best previous label, so "same char twice needs a blank" holds
        top1_c = lab.argmax(axis=2)
        top1 = np.take_along_axis(lab, top1_c[..., None], 2)[..., 0]
        np.put_along_axis(lab, top1_c[..., None], -np.inf, 2)
        top2_c = lab.argmax(axis=2)
        top2 = np.take_along_axis(lab, top2_c[..., None], 2)[..., 0]
        np.put_along_axis(lab, top1_c[..., None], top1[..., None], 2)
        prev_c = np.full((n_pat, lmax, n_chr), -1, dtype=np.int64)
        prev_v = np.full((n_pat, lmax, n_chr), _NEG)
        same = chars[None, None, :] == top1_c[:, :-1, None]
        prev_v[:, 1:] = np.where(same, top2[:, :-1, None], top1[:, :-1, None])
        prev_c[:, 1:] = np.where(same, top2_c[:, :-1, None], top1_c[:, :-1, None])
        from_blank = np.broadcast_to(blank[:, :lmax, None], lab.shape)
        cand = np.stack([lab, from_blank, prev_v])
        src = cand.argmax(axis=0)
        new_lab = np.where(mask, cand.max(axis=0) + lp_chr, _NEG)
        lab_src[t], lab_prev[t] = src, prev_c
        stay = blank
        from_lab = np.full_like(blank, _NEG)
        from_lab[:, 1:] = top1
        blank_src[t] = from_lab > stay
        blank_prev[t, :, 1:] = top1_c
        blank = np.maximum(stay, from_lab) + lp_blank
        lab = new_lab
    # end in the last label or the blank after it
    idx = np.arange(n_pat)
    end_lab_c = lab[idx, lengths - 1].argmax(axis=1)
    end_lab = lab[idx, lengths - 1, end_lab_c]
    end_blank = blank[idx, lengths]
    scores = np.maximum(end_lab, end_blank)
    best = int(scores.argmax())
    if scores[best] <= _NEG / 2:
        return None
    text, confs = _backtrack(
        logp,
        best,
        int(lengths[best]),
        in_blank=bool(end_blank[best] >= end_lab[best]),
        last_c=int(end_lab_c[best]),
        tables=(lab_src, lab_prev, blank_src, blank_prev),
    )
    return Decoded(
        text=text,
        pattern=patterns[best],
        char_confidences=confs,
        log_score=float(scores[best]),
        free_log_score=free,
    )


def _backtrack(
    logp: NDArray[np.float64],
    p: int,
    length: int,
    *,
    in_blank: bool,
    last_c: int,
    tables: tuple[NDArray[np.int8], NDArray[np.int16], NDArray[np.int8], NDArray[np.int16]],
) -> tuple[str, tuple[float, ...]]:
    lab_src, lab_prev, blank_src, blank_prev = tables
    k, c = (length, -1) if in_blank else (length - 1, last_c)
    peak: dict[int, tuple[int, float]] = {}
    for t in range(len(logp) - 1, -1, -1):
        if c < 0:  # in blank state k (after k labels)
            if blank_src[t, p, k] == 1:
                c, k = int(blank_prev[t, p, k]), k - 1
            continue
        value = float(np.exp(logp[t, 1 + c]))
        if k not in peak or value > peak[k][1]:
            peak[k] = (c, value)
        src = int(lab_src[t, p, k, c])
        if src == 1:
            c = -1
        elif src == 2:
            c, k = int(lab_prev[t, p, k, c]), k - 1
    ordered = [peak[i] for i in sorted(peak)]
    return "".join(ALPHABET[ci] for ci, _ in ordered), tuple(v for _, v in ordered)


def ctc_log_likelihood(probs: NDArray[np.float32], text: str) -> float:
    """log P(text | probs) under CTC (the forward algorithm), summing over all paths.

    Used to let two recognisers vote on each other's reading.
    """
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, None))
    labels = [1 + ALPHABET.index(c) for c in text]
    ext = [0]
    for lab_i in labels:
        ext += [lab_i, 0]
    n_ext = len(ext)
    alpha = np.full(n_ext, -np.inf)
    alpha[0] = logp[0, 0]
    if n_ext > 1:
        alpha[1] = logp[0, ext[1]]
    ext_arr = np.array(ext)
    skip_ok = np.zeros(n_ext, dtype=bool)
    for s in range(2, n_ext):
        skip_ok[s] = ext[s] != 0 and ext[s] != ext[s - 2]
    for t in range(1, len(logp)):
        prev1 = np.concatenate([[-np.inf], alpha[:-1]])
        prev2 = np.concatenate([[-np.inf, -np.inf], alpha[:-2]])
        prev2 = np.where(skip_ok, prev2, -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, prev1), prev2) + logp[t, ext_arr]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if n_ext > 1 else alpha[-1])
