"""Typer commands beyond analyze and doctor, one module each; registered in pertitle.cli."""
