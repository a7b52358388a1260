"""Resource sampling of the targets and of the load generator itself."""
