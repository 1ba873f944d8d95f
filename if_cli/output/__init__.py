"""Writing images and their metadata: naming, PNG text chunk, JSON sidecar, atomic files."""
