"""flows.params.AccountId: the Prefect form edits ids as digit strings (no float rounding past
2^53) and the flow gets the exact int, from a string or an int."""

from __future__ import annotations

import pytest
from prefect.exceptions import ParameterTypeError
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools import validate

from flows.dpa import dpa_daily
from flows.laike import laike_daily

BIG = 1790213725000001620  # > 2^53: as a JavaScript number it reads 1790213725000001500
assert float(BIG) != BIG


@pytest.mark.parametrize(("flow", "name"), [(laike_daily, "accounts"), (dpa_daily, "advertisers")])
def test_account_ids_are_digit_strings_in_the_form_and_exact_ints_in_the_flow(flow, name):
    schema = parameter_schema(flow.fn).model_dump()
    prop = schema["properties"][name]
    items = next(s["items"] for s in prop["anyOf"] if s.get("type") == "array")
    assert items["anyOf"][0] == {"type": "string", "pattern": "^[0-9]+$"}  # the form's editor
    assert items["anyOf"][1] == {"type": "integer"}  # what the server accepts from the API/CLI

    # The server checks a deployment run's parameters against the schema: both forms pass.
    assert validate({name: [str(BIG), BIG + 1]}, schema) == []
    assert validate({name: ["12x"]}, schema) != []

    got = flow.validate_parameters({name: [str(BIG), BIG + 1]})[name]
    assert got == [BIG, BIG + 1] and all(type(v) is int for v in got)
    with pytest.raises(ParameterTypeError):
        flow.validate_parameters({name: ["1790213725000001620x"]})
