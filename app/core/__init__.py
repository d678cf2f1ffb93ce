"""Pure analysis code over plain rows: no dash, no pymongo, no store (see app/core/importance.py)."""
