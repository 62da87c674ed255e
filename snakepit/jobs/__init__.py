"""Jobs: their states, the job list's query language, and (to come) their lifecycle."""
