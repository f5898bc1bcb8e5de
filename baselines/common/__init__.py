"""What every neural baseline shares: data glue, vocabulary, training loop, checkpoints, devices."""
