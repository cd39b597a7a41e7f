"""The OpenAPI document of `sparkner serve` (`GET /openapi.json`): Starlette's `SchemaGenerator` reads
each route's operation from its docstring; the shapes it refers to are here, the task's parameters
generated from their declarations (`options.settings.OPTIONS`), so the document and the server
validate the same things."""

from __future__ import annotations

from typing import Any

from sparkner.options.settings import OPTIONS, TASK_PARAMETER_NAMES, comma_list
from sparkner.serve.limits import Limits


def parameter_schema(name: str) -> dict[str, Any]:
    declared = OPTIONS[name]
    if declared.choices:
        schema: dict[str, Any] = {"type": "string", "enum": list(declared.choices)}
    elif declared.cli_type is comma_list:
        schema = {"type": "array", "items": {"type": "string"}}
    elif declared.cli_type is int:
        schema = {"type": "integer", "minimum": 0}
    elif declared.cli_type is float:
        schema = {"type": "number", "minimum": 0, "maximum": 1}
    else:
        schema = {"type": "string"}
    return {**schema, "nullable": declared.default is None, "description": declared.help.replace("`", "")}


def base_schema(version: str, limits: Limits, max_stride: int | None) -> dict[str, Any]:
    """The document's shapes; `max_stride` is the model's (window less its special tokens, less one), None
    for a model that takes no stride (Flair)."""
    parameters = {name: parameter_schema(name) for name in TASK_PARAMETER_NAMES}
    if max_stride is None:
        parameters["stride"] = {"nullable": True, "enum": [None], "description": "this model takes no stride"}
    else:
        parameters["stride"]["maximum"] = max_stride
    text = {"type": "string", "maxLength": limits.max_text_chars}
    inputs = {"oneOf": [text, {"type": "array", "items": text, "maxItems": limits.max_texts}]}
    options = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"use_cache": {"type": "boolean"}, "wait_for_model": {"type": "boolean"}},
    }
    entity = {"type": "string"}
    grouped = {
        "type": "object",
        "required": ["entity_group", "score", "word", "start", "end"],
        "properties": {
            "entity_group": entity,
            "score": {"type": "number"},
            "word": {"type": "string"},
            "start": {"type": "integer", "minimum": 0},
            "end": {"type": "integer", "minimum": 0},
        },
    }
    token = {
        "type": "object",
        "required": ["entity", "score", "index", "word", "start", "end"],
        "properties": {**grouped["properties"], "index": {"type": "integer", "minimum": 0}, "entity": entity},
    }
    del token["properties"]["entity_group"]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "sparkner serve",
            "version": version,
            "description": "The Hugging Face inference API's token-classification task, answered by sparkner.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Parameters": {"type": "object", "additionalProperties": False, "properties": parameters},
                "Request": {
                    "description": "The task's parameters go under `parameters` or at the body's root, not both.",
                    "anyOf": [
                        {
                            "type": "object",
                            "required": ["inputs"],
                            "additionalProperties": False,
                            "properties": {
                                "inputs": inputs,
                                "parameters": {"$ref": "#/components/schemas/Parameters"},
                                "options": options,
                            },
                        },
                        {
                            "type": "object",
                            "required": ["inputs"],
                            "additionalProperties": False,
                            "properties": {"inputs": inputs, "options": options, **parameters},
                        },
                    ],
                },
                "GroupedEntity": grouped,
                "TokenEntity": token,
                "Entities": {
                    "type": "array",
                    "items": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/GroupedEntity"},
                            {"$ref": "#/components/schemas/TokenEntity"},
                        ]
                    },
                },
                "Answer": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/Entities"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/Entities"}},
                    ],
                    "description": "The entities of the text, or a list of them for a list of texts.",
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}, "estimated_time": {"type": "number"}},
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "model"],
                    "properties": {
                        "status": {"type": "string", "enum": ["loading", "ok", "error"]},
                        "model": {"type": "string"},
                        "engine_calls": {"type": "integer"},
                    },
                },
            },
        },
    }


def error(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, **extra, "content": {"application/json": {"schema": ref("Error")}}}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def predict_operation(with_model_id: bool) -> dict[str, Any]:
    """The predict route's operation (`POST /` and `POST /models/{model_id}`)."""
    flag = {"type": "string", "enum": ["true", "false"]}
    parameters = [
        {"name": "x-use-cache", "in": "header", "schema": flag},
        {"name": "x-wait-for-model", "in": "header", "schema": flag},
    ]
    if with_model_id:
        parameters.append({"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}})
    retry = {"headers": {"Retry-After": {"schema": {"type": "integer"}}}}
    return {
        "summary": "Entities of a text, or of each text of a list",
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref("Request")}}},
        "parameters": parameters,
        "security": [{"bearer": []}, {}],
        "responses": {
            "200": {
                "description": "the entities, as the hosted API gives them",
                "headers": {"x-sparkner-cache": {"schema": {"type": "string", "enum": ["hit", "miss", "partial"]}}},
                "content": {"application/json": {"schema": ref("Answer")}},
            },
            "400": error("a body or parameter that cannot be used; the message says which"),
            "401": error("no bearer token, or another one than the server's"),
            "404": error("a model id the server does not serve"),
            "408": error("a body that took longer than the body timeout to arrive"),
            "413": error("over a size limit (body bytes, texts, characters per text), named in the message"),
            "503": error(
                "the model is loading (estimated_time), the queue is full, or the request ran out of time", **retry
            ),
        },
    }


HEALTH = {
    "summary": "Whether the model is loaded",
    "responses": {"200": {"description": "the state", "content": {"application/json": {"schema": ref("Health")}}}},
}
METRICS = {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format"}}}
OPENAPI = {"summary": "This document", "responses": {"200": {"description": "the OpenAPI document"}}}


def docstring(summary: str, operation: dict[str, Any]) -> str:
    """An endpoint docstring Starlette's `SchemaGenerator` reads the operation from (YAML after `---`)."""
    import yaml

    return f"{summary}\n---\n{yaml.safe_dump(operation, sort_keys=False)}"
