"""The Gld8tr-3dcn web service (FastAPI). Nothing in this package may import torch: the API process stays light,
and the worker imports the torch-free parts (settings, schemas, job store, storage, webhooks)."""
