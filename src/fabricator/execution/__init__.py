"""Running model calls: the engine, rate limits, the journal, and the Ray executor."""
