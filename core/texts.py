"""Every user-facing string, in English and Russian. ``t(key, lang, **values)`` picks and formats one."""

from __future__ import annotations

LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"

TEXTS: dict[str, dict[str, str]] = {
    "start": {
        "en": "Hi! Send me a voice note, a round video or an audio file: I will send back the cleaned-up "
        "voice and the text of what was said.\n\n/settings — language, noise removal, reply format\n"
        "/forget — delete everything I keep about you\n/help — help",
        "ru": "Привет! Пришлите голосовое, кружок или аудиофайл — я верну очищенный от шума голос и текст "
        "сказанного.\n\n/settings — язык, шумоподавление, формат ответа\n/forget — удалить всё, что я о вас храню\n"
        "/help — помощь",
    },
    "help": {
        "en": "Send a voice note, round video or audio file (up to {max_mb:.0f} MB and {max_min:.0f} min). "
        "I remove background noise and transcribe the speech.\n/settings changes the language, noise removal "
        "and reply format.",
        "ru": "Пришлите голосовое, кружок или аудиофайл (до {max_mb:.0f} МБ и {max_min:.0f} мин). Я уберу фоновый "
        "шум и расшифрую речь.\n/settings — язык, шумоподавление и формат ответа.",
    },
    "not_audio": {
        "en": "I only understand voice notes, round videos and audio files. Send me one of those — /help",
        "ru": "Я понимаю только голосовые, кружки и аудиофайлы. Пришлите что-нибудь из этого — /help",
    },
    "queued": {
        "en": "⏳ Queued, position {position}.",
        "ru": "⏳ В очереди, позиция {position}.",
    },
    "stage_downloading": {"en": "⬇️ Downloading…", "ru": "⬇️ Скачиваю…"},
    "stage_decoding": {"en": "🎧 Reading the audio…", "ru": "🎧 Читаю аудио…"},
    "stage_denoising": {"en": "🧹 Removing noise…", "ru": "🧹 Убираю шум…"},
    "stage_transcribing": {"en": "✍️ Transcribing…", "ru": "✍️ Расшифровываю…"},
    "stage_encoding": {"en": "📦 Preparing the voice note…", "ru": "📦 Готовлю голосовое…"},
    "stage_sending": {"en": "📤 Sending…", "ru": "📤 Отправляю…"},
    "done": {
        "en": "✅ Done: {duration:.0f} s of audio in {seconds:.1f} s.",
        "ru": "✅ Готово: {duration:.0f} с аудио за {seconds:.1f} с.",
    },
    "done_cached": {
        "en": "✅ Done: this audio was processed before, here is the result.",
        "ru": "✅ Готово: это аудио уже обрабатывалось, вот результат.",
    },
    "transcript_file": {
        "en": "The transcript is long, so here it is as a file.",
        "ru": "Расшифровка длинная, поэтому отправляю её файлом.",
    },
    "too_big": {
        "en": "❌ This file is {size_mb:.1f} MB; I can take files up to {max_mb:.0f} MB. Please send a shorter one.",
        "ru": "❌ Файл весит {size_mb:.1f} МБ, а я принимаю до {max_mb:.0f} МБ. Пришлите файл поменьше.",
    },
    "too_long": {
        "en": "❌ This note is {length} long; the limit is {limit}. Please split it.",
        "ru": "❌ Запись длится {length}, а предел — {limit}. Разделите её, пожалуйста.",
    },
    "error_unsupported_audio": {
        "en": "❌ I could not read this file as audio: it may be damaged or have no sound track.",
        "ru": "❌ Не получилось прочитать файл как аудио: возможно, он повреждён или в нём нет звука.",
    },
    "error_empty_audio": {
        "en": "❌ This file is empty: there is no audio in it.",
        "ru": "❌ Файл пустой: в нём нет аудио.",
    },
    "error_no_speech": {
        "en": "🤫 No speech found in this note.",
        "ru": "🤫 В этой записи не нашлось речи.",
    },
    "error_timeout": {
        "en": "⏱ This note took too long to process, so I stopped. Please send a shorter one, or try again later.",
        "ru": "⏱ Запись обрабатывалась слишком долго, и я остановился. Пришлите запись покороче или попробуйте позже.",
    },
    "error_internal": {
        "en": "❌ Sorry, something went wrong while processing this note. Please try again later.",
        "ru": "❌ Извините, при обработке записи что-то пошло не так. Попробуйте позже.",
    },
    "try_later": {
        "en": "⚠️ I can't take new notes right now because of a temporary problem. Please send it again in a minute.",
        "ru": "⚠️ Сейчас не могу принять запись из-за временной неполадки. Пришлите её ещё раз через минуту.",
    },
    "rate_in_flight": {
        "en": "⏳ You already have {count} notes in progress. Send this one again in about {wait}.",
        "ru": "⏳ У вас уже обрабатывается записей: {count}. Пришлите эту ещё раз примерно через {wait}.",
    },
    "rate_hourly": {
        "en": "⏳ You have sent {count} notes in the last hour, the most I take. Try again in {wait}.",
        "ru": "⏳ За последний час вы прислали {count} записей — это предел. Попробуйте снова через {wait}.",
    },
    "busy": {
        "en": "⏳ I am very busy right now ({depth} notes waiting). Please send it again in about {wait}.",
        "ru": "⏳ Сейчас очень много работы ({depth} записей в очереди). Пришлите ещё раз примерно через {wait}.",
    },
    "forgot": {
        "en": "🗑 Done: I deleted {count} notes with their transcripts and your settings.",
        "ru": "🗑 Готово: удалил записей: {count}, их расшифровки и ваши настройки.",
    },
    "minutes": {"en": "{n} min", "ru": "{n} мин"},
    "seconds": {"en": "{n} s", "ru": "{n} с"},
    "settings": {
        "en": "⚙️ Settings\nTranscription language: {language}\nNoise removal: {denoise}\nReply: {reply}\n"
        "Interface language: {ui}",
        "ru": "⚙️ Настройки\nЯзык расшифровки: {language}\nШумоподавление: {denoise}\nОтвет: {reply}\n"
        "Язык интерфейса: {ui}",
    },
    "language_auto": {"en": "automatic", "ru": "автоматически"},
    "on": {"en": "on", "ru": "вкл"},
    "off": {"en": "off", "ru": "выкл"},
    "reply_voice_text": {"en": "voice + text", "ru": "голос + текст"},
    "reply_text": {"en": "text only", "ru": "только текст"},
    "button_language": {"en": "🌐 Transcription language", "ru": "🌐 Язык расшифровки"},
    "button_denoise": {"en": "🧹 Noise removal: {state}", "ru": "🧹 Шумоподавление: {state}"},
    "strength_off": {"en": "off", "ru": "выкл"},
    "strength_gentle": {"en": "gentle (keeps some room tone)", "ru": "мягкое (немного фона остаётся)"},
    "strength_strong": {"en": "strong", "ru": "сильное"},
    "button_reply": {"en": "💬 Reply: {mode}", "ru": "💬 Ответ: {mode}"},
    "button_ui": {"en": "🗣 Interface: English", "ru": "🗣 Интерфейс: русский"},
    "button_back": {"en": "← Back", "ru": "← Назад"},
    "saved": {"en": "Saved.", "ru": "Сохранено."},
    "menu_expired": {
        "en": "This menu is too old to change: send /settings again.",
        "ru": "Это меню устарело: отправьте /settings ещё раз.",
    },
    "not_allowed": {
        "en": "⛔ Not allowed: this command is for the bot's admins.",
        "ru": "⛔ Нельзя: эта команда только для администраторов бота.",
    },
    "models": {
        "en": "Denoiser: {denoiser}\nAvailable: {denoisers}\n\nWhisper: {whisper}\nAvailable: {whispers}\n\n"
        "Loaded in workers: {loaded}",
        "ru": "Шумодав: {denoiser}\nДоступны: {denoisers}\n\nWhisper: {whisper}\nДоступны: {whispers}\n\n"
        "Загружены в воркерах: {loaded}",
    },
    "model_usage": {
        "en": "Usage: /{family} <version>\nAvailable: {available}",
        "ru": "Использование: /{family} <версия>\nДоступны: {available}",
    },
    "model_unknown": {
        "en": "❌ Unknown {family} version “{version}”. Valid: {available}",
        "ru": "❌ Нет версии {family} «{version}». Доступны: {available}",
    },
    "model_unrunnable": {
        "en": "❌ {family} {version} cannot run on every worker, so it stays as it was. {workers}",
        "ru": "❌ {family} {version} запустится не на всех воркерах, поэтому версия не изменена. {workers}",
    },
    "model_set": {
        "en": "✅ {family} is now {version}; the next job uses it.",
        "ru": "✅ {family} теперь {version}; следующая задача пойдёт с ней.",
    },
    "stats": {
        "en": "📊 Today: {jobs} jobs, {done} done, {failed} failed, {in_progress} in progress\n"
        "Success rate: {rate}\nProcessing time p50/p95: {p50} / {p95}\nQueue depth: {depth}",
        "ru": "📊 Сегодня: {jobs} задач, {done} готово, {failed} с ошибкой, {in_progress} в работе\n"
        "Успешных: {rate}\nВремя обработки p50/p95: {p50} / {p95}\nВ очереди: {depth}",
    },
    "group_help": {
        "en": "In groups I stay quiet until asked: reply /transcribe to a voice note, round video or audio file "
        "(/clean sends the cleaned voice too). Chat admins: /auto on|off (every note, unasked), "
        "/language <code>|auto, /reply text|voice.",
        "ru": "В группах я молчу, пока не попросят: ответьте /transcribe на голосовое, кружок или аудиофайл "
        "(/clean пришлёт и очищенный голос). Админы чата: /auto on|off (все записи без просьбы), "
        "/language <код>|auto, /reply text|voice.",
    },
    "reply_to_a_note": {
        "en": "Reply with /{command} to a voice note, round video or audio file.",
        "ru": "Ответьте /{command} на голосовое, кружок или аудиофайл.",
    },
    "chat_admins_only": {
        "en": "⛔ Only this chat's admins can change that.",
        "ru": "⛔ Это могут менять только админы чата.",
    },
    "auto_usage": {"en": "Usage: /auto on or /auto off", "ru": "Использование: /auto on или /auto off"},
    "auto_on": {
        "en": "✅ From now on I transcribe every voice note in this chat.",
        "ru": "✅ Теперь я расшифровываю все голосовые в этом чате.",
    },
    "auto_off": {
        "en": "✅ From now on I transcribe here only when asked: reply /transcribe to a note.",
        "ru": "✅ Теперь я расшифровываю здесь только по просьбе: ответьте /transcribe на запись.",
    },
    "chat_language_usage": {
        "en": "Usage: /language <code> (one of {codes}) or /language auto",
        "ru": "Использование: /language <код> (один из: {codes}) или /language auto",
    },
    "chat_language_set": {
        "en": "✅ Notes in this chat are transcribed in: {language}.",
        "ru": "✅ Записи в этом чате расшифровываются на языке: {language}.",
    },
    "chat_reply_usage": {
        "en": "Usage: /reply text (text only) or /reply voice (cleaned voice + text)",
        "ru": "Использование: /reply text (только текст) или /reply voice (очищенный голос + текст)",
    },
    "chat_reply_set": {"en": "✅ Replies in this chat: {mode}.", "ru": "✅ Ответы в этом чате: {mode}."},
    "rate_chat": {
        "en": "⏳ This chat has had {count} notes transcribed in the last hour, the most I take. Try again in {wait}.",
        "ru": "⏳ В этом чате за последний час расшифровано записей: {count} — это предел. Попробуйте через {wait}.",
    },
    "forwarded_from": {"en": "↪️ {name}, {date}", "ru": "↪️ {name}, {date}"},
    "button_subtitles": {"en": "🎬 Subtitles", "ru": "🎬 Субтитры"},
    "button_text_file": {"en": "📄 Text file", "ru": "📄 Текстом в файле"},
    "button_stronger": {"en": "🧹 Stronger cleaning", "ru": "🧹 Почистить сильнее"},
    "subtitles_caption": {
        "en": "Subtitles: .srt and .vtt, for video players and editors.",
        "ru": "Субтитры: .srt и .vtt, для видеоплееров и редакторов.",
    },
    "no_timestamps": {
        "en": "This note has no timestamps kept, so no subtitles.",
        "ru": "Для этой записи не сохранились отметки времени, субтитров не будет.",
    },
    "result_gone": {
        "en": "This result is no longer kept (results are erased after a while, and on /forget).",
        "ru": "Этот результат больше не хранится (результаты стираются через некоторое время и по /forget).",
    },
}


def pick_language(ui_language: str | None, telegram_language: str | None) -> str:
    """The user's chosen interface language, else Telegram's ``language_code`` if we speak it, else English."""
    for candidate in (ui_language, (telegram_language or "").split("-")[0].lower()):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def t(key: str, lang: str, **values: object) -> str:
    """The text ``key`` in ``lang`` (falling back to English), formatted with ``values``."""
    variants = TEXTS[key]
    return variants.get(lang, variants[DEFAULT_LANGUAGE]).format(**values)


def duration_text(seconds: float, lang: str) -> str:
    """A wait time as "N s" under two minutes, else "N min"."""
    if seconds < 120:
        return t("seconds", lang, n=max(1, round(seconds)))
    return t("minutes", lang, n=round(seconds / 60))
