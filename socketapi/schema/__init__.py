"""The API described from its registered handlers: an AsyncAPI 3 document, a page, TypeScript types."""

from .asyncapi import asyncapi_document
from .commands import asyncapi_json, typescript_source
from .describe import ApiDescription, describe
from .page import asyncapi_html
from .typescript import typescript_module

__all__ = [
    "ApiDescription",
    "asyncapi_document",
    "asyncapi_html",
    "asyncapi_json",
    "describe",
    "typescript_module",
    "typescript_source",
]
