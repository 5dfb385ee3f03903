"""Sessions on disk: the generic CSV contract, recordings, imports and exports."""
