"""Challenge scoreboards: submit the current Explore setting under a name (Explore), rank the entries
with the link that reproduces each, and clear a board (History; a teacher's token in a classroom)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.ui.urlstate import Controls, page_url
from prune_core.challenges import CHALLENGES, Challenge, check_name, for_task, get_challenge
from prune_core.errors import PruneScopeError
from prune_core.run import PruneResult
from prune_core.server import server_settings
from prune_core.store import Store


def challenge_section(loaded, result: PruneResult, url: Controls) -> None:
    """Explore: the challenges of this model's task, whether the measured setting meets one, submit, board."""
    st.subheader("Challenges")
    options = [c.key for c in for_task(loaded.task)]
    key = st.selectbox("Challenge", options, key=url.select("challenge", "challenge", options),
                       format_func=lambda k: f"{get_challenge(k).title}: {get_challenge(k).goal}",
                       disabled=url.locked("challenge"))
    challenge = get_challenge(key)
    try:
        store = Store(on_wait=st.toast)
    except PruneScopeError as exc:
        st.warning(f"Scoreboards are unavailable: {exc}")
        return
    missing = challenge.unmet(result)
    if missing:
        st.info("These settings do not meet the goal yet: " + "; ".join(missing) + ".", icon=":material/flag:")
    else:
        st.success(f"These settings meet the goal: held-out {result.quality_metric} **{result.quality:.4g}** "
                   "would be your score.", icon=":material/flag:")
        _submit(store, challenge, loaded, result, url)
    _board(store, challenge, loaded.key)


def _submit(store: Store, challenge: Challenge, loaded, result: PruneResult, url: Controls) -> None:
    if store.readonly:
        st.caption("The results store is read-only here: entries cannot be added.")
        return
    with st.form("challenge_submit", clear_on_submit=False, border=False):
        a, b = st.columns([3, 1], vertical_alignment="bottom")
        name = a.text_input("Your name on the scoreboard", max_chars=40, key="challenge_name")
        if not b.form_submit_button("Submit these settings", type="primary"):
            return
    query = url.query()
    try:
        name = check_name(name)
        board = store.entries(challenge.key, loaded.key)
        if ((board["name"] == name) & (board["query"] == query)).any():
            raise PruneScopeError(f"{name} already entered these settings")
        store.add_entry(challenge.key, loaded.key, name, challenge.score(result), result.quality_metric, query,
                        result.summary())
    except PruneScopeError as exc:
        st.error(f"Not submitted: {exc}")
        return
    st.success(f"Submitted for {name}.")


def _board(store: Store, challenge: Challenge, model: str) -> pd.DataFrame:
    """The ranked entries of one board, each with its link; returns them (empty when none)."""
    ranked = challenge.rank(store.entries(challenge.key, model))
    if ranked.empty:
        st.caption(f"No entries yet for *{challenge.title}* on {model}.")
        return ranked
    best = "lowest" if challenge.lower_is_better else "highest"
    st.markdown(f"**Scoreboard: {challenge.title}** on {model} ({best} held-out {challenge.metric} first)")
    base = page_url("explore")
    shown = ranked.assign(link=[f"{base}?{q}" for q in ranked["query"]])[["rank", "name", "score", "created", "link"]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "score": st.column_config.NumberColumn(challenge.metric, format="%.4g"),
        "link": st.column_config.LinkColumn("settings (opens them)", display_text="open")})
    return ranked


def scoreboards_admin() -> None:
    """History: every board that has entries; a teacher clears one."""
    st.subheader("Challenge scoreboards")
    try:
        store = Store(on_wait=st.toast)
        entries = store.entries()
    except PruneScopeError as exc:
        st.error(f"Cannot open the results store: {exc}")
        return
    if entries.empty:
        st.caption("No challenge entries yet (submit one from Explore's *Challenges* section).")
        return
    boards = entries[["challenge", "model"]].drop_duplicates().itertuples(index=False)
    labels = {f"{get_challenge(c).title} · {m}" if c in CHALLENGES else f"{c} · {m}": (c, m) for c, m in boards}
    label = st.selectbox("Scoreboard", list(labels), key="board_pick")
    key, model = labels[label]
    if key not in CHALLENGES:  # entries of a challenge this version does not define: listed, not ranked
        st.dataframe(entries[(entries["challenge"] == key) & (entries["model"] == model)], hide_index=True)
    else:
        _board(store, get_challenge(key), model)
    if store.readonly:
        return
    server = server_settings()
    token = ""
    if server.classroom:
        if not server.teacher_token:
            st.caption("Clearing a scoreboard on a classroom server needs PRUNESCOPE_TEACHER_TOKEN set.")
            return
        token = st.text_input("Teacher token", type="password", key="board_token")
    confirm = st.checkbox(f"Yes, remove every entry of {label}", key="board_confirm")
    if st.button("Clear this scoreboard", key="board_clear", disabled=not confirm):
        if not server.may_clear_scoreboards(token):
            st.error("Wrong teacher token: the scoreboard was not cleared.")
            return
        st.success(f"Cleared {store.clear_entries(key, model)} entries.")
