"""Field types, field properties and cell values: write shape in, read shape out
(docs/contracts/feishu.md §3)."""

from __future__ import annotations

from typing import Any

from sandbox.feishu.errors import FeishuError

TEXT, NUMBER, SELECT, MULTI, DATE, CHECKBOX, PERSON, PHONE, URL = 1, 2, 3, 4, 5, 7, 11, 13, 15
ATTACHMENT, LINK, LOOKUP, FORMULA, DUPLEX, LOCATION, GROUP = 17, 18, 19, 20, 21, 22, 23
CREATED_TIME, MODIFIED_TIME, CREATED_USER, MODIFIED_USER, AUTO_NUMBER = 1001, 1002, 1003, 1004, 1005

UI_TYPES: dict[int, str] = {
    TEXT: "Text", NUMBER: "Number", SELECT: "SingleSelect", MULTI: "MultiSelect",
    DATE: "DateTime", CHECKBOX: "Checkbox", PERSON: "User", PHONE: "Phone", URL: "Url",
    ATTACHMENT: "Attachment", LINK: "SingleLink", LOOKUP: "Lookup", FORMULA: "Formula",
    DUPLEX: "DuplexLink", LOCATION: "Location", GROUP: "GroupChat", CREATED_TIME: "CreatedTime",
    MODIFIED_TIME: "ModifiedTime", CREATED_USER: "CreatedUser", MODIFIED_USER: "ModifiedUser",
    AUTO_NUMBER: "AutoNumber",
}  # fmt: skip
# ui_types that share a storage type with the default one (docs/contracts/feishu.md §3 field table).
UI_ALIASES: dict[int, set[str]] = {
    TEXT: {"Barcode", "Email"},
    NUMBER: {"Progress", "Currency", "Rating"},
}
PRIMARY_TYPES = {TEXT, NUMBER, DATE, PHONE, URL, FORMULA, LOCATION}
# Types whose cells are computed by Feishu: the API cannot write them.
READ_ONLY = {LOOKUP, FORMULA, CREATED_TIME, MODIFIED_TIME, CREATED_USER, MODIFIED_USER, AUTO_NUMBER}
NOT_CREATABLE = {LOOKUP}

NUMBER_FORMATS = {
    "0", "0.0", "0.00", "0.000", "0.0000", "1,000", "1,000.00", "%", "0.00%", "¥", "¥0.00", "$",
    "$0.00",
}  # fmt: skip
# The documented date_formatter enum (field guide; "yyyy/MM/dd HH:mm" from its examples).
# "yyyy-MM-dd" is widely used in third-party code but not documented: rejected (1254001).
DATE_FORMATS = {
    "yyyy/MM/dd", "yyyy-MM-dd HH:mm", "MM-dd", "MM/dd/yyyy", "dd/MM/yyyy", "yyyy/MM/dd HH:mm",
}  # fmt: skip
MAX_TEXT_CHARS = 100_000
MAX_MULTI_ITEMS = 1000

# Type-specific ConvFail codes (docs/contracts/feishu.md §5).
CONV_FAIL = {
    TEXT: 1254060, NUMBER: 1254061, SELECT: 1254062, MULTI: 1254063, DATE: 1254064,
    CHECKBOX: 1254065, PERSON: 1254066, LINK: 1254067, URL: 1254068, ATTACHMENT: 1254069,
    PHONE: 1254072, DUPLEX: 1254074,
}  # fmt: skip


