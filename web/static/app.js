// The page: upload or record, follow the job, show the results. Texts come from the server (web/texts.py), in the
// page's language, which the API is asked to answer in too.
"use strict";

const TEXT = JSON.parse(document.getElementById("texts").textContent);
const LANG = document.documentElement.lang;
const API_HEADERS = { "Accept-Language": LANG };
const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const seconds = (value) => value.toLocaleString(LANG, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
let chosen = null; // a File or a recorded Blob
let recorder = null;
let recordedAt = 0;

function say(template, values = {}, failed = false) {
  const text = template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
  $("status").textContent = text;
  $("status").classList.toggle("failed", failed);
}

function choose(blob, name) {
  chosen = blob;
  $("chosen").textContent = name;
}

// the language switch keeps the job being shown (its id is the address's fragment)
document.querySelectorAll("#languages a").forEach((link) => link.addEventListener("click", () => {
  link.hash = location.hash;
}));

$("file").addEventListener("change", () => {
  if ($("file").files.length) choose($("file").files[0], $("file").files[0].name);
});

const drop = $("drop");
["dragenter", "dragover"].forEach((kind) => drop.addEventListener(kind, (event) => {
  event.preventDefault();
  drop.classList.add("over");
}));
["dragleave", "drop"].forEach((kind) => drop.addEventListener(kind, () => drop.classList.remove("over")));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  const file = event.dataTransfer.files[0];
  if (file) choose(file, file.name);
});

$("record").addEventListener("click", async () => {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const parts = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (event) => parts.push(event.data));
    recorder.addEventListener("stop", () => {
      stream.getTracks().forEach((track) => track.stop());
      const type = recorder.mimeType || "audio/webm";
      choose(new Blob(parts, { type }), `recording.${type.includes("ogg") ? "ogg" : "webm"}`);
      say(TEXT.recorded, { seconds: seconds((Date.now() - recordedAt) / 1000) });
    });
    recorder.start();
    recordedAt = Date.now();
    $("record").disabled = true;
    $("stop").disabled = false;
    say(TEXT.recording);
  } catch (problem) {
    say(TEXT.no_microphone, { reason: problem.message }, true);
  }
});

$("stop").addEventListener("click", () => {
  if (recorder && recorder.state !== "inactive") recorder.stop();
  $("record").disabled = false;
  $("stop").disabled = true;
});

$("upload").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!chosen) return say(TEXT.no_file, {}, true);
  const form = new FormData();
  form.append("strength", $("strength").value);
  form.append("language", $("language").value);
  form.append("file", chosen, $("chosen").textContent || "note");
  $("submit").disabled = true;
  $("result").hidden = true;
  say(TEXT.uploading);
  try {
    const response = await fetch("/api/jobs", { method: "POST", body: form, headers: API_HEADERS });
    const body = await response.json();
    if (response.status !== 202) {
      $("submit").disabled = false;
      return say(TEXT.failed, { reason: body.message }, true);
    }
    location.hash = body.id;
    follow(body.status_url);
  } catch (problem) {
    $("submit").disabled = false;
    say(TEXT.network, { reason: problem.message }, true);
  }
});

async function follow(url) {
  let job;
  try {
    const response = await fetch(url, { cache: "no-store", headers: API_HEADERS });
    job = await response.json();
    if (!response.ok) {
      $("submit").disabled = false;
      return say(TEXT.failed, { reason: job.message }, true);
    }
  } catch (problem) {
    say(TEXT.network, { reason: problem.message }, true);
    return setTimeout(() => follow(url), POLL_MS * 3);
  }
  if (job.status === "queued") say(TEXT.queued, { position: job.position });
  else if (job.status === "working") say(TEXT.working, { stage: TEXT[`stage_${job.stage}`] || job.stage || "" });
  if (job.status === "queued" || job.status === "working") return setTimeout(() => follow(url), POLL_MS);
  $("submit").disabled = false;
  if (job.status === "failed") return say(TEXT.failed, { reason: job.reason }, true);
  say(TEXT.done, { duration: seconds(job.duration_s || 0) });
  show(job);
}

function clock(seconds) {
  const whole = Math.floor(seconds);
  const pad = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(whole / 3600);
  const rest = `${pad(Math.floor((whole % 3600) / 60))}:${pad(whole % 60)}`;
  return hours ? `[${hours}:${rest}]` : `[${rest}]`;
}

function show(job) {
  $("original").src = job.original_url;
  $("cleaned").src = job.audio_url;
  $("spectrogram").src = job.spectrogram_url;
  const transcript = $("transcript");
  transcript.replaceChildren();
  const segments = job.segments.length ? job.segments : [{ start: 0, text: job.text }];
  for (const segment of segments) {
    const line = document.createElement("div");
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = clock(segment.start);
    line.append(time, document.createTextNode(segment.text.trim()));
    transcript.append(line);
  }
  $("download-ogg").href = job.audio_url;
  $("download-txt").href = job.txt_url;
  $("download-srt").href = job.srt_url;
  $("download-vtt").href = job.vtt_url;
  $("result").hidden = false;
}

if (location.hash.length > 1) follow(`/api/jobs/${encodeURIComponent(location.hash.slice(1))}`);
