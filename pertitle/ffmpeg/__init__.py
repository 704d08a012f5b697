"""The only package that knows ffmpeg: which binary, the argv it takes, and how it is run."""
