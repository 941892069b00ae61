"""The recommended RQ worker for the ``nlp`` queue.

RQ's default ``Worker`` forks a child per job, so a model loaded inside a job dies with the
child and is loaded again for the next one (~1 s each). ``PreloadedWorker`` loads every NLP model
once in the parent before it starts forking: children inherit them (copy-on-write).

    python manage.py rqworker nlp --worker-class nlp.worker.PreloadedWorker

``rq.SimpleWorker`` (no fork, jobs run in the worker process) also keeps models loaded; run it
under a supervisor that restarts it, since a crashing job takes the worker down with it.
"""

from __future__ import annotations

import logging

from rq import Worker

from nlp.loaders import warm_up

logger = logging.getLogger(__name__)


class PreloadedWorker(Worker):
    def work(self, *args, **kwargs):
        logger.info("nlp models preloaded: %s", warm_up())
        return super().work(*args, **kwargs)
