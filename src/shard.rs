//! Sharding one run across workers (placeholder until the sharding module lands).
