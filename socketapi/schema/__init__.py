"""The API described from its registered handlers: an AsyncAPI 3 document, a page, TypeScript types."""
