"""Every string the web page, its script, its API and the admin page show, in each of the bot's interface languages
(``core.texts.LANGUAGES``: English and Russian; a test checks that no text is missing from one). Each section maps
a key to its text per language; ``pick`` gives a section in one language. Page texts take ``$name`` values filled
by the server, the script's and the API's take ``{name}`` values."""

from __future__ import annotations

Section = dict[str, dict[str, str]]  # key → language → text

# the page's fixed text, filled into index.html; language_<code> names each choice of core.choices.TRANSCRIBE_LANGUAGES
# and strength_<word> each of core.choices.STRENGTHS
PAGE: Section = {
    "title": {
        "en": "voicebot — clean and transcribe a voice note",
        "ru": "voicebot — очистка и расшифровка голосовых",
    },
    "heading": {"en": "Clean and transcribe a voice note", "ru": "Очистить и расшифровать голосовое"},
    "intro": {
        "en": "Upload a recording or record one here: you get it back with the background noise removed, and the "
        "text of what was said. Nothing is listed anywhere; results are erased after $retention_days days.",
        "ru": "Загрузите запись или запишите её прямо здесь: вы получите её обратно без фонового шума и текст "
        "сказанного. Записи нигде не публикуются; результаты удаляются через $retention_days дн.",
    },
    "switch": {"en": "Language of this page", "ru": "Язык страницы"},
    "language_name": {"en": "English", "ru": "Русский"},  # each language in its own words, for the switch
    "choose": {"en": "Choose or drop an audio file", "ru": "Выберите аудиофайл или перетащите его сюда"},
    "drop_hint": {"en": "$formats — up to $max_mb MB", "ru": "$formats — до $max_mb МБ"},
    "record": {"en": "Record", "ru": "Записать"},
    "stop": {"en": "Stop", "ru": "Стоп"},
    "strength": {"en": "Noise removal", "ru": "Шумоподавление"},
    "strength_strong": {"en": "strong", "ru": "сильное"},
    "strength_gentle": {"en": "gentle (keeps some room tone)", "ru": "мягкое (немного фона остаётся)"},
    "strength_off": {"en": "off", "ru": "выключено"},
    "language": {"en": "Language", "ru": "Язык записи"},
    "language_auto": {"en": "detect", "ru": "автоматически"},
    "language_en": {"en": "English", "ru": "английский"},
    "language_ru": {"en": "Russian", "ru": "русский"},
    "language_uk": {"en": "Ukrainian", "ru": "украинский"},
    "language_de": {"en": "German", "ru": "немецкий"},
    "language_fr": {"en": "French", "ru": "французский"},
    "language_es": {"en": "Spanish", "ru": "испанский"},
    "language_it": {"en": "Italian", "ru": "итальянский"},
    "language_pt": {"en": "Portuguese", "ru": "португальский"},
    "language_tr": {"en": "Turkish", "ru": "турецкий"},
    "language_pl": {"en": "Polish", "ru": "польский"},
    "language_zh": {"en": "Chinese", "ru": "китайский"},
    "language_ja": {"en": "Japanese", "ru": "японский"},
    "submit": {"en": "Clean and transcribe", "ru": "Очистить и расшифровать"},
    "original": {"en": "Original", "ru": "Оригинал"},
    "cleaned": {"en": "Cleaned", "ru": "После очистки"},
    "spectrograms": {
        "en": "Spectrograms, 0–8 kHz: before cleaning (top) and after (bottom)",
        "ru": "Спектрограммы, 0–8 кГц: до очистки (сверху) и после (снизу)",
    },
    "transcript": {"en": "Transcript", "ru": "Расшифровка"},
    "downloads": {"en": "Downloads", "ru": "Скачать"},
    "download_ogg": {"en": "cleaned voice (.ogg)", "ru": "очищенный голос (.ogg)"},
    "download_txt": {"en": "transcript (.txt)", "ru": "расшифровка (.txt)"},
    "download_srt": {"en": "subtitles (.srt)", "ru": "субтитры (.srt)"},
    "download_vtt": {"en": "subtitles (.vtt)", "ru": "субтитры (.vtt)"},
}

# what the page's script says while a job runs, handed to it as JSON; stage_<name> for each stage the API reports
SCRIPT: Section = {
    "no_file": {"en": "Choose a file or record first.", "ru": "Сначала выберите файл или сделайте запись."},
    "uploading": {"en": "Uploading…", "ru": "Загружаю…"},
    "queued": {"en": "Queued, position {position}", "ru": "В очереди, позиция {position}"},
    "working": {"en": "Working: {stage}…", "ru": "В работе: {stage}…"},
    "done": {"en": "Done: {duration} s of audio.", "ru": "Готово: {duration} с аудио."},
    "failed": {"en": "Failed: {reason}", "ru": "Не получилось: {reason}"},
    "recording": {
        "en": "Recording… press Stop when done.",
        "ru": "Идёт запись… Нажмите «Стоп», когда закончите.",
    },
    "recorded": {"en": "Recorded {seconds} s.", "ru": "Записано {seconds} с."},
    "no_microphone": {"en": "No microphone available: {reason}", "ru": "Микрофон недоступен: {reason}"},
    "network": {"en": "Network problem: {reason}", "ru": "Проблема с сетью: {reason}"},
    "stage_decoding": {"en": "reading the audio", "ru": "читаю аудио"},
    "stage_denoising": {"en": "removing noise", "ru": "убираю шум"},
    "stage_transcribing": {"en": "transcribing", "ru": "расшифровываю"},
    "stage_encoding": {"en": "encoding", "ru": "готовлю голосовое"},
    "stage_drawing": {"en": "drawing spectrograms", "ru": "рисую спектрограммы"},
}

