"""Load: 500 notes from 50 users with 2 worker processes, every note answered exactly once."""

from __future__ import annotations

import pytest

from bench.load import run_load

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


async def test_500_notes_from_50_users_answered_exactly_once() -> None:
    result = await run_load(500, 50, 2, whisper="tiny.en", denoiser="rnnoise", seconds=2.0)
    print(
        f"ack p95 {result.percentile(result.ack_s, 95):.2f} s, reply p95 {result.percentile(result.done_s, 95):.1f} s"
    )
    assert result.exactly_once, {k: v for k, v in result.answers_per_note.items() if v != 1}
    assert len(result.ack_s) == 500
