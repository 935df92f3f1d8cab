"""Languages: WER per language, language detection on short notes with and without the user's language as a
hint, and what helps Whisper on short Russian notes. Writes four tables.

    python -m bench.languages [--whisper base] [--sets en-real,ru-recorded,ru-prompts,ru-prompts@10,ru-festival]
                              [--limit 40] [--short 5] [--no-record]

There is no Russian speech in the shared data. Recorded Russian comes from two Debian packages (``make bench``
installs them): ``ru-recorded`` is the read prose Festival's Russian voice was built from (festvox-ru: one male
speaker, 16 kHz WAV with transcripts; BSD-like licence) and ``ru-prompts`` the Russian Asterisk telephone prompts
(asterisk-core-sounds-ru + -g722: one female speaker, studio, 16 kHz G.722; CC BY 3.0, Maxim Topal,
ivrvoice.ru), short like voice notes. Russian (and a comparison row of English) is also synthesised from the
voice-note style sentences in ``bench/data/notes_{ru,en}.txt`` with Debian's text-to-speech (``apt-get install
festival festvox-ru festvox-us-slt-hts espeak-ng``), once, into ``~/.cache/voicebot/bench-tts/<voice>/``. A set
is ``ru-recorded``, ``ru-prompts``, ``en-real`` (LibriSpeech from ``shared/data/speech/dev``) or
``<lang>-<voice>``, optionally ``@<snr>`` to mix it with the held-out dev noise at that SNR.

Per note Whisper runs twice: language forced, and auto-detected (which also gives the detected language and
its probability). "Auto + hint" is the transcriber's ``choose_language`` rule applied to that detection: it
keeps the detected language unless it differs from the user's and its probability is below
``HINT_CONFIDENCE``; the transcript is then the forced or the auto one, so it needs no third pass.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.common import ROOT, markdown_table, record
from core.settings import load_settings
from ml.audio import SAMPLE_RATE, decode_audio, write_wav
from ml.data.synth import mix_at_snr
from ml.paths import default_shared, dev_transcripts
from ml.transcriber import HINT_CONFIDENCE, Transcriber
from ml.wer import corpus_wer
from voicebot import wiring

DATA = ROOT / "bench" / "data"
TTS_CACHE = Path.home() / ".cache" / "voicebot" / "bench-tts"
# A voice note starts a moment after the button is pressed and ends a moment before it is released.
LEAD_S, TAIL_S = 0.4, 0.6
OTHER = {"en": "ru", "ru": "en"}  # the wrong hint: a Russian-speaking user's English note, and the reverse
THRESHOLDS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 1.01)


@dataclass(frozen=True)
class Voice:
    """A Debian TTS voice: the command that writes ``out`` (a WAV) from the text in ``src`` (a UTF-8 file)."""

    name: str
    package: str
    command: Callable[[Path, Path], list[str]]


def _festival(voice: str) -> Callable[[Path, Path], list[str]]:
    return lambda src, out: ["text2wave", "-eval", f"(voice_{voice})", str(src), "-o", str(out)]


def _espeak(voice: str) -> Callable[[Path, Path], list[str]]:
    return lambda src, out: ["espeak-ng", "-v", voice, "-f", str(src), "-w", str(out)]


VOICES: dict[str, Voice] = {
    "ru-festival": Voice(
        "Festival msu_ru_nsh_clunits (male, unit selection)", "festvox-ru", _festival("msu_ru_nsh_clunits")
    ),
    "en-festival": Voice(
        "Festival cmu_us_slt_arctic_hts (female, HTS)", "festvox-us-slt-hts", _festival("cmu_us_slt_arctic_hts")
    ),
    "ru-espeak": Voice("espeak-ng ru (male, formant)", "espeak-ng", _espeak("ru")),
    "en-espeak": Voice("espeak-ng en-us (male, formant)", "espeak-ng", _espeak("en-us")),
}


FESTVOX_RU = Path("/usr/share/festival/voices/russian/msu_ru_nsh_clunits")
ASTERISK_RU = Path("/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU")
ASTERISK_RU_TEXT = Path("/usr/share/doc/asterisk-core-sounds-ru/core-sounds-ru.txt.gz")
RECORDED = {
    "ru-recorded": "recorded: msu_ru_nsh read prose (1 male speaker; festvox-ru)",
    "ru-prompts": "recorded: Asterisk prompts (1 female speaker; asterisk-core-sounds-ru, CC BY 3.0)",
}


@dataclass
class Note:
    name: str
    audio: np.ndarray
    text: str
    language: str

    @property
    def seconds(self) -> float:
        return self.audio.size / SAMPLE_RATE


@dataclass
class Result:
    """What Whisper made of one note: forced and auto transcripts, the detection, CPU seconds of each pass."""

    note: Note
    forced: str
    auto: str
    detected: str
    probability: float
    cpu_forced: float
    cpu_auto: float
    extra: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # config → (text, language, cpu s)


def sentences(language: str) -> list[str]:
    """The voice-note sentences of ``language`` (one a line; the English file translates the Russian one)."""
    lines = (DATA / f"notes_{language}.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def synthesise(key: str, text: str) -> np.ndarray:
    """16 kHz mono speech of ``text`` by voice ``key``, with a short silence before and after; cached."""
    voice = VOICES[key]
    digest = hashlib.sha1(f"{voice.name}\n{LEAD_S} {TAIL_S}\n{text}".encode()).hexdigest()[:16]
    path = TTS_CACHE / key / f"{digest}.wav"
    if not path.exists():
        tool = voice.command(Path("x"), Path("y"))[0]
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: apt-get install -y {voice.package} (or `make bench`)")
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp) / "text.txt", Path(tmp) / "speech.wav"
            src.write_text(text + "\n", encoding="utf-8")
            done = subprocess.run(voice.command(src, out), capture_output=True, text=True)
            if done.returncode or not out.exists() or out.stat().st_size < 1000:
                raise SystemExit(f"{key} failed (is {voice.package} installed?): {done.stderr.strip()[-500:]}")
            speech = decode_audio(out)
        silence = np.zeros(int(LEAD_S * SAMPLE_RATE), np.float32), np.zeros(int(TAIL_S * SAMPLE_RATE), np.float32)
        audio = np.concatenate([silence[0], speech / max(1.0, float(np.abs(speech).max())), silence[1]])
        write_wav(path.with_suffix(".tmp.wav"), audio)
        path.with_suffix(".tmp.wav").replace(path)
    return decode_audio(path)


def _pick(items: list[tuple[str, str]], limit: int, seed: int) -> list[tuple[str, str]]:
    """``limit`` of ``items`` drawn at random (seeded), in their original order."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(items), size=min(limit, len(items)), replace=False)
    return [items[i] for i in sorted(chosen)]


