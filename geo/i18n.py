"""Translations of every message the engine, the command line and the dashboard show.

One current language per run, held in a :class:`contextvars.ContextVar`: the dashboard sets
it at the start of every script run (each browser session runs in its own thread, so two
sessions never share it), the command line once from the environment
(:func:`language_from_env`). Catalogues are the gettext ``.po`` files under
``locales/<lang>/LC_MESSAGES/messages.po``, managed with Babel (``pybabel extract`` /
``init`` / ``update``; see README.md) and read directly with
:func:`babel.messages.pofile.read_po`, once per process: no compiled ``.mo`` files.

A message that a catalogue does not translate (absent, empty or fuzzy) is shown in
English, never blank.

Marking strings
---------------
* ``_("...")`` translates now. Placeholders use :meth:`str.format` *after* translation, so
  the message id stays constant: ``_("No {kind} left.").format(kind=...)``.
* ``ngettext(singular, plural, n)`` picks the plural form of the current language.
* ``N_("...")`` only marks a string for extraction (labels kept in English in module-level
  tables, such as :data:`geo.schema.LIC_TYPE_LABELS`); translate with ``_()`` where shown.

Examples
--------
>>> with language("fr"):
...     _("Concessions and artisanal mining")
'Concessions et exploitation minière artisanale'
>>> _("Concessions and artisanal mining")
'Concessions and artisanal mining'
>>> with language("fr"):
...     ngettext("{count} feature: {problem}.", "{count} features: {problem}.", 3).format(
...         count=3, problem=_("latitude and longitude look swapped"))
'3 entités\xa0: la latitude et la longitude semblent inversées.'
"""

from __future__ import annotations

import contextlib
import gettext as _stdlib_gettext
import os
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from babel.messages.pofile import read_po

#: The languages the dashboard and the command line speak: code -> name in that language.
SUPPORTED_LANGUAGES: dict[str, str] = {
    "en": "English",
    "fr": "Français",
    "es": "Español",
    "pt": "Português",
}
#: The language of the message ids, used when nothing else is chosen.
DEFAULT_LANGUAGE = "en"
#: Where the catalogues live: ``<LOCALES_DIR>/<lang>/LC_MESSAGES/<DOMAIN>.po``.
LOCALES_DIR = Path(__file__).resolve().parents[1] / "locales"
DOMAIN = "messages"
#: Environment variables the command line reads its language from, first set wins.
LANGUAGE_ENV = ("GEO_LANG", "LANGUAGE", "LC_ALL", "LANG")

_current: ContextVar[str] = ContextVar("geo_language", default=DEFAULT_LANGUAGE)
T = TypeVar("T")


@dataclass(frozen=True)
class Catalogue:
    """One language's translations, as read from its ``.po`` file.

    Attributes
    ----------
    singular : dict
        ``msgid -> msgstr`` of the translated (non-empty, non-fuzzy) messages.
    plural : dict
        ``singular msgid -> msgstr forms`` of the translated plural messages.
    plural_index : callable
        ``n -> index`` of the plural form, from the catalogue's ``Plural-Forms`` header.
    """

    singular: Mapping[str, str]
    plural: Mapping[str, tuple[str, ...]]
    plural_index: Callable[[int], int]


def normalise_language(value: str | None) -> str:
    """The supported language a code or locale name stands for, else the default.

    Examples
    --------
    >>> normalise_language("fr_CD.UTF-8"), normalise_language("PT-br"), normalise_language("de")
    ('fr', 'pt', 'en')
    """
    code = (value or "").strip()[:2].lower()
    return code if code in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE


