"""One rule for the tests of the compiled core (ext/*.pyx -> minigan._ext.<name>).

When a module is not built its tests skip with the build command, unless
MINIGAN_REQUIRE_EXT=1 (as in CI): then they run, and fail.
"""
import os

import pytest

from minigan import backend


def require_built(*modules):
    """True when every minigan._ext.<module> is built; otherwise skip the calling test module
    (or test, from a fixture) unless MINIGAN_REQUIRE_EXT=1, and return False."""
    missing = [m for m in modules if backend._load(m) is None]
    if missing and os.environ.get("MINIGAN_REQUIRE_EXT") != "1":
        pytest.skip(f"minigan._ext.{', '.join(missing)} not built; {backend.BUILD_HINT}; "
                    "set MINIGAN_REQUIRE_EXT=1 to make that a failure", allow_module_level=True)
    return not missing
