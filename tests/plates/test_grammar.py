"""Plate grammar tables and grammar-constrained CTC decoding."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.plates.grammar import (
    ALPHABET,
    PATTERNS,
    PROVINCES,
    constrained_decode,
    ctc_log_likelihood,
    is_valid_plate,
    match_pattern,
    normalise,
)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("京A12345", "regular"),
        ("皖A328L2", "regular"),
        ("沪AF71017", "new_energy_small"),
        ("粤BD01366", "new_energy_small"),
        ("青A00109D", "new_energy_large"),
        ("鄂F8888警", "police"),
        ("京A6716学", "learner"),
        ("鲁A1234挂", "trailer"),
        ("粤ZEV52港", "hong_kong"),
        ("粤ZJ541澳", "macau"),
        ("沪A1707领", "consulate"),
        ("使198476", "embassy"),
        ("WJ粤6788B", "armed_police"),
        ("民航B9016", "civil_aviation"),
        ("皖1946673", "agricultural"),
        ("宁A87J92", "regular"),
    ],
)
def test_valid_plates_match_their_pattern(text: str, pattern: str) -> None:
    found = match_pattern(text)
    assert found is not None and found.name == pattern


@pytest.mark.parametrize(
    "text",
    [
        "",
        "京A1234",  # too short
        "京A123456",  # 8 chars but neither new-energy form
        "京AI2345",  # no I
        "京AO2345",  # no O
        "AA12345",  # no province
        "京112345",  # second char must be a letter
        "京AA1234D5",  # 9 chars
        "使19847",  # embassy needs 6 digits
        "使19847A",
        "京AG123456",  # 8 chars: small new-energy needs D/F at position 3
        "京A12345G",  # 8 chars: large new-energy needs D/F at the end
        "鄂F888警8",  # suffix in the middle
    ],
)
def test_invalid_plates_are_rejected(text: str) -> None:
    assert not is_valid_plate(text)


def test_thirty_one_provinces_and_no_i_or_o() -> None:
    assert len(set(PROVINCES)) == 31
    assert "I" not in ALPHABET and "O" not in ALPHABET
    assert len(set(ALPHABET)) == len(ALPHABET)


@pytest.mark.parametrize(("raw", "clean"), [("京A·12345", "京A12345"), ("wj粤 6788b", "WJ粤6788B")])
def test_normalise_strips_separators(raw: str, clean: str) -> None:
    assert normalise(raw) == clean


def _frames(path: list[str], *, peak: float = 0.9) -> np.ndarray:
    """Synthetic CTC output: each frame puts ``peak`` on one symbol ('-' is blank)."""
    n = 1 + len(ALPHABET)
    out = np.full((len(path), n), (1 - peak) / (n - 1), dtype=np.float32)
    for t, sym in enumerate(path):
        out[t, 0 if sym == "-" else 1 + ALPHABET.index(sym)] = peak
    return out


def _blend(probs: np.ndarray, t: int, a: str, b: str, pa: float, pb: float) -> None:
    probs[t] = 0.001
    probs[t, 1 + ALPHABET.index(a)] = pa
    probs[t, 1 + ALPHABET.index(b)] = pb


def test_decode_reads_a_clean_path() -> None:
    probs = _frames(list("-京-A-1-2-3-4-5-"))
    d = constrained_decode(probs)
    assert d is not None and d.text == "京A12345" and d.pattern.name == "regular"
    assert len(d.char_confidences) == 7 and min(d.char_confidences) > 0.85


def test_repeated_characters_need_a_blank() -> None:
    d = constrained_decode(_frames(list("-京-A-8-8-8-8-8-")))
    assert d is not None and d.text == "京A88888"


@pytest.mark.parametrize(
    ("position", "likely", "allowed", "expected"),
    [
        # a digit-only slot (embassy) turns the greedy "D" into the runner-up "0"
        (6, "D", "0", "使198470"),
    ],
)
def test_grammar_steers_a_slot_to_an_allowed_character(
    position: int, likely: str, allowed: str, expected: str
) -> None:
    path = list("-使-1-9-8-4-7-X-")
    probs = _frames(path)
    _blend(probs, 2 * position + 1, likely, allowed, 0.6, 0.39)
    d = constrained_decode(probs)
    assert d is not None and d.text == expected
    # the steered character carries the lower probability as its confidence
    assert d.char_confidences[position] == pytest.approx(0.39, abs=0.01)


def test_second_character_letter_beats_greedy_digit() -> None:
    probs = _frames(list("-京-X-1-2-3-4-5-"))
    _blend(probs, 3, "8", "B", 0.7, 0.29)  # greedy says 8; position 2 must be a letter
    d = constrained_decode(probs)
    assert d is not None and d.text == "京B12345"


def test_eight_frames_of_new_energy_choose_the_longer_pattern() -> None:
    d = constrained_decode(_frames(list("-沪-A-F-7-1-0-1-7-")))
    assert d is not None and d.text == "沪AF71017" and d.pattern.name == "new_energy_small"


def test_too_few_frames_decode_to_nothing() -> None:
    assert constrained_decode(_frames(list("-京-A"))) is None


def test_bad_shape_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="expected"):
        constrained_decode(np.zeros((10, 5), dtype=np.float32))


def test_patterns_table_has_no_empty_slot() -> None:
    for p in PATTERNS:
        assert all(p.slots), p.name


def test_ctc_likelihood_prefers_the_true_text() -> None:
    probs = _frames(list("-京-A-1-2-3-4-5-"))
    assert ctc_log_likelihood(probs, "京A12345") > ctc_log_likelihood(probs, "京A12346")
    assert ctc_log_likelihood(probs, "京A12345") < 0.0
