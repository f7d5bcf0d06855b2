"""The service's page (`GET /`), `POST /explain` and `/docs` served without a network."""

import re

import httpx
import numpy as np
import pytest

import ktbert
from helpers import running, sentiment_frame
from ktbert.serve.service import create_app


@pytest.fixture(scope="module")
def predictor(trained_sentiment):
    learner, _, _, preproc = trained_sentiment
    return ktbert.get_predictor(learner.model, preproc)


@pytest.fixture(scope="module")
def server(predictor):
    app = create_app(predictor, max_texts=6, name="sentiment")
    with running(app) as url:
        yield url, app


def test_explain_answers_as_predictor_explain(server, predictor):
    url, app = server
    text = "the film was good but the plot was awful"
    calls = app.state.stats.model_calls
    answer = httpx.post(f"{url}/explain", json={"text": text}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = predictor.explain(text, max_words=5)  # max_texts=6: the text and 5 variants
    assert body["words"] == expected.words == text.split()[:5]
    assert body["words_in_text"] == 9
    assert body["class_name"] == expected.class_name and body["label"] == predictor.predict(text)
    np.testing.assert_allclose(body["scores"], expected.scores, atol=1e-5, rtol=0)
    assert body["probability"] == pytest.approx(expected.probability, abs=1e-5)
    assert app.state.stats.model_calls == calls + 1  # one model call for the text and its variants
    other = "neg" if body["class_name"] == "pos" else "pos"
    chosen = httpx.post(f"{url}/explain", json={"text": text, "class_name": other}, timeout=30).json()
    assert chosen["class_name"] == other
    np.testing.assert_allclose(chosen["scores"], predictor.explain(text, other, max_words=5).scores,
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("body, status, message", [
    ({"text": "   "}, 422, "`text` must be one non-blank string, like {\"text\": \"what a film!\"}. "
                          "Received: text=\"   \" (a JSON string)."),
    ({"text": "good", "class_name": "meh"}, 422,
     "`class_name` must be one of ['neg', 'pos']. Received: class_name=\"meh\" (a JSON string)."),
    ({"texts": ["good"]}, 422, "unknown field(s) ['texts']: /explain takes `text` (one string) and "
                               "`class_name` (optional)."),
    ([1], 422, "the request body must be a JSON object like {\"text\": \"what a film!\"}. "
               "Received: [1] (a JSON array)."),
])
def test_bad_explain_requests_get_a_clear_4xx(server, body, status, message):
    answer = httpx.post(f"{server[0]}/explain", json=body, timeout=30)
    assert answer.status_code == status and answer.json() == {"detail": message}


def test_a_pairs_model_refuses_explain(tiny_encoder):
    df = sentiment_frame(16)
    pairs = list(zip(df.text, df.text))
    trn, _, preproc = ktbert.texts_from_array(pairs, df.label.tolist(), x_test=pairs, y_test=df.label.tolist(),
                                              maxlen=24, encoder=tiny_encoder, verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    with running(create_app(ktbert.get_predictor(model, preproc))) as url:
        answer = httpx.post(f"{url}/explain", json={"text": "good"}, timeout=30)
        assert answer.status_code == 422
        assert answer.json()["detail"].startswith("/explain scores the words of one text; this model classifies pairs")
        page = httpx.get(url, timeout=30).text
        assert 'id="text-a"' in page and 'id="text-b"' in page and '"pairs": true' in page


def test_the_page_is_self_contained(server):
    page = httpx.get(server[0], timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing from elsewhere
    assert '<textarea id="texts"' in html and 'id="classify"' in html
    assert '"classes": ["neg", "pos"]' in html
    assert "innerHTML" not in html  # texts are shown as text nodes only


def test_docs_are_served_from_the_service_itself(server):
    url = server[0]
    docs = httpx.get(f"{url}/docs", timeout=30).text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", docs)
    assert assets and all(a.startswith("/docs-assets/") or a == "/openapi.json" for a in assets), assets
    for asset in assets:
        assert httpx.get(f"{url}{asset}", timeout=30).status_code == 200, asset
    assert "cdn" not in docs.lower()
    assert httpx.get(f"{url}/redoc", timeout=30).status_code == 404  # ReDoc would load a CDN
    assert "/explain" in httpx.get(f"{url}/openapi.json", timeout=30).json()["paths"]
