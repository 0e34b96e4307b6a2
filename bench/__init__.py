"""Benchmarks: `make bench` (python -m bench). Figures are printed and appended to
bench/RESULTS.md with the date, the machine and the command that produced them."""
