"""Evaluation: fixed mixtures at their bucket's SNR, sane metrics, baselines and exported or Lightning models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml import evaluate as evaluation_module
from ml.audio import decode_audio
from ml.cli import main
from ml.data.synth import rms
from ml.evaluate import eval_mixtures, evaluate
from ml.export import export
from ml.metrics import dnsmos_available, score
from ml.registry import Registry
from testkit.checkpoints import tiny_demucs, write_lightning_checkpoint
from testkit.tiny_data import make_tiny_data

BUCKETS = (0.0, 5.0, 10.0)


@pytest.fixture(scope="module")
def tiny_data(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_data(shared, tmp_path_factory.mktemp("data"))


def test_clean_against_itself_scores_at_the_top(shared: Path) -> None:
    clean = decode_audio(sorted((shared / "data" / "speech" / "dev").glob("*.flac"))[0])[: 3 * 16_000]
    scores = score(clean, clean, dnsmos=False)
    assert scores["si_sdr"] > 50 and scores["pesq"] > 4.4 and scores["stoi"] > 0.99


def test_mixtures_are_fixed_and_at_their_bucket_snr(tiny_data: Path) -> None:
    first = eval_mixtures(tiny_data, count=4, seconds=2.0, snr_buckets=BUCKETS, seed=3)
    again = eval_mixtures(tiny_data, count=4, seconds=2.0, snr_buckets=BUCKETS, seed=3)
    assert [m.snr_db for m in first] == [0.0, 5.0, 10.0, 0.0]
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.noisy, b.noisy) and a.noisy.size == 32_000
        measured = 20 * np.log10(rms(a.clean) / rms(a.noisy - a.clean))
        assert measured == pytest.approx(a.snr_db, abs=0.05)


def test_baselines_exported_and_lightning_models(tiny_data: Path, shared: Path, tmp_path: Path) -> None:
    model = tiny_demucs()
    ckpt = write_lightning_checkpoint(tmp_path / "last.ckpt", model)
    export(ckpt, version="tiny-v0", out_dir=tmp_path / "weights", data_dir=shared / "data")
    registry = Registry(cache_dir=tmp_path / "cache", weights_dirs=(tmp_path / "weights",))
    models = ["noisy", "rnnoise", "tiny-v0", str(ckpt)]
    result = evaluate(
        models,
        registry=registry,
        data_dir=tiny_data,
        count=3,
        seconds=2.0,
        snr_buckets=BUCKETS,
        threads=1,  # a tiny model on a shared CPU: one thread avoids contention
        dnsmos=False,  # measured below, once
    )
    assert len(result.rows) == 3 * len(models)
    for row in result.rows:
        if row.model == "noisy":  # identity: SI-SDR is the mixture's SNR
            assert row.scores["si_sdr"] == pytest.approx(row.snr_db, abs=0.5)
    exported = {r.index: r.scores["si_sdr"] for r in result.rows if r.model == "tiny-v0"}
    lightning = {r.index: r.scores["si_sdr"] for r in result.rows if r.model == str(ckpt)}
    assert exported == pytest.approx(lightning, abs=0.1)  # same network, float16 weights on disk

    per_bucket = result.per_bucket()
    assert set(per_bucket) == {(m, snr) for m in models for snr in BUCKETS}
    overall = result.overall()
    assert overall["rnnoise"]["stoi"] > overall["noisy"]["stoi"] - 0.1
    assert overall["rnnoise"]["rtf"] > 0 and all(np.isfinite(o["rtf"]) for o in overall.values())
    tables = result.tables()
    assert "| noisy | 0 |" in tables and "| tiny-v0 | 10 |" in tables and "RTF" in tables


def test_a_model_with_its_attenuation_limited(tiny_data: Path, tmp_path: Path) -> None:
    """``deepfilternet3@20dB`` is DeepFilterNet3 with its attenuation limited: it leaves more of the mixture."""
    models = ["deepfilternet3", "deepfilternet3@20dB"]
    registry = Registry(cache_dir=tmp_path / "cache")
    result = evaluate(models, registry=registry, data_dir=tiny_data, count=3, seconds=2.0, snr_buckets=BUCKETS,
                      threads=1, dnsmos=False)  # fmt: skip
    overall = result.overall()
    assert set(overall) == set(models)
    strong = {r.index: r.scores["si_sdr"] for r in result.rows if r.model == "deepfilternet3"}
    gentle = {r.index: r.scores["si_sdr"] for r in result.rows if r.model == "deepfilternet3@20dB"}
    assert strong != pytest.approx(gentle, abs=0.01)


@pytest.mark.skipif(not dnsmos_available(), reason="DNSMOS models not installed (python -m ml setup-metrics)")
def test_dnsmos_scores_are_on_the_mos_scale(tiny_data: Path) -> None:
    mixture = eval_mixtures(tiny_data, count=1, seconds=2.0)[0]
    noisy, clean = (score(x, mixture.clean, dnsmos=True) for x in (mixture.noisy, mixture.clean))
    for name in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"):
        assert 1.0 <= noisy[name] <= 5.0 and 1.0 <= clean[name] <= 5.0
    assert clean["dnsmos_bak"] > noisy["dnsmos_bak"]  # at -5 dB, the noise is what BAK rates


def test_dnsmos_is_skipped_with_a_note_when_its_models_are_missing(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluation_module, "dnsmos_available", lambda: False)
    result = evaluate(["noisy"], registry=Registry(cache_dir=tmp_path), data_dir=tiny_data, count=1, seconds=1.0)
    assert not result.dnsmos and set(result.rows[0].scores) == {"pesq", "stoi", "si_sdr"}
    assert "DNSMOS skipped" in result.notes() and "OVRL" not in result.tables()


def test_cli_prints_tables_and_writes_plot_and_report(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evaluate", "--no-baselines", "--model", "noisy", "--count", "2", "--seconds", "1"]
    plot, report = tmp_path / "plot.png", tmp_path / "reports" / "quality.md"
    assert main([*argv, "--data-dir", str(tiny_data), "--plot", str(plot), "--out", str(report)]) == 0
    out = capsys.readouterr().out
    assert "Overall (2 mixtures)" in out and "Per SNR bucket" in out and "Set `dev`" in out
    assert plot.read_bytes().startswith(b"\x89PNG")
    written = report.read_text()
    assert written.startswith("## Denoiser quality (`dev` set)") and "| noisy |" in written and "Set `dev`" in written


def test_count_must_be_positive(capsys) -> None:
    import pytest

    from ml.cli import main

    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--model", "noisy", "--count", "0"])
    assert info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
