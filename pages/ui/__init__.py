"""The pages' building blocks: controls, cards, caches, URL state, navigation and charts.

A subpackage so that Streamlit's legacy multipage discovery (which lists only the files directly
in pages/) never shows a helper as a page: pages/*.py are the eight real pages and nothing else.
"""
