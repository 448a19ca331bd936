from tracker.entry.cli import app

app()
