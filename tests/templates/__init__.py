"""The template engine (expressions, functions, samples against a fake host) and deployments over ARM."""
