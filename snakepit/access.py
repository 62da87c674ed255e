"""Who may read and who may change a job: the job-access predicates the API and the data
domains share."""

from snakepit.models import Job, User


def can_read(user: User, job: Job) -> bool:
    """Job access: administrators, the owner, members of a group the job is shared with."""
    return user.admin or user.id == job.user_id or bool(set(user.groups) & set(job.groups))


def can_change(user: User, job: Job) -> bool:
    """Changing a job (stop, share, delete): its owner and administrators."""
    return user.admin or user.id == job.user_id
