"""The composition root: the ``voicebot`` command, the ``voicebot run`` supervisor, and the one place where
settings become models, pipeline options and the parts that use them. Everything else is wired from here."""
