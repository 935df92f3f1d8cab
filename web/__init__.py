"""The web page and its API: upload or record a note, follow it through the same queue and workers, listen to it
before and after, read and download the transcript. Light: no models, no torch."""
