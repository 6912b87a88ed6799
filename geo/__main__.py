"""``python -m geo``: the engine's command line, in the language of the environment.

``GEO_LANG`` (``en``, ``fr``, ``es``, ``pt``), else ``LANGUAGE``, ``LC_ALL`` or ``LANG``, picks
the language of its messages (see :func:`geo.i18n.language_from_env`); English by default.
"""

import sys

from geo.cli import main
from geo.i18n import language_from_env, set_language

set_language(language_from_env())
sys.exit(main())
