"""The `tutor` command line: `main` builds the parser and dispatches; the commands live in
the module named after them (`eval`, `interview`, `progress`, `train`)."""
