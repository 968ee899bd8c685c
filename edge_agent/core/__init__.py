"""The small bottom layer: errors live in edge_agent.errors; here atomic files, paths, canonical JSON, the
audit log's hash chain and time parsing, which every layer above may use."""
