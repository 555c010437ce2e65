"""irnn from Python: integer-only recurrent models.

>>> import irnn
>>> lm = irnn.load("fixtures/models/lm.irnn")
>>> lm.score("ROMEO: But soft!")["bits_per_token"] > 0
True

Everything is computed by irnn's Rust runtime (integer arithmetic from the
int8 inputs to the int32 logits); this package only converts arguments.
"""

from ._irnn import (  # noqa: F401
    IrnnError,
    LanguageModel,
    SpeechModel,
    __version__,
    convert,
    evaluate,
    import_model,
    kernels,
    load,
)

__all__ = [
    "IrnnError",
    "LanguageModel",
    "SpeechModel",
    "convert",
    "evaluate",
    "import_model",
    "kernels",
    "load",
]
