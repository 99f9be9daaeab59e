"""The error for a package that cannot be trusted: malformed, truncated, tampered or too new."""

from elasticrec.errors import ElasticrecError


class PackageError(ElasticrecError):
    """A package file is refused; the message says what is wrong with it, in one line."""
