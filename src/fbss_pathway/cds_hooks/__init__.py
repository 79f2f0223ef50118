"""CDS Hooks 2.0: recommendations as cards, and a service an EHR can call.

``cards()`` turns a :class:`~fbss_pathway.Recommendation` into spec-conformant
cards; ``service.create_app()`` is the ASGI application behind
``fbss-pathway serve``. See ``docs/cds-hooks.md``.
"""

from .cards import card_problems, cards

__all__ = ["card_problems", "cards"]
