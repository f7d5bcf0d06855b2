"""The page `ktbert serve` answers at `GET /`: type or paste texts, see each one's label, its class
probabilities as bars and, on request, its words highlighted by `/explain`.

One self-contained document: its style and script are inline, it loads nothing from elsewhere
(its Content-Security-Policy allows no other source) and it calls only `/predict` and
`/explain` on the service that served it. Texts and answers are put on the page as text nodes,
never as HTML, so a text holding markup shows as written.
"""

from __future__ import annotations

import html
import json

# No source but this page itself: inline style and script, requests to this service only.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                           "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'")

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } .muted { color: #666; font-size: .9rem; }
textarea, input[type=text], input[type=password] {
  width: 100%; box-sizing: border-box; font: inherit; padding: .5rem; }
textarea { min-height: 7rem; } button { font: inherit; padding: .35rem .9rem; margin: .5rem .5rem .5rem 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .7rem .9rem; margin: .8rem 0; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; margin-bottom: .4rem; }
.label { font-weight: 600; } .row { display: flex; align-items: center; gap: .5rem; margin: .15rem 0; }
.name { width: 9rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-size: .9rem; }
.track { flex: 1; background: #eee; height: .9rem; border-radius: 3px; }
.bar { background: #3b7dd8; height: 100%; border-radius: 3px; } .value { width: 4rem; text-align: right; }
.words span { padding: 1px 2px; border-radius: 2px; } #error { color: #b00020; white-space: pre-wrap; }
"""

_SCRIPT = """
const CONFIG = JSON.parse(document.getElementById("config").textContent);
const el = (tag, cls, text) => { const e = document.createElement(tag);
  if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
async function call(path, body) {
  const headers = {"Content-Type": "application/json"}, key = document.getElementById("api-key");
  if (key && key.value) headers["Authorization"] = "Bearer " + key.value.trim();
  const answer = await fetch(path, {method: "POST", headers: headers, body: JSON.stringify(body)});
  const data = await answer.json();
  if (!answer.ok) throw new Error(data.detail || answer.statusText);
  return data;
}
function showError(err) { document.getElementById("error").textContent = err ? String(err.message || err) : ""; }
function bars(classes, proba) {
  const box = el("div", "bars");
  classes.forEach((name, k) => {
    const row = el("div", "row"), track = el("div", "track"), bar = el("div", "bar");
    bar.style.width = (100 * proba[k]).toFixed(1) + "%"; track.appendChild(bar);
    row.append(el("span", "name", name), track, el("span", "value", proba[k].toFixed(3)));
    box.appendChild(row);
  });
  return box;
}
function highlight(answer) {
  const box = el("div", "words"), scale = Math.max(1e-9, ...answer.scores.map(Math.abs));
  box.appendChild(el("div", "muted", "Words that raise (green) or lower (red) the probability of " +
                     answer.class_name + " (" + answer.probability.toFixed(3) + "):"));
  answer.words.forEach((word, i) => {
    const span = el("span", null, word), a = (0.8 * Math.abs(answer.scores[i]) / scale).toFixed(2);
    span.style.background = answer.scores[i] >= 0 ? `rgba(0,160,0,${a})` : `rgba(220,0,0,${a})`;
    span.title = answer.scores[i].toFixed(4); box.append(span, " ");
  });
  return box;
}
function texts() {
  if (CONFIG.pairs) return [[document.getElementById("text-a").value, document.getElementById("text-b").value]];
  return document.getElementById("texts").value.split("\\n").filter(t => t.trim() !== "");
}
async function classify() {
  showError(null);
  const results = document.getElementById("results"), items = texts();
  results.replaceChildren();
  if (!items.length) { showError("Type a text first."); return; }
  try {
    const answer = await call("/predict", CONFIG.pairs ? {pairs: items} : {texts: items});
    items.forEach((item, i) => {
      const card = el("div", "card"), label = answer.labels[i];
      card.appendChild(el("div", "text", CONFIG.pairs ? item.join("  \u2194  ") : item));
      card.appendChild(el("div", "label", Array.isArray(label) ? (label.join(", ") || "(no label)") : label));
      card.appendChild(bars(answer.classes, answer.probabilities[i]));
      if (!CONFIG.pairs) {
        const button = el("button", "explain", "Explain");
        button.onclick = async () => { button.disabled = true;
          try { card.appendChild(highlight(await call("/explain", {text: item}))); button.remove(); }
          catch (err) { showError(err); button.disabled = false; } };
        card.appendChild(button);
      }
      results.appendChild(card);
    });
  } catch (err) { showError(err); }
}
document.getElementById("classify").onclick = classify;
"""


def page_html(name: str, classes: list, pairs: bool, max_texts: int, needs_key: bool = False) -> str:
    """The page for a model called `name` with `classes` (pairs: two text boxes; `needs_key`: a
    field for the API key, which the page's calls send and nothing stores)."""
    config = json.dumps({"pairs": bool(pairs), "classes": list(classes)}).replace("<", "\\u003c")
    if pairs:
        inputs = ('<label>First text<input type="text" id="text-a"></label>'
                  '<label>Second text<input type="text" id="text-b"></label>')
    else:
        inputs = (f'<label for="texts">Texts, one a line (at most {max_texts})</label>'
                  '<textarea id="texts" placeholder="what a film!"></textarea>')
    if needs_key:
        inputs = ('<label for="api-key">API key (this service needs one)</label>'
                  '<input type="password" id="api-key" autocomplete="off">' + inputs)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>ktbert: {html.escape(name)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(name)}</h1>"
        f'<p class="muted">Classes: {html.escape(", ".join(map(str, classes)))}. '
        'The API: <a href="/docs">/docs</a>.</p>'
        f'{inputs}<button id="classify" type="button">Classify</button>'
        '<div id="error" role="alert"></div><div id="results"></div>'
        f'<script type="application/json" id="config">{config}</script>'
        f"<script>{_SCRIPT}</script></body></html>"
    )
