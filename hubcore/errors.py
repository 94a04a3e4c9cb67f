"""User-facing errors.

Every failure a user can cause (bad text, unknown model, unsupported architecture) is raised as a
`HubError` whose message is one clear sentence. The pages and the CLI show that sentence instead of
a traceback; anything else is a bug and keeps its traceback.
"""


class HubError(Exception):
    """An error whose message is written for the user."""


class ModelLoadError(HubError):
    """The model spec could not be resolved or loaded (missing files, offline hub id, bad GGUF)."""


class UnsupportedModelError(HubError):
    """The model loaded, but its architecture cannot be wrapped for capture and the logit lens."""


class InputError(HubError):
    """The user's text, file or parameters cannot be used as given."""


class Cancelled(HubError):
    """The user stopped a run (the dashboard's Stop button): raised from the progress callback at
    the next report, so the run ends between steps and the caller keeps its previous result."""
