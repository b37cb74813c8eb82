"""Helpers shared by the tests: running acp, the emulator over raw sockets, git as
the oracle, ordinary users, lock races, polling."""
