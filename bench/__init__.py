"""Benchmarks: measurements against a real ``gongkai serve`` over loopback (not run by CI)."""
