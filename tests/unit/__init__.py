"""Pure tests: parser, schema, validation, completion, rendering, settings, on plain data."""
