"""The states of a job, with the numbers and abbreviations of the published service."""

import enum


class JobState(enum.IntEnum):
    NEW = 0
    PREPARING = 1
    WAITING = 2
    STARTING = 3
    RUNNING = 4
    STOPPING = 5
    CLEANING = 6
    DONE = 7

    @property
    def abbreviation(self) -> str:
        """The client's three-letter form (``FIN`` for DONE)."""
        return ABBREVIATIONS[self]


ABBREVIATIONS = {
    JobState.NEW: "NEW",
    JobState.PREPARING: "PRE",
    JobState.WAITING: "WAI",
    JobState.STARTING: "STA",
    JobState.RUNNING: "RUN",
    JobState.STOPPING: "STO",
    JobState.CLEANING: "CLN",
    JobState.DONE: "FIN",
}

#: States in which a job holds its resources (its allocations are active).
ACTIVE = frozenset({JobState.STARTING, JobState.RUNNING, JobState.STOPPING})
