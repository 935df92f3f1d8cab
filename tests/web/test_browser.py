"""The page in a real browser: Debian's Chromium, headless, driven by Playwright (which never downloads a browser
here: it is pointed at /usr/bin/chromium). A real speech file is uploaded through the page and its results read."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from ml.audio import encode_voice, write_wav
from ml.wer import wer
from testkit.speech import noisy_speech
from testkit.web_stack import WebStack, run_web_stack, web_settings
from worker.runner import PipelineRunner

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
# `make screenshot` sets it to docs/web.png (the README's picture); otherwise the picture stays in tmp_path
SCREENSHOT = os.environ.get("VOICEBOT_SCREENSHOT")


async def until(page: Page, expression: str, timeout_s: float = 30.0) -> None:
    """Wait until ``expression`` is true in the page (evaluated from outside: the page's CSP forbids eval inside)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await page.evaluate(expression):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout_s} s: {expression}")
        await asyncio.sleep(0.1)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt when missing (the tests run as root on a Debian machine)."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None:
            pytest.fail("the browser test needs Debian's chromium: apt-get install chromium")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env, capture_output=True,
                       timeout=900)  # fmt: skip
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), headless=True)
        yield launched
        await launched.close()


@pytest.fixture
async def site(sqlite_url: str, models: PipelineRunner, tmp_path: Path) -> AsyncIterator[WebStack]:
    async for stack in run_web_stack(web_settings(sqlite_url, tmp_path, models), models):
        yield stack


async def test_upload_through_the_page_and_read_the_results(site: WebStack, browser: Browser, tmp_path: Path) -> None:
    noisy, reference, _ = noisy_speech(8.0, snr_db=10.0)
    note = tmp_path / "noisy-note.ogg"
    note.write_bytes(encode_voice(noisy))
    context = await browser.new_context(accept_downloads=True, viewport={"width": 900, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)

    await page.goto(site.url + "/")
    await page.set_input_files("#file", str(note))
    await page.select_option("#strength", "strong")
    await page.click("#submit")
    await page.wait_for_selector("#result", state="visible", timeout=180_000)

    assert "Done" in await page.inner_text("#status")
    for player in ("#original", "#cleaned"):  # both have a source the browser can play
        assert await page.get_attribute(player, "src")
        await until(page, f"document.querySelector('{player}').duration > 7", 30)
    await until(page, "document.querySelector('#spectrogram').naturalWidth > 0", 30)
    transcript = await page.inner_text("#transcript")
    assert transcript.startswith("[00:00]")
    assert wer(reference, " ".join(w for w in transcript.split() if not w.startswith("["))) < 0.5

    async with page.expect_download() as waiting:
        await page.click("#download-srt")
    download = await waiting.value
    assert download.suggested_filename == "subtitles.srt"
    assert " --> " in Path(await download.path()).read_text()
    assert problems == []

    await page.screenshot(path=str(ROOT / SCREENSHOT if SCREENSHOT else tmp_path / "web.png"), full_page=True)
    await context.close()


async def test_record_from_the_microphone_and_send_it(site: WebStack, chromium: Path, tmp_path: Path) -> None:
    """MediaRecorder in Chromium records (WebM/Opus) what its fake microphone plays: real speech from a WAV file."""
    noisy, reference, _ = noisy_speech(6.0, snr_db=15.0)
    seconds = 6.0
    wav = tmp_path / "microphone.wav"
    write_wav(wav, noisy[: int(seconds * 16_000)])  # the first words: the text's beginning is known
    args = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop"]  # fmt: skip
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium), headless=True, args=args)
        page = await browser.new_page()
        await page.goto(site.url + "/")
        await page.click("#record")
        await until(page, "document.querySelector('#status').textContent.startsWith('Recording')")
        await page.wait_for_timeout(seconds * 1000 + 500)
        await page.click("#stop")
        await until(page, "document.querySelector('#chosen').textContent.startsWith('recording.')")
        await page.click("#submit")
        await page.wait_for_selector("#result", state="visible", timeout=180_000)
        transcript = await page.inner_text("#transcript")
        await browser.close()
    words = [w for w in transcript.split() if not w.startswith("[")]
    assert wer(" ".join(reference.split()[:6]), " ".join(words[:6])) < 0.5, transcript


async def test_the_page_in_russian_and_its_switch(web_only: WebStack, browser: Browser, tmp_path: Path) -> None:
    """A browser that asks for Russian gets the page in Russian, the API's refusals and the script's progress too;
    the switch (EN | RU) changes the language and keeps the job on show. No worker here: the job stays queued."""
    context = await browser.new_context(locale="ru-RU")  # Accept-Language: ru-RU
    page = await context.new_page()
    await page.goto(web_only.url + "/")
    assert await page.get_attribute("html", "lang") == "ru"
    assert await page.inner_text("h1") == "Очистить и расшифровать голосовое"
    assert await page.inner_text("#languages") == "EN | RU"

    text = tmp_path / "not-a-note.txt"
    text.write_text("just some text, not a recording\n" * 10)
    await page.set_input_files("#file", str(text))
    await page.click("#submit")
    await until(page, "document.querySelector('#status').textContent.startsWith('Не получилось: Это не аудио')")

    note = tmp_path / "note.ogg"
    note.write_bytes(encode_voice(noisy_speech(2.0)[0]))
    await page.set_input_files("#file", str(note))
    await page.click("#submit")
    await until(page, "document.querySelector('#status').textContent === 'В очереди, позиция 1'")
    job = await page.evaluate("location.hash")
    assert len(job) > 30

    await page.click("#languages a[hreflang=en]")
    await page.wait_for_url(f"{web_only.url}/?lang=en{job}")
    assert await page.get_attribute("html", "lang") == "en"
    await until(page, "document.querySelector('#status').textContent === 'Queued, position 1'")
    assert await page.inner_text("label[for=file] strong") == "Choose or drop an audio file"

    await page.goto(web_only.url + "/")  # the switch is remembered over the browser's Russian
    assert await page.get_attribute("html", "lang") == "en"
    await context.close()
