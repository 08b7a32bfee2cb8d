"""The one error the pure rules raise: an input they cannot accept, naming field and accepted values."""


class Refused(ValueError):
    """An input the rules cannot accept, naming the field and the accepted values."""

    def __init__(self, field: str, message: str, accepted: str) -> None:
        super().__init__(f"{field}: {message} (accepted: {accepted})")
        self.field = field
        self.message = message
        self.accepted = accepted
