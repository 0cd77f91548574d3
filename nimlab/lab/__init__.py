"""The lab launcher: bring the course's services up and down behind one interface (local processes or Docker)."""
