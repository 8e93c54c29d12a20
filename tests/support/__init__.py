"""Helpers shared by more than one test package: the emulator as a process or in threads, the tiny
ARM client, ADR / DPS / PKI builders and the swagger validator."""
