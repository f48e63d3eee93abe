"""Flow parameter types as the Prefect UI should render them.

Ocean Engine ids exceed 2^53. The UI's form edits an ``int`` parameter as a JavaScript number,
which rounds such an id (1790213725000001620 → 1790213725000001500) and the run then fails on an
unknown account. :data:`AccountId` is an ``int`` to the flow, and to the form (its JSON schema) a
string of digits first, an integer second: Prefect validates the string into the exact int. Ints
still work (the CLI, automations, ``prefect deployment run --params``, the API).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import WithJsonSchema

AccountId = Annotated[
    int,
    WithJsonSchema(
        {
            # The string first: the form's default editor. The integer still validates (the
            # server checks a deployment run's parameters against this schema).
            "anyOf": [{"type": "string", "pattern": "^[0-9]+$"}, {"type": "integer"}],
            "title": "account id",
            "description": "digits (a text field: ids exceed what the form's numbers hold)",
        }
    ),
]
