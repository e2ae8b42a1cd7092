//! accounting-api: filled in by its own issue; the workspace keeps a building place for it.