def normalize_property(ftype: int, prop: dict[str, Any] | None, new_option_id) -> dict | None:
    """Validate a create-field ``property`` and fill server defaults (option ids, formatters)."""
    prop = dict(prop or {})
    if ftype == NUMBER:
        fmt = prop.get("formatter", "0.0")
        if fmt not in NUMBER_FORMATS:
            raise FeishuError(1254001, f"property.formatter {fmt!r} is not a valid number format")
        return {**prop, "formatter": fmt}
    if ftype in (DATE, CREATED_TIME, MODIFIED_TIME):
        fmt = prop.get("date_formatter", "yyyy/MM/dd")
        if fmt not in DATE_FORMATS:
            raise FeishuError(1254001, f"property.date_formatter {fmt!r} is not a valid format")
        return {"date_formatter": fmt, "auto_fill": bool(prop.get("auto_fill", False))}
    if ftype in (SELECT, MULTI):
        options = []
        for i, opt in enumerate(prop.get("options") or []):
            if not isinstance(opt, dict) or not str(opt.get("name", "")).strip():
                raise FeishuError(1254001, "property.options[].name is required")
            color = opt.get("color", i % 55)
            if not isinstance(color, int) or not 0 <= color <= 54:
                raise FeishuError(1254001, "property.options[].color must be 0-54")
            options.append({"name": opt["name"], "id": new_option_id(), "color": color})
        return {"options": options}
    if ftype in (LINK, DUPLEX):
        if not prop.get("table_id"):
            raise FeishuError(1254001, "property.table_id is required for link fields")
        return {"table_id": prop["table_id"], "multiple": bool(prop.get("multiple", True))}
    if ftype == PERSON:
        return {"multiple": bool(prop.get("multiple", True))}
    if ftype == FORMULA:
        return {"formula_expression": str(prop.get("formula_expression", ""))}
    if ftype == AUTO_NUMBER:
        return {"auto_serial": prop.get("auto_serial") or {"type": "auto_increment_number"}}
    # text, checkbox, phone, url, attachment, location, group: no properties (read back as null)
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def to_stored(ftype: int, name: str, value: Any, add_option) -> Any:
    """Validate one written cell; return the stored (write-shape) value, or None for empty."""
    if value is None:
        return None

    def fail() -> FeishuError:  # built only when raised: this runs for every written cell
        return FeishuError(
            CONV_FAIL.get(ftype, 1254015),
            f"the value of field '{name}' does not match its type {UI_TYPES.get(ftype, ftype)}",
        )

    if ftype in READ_ONLY or ftype in (LOCATION, GROUP):
        raise FeishuError(1254015, f"field '{name}' cannot be written through the API")
    if ftype in (TEXT, PHONE):
        if not isinstance(value, str):
            raise fail()
        if len(value) > MAX_TEXT_CHARS:
            raise FeishuError(1254130, f"field '{name}' exceeds {MAX_TEXT_CHARS} characters")
        return value or None
    if ftype == NUMBER:
        # Numbers given as strings ("123") are rejected: 1254061 (docs/contracts/feishu.md §5).
        if not _is_number(value):
            raise fail()
        return value
    if ftype == DATE:
        # Dates are int ms since the epoch; strings and floats are 1254064.
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail()
        return value
    if ftype == CHECKBOX:
        if not isinstance(value, bool):
            raise fail()
        return value
    if ftype == SELECT:
        if not isinstance(value, str):
            raise fail()
        if value:
            add_option(value)
        return value or None
    if ftype == MULTI:
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise fail()
        if len(value) > MAX_MULTI_ITEMS:
            raise FeishuError(1254130, f"field '{name}' has more than {MAX_MULTI_ITEMS} options")
        for x in value:
            add_option(x)
        return list(value) or None
    if ftype == URL:
        if not isinstance(value, dict) or not isinstance(value.get("link"), str):
            raise fail()
        return {"link": value["link"], "text": str(value.get("text") or value["link"])}
    if ftype == PERSON:
        if not isinstance(value, list) or not all(
            isinstance(x, dict) and isinstance(x.get("id"), str) for x in value
        ):
            raise fail()
        return [{"id": x["id"]} for x in value] or None
    if ftype in (LINK, DUPLEX):
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise fail()
        return list(value) or None
    if ftype == ATTACHMENT:
        if not isinstance(value, list) or not all(
            isinstance(x, dict) and isinstance(x.get("file_token"), str) for x in value
        ):
            raise fail()
        return [{"file_token": x["file_token"]} for x in value] or None
    raise FeishuError(1254015, f"field '{name}' has an unsupported type {ftype}")


def to_read(ftype: int, value: Any) -> Any:
    """Stored value → the shape search returns (text becomes segments,
    docs/contracts/feishu.md §3)."""
    if ftype == TEXT:
        return [{"text": value, "type": "text"}]
    if ftype in (LINK, DUPLEX):
        return {"link_record_ids": list(value)}
    if ftype == AUTO_NUMBER:
        return str(value)
    return value


def display(ftype: int, value: Any) -> str:
    """Plain text for the HTML page and for text filters/sorts."""
    if value is None:
        return ""
    if ftype == CHECKBOX:
        return "true" if value else "false"
    if ftype == URL:
        return f"{value.get('text')} <{value.get('link')}>"
    if isinstance(value, list):
        return ", ".join(x["id"] if isinstance(x, dict) and "id" in x else str(x) for x in value)
    return str(value)
