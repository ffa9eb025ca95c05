"""The one error every avatar loader raises for what a user gave."""


class AvatarError(ValueError):
    """An avatar cannot be loaded from what the user gave; the message says which file and why, in one line."""