def language_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The command line's language: ``GEO_LANG``, else ``LANGUAGE``, ``LC_ALL``, ``LANG``.

    The first variable that is set and not empty decides (its first two letters; the
    ``LANGUAGE`` list's first entry); an unsupported or ``C`` locale means English.

    Examples
    --------
    >>> language_from_env({"LANG": "fr_FR.UTF-8"}), language_from_env({"GEO_LANG": "es"})
    ('fr', 'es')
    >>> language_from_env({"GEO_LANG": "", "LC_ALL": "C.UTF-8", "LANG": "fr_FR.UTF-8"})
    'en'
    """
    env = os.environ if environ is None else environ
    for name in LANGUAGE_ENV:
        value = env.get(name, "").strip()
        if value:
            return normalise_language(value.split(":", 1)[0])
    return DEFAULT_LANGUAGE


def get_language() -> str:
    """The current run's language code."""
    return _current.get()


def set_language(value: str | None) -> Token[str]:
    """Make ``value`` (normalised, see :func:`normalise_language`) the current language.

    Returns the token that :meth:`contextvars.ContextVar.reset` takes to undo it.
    """
    return _current.set(normalise_language(value))


@contextlib.contextmanager
def language(value: str | None) -> Iterator[str]:
    """Use ``value`` as the current language inside a ``with`` block."""
    token = set_language(value)
    try:
        yield get_language()
    finally:
        _current.reset(token)


def bound(function: Callable[[], T]) -> Callable[[], T]:
    """``function`` bound to the current language, for work that runs later, elsewhere.

    A context variable does not follow a callable to another thread (a download built when
    the user clicks, say); the returned callable sets this language around the call.

    Examples
    --------
    >>> with language("fr"):
    ...     later = bound(lambda: _("Map"))
    >>> later(), _("Map")
    ('Carte', 'Map')
    """
    lang = get_language()

    def run() -> T:
        with language(lang):
            return function()

    return run


def catalogue_path(lang: str) -> Path:
    """The ``.po`` file of ``lang``."""
    return LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(SUPPORTED_LANGUAGES))
def catalogue(lang: str) -> Catalogue:
    """The translations of ``lang``, read from its ``.po`` file once per process.

    A missing file is an empty catalogue: every message falls back to English.
    """
    path = catalogue_path(lang)
    if lang == DEFAULT_LANGUAGE or not path.is_file():
        return Catalogue({}, {}, _english_plural)
    with path.open("rb") as handle:
        po = read_po(handle, locale=lang, domain=DOMAIN)
    singular: dict[str, str] = {}
    plural: dict[str, tuple[str, ...]] = {}
    for message in po:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, tuple | list):
            forms = tuple(message.string or ())
            if forms and all(forms):
                plural[str(message.id[0])] = tuple(str(form) for form in forms)
        elif message.string:
            singular[str(message.id)] = str(message.string)
    return Catalogue(singular, plural, _stdlib_gettext.c2py(po.plural_expr))


def gettext(message: str) -> str:
    """``message`` in the current language; English when it has no translation."""
    lang = _current.get()
    if lang == DEFAULT_LANGUAGE:
        return message
    return catalogue(lang).singular.get(message) or message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of ``singular``/``plural`` for ``n`` in the current language."""
    lang = _current.get()
    if lang != DEFAULT_LANGUAGE:
        table = catalogue(lang)
        forms = table.plural.get(singular)
        if forms:
            index = table.plural_index(int(n))
            return forms[min(index, len(forms) - 1)]
    return singular if n == 1 else plural


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it; see the module docstring."""
    return message


def label(labels: Mapping[str, str], key: object) -> str:
    """The translated label of a normalised value, or the value itself when it has none.

    Examples
    --------
    >>> from geo.schema import LIC_TYPE_LABELS
    >>> with language("fr"):
    ...     label(LIC_TYPE_LABELS, "asm_zone"), label(LIC_TYPE_LABELS, "PE 123")
    ("Zone d'exploitation artisanale (ZEA)", 'PE 123')
    """
    text = labels.get(str(key))
    return gettext(text) if text else str(key)


def _english_plural(n: int) -> int:
    return 0 if n == 1 else 1


_ = gettext

__all__ = [
    "DEFAULT_LANGUAGE",
    "N_",
    "SUPPORTED_LANGUAGES",
    "_",
    "bound",
    "get_language",
    "gettext",
    "label",
    "language",
    "language_from_env",
    "ngettext",
    "normalise_language",
    "set_language",
]
