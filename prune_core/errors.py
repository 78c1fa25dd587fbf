"""User-facing errors.

Anything the user can fix (a bad name, an impossible sparsity, a broken file) is raised as
`PruneScopeError`. Its message is shown as-is: `st.error` in the pages, one stderr line and
exit status 2 in the CLI. Everything else is a bug and may surface as a traceback in tests.
"""


class PruneScopeError(Exception):
    """A problem with the user's input, with a message that says what to do."""
