"""Typer glue: parse options, call one function, render the result."""
