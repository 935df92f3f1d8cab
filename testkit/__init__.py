"""What the tests and the benchmarks both use: a fake Bot API server over real HTTP, real noisy speech made from
the shared dev data, and fresh PostgreSQL databases. It imports neither ``tests`` nor ``bench``."""
