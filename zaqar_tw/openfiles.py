"""The open-files limit of the process: raised to what the system allows at start-up.

Every connection holds a file descriptor; with the usual soft limit of 1,024, a thousand
slow clients would leave none for anyone else.  Raising the soft limit to the hard limit
costs nothing and is what the hard limit is for.
"""

import resource

from twisted.logger import Logger

_log = Logger()
# The most a soft limit is raised to when the hard limit is unlimited (Linux's usual
# fs.nr_open, which setrlimit may not pass).
UNLIMITED_TARGET = 1 << 20


def raise_open_files_limit():
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit, and log what it is.

    :returns: the soft limit in force afterwards.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            _log.warn(
                "open files: could not raise the limit from {soft} to {target}: {why}",
                soft=soft, target=target, why=exc,
            )
            return soft
        _log.info("open files: limit raised from {soft} to {target}", soft=soft,
                  target=target)
        return target
    _log.info("open files: limit {soft}", soft=soft)
    return soft
