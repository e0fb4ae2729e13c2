"""signlang: a reproducible DVC pipeline for a small CNN on Sign Language MNIST."""

import string

__version__ = "0.1.0"

# Output index i of the model is the letter LETTERS[i]; J (9) and Z (25) need motion and never occur
# in the data, but the net keeps all 26 outputs so that index and letter always agree.
LETTERS: tuple[str, ...] = tuple(string.ascii_uppercase)
NUM_CLASSES = len(LETTERS)
IMAGE_SIZE = 28
