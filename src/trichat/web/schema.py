"""Request and response models: one definition that validates input and is the
OpenAPI schema, so the document cannot drift from what the server accepts.

A `Model` is a list of `Field`s. `Model.parse(obj)` validates a JSON object (unknown
fields refused, types exact, bounds checked) and returns the provided values;
`Model.parse_query(args)` does the same for query strings; `Model.json_schema()`
describes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trichat.protocol.values import MAX_INT64, has_nul, int_text
from trichat.web.app import ApiError

_JSON_TYPES = {str: "string", int: "integer", bool: "boolean", float: "number"}


@dataclass(frozen=True)
class Field:
    name: str
    type: Any  # str | int | bool | float | Model | list[Model] given as ("array", Model)
    required: bool = False
    nullable: bool = False
    description: str = ""
    minimum: int | None = None  # value for integers, length for strings
    maximum: int | None = None
    enum: tuple[str, ...] | None = None
    fmt: str | None = None  # "uuid", "date-time", ...

    def schema(self) -> dict[str, Any]:
        if isinstance(self.type, Model):
            out: dict[str, Any] = {"$ref": f"#/components/schemas/{self.type.name}"}
        elif isinstance(self.type, tuple) and isinstance(self.type[1], Model):
            out = {"type": "array", "items": {"$ref": f"#/components/schemas/{self.type[1].name}"}}
        elif isinstance(self.type, tuple):
            out = {"type": "array", "items": {"type": _JSON_TYPES[self.type[1]]}}
        else:
            out = {"type": _JSON_TYPES[self.type]}
            bound = ("minLength", "maxLength") if self.type is str else ("minimum", "maximum")
            if self.minimum is not None:
                out[bound[0]] = self.minimum
            if self.maximum is not None:
                out[bound[1]] = self.maximum
            if self.enum:
                out["enum"] = list(self.enum)
            if self.fmt:
                out["format"] = self.fmt
        if self.nullable:
            out = {"anyOf": [out, {"type": "null"}]}
        if self.description:
            out["description"] = self.description
        return out

    def check(self, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise ApiError(400, f"{self.name} must not be null")
        want = self.type
        if want is int and isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON Schema: 577.0 is an integer
        ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
        if want is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise ApiError(400, f"{self.name} must be {_JSON_TYPES[want]}")
        if want is str and has_nul(value):
            raise ApiError(400, f"{self.name} must not contain NUL")
        size = len(value) if want is str else value
        if self.minimum is not None and size < self.minimum:
            what = "at least {} characters" if want is str else "at least {}"
            raise ApiError(400, f"{self.name} must be {what.format(self.minimum)}")
        if self.maximum is not None and size > self.maximum:
            what = "at most {} characters" if want is str else "at most {}"
            raise ApiError(400, f"{self.name} must be {what.format(self.maximum)}")
        if self.enum is not None and value not in self.enum:
            raise ApiError(400, f"{self.name} must be one of {', '.join(self.enum)}")
        return value


@dataclass(frozen=True)
class Model:
    name: str
    fields: list[Field] = field(default_factory=list)
    description: str = ""

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {f.name: f.schema() for f in self.fields},
            "additionalProperties": False,
        }
        required = self.required
        if required:
            schema["required"] = required
        if self.description:
            schema["description"] = self.description
        return schema

    def parse(self, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise ApiError(400, "the body must be a JSON object")
        known = {f.name: f for f in self.fields}
        unknown = sorted(set(obj) - set(known))
        if unknown:
            raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")
        out = {}
        for f in self.fields:
            if f.name in obj:
                out[f.name] = f.check(obj[f.name])
            elif f.required:
                raise ApiError(400, f"{f.name} is required")
        return out

    def parse_query(self, args: Mapping[str, str]) -> dict[str, Any]:
        """Query parameters: integers are converted; unknown ones are ignored (a
        `token` parameter carries auth)."""
        out = {}
        for f in self.fields:
            raw = args.get(f.name)
            if raw is None:
                if f.required:
                    raise ApiError(400, f"{f.name} is required")
                continue
            value: Any = raw
            if f.type is bool:
                if raw not in ("true", "false"):
                    raise ApiError(400, f"{f.name} must be true or false")
                value = raw == "true"
            elif f.type is int:
                value = int_text(raw, maximum=MAX_INT64)
                if value is None:
                    raise ApiError(400, f"{f.name} must be a non-negative integer") from None
            out[f.name] = f.check(value)
        return out

    def query_parameters(self) -> list[dict[str, Any]]:
        return [
            {"name": f.name, "in": "query", "required": f.required, "schema": f.schema()}
            for f in self.fields
        ]
