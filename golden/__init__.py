"""Bit-exact NumPy golden models of the kit's sparse formats (imports only NumPy and the stdlib)."""
