"""Build SWE instances from real code: fix commits, PyPI sdists, local repositories, synthesized bugs.

Modules: ``source`` (where code comes from), ``deps`` (its dependencies, installed on the host), ``runner``
(probe runs of its tests in the sandbox), ``mutate`` + ``synth`` (bug synthesis), ``fixcommit`` (real fixes),
``statement`` (problem statements), ``validate`` (gold +1 / empty -1, the concurrent pool), ``report``
(dataset and build report), ``cli`` (``claw swe build``).
"""
