"""The model library: audio I/O, denoisers, Whisper, the pipeline, data, training and evaluation."""

import os

# onnxruntime (DeepFilterNet3, Silero VAD) otherwise starts Microsoft's telemetry: a session file in $TMPDIR, a
# device id under ~/.cache and uploads. Nothing about a user's notes may leave the machine. Set before it loads.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
