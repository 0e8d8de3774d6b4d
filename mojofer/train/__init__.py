"""Training and conversion code for mojofer's models: `python -m mojofer.train KIND ...`."""
