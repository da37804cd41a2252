"""The pure core: data in, data out. No I/O, no environment, no wall clock."""
