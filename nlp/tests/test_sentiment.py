import pytest

from nlp import loaders
from nlp.sentiment import DostoevskyBackend, LexiconBackend, build_backend


@pytest.mark.parametrize("text, label", [
    ("Сколько можно??? Безобразие, никто не отвечает!", "negative"),
    ("Я не доволен ремонтом.", "negative"),
    ("Огромное спасибо за быстрый ремонт, всё работает!", "positive"),
    ("Прошу выслать паспорт на прибор.", "neutral"),
    ("Прибор не включается, просим подсказать порядок ремонта.", "neutral"),
    ("ПРИБОР ОПЯТЬ НЕ РАБОТАЕТ ПОСЛЕ РЕМОНТА ЗА ЧТО МЫ ПЛАТИЛИ", "negative"),
])
def test_lexicon(text, label):
    result = LexiconBackend().predict([text])[0]
    assert result.label == label
    assert 0 <= result.score <= 1 and result.backend == "lexicon-v1"


@pytest.fixture(scope="module")
def tiny_fasttext_model(tmp_path_factory):
    """A fastText model this test trains itself (the pretrained one cannot be downloaded here)."""
    import fasttext

    lines = []
    for _ in range(30):
        lines += ["__label__negative ужасный сервис безобразие никто не отвечает",
                  "__label__negative прибор сломан верните деньги кошмар",
                  "__label__positive спасибо большое отличная работа молодцы",
                  "__label__positive благодарим за быстрый ремонт всё отлично",
                  "__label__neutral прошу выслать паспорт на прибор",
                  "__label__skip добрый день",
                  "__label__speech здравствуйте коллеги"]
    path = tmp_path_factory.mktemp("ft")
    (path / "train.txt").write_text("\n".join(lines), encoding="utf-8")
    # fasttext-numpy2 sometimes ends training on tiny data with "Encountered NaN" (a race in its
    # final loss check); another seed trains fine, so try a few.
    for seed in range(200):
        try:
            model = fasttext.train_supervised(str(path / "train.txt"), epoch=30, lr=0.1, dim=16, minCount=1,
                                              thread=1, seed=seed, verbose=0)
        except RuntimeError:
            continue
        checks = {"ужасный сервис ! безобразие , никто не отвечает": "__label__negative",
                  "спасибо большое , отличная работа": "__label__positive",
                  "прошу выслать паспорт": "__label__neutral"}
        if all(model.predict(text)[0][0] == label for text, label in checks.items()):
            break
    else:
        pytest.fail("could not train the tiny fastText model")
    model.save_model(str(path / "tiny.bin"))
    return str(path / "tiny.bin")


def test_dostoevsky_code_path_with_a_tiny_model(tiny_fasttext_model):
    backend = DostoevskyBackend(tiny_fasttext_model)
    from dostoevsky.models import FastTextSocialNetworkModel

    assert isinstance(backend.model, FastTextSocialNetworkModel)
    neg, pos, neutral = backend.predict([
        "Ужасный сервис!\nБезобразие, никто не отвечает", "Спасибо большое, отличная работа", "Прошу выслать паспорт"])
    assert (neg.label, pos.label, neutral.label) == ("negative", "positive", "neutral")
    assert neg.backend == "dostoevsky-fasttext:tiny.bin" and 0 < neg.score <= 1


def test_backend_chosen_by_settings(settings, tiny_fasttext_model, tmp_path):
    settings.SENTIMENT_BACKEND = "dostoevsky"
    settings.DOSTOEVSKY_MODEL_PATH = tiny_fasttext_model
    assert loaders.get_sentiment_backend().name.startswith("dostoevsky")
    from nlp.service import analyze

    assert analyze("Спасибо большое, отличная работа").sentiment.backend.startswith("dostoevsky")
    settings.SENTIMENT_BACKEND = ""  # auto: Dostoevsky when its file exists, else the lexicon
    assert loaders.get_sentiment_backend().name.startswith("dostoevsky")
    settings.DOSTOEVSKY_MODEL_PATH = str(tmp_path / "missing.bin")
    assert loaders.get_sentiment_backend().name == "lexicon-v1"
    settings.SENTIMENT_BACKEND = "dostoevsky"
    with pytest.raises(RuntimeError, match="DOSTOEVSKY_MODEL_PATH"):
        loaders.get_sentiment_backend()
    with pytest.raises(ValueError):
        build_backend("bert")
