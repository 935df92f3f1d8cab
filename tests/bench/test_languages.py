"""The language benchmark's own parts: its sentences, the hint rule it replays, its TTS cache, its configs."""

from __future__ import annotations

import gzip
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from bench import languages
from bench.decoding import parse_configs
from ml.audio import SAMPLE_RATE
from ml.transcriber import HINT_CONFIDENCE, Transcriber
from ml.wer import normalize_text


def test_sentences_pair_up_and_survive_normalisation() -> None:
    ru, en = languages.sentences("ru"), languages.sentences("en")
    assert len(ru) == len(en) >= 40
    for line in ru:
        assert re.search("[а-яё]", normalize_text(line, "ru")), line
        assert "ё" not in normalize_text(line, "ru")
    for line in ru + en:
        assert not re.search(r"\d", line), f"digits are normalised to English words: {line}"


def _transcriber(detected: str, probability: float) -> Transcriber:
    transcriber = object.__new__(Transcriber)
    transcriber.model = SimpleNamespace(  # type: ignore[assignment]
        model=SimpleNamespace(is_multilingual=True),
        detect_language=lambda audio, vad_filter=False: (detected, probability, []),
    )
    return transcriber


@pytest.mark.parametrize("detected", ["ru", "en", "uk"])
@pytest.mark.parametrize("probability", [0.1, HINT_CONFIDENCE - 0.01, HINT_CONFIDENCE, 0.99])
@pytest.mark.parametrize("hint", ["ru", "en"])
def test_hint_rule_is_the_transcribers(detected: str, probability: float, hint: str) -> None:
    expected = _transcriber(detected, probability).choose_language(np.zeros(SAMPLE_RATE, np.float32), None, hint)
    assert languages.hinted(detected, probability, hint) == expected


def test_with_hint_reuses_the_forced_or_the_auto_transcript() -> None:
    note = languages.Note("n", np.zeros(SAMPLE_RATE, np.float32), "привет", "ru")
    unsure = languages.Result(note, "привет", "pryvit", "uk", 0.5, 1.0, 1.0)
    sure = languages.Result(note, "привет", "pryvit", "uk", 0.95, 1.0, 1.0)
    assert languages.with_hint(unsure) == ("ru", "привет")
    assert languages.with_hint(sure) == ("uk", "pryvit")
    assert languages.with_hint(unsure, "en") == ("en", None)  # a wrong hint's language was not transcribed


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_synthesis_is_cached_with_silence_around(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(languages, "TTS_CACHE", tmp_path)
    audio = languages.synthesise("ru-espeak", "Привет")
    assert audio.dtype == np.float32 and audio.size > (languages.LEAD_S + languages.TAIL_S) * SAMPLE_RATE
    assert not audio[: int(0.3 * SAMPLE_RATE)].any() and np.abs(audio).max() > 0.05
    assert len(list((tmp_path / "ru-espeak").glob("*.wav"))) == 1
    assert np.array_equal(languages.synthesise("ru-espeak", "Привет"), audio)


def test_decoding_configs_parse() -> None:
    assert parse_configs("int8:1:off,float32:5:on") == [("int8", 1, False), ("float32", 5, True)]
    with pytest.raises(SystemExit):
        parse_configs("int8:5:maybe")


def test_detection_hears_only_speech_when_vad_is_on() -> None:
    seen: list[bool] = []
    transcriber = object.__new__(Transcriber)
    transcriber.model = SimpleNamespace(  # type: ignore[assignment]
        model=SimpleNamespace(is_multilingual=True),
        detect_language=lambda audio, vad_filter=False: seen.append(vad_filter) or ("ru", 0.9, []),
    )
    for vad in (True, False):
        transcriber.choose_language(np.zeros(SAMPLE_RATE, np.float32), None, "ru", vad=vad)
    assert seen == [True, False]


def test_recorded_russian_sets_parse_their_transcripts(tmp_path, monkeypatch) -> None:
    festvox = tmp_path / "festvox"
    (festvox / "etc").mkdir(parents=True)
    (festvox / "etc" / "txt.done.data").write_text(
        '( ru_0001 "Она завела, прядь волнистых вол+ос за ухо." )\n( ru_0002 "Со спокойным мужеством." )\n',
        encoding="utf-8",
    )
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for name in ("all-busy", "beep", "press", "conf-menu", "short"):  # "missing" has a line but no file
        (prompts / f"{name}.g722").write_bytes(b"x")
    text = (
        "; Core Asterisk Sounds in Russian\n\nall-busy: На данный момент все линии заняты.\n"
        "beep: [this is a simple beep tone]\npress: Нажмите 7 для восстановления.\n"
        "conf-menu: conf-menu: Нажмите решетку сейчас.\nshort: Спасибо.\nmissing: Файла для этой строки нет.\n"
    )
    monkeypatch.setattr(languages, "FESTVOX_RU", festvox)
    monkeypatch.setattr(languages, "ASTERISK_RU", prompts)
    monkeypatch.setattr(languages, "ASTERISK_RU_TEXT", tmp_path / "prompts.txt.gz")
    (tmp_path / "prompts.txt.gz").write_bytes(gzip.compress(text.encode("utf-8")))

    assert languages.festvox_recordings() == [
        (str(festvox / "wav" / "ru_0001.wav"), "Она завела, прядь волнистых волос за ухо."),
        (str(festvox / "wav" / "ru_0002.wav"), "Со спокойным мужеством."),
    ]
    # no tone marker, no digits, no name repeated into the text, three words or more, a file for each
    assert languages.asterisk_prompts() == [(str(prompts / "all-busy.g722"), "На данный момент все линии заняты.")]


@pytest.mark.skipif(not languages.ASTERISK_RU_TEXT.exists(), reason="asterisk-core-sounds-ru is not installed")
def test_recorded_prompts_decode_as_short_russian_notes() -> None:
    notes = languages.load_set("ru-prompts", 40)
    assert len(notes) == 40 and all(n.language == "ru" for n in notes)
    assert sum(n.seconds <= 5 for n in notes) >= 30 and all(np.abs(n.audio).max() > 0.05 for n in notes)
