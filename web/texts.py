"""Every string the web page, its API and the admin page show (English)."""

from __future__ import annotations

TITLE = "voicebot — clean and transcribe a voice note"

# the page's fixed text, filled into index.html
PAGE = {
    "title": TITLE,
    "heading": "Clean and transcribe a voice note",
    "intro": "Upload a recording or record one here: you get it back with the background noise removed, "
    "and the text of what was said. Nothing is listed anywhere; results are erased after $retention_days days.",
    "choose": "Choose or drop an audio file",
    "drop_hint": "OGG, WebM, MP3, M4A, WAV, FLAC… up to $max_mb MB",
    "record": "Record",
    "stop": "Stop",
    "strength": "Noise removal",
    "strength_off": "off",
    "strength_gentle": "gentle (keeps some room tone)",
    "strength_strong": "strong",
    "language": "Language",
    "language_auto": "detect",
    "submit": "Clean and transcribe",
    "original": "Original",
    "cleaned": "Cleaned",
    "spectrograms": "Spectrograms, 0–8 kHz: before cleaning (top) and after (bottom)",
    "transcript": "Transcript",
    "downloads": "Downloads",
    "download_ogg": "cleaned voice (.ogg)",
    "download_txt": "transcript (.txt)",
    "download_srt": "subtitles (.srt)",
    "download_vtt": "subtitles (.vtt)",
}

# what the page's script says while a job runs, handed to it as JSON
SCRIPT = {
    "no_file": "Choose a file or record first.",
    "uploading": "Uploading…",
    "queued": "Queued, position {position}",
    "working": "Working: {stage}…",
    "done": "Done: {duration} s of audio.",
    "failed": "Failed: {reason}",
    "recording": "Recording… press Stop when done.",
    "recorded": "Recorded {seconds} s.",
    "no_microphone": "No microphone available: {reason}",
    "network": "Network problem: {reason}",
    "stages": {
        "decoding": "reading the audio",
        "denoising": "removing noise",
        "transcribing": "transcribing",
        "encoding": "encoding",
        "drawing": "drawing spectrograms",
    },
}

# the languages one may fix (the bot's /settings offers the same)
LANGUAGES = {
    "en": "English",
    "ru": "Russian",
    "uk": "Ukrainian",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "tr": "Turkish",
    "pl": "Polish",
    "zh": "Chinese",
    "ja": "Japanese",
}

# API errors: code → message
ERRORS = {
    "not_found": "No such job (or its results have expired).",
    "too_big": "The file is larger than {max_mb:g} MB.",
    "not_audio": "This file is not audio (or not a format we read): send OGG, WebM, MP3, M4A, WAV, FLAC, AAC, AMR "
    "or AIFF.",
    "no_file": "No file: send it as the multipart field 'file'.",
    "bad_request": "Bad request: {reason}",
    "rate_limited": "Too many notes from your address: at most {limit} an hour. Try again in {minutes} min.",
    "busy": "The queue is full right now: try again in a few minutes.",
    "unavailable": "A temporary problem on our side: try again in a minute.",
}

# why a job failed, by the worker's error code (anything else: "internal")
FAILURES = {
    "unsupported_audio": "this file is not audio we can read",
    "empty_audio": "the file holds no audio",
    "no_speech": "no speech found",
    "too_long": "the recording is too long",
    "timeout": "it took too long to process",
    "expired": "the upload expired before it was processed",
    "internal": "something went wrong on our side",
}

# the admin page
ADMIN = {
    "title": "voicebot admin",
    "login": "Admin token",
    "sign_in": "Sign in",
    "sign_out": "Sign out",
    "wrong_token": "Wrong token.",
    "models": "Models",
    "active": "active",
    "switch": "Switch",
    "loaded": "Loaded by workers",
    "stats": "Today",
    "switched": "{family} switched to {version}.",
    "unknown_version": "Unknown {family} version: {version}.",
    "bad_form": "The form expired; try again.",
    "jobs": "jobs",
    "done": "done",
    "failed": "failed",
    "in_progress": "in progress",
    "success_rate": "success rate",
    "p50": "processing time p50",
    "p95": "processing time p95",
    "queue_depth": "queue depth",
}
