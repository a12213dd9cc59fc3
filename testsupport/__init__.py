"""Test and benchmark harnesses that are not part of the product (nothing in the apps imports them)."""
