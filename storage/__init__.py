"""Storage primitives shared by every layer; imports only the standard library."""
