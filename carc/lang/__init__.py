"""Layer 2: the language: input gate, syntax (AST, parser, printer), built-ins and the checker."""
