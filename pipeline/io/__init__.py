"""Input and output: video sources (files, folders, cameras, streams) and CSV export."""
