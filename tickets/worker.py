"""The RQ worker for the ``nlp`` queue (NLP analysis and AI drafts).

RQ's default ``Worker`` forks a child per job: a model loaded inside a job dies with the child.
``PreloadedWorker`` loads the NLP models, the embeddings model and the knowledge index once,
in the parent, before it starts forking; children inherit them (copy-on-write). A new index
version is still picked up: ``get_index`` checks ``CURRENT`` on every search.

    python manage.py rqworker nlp --worker-class tickets.worker.PreloadedWorker --with-scheduler
"""

import logging

from rq import Worker

logger = logging.getLogger(__name__)


class PreloadedWorker(Worker):
    def work(self, *args, **kwargs):
        from knowledge.retrieval import warm_up as knowledge_warm_up
        from nlp.loaders import warm_up as nlp_warm_up

        logger.info("nlp models preloaded: %s", nlp_warm_up())
        logger.info("knowledge preloaded: %s", knowledge_warm_up())
        return super().work(*args, **kwargs)
