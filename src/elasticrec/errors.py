"""The one error type the CLI turns into a one-line message and a non-zero exit."""


class ElasticrecError(Exception):
    """Bad input or a request that cannot be met; the message names the input and the problem."""
