// The web UI's script.
