"""The pyfuse3 filesystem behind ``pit mount`` (built by the data issue)."""
