"""The ``gear admin`` REPL: pure grammar and tables, prompt_toolkit skin."""
