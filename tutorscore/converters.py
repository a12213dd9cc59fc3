"""URL converters shared by the apps' URLconfs."""

import uuid


class AnyCaseUUIDConverter:
    """A UUID in any letter case (the API's ingest accepts both, so its read URLs must too)."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_url(self, value: uuid.UUID | str) -> str:
        return str(value).lower()
