"""Every control's value lives in the page's URL, so a copied link reproduces the experiment.

A page makes one `Controls` near its top and binds each widget through it with one call that
returns the widget's key:

    url = Controls("explore")
    pattern = st.selectbox("Pattern", options, key=url.select("pattern", "pattern", options),
                           disabled=url.locked("pattern"))
    ...
    url.done()  # after the controls: exercise banner, notes on ignored values, "Copy link"

Why not Streamlit's own `bind="query-params"`: it drops a bad value silently (a hand-edited link
must say which value it ignored), leaves a value out of the URL when it equals the widget's default
(a link must not change meaning when a default does), and names the parameter after the widget key
(the method's key differs between weight and unit patterns; the URL says `method`).

How: a value in the URL seeds `st.session_state[key]` before the widget is created, once per widget
life (a key already in session state belongs to a live widget: the user's latest move wins). Each
bind writes the widget's current value back to `st.query_params`. A value is checked against the
widget's own options or range first; a bad one is left out with a note that names it.

Exercise links: `lock=method,pattern` disables those controls, `hide=...` hides them (their value
still applies), `lock=all` fixes every control, `reveal=predict` opens Explore in predict-then-reveal
mode. This fixes what a student sees, not what a determined student can do: editing the URL
starts a new experiment.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence
from urllib.parse import urlencode

import streamlit as st

from pages.ui.nav import DEFAULT_PAGE, PAGE_PATHS

EXERCISE = ("lock", "hide")  # parameters that shape the page rather than the experiment
REVEAL = "reveal"
MODEL = "model"
MODEL_KEY = "model_choice"  # the sidebar picker's key (pages/ui/caches.py)
_NOTES = "_urlstate_model_notes"  # notes of the sidebar picker, shown by the page's banner
_LATER_BOUND = "_urlstate_later"  # page -> {name: _Bound} of the controls bound after done()
_PER_MODEL = "_urlstate_per_model"  # (page, name) -> the model a per-model control was last bound for


def _names(param: str) -> set[str]:
    """Comma-separated names of an exercise parameter (repeated keys are joined too)."""
    return {n.strip() for v in st.query_params.get_all(param) for n in v.split(",") if n.strip()}


@dataclass
class _Bound:
    """One control of this run: the URL name, its widget key and how its value is written."""

    key: str
    write: Callable[[Any], str]


def widget_class(key: str) -> str:
    """The CSS class Streamlit's frontend gives the element of widget `key` ("st-key-" + the key with
    every character other than letters, digits, _ and - written as -): a per-model key holds '@'."""
    return "st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", key.strip())


def _hide(key: str) -> None:
    """Widget `key` rendered, so its value still applies, but not shown (`hide=` of an exercise link)."""
    st.html(f"<style>.{widget_class(key)} {{display: none}}</style>")


@dataclass
class Controls:
    """The URL side of one page's controls for one run (make it once per run, near the top)."""

    page: str
    bound: dict[str, _Bound] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    finished: bool = False  # done() ran: a later control's note is shown where the control is

    def __post_init__(self) -> None:
        self.banner = st.container()  # filled by done(): it knows the controls' values by then
        self.notes += st.session_state.pop(_NOTES, [])

    # ---- binding, one call per widget --------------------------------------------------------------
    def select(self, name: str, key: str, options: Sequence[str], why: str = "") -> str:
        """A selectbox or radio: the value must be one of `options` (`why` says what decides them)."""
        options = [str(o) for o in options]

        def read(raw: str) -> str:
            if raw not in options:
                raise ValueError(f"not one of the choices here{why}: {_listing(options)}")
            return raw
        return self._bind(name, key, read, str)

    def number(self, name: str, key: str, lo: float, hi: float, step: float | None = None,
               kind: type = int, per_model: str | None = None) -> str:
        """A slider or number input from `lo` to `hi` (on the slider's `step` when given).
        `per_model`: the model this control belongs to (see `_bind`)."""
        def read(raw: str) -> float:
            value = float(raw)
            if not math.isfinite(value) or not lo <= value <= hi:
                raise ValueError(f"outside {_num(lo)}–{_num(hi)}")
            if kind is int and value != int(value):
                raise ValueError("not a whole number")
            if step and abs((value - lo) / step - round((value - lo) / step)) > 1e-9:
                raise ValueError(f"not on the slider's steps of {_num(step)} from {_num(lo)}")
            return kind(value)
        return self._bind(name, key, read, _num, per_model)

    def flag(self, name: str, key: str, on: str = "1", off: str = "0", per_model: str | None = None) -> str:
        """A checkbox or toggle: `on`/`off` in the URL (true/false, yes/no also read); `per_model` as in `_bind`."""
        def read(raw: str) -> bool:
            low = raw.lower()
            if low in (on, "1", "true", "yes", "on"):
                return True
            if low in (off, "0", "false", "no", "off"):
                return False
            raise ValueError(f"write {on} or {off}")
        return self._bind(name, key, read, lambda v: on if v else off, per_model)

    def many(self, name: str, key: str, options: Sequence[Any]) -> str:
        """A multiselect: a comma list of its options."""
        by_text = {str(o): o for o in options}

        def read(raw: str) -> list:
            picked = [p.strip() for p in raw.split(",") if p.strip()]
            bad = [p for p in picked if p not in by_text]
            if bad:
                raise ValueError(f"{', '.join(bad)} not among {_listing(list(by_text))}")
            return [by_text[p] for p in dict.fromkeys(picked)]
        return self._bind(name, key, read, lambda v: ",".join(map(str, v)))

    def text(self, name: str, key: str, check: Callable[[str], object] | None = None) -> str:
        """A text input; `check(text)` raises (PruneScopeError or ValueError) when the text is unusable."""
        def read(raw: str) -> str:
            if check is not None:
                try:
                    check(raw)
                except Exception as exc:  # the check's own message is the note
                    raise ValueError(str(exc)) from None
            return raw
        return self._bind(name, key, read, str)

    def locked(self, name: str) -> bool:
        """True when an exercise link fixes this control (`lock=name` or `lock=all`)."""
        return locked(name)

    def _bind(self, name: str, key: str, read: Callable[[str], Any], write: Callable[[Any], str],
              per_model: str | None = None) -> str:
        """Seed the widget `key` from the URL's `name` once, write its value back; the widget's key.

        A per-model control (`per_model`: the model's key) starts from that model's own default (the
        SmolLM2 latency settings differ from the tiny models'): its widget key is `key@model`, and after
        a switch of model the previous model's value is dropped from the URL. The first model of a
        session keeps what a link set."""
        if per_model is not None:
            key = f"{key}@{per_model}"
            models = st.session_state.setdefault(_PER_MODEL, {})
            if models.get((self.page, name), per_model) != per_model and name in st.query_params:
                del st.query_params[name]
            models[(self.page, name)] = per_model
        if key not in st.session_state and name in st.query_params:
            raw = st.query_params[name]
            try:
                st.session_state[key] = read(raw)
            except (ValueError, TypeError) as exc:
                note = f"`{name}={raw}` was ignored ({exc}); the default is used instead."
                if self.finished:
                    st.warning(note, icon=":material/link_off:")
                else:
                    self.notes.append(note)
                del st.query_params[name]
        if key in st.session_state:  # the widget's current value, the user's latest move included
            _set_param(name, write(st.session_state[key]))
        self.bound[name] = _Bound(key, write)
        if name in _LATER.get(self.page, ()):
            st.session_state.setdefault(_LATER_BOUND, {}).setdefault(self.page, {})[name] = self.bound[name]
        if name in _names("hide"):
            _hide(key)
        return key

    # ---- after the controls --------------------------------------------------------------------------
    def values(self) -> dict[str, str]:
        """The URL text of every bound control's current value, the sidebar's model first. Controls
        that a page binds after done() count with their value of the last run."""
        out = {}
        model = st.session_state.get(MODEL_KEY)
        if model is not None and st.query_params.get(MODEL) == model:  # a shareable model (see bind_model)
            out[MODEL] = model
        later = st.session_state.get(_LATER_BOUND, {}).get(self.page, {})
        for name, b in {**later, **self.bound}.items():
            if b.key in st.session_state:
                out[name] = b.write(st.session_state[b.key])
        return out

    def query(self, extra: dict[str, str] | None = None) -> str:
        """The query string that reproduces this page's settings (plus exercise parameters in `extra`)."""
        return urlencode({**self.values(), **(extra or {})}, safe=":,/")

    def link(self, query: str | None = None) -> str:
        """The full link: this page's address (as the browser sees it) and the query."""
        return f"{page_url(self.page)}?{self.query() if query is None else query}"

    def done(self) -> None:
        """Exercise banner and notes on top of the page; a "Copy link" box here."""
        self.finished = True
        with self.banner:
            self._exercise()
            for note in self.notes:
                st.warning(note, icon=":material/link_off:")
        self._copy_box()

    def _exercise(self) -> None:
        locked, hidden = _names("lock"), _names("hide")
        reveal = st.query_params.get(REVEAL) == "predict"
        if not (locked or hidden or reveal):
            return
        vals = self.values()
        known = set(self.bound) | _LATER.get(self.page, set()) | {MODEL}
        fixed = sorted(known) if "all" in locked else sorted(n for n in locked if n in known)
        parts = []
        if fixed:
            parts.append("fixed by your teacher: " + ", ".join(f"**{n}** = `{vals.get(n, '?')}`" for n in fixed))
        shown_hidden = sorted(n for n in hidden if n in known)
        if shown_hidden:
            parts.append("hidden (still applied): " + ", ".join(f"**{n}**" for n in shown_hidden))
        if reveal:
            parts.append("**predict, then reveal**: guess the quality before it is measured")
        unknown = sorted((locked | hidden) - known - {"all"})
        st.info("**This is an exercise.** " + ("; ".join(parts) or "No control of this page is fixed")
                + ". Change what is left free and watch the figures." +
                (f" (Not controls of this page, so not fixed: {', '.join(unknown)}.)" if unknown else ""),
                icon=":material/school:")

    def _copy_box(self) -> None:
        with st.expander("Copy link to this experiment", icon=":material/link:"):
            st.caption("Anyone who opens this link gets these settings, and so the same figures (the "
                       "copy button is at the right of the box).")
            st.code(self.link(), language=None, wrap_lines=True)
            a, b = st.columns(2)
            names = [MODEL, *self.bound]
            lock = a.multiselect("Exercise: fix these controls", names, key=f"url_lock_{self.page}",
                                 help="The link opens with them disabled; the page says they are fixed.")
            hide = b.multiselect("Exercise: hide these controls", names, key=f"url_hide_{self.page}",
                                 help="Their value still applies; the student does not see them.")
            extra = {k: ",".join(v) for k, v in (("lock", lock), ("hide", hide)) if v}
            if self.page == "explore" and st.checkbox("Exercise: students guess the quality before it shows (reveal=predict)",
                                                                key="url_reveal_pick"):
                extra[REVEAL] = "predict"
            if extra:
                st.code(self.link(self.query(extra)), language=None, wrap_lines=True)


