//! Integration tests of the value stage (see also tests/cli.rs at the workspace root).
