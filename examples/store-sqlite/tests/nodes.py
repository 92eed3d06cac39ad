"""zaqar-tw on the SQLite store as real ``twistd`` processes, for the tests that kill them.

Built on the main suite's process helpers (``tests/processes.py`` of the zaqar-tw checkout):
a node is a ``ZaqarProcess`` whose config selects this store and whose ``--store`` URI names
the database file.
"""

import uuid
from urllib.parse import quote

from tests import processes

SELECT_SQLITE = "[drivers]\nmessage_store = sqlite\n"


class Http(processes.Http):
    """The JSON client of the main suite, with a fresh Client-ID."""

    def __init__(self, project):
        super().__init__(project, str(uuid.uuid4()))


class Node(processes.ZaqarProcess):
    """One ``twistd -n zaqar`` on the SQLite file ``database``, in ``workdir``."""

    def __init__(self, workdir, database):
        super().__init__(workdir, f"sqlite://{quote(str(database))}", config_text=SELECT_SQLITE)