# Controls bound after done() on their page (their lock/hide is not "unknown" in the banner).
_LATER = {"explore": {"layer", REVEAL, "challenge"}, "speed": {"gpu_batches"}}


def locked(name: str) -> bool:
    """True when an exercise link fixes the control `name` (`lock=name` or `lock=all`)."""
    return bool({name, "all"} & _names("lock"))


def bind_model(options: Sequence[str], shareable: Sequence[str]) -> str:
    """The sidebar model picker's key, seeded from `?model=` (one of `shareable`: the zoo and the
    teacher's folders; an upload or a typed folder cannot travel in a link)."""
    if MODEL_KEY not in st.session_state and MODEL in st.query_params:
        raw = st.query_params[MODEL]
        if raw in shareable and raw in options:
            st.session_state[MODEL_KEY] = raw
        else:
            st.session_state[_NOTES] = [f"`model={raw}` was ignored (not a model this server offers: "
                                        f"{_listing(list(shareable))}); the default model is used instead."]
            del st.query_params[MODEL]
    if MODEL in _names("hide"):
        _hide(MODEL_KEY)
    current = st.session_state.get(MODEL_KEY)
    if current in shareable:
        _set_param(MODEL, current)
    elif MODEL in st.query_params and current is not None:
        del st.query_params[MODEL]
    return MODEL_KEY


def _set_param(name: str, value: str) -> None:
    """Write `name=value` into the URL only if it changes: every write is a message the browser handles
    (an Explore rerun would otherwise rewrite every control's value, most of them unchanged)."""
    if st.query_params.get(name) != value:
        st.query_params[name] = value


def page_url(page: str) -> str:
    """A page's address as the browser sees this app; relative when Streamlit does not know it (tests).

    `st.context.url` is the current page's address: its last segment is dropped when it names a page,
    and the default page (Explore) lives at the root (Streamlit answers /explore with "page not found")."""
    base = (st.context.url or "").rstrip("/")
    head, _, last = base.rpartition("/")
    root = head if last in PAGE_PATHS and "//" in head else base
    return f"{root}/" if page == DEFAULT_PAGE else f"{root}/{page}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else format(value, "g")


def _listing(options: list[str], most: int = 8) -> str:
    return ", ".join(options[:most]) + (f" … ({len(options)} in all)" if len(options) > most else "")
