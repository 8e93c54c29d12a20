"""The signing core: certificate profiles, CSR rules, BYOR, and the key store contract."""