# the API's error messages (the error's code is ``api.error``'s; most messages share their code's name)
ERRORS: Section = {
    "not_found": {
        "en": "No such job (or its results have expired).",
        "ru": "Такого задания нет (или его результаты уже удалены).",
    },
    "too_big": {"en": "The file is larger than {max_mb:g} MB.", "ru": "Файл больше {max_mb:g} МБ."},
    "not_audio": {
        "en": "This file is not audio (or not in a format we read). Formats we take: {formats}.",
        "ru": "Это не аудио (или формат, который мы не читаем). Подходят форматы: {formats}.",
    },
    "no_file": {
        "en": "No file: send it as the multipart field 'file'.",
        "ru": "Нет файла: отправьте его в поле формы «file».",
    },
    "bad_fields": {
        "en": "Bad request: strength is one of {strengths}; language is one of {languages}.",
        "ru": "Неверный запрос: strength — одно из значений {strengths}; language — одно из значений {languages}.",
    },
    "field_too_long": {
        "en": "Bad request: the field '{field}' is too long.",
        "ru": "Неверный запрос: поле «{field}» слишком длинное.",
    },
    "nested_multipart": {
        "en": "Bad request: a multipart body inside another is not taken.",
        "ru": "Неверный запрос: вложенный multipart не принимается.",
    },
    "rate_limited": {
        "en": "Too many notes from your address: at most {limit} an hour. Try again in {minutes} min.",
        "ru": "Слишком много записей с вашего адреса: не больше {limit} в час. Попробуйте снова через {minutes} мин.",
    },
    "busy": {
        "en": "The queue is full right now: try again in a few minutes.",
        "ru": "Очередь сейчас переполнена: попробуйте через несколько минут.",
    },
    "unavailable": {
        "en": "A temporary problem on our side: try again in a minute.",
        "ru": "Временная неполадка на нашей стороне: попробуйте через минуту.",
    },
}

# why a job failed, by the worker's error code (anything else: "internal")
FAILURES: Section = {
    "unsupported_audio": {
        "en": "this file is not audio we can read",
        "ru": "этот файл не получилось прочитать как аудио",
    },
    "empty_audio": {"en": "the file holds no audio", "ru": "в файле нет звука"},
    "no_speech": {"en": "no speech found", "ru": "речь не найдена"},
    "too_long": {"en": "the recording is too long", "ru": "запись слишком длинная"},
    "timeout": {"en": "it took too long to process", "ru": "обработка заняла слишком много времени"},
    "expired": {
        "en": "the upload expired before it was processed",
        "ru": "срок хранения загрузки истёк до её обработки",
    },
    "internal": {"en": "something went wrong on our side", "ru": "что-то пошло не так на нашей стороне"},
}

# the admin page
ADMIN: Section = {
    "title": {"en": "voicebot admin", "ru": "voicebot: администрирование"},
    "login": {"en": "Admin token", "ru": "Токен администратора"},
    "sign_in": {"en": "Sign in", "ru": "Войти"},
    "sign_out": {"en": "Sign out", "ru": "Выйти"},
    "wrong_token": {"en": "Wrong token.", "ru": "Неверный токен."},
    "models": {"en": "Models", "ru": "Модели"},
    "active": {"en": "active", "ru": "активна"},
    "switch": {"en": "Switch", "ru": "Переключить"},
    "loaded": {"en": "Loaded by workers", "ru": "Загружены в воркерах"},
    "stats": {"en": "Today", "ru": "Сегодня"},
    "switched": {"en": "{family} switched to {version}.", "ru": "{family}: теперь активна {version}."},
    "unrunnable": {
        "en": "{family} {version} cannot run on every worker, so it stays as it was. {workers}",
        "ru": "{family} {version} запустится не на всех воркерах, поэтому версия не изменена. {workers}",
    },
    "unknown_version": {"en": "Unknown {family} version: {version}.", "ru": "Неизвестная версия {family}: {version}."},
    "unknown_family": {"en": "Unknown model family.", "ru": "Неизвестное семейство моделей."},
    "bad_form": {"en": "The form expired; try again.", "ru": "Форма устарела, попробуйте ещё раз."},
    "jobs": {"en": "jobs", "ru": "заданий"},
    "done": {"en": "done", "ru": "готово"},
    "failed": {"en": "failed", "ru": "с ошибкой"},
    "in_progress": {"en": "in progress", "ru": "в работе"},
    "success_rate": {"en": "success rate", "ru": "доля успешных"},
    "p50": {"en": "processing time p50", "ru": "время обработки, p50"},
    "p95": {"en": "processing time p95", "ru": "время обработки, p95"},
    "queue_depth": {"en": "queue depth", "ru": "длина очереди"},
}


def pick(section: Section, lang: str) -> dict[str, str]:
    """``section`` in ``lang`` (one of ``core.texts.LANGUAGES``): key → text."""
    return {key: texts[lang] for key, texts in section.items()}
