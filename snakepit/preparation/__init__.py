"""Getting a job's code into its pit directory, and removing it again.

The service side of the published ``prepare.sh`` and ``clean.sh``, as trio code: validation of
the job's source before anything runs (:func:`validate_source`, ``PreparationRefused`` is a 400),
a clone cache of bare mirrors keyed by md5(origin), safe archive unpacking, ``git apply`` for
text and binary diffs, and ``pit.log`` lines in the published format.

Modules: ``source`` (inputs and checks), ``preparer`` (the steps), ``cache`` (mirrors),
``git`` (running git safely), ``patch`` (diffs), ``files`` (blocking file work), ``pitlog``,
``errors``.
"""

from snakepit.preparation.errors import (
    CleaningFailed,
    PreparationError,
    PreparationFailed,
    PreparationRefused,
)
from snakepit.preparation.preparer import Preparer, clean
from snakepit.preparation.source import (
    DEFAULT_SCHEMES,
    MAX_DIFF_BYTES,
    MAX_ORIGIN_CHARS,
    JobSource,
    check_source,
    validate_source,
)

__all__ = [
    "DEFAULT_SCHEMES",
    "MAX_DIFF_BYTES",
    "MAX_ORIGIN_CHARS",
    "CleaningFailed",
    "JobSource",
    "PreparationError",
    "PreparationFailed",
    "PreparationRefused",
    "Preparer",
    "check_source",
    "clean",
    "validate_source",
]
