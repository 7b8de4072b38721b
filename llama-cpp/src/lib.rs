//! Safe bindings (filled by the next step).
