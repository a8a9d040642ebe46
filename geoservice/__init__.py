"""Places & Spaces: geospatial intelligence for contextual safeguarding."""

__version__ = "0.1.0"
