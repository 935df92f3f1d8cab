"""Load: many notes from many users with 2 worker processes, every note answered exactly once.

The 500-note run is the benchmark (``python -m bench.load``); this smaller one runs with every test run.
"""

from __future__ import annotations

import pytest

from bench.load import run_load

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


async def test_40_notes_from_20_users_answered_exactly_once() -> None:
    result = await run_load(40, 20, 2, whisper="tiny.en", denoiser="rnnoise", seconds=2.0)
    print(
        f"ack p95 {result.percentile(result.ack_s, 95):.2f} s, reply p95 {result.percentile(result.done_s, 95):.1f} s"
    )
    assert result.exactly_once, {k: v for k, v in result.answers_per_note.items() if v != 1}
    assert len(result.ack_s) == 40


async def test_a_burst_beyond_telegrams_rate_limits_is_acknowledged_and_answered_in_order_exactly_once() -> None:
    # two users forward 8 notes each at once; the fake Bot API server answers sends beyond Telegram's limits (about
    # a message a second in a chat after a short burst) with 429 and retry_after, as Telegram does
    result = await run_load(16, 2, 1, whisper="tiny.en", denoiser="rnnoise", seconds=2.0, telegram_limits=True)
    assert result.rate_limited > 0  # the limits were reached
    assert len(result.ack_s) == 16  # every note acknowledged, each in its turn
    assert result.exactly_once, {k: v for k, v in result.answers_per_note.items() if v != 1}
    assert result.in_order
