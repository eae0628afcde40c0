"""CLI command implementations, one module per command group; ragkit/cli.py registers them."""
