"""Tests that need a real emulator process for a reason threads cannot give: real clients (az CLI,
the device SDK, the management SDK matrix), CLI processes, start-up and signals, restarts, the
README walk-throughs, the PKCS#11 server. Every test here is marked `process` (see tests/conftest.py)."""
