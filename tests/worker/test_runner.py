"""The pipeline's child process: results, the user's errors and crashes come back to the worker as they should."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import numpy as np
import pytest

from core.settings import load_settings
from ml.audio import encode_voice
from ml.errors import TooLong, UnsupportedAudio
from ml.pipeline import PipelineOptions
from ml.wer import wer
from testkit.speech import noisy_speech
from voicebot import wiring
from worker.runner import PipelineCrashed, PipelineRunner

MODELS = {"denoiser": "rnnoise", "whisper": "tiny.en"}


@pytest.fixture(scope="module")
def runner() -> Iterator[PipelineRunner]:
    runner = PipelineRunner(wiring.model_spec(load_settings(whisper_threads=2)))
    yield runner
    runner.close()


async def test_a_note_comes_back_with_stages_and_loaded_versions(runner: PipelineRunner) -> None:
    noisy, reference, _ = noisy_speech(6.0, snr_db=10.0)
    stages: list[str] = []
    result = await runner.process(
        encode_voice(noisy), PipelineOptions(language="en"), **MODELS, timeout_s=120, on_stage=stages.append
    )
    assert wer(reference, result.transcript.text) < 0.4
    assert stages == ["decoding", "denoising", "transcribing", "encoding"]
    assert runner.loaded == {"denoiser": "rnnoise", "whisper": "tiny.en"}


async def test_the_users_errors_cross_with_their_details(runner: PipelineRunner) -> None:
    with pytest.raises(UnsupportedAudio):
        await runner.process(b"not audio at all" * 100, PipelineOptions(), **MODELS, timeout_s=60)
    long_note = encode_voice(np.zeros(16_000 * 12, np.float32))
    with pytest.raises(TooLong) as caught:
        await runner.process(long_note, PipelineOptions(max_duration_s=5.0), **MODELS, timeout_s=60)
    assert caught.value.max_s == 5.0 and caught.value.duration_s > 5.0


async def test_a_crashed_process_fails_the_note_and_is_replaced(runner: PipelineRunner) -> None:
    noisy, _, _ = noisy_speech(20.0, snr_db=10.0)
    await runner.load(**MODELS)
    doomed = runner.pid
    assert doomed is not None

    async def crash_soon() -> None:
        await asyncio.sleep(1.0)
        os.kill(doomed, signal.SIGKILL)  # as the kernel's OOM killer would

    killer = asyncio.create_task(crash_soon())
    with pytest.raises(PipelineCrashed):
        await runner.process(encode_voice(noisy), PipelineOptions(language="en"), **MODELS, timeout_s=300)
    await killer
    short, reference, _ = noisy_speech(4.0, snr_db=10.0)
    result = await runner.process(encode_voice(short), PipelineOptions(language="en"), **MODELS, timeout_s=120)
    assert runner.pid != doomed and wer(reference, result.transcript.text) < 0.5


async def test_the_pipeline_runs_below_the_workers_priority(runner: PipelineRunner) -> None:
    """PIPELINE_NICE (default 10) is added to the pipeline process's niceness, not to the worker's own."""
    assert runner.spec.nice == load_settings().pipeline_nice == 10
    await runner.load(**MODELS)
    assert runner.pid is not None
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, runner.pid) == min(mine + 10, 19)
