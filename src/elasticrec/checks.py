"""One helper for validating configuration fields with a message that names field and value."""


def check(cond: bool, name: str, value: object, allowed: str) -> None:
    if not cond:
        raise ValueError(f"{name}={value!r} is not allowed: {allowed}")
