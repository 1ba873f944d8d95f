"""One thin module per subcommand: parse, validate, call the engine, print."""
