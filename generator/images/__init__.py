"""Container images a node needs at join/init time, read from the matrix (for air-gapped nodes)."""
