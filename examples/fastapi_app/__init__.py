"""A small FastAPI service on matrx-orm: authors and their posts (see README.md beside this file)."""
