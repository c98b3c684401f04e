"""The throwaway Synapse lives in the package now (``watchbot/devserver.py``, used by ``watchbot demo``);
this name stays for the tests that import it from here."""

from watchbot.devserver import *  # noqa: F401,F403
from watchbot.devserver import (  # noqa: F401
    MatrixUser,
    SynapseServer,
    SynapseServerError,
    _request,
    running_synapse,
    synapse_installed,
)
