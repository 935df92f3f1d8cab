"""Training and evaluation data: mixing speech with real and synthetic noise."""