def festvox_recordings() -> list[tuple[str, str]]:
    """(WAV path, transcript) of every recording in festvox-ru, stress marks (``+``) removed."""
    index = FESTVOX_RU / "etc" / "txt.done.data"
    if not index.exists():
        raise SystemExit(f"no {index}: apt-get install -y festvox-ru (or `make bench`)")
    pairs = re.findall(r'^\(\s*(\S+)\s+"(.*)"\s*\)\s*$', index.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return [(str(FESTVOX_RU / "wav" / f"{name}.wav"), text.replace("+", "")) for name, text in pairs]


def asterisk_prompts() -> list[tuple[str, str]]:
    """(G.722 path, transcript) of the Russian Asterisk prompts that are sentences: three words or more, no
    digits (their spelling is ambiguous), no tone markers, and a file to go with them."""
    if not ASTERISK_RU_TEXT.exists():
        raise SystemExit(f"no {ASTERISK_RU_TEXT}: apt-get install -y asterisk-core-sounds-ru-g722 (or `make bench`)")
    found = []
    for line in gzip.decompress(ASTERISK_RU_TEXT.read_bytes()).decode("utf-8").splitlines():
        name, sep, text = line.partition(":")
        name, text = name.strip(), text.strip()
        path = ASTERISK_RU / f"{name}.g722"
        if line.startswith(";") or not sep or text.startswith(("[", name)) or re.search(r"\d", text):
            continue
        if len(text.split()) >= 3 and path.exists():
            found.append((str(path), text))
    return found


def load_set(spec: str, limit: int, seed: int = 0) -> list[Note]:
    """The notes of one set: ``en-real``, ``<lang>-<voice>`` or either with ``@<snr dB>`` of dev noise."""
    base, _, snr = spec.partition("@")
    if base == "en-real":
        pairs = sorted(dev_transcripts().items())[:limit]
        notes = [
            Note(name, decode_audio(default_shared() / "data" / "speech" / "dev" / name), text, "en")
            for name, text in pairs
        ]
    elif base in RECORDED:
        pairs = festvox_recordings() if base == "ru-recorded" else asterisk_prompts()
        fmt = "g722" if base == "ru-prompts" else None
        notes = [
            Note(f"{base}-{Path(path).stem}", decode_audio(path, format=fmt), text, "ru")
            for path, text in _pick(pairs, limit, seed)
        ]
    elif base in VOICES:
        language = base.split("-")[0]
        texts = sentences(language)[:limit]
        notes = [Note(f"{base}-{i:02d}", synthesise(base, t), t, language) for i, t in enumerate(texts)]
    else:
        known = ", ".join(["en-real", *RECORDED, *VOICES])
        raise SystemExit(f"unknown set {spec!r}: one of {known}, optionally @<snr>")
    if snr:
        rng = np.random.default_rng(seed)
        noises = [decode_audio(p) for p in sorted((default_shared() / "data" / "noise" / "dev").glob("*/*.flac"))]
        for index, note in enumerate(notes):
            noise = noises[index % len(noises)]
            start = int(rng.integers(0, max(1, noise.size - note.audio.size)))
            note.audio = mix_at_snr(note.audio, np.resize(noise[start:], note.audio.size), float(snr))
    return notes


def hinted(detected: str, probability: float, hint: str, threshold: float = HINT_CONFIDENCE) -> str:
    """``Transcriber.choose_language`` given a detection: the hint wins over a different, unsure guess."""
    return hint if detected != hint and probability < threshold else detected


def timed(function: Callable[[], object]) -> tuple[object, float]:
    started = time.process_time()
    value = function()
    return value, time.process_time() - started


def decode(
    transcriber: Transcriber,
    audio: np.ndarray,
    *,
    language: str | None,
    beam_size: int = 5,
    vad: bool = False,
    fallback: bool = True,
) -> tuple[str, str, float]:
    """(text, language, CPU s); ``fallback=False`` decodes at temperature 0 only."""
    result, cpu = timed(
        lambda: transcriber.transcribe(audio, language=language, beam_size=beam_size, vad=vad, fallback=fallback)
    )
    return result.text, result.language, cpu  # type: ignore[attr-defined]


def transcribe_set(transcriber: Transcriber, notes: list[Note]) -> list[Result]:
    """Forced and auto-detected transcripts of every note."""
    results = []
    for note in notes:
        forced, forced_cpu = timed(lambda n=note: transcriber.transcribe(n.audio, language=n.language))
        auto, auto_cpu = timed(lambda n=note: transcriber.transcribe(n.audio))
        results.append(
            Result(
                note=note,
                forced=forced.text,  # type: ignore[attr-defined]
                auto=auto.text,  # type: ignore[attr-defined]
                detected=auto.language,  # type: ignore[attr-defined]
                probability=float(auto.language_probability),  # type: ignore[attr-defined]
                cpu_forced=forced_cpu,
                cpu_auto=auto_cpu,
            )
        )
        r = results[-1]
        print(f"  {note.name} {note.seconds:.1f}s {r.detected} p={r.probability:.2f} | {note.text} | {r.forced}")
    return results


def with_hint(result: Result, hint: str | None = None, threshold: float = HINT_CONFIDENCE) -> tuple[str, str | None]:
    """(language used, transcript) with the user's language (the note's own unless ``hint``) as the hint.

    The transcript is the forced or the auto one, whichever has the chosen language; None when a wrong hint
    picked a third language, which was not transcribed."""
    chosen = hinted(result.detected, result.probability, hint or result.note.language, threshold)
    if chosen == result.note.language:
        return chosen, result.forced
    return chosen, result.auto if chosen == result.detected else None


# Short Russian notes: each configuration is (label, how it runs). "hint" runs decode with the language
# choose_language picked (the detection pass is timed separately and added to their CPU time).
ABLATIONS: tuple[tuple[str, dict[str, object]], ...] = (
    ("auto + VAD", {"language": None, "vad": True}),
    ("hint + VAD", {"language": "hint", "vad": True}),
    ("hint + beam 1", {"language": "hint", "beam_size": 1}),
    ("hint, no temperature fallback", {"language": "hint", "fallback": False}),
)


def ablate(transcriber: Transcriber, results: list[Result], short_s: float) -> list[Result]:
    """Run the extra configurations on the notes of at most ``short_s`` seconds; returns those results."""
    short = [r for r in results if r.note.seconds <= short_s]
    for result in short:
        audio = result.note.audio
        (detected, _, _), detect_cpu = timed(lambda a=audio: transcriber.model.detect_language(audio=a))  # type: ignore[misc]
        if detected != result.detected:
            print(f"  note: {result.note.name}: detect_language says {detected}, transcribe said {result.detected}")
        result.extra["detect"] = ("", detected, detect_cpu)
        chosen, _ = with_hint(result)
        for label, config in ABLATIONS:
            options = dict(config)
            if options["language"] == "hint":
                options["language"] = chosen
            text, language, cpu = decode(transcriber, audio, **options)  # type: ignore[arg-type]
            result.extra[label] = (text, language, cpu + (detect_cpu if config["language"] == "hint" else 0.0))
    return short


def accuracy(flags: list[bool]) -> str:
    return f"{np.mean(flags):.2f}" if flags else "—"


def describe(spec: str) -> str:
    base, _, snr = spec.partition("@")
    if base == "en-real":
        speech = "recorded: LibriSpeech test-other"
    else:
        speech = RECORDED[base] if base in RECORDED else f"TTS: {VOICES[base].name}"
    return speech + (f", dev noise {snr} dB" if snr else "")


def wrong_guesses(results: list[Result]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        if r.detected != r.note.language:
            counts[r.detected] = counts.get(r.detected, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "—"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--whisper", default="base")
    parser.add_argument("--sets", default="en-real,ru-recorded,ru-prompts,ru-prompts@10,ru-festival,ru-espeak")
    parser.add_argument("--ablate", default="ru-prompts,ru-prompts@10", help="Russian sets to try options on")
    parser.add_argument("--limit", type=int, default=40, help="notes per set")
    parser.add_argument("--short", type=float, default=5.0, help="a short note lasts at most this many seconds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    cache = wiring.model_cache(load_settings(whisper_threads=args.threads))
    transcriber = cache.transcriber(args.whisper)
    if not transcriber.multilingual:
        raise SystemExit(f"whisper {args.whisper} is English-only: choose a multilingual version such as base")
    specs = args.sets.split(",")
    results: dict[str, list[Result]] = {}
    short_results: dict[str, list[Result]] = {}
    for spec in specs:
        started = time.perf_counter()
        results[spec] = transcribe_set(transcriber, load_set(spec, args.limit))
        if spec in args.ablate.split(","):
            short_results[spec] = ablate(transcriber, results[spec], args.short)
        print(f"{spec}: {len(results[spec])} notes in {time.perf_counter() - started:.0f} s")

    def is_short(r: Result) -> bool:
        return r.note.seconds <= args.short

    s = f"≤{args.short:g} s"
    wer_rows, detect_rows = [], []
    for spec, rs in results.items():
        short = [r for r in rs if is_short(r)]
        refs, lang = [r.note.text for r in rs], rs[0].note.language
        row: list[object] = [spec, describe(spec), len(rs), f"{np.mean([r.note.seconds for r in rs]):.1f}"]
        row += [corpus_wer(refs, [r.forced for r in rs], lang), corpus_wer(refs, [r.auto for r in rs], lang)]
        row += [corpus_wer(refs, [with_hint(r)[1] or "" for r in rs], lang), len(short)]
        if short:
            short_refs = [r.note.text for r in short]
            row += [
                corpus_wer(short_refs, [r.forced for r in short], lang),
                corpus_wer(short_refs, [r.auto for r in short], lang),
                corpus_wer(short_refs, [with_hint(r)[1] or "" for r in short], lang),
            ]
        else:
            row += ["—"] * 3
        wer_rows.append(row)
        right = [with_hint(r)[0] == r.note.language for r in rs]
        wrong = [with_hint(r, OTHER[r.note.language])[0] == r.note.language for r in rs]
        guessed = [r.detected == r.note.language for r in rs]
        picks = [i for i, r in enumerate(rs) if is_short(r)]
        detect_rows.append(
            [
                spec,
                len(short),
                *(accuracy([flags[i] for i in picks]) for flags in (guessed, right, wrong)),
                len(rs),
                *(accuracy(flags) for flags in (guessed, right, wrong)),
                wrong_guesses(short),
                wrong_guesses(rs),
            ]
        )
    wer_header = ["set", "speech", "notes", "mean s", "forced", "auto", "auto + hint", f"notes {s}"]
    wer_table = markdown_table([*wer_header, f"forced {s}", f"auto {s}", f"auto + hint {s}"], wer_rows)
    detect_header = ["set", f"notes {s}", f"no hint {s}", f"user's hint {s}", f"wrong hint {s}", "notes"]
    detect_header += ["no hint", "user's hint", "wrong hint", f"mistaken for {s}", "mistaken for (all)"]
    detect_table = markdown_table(detect_header, detect_rows)

    every = [r for rs in results.values() for r in rs]
    sweep_rows = []
    for threshold in THRESHOLDS:
        label = {0.0: "0 (hint ignored)", 1.01: "> 1 (hint always wins)"}.get(threshold, f"{threshold:g}")
        if threshold == HINT_CONFIDENCE:
            label += " (now)"
        row = [label]
        for group in ([r for r in every if is_short(r)], every):
            right = [with_hint(r, None, threshold)[0] == r.note.language for r in group]
            wrong = [with_hint(r, OTHER[r.note.language], threshold)[0] == r.note.language for r in group]
            row += [accuracy(right), accuracy(wrong), accuracy([a and b for a, b in zip(right, wrong, strict=True)])]
        sweep_rows.append(row)
    sweep_table = markdown_table(
        ["HINT_CONFIDENCE", f"user's hint {s}", f"wrong hint {s}", f"both {s}", "user's hint", "wrong hint", "both"],
        sweep_rows,
    )

    ablation_rows = []
    labels = ["auto (today's default)", "auto + hint", "forced ru", *(label for label, _ in ABLATIONS)]
    for label in labels:
        row = [label]
        for short in short_results.values():
            refs = [r.note.text for r in short]
            if label == "auto (today's default)":
                runs = [(r.auto, r.detected, r.cpu_auto) for r in short]
            elif label == "forced ru":
                runs = [(r.forced, r.note.language, r.cpu_forced) for r in short]
            elif label == "auto + hint":
                runs = []
                for r in short:
                    chosen, text = with_hint(r)
                    cpu = r.extra["detect"][2] + r.cpu_forced if chosen == r.note.language else r.cpu_auto
                    runs.append((text or "", chosen, cpu))
            else:
                runs = [r.extra[label] for r in short]
            row += [corpus_wer(refs, [t for t, _, _ in runs], short[0].note.language) if refs else "—"]
            row += [accuracy([lang == "ru" for _, lang, _ in runs]), f"{np.mean([c for _, _, c in runs]):.2f}"]
        ablation_rows.append(row)
    ablation_header = ["configuration"]
    for spec, short in short_results.items():
        ablation_header += [f"{spec} WER (n={len(short)})", f"{spec} language right", f"{spec} CPU s/note"]
    ablation_table = markdown_table(ablation_header, ablation_rows)

    bases = {spec.partition("@")[0] for spec in specs}
    sources = []
    if "ru-recorded" in bases:
        sources.append(
            f"`ru-recorded`: {args.limit} of the {len(festvox_recordings())} read-prose recordings Festival's "
            "Russian voice was built from (one male "
            "speaker, Nickolay Shmyrev; Debian `festvox-ru`, BSD-like licence), drawn at random (seed 0)"
        )
    if "ru-prompts" in bases:
        sources.append(
            f"`ru-prompts`: {args.limit} of the {len(asterisk_prompts())} Russian Asterisk telephone prompts "
            "that are sentences of three words or more "
            "without digits (one female speaker, studio, 16 kHz G.722; Debian `asterisk-core-sounds-ru-g722`, "
            "CC BY 3.0, Maxim Topal, ivrvoice.ru), drawn at random (seed 0)"
        )
    synthetic = [f"`{k}` = {v.name} (Debian `{v.package}`)" for k, v in VOICES.items() if k in bases]
    if synthetic:
        sources.append(
            f"synthesised: the {len(sentences('ru'))} voice-note sentences of `bench/data/notes_ru.txt` (and their "
            f"English translations, `notes_en.txt`) spoken by Debian text-to-speech, with {LEAD_S:g} s of silence "
            f"before and {TAIL_S:g} s after; " + "; ".join(synthetic)
        )
    if "en-real" in bases:
        sources.append("`en-real`: LibriSpeech test-other (`shared/data/speech/dev`)")
    common = (
        f"Whisper `{args.whisper}` int8, beam 5, no VAD, temperature fallback on (faster-whisper's default), "
        f"{args.threads} threads, unless a row says otherwise. Speech: " + ". ".join(sources) + ". `@10` mixes a "
        "set with the held-out dev noise at 10 dB SNR. Corpus WER after `ml.wer.normalize_text` (Cyrillic kept, "
        "ё read as е, Russian digits left as digits). The transcript in `auto + hint` is the forced or the auto "
        "one, whichever language the rule picked, so it costs no third pass."
    )
    parts = [
        ("WER per language", wer_table, "`forced`: the note's language given; `auto`: Whisper detects; "
         f"`auto + hint`: detection, with the user's language winning when Whisper guesses another language with "
         f"p < {HINT_CONFIDENCE} (`Transcriber.choose_language`)."),
        (f"Language detection, notes ≤ {args.short:g} s and all", detect_table,
         "Share of notes transcribed in the right language. `user's hint`: the hint is the note's language; "
         "`wrong hint`: the hint is the other one (a Russian speaker's English note, or the reverse), the case "
         "where trusting the hint too much hurts. `mistaken for`: what Whisper detected instead, and how often."),
        ("HINT_CONFIDENCE by measurement", sweep_table,
         "All sets pooled. The hint replaces a detected language other than itself whose probability is below "
         "the threshold; `both` = right with the user's hint and with the wrong one."),
        (f"What helps on Russian notes ≤ {args.short:g} s", ablation_table,
         "`hint` = auto + the user's language as hint (today's rule); VAD = faster-whisper's Silero "
         "`vad_filter`; no temperature fallback = `temperature=0` only (by default faster-whisper decodes again "
         "at 0.2 … 1.0 when a result looks bad; `Transcriber.transcribe(fallback=False)` turns that off). "
         "CPU s/note: process CPU time of the Whisper calls, the detection pass included."),
    ]  # fmt: skip
    body = "\n\n".join(f"### {name}\n\n{table}\n\n{note}" for name, table, note in parts)
    title = f"Languages: English and Russian, detection and hints (whisper {args.whisper})"
    record(title, body, common, write=not args.no_record)


if __name__ == "__main__":
    main()
